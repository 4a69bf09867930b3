// Tests for the integer mechanisms: conservative parameters, exact cost/variance/half-widths
// (checked against independent direct sums of the pmf), accuracy-first search, and noise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  discreteGaussianMechanism,
  discreteGaussianTail,
  discreteGaussianVariance,
  discreteLaplaceMechanism,
  epsilonForAccuracy,
  erfc,
  gaussianSigma2For,
  laplaceScaleFor,
  rhoForAccuracy,
  type IntegerMechanism,
} from '../../src/dp/mechanisms.js';
import { seededRandom, useRandomSourceForTests } from '../../src/dp/random.js';
import { compare, div, floor, fromNumber, mul, rational, sub, toNumber } from '../../src/dp/rational.js';

// ------------------------------------------------------------------------------------------------
// Independent references: the pmf summed term by term (Neumaier-compensated), no closed forms.
// ------------------------------------------------------------------------------------------------

function compensatedSum(terms: Iterable<number>): number {
  let sum = 0;
  let c = 0;
  for (const t of terms) {
    const s = sum + t;
    c += Math.abs(sum) >= Math.abs(t) ? sum - s + t : t - s + sum;
    sum = s;
  }
  return sum + c;
}

function* range(from: number, to: number, f: (x: number) => number): Generator<number> {
  for (let x = from; x <= to; x++) yield f(x);
}

/** Unnormalised pmf, and how far out terms matter. */
interface Reference {
  weight: (x: number) => number;
  reach: number;
}

function laplaceRef(scale: number): Reference {
  return { weight: (x) => Math.exp(-Math.abs(x) / scale), reach: Math.ceil(50 * scale) + 5 };
}

function gaussianRef(sigma2: number): Reference {
  return { weight: (x) => Math.exp(-(x * x) / (2 * sigma2)), reach: Math.ceil(40 * Math.sqrt(sigma2)) + 5 };
}

function refZ(r: Reference): number {
  return 1 + 2 * compensatedSum(range(1, r.reach, r.weight));
}

function refTail(r: Reference, w: number): number {
  return w + 1 > r.reach ? 0 : (2 * compensatedSum(range(w + 1, r.reach, r.weight))) / refZ(r);
}

function refVariance(r: Reference): number {
  return (2 * compensatedSum(range(1, r.reach, (x) => x * x * r.weight(x)))) / refZ(r);
}

