import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { pathToFileURL } from 'node:url';
import { fromRoot } from '../../src/paths.js';
import { BACKEND_NAME, type Backend, type BenchContext } from '../lib/context.js';
import { ensureHealth, health } from '../lib/datasets.js';
import { adminSetup, childEnv, cliDisplay, freePorts, gqlData, healthy, spawnReady, token, type CliChild } from '../lib/mesh.js';
import { cachedFlags, dpQuery, dpVariables, GRAPHQL_SHAPE, visits, type Agg } from '../lib/queries.js';
import type { Section, Table } from '../lib/report.js';
import { fmt, mb } from '../lib/stats.js';

/**
 * Section 4: memory of the health subgraph process while it answers DP queries over tables of
 * growing size. Aggregates are computed in the database, so Node's memory should not grow with the
 * table; on PGlite the database itself lives in the subgraph process.
 */
interface Mem {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}
interface Sample {
  current: Mem;
  peak: Mem;
  vmHwm: number | null;
  vmRss: number | null;
}
interface Point {
  backend: Backend;
  rows: number;
  idle: Sample;
  end: Sample;
  peakRss: number;
  queries: number;
  seconds: number;
}

const AGGS: Agg[] = ['count', 'sum', 'quantile', 'histogram'];
const PRINCIPAL = 'bench';

let nextId = 0;
function ask(child: ChildProcess, type: 'reset' | 'sample' | 'final'): Promise<Sample> {
  const id = ++nextId;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error('the memory probe did not answer'));
    }, 30_000);
    const onMessage = (m: { cdmBench?: string; id?: number } & Sample) => {
      if (m?.cdmBench !== 'sample' || m.id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.send({ cdmBench: type, id });
  });
}

export async function memorySection(ctx: BenchContext): Promise<Section> {
  const sizes = ctx.config.memory.sizes;
  const points: Point[] = [];
  const commands: string[] = [];
  if (sizes.pglite.length) points.push(...(await pgliteProcesses(ctx, sizes.pglite, commands)));
  if (sizes.postgres.length) points.push(...(await postgresOneProcess(ctx, sizes.postgres, commands)));
  return report(ctx, points, commands);
}

const probeUrl = () => pathToFileURL(fromRoot('dist', 'bench', 'memprobe.js')).href;
const NODE_ARGS = ['--expose-gc', '--import'];
const display = (env: string) => `${env} node --expose-gc --import ./dist/bench/memprobe.js ${cliDisplay.replace('node ', '')} subgraph health --port <free> --no-seed`;

/** A probed health subgraph on a free port, healthy (retried on other ports if one was taken). */
async function startProbed(ctx: BenchContext, env: Record<string, string>): Promise<{ child: CliChild; base: string }> {
  let base = '';
  const { child } = await spawnReady(ctx, 'health subgraph', async () => {
    const port = await freePorts(1);
    base = `http://127.0.0.1:${port}`;
    return { args: ['subgraph', 'health', '--port', String(port), '--no-seed'], env: childEnv(ctx, env), opts: { nodeArgs: [...NODE_ARGS, probeUrl()], ipc: true }, ready: healthy(base) };
  });
  return { child, base };
}

/** One measuring phase: GC and reset the peaks, answer the DP queries, GC again. */
async function phase(ctx: BenchContext, child: CliChild, url: string, analyst: string): Promise<Omit<Point, 'backend' | 'rows'>> {
  const idle = await ask(child.proc, 'reset');
  const t0 = performance.now();
  for (const a of AGGS) {
    const data = await gqlData(url, dpQuery(a), dpVariables(ctx.nextEpsilon()), analyst);
    if (cachedFlags(a, data).some(Boolean)) throw new Error('a memory-section answer was memoised');
    await ask(child.proc, 'sample');
  }
  const seconds = (performance.now() - t0) / 1000;
  const end = await ask(child.proc, 'final');
  return { idle, end, peakRss: end.vmHwm ?? end.peak.rss, queries: AGGS.length, seconds };
}

/** PGlite: the database lives inside the subgraph process, so each size needs its own process. */
async function pgliteProcesses(ctx: BenchContext, sizes: number[], commands: string[]): Promise<Point[]> {
  commands.push(display('CDM_DATA_DIR=<tmp>/pglite-<rows>'));
  const started: { rows: number; child: CliChild; base: string }[] = [];
  const points: Point[] = [];
  try {
    // Started together (start-up is not measured), then measured one at a time.
    const datasets = [];
    for (const rows of sizes) datasets.push(await ensureHealth(ctx, 'pglite', rows));
    const results = await Promise.allSettled(datasets.map((ds) => startProbed(ctx, ds.env)));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled') started.push({ rows: sizes[i]!, ...r.value });
    });
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const analyst = await token(ctx, PRINCIPAL);
    for (const { rows, child, base } of started) {
      ctx.log(`section 4: pglite ${rows.toLocaleString('en')} rows`);
      await adminSetup(ctx, `${base}/graphql`, PRINCIPAL);
      points.push({ backend: 'pglite', rows, ...(await phase(ctx, child, `${base}/graphql`, analyst)) });
      await child.stop();
    }
  } finally {
    for (const s of started) await s.child.stop();
  }
  return points;
}

