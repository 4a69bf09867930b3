import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  erf,
  erfc,
  erfcInvUpper,
  erfcx,
  erfInvUpper,
  gaussianEpsilonForDelta,
  logGaussianDeltaLower,
  logGaussianDeltaUpper,
  logNormalCdf,
} from '../../src/dp/accountant-math.js';

// References computed with mpmath at 40 digits.
const ERFC: [number, number][] = [
  [-5, 1.9999999999984625402],
  [-1.5, 1.9661051464753107271],
  [-0.3, 1.3286267594591274162],
  [0, 1.0],
  [1e-8, 0.99999998871620832904],
  [0.1, 0.8875370839817151016],
  [0.49, 0.48833173881147690867],
  [0.5, 0.47950012218695346232],
  [1, 0.15729920705028513066],
  [1.5, 0.033894853524689272933],
  [1.99, 0.0048885868003830029527],
  [2, 0.0046777349810472658379],
  [2.01, 0.0044751506447517629202],
  [3, 0.000022090496998585441373],
  [4.5, 1.9661604415428874763e-10],
  [6, 2.1519736712498913117e-17],
  [10, 2.088487583762544757e-45],
  [15, 7.2129941724512066666e-100],
  [26, 5.6631924088561428465e-296],
];

const LOG_PHI: [number, number][] = [
  [-40, -804.60844201375378817],
  [-10, -53.231285150512470578],
  [-3, -6.6077262215103495433],
  [0, -0.69314718055994530942],
  [3, -0.0013508099647481937988],
  [5, -2.8665161296376359338e-7],
  [9, -1.1285884059538406478e-19],
];

// [mu, eps, log delta] of the Gaussian pair N(0,1) vs N(mu,1).
const LOG_DELTA: [number, number, number][] = [
  [0.1, 0.3969, -13.817366300618109044],
  [0.02, 0.07, -13.623877585188877416],
  [1.0, 3.0, -6.4778022170127671064],
  [3.1623, 19.4, -13.778751429038915555],
  [0.0001, 0.0005, -25.954391535807622607],
  [0.001, 0.004, -18.754816970280090408],
  [10.0, 60.0, -1.9889766786032027131],
  [30.0, 500.0, -3.1088541127720638629],
  [0.5, 0.0, -1.6224590640372049016],
  [2.0, -1.0, -0.1988312776237359705],
  [1.0, 30.0, -442.84937808230363541],
  [0.05, 0.9, -171.2548861436459336],
  [3.0, 4.5, -0.97157605844962315277],
];

test('erfc has relative error below 1e-13 over the whole line', () => {
  for (const [x, ref] of ERFC) {
    const rel = Math.abs(erfc(x) - ref) / ref;
    assert.ok(rel < 1e-13, `erfc(${x}) = ${erfc(x)} vs ${ref} (rel ${rel})`);
  }
  for (const x of [0.3, 1.7, 2.5, 8]) {
    assert.ok(Math.abs(erf(x) + erfc(x) - 1) < 2e-16);
    assert.ok(Math.abs(erfcx(x) / (Math.exp(x * x) * erfc(x)) - 1) < 1e-13);
  }
});

test('log normal CDF is accurate far into both tails', () => {
  for (const [x, ref] of LOG_PHI) {
    const got = logNormalCdf(x);
    assert.ok(Math.abs(got - ref) <= 1e-13 * Math.abs(ref), `logPhi(${x}) = ${got} vs ${ref}`);
  }
});

test('the Gaussian privacy curve brackets 40-digit references within 1e-9 relative', () => {
  for (const [mu, eps, ref] of LOG_DELTA) {
    const up = logGaussianDeltaUpper(mu, eps);
    const lo = logGaussianDeltaLower(mu, eps);
    assert.ok(Math.abs(up - ref) < 1e-9 * Math.max(1, Math.abs(ref)), `upper mu=${mu} eps=${eps}: ${up} vs ${ref}`);
    assert.ok(up >= ref, `upper bound below the truth at mu=${mu} eps=${eps}: ${up} < ${ref}`);
    assert.ok(lo <= ref, `lower bound above the truth at mu=${mu} eps=${eps}: ${lo} > ${ref}`);
    assert.ok(lo > ref - 1e-6 * Math.max(1, Math.abs(ref)), `lower bound useless at mu=${mu} eps=${eps}`);
  }
});

test('gaussianEpsilonForDelta returns the smallest epsilon whose delta fits, to 1e-12', () => {
  for (const mu of [1e-5, 0.02, 0.1, 1, 3.1623, 20]) {
    for (const delta of [1e-12, 1e-6, 1e-3, 0.3]) {
      const eps = gaussianEpsilonForDelta(mu, delta);
      assert.ok(logGaussianDeltaUpper(mu, eps) <= Math.log(delta), `mu ${mu} delta ${delta}`);
      if (eps > 0) assert.ok(logGaussianDeltaUpper(mu, eps * (1 - 1e-9)) > Math.log(delta), `not tight: mu ${mu} delta ${delta}`);
    }
  }
  assert.equal(gaussianEpsilonForDelta(0, 1e-6), 0);
  assert.equal(gaussianEpsilonForDelta(1, 0), Infinity);
});

test('inverse erf and erfc are rounded up and tight', () => {
  for (const t of [1e-12, 1e-6, 0.01, 0.3, 0.49999, 0.5, 0.9, 0.999999, 1 - 1e-12]) {
    const y = erfInvUpper(t);
    assert.ok(erf(y) >= t, `erf(erfInv(${t})) < ${t}`);
    assert.ok(erf(y * (1 - 1e-11)) < t || t > 0.999, `erfInv(${t}) not tight`);
  }
  for (const q of [1e-300, 1e-50, 1e-6, 0.2, 0.5, 0.7, 1]) {
    const y = erfcInvUpper(q);
    assert.ok(erfc(y) <= q, `erfc(erfcInv(${q})) > ${q}`);
    if (q < 1) assert.ok(erfc(y * (1 - 1e-11)) > q, `erfcInv(${q}) not tight`);
  }
});
