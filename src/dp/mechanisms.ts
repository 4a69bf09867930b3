/**
 * Integer noise mechanisms: discrete Laplace (pure epsilon-DP) and discrete Gaussian (rho-zCDP).
 *
 * Real-valued statistics are released on a fixed public granularity g: the caller passes the
 * statistic as an integer number of g-units and the sensitivity in the same units; the mechanism
 * adds integer noise, and the caller multiplies the result by g. Every mechanism reports
 *   - its exact privacy description (`cost`, a PrivacyCost the accountant composes),
 *   - the exact variance of its integer noise (for standard errors),
 *   - exact confidence half-widths computed from the discrete distribution's own tail sums.
 *
 * Two halves, kept apart on purpose:
 *   - Noise (addNoise): exact rational samplers only (./samplers.ts). No floating point.
 *   - Analysis (variance, tails, accuracy-first search): doubles, but only on public parameters;
 *     nothing here touches data. Where a double decides a guarantee, comparisons carry a safety
 *     margin (TAIL_SAFETY) far larger than the rounding error, so the guarantee still holds.
 *
 * Rounding of parameters (why the noise is never smaller than the real-valued formula says):
 * the Laplace scale sensitivity/epsilon and the Gaussian variance sensitivity^2/(2 rho) are computed
 * exactly from the doubles given and then rounded UP to a dyadic rational with 32 significant bits
 * (relative change <= 2^-31). That keeps BigInt sizes in the samplers small; rounding up only adds
 * noise. `cost` then reports the scale/sigma actually used, rounded DOWN to a double, so the
 * accountant never under-charges.
 */
import type { PrivacyCost } from './cost.js';
import type { RandomSource } from './random.js';
import { currentRandom } from './random.js';
import {
  compare,
  div,
  floor,
  fromNumber,
  mul,
  nextDown,
  rational,
  roundDyadic,
  toNumber,
  toNumberDown,
  toNumberUp,
  type Rational,
} from './rational.js';
import { sampleDiscreteGaussian, sampleDiscreteLaplace } from './samplers.js';

export interface IntegerMechanism {
  kind: 'discreteLaplace' | 'discreteGaussian';
  /** Integer, in units of the statistic (l1 for Laplace, l2 for Gaussian). */
  sensitivity: number;
  /** Laplace: t; Gaussian: sigma (both in integer units); never above the exact value used. */
  scale: number;
  /** Pure epsilon (Laplace): the epsilon requested, which the mechanism satisfies. */
  epsilon?: number;
  /** zCDP rho (Gaussian): the rho requested, which the mechanism satisfies. */
  rho?: number;
  /** Exact description for the accountant. */
  cost: PrivacyCost;
  /** Exact noise parameter the sampler uses: Laplace scale t, or Gaussian sigma^2. */
  exact: Rational;
  /** Exact variance of the integer noise. */
  variance: number;
  standardError(granularity: number): number;
  /** half-width w (in output units) such that P(|noise| <= w) >= confidence, exact */
  halfWidth(confidence: number, granularity: number): number;
  /** true value: an integer (bigint) in units of granularity; returns the noisy integer */
  addNoise(trueValue: bigint, rng?: RandomSource): bigint;
}

/** Significant bits kept when a real-valued noise parameter becomes an exact rational. */
export const PARAMETER_BITS = 32;

/**
 * Doubles decide some guarantees (is this tail small enough?). Their relative error here is below
 * ~1e-14; demanding tail <= (1 - confidence) * (1 - 1e-9) absorbs it with a wide margin.
 */
const TAIL_SAFETY = 1 - 1e-9;

/**
 * Up to this sigma the Gaussian sums are done term by term (about 10 sigma terms each); above it,
 * closed forms whose error is below 1e-12 relative (see the analysis section).
 */
const DIRECT_SIGMA_LIMIT = 200;

// ---------------------------------------------------------------------------------------------
// Parameter checks and exact parameters
// ---------------------------------------------------------------------------------------------

function checkSensitivity(sensitivity: number): void {
  if (!Number.isSafeInteger(sensitivity) || sensitivity < 1) {
    throw new RangeError(`sensitivity must be a positive integer (in units of the statistic), got ${sensitivity}`);
  }
}

