import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { planAggregate } from '../../src/query/plan.js';
import type { AggregateRequest, WhereInput } from '../../src/query/types.js';
import { statementFor, targetFor } from '../helpers/plan.js';
import { rowLimit, statementsFor, type SqlTarget } from '../../src/core/dialect/postgres.js';
import { domainDataSource } from '../../src/query/datasource.js';
import { RANK_COLUMN, seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';

/** The load-time rank bounds contributions exactly like the per-query window (at most m rows per unit). */
const health = demoDomain('health');
const visits = health.datasets[0]!;
let db: DomainDatabase;
before(async () => {
  db = await openDomainDatabase(health, { dataDir: 'memory://' });
  await seedDomain(db, health, { rows: { visits: 20_000 } });
});
after(async () => db.close());

test('every unit keeps min(its rows, maxRowsPerUnit) rows, ranked or windowed', async () => {
  const m = visits.contribution.maxRowsPerUnit;
  const [perUnit] = await db.query<{ max: number; expected: string }>(
    `SELECT max(c)::int AS max, sum(LEAST(n, $1))::text AS expected FROM (
       SELECT count(*) FILTER (WHERE ${RANK_COLUMN} <= $1) AS c, count(*) AS n FROM ${qualified(db, 'visits')} GROUP BY patient_id) x`,
    [m],
  );
  assert.equal(perUnit!.max, m);
  const plan = planAggregate(health, visits, { aggregate: 'count', privacy: { epsilon: 1 } });
  for (const ranked of [true, false]) {
    const stmt = statementFor(db, plan, { ranked });
    assert.equal(stmt.sql.includes(RANK_COLUMN), ranked);
    const [row] = await db.query<Record<string, string>>(stmt.sql, stmt.params);
    assert.equal(row![plan.statistics[0]!.id], perUnit!.expected, `ranked=${ranked}`);
  }
  // With a user filter, each unit counts min(m, its matching rows): the filter does not spend the
  // unit's rank budget on rows that do not match (issue 17: the oncology count was 15% short).
  const cases: [WhereInput, string][] = [
    [{ department: { eq: 'oncology' } }, "department = 'oncology'"],
    [{ lengthOfStay: { gte: 3 } }, 'length_of_stay >= 3'],
    [{ patientAge: { gte: 70 } }, 'patient_age >= 70'],
  ];
  for (const [where, condition] of cases) {
    const filtered = planAggregate(health, visits, { aggregate: 'count', where, privacy: { epsilon: 1 } });
    const [direct] = await db.query<{ n: string }>(
      `SELECT sum(LEAST(c, $1))::text AS n FROM (SELECT count(*) AS c FROM ${qualified(db, 'visits')} WHERE ${condition} GROUP BY patient_id) x`,
      [m],
    );
    for (const ranked of [true, false]) {
      const stmt = statementFor(db, filtered, { ranked });
      const [f] = await db.query<Record<string, string>>(stmt.sql, stmt.params);
      assert.equal(f![filtered.statistics[0]!.id], direct!.n, `${JSON.stringify(where)} ranked=${ranked}`);
    }
  }
});

test('a filtered ranked histogram keeps each unit\'s first G p matching rows in rank order, in any groups', async () => {
  const plan = planAggregate(health, visits, { aggregate: 'histogram', by: ['department'], where: { lengthOfStay: { gte: 1 } }, privacy: { epsilon: 1 } });
  const k = plan.contribution.rows;
  assert.equal(k, 9, 'G p = 3 x 3 rows, any groups (Laplace: same l1 as 3 groups of 3)');
  const stmt = statementFor(db, plan, { ranked: true });
  assert.ok(!/row_number|dense_rank/.test(stmt.sql), 'no per-query choice of groups');
  const got = new Map((await db.query<Record<string, string>>(stmt.sql, stmt.params)).map((r) => [r.k0!, r[plan.statistics[0]!.id]!]));
  const want = await db.query<{ d: string; n: string }>(
    `SELECT department AS d, count(*)::text AS n FROM (
       SELECT department, row_number() OVER (PARTITION BY patient_id ORDER BY ${RANK_COLUMN}) AS i FROM ${qualified(db, 'visits')} WHERE length_of_stay >= 1) x
     WHERE i <= $1 GROUP BY department`,
    [k],
  );
  assert.ok(want.length > 3);
  for (const w of want) assert.equal(got.get(w.d), w.n, w.d);
});

test('filters on unit attributes (perUnit) and NOT NULL columns skip the heavy part; others keep it', async () => {
  const data = domainDataSource(db);
  await data.prepare([visits]);
  const target = data.target();
  assert.ok(target.ranked(visits));
  assert.ok(target.notNull?.(visits, 'cost'), 'the loader enforces NOT NULL on columns it loaded without NULLs');
  const heavy = (req: AggregateRequest) => statementsFor(planAggregate(health, visits, { ...req, privacy: { epsilon: 1 } }), target)[0]!.sql.includes('= ANY(ARRAY(');
  assert.equal(heavy({ aggregate: 'sum', column: 'cost', where: { patientAge: { gte: 18 } } }), false, 'age is a patient attribute; cost is never NULL');
  assert.equal(heavy({ aggregate: 'histogram', by: ['sex'], where: { patientAge: { gte: 18 } } }), false);
  assert.equal(heavy({ aggregate: 'count', where: { department: { eq: 'oncology' } } }), true);
  assert.equal(heavy({ aggregate: 'histogram', by: ['department'], where: { patientAge: { gte: 18 } } }), false, 'a NOT NULL key decides nothing');
  assert.equal(heavy({ aggregate: 'histogram', by: ['department'], where: { lengthOfStay: { gte: 1 } } }), true, 'length of stay varies within a patient');
  // The fast path counts exactly what the per-query window counts (min(m, matching) per unit).
  const plan = planAggregate(health, visits, { aggregate: 'mean', column: 'cost', where: { patientAge: { gte: 18 } }, privacy: { epsilon: 1 } });
  const count = plan.statistics.find((s) => s.kind === 'count')!.id;
  const run = async (t: SqlTarget) => (await db.query<Record<string, string>>(statementsFor(plan, t)[0]!.sql, statementsFor(plan, t)[0]!.params))[0]![count];
  assert.equal(await run(target), await run(targetFor(db, false)));
});

test('the light-only path tests keys once per group and integer filters as integers: same groups, same counts', async () => {
  // A unit whose rows carry a department off the public list (a prepared table may hold some):
  // its off-list rows still take rank slots, as when the keys were tested before grouping.
  const t = qualified(db, 'visits');
  await db.exec(`INSERT INTO ${t} (patient_id, department, patient_age, ${RANK_COLUMN}, clinic_id, diagnosis_group, sex, length_of_stay, cost, visit_day)
    SELECT 'zz-off-list', CASE WHEN g % 2 = 0 THEN 'oncology' ELSE 'zzz' END, 40, g, clinic_id, diagnosis_group, sex, length_of_stay, cost, visit_day
    FROM (SELECT * FROM ${t} LIMIT 1) v, generate_series(1, 12) g`);
  const data = domainDataSource(db);
  await data.prepare([visits]);
  const plan = planAggregate(health, visits, { aggregate: 'histogram', by: ['department'], where: { patientAge: { gte: 18 } }, privacy: { epsilon: 1 } });
  const stmt = statementsFor(plan, data.target())[0]!;
  assert.match(stmt.sql, /OFFSET 0\) g WHERE g\.k0::text = ANY/, 'keys tested per group');
  assert.match(stmt.sql, /"patient_age" >= \$\d+::bigint/, 'an integer column compared as an integer');
  const m = rowLimit(plan.relation as Extract<typeof plan.relation, { op: 'bound' }>)!;
  const expected = await db.query<{ k: string; n: string }>(
    `SELECT department AS k, count(*)::text AS n FROM ${t} WHERE ${RANK_COLUMN} <= $1 AND patient_age >= 18 AND department = ANY($2::text[]) GROUP BY 1 ORDER BY 1`,
    [m, visits.columns.find((c) => c.name === 'department')!.categories],
  );
  const got = await db.query<Record<string, string>>(`SELECT * FROM (${stmt.sql}) r ORDER BY k0`, stmt.params);
  assert.deepEqual(got.map((r) => ({ k: r.k0, n: r[plan.statistics[0]!.id] })), expected);
  assert.ok(!got.some((r) => r.k0 === 'zzz'));
});
