import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { planAggregate } from '../../src/query/plan.js';
import type { AggregateRequest } from '../../src/query/types.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { statementFor } from '../helpers/plan.js';
import { statementsFor } from '../../src/core/dialect/postgres.js';
import { targetFor } from '../helpers/plan.js';

/**
 * Issue 11, timing: a DP statement must do the same work whether its filter matches no row or all
 * of them, so its running time tells nothing about the data. Asserted on the work itself (rows
 * each scan node reads, from EXPLAIN ANALYZE), which is deterministic, rather than on wall time.
 */
const census = demoDomain('census');
const adults = census.datasets[0]!;
const health = demoDomain('health');
const visits = health.datasets[0]!;
let cdb: DomainDatabase;
let hdb: DomainDatabase;
before(async () => {
  cdb = await openDomainDatabase(census, { dataDir: 'memory://' });
  await seedDomain(cdb, census);
  hdb = await openDomainDatabase(health, { dataDir: 'memory://' });
  await seedDomain(hdb, health, { rows: { visits: 20_000 } });
});
after(async () => {
  await cdb?.close();
  await hdb?.close();
});

type Node = { 'Node Type': string; 'Actual Rows': number; 'Actual Loops': number; Plans?: Node[] };
const scans = (n: Node): number[] => [...(n['Node Type'].includes('Scan') ? [n['Actual Rows'] * n['Actual Loops']] : []), ...(n.Plans ?? []).flatMap(scans)];

async function scanned(db: DomainDatabase, sql: string, params: unknown[]): Promise<number[]> {
  const [row] = await db.query<{ 'QUERY PLAN': [{ Plan: Node }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
  return scans(row!['QUERY PLAN'][0].Plan);
}

for (const [label, db, ds, domain, empty, full, extra] of [
  ['census (one row per person)', () => cdb, adults, census, { age: { gte: 200 } }, { age: { gte: 0 } }, {}],
  ['health visits (load-time rank)', () => hdb, visits, health, { patientAge: { gte: 500 } }, { patientAge: { gte: 0 } }, { ranked: true }],
] as const) {
  test(`${label}: a filter matching nothing and one matching everything read the same rows`, async () => {
    for (const base of [{ aggregate: 'count' }, { aggregate: 'sum', column: ds === adults ? 'hoursPerWeek' : 'cost' }, { aggregate: 'quantile', column: ds === adults ? 'age' : 'cost', q: 0.5 }] as AggregateRequest[]) {
      const a = planAggregate(domain, ds, { ...base, where: empty as never, privacy: { epsilon: 1 } });
      const b = planAggregate(domain, ds, { ...base, where: full as never, privacy: { epsilon: 1 } });
      const sa = statementsFor(a, targetFor(db(), 'ranked' in extra))[0]!;
      const sb = statementsFor(b, targetFor(db(), 'ranked' in extra))[0]!;
      const ra = await scanned(db(), sa.sql, sa.params);
      const rb = await scanned(db(), sb.sql, sb.params);
      assert.ok(ra.length > 0 && ra[0]! > 1000, `${base.aggregate}: the statement scans the table (${ra})`);
      assert.deepEqual(ra, rb, `${base.aggregate}: rows read ${ra} (matching nothing) vs ${rb} (matching all)`);
    }
  });
}

// Every bounding path of a unit-level dataset: the load-time rank (light and heavy units), the
// per-query window (no rank), and the per-query group choice (Gaussian histograms need G and p).
for (const [label, ranked, base] of [
  ['rank, count', true, { aggregate: 'count' }],
  ['rank, histogram (Laplace: G p rows)', true, { aggregate: 'histogram', by: ['department'] }],
  ['window, count', false, { aggregate: 'count' }],
  ['window, sum', false, { aggregate: 'sum', column: 'cost' }],
  ['window, histogram', false, { aggregate: 'histogram', by: ['department'] }],
  ['group window, Gaussian histogram', true, { aggregate: 'histogram', by: ['department'], privacy: { epsilon: 1, delta: 1e-6 } }],
] as const) {
  test(`health visits, ${label}: a filter varying within units reads the same rows matching nothing or everything`, async () => {
    const plan = (where: object) => planAggregate(health, visits, { privacy: { epsilon: 1 }, ...base, where } as AggregateRequest);
    const a = plan({ lengthOfStay: { gte: 500 } });
    // The same public salt for the group choice (it is the plan key, which includes the filter).
    const b = { ...plan({ lengthOfStay: { gte: 0 } }), key: a.key };
    const sa = statementsFor(a, targetFor(hdb, ranked))[0]!;
    const sb = statementsFor(b, targetFor(hdb, ranked))[0]!;
    // Group choice (G groups, p rows each) is per query even on a ranked table.
    assert.equal(/_cdm_rank/.test(sa.sql), ranked && !('privacy' in base));
    const ra = await scanned(hdb, sa.sql, sa.params);
    const rb = await scanned(hdb, sb.sql, sb.params);
    assert.ok(ra.some((n) => n > 10_000), `the statement scans the table (${ra})`);
    assert.deepEqual(ra, rb, `rows read ${ra} (matching nothing) vs ${rb} (matching all)`);
  });
}

test('the filter still decides the answer (inside the aggregates)', async () => {
  const none = planAggregate(census, adults, { aggregate: 'count', where: { age: { gte: 200 } } as never, privacy: { epsilon: 1 } });
  const stmt = statementFor(cdb, none);
  const [row] = await cdb.query<Record<string, string>>(stmt.sql, stmt.params);
  assert.equal(row![none.statistics[0]!.id], '0');
});
