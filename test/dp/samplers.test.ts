// Distribution tests for the exact samplers: each one's empirical distribution against its exact
// pmf (chi-square, fixed seeds so the verdicts are reproducible, 100k draws, tails pooled until
// every bin expects >= 5), plus scale edge cases and a speed check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom, systemRandom, type RandomSource } from '../../src/dp/random.js';
import { fromNumber, rational, roundDyadic, type Rational } from '../../src/dp/rational.js';
import {
  sampleBernoulli,
  sampleBernoulliExp,
  sampleDiscreteGaussian,
  sampleDiscreteLaplace,
} from '../../src/dp/samplers.js';

const N = 100_000;

// ------------------------------------------------------------------------------------------------
// Statistics helpers (floating point is fine here: this is the test's reference, not sampling)
// ------------------------------------------------------------------------------------------------

/** A bin of consecutive integers [lo, hi] with its exact probability. */
interface Bin {
  lo: number;
  hi: number;
  p: number;
}

/** Upper 1e-4 quantile of chi-square(df), Wilson-Hilferty (accurate to a few % for df >= 1). */
function chiSquareCritical(df: number): number {
  const z = 3.719;
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/**
 * Pearson chi-square of samples against contiguous bins; everything outside the bins is pooled in
 * one "tails" bin of probability 1 - sum(p). Outer bins move into the pool until the pool expects
 * >= 5, then adjacent small bins merge so every bin expects >= 5.
 */
function chiSquare(samples: readonly number[], binsIn: Bin[]): { stat: number; df: number; critical: number } {
  const n = samples.length;
  let bins = binsIn.slice();
  let inner = bins.reduce((s, b) => s + b.p, 0);
  while (bins.length > 1 && (1 - inner) * n < 5) {
    const drop = bins[0]!.p < bins[bins.length - 1]!.p ? bins.shift()! : bins.pop()!;
    inner -= drop.p;
  }
  const merged: Bin[] = [];
  for (const b of bins) {
    const last = merged[merged.length - 1];
    if (last && last.p * n < 5) merged[merged.length - 1] = { lo: last.lo, hi: b.hi, p: last.p + b.p };
    else merged.push({ ...b });
  }
  if (merged.length > 1 && merged[merged.length - 1]!.p * n < 5) {
    const tail = merged.pop()!;
    const prev = merged.pop()!;
    merged.push({ lo: prev.lo, hi: tail.hi, p: prev.p + tail.p });
  }
  bins = merged;
  const pooled = Math.max(0, 1 - bins.reduce((s, b) => s + b.p, 0));
  const counts = new Array<number>(bins.length).fill(0);
  let pooledCount = 0;
  for (const x of samples) {
    let lo = 0;
    let hi = bins.length - 1;
    if (x < bins[0]!.lo || x > bins[hi]!.hi) {
      pooledCount++;
      continue;
    }
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bins[mid]!.lo <= x) lo = mid;
      else hi = mid - 1;
    }
    counts[lo]!++;
  }
  let stat = 0;
  bins.forEach((b, i) => (stat += (counts[i]! - n * b.p) ** 2 / (n * b.p)));
  let cells = bins.length;
  if (pooled * n >= 1e-9) {
    stat += (pooledCount - n * pooled) ** 2 / (n * pooled);
    cells++;
  } else {
    assert.equal(pooledCount, 0, 'a value with negligible probability was drawn');
  }
  const df = cells - 1;
  assert.ok(df >= 1, 'the chi-square test needs at least two cells');
  return { stat, df, critical: chiSquareCritical(df) };
}

function assertFits(samples: readonly number[], bins: Bin[], label: string): void {
  const { stat, df, critical } = chiSquare(samples, bins);
  assert.ok(stat < critical, `${label}: chi-square ${stat.toFixed(1)} >= ${critical.toFixed(1)} (df ${df})`);
}

