#!/usr/bin/env node
/**
 * `npm run bench`: the benchmark suite of confidential-mesh (issue 6). Builds nothing itself (the
 * npm script builds first); seeds what it needs in a temporary directory and in PostgreSQL schemas
 * named after a per-run suffix (dropped at the end), measures, and writes REPORT.md plus one SVG
 * chart per table into the output directory (default: bench/).
 *
 *   node dist/bench/run.js [--tiny] [--out <dir>] [--sections 1,2,3,4,5,6]
 *
 * --tiny runs every section at toy sizes (the harness test uses it; its numbers mean nothing).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem, type, release, arch, availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fromRoot } from '../src/paths.js';
import { configFor, createContext, BACKEND_NAME, type BenchContext } from './lib/context.js';
import { dropRunSchemas, postgresVersion } from './lib/datasets.js';
import { stopGroup } from './lib/mesh.js';
import { writeReport, type Section } from './lib/report.js';
import { fmt } from './lib/stats.js';
import { accountantSection } from './sections/accountant.js';
import { accuracySection } from './sections/accuracy.js';
import { latencySection } from './sections/latency.js';
import { memorySection } from './sections/memory.js';
import { overheadSection } from './sections/overhead.js';
import { startupSection } from './sections/startup.js';

process.env.APOLLO_TELEMETRY_DISABLED = '1';
process.env.CDM_QUIET = '1';

interface Args {
  tiny: boolean;
  out: string;
  sections: number[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { tiny: false, out: fromRoot('bench'), sections: [1, 2, 3, 4, 5, 6] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--tiny') args.tiny = true;
    else if (a === '--out') args.out = resolve(argv[++i] ?? '.');
    else if (a === '--sections') args.sections = (argv[++i] ?? '').split(',').map(Number).filter((n) => n >= 1 && n <= 6);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/bench/run.js [--tiny] [--out <dir>] [--sections 1,2,3,4,5,6]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return args;
}

const TITLES: Record<number, string> = {
  1: 'DP aggregate vs raw SQL',
  2: 'Stack overhead: memoised DP answer vs a trivial field',
  3: 'Accountant throughput and overspend',
  4: 'Memory of the subgraph',
  5: 'Accuracy',
  6: 'Start-up',
};
const RUNNERS: Record<number, (ctx: BenchContext) => Promise<Section>> = {
  1: latencySection,
  2: overheadSection,
  3: accountantSection,
  4: memorySection,
  5: accuracySection,
  6: startupSection,
};
/** Execution order: section 5 reuses section 1's smallest PGlite dataset, 2 and 4 its databases. */
const ORDER = [1, 5, 2, 4, 3, 6];

async function runSection(ctx: BenchContext, n: number): Promise<Section> {
  const t0 = performance.now();
  const load = loadavg()[0]!;
  ctx.log(`section ${n}: ${TITLES[n]}`);
  try {
    const s = await RUNNERS[n]!(ctx);
    s.seconds = (performance.now() - t0) / 1000;
    s.load = load;
    ctx.log(`section ${n} done in ${s.seconds.toFixed(1)} s`);
    return s;
  } catch (e) {
    const err = e as Error;
    ctx.log(`section ${n} FAILED: ${err.stack ?? err.message}`);
    return { number: n, title: TITLES[n]!, intro: [], tables: [], notes: [], goals: [], seconds: (performance.now() - t0) / 1000, load, error: err.message.split('\n')[0]! };
  }
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: fromRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

async function machine(ctx: BenchContext): Promise<[string, string][]> {
  const cpu = cpus();
  let osName = `${type()} ${release()} ${arch()}`;
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    if (pretty) osName = `${pretty} (${osName})`;
  } catch {
    /* not Linux */
  }
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(fromRoot('node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'unknown';
    }
  };
  let pgv = 'unreachable';
  try {
    pgv = await postgresVersion(ctx);
  } catch (e) {
    pgv = `unreachable (${(e as Error).message})`;
  }
  const commit = git(['rev-parse', '--short', 'HEAD']);
  const dirty = git(['status', '--porcelain']);
  return [
    ['OS', osName],
    ['CPUs', `${cpu.length} × ${cpu[0]?.model ?? 'unknown'} (available parallelism ${availableParallelism()})`],
    ['memory', `${fmt(totalmem() / 2 ** 30)} GiB total, ${fmt(freemem() / 2 ** 30)} GiB free at the start`],
    ['Node.js', process.version],
    ['PostgreSQL server', `${pgv} at ${ctx.pgUrl.replace(/\/\/[^@]*@/, '//')}`],
    ['PGlite', `@electric-sql/pglite ${pkg('@electric-sql/pglite')} (in process, WebAssembly)`],
    ['gateway / load generator', `@apollo/gateway ${pkg('@apollo/gateway')}, @apollo/server ${pkg('@apollo/server')}, @graphql-hive/gateway ${pkg('@graphql-hive/gateway')} (section 2's second router), autocannon ${pkg('autocannon')}`],
    ['code', commit ? `commit ${commit}${dirty ? ' plus uncommitted changes in the working tree' : ''}` : 'not a git checkout'],
  ];
}

