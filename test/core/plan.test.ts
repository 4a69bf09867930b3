import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { buildPlan, vectorSensitivity } from '../../src/core/plan.js';
import { RelationBuilder } from '../../src/core/relation.js';
import { analyse } from '../../src/core/stability.js';
import { planAggregate } from '../../src/query/plan.js';
import { QueryEngine } from '../../src/query/engine.js';
import { seedDomain } from '../../src/seed/seed.js';
import { migrate } from '../../src/storage/migrate.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { MeshError } from '../../src/errors.js';
import type { AggregateRequest } from '../../src/query/types.js';

const census = demoDomain('census');
const adults = census.datasets[0]!;
const health = demoDomain('health');
const visits = health.datasets[0]!;

const refused = (f: () => unknown, pattern: RegExp) =>
  assert.throws(f, (e: unknown) => e instanceof MeshError && e.extensions.code === 'BAD_USER_INPUT' && pattern.test(e.message));

describe('stability maps chain into sensitivities', () => {
  test('source, filter, bound: rows per unit', () => {
    const rel = RelationBuilder.from(visits).filter({ op: 'in', column: 'department', values: ['oncology'] });
    assert.equal(analyse(rel.relation).schema.contribution.rows, Infinity);
    assert.equal(analyse(rel.bound(10).relation).schema.contribution.rows, 10);
    assert.equal(analyse(RelationBuilder.from(adults).relation).schema.contribution.rows, 1, 'row-level datasets: one row per unit');
  });
  test('joins multiply: a public side with multiplicity k, and a join on the unit a x b', () => {
    const clinics = demoDomain('reference').datasets[0]!;
    const joined = RelationBuilder.from(visits).bound(10).joinPublic(clinics, 'clinicId', 'id', 3);
    assert.equal(analyse(joined.relation).schema.contribution.rows, 30);
    const both = RelationBuilder.from(visits).bound(4).joinOnUnit(RelationBuilder.from(visits).bound(5));
    assert.equal(analyse(both.relation).schema.contribution.rows, 20);
    assert.equal(analyse(both.bound(6).relation).schema.contribution.rows, 6, 'truncation after the join bounds it whatever came before');
    // Row-level data has no unit column to truncate by: a person's row joined with k public rows
    // stays k rows whatever bound is asked (the SQL keeps them all), so the plan must say k.
    const rowJoined = RelationBuilder.from(clinics).joinPublic(clinics, 'region', 'region', 5);
    assert.equal(analyse(rowJoined.bound(1).relation).schema.contribution.rows, 5);
    assert.equal(buildPlan({ domain: demoDomain('reference'), relation: rowJoined.relation, aggregates: [{ kind: 'count' }], privacy: { epsilon: 1 } }).statistics[0]!.sensitivity.l1, 5);
  });
  test('sensitivities are the chained bounds times the per-row bound (never written per aggregate)', () => {
    const count = planAggregate(health, visits, { aggregate: 'count', privacy: { epsilon: 1 } });
    assert.equal(count.statistics[0]!.sensitivity.l1, visits.contribution.maxRowsPerUnit);
    const sum = planAggregate(census, adults, { aggregate: 'sum', column: 'age', privacy: { epsilon: 1 } });
    assert.equal(sum.statistics[0]!.sensitivity.l1, 90, 'row-level: max |age| = 90');
    const mean = planAggregate(census, adults, { aggregate: 'mean', column: 'age', privacy: { epsilon: 1 } });
    const centred = mean.statistics.find((s) => s.kind === 'centredSum')!;
    assert.equal(centred.sensitivity.l1, 37, 'ages [17, 90] centred on 53: max |x - 53| = 37');
    // Gaussian noise needs l2: each unit in at most G = 3 groups with p = 3 rows in each.
    const hist = planAggregate(health, visits, { aggregate: 'histogram', by: ['department'], privacy: { epsilon: 1, delta: 1e-6 } });
    const g = hist.contribution.groups!;
    assert.deepEqual([g.maxGroups, g.perGroup], [3, 3]);
    assert.equal(hist.statistics[0]!.sensitivity.l1, 9);
    assert.equal(hist.statistics[0]!.sensitivity.l2, Math.ceil(Math.sqrt(27)));
    // Laplace needs l1 only: G p = 9 rows in any groups, the same l1 (same noise), no group choice.
    const laplace = planAggregate(health, visits, { aggregate: 'histogram', by: ['department'], privacy: { epsilon: 1 } });
    assert.deepEqual([laplace.contribution.rows, laplace.contribution.groups!.maxGroups, laplace.contribution.groups!.perGroup], [9, 9, 9]);
    assert.equal(laplace.statistics[0]!.sensitivity.l1, 9);
    assert.equal(laplace.statistics[0]!.mechanism.sensitivity, hist.statistics[0]!.sensitivity.l1);
  });
  test('vector l2 fills whole groups first under the row total', () => {
    assert.deepEqual(vectorSensitivity({ rows: 10, groups: { by: ['a'], maxGroups: 3, perGroup: 4 } }), { l1: 10, l2: Math.sqrt(16 + 16 + 4) });
    assert.deepEqual(vectorSensitivity({ rows: 5, groups: { by: ['a'], maxGroups: 3, perGroup: 1 } }), { l1: 3, l2: Math.sqrt(3) });
  });
  test('grouped aggregates of any kind, one plan, the budget split over its measurements', () => {
    const plan = buildPlan({
      domain: health,
      relation: RelationBuilder.from(visits).relation,
      groupBy: ['department'],
      aggregates: [{ kind: 'count' }, { kind: 'mean', column: 'cost' }, { kind: 'quantile', column: 'patientAge', q: 0.5 }],
      privacy: { epsilon: 1.5 },
    });
    assert.equal(plan.statistics.length, 3, 'count(*), count(cost), centred sum of cost');
    assert.equal(plan.quantiles.length, 1);
    assert.equal(plan.costs.length, 4);
    const eps = plan.costs.map((c) => (c.kind === 'discreteLaplace' ? c.sensitivity / c.scale : c.kind === 'pure' ? c.epsilon : NaN));
    assert.ok(Math.abs(eps.reduce((a, b) => a + b, 0) - 1.5) < 1e-6, `the parts add up to the request's epsilon: ${eps}`);
  });
  test('plans that cannot be bounded or answered fail to build, with the reason', () => {
    refused(() => planAggregate(census, adults, { aggregate: 'sum', column: 'sex' }), /not a numeric column/);
    refused(() => buildPlan({ domain: health, relation: RelationBuilder.from(visits).relation, aggregates: [{ kind: 'countDistinct', column: 'cost' }] }), /cannot be bounded/);
    refused(() => buildPlan({ domain: health, relation: RelationBuilder.from(visits).relation, groupBy: ['patientId'], aggregates: [{ kind: 'count' }] }), /cannot be grouped/);
    refused(() => planAggregate(census, adults, { aggregate: 'count', where: { sex: { eq: 'a\u0000b' } } }), /NUL|category/);
    refused(() => planAggregate(census, adults, { aggregate: 'count', where: { age: { gte: 9007199254740993 } } }), /out of range/);
    refused(() => planAggregate(census, adults, { aggregate: 'count', privacy: { epsilon: 5e-324 } }), /epsilon/);
    refused(() => planAggregate(census, adults, { aggregate: 'count', privacy: { epsilon: 1e-300 } }), /epsilon/);
    refused(() => planAggregate(census, adults, { aggregate: 'count', privacy: { accuracy: { within: 1e308 } } }), /within/);
    refused(() => planAggregate(demoDomain('justice'), demoDomain('justice').datasets[0]!, { aggregate: 'histogram', by: [demoDomain('justice').datasets[0]!.columns.find((c) => c.type === 'categorical' && !c.categories)!.name], privacy: { accuracy: { within: 10 }, delta: 1e-6 } }), /key selection/);
  });
  test('accuracy-first sums respect the column granularity', () => {
    const p = planAggregate(health, visits, { aggregate: 'sum', column: 'cost', privacy: { accuracy: { within: 1e8 } } });
    const q = planAggregate(health, visits, { aggregate: 'sum', column: 'cost', privacy: { accuracy: { within: 1e6 } } });
    assert.ok(p.epsilon < q.epsilon / 50, `within 1e8 costs far less than within 1e6 (${p.epsilon} vs ${q.epsilon})`);
    assert.ok(p.statistics[0]!.mechanism.halfWidth(0.95, 0.01) <= 1e8);
  });
});

