import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { rhoForEpsilonDelta } from '../../src/dp/conversions.js';
import { epsilonSpent, emptyState } from '../../src/dp/accountant.js';
import { addCosts } from '../../src/governance/ledger.js';
import { MlService } from '../../src/ml/service.js';
import { GRAM_SHARE, NEWTON_SSP_SHARE, NEWTON_STEPS } from '../../src/core/regression.js';
import { runTraining } from '../../src/ml/cli.js';
import { QueryEngine } from '../../src/query/engine.js';
import { startTestMesh, requirePostgres, type Backend, type TestMesh } from '../helpers/mesh.js';

/** DP training through the gateway with real tokens: train, charge once, memoise, list, predict, restart. */
const TRAIN = `mutation T($kind: ModelKind!, $target: String!, $positiveClass: String, $features: [String!]!, $privacy: PrivacyInput, $method: TrainingMethod, $source: TrainingSource, $syntheticModel: ID) {
  censusTrainModel(dataset: ADULTS, kind: $kind, target: $target, positiveClass: $positiveClass, features: $features, privacy: $privacy, method: $method, source: $source, syntheticModel: $syntheticModel) {
    id kind source method target positiveClass features intercept coefficients { name value } epsilon delta epsilonCharged cached releaseId estimatedRows estimatedR2
  }
}`;
const FEATURES = ['age', 'educationNum', 'hoursPerWeek', 'maritalStatus', 'sex'];
const LOGISTIC = { kind: 'LOGISTIC', target: 'income', positiveClass: '>50K', features: FEATURES, privacy: { epsilon: 2, delta: 1e-6 }, method: 'SSP_NEWTON' };
const RICH = { age: 45, educationNum: 15, hoursPerWeek: 55, maritalStatus: 'Married-civ-spouse', sex: 'Male' };
const POOR = { age: 19, educationNum: 8, hoursPerWeek: 15, maritalStatus: 'Never-married', sex: 'Female' };

