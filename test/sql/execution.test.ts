import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { relationStatement, statementsFor } from '../../src/core/dialect/postgres.js';
import { buildPlan, type Plan } from '../../src/core/plan.js';
import type { RawResults } from '../../src/core/release.js';
import { demoDomain } from '../../src/domain/registry.js';
import { seededRandom, useRandomSourceForTests } from '../../src/dp/random.js';
import { seedDomain } from '../../src/seed/seed.js';
import { compileSql } from '../../src/sql/compile.js';
import { answerTable } from '../../src/sql/post.js';
import { releaseTable } from '../../src/core/release.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { targetFor } from '../helpers/plan.js';

/**
 * DP SQL plans executed on seeded data: CASE inside aggregates computes what the equivalent
 * filtered aggregate computes, key selection works for any aggregate, and joins keep their
 * stability: in the bounded joined rows, each privacy unit (heavy ones added on either side)
 * moves each statistic, summed over groups, by at most its L1 sensitivity, so adding or removing it
 * does too (the bound's choice for a unit depends on its own rows only).
 */
const health = demoDomain('health');
const census = demoDomain('census');

async function exact(db: DomainDatabase, plan: Plan): Promise<RawResults> {
  const raw: RawResults = {};
  // The grouped bound's salt comes from the privacy random source: seeded too.
  useRandomSourceForTests(seededRandom('dpsql-execution'));
  for (const s of statementsFor(plan, targetFor(db))) {
    await db.query('SELECT setseed(0.25)');
    raw[s.id] = await db.query(s.sql, s.params);
  }
  useRandomSourceForTests(null);
  return raw;
}
const planOf = (domain: typeof health, sql: string) => buildPlan(compileSql(domain, sql).spec);
const stat = (raw: RawResults, id: string) => (raw.stats ?? []).reduce((acc, r) => acc.set([0, 1, 2].map((i) => r[`k${i}`] ?? '').join('|'), Number(r[id] ?? 0)), new Map<string, number>());

