import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  analyticGaussianEpsilon,
  askedAt,
  budgetEffect,
  compose,
  composeAll,
  composeRepeated,
  DELTA_SPLIT,
  emptyState,
  epsilonSpent,
  howManyMore,
  parseState,
  requestEpsilon,
  routeEpsilons,
  withinCap,
  zcdpEpsilon,
  type AccountantState,
} from '../../src/dp/accountant.js';
import { zcdpGdpMu2 } from '../../src/dp/accountant-gdp.js';
import { rhoForEpsilonDelta } from '../../src/dp/conversions.js';
import type { PrivacyCost } from '../../src/dp/cost.js';
import { discreteGaussianMechanism, discreteLaplaceMechanism } from '../../src/dp/mechanisms.js';
import { seededRandom } from '../../src/dp/random.js';
import { fastRandom } from '../../src/synth/rng.js';
import { planFit } from '../../src/synth/plan.js';

const CENSUS = { columns: 14, method: 'aim' as const, contributionBound: 1, rounds: 20 };
const laplace = (eps: number) => askedAt([discreteLaplaceMechanism({ sensitivity: 1, epsilon: eps }).cost], { epsilon: eps, delta: 0 });
const gaussCount = (eps: number, delta: number) =>
  askedAt([discreteGaussianMechanism({ sensitivity: 1, rho: rhoForEpsilonDelta(eps, delta) }).cost], { epsilon: eps, delta });
/** A Gaussian mean: count and sum share the request's rho, as src/query/plan.ts builds it. */
const gaussMean = (eps: number, delta: number, sumSensitivity: number) => {
  const rho = rhoForEpsilonDelta(eps, delta) / 2;
  return askedAt(
    [discreteGaussianMechanism({ sensitivity: 1, rho }).cost, discreteGaussianMechanism({ sensitivity: sumSensitivity, rho }).cost],
    { epsilon: eps, delta },
  );
};
const TOL = 1 + 1e-9;

test('issue 18 ledger: counts 1.059, a fit at (1, 1e-7), a count at 0.5 never report more than 2.559 against (5, 1e-6)', () => {
  const cap = { epsilon: 5, delta: 1e-6 };
  const requests = [laplace(0.353), laplace(0.353), laplace(0.353), planFit(1, 1e-7, CENSUS).costs, laplace(0.5)];
  const asked = [0.353, 0.353, 0.353, 1, 0.5];
  let s = emptyState();
  let plain = 0;
  requests.forEach((costs, i) => {
    s = composeAll(s, costs);
    plain += asked[i]!;
    assert.ok(epsilonSpent(s, cap.delta) <= plain * TOL, `after request ${i}: ${epsilonSpent(s, cap.delta)} > ${plain}`);
  });
  assert.ok(epsilonSpent(s, cap.delta) <= 2.559 * TOL);
  assert.ok(epsilonSpent(s, cap.delta) >= 2.5, 'the fit is really charged');
  // Before this route the fit alone was charged 2.95 on top of 1.059 (issue 18).
  assert.ok(routeEpsilons(s, cap.delta).basic <= 2.559 * TOL);
});

test('a fit asked at (1, 1e-9) against (10, 1e-6) spends at most 1.0', () => {
  const fit = planFit(1, 1e-9, CENSUS);
  assert.ok(fit.epsilon <= 1 && fit.epsilon > 0.99, `${fit.epsilon}`);
  assert.ok(epsilonSpent(composeAll(emptyState(), fit.costs), 1e-6) <= 1);
  assert.ok(requestEpsilon(fit.costs, 1e-9) <= 1);
});

test('1,000 Gaussian releases at sigma 10 stay within 2% of exact composition, never below it', () => {
  const s = composeRepeated(emptyState(), [{ kind: 'discreteGaussian', sigma: 10, sensitivity: 1 }], 1000);
  const exact = analyticGaussianEpsilon(10 / Math.sqrt(1000), 1, 1e-6);
  const ours = epsilonSpent(s, 1e-6);
  assert.ok(ours >= exact && ours <= exact * 1.02, `${ours} vs ${exact}`);
});

