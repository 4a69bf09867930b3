import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { seededRandom, useRandomSourceForTests } from '../../src/dp/random.js';
import { planAggregate } from '../../src/query/plan.js';
import { answerOf, type Answer } from '../../src/query/release.js';
import { releaseTable } from '../../src/core/release.js';
import { exactOf } from '../helpers/plan.js';
import type { AggregateRequest } from '../../src/query/types.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';

/**
 * Empirical error of each aggregate on the real Adult data, over 10,000 seeded releases of the same
 * exact statistics, against the theoretical standard error of its mechanism (within 5%).
 */
const REPS = 10_000;
const census = demoDomain('census');
const adults = census.datasets[0]!;

describe('accuracy on the real Adult data', { timeout: 120_000 }, () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(census, { dataDir: 'memory://' });
    await seedDomain(db, census);
    useRandomSourceForTests(seededRandom('accuracy-test'));
  });
  after(async () => {
    useRandomSourceForTests(null);
    await db.close();
  });

  async function releases(req: AggregateRequest) {
    const plan = planAggregate(census, adults, req);
    const raw = await exactOf(db, plan);
    const answers: Answer[] = [];
    for (let i = 0; i < REPS; i++) answers.push(answerOf(releaseTable(plan, raw)));
    const rows = (raw.stats ?? raw.q0 ?? []) as Record<string, string>[];
    return { plan, rows, answers };
  }
  const scalar = (a: Answer) => (a.kind === 'scalar' ? a.value : assert.fail('not scalar'));
  const rmse = (xs: number[], truth: number) => Math.sqrt(xs.reduce((s, x) => s + (x - truth) ** 2, 0) / xs.length);

  for (const [mechanism, privacy] of [
    ['LAPLACE', { epsilon: 0.5 }],
    ['GAUSSIAN', { epsilon: 0.5, delta: 1e-6 }],
  ] as const) {
    test(`count and sum (${mechanism}): empirical error within 5% of the mechanism's standard error`, async () => {
      for (const req of [
        { aggregate: 'count', privacy },
        { aggregate: 'countDistinct', privacy },
        { aggregate: 'sum', column: 'hoursPerWeek', privacy },
      ] as AggregateRequest[]) {
        const { rows, answers } = await releases(req);
        const exact = Number(Object.values(rows[0]!)[0]);
        const values = answers.map((a) => scalar(a).value);
        const se = scalar(answers[0]!).standardError;
        const ratio = rmse(values, exact) / se;
        assert.ok(Math.abs(ratio - 1) < 0.05, `${req.aggregate}: empirical/theoretical = ${ratio.toFixed(4)}`);
        // The 95% interval covers the exact value about 95% of the time (exact discrete intervals: >= 95%).
        const covered = answers.filter((a) => scalar(a).low <= exact && exact <= scalar(a).high).length / REPS;
        assert.ok(covered >= 0.94, `${req.aggregate}: coverage ${covered}`);
      }
    });
  }

  test('mean, variance and stddev: empirical error within 5% of the delta-method standard error', async () => {
    const [truth] = await db.query<{ mean: number; variance: number }>(`SELECT avg(age)::float8 AS mean, var_pop(age)::float8 AS variance FROM adults`);
    for (const [aggregate, exact] of [['mean', truth!.mean], ['variance', truth!.variance], ['stddev', Math.sqrt(truth!.variance)]] as const) {
      const { answers } = await releases({ aggregate, column: 'age', privacy: { epsilon: 0.05 } });
      const values = answers.map((a) => scalar(a).value);
      const se = values.length && answers.reduce((s, a) => s + scalar(a).standardError, 0) / REPS;
      const ratio = rmse(values, exact) / se;
      assert.ok(Math.abs(ratio - 1) < 0.05, `${aggregate}: empirical/theoretical = ${ratio.toFixed(4)}`);
    }
  });

  test('quantile: the chosen rank is within the published rank bound at least 95% of the time', async () => {
    const { rows, answers, plan: p } = await releases({ aggregate: 'quantile', column: 'age', q: 0.5, privacy: { epsilon: 0.1 } });
    const plan = { grid: p.quantiles[0]!.grid, quantile: p.quantiles[0]! };
    const counts = new Map(rows.map((r) => [Number(r.bin), Number(r.n)]));
    const n = [...counts.values()].reduce((a, b) => a + b, 0);
    const rankBelow = (value: number) => {
      let r = 0;
      for (const [bin, c] of counts) if (Number(plan.grid!.lo) + bin * Number(plan.quantile!.binWidth) < value) r += c;
      return r;
    };
    // The guarantee is relative to the best candidate on the public grid (ranks move by whole bins).
    const candidates = [...Array(plan.quantile!.bins).keys()].map((i) => Math.abs(rankBelow(Number(plan.grid!.lo) + i * Number(plan.quantile!.binWidth)) - 0.5 * n));
    const best = Math.min(...candidates);
    const within = answers.filter((a) => Math.abs(rankBelow(scalar(a).value) - 0.5 * n) - best <= scalar(a).high).length / REPS;
    assert.ok(within >= 0.95, `coverage of the rank bound: ${within}`);
    assert.equal(scalar(answers[0]!).errorScale, 'RANK');
  });

  test('histogram over public keys: every key, and per-bucket error within 5% of the standard error', async () => {
    const { rows, answers } = await releases({ aggregate: 'histogram', by: ['race'], privacy: { epsilon: 0.5 } });
    const exact = new Map(rows.map((r) => [r.k0!, Number(r.s0)]));
    const first = answers[0]!;
    assert.ok(first.kind === 'histogram');
    assert.deepEqual(first.buckets.map((b) => b.key[0]), ['Amer-Indian-Eskimo', 'Asian-Pac-Islander', 'Black', 'Other', 'White']);
    const errors: number[] = [];
    for (const a of answers) if (a.kind === 'histogram') for (const b of a.buckets) errors.push(b.count.value - (exact.get(b.key[0]!) ?? 0));
    const ratio = rmse(errors, 0) / first.buckets[0]!.count.standardError;
    assert.ok(Math.abs(ratio - 1) < 0.05, `histogram: empirical/theoretical = ${ratio.toFixed(4)}`);
  });
});
