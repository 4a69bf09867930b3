// Tests for permute-and-flip (exact output distribution) and DP key selection (threshold).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { discreteLaplaceMechanism } from '../../src/dp/mechanisms.js';
import { seededRandom } from '../../src/dp/random.js';
import { rational } from '../../src/dp/rational.js';
import { sampleDiscreteLaplace } from '../../src/dp/samplers.js';
import { keySelection, permuteAndFlip, selectionDelta } from '../../src/dp/selection.js';

/** Upper 1e-4 quantile of chi-square(df), Wilson-Hilferty. */
function chiSquareCritical(df: number): number {
  const a = 2 / (9 * df);
  return df * (1 - a + 3.719 * Math.sqrt(a)) ** 3;
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, i) => [...p.slice(0, i), n - 1, ...p.slice(i)]));
}

/**
 * Exact output distribution of permute-and-flip, by enumerating every order: in order pi, candidate
 * pi_k wins with probability prod_{j<k} (1 - a_{pi_j}) * a_{pi_k}, a_r = exp(eps (u_r - u*) / (2 delta)).
 */
function exactPermuteAndFlip(utilities: number[], epsilon: number, sensitivity: number): number[] {
  const best = Math.max(...utilities);
  const accept = utilities.map((u) => Math.exp((epsilon * (u - best)) / (2 * sensitivity)));
  const probs = new Array<number>(utilities.length).fill(0);
  const perms = permutations(utilities.length);
  for (const order of perms) {
    let reach = 1 / perms.length;
    for (const r of order) {
      probs[r]! += reach * accept[r]!;
      reach *= 1 - accept[r]!;
    }
  }
  return probs;
}

function assertDistribution(counts: number[], probs: number[], label: string): void {
  const n = counts.reduce((a, b) => a + b, 0);
  let stat = 0;
  probs.forEach((p, i) => (stat += (counts[i]! - n * p) ** 2 / (n * p)));
  const critical = chiSquareCritical(probs.length - 1);
  assert.ok(stat < critical, `${label}: chi-square ${stat.toFixed(1)} >= ${critical.toFixed(1)}; counts ${counts}`);
}

test('permute-and-flip draws from its exact output distribution (100k draws)', () => {
  const rng = seededRandom('pf');
  const cases: { u: number[]; eps: number; sens: number }[] = [
    { u: [0, 3, 5, 5, 1], eps: 1, sens: 1 },
    { u: [10, 12, 7, 11], eps: 0.5, sens: 2 },
    { u: [-4, 0, 2], eps: 1.5, sens: 1 }, // 1.5/2 = 3/4 exactly
  ];
  for (const { u, eps, sens } of cases) {
    const n = 100_000 / cases.length;
    const counts = new Array<number>(u.length).fill(0);
    const utilities = u.map(BigInt);
    for (let i = 0; i < n; i++) counts[permuteAndFlip(utilities, eps, sens, rng)]!++;
    assertDistribution(counts, exactPermuteAndFlip(u, eps, sens), `u=${u} eps=${eps}`);
  }
});

test('permute-and-flip: equal utilities are uniform; a single candidate is returned', () => {
  const rng = seededRandom('pf-uniform');
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 20_000; i++) counts[permuteAndFlip([7n, 7n, 7n, 7n], 0.1, 1, rng)]!++;
  assertDistribution(counts, [0.25, 0.25, 0.25, 0.25], 'uniform');
  assert.equal(permuteAndFlip([42n], 1, 1, rng), 0);
  // A very large gap with a large epsilon: the best is (almost surely) chosen.
  assert.equal(permuteAndFlip([0n, 10n ** 12n, 5n], 10, 1, rng), 1);
});

