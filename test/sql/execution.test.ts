import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statementsFor } from '../../src/core/dialect/postgres.js';
import { buildPlan, type Plan } from '../../src/core/plan.js';
import type { RawResults } from '../../src/core/release.js';
import { demoDomain } from '../../src/domain/registry.js';
import { seededRandom, useRandomSourceForTests } from '../../src/dp/random.js';
import { seedDomain } from '../../src/seed/seed.js';
import { compileSql } from '../../src/sql/compile.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { targetFor } from '../helpers/plan.js';

/**
 * DP SQL plans executed on seeded data: CASE inside aggregates computes what the equivalent
 * filtered aggregate computes, and joins keep their stability: adding one privacy unit (with rows
 * on either side of a join) moves each statistic, summed over groups, by at most its L1
 * sensitivity. The database's random() is seeded per statement so every other unit keeps the same
 * rows; the first check is that the exact results are then reproducible.
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

  const JOINS = [
    'SELECT COUNT(*), SUM(p.quantity) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId',
    'SELECT p.drugClass, COUNT(*), SUM(v.lengthOfStay) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId GROUP BY p.drugClass',
    'SELECT c.region, COUNT(*), SUM(v.cost) FROM visits v JOIN clinics c ON v.clinicId = c.id GROUP BY c.region',
    'SELECT c.region, COUNT(DISTINCT v.patientId) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId JOIN clinics c ON v.clinicId = c.id GROUP BY c.region',
  ];

  test('exact results are reproducible with a seeded random()', async () => {
    for (const sql of JOINS) {
      const plan = planOf(health, sql);
      assert.deepEqual(await exact(db, plan), await exact(db, plan), sql);
    }
  });

  test('adding one patient to either side of a join moves each statistic by at most its L1 sensitivity', async () => {
    const plans = JOINS.map((sql) => ({ sql, plan: planOf(health, sql) }));
    const before = await Promise.all(plans.map(async (p) => ({ ...p, raw: await exact(db, p.plan) })));
    const visit = (id: string, i: number) =>
      `('${id}', 'C00${1 + (i % 9)}', '${['oncology', 'cardiology', 'general'][i % 3]}', 'neoplasms', 70, 'Female', ${i % 30}, ${1000 + i}, ${1 + i})`;
    const rx = (id: string, i: number) => `('${id}', '${['statin', 'analgesic', 'antibiotic', 'other'][i % 4]}', 90, 5, ${500 + i}, ${1 + i})`;
    const cases: [string, number, number][] = [
      ['PNEW0001', 40, 0], // visits only: a join on the unit gains no pair
      ['PNEW0002', 40, 12], // both sides, far more pairs (480) than the bound keeps
      ['PNEW0003', 1, 12],
    ];
    for (const [id, nv, np] of cases) {
      const cols = 'patient_id, clinic_id, department, diagnosis_group, patient_age, sex, length_of_stay, cost, visit_day';
      if (nv) await db.query(`INSERT INTO "${db.schema}"."visits" (${cols}) VALUES ${Array.from({ length: nv }, (_, i) => visit(id, i)).join(', ')}`);
      if (np) await db.query(`INSERT INTO "${db.schema}"."prescriptions" (patient_id, drug_class, quantity, refills, cost, prescribed_day) VALUES ${Array.from({ length: np }, (_, i) => rx(id, i)).join(', ')}`);
      for (const b of before) {
        const after = await exact(db, b.plan);
        for (const s of b.plan.statistics) {
          const [x, y] = [stat(b.raw, s.id), stat(after, s.id)];
          const moved = [...new Set([...x.keys(), ...y.keys()])].reduce((t, k) => t + Math.abs((y.get(k) ?? 0) - (x.get(k) ?? 0)), 0);
          assert.ok(moved <= s.sensitivity.l1, `${b.sql} + ${id}: ${s.kind} moved ${moved} > L1 ${s.sensitivity.l1}`);
          if (id === 'PNEW0002' && s.kind === 'count' && b.sql.includes('prescriptions') && !b.sql.includes('GROUP BY'))
            assert.equal(moved, b.plan.contribution.rows, 'the bound is reached: the new patient adds exactly the rows a unit may keep');
        }
        b.raw = after;
      }
    }
  });
});
