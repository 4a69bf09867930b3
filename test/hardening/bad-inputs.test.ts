import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { zcdpGdpMu2 } from '../../src/dp/accountant-gdp.js';
import { rhoForEpsilonDelta } from '../../src/dp/conversions.js';
import { PRIVACY_INPUT_LIMITS, validatePrivacyInput } from '../../src/core/privacy-input.js';
import { startTestMesh, type TestMesh } from '../helpers/mesh.js';
import { spendState } from './state.js';

/** Attack class: bad inputs. Each is BAD_USER_INPUT before any charge, never an internal error. */
const codeOf = (f: () => void) => {
  try {
    f();
    return 'OK';
  } catch (e: any) {
    return e.extensions?.code ?? `THREW ${e}`;
  }
};

describe('privacy input validation (pure)', () => {
  const count = { aggregate: 'count' as const, defaultDelta: 1e-6, defaultEpsilon: 0.5 };
  test('epsilon: finite, at least the minimum, at most 100', () => {
    for (const epsilon of [1e-20, 1e-300, 5e-324, 0, -1, 101, Infinity, NaN, 1e-7]) assert.equal(codeOf(() => validatePrivacyInput({ epsilon }, count)), 'BAD_USER_INPUT', String(epsilon));
    for (const epsilon of [1e-6, 0.1, 1, 100]) assert.equal(codeOf(() => validatePrivacyInput({ epsilon }, count)), 'OK', String(epsilon));
  });

  test('delta: 0 or in [1e-30, 1e-3)', () => {
    for (const delta of [5e-324, 1e-300, 1e-3, 0.5, -1e-9, NaN, Infinity]) assert.equal(codeOf(() => validatePrivacyInput({ epsilon: 1, delta }, count)), 'BAD_USER_INPUT', String(delta));
    for (const delta of [0, 1e-30, 1e-6, 9.99e-4]) assert.equal(codeOf(() => validatePrivacyInput({ epsilon: 1, delta, mechanism: 'LAPLACE' }, count)), 'OK', String(delta));
  });

  test('accuracy: within finite and bounded, confidence in [0.5, 1), not with DP key selection', () => {
    for (const within of [1e308, Infinity, 0, -5, NaN, 1e10]) assert.equal(codeOf(() => validatePrivacyInput({ accuracy: { within } }, count)), 'BAD_USER_INPUT', String(within));
    for (const confidence of [1, 0.4, NaN, 1 - 1e-12]) assert.equal(codeOf(() => validatePrivacyInput({ accuracy: { within: 10, confidence } }, count)), 'BAD_USER_INPUT', String(confidence));
    assert.equal(codeOf(() => validatePrivacyInput({ accuracy: { within: 10, confidence: 0.99 } }, count)), 'OK');
    assert.equal(codeOf(() => validatePrivacyInput({ accuracy: { within: 10 } }, { ...count, aggregate: 'histogram', keySelection: true })), 'BAD_USER_INPUT');
  });

  test('rho: Gaussian and synthetic requests beyond what the zCDP -> GDP conversion supports are refused', () => {
    assert.equal(codeOf(() => validatePrivacyInput({ epsilon: 100, delta: 1e-4 }, { aggregate: 'synthetic' })), 'BAD_USER_INPUT');
    assert.equal(codeOf(() => validatePrivacyInput({ epsilon: 100, delta: 1e-4, mechanism: 'GAUSSIAN' }, count)), 'BAD_USER_INPUT');
    assert.equal(codeOf(() => validatePrivacyInput({ epsilon: 100 }, { aggregate: 'synthetic', defaultDelta: 1e-6 })), 'BAD_USER_INPUT');
    // Pure epsilon has no rho bound; a moderate Gaussian request passes.
    assert.equal(codeOf(() => validatePrivacyInput({ epsilon: 100, mechanism: 'LAPLACE' }, count)), 'OK');
    assert.equal(codeOf(() => validatePrivacyInput({ epsilon: 5, delta: 1e-6 }, { aggregate: 'synthetic' })), 'OK');
  });

  test('every rho the bound admits converts (the bound sits below the conversion limit)', () => {
    for (let rho = 0.5; rho <= PRIVACY_INPUT_LIMITS.maxRho; rho += 0.5) assert.ok(Number.isFinite(zcdpGdpMu2(rho)), String(rho));
    assert.ok(rhoForEpsilonDelta(PRIVACY_INPUT_LIMITS.maxEpsilon, 1e-30) <= PRIVACY_INPUT_LIMITS.maxRho);
  });
});

describe('bad inputs through the gateway', { timeout: 300_000 }, () => {
  let m: TestMesh;
  let analyst: string;
  before(async () => {
    m = await startTestMesh('pglite');
    analyst = await m.token('bad-inputs', ['analyst']);
  });
  after(async () => m?.close());

  const cases: [string, string, Record<string, unknown>?][] = [
    ['epsilon 1e-20', '{ census { adults { count(privacy: { epsilon: 1e-20 }) { value } } } }'],
    ['epsilon 1e-300', '{ census { adults { sum(column: AGE, privacy: { epsilon: 1e-300 }) { value } } } }'],
    ['epsilon 5e-324', '{ census { adults { mean(column: AGE, privacy: { epsilon: 5e-324 }) { value } } } }'],
    ['epsilon 5e-324 on a quantile', '{ census { adults { quantile(column: AGE, q: 0.5, privacy: { epsilon: 5e-324 }) { value } } } }'],
    ['literal 1e400', '{ census { adults { count(privacy: { epsilon: 1e400 }) { value } } } }'],
    ['literal 1e400 as a quantile', '{ census { adults { quantile(column: AGE, q: 1e400, privacy: { epsilon: 0.1 }) { value } } } }'],
    ['variable 1e400', 'query($e: Float) { census { adults { count(privacy: { epsilon: $e }) { value } } } }', { e: 'INF' }],
    ['accuracy within 1e308', '{ census { adults { count(privacy: { accuracy: { within: 1e308 } }) { value } } } }'],
    ['accuracy on a key-selection histogram', '{ census { adults { histogram(by: [NATIVE_COUNTRY], privacy: { delta: 1e-8, accuracy: { within: 50 } }) { key } } } }'],
    ['NUL in a where value', '{ census { adults { count(where: { sex: { eq: "Fe\\u0000male" } }, privacy: { epsilon: 0.1 }) { value } } } }'],
    ['rho beyond the accountant (synthetic)', '{ census { adults { synthetic(rows: 5, first: 5, privacy: { epsilon: 100, delta: 1e-4 }) { totalCount } } } }'],
    ['rho beyond the accountant (Gaussian count)', '{ census { adults { count(privacy: { epsilon: 99, delta: 1e-4, mechanism: GAUSSIAN }) { value } } } }'],
    ['DP SQL epsilon 5e-324', '{ census { sql(query: "SELECT COUNT(*) FROM adults", privacy: { epsilon: 5e-324 }) { rows { values { value } } } } }'],
  ];
  for (const [what, query, variables] of cases) {
    test(`${what}: BAD_USER_INPUT, nothing charged`, async () => {
      const before = await spendState(m);
      // JSON cannot carry 1e400 as a number literal through fetch's JSON.stringify: send raw text.
      const body = variables?.e === 'INF' ? `{"query":${JSON.stringify(query)},"variables":{"e":1e400}}` : JSON.stringify({ query, variables });
      const res = await fetch(m.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${analyst}` }, body });
      const r = (await res.json()) as any;
      assert.equal(r.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(r).slice(0, 400));
      assert.equal(await spendState(m), before);
    });
  }
});