export function mlSuite(backend: Backend) {
  describe(`DP model training end to end (${backend})`, { timeout: 300_000 }, () => {
    let m: TestMesh;
    before(async () => {
      if (backend === 'postgres') await requirePostgres();
      m = await startTestMesh(backend, [demoDomain('census')]);
    });
    after(async () => m?.close());
    const budget = async (token: string) => (await m.gql(`{ census { budget { epsilonSpent releases } } }`, {}, token)).body.data.census.budget;

    test('bad input is BAD_USER_INPUT before any charge', async () => {
      const t = await m.token('bea');
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ ...LOGISTIC, features: ['age', 'shoeSize'] }, /Unknown feature column "shoeSize"/],
        [{ ...LOGISTIC, target: 'nope' }, /Unknown target column/],
        [{ ...LOGISTIC, kind: 'LINEAR', target: 'sex', positiveClass: null }, /numeric target/],
        [{ ...LOGISTIC, features: ['age', 'income'] }, /target "income" cannot also be a feature/],
        [{ ...LOGISTIC, positiveClass: '>100K' }, /positiveClass must be one of/],
        [{ ...LOGISTIC, features: ['age', 'nativeCountry'] }, /public category list/],
        [{ ...LOGISTIC, privacy: { epsilon: 50, delta: 1e-6 } }, /per-query maximum/],
      ];
      for (const [vars, message] of bad) {
        const r = await m.gql(TRAIN, vars, t);
        const e = r.body.errors?.[0];
        assert.match(e?.message ?? '', message);
        assert.ok(['BAD_USER_INPUT', 'POLICY_VIOLATION'].includes(e?.extensions?.code), e?.extensions?.code);
      }
      assert.deepEqual(await budget(t), { epsilonSpent: 0, releases: 0 });
    });

    test('a logistic model is trained once, charged its proven cost, memoised, listed and predicts', async () => {
      const ann = await m.token('ann');
      const est = (await m.gql(`query E($f: [String!]!) { census { estimateTraining(dataset: ADULTS, kind: LOGISTIC, target: "income", positiveClass: ">50K", features: $f, privacy: { epsilon: 2, delta: 1e-6 }, method: SSP_NEWTON) { epsilonCharged fitsBudget cached measurements { name l2Sensitivity } } } }`, { f: FEATURES }, ann)).body.data.census.estimateTraining;
      assert.equal(est.cached, false);
      assert.equal(est.measurements.length, 2 + NEWTON_STEPS);
      const first = await m.gql(TRAIN, LOGISTIC, ann);
      assert.equal(first.body.errors, undefined, JSON.stringify(first.body.errors));
      const model = first.body.data.censusTrainModel;
      assert.equal(model.cached, false);
      assert.equal(model.coefficients.length, 1 + 3 + 6 + 1);
      assert.ok(Math.abs(model.estimatedRows - 30162) < 2000, `rows ${model.estimatedRows}`);

      // The charge, recomputed from the proof in src/core/regression.ts: d = features + 1 non-zeros
      // of x; Gram l2 = Q^2 sqrt(d(d+1)/2), moments l2 = Q^2 sqrt(d), each gradient step l2 = Q sqrt(d),
      // with the rho of (2, 1e-6) split by the published shares.
      const handle = m.mesh.inProcess.find((h) => h.domain.name === 'census')!;
      const entries = await handle.db.query<{ cost: any; aggregate: string; release_id: string }>(`SELECT cost, aggregate, release_id FROM "${handle.db.schema}"."ledger_entry" WHERE principal_id = 'ann'`);
      assert.equal(entries.length, 1, 'one charge per training');
      assert.equal(entries[0]!.aggregate, 'train');
      assert.equal(entries[0]!.release_id, model.releaseId);
      const costs = entries[0]!.cost;
      const d = FEATURES.length + 1;
      const rho = rhoForEpsilonDelta(2, 1e-6);
      const expected = [
        { sensitivity: Math.ceil(1024 ** 2 * Math.sqrt((d * (d + 1)) / 2)), rho: rho * NEWTON_SSP_SHARE * GRAM_SHARE },
        { sensitivity: Math.ceil(1024 ** 2 * Math.sqrt(d)), rho: rho * NEWTON_SSP_SHARE * (1 - GRAM_SHARE) },
        ...Array.from({ length: NEWTON_STEPS }, () => ({ sensitivity: Math.ceil(1024 * Math.sqrt(d)), rho: (rho * (1 - NEWTON_SSP_SHARE)) / NEWTON_STEPS })),
      ];
      assert.equal(costs.length, expected.length);
      costs.forEach((c: { kind: string; sigma: number; sensitivity: number }, i: number) => {
        assert.equal(c.kind, 'discreteGaussian');
        assert.equal(c.sensitivity, expected[i]!.sensitivity);
        const sigma = c.sensitivity / Math.sqrt(2 * expected[i]!.rho);
        assert.ok(c.sigma >= sigma * (1 - 1e-9) && c.sigma <= sigma * (1 + 1e-6), `sigma ${c.sigma} vs ${sigma}`);
      });
      const spent = await budget(ann);
      assert.equal(spent.releases, 1);
      const proven = epsilonSpent(addCosts(emptyState(), costs), 1e-6);
      assert.ok(proven <= 2 + 1e-9, `composed epsilon ${proven} within the asked 2`);
      assert.ok(Math.abs(model.epsilonCharged - est.epsilonCharged) < 1e-9, 'estimate = charge');

      const again = await m.gql(TRAIN, LOGISTIC, ann);
      assert.equal(again.body.data.censusTrainModel.cached, true);
      assert.equal(again.body.data.censusTrainModel.epsilonCharged, 0);
      assert.deepEqual(again.body.data.censusTrainModel.coefficients, model.coefficients);
      const other = await m.token('bob');
      assert.equal((await m.gql(TRAIN, LOGISTIC, other)).body.data.censusTrainModel.id, model.id);
      assert.deepEqual(await budget(other), { epsilonSpent: 0, releases: 0 }, 'memoised for everyone');
      assert.equal((await budget(ann)).releases, 1);

      const q = await m.gql(`query P($id: ID!, $rows: [JSONObject!]!) { census { models(dataset: ADULTS) { id kind } model(id: $id) { id features } predict(model: $id, rows: $rows) trainingStatus { id } } }`, { id: model.id, rows: [RICH, POOR] }, other);
      assert.equal(q.body.errors, undefined, JSON.stringify(q.body.errors));
      const c = q.body.data.census;
      assert.ok(c.models.some((x: { id: string }) => x.id === model.id));
      assert.deepEqual(c.model.features, FEATURES);
      const [rich, poor] = c.predict as number[];
      assert.ok(rich! > 0.5 && poor! < 0.1, `P(>50K) rich ${rich}, poor ${poor}`);
      assert.deepEqual(c.trainingStatus, []);
      const missing = await m.gql(`{ census { model(id: "nope") { id } predict(model: "nope", rows: []) } }`, {}, other);
      assert.equal(missing.body.errors?.[0]?.extensions?.code, 'NOT_FOUND');

      // After a restart (a new engine on the same database): listed, and the same request is free.
      const svc = new MlService(new QueryEngine(handle.domain, handle.db));
      assert.ok((await svc.list('adults')).some((x) => x.id === model.id));
      const reused = await svc.train({ id: 'ann', roles: ['analyst'] }, { dataset: 'adults', ...LOGISTIC } as never);
      assert.equal(reused.cached, true);
      assert.equal((await budget(ann)).releases, 1);
    });

    test('linear regression with pure epsilon (Laplace) predicts within the public bounds', async () => {
      const t = await m.token('cid');
      const r = await m.gql(TRAIN, { kind: 'LINEAR', target: 'hoursPerWeek', features: ['age', 'sex', 'income'], privacy: { epsilon: 1, mechanism: 'LAPLACE' } }, t);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      const model = r.body.data.censusTrainModel;
      assert.equal(model.delta, 0);
      assert.match(model.method, /discreteLaplace/);
      const p = await m.gql(`query P($id: ID!, $rows: [JSONObject!]!) { census { predict(model: $id, rows: $rows) } }`, { id: model.id, rows: [{ age: 40, sex: 'Male', income: '>50K' }, { age: 20, sex: 'Female', income: '<=50K' }] }, t);
      const [a, b] = p.body.data.census.predict as number[];
      assert.ok(a! >= 1 && a! <= 99 && b! >= 1 && b! <= 99);
      assert.ok(a! > b!, `hours ${a} > ${b}`);
    });

    test('cdm train previews and trains through the gateway with the caller\'s token', async () => {
      const t = await m.token('eve');
      const o = { gateway: m.url, domain: 'census', dataset: 'adults', kind: 'logistic', target: 'income', positiveClass: '>50K', features: 'age, educationNum,sex', epsilon: '0.5', delta: '1e-6', method: 'AUTO' };
      const est = (await runTraining({ ...o, estimate: true }, t)) as { epsilonCharged: number; method: string; cached: boolean };
      assert.equal(est.method, 'sspNewton');
      assert.equal(est.cached, false);
      const model = (await runTraining(o, t)) as { features: string[]; epsilonCharged: number };
      assert.deepEqual(model.features, ['age', 'educationNum', 'sex']);
      assert.ok(Math.abs(model.epsilonCharged - est.epsilonCharged) < 1e-12);
      assert.equal((await budget(t)).releases, 1);
      await assert.rejects(runTraining({ ...o, features: 'age,income' }, t), /BAD_USER_INPUT: The target "income" cannot also be a feature/);
    });

    test('a model from a fitted synthetic model is free', async () => {
      const t = await m.token('dee');
      const fit = await m.gql(`{ census { adults { synthetic(rows: 1, privacy: { epsilon: 1, delta: 1e-9 }) { model { id } } } } }`, {}, t);
      const syntheticModel = fit.body.data.census.adults.synthetic.model.id;
      const before = await budget(t);
      const r = await m.gql(TRAIN, { ...LOGISTIC, privacy: null, method: null, source: 'SYNTHETIC_MODEL', syntheticModel }, t);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      const model = r.body.data.censusTrainModel;
      assert.equal(model.source, 'SYNTHETIC_MODEL');
      assert.equal(model.epsilonCharged, 0);
      assert.deepEqual(await budget(t), before);
      const again = await m.gql(TRAIN, { ...LOGISTIC, privacy: null, method: null, source: 'SYNTHETIC_MODEL', syntheticModel }, t);
      assert.equal(again.body.data.censusTrainModel.id, model.id);
      assert.equal(again.body.data.censusTrainModel.cached, true);
    });
  });
}