describe('the memo key is the canonical plan', () => {
  const key = (r: AggregateRequest) => planAggregate(census, adults, { privacy: { epsilon: 0.3 }, ...r }).key;
  const pairs: [string, AggregateRequest, AggregateRequest][] = [
    ['eq vs in of one value', { aggregate: 'count', where: { sex: { eq: 'Female' } } }, { aggregate: 'count', where: { sex: { in: ['Female'] } } }],
    ['gte = lte vs eq', { aggregate: 'count', where: { age: { gte: 5 + 30, lte: 35 } } }, { aggregate: 'count', where: { age: { eq: 35 } } }],
    ['reordered conditions', { aggregate: 'sum', column: 'age', where: { sex: { eq: 'Male' }, race: { in: ['White', 'Black'] } } }, { aggregate: 'sum', column: 'age', where: { race: { in: ['Black', 'White', 'Black'] }, sex: { eq: 'Male' } } }],
  ];
  for (const [name, a, b] of pairs) test(name, () => assert.equal(key(a), key(b)));
  test('different questions have different keys; long IN lists hash to a short key', () => {
    assert.notEqual(key({ aggregate: 'count', where: { sex: { eq: 'Female' } } }), key({ aggregate: 'count', where: { sex: { eq: 'Male' } } }));
    const long = key({ aggregate: 'count', where: { nativeCountry: { in: Array.from({ length: 1000 }, (_, i) => `country-${i}-${'x'.repeat(150)}`) } } });
    assert.ok(long.length < 80);
  });

  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(census, { dataDir: 'memory://' });
    await migrate(db);
    await seedDomain(db, census);
  });
  after(async () => db?.close());
  test('equivalent requests share one release and one charge', async () => {
    const engine = new QueryEngine(census, db);
    const caller = { id: 'eve', roles: ['analyst'] };
    for (const [, a, b] of pairs) {
      const r1 = await engine.run(caller, 'adults', { ...a, privacy: { epsilon: 0.3 } });
      const r2 = await engine.run({ ...caller }, 'adults', { ...b, privacy: { epsilon: 0.3 } });
      assert.equal(r2.releaseId, r1.releaseId);
      assert.equal(r2.cached, true);
    }
    const [n] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${db.schema}"."ledger_entry"`);
    assert.equal(n!.n, pairs.length, 'one charge per distinct question');
  });
});

