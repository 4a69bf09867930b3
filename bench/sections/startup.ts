import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { ensureHealth } from '../lib/datasets.js';
import { childEnv, cliDisplay, freePorts, gql, meAnswers, spawnReady, token } from '../lib/mesh.js';
import type { Goal, Section, Table } from '../lib/report.js';
import { fmt } from '../lib/stats.js';

/**
 * Section 6: start-up. Time from spawning `node dist/src/cli/main.js start` (what `npm start` runs
 * after building) to the gateway answering a query it plans onto a subgraph, on a fresh temporary
 * data directory (create the databases, migrate, seed) and again on the same, now seeded, directory.
 * Tiny mode (the harness test) instead starts only the health domain once, --no-seed, on section 1's
 * tiny PostgreSQL dataset: creating a PGlite database costs seconds of CPU per domain.
 */
interface Start {
  /** first: empty data directory; restart: the same directory, seeded. */
  kind: 'first' | 'restart';
  label: string;
  seconds: number;
  reported: string;
}

export async function startupSection(ctx: BenchContext): Promise<Section> {
  const tiny = ctx.config.startup.tiny;
  const dataDir = join(ctx.tmp, 'startup');
  const dbEnv = tiny ? (await ensureHealth(ctx, 'postgres', tiny.rows)).env : { CDM_DATA_DIR: dataDir };
  mkdirSync(dataDir, { recursive: true });
  const sub = 'bench';
  const bearer = await token(ctx, sub);
  const cases = tiny
    ? ['tiny: existing health database on PostgreSQL, --no-seed']
    : ['empty data directory (first start: create, migrate and seed every database)', 'seeded data directory (restart: the seed is unchanged and skipped)'];
  const runs: Start[] = [];
  let command = '';
  for (const label of cases) {
    let args: string[] = [];
    const first = label === cases[0] && !tiny;
    const { child, readyAt } = await spawnReady(
      ctx,
      'gateway',
      async () => {
        const gatewayPort = await freePorts(1);
        const subgraphPort = await freePorts(4);
        args = ['start', '--port', String(gatewayPort), '--subgraph-port', String(subgraphPort), ...(tiny ? ['--domains', 'health', '--no-seed'] : [])];
        ctx.log(`section 6: ${label}`);
        const url = `http://127.0.0.1:${gatewayPort}/graphql`;
        // `me` is planned onto the census subgraph; with only health running, ask health's catalog.
        const ready = tiny ? async () => (await gql(url, '{ health { info { name } } }', undefined, bearer)).data?.health?.info?.name === 'health' : meAnswers(url, bearer, sub);
        return { args, env: childEnv(ctx, dbEnv), opts: { nodeArgs: ['--experimental-wasm-modules'] }, ready };
      },
      () => {
        // A port was taken by another process: the first start begins again from an empty directory.
        if (first) {
          rmSync(dataDir, { recursive: true, force: true });
          mkdirSync(dataDir, { recursive: true });
        }
      },
    );
    try {
      command = `${tiny ? Object.entries(dbEnv).map(([k, v]) => `${k}=${v}`).join(' ') : 'CDM_DATA_DIR=<tmp>/startup'} CDM_JWT_SECRET=<per-run> node --experimental-wasm-modules ${cliDisplay.replace('node ', '')} ${args.join(' ')}`;
      const reported = /is up in ([\d.]+)s/.exec(child.output())?.[1] ?? 'n/a';
      runs.push({ kind: first ? 'first' : 'restart', label, seconds: (readyAt - child.startedAt) / 1000, reported });
    } finally {
      await child.stop();
    }
  }
  const table: Table = {
    id: 'startup',
    caption: 'Table 6. Start-up: from spawning `cdm start` to the gateway\'s first answer (seconds)',
    columns: ['case', 'seconds to first answer', '"is up in" printed by cdm start'],
    rows: runs.map((r) => [r.label, fmt(r.seconds), r.reported === 'n/a' ? '—' : `${r.reported} s`]),
    chart: { title: 'Start-up to first answer', unit: 'seconds', series: ['seconds'], rows: runs.map((r) => ({ label: r.label.split(' (')[0]!, values: [r.seconds], note: `${fmt(r.seconds)} s` })) },
  };
  return {
    number: 6,
    title: 'Start-up',
    intro: [
      `Command, ${tiny ? 'once (tiny mode, on PostgreSQL)' : 'twice on the same temporary data directory (embedded PGlite)'}, with free ports: \`${command}\`. \`npm start\` runs this after \`npm run build\` (the build is not timed). The clock starts when the process is spawned and stops when the gateway answers ${tiny ? '`{ health { info { name } } }`' : '`{ me { id } }`'} for a valid token (polled every 50 ms); the query reaches a subgraph, and \`cdm start\` starts the gateway only once every subgraph is healthy.${tiny ? '' : ' All four demo domains start, one process each; the first start creates each domain\'s PGlite database, applies the migrations and loads the demo data (census 30,162 rows, health 200,000 generated rows, justice 6,167 rows, reference 40 rows).'}`,
    ],
    tables: [table],
    notes: [
      'Both cases pay for starting one Node process per subgraph (module loading, opening PGlite, checking migrations, building the schema) plus the gateway; the first start on an empty directory additionally creates each PGlite database (initdb inside WebAssembly) and loads the demo data.',
    ],
    goals: startupGoals(runs, !!tiny),
    seconds: 0,
  };
}

const GOAL_SECONDS = { first: 20, restart: 8 };

/** The issue's start-up goals; tiny mode has only a restart-like start (existing database, no seeding). */
function startupGoals(runs: Start[], tiny: boolean): Goal[] {
  const goal = (kind: Start['kind'], what: string): Goal => {
    const r = runs.find((x) => x.kind === kind);
    return {
      goal: `${what} <= ${GOAL_SECONDS[kind]} s to the gateway's first answer`,
      measured: r ? `${fmt(r.seconds)} s (${r.label}${r.reported !== 'n/a' ? `; \`cdm start\` printed "is up in ${r.reported}s"` : ''})` : 'not measured',
      met: r !== undefined && r.seconds <= GOAL_SECONDS[kind],
    };
  };
  const restart = goal('restart', tiny ? 'restart (tiny: one domain on an existing PostgreSQL database)' : 'restart on a seeded embedded data directory (every demo domain)');
  return tiny ? [restart] : [goal('first', 'first start on an empty embedded data directory (every demo domain)'), restart];
}
