import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DpValue, ReleasedTable } from '../../src/core/release.js';
import { buildPlan } from '../../src/core/plan.js';
import { demoDomain } from '../../src/domain/registry.js';
import { compileSql } from '../../src/sql/compile.js';
import { answerTable } from '../../src/sql/post.js';

/**
 * Post-processing of a released table (no data, no noise: a hand-made release): select
 * expressions with first-order error bars, HAVING, ORDER BY, OFFSET/LIMIT, typed columns.
 */
const health = demoDomain('health');
const dp = (value: number, standardError: number): DpValue => ({ value, standardError, low: value - 2 * standardError, high: value + 2 * standardError, confidence: 0.95, errorScale: 'VALUE' });

function run(sql: string, rows: [string[], DpValue[]][]) {
  const compiled = compileSql(health, sql);
  const plan = buildPlan(compiled.spec);
  const table: ReleasedTable = { kind: 'table', groupBy: plan.groupBy.map((c) => c.name), columns: [], rows: rows.map(([key, values]) => ({ key, values })) };
  return { compiled, t: answerTable(compiled, table, plan.groupBy) };
}

test('HAVING, ORDER BY and LIMIT/OFFSET run on the released values', () => {
  // Aggregates are measured in canonical order: count(*) before sum(cost).
  const rows: [string[], DpValue[]][] = [
    [['cardiology'], [dp(500, 10), dp(100_000, 1000)]],
    [['general'], [dp(2000, 10), dp(300_000, 1000)]],
    [['oncology'], [dp(50, 10), dp(90_000, 1000)]],
    [['pediatrics'], [dp(900, 10), dp(80_000, 1000)]],
  ];
  const { t } = run('SELECT department, SUM(cost) / COUNT(*) AS per_visit, COUNT(*) AS n FROM visits GROUP BY department HAVING COUNT(*) > 60 ORDER BY per_visit DESC LIMIT 2 OFFSET 1', rows);
  assert.deepEqual(t.columns, [
    { name: 'department', type: 'TEXT', private: false },
    { name: 'per_visit', type: 'FLOAT', private: true },
    { name: 'n', type: 'INTEGER', private: true },
  ]);
  // per visit: cardiology 200, general 150, pediatrics 88.9; oncology dropped by HAVING; offset 1, limit 2.
  assert.deepEqual(t.rows.map((r) => r[0]!.value), ['general', 'pediatrics']);
  assert.deepEqual(t.keys, [['general'], ['pediatrics']]);
  const perVisit = t.rows[0]![1]!;
  assert.equal(perVisit.value, 150);
  // Delta method for a ratio of independent noises: sqrt((1000/2000)^2 + (300000 * 10 / 2000^2)^2).
  assert.ok(Math.abs(perVisit.standardError! - Math.hypot(1000 / 2000, (300_000 * 10) / 2000 ** 2)) < 1e-12);
  assert.ok(perVisit.low! < 150 && perVisit.high! > 150);
  assert.equal(t.rows[0]![0]!.standardError, null, 'public keys have no error bars');
});

test('ORDER BY position and key, NULL handling, integer keys typed', () => {
  const rows: [string[], DpValue[]][] = [
    [['0'], [dp(5, 1)]],
    [['2'], [dp(7, 1)]],
    [['1'], [dp(6, 1)]],
  ];
  const { t } = run('SELECT lengthOfStay, COUNT(*) FROM visits GROUP BY lengthOfStay ORDER BY 1 DESC', rows);
  assert.deepEqual(t.rows.map((r) => r[0]!.value), [2, 1, 0]);
  assert.equal(t.columns[0]!.type, 'INTEGER');
  const z = run('SELECT SUM(cost) / COUNT(*) FROM visits', [[[], [dp(0, 1), dp(10, 1)]]]).t;
  assert.equal(z.rows[0]![0]!.value, null, 'division by a zero noisy count is NULL, not Infinity');
});