test('basic route: a request is charged what is PROVED at its asked delta, never the asked epsilon it claims', () => {
  const cost: PrivacyCost = { kind: 'discreteGaussian', sigma: 10, sensitivity: 1 };
  const proved = requestEpsilon([cost], 1e-9);
  assert.ok(proved > 0.5 && proved < 0.6, `${proved}`);
  // Claiming 0.001 buys nothing: the route charges the proof.
  const s = composeAll(emptyState(), askedAt([cost], { epsilon: 0.001, delta: 1e-9 }));
  assert.ok(Math.abs(routeEpsilons(s, 1e-6).basic - proved) < 1e-12);
  // A Gaussian count planned at (0.5, 1e-9) is proved below 0.5 (the planner's conversion is looser).
  assert.ok(requestEpsilon(gaussCount(0.5, 1e-9), 1e-9) <= 0.5);
  // A request asked at delta 0 with Gaussian noise cannot be proved: the route becomes unusable.
  const zero = composeAll(emptyState(), askedAt([cost], { epsilon: 1, delta: 0 }));
  assert.equal(routeEpsilons(zero, 1e-6).basic, Infinity);
  assert.ok(Number.isFinite(epsilonSpent(zero, 1e-6)));
  assert.deepEqual(parseState(JSON.parse(JSON.stringify(zero))), zero);
});

test('basic route: usable only while the asked deltas fit its share, and lost to un-annotated Gaussians', () => {
  const cap = { epsilon: 100, delta: 1e-6 };
  const perFit = 0.07 * cap.delta;
  const fit = planFit(1, perFit, CENSUS).costs;
  let s = emptyState();
  for (let i = 1; i <= 3; i++) {
    s = composeAll(s, fit);
    const r = routeEpsilons(s, cap.delta);
    if (i * perFit <= DELTA_SPLIT.basic * cap.delta) assert.ok(r.basic <= i * TOL, `${i} fits: ${r.basic}`);
    else assert.equal(r.basic, Infinity, `${i} fits exceed the share`);
  }
  assert.ok(Number.isFinite(epsilonSpent(s, cap.delta)), 'the other routes still price it');
  const counted = composeAll(emptyState(), laplace(0.3));
  const plain = composeAll(counted, [{ kind: 'discreteGaussian', sigma: 20, sensitivity: 1 }]);
  assert.equal(routeEpsilons(plain, cap.delta).basic, Infinity);
  assert.ok(routeEpsilons(composeAll(counted, gaussCount(0.2, 1e-9)), cap.delta).basic <= 0.5 * TOL);
});

test('a multi-part Gaussian request (mean) is proved as a whole: at most its asked epsilon', () => {
  for (const eps of [0.1, 1, 3]) {
    const costs = gaussMean(eps, 1e-9, 50);
    assert.ok(requestEpsilon(costs, 1e-9) <= eps, `${eps}: ${requestEpsilon(costs, 1e-9)}`);
    assert.ok(routeEpsilons(composeAll(emptyState(), costs), 1e-6).basic <= eps);
    // Its parts composed one by one at half the delta each would cost more than asked.
    const each = costs.map((c) => requestEpsilon([{ ...c, asked: undefined }], 0.5e-9)).reduce((a, b) => a + b, 0);
    assert.ok(each > eps, `${each}`);
  }
});