function relErr(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

// ------------------------------------------------------------------------------------------------
// Parameters and cost
// ------------------------------------------------------------------------------------------------

test('Laplace: scale >= sensitivity/epsilon exactly, and the cost never understates epsilon', () => {
  for (const epsilon of [0.1, 0.3, 1, 1 / 3, 2.5, 1e-6, 10, 100, 0.123456789]) {
    for (const sensitivity of [1, 3, 1000]) {
      const m = discreteLaplaceMechanism({ sensitivity, epsilon });
      const real = div(rational(sensitivity), fromNumber(epsilon));
      assert.ok(compare(m.exact, real) >= 0, 'noise never smaller than sensitivity/epsilon');
      assert.ok(toNumber(div(sub(m.exact, real), real)) <= 2 ** -31, 'and only a rounding above it');
      assert.equal(m.kind, 'discreteLaplace');
      assert.equal(m.epsilon, epsilon);
      assert.deepEqual(m.cost, { kind: 'discreteLaplace', scale: m.scale, sensitivity });
      assert.ok(compare(fromNumber(m.scale), m.exact) <= 0, 'reported scale <= the scale used');
      if (m.cost.kind === 'discreteLaplace') assert.ok(m.cost.sensitivity / m.cost.scale <= epsilon, 'accountant-derived epsilon <= requested');
    }
  }
  assert.deepEqual(discreteLaplaceMechanism({ sensitivity: 1, epsilon: 0.1 }).exact, rational(10), '1/0.1 rounds to exactly 10');
  assert.deepEqual(laplaceScaleFor(2, 0.5), rational(4));
});

test('Gaussian: sigma^2 >= sensitivity^2/(2 rho) exactly, and the reported sigma never overstates it', () => {
  for (const rho of [0.1, 0.3, 1, 1e-9, 0.005, 2 / 3, 50]) {
    for (const sensitivity of [1, 7]) {
      const m = discreteGaussianMechanism({ sensitivity, rho });
      const real = div(rational(sensitivity * sensitivity), mul(rational(2), fromNumber(rho)));
      assert.ok(compare(m.exact, real) >= 0);
      assert.ok(toNumber(div(sub(m.exact, real), real)) <= 2 ** -31);
      assert.equal(m.kind, 'discreteGaussian');
      assert.equal(m.rho, rho);
      assert.deepEqual(m.cost, { kind: 'discreteGaussian', sigma: m.scale, sensitivity });
      const sigma = fromNumber(m.scale);
      assert.ok(compare(mul(sigma, sigma), m.exact) <= 0, 'sigma^2 <= sigma^2 used');
      assert.ok(relErr(m.scale, Math.sqrt(toNumber(m.exact))) < 1e-15);
    }
  }
  assert.deepEqual(gaussianSigma2For(1, 0.1), rational(5));
});

test('bad parameters are refused', () => {
  for (const sensitivity of [0, -1, 1.5, NaN, 2 ** 60]) assert.throws(() => discreteLaplaceMechanism({ sensitivity, epsilon: 1 }), RangeError);
  for (const epsilon of [0, -1, NaN, Infinity]) assert.throws(() => discreteLaplaceMechanism({ sensitivity: 1, epsilon }), RangeError);
  for (const rho of [0, -0.1, NaN, Infinity]) assert.throws(() => discreteGaussianMechanism({ sensitivity: 1, rho }), RangeError);
  const m = discreteLaplaceMechanism({ sensitivity: 1, epsilon: 1 });
  for (const c of [0, 1, -0.5, 1.5, NaN]) assert.throws(() => m.halfWidth(c, 1), RangeError);
  assert.throws(() => m.halfWidth(0.9, 0), RangeError);
  assert.throws(() => m.standardError(-1), RangeError);
  assert.throws(() => m.addNoise(5 as unknown as bigint), TypeError);
  assert.throws(() => epsilonForAccuracy({ sensitivity: 1, within: 0, confidence: 0.9, granularity: 1 }), RangeError);
  assert.throws(() => rhoForAccuracy({ sensitivity: 1, within: 10, confidence: 1, granularity: 1 }), RangeError);
});

// ------------------------------------------------------------------------------------------------
// Variance and tails against direct sums
// ------------------------------------------------------------------------------------------------

const LAPLACE_SCALES = [0.01, 0.5, 7 / 3, 10, 333.5];
const GAUSSIAN_SIGMA2 = [1e-4, 0.25, 1, 7 / 3, 100, 40_000, 62_500, 1e6, 4e6];

test('variance is the exact variance of the discrete noise', () => {
  for (const scale of LAPLACE_SCALES) {
    const m = discreteLaplaceMechanism({ sensitivity: 1, epsilon: 1 / scale });
    const expected = refVariance(laplaceRef(toNumber(m.exact)));
    assert.ok(relErr(m.variance, expected) < 1e-12 || Math.abs(m.variance - expected) < 1e-300, `Laplace ${scale}: ${m.variance} vs ${expected}`);
    assert.ok(relErr(m.standardError(0.5), Math.sqrt(expected) * 0.5) < 1e-12 || expected < 1e-300);
  }
  for (const s2 of GAUSSIAN_SIGMA2) {
    const expected = refVariance(gaussianRef(s2));
    assert.ok(relErr(discreteGaussianVariance(s2), expected) < 1e-12, `Gaussian ${s2}: ${discreteGaussianVariance(s2)} vs ${expected}`);
  }
  // The discrete Gaussian's variance is below sigma^2 (CKS 2020), visibly so for small sigma.
  assert.ok(discreteGaussianVariance(1) < 1 && discreteGaussianVariance(0.25) < 0.25);
  assert.ok(relErr(discreteGaussianVariance(0.25), (2 * Math.exp(-2) + 8 * Math.exp(-8)) / (1 + 2 * Math.exp(-2) + 2 * Math.exp(-8))) < 1e-6);
  // Large scales keep their precision: Var ~ 2 t^2 - 1/6 for Laplace.
  const big = discreteLaplaceMechanism({ sensitivity: 1, epsilon: 1e-6 });
  assert.ok(relErr(big.variance, 2 * big.scale ** 2 - 1 / 6) < 1e-12);
});

test('Gaussian tails: the Euler-Maclaurin path (sigma > 200) agrees with direct sums', () => {
  for (const s2 of [200.5 ** 2, 250 ** 2, 1000.5 ** 2, 4e6]) {
    const sigma = Math.sqrt(s2);
    const ref = gaussianRef(s2);
    for (const k of [0, 0.01, 0.5, 1, 1.96, 3, 5, 8, 20, 30]) {
      const w = Math.round(k * sigma);
      const got = discreteGaussianTail(s2, w);
      const want = refTail(ref, w);
      assert.ok(relErr(got, want) < 1e-11, `sigma ${sigma} w ${w}: ${got} vs ${want}`);
    }
  }
});

test('erfc is accurate across its branches', () => {
  // Reference values (30-digit mpmath).
  const cases: [number, number][] = [
    [0.3, 0.671373240540872583810382014682],
    [0.8, 0.257899035292339487410212644387],
    [1, 0.157299207050285130658779364917],
    [1.5, 0.0338948535246892729330237383541],
    [3, 0.0000220904969985854413727761295823],
    [5, 1.53745979442803485018834348538e-12],
  ];
  for (const [x, want] of cases) assert.ok(relErr(erfc(x), want) < 5e-15, `erfc(${x}) = ${erfc(x)}`);
});

/** Checks that w = halfWidth/g is the smallest integer with P(|X| <= w) >= confidence. */
function assertExactHalfWidth(m: IntegerMechanism, ref: Reference, confidence: number, label: string): void {
  const g = 0.25;
  const hw = m.halfWidth(confidence, g);
  const w = Math.round(hw / g);
  assert.equal(w * g, hw);
  assert.ok(1 - refTail(ref, w) >= confidence, `${label} c=${confidence}: P(|X| <= ${w}) = ${1 - refTail(ref, w)}`);
  if (w > 0) {
    // The implementation keeps a 1e-9 relative safety margin on the tail; beyond that, w is minimal.
    assert.ok(refTail(ref, w - 1) > (1 - confidence) * (1 - 1e-8), `${label} c=${confidence}: ${w - 1} would do`);
  }
}

test('halfWidth is the exact discrete quantile, not a normal approximation', () => {
  const confidences = [0.5, 0.9, 0.95, 0.99, 0.999999];
  for (const scale of LAPLACE_SCALES) {
    const m = discreteLaplaceMechanism({ sensitivity: 1, epsilon: 1 / scale });
    for (const c of confidences) assertExactHalfWidth(m, laplaceRef(toNumber(m.exact)), c, `Laplace ${scale}`);
  }
  for (const s2 of GAUSSIAN_SIGMA2) {
    const m = discreteGaussianMechanism({ sensitivity: 1, rho: 1 / (2 * s2) });
    for (const c of confidences) assertExactHalfWidth(m, gaussianRef(toNumber(m.exact)), c, `Gaussian ${s2}`);
  }
  // Where the discrete and normal answers differ: sigma^2 = 1/4 has P(X = 0) = 0.787 and
  // P(|X| <= 1) = 0.99947, so its 99.9% half-width is 1, where 3.29 sigma would say 1.65 (i.e. 2).
  const narrow = discreteGaussianMechanism({ sensitivity: 1, rho: 2 });
  assert.deepEqual(narrow.exact, rational(1, 4));
  assert.equal(narrow.halfWidth(0.75, 1), 0);
  assert.equal(narrow.halfWidth(0.999, 1), 1);
  // Laplace scale 10: P(|X| > w) = 2 q^(w+1)/(1+q) <= 0.05 with q = e^-0.1 needs w + 1 >= 30.44,
  // so w = 30 (the continuous Laplace would say 10 ln 20 = 29.96).
  assert.equal(discreteLaplaceMechanism({ sensitivity: 1, epsilon: 0.1 }).halfWidth(0.95, 1), 30);
});

test('halfWidth and standardError scale with the granularity', () => {
  const m = discreteGaussianMechanism({ sensitivity: 4, rho: 0.05 });
  assert.equal(m.halfWidth(0.95, 0.5), m.halfWidth(0.95, 1) * 0.5);
  assert.ok(relErr(m.standardError(0.01), Math.sqrt(m.variance) * 0.01) < 1e-15);
});

test('empirical coverage of the half-widths matches (seeded draws through addNoise)', () => {
  const rng = seededRandom('coverage');
  for (const m of [discreteLaplaceMechanism({ sensitivity: 2, epsilon: 0.5 }), discreteGaussianMechanism({ sensitivity: 2, rho: 0.02 })]) {
    const w = BigInt(m.halfWidth(0.9, 1));
    const n = 20_000;
    let inside = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const noise = m.addNoise(1_000_000n, rng) - 1_000_000n;
      if (noise <= w && noise >= -w) inside++;
      sumSq += Number(noise) ** 2;
    }
    const pInside = 1 - (m.kind === 'discreteLaplace' ? refTail(laplaceRef(m.scale), Number(w)) : refTail(gaussianRef(toNumber(m.exact)), Number(w)));
    assert.ok(Math.abs(inside / n - pInside) < 4.5 * Math.sqrt((pInside * (1 - pInside)) / n), `${m.kind}: ${inside / n} vs ${pInside}`);
    assert.ok(Math.abs(sumSq / n / m.variance - 1) < 0.1, `${m.kind}: empirical variance ${sumSq / n} vs ${m.variance}`);
  }
});

