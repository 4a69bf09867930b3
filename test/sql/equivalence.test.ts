import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPlan } from '../../src/core/plan.js';
import { demoDomain } from '../../src/domain/registry.js';
import { planAggregate } from '../../src/query/plan.js';
import type { AggregateRequest } from '../../src/query/types.js';
import { compileSql } from '../../src/sql/compile.js';

/**
 * A statement and the typed GraphQL field asking the same thing compile to the same canonical plan
 * key, so the memo serves one release to both (the end-to-end suite checks the releaseId through
 * the gateway). Statements that ask something else must not share it.
 */
const health = demoDomain('health');
const census = demoDomain('census');
const justice = demoDomain('justice');
const ds = (d: typeof health, name: string) => d.datasets.find((x) => x.name === name)!;

const TWINS: [typeof health, string, string, AggregateRequest][] = [
  [health, 'visits', "SELECT COUNT(*) FROM visits WHERE department = 'oncology'", { aggregate: 'count', where: { department: { eq: 'oncology' } } }],
  [health, 'visits', "select count(*) from visits where department in ('oncology')", { aggregate: 'count', where: { department: { in: ['oncology'] } } }],
  [health, 'visits', 'SELECT COUNT(*) FROM visits', { aggregate: 'count' }],
  [health, 'visits', 'SELECT COUNT(DISTINCT patientId) FROM visits', { aggregate: 'countDistinct' }],
  [health, 'visits', 'SELECT SUM(cost) FROM visits WHERE patientAge BETWEEN 30 AND 40', { aggregate: 'sum', column: 'cost', where: { patientAge: { gte: 30, lte: 40 } } }],
  [health, 'visits', 'SELECT AVG(cost) FROM visits WHERE patientAge >= 65', { aggregate: 'mean', column: 'cost', where: { patientAge: { gte: 65 } } }],
  [health, 'visits', 'SELECT VARIANCE(lengthOfStay) FROM visits', { aggregate: 'variance', column: 'lengthOfStay' }],
  [health, 'visits', 'SELECT STDDEV(patientAge) FROM visits', { aggregate: 'stddev', column: 'patientAge' }],
  [health, 'visits', 'SELECT MEDIAN(cost) FROM visits', { aggregate: 'quantile', column: 'cost', q: 0.5 }],
  [health, 'visits', 'SELECT PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY cost) FROM visits', { aggregate: 'quantile', column: 'cost', q: 0.9 }],
  [health, 'visits', 'SELECT department, COUNT(*) FROM visits GROUP BY department', { aggregate: 'histogram', by: ['department'] }],
  [health, 'visits', 'SELECT sex, department, COUNT(*) FROM visits WHERE lengthOfStay >= 1 GROUP BY sex, department', { aggregate: 'histogram', by: ['sex', 'department'], where: { lengthOfStay: { gte: 1 } } }],
  [health, 'prescriptions', "SELECT SUM(quantity) FROM prescriptions WHERE drugClass = 'statin'", { aggregate: 'sum', column: 'quantity', where: { drugClass: { eq: 'statin' } } }],
  [census, 'adults', "SELECT AVG(age) FROM adults WHERE sex = 'Female'", { aggregate: 'mean', column: 'age', where: { sex: { eq: 'Female' } } }],
  [census, 'adults', 'SELECT race, COUNT(*) FROM adults GROUP BY race', { aggregate: 'histogram', by: ['race'] }],
  [justice, 'defendants', 'SELECT COUNT(*) FROM defendants WHERE priorsCount >= 3 AND priorsCount <= 3', { aggregate: 'count', where: { priorsCount: { eq: 3 } } }],
];

test('each statement with a GraphQL-field twin has the twin\'s plan key (one release for both)', () => {
  for (const [domain, dataset, sql, req] of TWINS) {
    for (const privacy of [undefined, { epsilon: 0.7 }]) {
      const viaSql = buildPlan(compileSql(domain, sql, privacy).spec);
      const viaField = planAggregate(domain, ds(domain, dataset), { ...req, privacy });
      assert.equal(viaSql.key, viaField.key, `${sql} (${JSON.stringify(privacy)})`);
      assert.deepEqual(viaSql.costs, viaField.costs, sql);
    }
  }
});

test('syntactic variants of one question share a key; different questions do not', () => {
  const key = (sql: string, d = health) => buildPlan(compileSql(d, sql).spec).key;
  const same = [
    "SELECT COUNT(*) FROM visits WHERE department = 'oncology' OR department = 'cardiology'",
    "SELECT COUNT(*) AS n FROM visits v WHERE v.department IN ('cardiology', 'oncology')",
    "SELECT COUNT(*) FROM (SELECT * FROM visits WHERE department IN ('oncology', 'cardiology')) x",
    "WITH x AS (SELECT department AS d FROM visits) SELECT COUNT(*) FROM x WHERE d = 'cardiology' OR d = 'oncology'",
  ];
  assert.equal(new Set(same.map((s) => key(s))).size, 1);
  // Post-processing is free and outside the plan: HAVING/ORDER BY/LIMIT reuse the release.
  assert.equal(key('SELECT department, COUNT(*) FROM visits GROUP BY department'), key('SELECT department, COUNT(*) AS n FROM visits GROUP BY department HAVING COUNT(*) > 10 ORDER BY n DESC LIMIT 3'));
  assert.equal(key('SELECT SUM(cost) / COUNT(*) FROM visits'), key('SELECT COUNT(*), SUM(cost) FROM visits'));
  const different = [
    "SELECT COUNT(*) FROM visits WHERE department = 'oncology'",
    "SELECT COUNT(*) FROM visits WHERE department <> 'oncology'",
    "SELECT COUNT(*) FROM visits v JOIN clinics c ON v.clinicId = c.id WHERE v.department = 'oncology'",
    "SELECT COUNT(*) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId WHERE v.department = 'oncology'",
    "SELECT COUNT(DISTINCT patientId) FROM visits WHERE department = 'oncology'",
  ];
  assert.equal(new Set(different.map((s) => key(s))).size, different.length);
});