describe('DP SQL on data', { timeout: 300_000 }, () => {
  let db: DomainDatabase;
  let cdb: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(health, { dataDir: 'memory://' });
    await seedDomain(db, health, { rows: { visits: 5000, prescriptions: 3000 } });
    cdb = await openDomainDatabase(census, { dataDir: 'memory://' });
    await seedDomain(cdb, census);
  });
  after(async () => {
    await db.close();
    await cdb.close();
  });

  test('SUM/AVG of CASE equals the filtered aggregate (row-level data: no bounding choice)', async () => {
    const a = planOf(census, "SELECT SUM(CASE WHEN sex = 'Female' THEN capitalGain ELSE 0 END) FROM adults");
    const b = planOf(census, "SELECT SUM(capitalGain) FROM adults WHERE sex = 'Female'");
    const [ra, rb] = [await exact(cdb, a), await exact(cdb, b)];
    assert.equal(ra.stats![0]![a.statistics[0]!.id], rb.stats![0]![b.statistics[0]!.id]);
    assert.ok(Number(ra.stats![0]![a.statistics[0]!.id]) > 0);
    const c = planOf(census, "SELECT income, SUM(CASE WHEN sex = 'Female' THEN 1 ELSE 0 END) AS women FROM adults GROUP BY income");
    const d = planOf(census, "SELECT income, COUNT(*) FROM adults WHERE sex = 'Female' GROUP BY income");
    assert.deepEqual(stat(await exact(cdb, c), c.statistics[0]!.id), stat(await exact(cdb, d), d.statistics[0]!.id));
  });

  test('any aggregate grouped by keys without a public list: keys selected first, then measured at them', async () => {
    const compiled = compileSql(census, 'SELECT nativeCountry, AVG(age) AS a, COUNT(*) AS n FROM adults GROUP BY nativeCountry', { epsilon: 1, delta: 1e-6 });
    const plan = buildPlan(compiled.spec);
    assert.equal(plan.keys, 'select');
    // Selection (epsilon/2, delta) plus the mean's two measurements (epsilon/4 each).
    assert.deepEqual(plan.costs[0], { kind: 'approx', epsilon: 0.5, delta: 1e-6 });
    assert.equal(plan.costs.length, 3);
    for (const s of plan.statistics.filter((x) => x.column)) assert.ok(Math.abs(s.mechanism.epsilon! - 0.25) < 1e-9, `${s.kind}: ${s.mechanism.epsilon}`);
    const raw = await exact(cdb, plan);
    useRandomSourceForTests(seededRandom('dpsql-keys'));
    const t = answerTable(compiled, releaseTable(plan, raw), plan.groupBy);
    useRandomSourceForTests(null);
    const byKey = new Map(t.rows.map((r) => [r[0]!.value, r]));
    assert.ok(byKey.has('United-States') && byKey.has('Mexico'), [...byKey.keys()].join());
    assert.ok(!byKey.has('Holand-Netherlands'), 'one person: below the threshold');
    const us = (raw.stats ?? []).find((r) => r.k0 === 'United-States')!;
    const mean = plan.statistics.find((s) => s.kind === 'centredSum')!;
    const truth = Number(mean.grid!.mid) + Number(us[mean.id]) / Number(us[plan.statistics.find((s) => s.kind === 'count' && s.column)!.id]);
    const a = byKey.get('United-States')![1]!;
    assert.ok(Math.abs((a.value as number) - truth) < 4 * a.standardError!, `${a.value} vs ${truth}`);
  });

  const JOINS = [
    'SELECT COUNT(*), SUM(p.quantity) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId',
    'SELECT p.drugClass, COUNT(*), SUM(v.lengthOfStay) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId GROUP BY p.drugClass',
    'SELECT c.region, COUNT(*), SUM(v.cost) FROM visits v JOIN clinics c ON v.clinicId = c.id GROUP BY c.region',
    'SELECT c.region, COUNT(DISTINCT v.patientId) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId JOIN clinics c ON v.clinicId = c.id GROUP BY c.region',
  ];

  test('in every join, one patient\'s bounded rows move each statistic by at most its L1 sensitivity (heavy patients added on either side)', async () => {
    const visit = (id: string, i: number) =>
      `('${id}', 'C00${1 + (i % 9)}', '${['oncology', 'cardiology', 'general'][i % 3]}', 'neoplasms', 70, 'Female', ${i % 30}, ${1000 + i}, ${1 + i}, ${1 + i})`;
    // The loader's rank invariant (src/seed/rank.ts): each unit's new rows are ranked 1..n.
    const rx = (id: string, i: number) => `('${id}', '${['statin', 'analgesic', 'antibiotic', 'other'][i % 4]}', 90, 5, ${500 + i}, ${1 + i}, ${1 + i})`;
    const cols = 'patient_id, clinic_id, department, diagnosis_group, patient_age, sex, length_of_stay, cost, visit_day, _cdm_rank';
    // Visits only (no pair), both sides with far more pairs (480) than the bound keeps, and 1 x 12.
    for (const [id, nv, np] of [['PNEW0001', 40, 0], ['PNEW0002', 40, 12], ['PNEW0003', 1, 12]] as const) {
      await db.query(`INSERT INTO "${db.schema}"."visits" (${cols}) VALUES ${Array.from({ length: nv }, (_, i) => visit(id, i)).join(', ')}`);
      if (np) await db.query(`INSERT INTO "${db.schema}"."prescriptions" (patient_id, drug_class, quantity, refills, cost, prescribed_day, _cdm_rank) VALUES ${Array.from({ length: np }, (_, i) => rx(id, i)).join(', ')}`);
    }
    for (const sql of JOINS) {
      const plan = planOf(health, sql);
      const unit = plan.schema.unit!.sql;
      const { sql: rel, params } = relationStatement(plan.relation, targetFor(db));
      const rows = await db.query<Record<string, unknown>>(rel, params);
      // Each unit's contribution to each statistic, per group (the dialect's per-row values).
      const per = new Map<string, Map<string, number>>();
      const add = (u: string, k: string, d: number) => {
        const m = per.get(u) ?? new Map<string, number>();
        per.set(u, m);
        m.set(k, (m.get(k) ?? 0) + d);
      };
      for (const s of plan.statistics) {
        const seen = new Set<string>();
        for (const r of rows) {
          const key = `${s.id}|${plan.groupBy.map((c) => String(r[c.sql])).join('|')}`;
          const u = String(r[unit]);
          if (s.kind === 'units') {
            if (!seen.has(`${u}|${key}`)) add(u, key, 1);
            seen.add(`${u}|${key}`);
          } else if (s.kind === 'count') add(u, key, s.column && r[s.column.sql] == null ? 0 : 1);
          else {
            const x = r[s.column!.sql];
            if (x == null) continue;
            const g = s.grid!;
            const v = BigInt(Math.round(Math.min(Math.max(Number(x) / g.g, Number(g.lo)), Number(g.hi))));
            add(u, key, Number(s.kind === 'sum' ? v : s.kind === 'centredSum' ? v - g.mid : (v - g.mid) ** 2n));
          }
        }
        for (const [u, m] of per) {
          const moved = [...m].filter(([k]) => k.startsWith(`${s.id}|`)).reduce((t, [, d]) => t + Math.abs(d), 0);
          assert.ok(moved <= s.sensitivity.l1, `${sql}: unit ${u} moves ${s.kind} by ${moved} > L1 ${s.sensitivity.l1}`);
        }
      }
      const heavy = [...(per.get('PNEW0002') ?? new Map<string, number>())].filter(([k]) => k.startsWith(`${plan.statistics.find((x) => x.kind === 'count' && !x.column)?.id}|`));
      if (sql.includes('prescriptions') && !sql.includes('GROUP BY'))
        assert.equal(heavy.reduce((t, [, d]) => t + d, 0), plan.contribution.rows, `${sql}: the heavy patient keeps exactly the rows a unit may keep`);
      if (sql.includes('prescriptions')) assert.equal(per.has('PNEW0001'), false, `${sql}: a patient without prescriptions makes no pair`);
    }
  });
});