// ------------------------------------------------------------------------------------------------
// Accuracy first
// ------------------------------------------------------------------------------------------------

const TARGETS = [
  { sensitivity: 1, within: 50, confidence: 0.95, granularity: 1 },
  { sensitivity: 3, within: 2.5, confidence: 0.99, granularity: 0.1 },
  { sensitivity: 1, within: 0.3, confidence: 0.9, granularity: 1 }, // within < granularity: only 0 counts
  { sensitivity: 1, within: 1e7, confidence: 0.999, granularity: 1 },
  { sensitivity: 10, within: 0.7, confidence: 0.5, granularity: 0.1 }, // 0.7/0.1 is 6.999... in doubles
];

/** Direct sum for moderate scales; the closed form (checked against direct sums above) beyond. */
function laplaceTail(scale: number, w: number): number {
  return scale > 1000 ? (2 * Math.exp(-(w + 1) / scale)) / (1 + Math.exp(-1 / scale)) : refTail(laplaceRef(scale), w);
}

/** Whole granularity units inside `within`, exactly (0.7 / 0.1 is below 7 for doubles). */
function unitsOf(t: { within: number; granularity: number }): number {
  return Number(floor(div(fromNumber(t.within), fromNumber(t.granularity))));
}

test('epsilonForAccuracy: the smallest epsilon whose mechanism meets the accuracy', () => {
  for (const t of TARGETS) {
    const epsilon = epsilonForAccuracy(t);
    const m = discreteLaplaceMechanism({ sensitivity: t.sensitivity, epsilon });
    const units = unitsOf(t);
    assert.ok(1 - laplaceTail(toNumber(m.exact), units) >= t.confidence, `epsilon ${epsilon} misses ${JSON.stringify(t)}`);
    assert.ok(m.halfWidth(t.confidence, t.granularity) <= t.within + 1e-12 * t.within);
    const smaller = discreteLaplaceMechanism({ sensitivity: t.sensitivity, epsilon: epsilon * (1 - 1e-6) });
    assert.ok(1 - laplaceTail(toNumber(smaller.exact), units) < t.confidence, `epsilon ${epsilon} is not the smallest`);
  }
  // Continuous-Laplace intuition check: within 50 at 95% with sensitivity 1 is about ln(20)/50.
  const e = epsilonForAccuracy(TARGETS[0]!);
  assert.ok(Math.abs(e - Math.log(20) / 50) < 0.002, `${e}`);
});