/**
 * PostgreSQL: ONE subgraph process answers over every size in turn. It runs on the smallest
 * dataset's schema; between phases the bench moves the next size's \`visits\` table into that schema
 * (ALTER TABLE ... SET SCHEMA, a catalog change) and back afterwards, so process-to-process
 * differences cannot pass for an effect of the table size.
 */
async function postgresOneProcess(ctx: BenchContext, sizes: number[], commands: string[]): Promise<Point[]> {
  const sets = [];
  for (const rows of sizes) sets.push(await ensureHealth(ctx, 'postgres', rows));
  const home = sets[0]!;
  const homeSchema = home.options.schema!;
  const hold = `${health().databaseSchema}${ctx.suffix}_hold`;
  const table = visits().table;
  commands.push(display(`DATABASE_URL=${ctx.pgUrl} CDM_SCHEMA_SUFFIX=${home.env.CDM_SCHEMA_SUFFIX}`));
  const admin = new pg.Client({ connectionString: ctx.pgUrl });
  await admin.connect();
  const q = (id: string) => `"${id.replace(/"/g, '""')}"`;
  const move = async (from: string, to: string) => admin.query(`ALTER TABLE ${q(from)}.${q(table)} SET SCHEMA ${q(to)}`);
  const swap = async (steps: [string, string][]) => {
    await admin.query('BEGIN');
    try {
      for (const [from, to] of steps) await move(from, to);
      await admin.query('COMMIT');
    } catch (e) {
      await admin.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  };
  const points: Point[] = [];
  try {
    await admin.query(`CREATE SCHEMA IF NOT EXISTS ${q(hold)}`);
    const { child, base } = await startProbed(ctx, home.env);
    try {
      await adminSetup(ctx, `${base}/graphql`, PRINCIPAL);
      const analyst = await token(ctx, PRINCIPAL);
      for (const ds of sets) {
        ctx.log(`section 4: postgres ${ds.rows.toLocaleString('en')} rows (same process)`);
        const other = ds.options.schema!;
        if (ds !== home)
          await swap([
            [homeSchema, hold],
            [other, homeSchema],
          ]);
        try {
          points.push({ backend: 'postgres', rows: ds.rows, ...(await phase(ctx, child, `${base}/graphql`, analyst)) });
        } finally {
          if (ds !== home)
            await swap([
              [homeSchema, other],
              [hold, homeSchema],
            ]);
        }
      }
    } finally {
      await child.stop();
    }
  } finally {
    await admin.end().catch(() => undefined);
  }
  return points;
}

function report(ctx: BenchContext, points: Point[], commands: string[]): Section {
  const sizes = ctx.config.memory.sizes;
  const table: Table = {
    id: 'memory',
    caption: 'Table 4. Health subgraph process memory while answering DP queries (MB)',
    columns: ['backend', 'rows', 'RSS before (after GC)', 'peak RSS while answering', 'RSS growth while answering', 'peak heap used (sampled)', 'heap used after (after GC)', 'RSS after (after GC)', 'peak external (incl. WebAssembly memory)', 'DP answers', 'seconds answering'],
    rows: points.map((p) => [
      BACKEND_NAME[p.backend],
      p.rows.toLocaleString('en'),
      fmt(mb(p.idle.current.rss)),
      fmt(mb(p.peakRss)),
      fmt(mb(p.peakRss - p.idle.current.rss)),
      fmt(mb(p.end.peak.heapUsed)),
      fmt(mb(p.end.current.heapUsed)),
      fmt(mb(p.end.current.rss)),
      fmt(mb(p.end.peak.external)),
      String(p.queries),
      fmt(p.seconds),
    ]),
    chart: {
      title: 'Peak RSS of the health subgraph while answering',
      unit: 'MB',
      series: ['peak RSS'],
      rows: points.map((p) => ({ label: `${BACKEND_NAME[p.backend]} ${p.rows.toLocaleString('en')} rows`, values: [mb(p.peakRss)], note: `${fmt(mb(p.peakRss))} MB` })),
    },
  };
  const spread = (xs: number[]) => (Math.max(...xs) - Math.min(...xs)) / Math.min(...xs);
  const goals = (['pglite', 'postgres'] as Backend[])
    .filter((b) => points.filter((p) => p.backend === b).length >= 2)
    .map((b) => {
      const ps = points.filter((p) => p.backend === b);
      const rss = spread(ps.map((p) => p.peakRss));
      const live = spread(ps.map((p) => p.end.current.heapUsed));
      const heap = spread(ps.map((p) => p.end.peak.heapUsed));
      return {
        goal: `subgraph memory flat within 10% from ${ps[0]!.rows.toLocaleString('en')} to ${ps[ps.length - 1]!.rows.toLocaleString('en')} rows (${BACKEND_NAME[b]}: peak RSS while answering, and heap used after answering)`,
        measured: `peak RSS ${ps.map((p) => fmt(mb(p.peakRss))).join(' / ')} MB, spread ${fmt(100 * rss)}%; heap used after answering ${ps.map((p) => fmt(mb(p.end.current.heapUsed))).join(' / ')} MB, spread ${fmt(100 * live)}% (sampled peak heap ${ps.map((p) => fmt(mb(p.end.peak.heapUsed))).join(' / ')} MB, spread ${fmt(100 * heap)}%)`,
        met: rss <= 0.1 && live <= 0.1,
      };
    });
  const notes: string[] = [];
  for (const b of ['pglite', 'postgres'] as Backend[]) {
    const ps = points.filter((p) => p.backend === b);
    if (ps.length < 2) continue;
    const list = (f: (p: Point) => number) => ps.map((p) => fmt(mb(f(p)))).join(' / ');
    const sizesText = ps.map((p) => p.rows.toLocaleString('en')).join(' / ');
    notes.push(
      b === 'postgres'
        ? `${BACKEND_NAME[b]} (one process, ${sizesText} rows in turn): RSS before each phase (after a full GC) ${list((p) => p.idle.current.rss)} MB, peak while answering ${list((p) => p.peakRss)} MB (growth ${list((p) => p.peakRss - p.idle.current.rss)} MB), live heap after answering ${list((p) => p.end.current.heapUsed)} MB.`
        : `${BACKEND_NAME[b]} (one process per size, ${sizesText} rows): before any DP query, right after a full GC, the processes' RSS already differs by ${fmt(100 * spread(ps.map((p) => p.idle.current.rss)))}% (${list((p) => p.idle.current.rss)} MB), before anything was read from the table (the processes had only started, answered the health check and the admin mutations); while answering, RSS grows by ${list((p) => p.peakRss - p.idle.current.rss)} MB, and the live heap after answering is ${list((p) => p.end.current.heapUsed)} MB.`,
    );
  }
  const pgliteLargest = Math.max(0, ...sizes.pglite);
  const pgliteSeed = ctx.seeds.find((s) => s.backend === 'pglite' && s.rows === pgliteLargest);
  if (!ctx.config.tiny && pgliteSeed && !sizes.pglite.includes(Math.max(...sizes.postgres))) {
    const largest = Math.max(...sizes.postgres);
    notes.push(
      `${largest.toLocaleString('en')} rows run on PostgreSQL only: PGlite is too slow at that size for this 10-minute benchmark. Seeding ${pgliteLargest.toLocaleString('en')} rows into PGlite took ${fmt(pgliteSeed.seconds)} s in this run, so ${largest.toLocaleString('en')} rows would take about ${fmt((pgliteSeed.seconds * largest) / pgliteLargest)} s to seed, and the DP answers in section 1 grow linearly with the rows (PGlite runs single-threaded inside the subgraph process).`,
    );
  }
  notes.push(
    'On PostgreSQL the subgraph process holds only aggregates, so its memory does not depend on the table size. On PGlite the database engine runs inside the subgraph process (WebAssembly), so its RSS includes PostgreSQL\'s own buffers and sort memory; the heap column is Node\'s own share.',
  );
  return {
    number: 4,
    title: 'Memory of the subgraph',
    intro: [
      `The health subgraph runs as its own process (\`cdm subgraph health\`) with a small preloaded probe (bench/memprobe.ts) that samples \`process.memoryUsage()\` every 20 ms and reports over IPC. On PostgreSQL one process answers over every size in turn: it runs on the smallest dataset's schema, and between phases the benchmark moves the next size's \`visits\` table into that schema (\`ALTER TABLE ... SET SCHEMA\`, a catalog change, undone afterwards), so the sizes are compared within one process. On PGlite the database lives inside the subgraph process, so each size runs in its own process (started together, measured one at a time). Each phase answers one uncached DP request each of ${AGGS.map((a) => `\`${GRAPHQL_SHAPE[a]}\``).join(', ')} (filter \`patientAge >= 18\`, epsilon ≈ 0.1), straight to the subgraph with an analyst token. "Before" and "after" follow a full garbage collection (\`--expose-gc\`), so they are live memory; the peak RSS is the kernel's high-water mark (VmHWM), reset at the start of each phase, so it includes moments when the event loop is blocked; the sampled peak heap depends on when V8 happens to collect garbage, and a longer wait (a bigger table) leaves more time for garbage to accumulate, so it is shown but not used for the goal. Commands:`,
      commands.map((c) => `\`${c}\``).join('  \n'),
    ],
    tables: [table],
    notes,
    goals,
    seconds: 0,
  };
}