describe('the memo key includes the data version', () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(census, { dataDir: 'memory://' });
    await migrate(db);
    await seedDomain(db, census);
  });
  after(async () => db?.close());
  test('a reload of the data makes the same question a new release', async () => {
    const caller = { id: 'vic', roles: ['analyst'] };
    const first = await new QueryEngine(census, db).run(caller, 'adults', { aggregate: 'count', privacy: { epsilon: 0.2 } });
    assert.equal((await new QueryEngine(census, db).run({ ...caller }, 'adults', { aggregate: 'count', privacy: { epsilon: 0.2 } })).releaseId, first.releaseId);
    await seedDomain(db, census, { force: true });
    const after = await new QueryEngine(census, db).run({ ...caller }, 'adults', { aggregate: 'count', privacy: { epsilon: 0.2 } });
    assert.notEqual(after.releaseId, first.releaseId, 'answers about the old rows are not served as answers about the new ones');
    assert.equal(after.cached, false);
  });
});

describe('answers and previews say the budget before and after', () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(census, { dataDir: 'memory://' });
    await migrate(db);
    await seedDomain(db, census);
  });
  after(async () => db?.close());
  test('a release moves the budget by at most its epsilon; the preview predicts it and counts how many more fit', async () => {
    const engine = new QueryEngine(census, db);
    const caller = { id: 'bea', roles: ['analyst'] };
    const req: AggregateRequest = { aggregate: 'count', where: { sex: { eq: 'Male' } }, privacy: { epsilon: 0.5 } };
    const preview = await engine.estimate({ ...caller }, 'adults', req);
    assert.equal(preview.budgetBefore, 0);
    assert.ok(preview.budgetAfter <= 0.5 + 1e-9 && preview.budgetAfter > 0.4, `preview after ${preview.budgetAfter}`);
    assert.ok(preview.moreOfThese >= 19 && preview.moreOfThese < 1e9, `${preview.moreOfThese} more of these fit a cap of ${census.policy.defaultBudget.epsilon}`);
    const r = await engine.run({ ...caller }, 'adults', req);
    assert.ok(r.effect, 'a charged release reports its effect');
    assert.equal(r.effect.budgetBefore, 0);
    assert.ok(Math.abs(r.effect.budgetAfter - preview.budgetAfter) < 1e-12, 'the preview predicted the charge');
    const again = await engine.run({ ...caller }, 'adults', req);
    assert.equal(again.effect, undefined, 'a memoised answer charges nothing');
    const next = await engine.estimate({ ...caller }, 'adults', { ...req, where: { sex: { eq: 'Female' } } });
    assert.ok(Math.abs(next.budgetBefore - r.effect.budgetAfter) < 1e-12);
    assert.ok(next.moreOfThese === preview.moreOfThese - 1 || next.moreOfThese === preview.moreOfThese - 2, `${next.moreOfThese} after one of ${preview.moreOfThese}`);
  });
});

describe('work is bounded too: synthetic rows per operation', () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(census, { dataDir: 'memory://' });
    await migrate(db);
  });
  after(async () => db?.close());
  test('aliases of a synthetic field that together exceed the per-operation rows are refused before anything runs', async () => {
    const engine = new QueryEngine(census, db);
    const caller = { id: 'wendy', roles: ['analyst'] };
    const big = Array.from({ length: 10 }, () => ({ dataset: 'adults', synthetic: { epsilon: 1 }, rows: 1_000_000 }));
    await assert.rejects(engine.preflight({ ...caller }, big), (e: unknown) => e instanceof MeshError && e.extensions.code === 'QUERY_TOO_COMPLEX' && /10000000 synthetic rows/.test(e.message));
    await engine.preflight({ ...caller }, [{ dataset: 'adults', synthetic: { epsilon: 1 }, rows: 1000 }]);
    const [n] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${db.schema}"."ledger_entry"`);
    assert.equal(n!.n, 0, 'the check charges nothing');
  });
});