function assertRejects(samples: readonly number[], bins: Bin[], label: string): void {
  const { stat, critical } = chiSquare(samples, bins);
  assert.ok(stat > critical, `${label}: a wrong pmf was not rejected (chi-square ${stat.toFixed(1)})`);
}

function draw(n: number, f: () => bigint): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) out[i] = Number(f());
  return out;
}

/** Bins [lo, lo+width-1], ... covering [-halfRange, halfRange] (roughly), with mass(lo, hi). */
function rangeBins(halfRange: number, width: number, mass: (lo: number, hi: number) => number): Bin[] {
  const bins: Bin[] = [];
  const start = -Math.floor(halfRange / width) * width - Math.floor(width / 2);
  for (let lo = start; lo <= halfRange; lo += width) bins.push({ lo, hi: lo + width - 1, p: mass(lo, lo + width - 1) });
  return bins;
}

// Discrete Laplace with scale b: P(X <= x) = q^-x / (1+q) for x < 0 and 1 - q^(x+1)/(1+q) for x >= 0.
function laplaceCdf(b: number, x: number): number {
  const q = Math.exp(-1 / b);
  return x < 0 ? Math.exp(x / b) / (1 + q) : 1 - Math.exp(-(x + 1) / b) / (1 + q);
}
function laplaceMass(b: number): (lo: number, hi: number) => number {
  return (lo, hi) => laplaceCdf(b, hi) - laplaceCdf(b, lo - 1);
}

// Discrete Gaussian: direct sums of exp(-x^2/(2 s2)); Z by direct sum for small sigma, by Poisson
// summation (sqrt(2 pi) sigma, corrections below exp(-2 pi^2 sigma^2)) for sigma >= 10.
function gaussianZ(s2: number): number {
  const sigma = Math.sqrt(s2);
  if (sigma >= 10) return Math.sqrt(2 * Math.PI) * sigma;
  let z = 1;
  for (let x = 1; x < 40 * sigma + 40; x++) z += 2 * Math.exp(-(x * x) / (2 * s2));
  return z;
}
function gaussianMass(s2: number): (lo: number, hi: number) => number {
  const z = gaussianZ(s2);
  return (lo, hi) => {
    let s = 0;
    for (let x = lo; x <= hi; x++) s += Math.exp(-(x * x) / (2 * s2));
    return s / z;
  };
}

function ratToNumber(r: Rational): number {
  return Number(r.num) / Number(r.den);
}

// ------------------------------------------------------------------------------------------------
// Bernoulli samplers
// ------------------------------------------------------------------------------------------------

function assertBinomial(successes: number, n: number, p: number, label: string): void {
  const z = (successes - n * p) / Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(z) < 4.5, `${label}: ${successes}/${n} vs p=${p} (z=${z.toFixed(2)})`);
}

function countTrue(n: number, f: () => boolean): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (f()) c++;
  return c;
}

test('sampleBernoulli matches p for small and large denominators', () => {
  const rng = seededRandom('bernoulli');
  const cases: [Rational, string][] = [
    [rational(1, 3), '1/3'],
    [fromNumber(0.1), 'double 0.1 (55-bit denominator, digit-by-digit path)'],
    [rational((1n << 80n) / 3n, 1n << 80n), '~1/3 with an 80-bit denominator'],
    [rational(999_999, 1_000_000), '0.999999'],
  ];
  for (const [p, label] of cases) assertBinomial(countTrue(N, () => sampleBernoulli(p, rng)), N, ratToNumber(p), label);
  assert.equal(countTrue(1000, () => sampleBernoulli(rational(0), rng)), 0);
  assert.equal(countTrue(1000, () => sampleBernoulli(rational(1), rng)), 1000);
  assert.throws(() => sampleBernoulli(rational(3, 2), rng), RangeError);
  assert.throws(() => sampleBernoulli(rational(-1, 2), rng), RangeError);
});