function checkPositive(x: number, what: string): void {
  if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) throw new RangeError(`${what} must be a finite number > 0, got ${x}`);
}

function checkConfidence(c: number): void {
  if (typeof c !== 'number' || !(c > 0 && c < 1)) throw new RangeError(`confidence must be in (0, 1), got ${c}`);
}

/** Exact discrete Laplace scale for (sensitivity, epsilon): sensitivity/epsilon rounded up. */
export function laplaceScaleFor(sensitivity: number, epsilon: number): Rational {
  checkSensitivity(sensitivity);
  checkPositive(epsilon, 'epsilon');
  return roundDyadic(div(rational(sensitivity), fromNumber(epsilon)), PARAMETER_BITS, 'up');
}

/** Exact discrete Gaussian variance parameter for (sensitivity, rho): sensitivity^2/(2 rho) rounded up. */
export function gaussianSigma2For(sensitivity: number, rho: number): Rational {
  checkSensitivity(sensitivity);
  checkPositive(rho, 'rho');
  const s = rational(sensitivity);
  return roundDyadic(div(mul(s, s), mul(rational(2), fromNumber(rho))), PARAMETER_BITS, 'up');
}

/** A double that is positive, finite and not above the rational (for reported scales). */
function reportableDown(x: Rational, what: string): number {
  const v = toNumberDown(x);
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${what} is outside the range of a double`);
  return v;
}

/** Largest double s with s^2 <= sigma2 (so the reported sigma never overstates the noise). */
function sqrtDown(sigma2: Rational): number {
  let s = Math.sqrt(toNumber(sigma2));
  while (compare(mul(fromNumber(s), fromNumber(s)), sigma2) > 0) s = nextDown(s);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Analysis of the discrete Laplace (closed forms). q = exp(-1/t), pmf(x) = (1-q)/(1+q) q^|x|.
// ---------------------------------------------------------------------------------------------

/** P(|X| > w) = 2 q^(w+1) / (1+q) for integer w >= 0. */
export function discreteLaplaceTail(scale: number, w: number): number {
  return (2 * Math.exp(-(w + 1) / scale)) / (1 + Math.exp(-1 / scale));
}

/** Var X = 2q / (1-q)^2, with 1-q = -expm1(-1/t) so huge scales keep their precision. */
export function discreteLaplaceVariance(scale: number): number {
  const q = Math.exp(-1 / scale);
  const oneMinusQ = -Math.expm1(-1 / scale);
  return (2 * q) / (oneMinusQ * oneMinusQ);
}

// ---------------------------------------------------------------------------------------------
// Analysis of the discrete Gaussian. f(x) = exp(-x^2 / (2 sigma2)), pmf = f / Z.
// Small sigma: compensated direct sums. Large sigma (> 200): Poisson summation for Z and the
// variance (their correction terms carry exp(-2 pi^2 sigma^2), exactly 0 in doubles) and
// Euler-Maclaurin for tail sums through the B6 term; the series' terms shrink like
// (u / (2 pi sigma))^2 at u = w/sigma standard deviations, so for sigma > 200 the remainder is
// below 1e-12 relative even 30 sigma out (test/dp/mechanisms.test.ts compares with direct sums).
// ---------------------------------------------------------------------------------------------

/** Neumaier-compensated sum of f(start) + f(start+1) + ... for a tail that eventually decays. */
function sumTail(start: number, term: (x: number) => number, decayFrom: number): number {
  let sum = 0;
  let carry = 0;
  for (let x = start; ; x++) {
    const t = term(x);
    const s = sum + t;
    carry += Math.abs(sum) >= Math.abs(t) ? sum - s + t : t - s + sum;
    sum = s;
    if (x >= decayFrom && (t === 0 || t < (sum + carry) * 1e-20)) return sum + carry;
  }
}

/** Z = sum_x f(x); memoised for the last sigma2, since searches ask for many tails of one sigma. */
let lastZ = { sigma2: NaN, z: NaN };
function gaussianZ(sigma2: number): number {
  if (lastZ.sigma2 === sigma2) return lastZ.z;
  const sigma = Math.sqrt(sigma2);
  const z =
    sigma > DIRECT_SIGMA_LIMIT ? Math.sqrt(2 * Math.PI) * sigma : 1 + 2 * sumTail(1, (x) => Math.exp(-(x * x) / (2 * sigma2)), 1);
  lastZ = { sigma2, z };
  return z;
}

/** erfc(x) for x >= 0: positive-term series for erf below 1, Lentz continued fraction above. */
export function erfc(x: number): number {
  if (x < 1) {
    let term = x;
    let sum = x;
    for (let n = 1; term > sum * 1e-18; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  // erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 10000; n++) {
    d = 1 / (x + (n / 2) * d);
    c = x + n / 2 / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** sum_{x >= a} f(x) for integer a >= 1 and sigma > DIRECT_SIGMA_LIMIT, by Euler-Maclaurin. */
function gaussianTailSumEM(a: number, sigma: number): number {
  const u = a / sigma;
  const fa = Math.exp(-(u * u) / 2);
  const integral = sigma * Math.sqrt(Math.PI / 2) * erfc(u / Math.SQRT2);
  const he3 = u * u * u - 3 * u;
  const he5 = u ** 5 - 10 * u ** 3 + 15 * u;
  const corrections = 0.5 + u / (12 * sigma) - he3 / (720 * sigma ** 3) + he5 / (30240 * sigma ** 5);
  return integral + fa * corrections;
}

/** P(|X| > w) for integer w >= 0. */
export function discreteGaussianTail(sigma2: number, w: number): number {
  const sigma = Math.sqrt(sigma2);
  const a = w + 1;
  const tailSum =
    sigma > DIRECT_SIGMA_LIMIT
      ? gaussianTailSumEM(a, sigma)
      : sumTail(a, (x) => Math.exp(-(x * x) / (2 * sigma2)), a);
  return Math.min(1, (2 * tailSum) / gaussianZ(sigma2));
}

/** Var X = 2 sum_{x>=1} x^2 f(x) / Z; equal to sigma2 in doubles once sigma > 200 (Poisson summation). */
export function discreteGaussianVariance(sigma2: number): number {
  const sigma = Math.sqrt(sigma2);
  if (sigma > DIRECT_SIGMA_LIMIT) return sigma2;
  const second = sumTail(1, (x) => x * x * Math.exp(-(x * x) / (2 * sigma2)), Math.ceil(sigma) + 1);
  return (2 * second) / gaussianZ(sigma2);
}

// ---------------------------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------------------------

/** Smallest integer w >= 0 with ok(w), for ok monotone (false ... false true ... true). */
function smallestInteger(ok: (w: number) => boolean): number {
  if (ok(0)) return 0;
  let lo = 0;
  let hi = 1;
  while (!ok(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > Number.MAX_SAFE_INTEGER) throw new RangeError('no integer half-width found');
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Smallest positive double x (to a relative 1e-12) with ok(x), for ok monotone in x. Returns a value
 * for which ok was actually evaluated true, so the guarantee holds for the returned number itself.
 */
function smallestPositive(ok: (x: number) => boolean): number {
  let lo = 1;
  let hi = 1;
  if (ok(1)) {
    while (ok(lo)) {
      hi = lo;
      lo /= 2;
      if (lo < 1e-300) return hi;
    }
  } else {
    while (!ok(hi)) {
      lo = hi;
      hi *= 2;
      if (hi > 1e300) throw new RangeError('no privacy parameter reaches the requested accuracy');
    }
  }
  while (hi / lo > 1 + 1e-12) {
    const mid = Math.sqrt(lo * hi);
    if (mid <= lo || mid >= hi) break;
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** Largest integer count of granularity units inside `within`: floor(within/granularity), exactly. */
function unitsWithin(within: number, granularity: number): number {
  checkPositive(within, 'within');
  checkPositive(granularity, 'granularity');
  const w = floor(div(fromNumber(within), fromNumber(granularity)));
  if (w > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('within/granularity is too large');
  return Number(w);
}

// ---------------------------------------------------------------------------------------------
// Mechanisms
// ---------------------------------------------------------------------------------------------

function checkTrueValue(v: bigint): void {
  if (typeof v !== 'bigint') throw new TypeError('addNoise: the true value must be a bigint number of granularity units');
}

function describe(
  base: Omit<IntegerMechanism, 'standardError' | 'halfWidth' | 'addNoise'>,
  tail: (w: number) => number,
  sample: (rng: RandomSource) => bigint,
): IntegerMechanism {
  return {
    ...base,
    standardError(granularity: number): number {
      checkPositive(granularity, 'granularity');
      return Math.sqrt(base.variance) * granularity;
    },
    halfWidth(confidence: number, granularity: number): number {
      checkConfidence(confidence);
      checkPositive(granularity, 'granularity');
      const alpha = (1 - confidence) * TAIL_SAFETY;
      return smallestInteger((w) => tail(w) <= alpha) * granularity;
    },
    addNoise(trueValue: bigint, rng: RandomSource = currentRandom()): bigint {
      checkTrueValue(trueValue);
      return trueValue + sample(rng);
    },
  };
}

/** Discrete Laplace with scale >= sensitivity/epsilon: epsilon-DP for l1 sensitivity `sensitivity`. */
export function discreteLaplaceMechanism(opts: { sensitivity: number; epsilon: number }): IntegerMechanism {
  const { sensitivity, epsilon } = opts;
  const exact = laplaceScaleFor(sensitivity, epsilon);
  const scale = reportableDown(exact, 'scale');
  const analysed = toNumberUp(exact); // error bars from a scale >= the one used (equal in practice)
  return describe(
    {
      kind: 'discreteLaplace',
      sensitivity,
      scale,
      epsilon,
      cost: { kind: 'discreteLaplace', scale, sensitivity },
      exact,
      variance: discreteLaplaceVariance(analysed),
    },
    (w) => discreteLaplaceTail(analysed, w),
    (rng) => sampleDiscreteLaplace(exact, rng),
  );
}

/**
 * Discrete Gaussian with sigma^2 >= sensitivity^2/(2 rho): rho-zCDP for l2 sensitivity `sensitivity`
 * (CKS 2020 Theorem 4: the discrete Gaussian satisfies (Delta^2 / (2 sigma^2))-zCDP).
 */
export function discreteGaussianMechanism(opts: { sensitivity: number; rho: number }): IntegerMechanism {
  const { sensitivity, rho } = opts;
  const exact = gaussianSigma2For(sensitivity, rho);
  reportableDown(exact, 'sigma^2');
  const sigma = sqrtDown(exact);
  const analysed = toNumberUp(exact);
  return describe(
    {
      kind: 'discreteGaussian',
      sensitivity,
      scale: sigma,
      rho,
      cost: { kind: 'discreteGaussian', sigma, sensitivity },
      exact,
      variance: discreteGaussianVariance(analysed),
    },
    (w) => discreteGaussianTail(analysed, w),
    (rng) => sampleDiscreteGaussian(exact, rng),
  );
}

interface AccuracyTarget {
  sensitivity: number;
  within: number;
  confidence: number;
  granularity: number;
}

/**
 * The search behind both accuracy-first functions: the smallest privacy parameter whose actual
 * mechanism (with its rounded noise parameter) has P(|noise| > W) <= 1 - confidence, where W is the
 * number of whole granularity units inside `within`. The tail grows with the noise parameter, and
 * that shrinks as the privacy parameter grows, so the predicate is monotone and bisection is sound.
 */
function accuracySearch(opts: AccuracyTarget, tailFor: (privacy: number, w: number) => number): number {
  checkSensitivity(opts.sensitivity);
  checkConfidence(opts.confidence);
  const w = unitsWithin(opts.within, opts.granularity);
  const alpha = (1 - opts.confidence) * TAIL_SAFETY;
  return smallestPositive((privacy) => tailFor(privacy, w) <= alpha);
}

/** Smallest epsilon such that discrete Laplace noise * granularity is within +-within with the given confidence. */
export function epsilonForAccuracy(opts: AccuracyTarget): number {
  return accuracySearch(opts, (epsilon, w) => discreteLaplaceTail(toNumberUp(laplaceScaleFor(opts.sensitivity, epsilon)), w));
}

/** Smallest rho such that discrete Gaussian noise * granularity is within +-within with the given confidence. */
export function rhoForAccuracy(opts: AccuracyTarget): number {
  return accuracySearch(opts, (rho, w) => discreteGaussianTail(toNumberUp(gaussianSigma2For(opts.sensitivity, rho)), w));
}
