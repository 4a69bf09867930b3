import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaFromRho, epsilonFromRho, epsilonFromRhoBasic, rhoFromEpsilonDelta, selectionEpsilon, selectionRho } from '../../src/synth/budget.js';

// Reference values from Private-PGM's mechanisms/cdp2adp.py (cdp_rho, cdp_delta), same formula.
const PGM_RHO: [number, number][] = [
  [0.1, 0.00017713844718502086],
  [1, 0.014973057673588523],
  [10, 1.0907857043970155],
];

test('rho from (epsilon, delta) matches Private-PGM cdp_rho', () => {
  for (const [eps, rho] of PGM_RHO) {
    const got = rhoFromEpsilonDelta(eps, 1e-9);
    assert.ok(Math.abs(got - rho) / rho < 1e-9, `eps ${eps}: ${got} vs ${rho}`);
  }
  assert.ok(Math.abs(deltaFromRho(0.5, 3) - 0.005143184063862147) < 1e-15);
});

test('the tight conversion is conservative and beats the basic one', () => {
  for (const eps of [0.05, 0.1, 1, 3, 10]) {
    for (const delta of [1e-5, 1e-9]) {
      const rho = rhoFromEpsilonDelta(eps, delta);
      // Never promises more than asked: the delta at eps is within the target, the epsilon at delta too.
      assert.ok(deltaFromRho(rho, eps) <= delta, `delta at eps ${eps}`);
      assert.ok(epsilonFromRho(rho, delta) <= eps * (1 + 1e-12), `eps at delta ${delta}`);
      // And it is tight: a slightly larger rho breaks the target.
      assert.ok(deltaFromRho(rho * 1.001, eps) > delta);
      // More rho than Bun-Steinke's eps = rho + 2 sqrt(rho ln(1/delta)) allows for the same eps.
      const L = Math.log(1 / delta);
      const basic = (Math.sqrt(L + eps) - Math.sqrt(L)) ** 2;
      assert.ok(rho > basic, `eps ${eps}: ${rho} > ${basic}`);
      assert.ok(epsilonFromRhoBasic(basic, delta) <= eps * (1 + 1e-12));
    }
  }
});

test('selection cost: permute-and-flip at epsilon is epsilon²/2-zCDP', () => {
  assert.ok(Math.abs(selectionRho(0.2) - 0.02) < 1e-15);
  assert.ok(Math.abs(selectionRho(selectionEpsilon(0.01)) - 0.01) < 1e-15);
});

test('invalid budgets are refused', () => {
  assert.throws(() => rhoFromEpsilonDelta(0, 1e-9), RangeError);
  assert.throws(() => rhoFromEpsilonDelta(1, 0), RangeError);
  assert.throws(() => rhoFromEpsilonDelta(1, 1), RangeError);
});