test('random mixed ledgers never report more than the plain sum asked, and never less than any single request proves', () => {
  const rnd = fastRandom(seededRandom('mixed-ledgers'));
  for (let ledger = 0; ledger < 40; ledger++) {
    let s: AccountantState = emptyState();
    let plain = 0;
    let largest = 0;
    const n = 1 + rnd.below(30);
    for (let i = 0; i < n; i++) {
      const eps = 0.02 + rnd.next();
      const kind = rnd.below(4);
      const costs = kind === 0 ? laplace(eps) : kind === 1 ? gaussCount(eps, 1e-9) : kind === 2 ? gaussMean(eps, 1e-9, 1 + rnd.below(100)) : planFit(eps, 1e-9, CENSUS).costs;
      s = composeAll(s, costs);
      plain += eps;
      largest = Math.max(largest, requestEpsilon(costs, 1e-6));
      const spent = epsilonSpent(s, 1e-6);
      assert.ok(spent <= plain * TOL, `ledger ${ledger} step ${i}: ${spent} > ${plain}`);
      assert.ok(spent >= largest * (1 - 1e-9), `ledger ${ledger} step ${i}: ${spent} < ${largest}`);
    }
  }
});

test('budgetEffect and howManyMore agree with composing request by request', () => {
  const cap = { epsilon: 3, delta: 1e-6 };
  const start = composeAll(emptyState(), laplace(0.4));
  for (const costs of [laplace(0.25), gaussCount(0.3, 1e-9), gaussMean(0.2, 1e-9, 30), [{ kind: 'discreteGaussian', sigma: 30, sensitivity: 1 } as PrivacyCost]]) {
    const k = howManyMore(start, costs, cap);
    let s = start;
    for (let i = 0; i < k; i++) s = composeAll(s, costs);
    assert.ok(withinCap(epsilonSpent(s, cap.delta), cap.epsilon), `${k} fit`);
    assert.ok(Math.abs(epsilonSpent(s, cap.delta) - epsilonSpent(composeRepeated(start, costs, k), cap.delta)) < 1e-9 * cap.epsilon);
    const effect = budgetEffect(s, costs, cap);
    assert.equal(effect.before, epsilonSpent(s, cap.delta));
    assert.equal(effect.after, epsilonSpent(composeAll(s, costs), cap.delta));
    assert.equal(effect.fits, false, `the ${k + 1}th does not fit`);
    assert.ok(effect.after > effect.before);
  }
  assert.equal(howManyMore(start, laplace(5), cap), 0);
  assert.equal(howManyMore(start, [{ kind: 'discreteGaussian', sigma: Infinity, sensitivity: 1 }], cap), Infinity);
});

test('zCDP -> GDP above rho 26.9 returns +Infinity (route unusable) instead of throwing; the state stays valid', () => {
  assert.equal(zcdpGdpMu2(30), Infinity);
  assert.ok(Number.isFinite(zcdpGdpMu2(26)));
  const s = compose(emptyState(), { kind: 'zcdp', rho: 30 });
  assert.equal(routeEpsilons(s, 1e-6).gdp, Infinity);
  assert.equal(epsilonSpent(s, 1e-6), zcdpEpsilon(30, DELTA_SPLIT.zcdp * 1e-6));
  const back = parseState(JSON.parse(JSON.stringify(s)));
  assert.equal(back.gdp, Infinity);
  assert.equal(epsilonSpent(back, 1e-6), epsilonSpent(s, 1e-6));
});

test('states: an open request survives a JSON round trip; states written before this change still parse', () => {
  const mean = gaussMean(1, 1e-9, 10);
  const half = compose(emptyState(), mean[0]!);
  assert.ok(half.open, 'the request is still open after its first part');
  const back = parseState(JSON.stringify(half));
  assert.deepEqual(back, half);
  assert.equal(epsilonSpent(compose(back, mean[1]!), 1e-6), epsilonSpent(composeAll(emptyState(), mean), 1e-6));
  const old = { version: 1, releases: 1, gdp: 0.1, zcdp: 0.01, basicEpsilon: 0.2, basicOnly: true, approxDelta: 0, counts: { discreteLaplace: 1, discreteGaussian: 0, pure: 0, zcdp: 0, approx: 0 } };
  assert.equal(parseState(old).basicDelta, 0);
  // A new request (part 0) closes a request left incomplete: both are charged.
  const two = compose(half, mean[0]!);
  assert.ok(routeEpsilons(two, 1e-6).basic > routeEpsilons(half, 1e-6).basic);
});
