/**
 * Exact noise samplers (Canonne, Kamath, Steinke 2020, "The Discrete Gaussian for Differential
 * Privacy", Algorithms 1-3).
 *
 * Why exact: a sampler that computes with doubles (inverse CDF, Box-Muller, ...) produces outputs
 * whose low-order bits depend on the secret value, which breaks differential privacy (Mironov 2012).
 * Every probability here is an exact rational, every coin is a uniform integer from the one
 * RandomSource, and the output distribution is exactly the stated pmf. No Math.* call appears in
 * this file (test/dp/samplers-nofloat.test.ts enforces that, statically and at run time).
 *
 * Internal helpers take a fraction as two bigints (not necessarily reduced) to avoid a gcd per coin.
 */
import { currentRandom, type RandomSource } from './random.js';
import { floorSqrt, type Rational } from './rational.js';

const TWO_32 = 1n << 32n;

function checkRational(x: Rational, what: string): void {
  if (typeof x !== 'object' || x === null || typeof x.num !== 'bigint' || typeof x.den !== 'bigint' || x.den <= 0n) {
    throw new TypeError(`${what} must be a Rational { num: bigint, den: bigint > 0 }`);
  }
}

/**
 * Bernoulli(num/den) for 0 <= num/den <= 1.
 *
 * Small denominators: one uniform draw below den. Large ones: compare a uniform U in [0,1) with
 * p = num/den 32 binary digits at a time, producing p's digits by long division; the first chunk
 * where they differ decides U < p. Exact, and needs 32 random bits on average however large den is.
 */
function bernoulliRatio(num: bigint, den: bigint, rng: RandomSource): boolean {
  if (num <= 0n) return false;
  if (num >= den) return true;
  if (den <= TWO_32) return rng.uniformBelow(den) < num;
  let remainder = num;
  for (;;) {
    remainder <<= 32n;
    const digit = remainder / den;
    remainder -= digit * den;
    const u = rng.uniformBelow(TWO_32);
    if (u !== digit) return u < digit;
  }
}

/** CKS Algorithm 1, case gamma = num/den in [0, 1]: K counts successes of Bernoulli(gamma/K); odd K means true. */
function bernoulliExpAtMostOne(num: bigint, den: bigint, rng: RandomSource): boolean {
  let k = 1n;
  while (bernoulliRatio(num, den * k, rng)) k++;
  return (k & 1n) === 1n;
}

/**
 * CKS Algorithm 1: true with probability exp(-num/den). For gamma > 1 it multiplies floor(gamma)
 * independent exp(-1) coins and one exp(-frac(gamma)) coin, stopping at the first failure, so the
 * expected work is O(1) even for huge gamma.
 */
function bernoulliExpRatio(num: bigint, den: bigint, rng: RandomSource): boolean {
  const whole = num / den;
  for (let i = 0n; i < whole; i++) {
    if (!bernoulliExpAtMostOne(1n, 1n, rng)) return false;
  }
  return bernoulliExpAtMostOne(num - whole * den, den, rng);
}

/**
 * CKS Algorithm 2: discrete Laplace with scale t/s (P(y) proportional to exp(-|y| s/t)), for
 * integers t, s >= 1. X = U + t*V is geometric with ratio exp(-1/t) (U uniform below t kept with
 * probability exp(-U/t), V counts exp(-1) successes); floor(X/s) is then geometric with ratio
 * exp(-s/t), and a random sign, rejecting "-0", makes it two-sided.
 */
function discreteLaplaceRatio(t: bigint, s: bigint, rng: RandomSource): bigint {
  for (;;) {
    const u = rng.uniformBelow(t);
    if (!bernoulliExpAtMostOne(u, t, rng)) continue;
    let v = 0n;
    while (bernoulliExpAtMostOne(1n, 1n, rng)) v++;
    const y = (u + t * v) / s;
    const negative = rng.uniformBelow(2n) === 1n;
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

/** True with probability p (a Rational in [0, 1]). */
export function sampleBernoulli(p: Rational, rng: RandomSource = currentRandom()): boolean {
  checkRational(p, 'p');
  if (p.num < 0n || p.num > p.den) throw new RangeError('sampleBernoulli: p must be in [0, 1]');
  return bernoulliRatio(p.num, p.den, rng);
}

/** True with probability exp(-gamma), gamma >= 0 (CKS Algorithm 1). */
export function sampleBernoulliExp(gamma: Rational, rng: RandomSource = currentRandom()): boolean {
  checkRational(gamma, 'gamma');
  if (gamma.num < 0n) throw new RangeError('sampleBernoulliExp: gamma must be >= 0');
  return bernoulliExpRatio(gamma.num, gamma.den, rng);
}

/** Integer y with P(y) proportional to exp(-|y|/scale), scale > 0 (CKS Algorithm 2). */
export function sampleDiscreteLaplace(scale: Rational, rng: RandomSource = currentRandom()): bigint {
  checkRational(scale, 'scale');
  if (scale.num <= 0n) throw new RangeError('sampleDiscreteLaplace: scale must be > 0');
  return discreteLaplaceRatio(scale.num, scale.den, rng);
}

/**
 * Integer y with P(y) proportional to exp(-y^2 / (2 sigma2)), sigma2 > 0 (CKS Algorithm 3).
 *
 * Proposes Y from a discrete Laplace with integer scale t = floor(sigma) + 1 and accepts with
 * probability exp(-(|Y| - sigma2/t)^2 / (2 sigma2)). With sigma2 = n/d that exponent is the exact
 * fraction (|Y| d t - n)^2 / (2 n d t^2). The acceptance rate is bounded below by a constant, so the
 * expected cost does not grow with sigma.
 */
export function sampleDiscreteGaussian(sigma2: Rational, rng: RandomSource = currentRandom()): bigint {
  checkRational(sigma2, 'sigma2');
  if (sigma2.num <= 0n) throw new RangeError('sampleDiscreteGaussian: sigma2 must be > 0');
  const n = sigma2.num;
  const d = sigma2.den;
  const t = floorSqrt(sigma2) + 1n;
  const dt = d * t;
  const gammaDen = 2n * n * d * t * t;
  for (;;) {
    const y = discreteLaplaceRatio(t, 1n, rng);
    const diff = (y < 0n ? -y : y) * dt - n;
    if (bernoulliExpRatio(diff * diff, gammaDen, rng)) return y;
  }
}
