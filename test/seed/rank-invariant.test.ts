import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { planAggregate } from '../../src/query/plan.js';
import { statementFor } from '../helpers/plan.js';
import { RANK_COLUMN, seedDomain, verifiedRank } from '../../src/seed/seed.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';

/**
 * Issue 11 (independent DP audit): bounding by load-time rank trusts that each unit's ranks are
 * distinct and >= 1. The invariant is enforced where ranks are written and checked where read.
 */
const health = demoDomain('health');
const visits = health.datasets[0]!;
const m = visits.contribution.maxRowsPerUnit;
let db: DomainDatabase;
let table: string;

/** The true (pre-noise) count the engine would compute, with the rank trusted only if verified. */
async function boundedCount(): Promise<number> {
  const plan = planAggregate(health, visits, { aggregate: 'count', privacy: { epsilon: 1 } });
  const stmt = statementFor(db, plan, { ranked: await verifiedRank(db, visits.table, 'patient_id') });
  const [row] = await db.query<Record<string, string>>(stmt.sql, stmt.params);
  return Number(row![plan.statistics[0]!.id]);
}
const expectedCount = async () =>
  Number((await db.query<{ n: string }>(`SELECT sum(LEAST(n, $1))::text AS n FROM (SELECT count(*) AS n FROM ${table} GROUP BY patient_id) x`, [m]))[0]!.n);

/** A unit with at least m rows. */
async function heavyUnit(): Promise<string> {
  const [u] = await db.query<{ p: string }>(`SELECT patient_id AS p FROM ${table} GROUP BY patient_id HAVING count(*) >= $1 LIMIT 1`, [m]);
  return u!.p;
}

before(async () => {
  db = await openDomainDatabase(health, { dataDir: 'memory://' });
  await seedDomain(db, health, { rows: { visits: 5_000 } });
  table = qualified(db, visits.table);
});
after(async () => db.close());

test('a seeded table carries a verified rank', async () => {
  assert.equal(await verifiedRank(db, visits.table, 'patient_id'), true);
  assert.equal(await boundedCount(), await expectedCount());
});

test('re-inserting a unit\'s ranked rows, or a rank below 1 or NULL, is refused by the database', async () => {
  const unit = await heavyUnit();
  await assert.rejects(db.query(`INSERT INTO ${table} SELECT * FROM ${table} WHERE patient_id = $1`, [unit]), /duplicate key|unique/i);
  await assert.rejects(db.query(`UPDATE ${table} SET ${RANK_COLUMN} = 0 WHERE patient_id = $1 AND ${RANK_COLUMN} = 1`, [unit]), /check constraint/i);
  await assert.rejects(db.query(`UPDATE ${table} SET ${RANK_COLUMN} = NULL WHERE patient_id = $1`, [unit]), /null/i);
  // Rows with no unit form one unit, as in the per-query window: they cannot share a rank either.
  // (A copy of a loaded row with no unit and rank 1: the loader made the other columns NOT NULL.)
  const noUnit = `INSERT INTO ${table} SELECT (jsonb_populate_record(NULL::${table}, to_jsonb(v) || '{"patient_id": null, "${RANK_COLUMN}": 1}')).* FROM ${table} v LIMIT 1`;
  await db.query(noUnit);
  await assert.rejects(db.query(noUnit), /duplicate key|unique/i);
  await db.query(`DELETE FROM ${table} WHERE patient_id IS NULL`);
});

test('with the invariant gone, re-inserted rows never let a count include more than maxRowsPerUnit rows of one unit', async () => {
  const unit = await heavyUnit();
  const [idx] = await db.query<{ name: string }>(
    `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = $1::regclass AND indisunique`,
    [`${db.schema}.${visits.table}`],
  );
  await db.exec(`DROP INDEX ${idx!.name}`);
  assert.equal(await verifiedRank(db, visits.table, 'patient_id'), false, 'no unique (unit, rank) index: not trusted');
  const before = await boundedCount();
  await db.query(`INSERT INTO ${table} SELECT * FROM ${table} WHERE patient_id = $1`, [unit]);
  // The unit now has 2 rows of each rank <= m; the trusted-rank predicate alone would keep 2m.
  const [dup] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE patient_id = $1 AND ${RANK_COLUMN} <= $2`, [unit, m]);
  assert.equal(dup!.n, 2 * m);
  const after = await boundedCount();
  assert.equal(after, await expectedCount());
  assert.equal(after, before, 'the heavy unit already contributed m rows: re-inserting adds none');
});

test('a rank column without its constraints, or a view, is not trusted', async () => {
  await db.exec(`CREATE TABLE ${qualified(db, 'loose')} (unit text, ${RANK_COLUMN} int); CREATE VIEW ${qualified(db, 'loose_view')} AS SELECT * FROM ${table}`);
  assert.equal(await verifiedRank(db, 'loose', 'unit'), false);
  assert.equal(await verifiedRank(db, 'loose_view', 'patient_id'), false);
  assert.equal(await verifiedRank(db, 'no_such_table', 'patient_id'), false);
});
