import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { planAggregate } from '../../src/query/plan.js';
import { statementFor } from '../helpers/plan.js';
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
  // With a user filter, the counted rows are the matching ones among each unit's m ranked rows.
  const filtered = planAggregate(health, visits, { aggregate: 'count', where: { department: { eq: 'oncology' } }, privacy: { epsilon: 1 } });
  const stmt = statementFor(db, filtered, { ranked: true });
  const [f] = await db.query<Record<string, string>>(stmt.sql, stmt.params);
  const [direct] = await db.query<{ n: string; max: number }>(
    `SELECT sum(c)::text AS n, max(c)::int AS max FROM (SELECT count(*) AS c FROM ${qualified(db, 'visits')} WHERE department = 'oncology' AND ${RANK_COLUMN} <= $1 GROUP BY patient_id) x`,
    [m],
  );
  assert.equal(f![filtered.statistics[0]!.id], direct!.n);
  assert.ok(direct!.max <= m);
});
