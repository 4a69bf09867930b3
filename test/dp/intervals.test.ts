import { test } from 'node:test';
import assert from 'node:assert/strict';
import { meanInterval, stddevInterval, varianceInterval } from '../../src/dp/intervals.js';
import { discreteGaussianMechanism, discreteLaplaceMechanism, type IntegerMechanism } from '../../src/dp/mechanisms.js';
import { seededRandom } from '../../src/dp/random.js';
import { rhoForEpsilonDelta } from '../../src/dp/conversions.js';

/** Bounded integer data on [0, 40], centred at 20 (as src/query/plan.ts centres sums), skewed. */
const LO = -20;
const HI = 20;
function dataset(n: number): { count: bigint; s1: bigint; s2: bigint; mean: number; variance: number } {
  const xs = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 40 : i % 3) - 20);
  const s1 = xs.reduce((a, b) => a + b, 0);
  const s2 = xs.reduce((a, b) => a + b * b, 0);
  return { count: BigInt(n), s1: BigInt(s1), s2: BigInt(s2), mean: s1 / n, variance: s2 / n - (s1 / n) ** 2 };
}

type Make = (sensitivity: number) => IntegerMechanism;
const laplace = (eps: number): Make => (sensitivity) => discreteLaplaceMechanism({ sensitivity, epsilon: eps });
const gaussian = (eps: number, delta: number, parts: number): Make => (sensitivity) =>
  discreteGaussianMechanism({ sensitivity, rho: rhoForEpsilonDelta(eps, delta) / parts });

function coverage(make: Make, n: number, reps: number, seed: string) {
  const d = dataset(n);
  const rng = seededRandom(seed);
  const [mc, ms, mq] = [make(1), make(20), make(400)];
  let mean = 0;
  let variance = 0;
  let sd = 0;
  for (let r = 0; r < reps; r++) {
    const count = { value: Number(mc.addNoise(d.count, rng)), mechanism: mc };
    const sum = { value: Number(ms.addNoise(d.s1, rng)), mechanism: ms };
    const sumSquares = { value: Number(mq.addNoise(d.s2, rng)), mechanism: mq };
    const m = meanInterval({ count, sum, lo: LO, hi: HI, confidence: 0.95 });
    const v = varianceInterval({ count, sum, sumSquares, lo: LO, hi: HI, confidence: 0.95 });
    const s = stddevInterval({ count, sum, sumSquares, lo: LO, hi: HI, confidence: 0.95 });
    if (m.low <= d.mean && d.mean <= m.high) mean++;
    if (v.low <= d.variance && d.variance <= v.high) variance++;
    if (s.low <= Math.sqrt(d.variance) && Math.sqrt(d.variance) <= s.high) sd++;
    assert.ok(m.low <= m.high && v.low <= v.high && v.low >= 0 && v.high <= 400);
  }
  return { mean: mean / reps, variance: variance / reps, sd: sd / reps };
}

test('mean / variance / stddev intervals labelled 95% cover at least 95% (seeded repetitions, Laplace and Gaussian noise)', () => {
  for (const [label, make, n] of [
    ['laplace eps 0.5/part, n 60', laplace(0.5), 60],
    ['laplace eps 0.1/part, n 400', laplace(0.1), 400],
    ['gaussian (1, 1e-6), n 200', gaussian(1, 1e-6, 3), 200],
  ] as const) {
    const c = coverage(make, n, 600, `coverage-${label}`);
    assert.ok(c.mean >= 0.95, `${label}: mean ${c.mean}`);
    assert.ok(c.variance >= 0.95, `${label}: variance ${c.variance}`);
    assert.ok(c.sd >= 0.95, `${label}: stddev ${c.sd}`);
  }
});

test('intervals are informative when the noise is small, and fall back to the public range without rows', () => {
  const d = dataset(5000);
  const m = laplace(5);
  const [mc, ms, mq] = [m(1), m(20), m(400)];
  const count = { value: Number(d.count), mechanism: mc };
  const sum = { value: Number(d.s1), mechanism: ms };
  const sumSquares = { value: Number(d.s2), mechanism: mq };
  const mean = meanInterval({ count, sum, lo: LO, hi: HI, confidence: 0.95 });
  assert.ok(mean.low <= d.mean && d.mean <= mean.high && mean.high - mean.low < 0.1, JSON.stringify(mean));
  const v = varianceInterval({ count, sum, sumSquares, lo: LO, hi: HI, confidence: 0.95 });
  assert.ok(v.low <= d.variance && d.variance <= v.high && v.high - v.low < 0.05 * d.variance, JSON.stringify(v));
  const none = { value: -50, mechanism: mc };
  assert.deepEqual(meanInterval({ count: none, sum, lo: LO, hi: HI, confidence: 0.95 }), { low: LO, high: HI });
  assert.deepEqual(varianceInterval({ count: none, sum, sumSquares, lo: LO, hi: HI, confidence: 0.95 }), { low: 0, high: 400 });
  assert.throws(() => meanInterval({ count, sum, lo: LO, hi: HI, confidence: 1 }), RangeError);
});
