import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyticGaussianDelta,
  analyticGaussianEpsilon,
  budgetStatus,
  compose,
  emptyState,
  epsilonSpent,
  fits,
  parseState,
  pureRdp,
} from '../../src/dp/accountant.js';
import type { PrivacyCost } from '../../src/dp/cost.js';

const composeK = (cost: PrivacyCost, k: number) => {
  let s = emptyState();
  for (let i = 0; i < k; i++) s = compose(s, cost);
  return s;
};

test('analytic Gaussian reproduces the reference values (Balle & Wang 2018)', () => {
  for (const [sigma, k, exact] of [[10, 1, 0.3969], [10, 10, 1.3676], [10, 100, 4.8866], [10, 1000, 19.424], [50, 1, 0.071], [50, 100, 0.8341], [50, 1000, 2.9216]]) {
    const e = analyticGaussianEpsilon(sigma! / Math.sqrt(k!), 1, 1e-6);
    assert.ok(Math.abs(e - exact!) <= 6e-5 * Math.max(1, exact!), `sigma ${sigma} k ${k}: ${e}`); // references have 4-5 significant digits
    assert.ok(Math.abs(analyticGaussianDelta(sigma! / Math.sqrt(k!), 1, e) - 1e-6) < 1e-9);
  }
});

test('k discrete Gaussians: reported epsilon at delta 1e-6 is never below exact and within 10% of it', () => {
  for (const sigma of [10, 50]) {
    for (const k of [1, 10, 100, 1000]) {
      const exact = analyticGaussianEpsilon(sigma / Math.sqrt(k), 1, 1e-6);
      const ours = epsilonSpent(composeK({ kind: 'discreteGaussian', sigma, sensitivity: 1 }, k), 1e-6);
      assert.ok(ours >= exact, `optimistic: sigma ${sigma} k ${k}: ${ours} < ${exact}`);
      assert.ok(ours <= exact * 1.1, `loose: sigma ${sigma} k ${k}: ${ours} vs ${exact}`);
      const basic = k * analyticGaussianEpsilon(sigma, 1, 1e-6 / k);
      if (k > 1) assert.ok(ours < basic, 'tighter than basic composition');
    }
  }
});

test('pure epsilon (discrete Laplace): never above basic composition, well below it for large k', () => {
  for (const eps of [0.01, 0.1, 1]) {
    for (const k of [1, 10, 100, 1000]) {
      const ours = epsilonSpent(composeK({ kind: 'discreteLaplace', scale: 1 / eps, sensitivity: 1 }, k), 1e-6);
      assert.ok(ours <= k * eps * (1 + 1e-6), `eps ${eps} k ${k}: ${ours} > ${k * eps}`);
      if (k === 1) assert.ok(Math.abs(ours - eps) < 1e-6);
    }
  }
  assert.ok(epsilonSpent(composeK({ kind: 'pure', epsilon: 0.1 }, 1000), 1e-6) < 0.3 * 100);
});

test('pure-DP RDP bound is at most eps and at most alpha eps^2 / 2', () => {
  for (const eps of [0.01, 0.5, 3]) for (const a of [1.5, 2, 10, 100]) {
    const r = pureRdp(eps, a);
    assert.ok(r <= eps + 1e-15 && r <= (a * eps * eps) / 2 + 1e-15 && r >= 0);
  }
});

test('approximate-DP steps add by basic composition; delta beyond the cap makes epsilon infinite', () => {
  const s = compose(compose(emptyState(), { kind: 'approx', epsilon: 0.5, delta: 1e-7 }), { kind: 'discreteLaplace', scale: 2, sensitivity: 1 });
  assert.ok(Math.abs(epsilonSpent(s, 1e-6) - 1) < 1e-6);
  const g = compose(compose(emptyState(), { kind: 'approx', epsilon: 0.5, delta: 2e-6 }), { kind: 'discreteGaussian', sigma: 10, sensitivity: 1 });
  assert.equal(epsilonSpent(g, 1e-6), Infinity);
  assert.equal(fits(emptyState(), { kind: 'approx', epsilon: 0.1, delta: 2e-6 }, { epsilon: 10, delta: 1e-6 }), false);
});

test('fits and budgetStatus agree, and the state survives a JSON round trip', () => {
  const cap = { epsilon: 1, delta: 1e-6 };
  let s = emptyState();
  let n = 0;
  while (fits(s, { kind: 'discreteLaplace', scale: 10, sensitivity: 1 }, cap)) {
    s = compose(s, { kind: 'discreteLaplace', scale: 10, sensitivity: 1 });
    n++;
  }
  assert.equal(n, 10, `${n} releases of eps 0.1 fit in eps 1`);
  const status = budgetStatus(s, cap);
  assert.ok(status.epsilonSpent <= 1 + 1e-9 && status.epsilonRemaining >= 0 && status.releases === n);
  const back = parseState(JSON.parse(JSON.stringify(s)));
  assert.equal(epsilonSpent(back, 1e-6), epsilonSpent(s, 1e-6));
  const mixed = compose(s, { kind: 'discreteGaussian', sigma: 20, sensitivity: 1 });
  assert.equal(epsilonSpent(parseState(JSON.parse(JSON.stringify(mixed))), 1e-6), epsilonSpent(mixed, 1e-6));
  assert.throws(() => parseState({ v: 1, rdp: [1, 2] }));
});
