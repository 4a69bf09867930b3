import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { demoDomain } from '../../src/domain/registry.js';
import { planAggregate } from '../../src/query/plan.js';
import { answerOf, type Answer } from '../../src/query/release.js';
import { releaseTable } from '../../src/core/release.js';
import { exactOf, exactStat } from '../helpers/plan.js';
import type { AggregateRequest } from '../../src/query/types.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, quoteIdent, type DomainDatabase } from '../../src/storage/database.js';
import { PG_URL, requirePostgres } from '../helpers/mesh.js';

/**
 * Issue 3, "Done when": the same DP query over 100k and 1M rows of generated health visits
 * differs in Node heap by less than a few MB. The rows live in the local PostgreSQL (a unique
 * schema, dropped at the end), so the database's own memory is outside Node; the query takes the
 * production path (planAggregate -> statementsFor -> db.query -> releaseTable).
 *
 * Measure: after a warm-up (once, at 100k) and a full GC, the peak of heapUsed sampled every 2 ms
 * while the queries run, minus the heap before; the largest over a few repetitions per size. The
 * sampler is checked against a query that does pull rows into Node (it must see that growth), so a
 * flat result means flat memory, not a blind instrument.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MB = 1024 * 1024;
const health = demoDomain('health');
const visits = health.datasets.find((d) => d.name === 'visits')!;
const REQUESTS: AggregateRequest[] = [
  { aggregate: 'mean', column: 'cost', privacy: { epsilon: 1 } },
  { aggregate: 'histogram', by: ['department'], privacy: { epsilon: 1 } },
];
/** Repetitions per size (a 1M run takes several seconds of PostgreSQL time). */
const REPS = { small: 3, large: 2 };

async function peakHeapDuring(fn: () => Promise<unknown>): Promise<number> {
  gc();
  gc();
  const base = process.memoryUsage().heapUsed;
  let peak = base;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 2);
  try {
    await fn();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  } finally {
    clearInterval(timer);
  }
  return peak - base;
}
const mb = (x: number) => `${(x / MB).toFixed(2)} MB`;

describe('memory stays flat as the table grows (PostgreSQL)', { timeout: 240_000 }, () => {
  let db: DomainDatabase;
  const schema = `cdm_health_mem_${randomBytes(4).toString('hex')}`;
  before(async () => {
    await requirePostgres();
    process.env.CDM_QUIET = '1'; // no seeding progress lines in the test report
    db = await openDomainDatabase(health, { url: PG_URL, schema });
  });
  after(async () => {
    if (!db) return;
    await db.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`).catch(() => undefined);
    await db.close();
  });

  /** One DP release per request, the way the engine answers it; returns the exact row counts seen. */
  async function answerAll(keep: Answer[]): Promise<number> {
    let boundedRows = 0;
    for (const req of REQUESTS) {
      const plan = planAggregate(health, visits, req);
      const raw = await exactOf(db, plan);
      if (req.aggregate === 'mean') boundedRows = Number(exactStat(raw, plan, 'count'));
      keep.push(answerOf(releaseTable(plan, raw)));
    }
    return boundedRows;
  }

  async function measure(rows: number, warmUp: boolean, reps: number) {
    const t0 = performance.now();
    const seeded = await seedDomain(db, health, { rows: { visits: rows } });
    const seedMs = performance.now() - t0;
    assert.equal(seeded.find((s) => s.dataset === 'visits')!.rows, rows);
    const [{ n }] = (await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(schema)}."visits"`)) as [{ n: string }];
    assert.equal(Number(n), rows);
    const keep: Answer[] = [];
    if (warmUp) await answerAll([]); // code paths compiled, pool connected
    const peaks: number[] = [];
    let boundedRows = 0;
    const started = performance.now();
    for (let i = 0; i < reps; i++) peaks.push(await peakHeapDuring(async () => (boundedRows = await answerAll(keep))));
    const ms = (performance.now() - started) / reps;
    assert.equal(keep.length, reps * REQUESTS.length);
    const histogram = keep[1]!;
    assert.ok(histogram.kind === 'histogram' && histogram.buckets.length === 8);
    return { rows, boundedRows, peak: Math.max(...peaks), peaks, ms, seedMs };
  }

  test('the same DP query over 100k and 1M rows differs in peak Node heap by < 5 MB', async () => {
    const small = await measure(100_000, true, REPS.small);
    // The instrument sees row-proportional memory: pulling the 100k raw costs into Node shows up.
    const pulled = await peakHeapDuring(async () => {
      const rows = await db.query<{ cost: number }>(`SELECT patient_id, cost FROM ${quoteIdent(schema)}."visits"`);
      assert.equal(rows.length, 100_000);
    });
    assert.ok(pulled > 5 * MB, `pulling 100k rows into Node raised the heap by only ${mb(pulled)}: the sampler cannot see growth`);

    const large = await measure(1_000_000, false, REPS.large);
    // The 1M query really read ten times the data (bounded rows scale with the table).
    assert.ok(large.boundedRows > 5 * small.boundedRows, `bounded rows ${small.boundedRows} -> ${large.boundedRows}`);
    const diff = large.peak - small.peak;
    const report = `100k: ${mb(small.peak)} (${small.peaks.map(mb).join(', ')}; ${small.ms.toFixed(0)} ms per run, seeded in ${small.seedMs.toFixed(0)} ms), 1M: ${mb(large.peak)} (${large.peaks.map(mb).join(', ')}; ${large.ms.toFixed(0)} ms per run, seeded in ${large.seedMs.toFixed(0)} ms); rows pulled into Node: ${mb(pulled)}`;
    console.log(`peak heap above baseline during the DP queries: ${report}`);
    assert.ok(Math.abs(diff) < 5 * MB, `peak heap grew by ${mb(diff)} from 100k to 1M rows: ${report}`);
  });
});
