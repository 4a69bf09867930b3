/**
 * DP selection: permute-and-flip (choosing one candidate by utility) and key selection (which
 * histogram keys may be released when the key set itself is not public).
 */
import type { PrivacyCost } from './cost.js';
import { discreteLaplaceMechanism, type IntegerMechanism } from './mechanisms.js';
import { currentRandom, type RandomSource } from './random.js';
import { div, fromNumber, mul, rational, roundDyadic, type Rational } from './rational.js';
import { sampleBernoulliExp } from './samplers.js';

/** Significant bits kept when epsilon becomes an exact rational (rounded down: less sharp, more private). */
const EPSILON_BITS = 32;

/**
 * Permute-and-flip (McKenna & Sheldon 2020): visit the candidates in a uniformly random order and
 * accept candidate r with probability exp(-epsilon (u* - u_r) / (2 sensitivity)), u* the best
 * utility. The best candidate is accepted with probability 1, so the loop ends. It is epsilon-DP
 * when every utility changes by at most `sensitivity` between neighbouring datasets.
 *
 * Exactness: utilities are integers and epsilon is rounded DOWN to a 32-significant-bit dyadic
 * rational (a smaller epsilon flattens the acceptance probabilities, so privacy only improves);
 * acceptance uses the exact Bernoulli(exp(-gamma)) sampler. The random order is a Fisher-Yates
 * shuffle drawn lazily, one position per visited candidate.
 */
export function permuteAndFlip(utilities: bigint[], epsilon: number, sensitivity: number, rng: RandomSource = currentRandom()): number {
  if (!Array.isArray(utilities) || utilities.length === 0) throw new RangeError('permuteAndFlip: no candidates');
  if (!utilities.every((u) => typeof u === 'bigint')) throw new TypeError('permuteAndFlip: utilities must be bigints');
  if (!Number.isFinite(epsilon) || epsilon <= 0) throw new RangeError('permuteAndFlip: epsilon must be a finite number > 0');
  if (!Number.isFinite(sensitivity) || sensitivity <= 0) throw new RangeError('permuteAndFlip: sensitivity must be a finite number > 0');
  const best = utilities.reduce((a, b) => (b > a ? b : a));
  // gamma_r = (u* - u_r) * rate, rate = epsilon / (2 sensitivity), exact.
  const rate = div(roundDyadic(fromNumber(epsilon), EPSILON_BITS, 'down'), mul(rational(2), fromNumber(sensitivity)));
  const order = utilities.map((_, i) => i);
  for (let i = 0; i < order.length; i++) {
    const j = i + Number(rng.uniformBelow(BigInt(order.length - i)));
    [order[i], order[j]] = [order[j]!, order[i]!];
    const candidate = order[i]!;
    if (sampleBernoulliExp(gap(best, utilities[candidate]!, rate), rng)) return candidate;
  }
  // Unreachable: the best candidate has gamma = 0 and is always accepted.
  throw new Error('permuteAndFlip: no candidate accepted');
}

function gap(best: bigint, u: bigint, rate: Rational): Rational {
  return mul({ num: best - u, den: 1n }, rate);
}

/**
 * Key selection by noisy thresholding (Wilson et al. 2020, "Differentially Private SQL with Bounded
 * User Contribution", section 3; here with discrete Laplace noise).
 *
 * Mechanism: every key present in the data gets count c_k (each unit adds at most 1 to at most
 * l0 = maxGroupsPerUnit keys) plus independent discrete Laplace noise Z_k of scale t; the key and its
 * noisy count are released iff c_k + Z_k >= threshold (tau).
 *
 * Why this is (epsilon, delta)-DP. Let D' = D plus one unit touching keys S (|S| <= l0): S_old
 * keys already in D (their counts shift by 1) and S_new keys absent from D (count exactly 1 in D').
 *   - On keys present in both, the noisy counts form an l1-sensitivity-l0 discrete Laplace release:
 *     e^(l0/t) = e^epsilon bounds the likelihood ratio (thresholding is post-processing).
 *   - The only other difference is that D' can release an S_new key. Each does so with probability
 *     p = P(1 + Z >= tau) = P(Z >= tau - 1) = q^(tau-1)/(1+q), q = exp(-1/t) (tau >= 2). Let E be
 *     "no S_new key released", b = P[not E] = 1 - (1 - p)^|S_new|, and x = P[the release of D's
 *     keys under D' lands in O] (O an output set; WLOG it holds no S_new key, as M(D) never does).
 *     E is independent of that release, so P[M(D') in O] = (1 - b) x when O excludes S_new keys.
 *       P[M(D') in O] <= x + b <= e^eps P[M(D) in O] + b;
 *       P[M(D) in O] <= min(1, e^eps x) <= (1 - b) e^eps x + b = e^eps P[M(D') in O] + b.
 *     And b <= 1 - (1 - p)^l0 =: delta(tau).
 * So t = l0/epsilon (rounded up, as discreteLaplaceMechanism does) and tau = the smallest integer
 * >= 2 with 1 - (1 - p)^l0 <= delta. This matches Wilson et al.'s threshold
 * tau = 1 - t ln(2 - 2(1-delta)^(1/l0)) for continuous Laplace, adapted to the discrete tail.
 *
 * Use: add noise with `mechanism.addNoise(count)` (the same scale), keep keys whose noisy count is
 * >= threshold. `cost` is the (epsilon, delta) requested, which the mechanism satisfies.
 */
export function keySelection(opts: { epsilon: number; delta: number; maxGroupsPerUnit: number }): {
  scale: number;
  threshold: number;
  cost: PrivacyCost;
  mechanism: IntegerMechanism;
} {
  const { epsilon, delta, maxGroupsPerUnit } = opts;
  if (!(delta > 0 && delta < 1)) throw new RangeError(`keySelection: delta must be in (0, 1), got ${delta}`);
  const mechanism = discreteLaplaceMechanism({ sensitivity: maxGroupsPerUnit, epsilon });
  return {
    scale: mechanism.scale,
    threshold: selectionThreshold(mechanism.scale, delta, maxGroupsPerUnit),
    cost: { kind: 'approx', epsilon, delta },
    mechanism,
  };
}

/** delta(tau) = 1 - (1 - q^(tau-1)/(1+q))^l0, computed without cancellation via log1p/expm1. */
export function selectionDelta(scale: number, threshold: number, maxGroupsPerUnit: number): number {
  const p = Math.exp(-(threshold - 1) / scale) / (1 + Math.exp(-1 / scale));
  return -Math.expm1(maxGroupsPerUnit * Math.log1p(-p));
}

/** Smallest integer tau >= 2 with selectionDelta(tau) <= delta, with a safety margin for rounding. */
function selectionThreshold(scale: number, delta: number, maxGroupsPerUnit: number): number {
  const target = delta * (1 - 1e-9);
  // Per-key release probability allowed: p* = 1 - (1 - delta)^(1/l0); then q^(tau-1)/(1+q) <= p*.
  const pStar = -Math.expm1(Math.log1p(-target) / maxGroupsPerUnit);
  const logQ = -1 / scale;
  const guess = 1 + Math.ceil((Math.log(pStar) + Math.log1p(Math.exp(logQ))) / logQ);
  let tau = Math.max(2, guess);
  while (tau > 2 && selectionDelta(scale, tau - 1, maxGroupsPerUnit) <= target) tau--;
  while (selectionDelta(scale, tau, maxGroupsPerUnit) > target) tau++;
  return tau;
}