test('sampleBernoulliExp matches exp(-gamma), including gamma > 1 and huge gamma', () => {
  const rng = seededRandom('bernoulli-exp');
  const cases: [Rational, number][] = [
    [rational(1, 2), Math.exp(-0.5)],
    [rational(1), Math.exp(-1)],
    [rational(7, 3), Math.exp(-7 / 3)],
    [fromNumber(0.1), Math.exp(-0.1)],
    [rational(1, 1000), Math.exp(-0.001)],
    [rational(5), Math.exp(-5)],
  ];
  for (const [gamma, p] of cases) assertBinomial(countTrue(N, () => sampleBernoulliExp(gamma, rng)), N, p, `gamma=${gamma.num}/${gamma.den}`);
  assert.equal(countTrue(1000, () => sampleBernoulliExp(rational(0), rng)), 1000, 'exp(-0) = 1');
  assert.equal(countTrue(1000, () => sampleBernoulliExp(rational(10n ** 30n), rng)), 0, 'exp(-1e30) ~ 0, and fast');
  assert.throws(() => sampleBernoulliExp(rational(-1), rng), RangeError);
});

// ------------------------------------------------------------------------------------------------
// Discrete Laplace
// ------------------------------------------------------------------------------------------------

function laplaceCase(scale: Rational, seed: string, halfRange: number, width: number): { samples: number[]; bins: Bin[] } {
  const rng = seededRandom(seed);
  const b = ratToNumber(scale);
  return { samples: draw(N, () => sampleDiscreteLaplace(scale, rng)), bins: rangeBins(halfRange, width, laplaceMass(b)) };
}

test('discrete Laplace, scale 1: chi-square against the exact pmf', () => {
  const { samples, bins } = laplaceCase(rational(1), 'lap-1', 30, 1);
  assertFits(samples, bins, 'scale 1');
});

test('discrete Laplace, rational scale 7/3: fits its pmf and rejects the pmf of scale 2.4', () => {
  const { samples, bins } = laplaceCase(rational(7, 3), 'lap-7/3', 60, 1);
  assertFits(samples, bins, 'scale 7/3');
  assertRejects(samples, rangeBins(60, 1, laplaceMass(2.4)), 'scale 7/3 vs 2.4');
});

test('discrete Laplace, scale 1/0.3 rounded up to 32 bits (30-bit denominator)', () => {
  const scale = roundDyadic(rational(10, 3), 32, 'up');
  assert.ok(scale.den > 1n << 28n);
  const { samples, bins } = laplaceCase(scale, 'lap-10/3', 80, 1);
  assertFits(samples, bins, 'scale ~10/3');
});

test('discrete Laplace, small scale 1/4 (mostly zeros)', () => {
  const { samples, bins } = laplaceCase(rational(1, 4), 'lap-1/4', 10, 1);
  assertFits(samples, bins, 'scale 1/4');
});

test('discrete Laplace, tiny scale 0.01: always 0 (P(X != 0) ~ 7e-44)', () => {
  const rng = seededRandom('lap-0.01');
  for (const scale of [rational(1, 100), fromNumber(0.01), rational(1, 10n ** 12n)]) {
    const samples = draw(10_000, () => sampleDiscreteLaplace(scale, rng));
    assert.ok(samples.every((x) => x === 0));
  }
});

test('discrete Laplace, huge scale 1e6: chi-square over 100 bins of width 1e5', () => {
  const { samples, bins } = laplaceCase(rational(1_000_000), 'lap-1e6', 5e6, 1e5);
  assertFits(samples, bins, 'scale 1e6');
  const mean = samples.reduce((s, x) => s + x, 0) / N;
  const sd = Math.sqrt(2) * 1e6;
  assert.ok(Math.abs(mean) < (5 * sd) / Math.sqrt(N), `mean ${mean}`);
});

// ------------------------------------------------------------------------------------------------
// Discrete Gaussian
// ------------------------------------------------------------------------------------------------