test('rhoForAccuracy: the smallest rho whose mechanism meets the accuracy', () => {
  for (const t of TARGETS) {
    const rho = rhoForAccuracy(t);
    const m = discreteGaussianMechanism({ sensitivity: t.sensitivity, rho });
    const units = unitsOf(t);
    const tail = (s2: number) => (s2 > 1e7 ? discreteGaussianTail(s2, units) : refTail(gaussianRef(s2), units));
    assert.ok(1 - tail(toNumber(m.exact)) >= t.confidence, `rho ${rho} misses ${JSON.stringify(t)}`);
    const smaller = discreteGaussianMechanism({ sensitivity: t.sensitivity, rho: rho * (1 - 1e-6) });
    assert.ok(1 - tail(toNumber(smaller.exact)) < t.confidence, `rho ${rho} is not the smallest`);
  }
  // Near the normal answer for large sigma: within 50 at 95% means sigma ~ 50/1.96.
  const rho = rhoForAccuracy(TARGETS[0]!);
  assert.ok(Math.abs(Math.sqrt(1 / (2 * rho)) / (50 / 1.96) - 1) < 0.02);
});

// ------------------------------------------------------------------------------------------------
// Noise
// ------------------------------------------------------------------------------------------------

test('addNoise adds integer noise to the true value, reproducibly under a seeded source', () => {
  const m = discreteGaussianMechanism({ sensitivity: 1, rho: 0.5 });
  const a = Array.from({ length: 100 }, (_, i) => m.addNoise(BigInt(i), seededRandom('noise')));
  const b = Array.from({ length: 100 }, (_, i) => m.addNoise(BigInt(i), seededRandom('noise')));
  assert.deepEqual(a, b);
  assert.ok(a.every((x) => typeof x === 'bigint'));
  useRandomSourceForTests(seededRandom('default'));
  try {
    const viaDefault = Array.from({ length: 50 }, () => m.addNoise(10n ** 30n));
    const again = seededRandom('default');
    assert.deepEqual(viaDefault, Array.from({ length: 50 }, () => m.addNoise(10n ** 30n, again)));
    assert.ok(viaDefault.some((x) => x !== 10n ** 30n), 'noise is added to large true values too');
  } finally {
    useRandomSourceForTests(null);
  }
});
