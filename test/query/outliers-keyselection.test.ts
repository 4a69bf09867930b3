import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateDomain } from '../../src/domain/declaration.js';
import { selectionDelta } from '../../src/dp/selection.js';
import { planAggregate } from '../../src/query/plan.js';
import { answerOn, exactOf, exactStat } from '../helpers/plan.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';

/** Regressions: one person's non-finite or huge value must not fail a query; key selection's delta holds. */
const domain = validateDomain({
  name: 'lab',
  title: 'Lab',
  description: 'Measurements, many per person.',
  owner: { team: 'Lab', contact: 'lab@example.org' },
  sensitivity: 'sensitive',
  policy: { defaultBudget: { epsilon: 10, delta: 1e-6 }, globalCap: { epsilon: 10, delta: 1e-6 }, maxEpsilonPerQuery: 5, defaultEpsilon: 1, defaultDelta: 1e-9 },
  datasets: [
    {
      name: 'readings',
      title: 'Readings',
      table: 'readings',
      description: 'One row per reading.',
      privacyUnit: 'person',
      contribution: { maxRowsPerUnit: 10, maxGroupsPerUnit: 3 },
      source: { kind: 'generated', generator: 'visits', rows: 1, seed: 1 },
      columns: [
        { name: 'person', type: 'id', description: 'Person id.' },
        { name: 'value', type: 'float', bounds: [-5, 5], granularity: 0.01, description: 'A reading.' },
        { name: 'city', type: 'categorical', description: 'City; no public list.' },
      ],
    },
  ],
});
const ds = domain.datasets[0]!;

describe('outliers and key selection', () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(domain, { dataDir: 'memory://' });
    await db.exec(`CREATE TABLE readings (person text, value double precision, city text)`);
    await db.exec(`INSERT INTO readings SELECT 'p' || (i % 50), (i % 7) - 3, 'c' || (i % 4) FROM generate_series(1, 500) i`);
    await db.exec(`INSERT INTO readings VALUES ('x', 'NaN', 'c1'), ('y', 'Infinity', 'c1'), ('z', '-Infinity', 'c2'), ('w', 1e300, 'c3'), ('v', 9.3e16, 'c3')`);
  });
  after(async () => db.close());

  test('NaN, +-Infinity and huge values are clamped in the database, never an error', async () => {
    for (const aggregate of ['sum', 'mean', 'variance', 'stddev', 'quantile'] as const) {
      const plan = planAggregate(domain, ds, { aggregate, column: 'value', q: 0.5, privacy: { epsilon: 1 } });
      const a = await answerOn(db, plan);
      assert.ok(a.kind === 'scalar' && Number.isFinite(a.value.value), aggregate);
    }
    const sum = planAggregate(domain, ds, { aggregate: 'sum', column: 'value', privacy: { epsilon: 1 } });
    const raw = await exactOf(db, sum);
    // Clean rows sum to a small number; the five outliers add at most 4 x 5 (clamped) - 5.
    assert.ok(Math.abs(Number(exactStat(raw, sum, 'sum')) * 0.01) <= 500 * 3 + 25);
  });

  test('key selection: one row per (unit, key), noise and threshold for that sensitivity, delta as declared', () => {
    for (const [epsilon, delta] of [[0.5, 1e-9], [1, 1e-6], [0.1, 1e-8]] as const) {
      const plan = planAggregate(domain, ds, { aggregate: 'histogram', by: ['city'], privacy: { epsilon, delta } });
      assert.equal(plan.contribution.groups!.perGroup, 1);
      assert.equal(plan.contribution.groups!.maxGroups, 3);
      const ks = plan.keySelection!;
      assert.equal(ks.mechanism.sensitivity, 3, 'l1 = maxGroups x 1');
      assert.ok(selectionDelta(ks.scale, ks.threshold, 3) <= delta, `delta at eps ${epsilon}`);
      assert.ok(Math.abs(ks.mechanism.scale - ks.scale) < 1e-12, 'noise is the one the threshold assumes');
    }
  });
});