function gaussianCase(sigma2: Rational, seed: string, width: number): { samples: number[]; bins: Bin[] } {
  const rng = seededRandom(seed);
  const s2 = ratToNumber(sigma2);
  const halfRange = Math.ceil(6 * Math.sqrt(s2)) + 3;
  return { samples: draw(N, () => sampleDiscreteGaussian(sigma2, rng)), bins: rangeBins(halfRange, width, gaussianMass(s2)) };
}

test('discrete Gaussian, sigma^2 = 1', () => {
  const { samples, bins } = gaussianCase(rational(1), 'g-1', 1);
  assertFits(samples, bins, 'sigma2 1');
});

test('discrete Gaussian, rational sigma^2 = 7/3: fits its pmf and rejects the pmf of sigma^2 = 2.5', () => {
  const { samples, bins } = gaussianCase(rational(7, 3), 'g-7/3', 1);
  assertFits(samples, bins, 'sigma2 7/3');
  assertRejects(samples, rangeBins(20, 1, gaussianMass(2.5)), 'sigma2 7/3 vs 2.5');
});

test('discrete Gaussian, sigma^2 = 1/(2*0.3) rounded up to 32 bits (large denominators)', () => {
  const sigma2 = roundDyadic(rational(5, 3), 32, 'up');
  const { samples, bins } = gaussianCase(sigma2, 'g-5/3', 1);
  assertFits(samples, bins, 'sigma2 ~5/3');
});

test('discrete Gaussian, small sigma^2 = 1/4', () => {
  const { samples, bins } = gaussianCase(rational(1, 4), 'g-1/4', 1);
  assertFits(samples, bins, 'sigma2 1/4');
});

test('discrete Gaussian, tiny sigma^2 = 1e-4: always 0 (P(X != 0) ~ 2 e^-5000)', () => {
  const rng = seededRandom('g-tiny');
  for (const sigma2 of [rational(1, 10_000), fromNumber(0.0001)]) {
    const samples = draw(10_000, () => sampleDiscreteGaussian(sigma2, rng));
    assert.ok(samples.every((x) => x === 0));
  }
});

test('discrete Gaussian, sigma = 1e3 (sigma^2 = 1e6): chi-square over bins of width 100', () => {
  const { samples, bins } = gaussianCase(rational(1_000_000), 'g-1e6', 100);
  assertFits(samples, bins, 'sigma2 1e6');
});

test('discrete Gaussian, huge sigma = 1e6 (sigma^2 = 1e12): chi-square over bins of width 1e5', () => {
  const { samples, bins } = gaussianCase(rational(10n ** 12n), 'g-1e12', 100_000);
  assertFits(samples, bins, 'sigma2 1e12');
});

// ------------------------------------------------------------------------------------------------
// Reproducibility and speed
// ------------------------------------------------------------------------------------------------

test('the same seed gives the same samples; a different seed different ones', () => {
  const run = (rng: RandomSource) => draw(200, () => sampleDiscreteGaussian(rational(100), rng) + sampleDiscreteLaplace(rational(7, 3), rng));
  assert.deepEqual(run(seededRandom(42)), run(seededRandom(42)));
  assert.notDeepEqual(run(seededRandom(42)), run(seededRandom(43)));
  assert.notDeepEqual(run(seededRandom(42)), run(seededRandom('42')), 'seed 42 and "42" are different seeds');
});

test('speed: a discrete Gaussian with sigma ~1e3 takes well under 1 ms per sample (system randomness)', () => {
  const sigma2 = roundDyadic(rational(1_000_003, 1), 32, 'up');
  const n = 20_000;
  const start = performance.now();
  for (let i = 0; i < n; i++) sampleDiscreteGaussian(sigma2, systemRandom);
  const perSampleMs = (performance.now() - start) / n;
  assert.ok(perSampleMs < 0.25, `${(perSampleMs * 1000).toFixed(1)} us per sample`);
});