test('permute-and-flip refuses bad input', () => {
  assert.throws(() => permuteAndFlip([], 1, 1), RangeError);
  assert.throws(() => permuteAndFlip([1n], 0, 1), RangeError);
  assert.throws(() => permuteAndFlip([1n], Infinity, 1), RangeError);
  assert.throws(() => permuteAndFlip([1n], 1, 0), RangeError);
  assert.throws(() => permuteAndFlip([1 as unknown as bigint], 1, 1), TypeError);
});

/** delta(tau) computed the plain way, as an independent check of selectionDelta. */
function plainDelta(scale: number, tau: number, l0: number): number {
  const q = Math.exp(-1 / scale);
  const p = q ** (tau - 1) / (1 + q);
  return 1 - (1 - p) ** l0;
}

test('keySelection: the threshold is the smallest integer with delta(tau) <= delta', () => {
  for (const epsilon of [0.1, 0.5, 1, 3]) {
    for (const delta of [1e-3, 1e-6, 1e-9]) {
      for (const l0 of [1, 2, 5, 20]) {
        const { scale, threshold, cost, mechanism } = keySelection({ epsilon, delta, maxGroupsPerUnit: l0 });
        assert.deepEqual(cost, { kind: 'approx', epsilon, delta });
        // Same noise as the Laplace mechanism with l1 sensitivity l0 at this epsilon.
        assert.equal(scale, discreteLaplaceMechanism({ sensitivity: l0, epsilon }).scale);
        assert.equal(mechanism.scale, scale);
        assert.ok(scale >= l0 / epsilon);
        assert.ok(Number.isInteger(threshold) && threshold >= 2);
        assert.ok(selectionDelta(scale, threshold, l0) <= delta, `tau ${threshold} gives ${selectionDelta(scale, threshold, l0)}`);
        // (the plain formula loses digits to cancellation: ~1e-16 absolute)
        assert.ok(Math.abs(selectionDelta(scale, threshold, l0) - plainDelta(scale, threshold, l0)) < 1e-14 + 1e-9 * delta);
        if (threshold > 2) assert.ok(selectionDelta(scale, threshold - 1, l0) > delta * (1 - 1e-8), `tau ${threshold} is not minimal`);
        // Close to Wilson et al.'s continuous-Laplace threshold 1 - t ln(2 - 2 (1-delta)^(1/l0)).
        const wilson = 1 - scale * Math.log(2 - 2 * (1 - delta) ** (1 / l0));
        assert.ok(Math.abs(threshold - wilson) <= 2 + scale * 0.05, `tau ${threshold} vs Wilson ${wilson}`);
      }
    }
  }
  assert.throws(() => keySelection({ epsilon: 1, delta: 0, maxGroupsPerUnit: 1 }), RangeError);
  assert.throws(() => keySelection({ epsilon: 1, delta: 1e-6, maxGroupsPerUnit: 0 }), RangeError);
  assert.throws(() => keySelection({ epsilon: 0, delta: 1e-6, maxGroupsPerUnit: 1 }), RangeError);
});

test('keySelection: a key with a single contributor is released with probability p = P(Z >= tau - 1)', () => {
  // delta large enough to observe: one unit, one key of count 1.
  const { scale, threshold, mechanism } = keySelection({ epsilon: 1, delta: 0.05, maxGroupsPerUnit: 1 });
  const rng = seededRandom('key-selection');
  const n = 50_000;
  let released = 0;
  for (let i = 0; i < n; i++) if (mechanism.addNoise(1n, rng) >= BigInt(threshold)) released++;
  const p = selectionDelta(scale, threshold, 1);
  assert.ok(p <= 0.05);
  assert.ok(Math.abs(released / n - p) < 4.5 * Math.sqrt((p * (1 - p)) / n), `${released / n} vs ${p}`);
  // And the released fraction matches the raw sampler at that scale.
  let raw = 0;
  for (let i = 0; i < n; i++) if (1n + sampleDiscreteLaplace(rational(scale), rng) >= BigInt(threshold)) raw++;
  assert.ok(Math.abs(raw / n - p) < 4.5 * Math.sqrt((p * (1 - p)) / n));
});