async function cleanup(ctx: BenchContext): Promise<void> {
  for (const child of ctx.children) if (child.pid) await stopGroup(child.pid).catch(() => undefined);
  ctx.children.clear();
  try {
    const dropped = await dropRunSchemas(ctx);
    if (dropped.length) ctx.log(`dropped ${dropped.length} PostgreSQL schema(s) of this run`);
  } catch (e) {
    ctx.log(`could not drop this run's PostgreSQL schemas (*${ctx.suffix}*): ${(e as Error).message}`);
  }
  rmSync(ctx.tmp, { recursive: true, force: true });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const config = configFor(args.tiny);
  const ctx = createContext(config);
  const loadBefore = loadavg();
  let cleaning: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    cleaning ??= cleanup(ctx).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('unhandledRejection', (e) => {
    ctx.log(`unhandled rejection: ${(e as Error)?.stack ?? String(e)}`);
    process.exitCode = 1;
  });
  ctx.log(`${args.tiny ? 'tiny' : 'full'} run, sections ${args.sections.join(',')}, temporary files in ${ctx.tmp}, schemas *${ctx.suffix}*`);
  const sections: Section[] = [];
  let info: [string, string][] = [];
  try {
    info = await machine(ctx);
    for (const n of ORDER) if (args.sections.includes(n)) sections.push(await runSection(ctx, n));
  } finally {
    if (!cleaning) await cleanup(ctx);
  }
  sections.sort((a, b) => a.number - b.number);
  const seeds = ctx.seeds.map((s) => `${BACKEND_NAME[s.backend]} ${s.rows.toLocaleString('en')} rows in ${fmt(s.seconds)} s`).join('; ');
  const invoked = process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`.trim();
  const path = writeReport(
    args.out,
    {
      title: 'confidential-mesh benchmark report',
      date: new Date().toISOString(),
      machine: [...info, ['datasets seeded for this run (health.visits, seeded generator)', seeds || 'none']],
      commands: [
        invoked,
        ...(invoked === 'npm run bench' ? ['# = npm run build && APOLLO_TELEMETRY_DISABLED=1 node dist/bench/run.js' + (process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : '')] : []),
        '# each section below lists the processes it starts; tokens are HS256 with a per-run secret',
      ],
      mode: args.tiny ? 'TINY mode: toy sizes for the harness test, the numbers mean nothing' : 'full mode',
      totalSeconds: (performance.now() - ctx.started) / 1000,
      loadBefore,
      loadAfter: loadavg(),
    },
    sections,
  );
  ctx.log(`report written to ${path}`);
  if (sections.some((s) => s.error)) process.exitCode = 1;
}

main().catch((e: Error) => {
  process.stderr.write(`${e.stack ?? e.message}\n`);
  process.exit(1);
});
