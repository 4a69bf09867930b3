import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildPlan } from '../../src/core/plan.js';
import { demoDomain } from '../../src/domain/registry.js';
import { MeshError } from '../../src/errors.js';
import { explainPlan } from '../../src/query/engine.js';
import { compileSql } from '../../src/sql/compile.js';

/**
 * The DP SQL corpus (test/sql/corpus.json): statements analysts write against the demo domains,
 * each with its expected plan (datasets, contribution after bounding, keys, every measurement's
 * statistic, column, L1/L2 sensitivity and mechanism, the privacy costs) or its exact refusal
 * (message and position). Planning reads no data, so this runs without a database.
 */
type Entry = { domain: string; sql: string; plan?: Record<string, unknown>; refused?: string; position?: number | null };
const corpus = JSON.parse(readFileSync(new URL('../../../test/sql/corpus.json', import.meta.url), 'utf8')) as Entry[];

function planOf(e: Entry) {
  const c = compileSql(demoDomain(e.domain), e.sql);
  const p = buildPlan(c.spec);
  const x = explainPlan(p);
  return {
    datasets: x.datasets,
    keys: x.keys,
    groupBy: x.groupBy,
    contribution: x.contribution,
    outputs: c.outputs.map((o) => o.name),
    measurements: x.measurements.map((m) => [m.statistic, m.column, m.l1Sensitivity, m.l2Sensitivity, m.mechanism]),
    // Without the request annotation (`asked`, src/dp/cost.ts): the corpus records the mechanisms.
    costs: x.costs.map(({ asked: _asked, ...c }: { asked?: unknown }) => c),
    epsilon: p.epsilon,
    delta: p.delta,
  };
}

test('the corpus is large and covers every demo domain, accepted and refused', () => {
  assert.ok(corpus.length >= 150, `${corpus.length} statements`);
  assert.ok(corpus.filter((e) => e.refused).length >= 60);
  assert.ok(corpus.filter((e) => e.plan).length >= 100);
  for (const d of ['health', 'census', 'justice']) assert.ok(corpus.some((e) => e.domain === d && e.plan) && corpus.some((e) => e.domain === d && e.refused), d);
});

test('every accepted statement compiles to its expected plan', () => {
  for (const e of corpus.filter((x) => x.plan)) assert.deepEqual(planOf(e), e.plan, e.sql);
});

test('every refused statement is refused with BAD_USER_INPUT, its message and position, before planning reads anything', () => {
  for (const e of corpus.filter((x) => x.refused)) {
    assert.throws(
      () => planOf(e),
      (err: unknown) => {
        assert.ok(err instanceof MeshError, `${e.sql}: ${String(err)}`);
        assert.equal(err.extensions.code, 'BAD_USER_INPUT', e.sql);
        assert.equal(err.message, e.refused, e.sql);
        assert.equal(err.extensions.position ?? null, e.position ?? null, e.sql);
        return true;
      },
      e.sql,
    );
  }
});

test('sensitivities follow the contribution bound: a count moves by the rows a unit keeps, a distinct count by its groups', () => {
  for (const e of corpus.filter((x) => x.plan)) {
    const p = e.plan as { contribution: { rowsPerUnit: number; groupsPerUnit: number | null }; keys: string; measurements: [string, string | null, number][] };
    for (const [statistic, column, l1] of p.measurements) {
      if (statistic === 'count' && column === null) assert.equal(l1, p.contribution.rowsPerUnit, e.sql);
      if (statistic === 'units') assert.equal(l1, p.contribution.groupsPerUnit ?? 1, e.sql);
    }
  }
});

test('refusals name the construct and where it is', () => {
  const refusedWithPosition = corpus.filter((e) => e.refused && e.position != null);
  assert.ok(refusedWithPosition.length / corpus.filter((e) => e.refused).length > 0.9);
  for (const e of refusedWithPosition) assert.match(e.refused!, new RegExp(`\\(at position ${e.position}\\)\\.$`), e.sql);
});
