/**
 * Confidence intervals for ratio statistics (mean, variance, standard deviation) that COVER at
 * least the stated confidence, whatever the noise's shape (issue 18: normal-approximate intervals
 * labelled 95% covered ~94% under Laplace-shaped error).
 *
 * Construction (conservative, exact tails): the released statistics are independent integer noises
 * added to the true integer statistics (count n, centred sum S1, centred sum of squares S2). With
 * alpha = 1 - confidence split evenly over the k noises, each noise's exact half-width w_i
 * (IntegerMechanism.halfWidth: P(|noise| > w_i) <= alpha / k, from the discrete distribution's own
 * tail sums) gives the event E = "every true statistic lies within w_i of its noisy value", and
 * P(E) >= 1 - alpha by the union bound. On E the true statistic is a function of values inside a
 * box, together with what is publicly true of bounded data (values in [lo, hi], so the mean lies in
 * [lo, hi] and the variance in [0, ((hi - lo)/2)^2]); the interval below contains that function's
 * whole range over the box. So P(true value in interval) >= P(E) >= confidence.
 * The split of alpha is fixed (never chosen from the noisy values), which the union bound needs.
 *
 * Everything is in the statistics' integer grid units; the caller maps to the answer's units
 * (mean: mid + x, times the granularity g; variance: times g^2; stddev: times g).
 */
import type { IntegerMechanism } from './mechanisms.js';

/** One released statistic: its noisy integer value and the mechanism that noised it. */
export interface NoisyStatistic {
  value: number;
  mechanism: Pick<IntegerMechanism, 'halfWidth'>;
}

export interface Interval {
  low: number;
  high: number;
}

/** [value - w, value + w] with P(|noise| > w) <= alpha (exact discrete tail). */
function box(s: NoisyStatistic, alpha: number): Interval {
  const w = s.mechanism.halfWidth(1 - alpha, 1);
  return { low: s.value - w, high: s.value + w };
}

function checkConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1), got ${confidence}`);
}

function checkBounds(lo: number, hi: number): void {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) throw new RangeError('need finite bounds lo <= hi');
}

/** Range of x / n over x in [x.low, x.high], n in [n.low, n.high] with n.low > 0. */
function ratioRange(x: Interval, n: Interval): Interval {
  return {
    low: x.low >= 0 ? x.low / n.high : x.low / n.low,
    high: x.high >= 0 ? x.high / n.low : x.high / n.high,
  };
}

const clampTo = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const clampInterval = (i: Interval, lo: number, hi: number): Interval => ({ low: clampTo(i.low, lo, hi), high: clampTo(i.high, lo, hi) });

/** The count's box, restricted to n >= 1 (a mean of no rows has no true value to cover). */
function countBox(count: NoisyStatistic, alpha: number): Interval | undefined {
  const n = box(count, alpha);
  if (n.high < 1) return undefined;
  return { low: Math.max(1, n.low), high: n.high };
}

/**
 * Mean of values in [lo, hi] (centred grid units, the same centring as `sum`) from a noisy count
 * and a noisy sum: an interval covering the true mean S/n with probability >= confidence.
 */
export function meanInterval(o: { count: NoisyStatistic; sum: NoisyStatistic; lo: number; hi: number; confidence: number }): Interval {
  checkConfidence(o.confidence);
  checkBounds(o.lo, o.hi);
  const alpha = (1 - o.confidence) / 2;
  const n = countBox(o.count, alpha);
  if (!n) return { low: o.lo, high: o.hi };
  return clampInterval(ratioRange(box(o.sum, alpha), n), o.lo, o.hi);
}

/**
 * Variance S2/n - (S1/n)^2 of values in [lo, hi] (centred grid units) from a noisy count, centred
 * sum and centred sum of squares: covers the true variance with probability >= confidence.
 * On E: t = S1/n in ratioRange (and in [lo, hi]), u = S2/n in ratioRange (and in [0, max(lo^2, hi^2)]),
 * so u - t^2 lies in [min u - max t^2, max u - min t^2], intersected with [0, ((hi - lo)/2)^2].
 */
export function varianceInterval(o: {
  count: NoisyStatistic;
  sum: NoisyStatistic;
  sumSquares: NoisyStatistic;
  lo: number;
  hi: number;
  confidence: number;
}): Interval {
  checkConfidence(o.confidence);
  checkBounds(o.lo, o.hi);
  const maxVar = ((o.hi - o.lo) / 2) ** 2;
  const alpha = (1 - o.confidence) / 3;
  const n = countBox(o.count, alpha);
  if (!n) return { low: 0, high: maxVar };
  const t = clampInterval(ratioRange(box(o.sum, alpha), n), o.lo, o.hi);
  const u = clampInterval(ratioRange(box(o.sumSquares, alpha), n), 0, Math.max(o.lo * o.lo, o.hi * o.hi));
  const t2min = t.low <= 0 && t.high >= 0 ? 0 : Math.min(t.low * t.low, t.high * t.high);
  const t2max = Math.max(t.low * t.low, t.high * t.high);
  return clampInterval({ low: u.low - t2max, high: u.high - t2min }, 0, maxVar);
}

/** Standard deviation: the square roots of the variance interval (sqrt is increasing). */
export function stddevInterval(o: Parameters<typeof varianceInterval>[0]): Interval {
  const v = varianceInterval(o);
  return { low: Math.sqrt(v.low), high: Math.sqrt(v.high) };
}
