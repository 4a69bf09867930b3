import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { ensureHealth } from '../lib/datasets.js';
import { childEnv, cliDisplay, freePorts, gql, meAnswers, spawnCli, token, waitFor } from '../lib/mesh.js';
import type { Section, Table } from '../lib/report.js';
import { fmt } from '../lib/stats.js';

/**
 * Section 6: start-up. Time from spawning `node dist/src/cli/main.js start` (what `npm start` runs
 * after building) to the gateway answering a query it plans onto a subgraph, on a fresh temporary
 * data directory (create the databases, migrate, seed) and again on the same, now seeded, directory.
 * Tiny mode (the harness test) instead starts only the health domain twice on section 1's tiny
 * PGlite directory with --no-seed: creating a PGlite database costs seconds per domain.
 */
interface Start {
  label: string;
  seconds: number;
  reported: string;
}

export async function startupSection(ctx: BenchContext): Promise<Section> {
  const tiny = ctx.config.startup.tiny;
  const dataDir = tiny ? (await ensureHealth(ctx, 'pglite', tiny.rows)).env.CDM_DATA_DIR! : join(ctx.tmp, 'startup');
  mkdirSync(dataDir, { recursive: true });
  const sub = 'bench';
  const bearer = await token(ctx, sub);
  const cases = tiny
    ? ['tiny: existing health database, --no-seed']
    : ['empty data directory (first start: create, migrate and seed every database)', 'seeded data directory (restart: the seed is unchanged and skipped)'];
  const runs: Start[] = [];
  let command = '';
  for (const label of cases) {
    const gatewayPort = await freePorts(1);
    const subgraphPort = await freePorts(4);
    const args = ['start', '--port', String(gatewayPort), '--subgraph-port', String(subgraphPort), ...(tiny ? ['--domains', 'health', '--no-seed'] : [])];
    command = `CDM_DATA_DIR=<tmp>/${dataDir.split('/').pop()} CDM_JWT_SECRET=<per-run> node --experimental-wasm-modules ${cliDisplay.replace('node ', '')} ${args.join(' ')}`;
    ctx.log(`section 6: ${label}`);
    const url = `http://127.0.0.1:${gatewayPort}/graphql`;
    // `me` is planned onto the census subgraph; with only health running, ask health's catalog.
    const probe = tiny ? async () => (await gql(url, '{ health { info { name } } }', undefined, bearer)).data?.health?.info?.name === 'health' : meAnswers(url, bearer, sub);
    const child = spawnCli(ctx, args, childEnv(ctx, { CDM_DATA_DIR: dataDir }), { nodeArgs: ['--experimental-wasm-modules'] });
    try {
      const ready = await waitFor('gateway', probe, child, 300_000, 50);
      const reported = /is up in ([\d.]+)s/.exec(child.output())?.[1] ?? 'n/a';
      runs.push({ label, seconds: (ready - child.startedAt) / 1000, reported });
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
      `Command, ${tiny ? 'once (tiny mode)' : 'twice on the same temporary data directory'} (embedded PGlite), with free ports: \`${command}\`. \`npm start\` runs this after \`npm run build\` (the build is not timed). The clock starts when the process is spawned and stops when the gateway answers ${tiny ? '`{ health { info { name } } }`' : '`{ me { id } }`'} for a valid token (polled every 50 ms); the query reaches a subgraph, and \`cdm start\` starts the gateway only once every subgraph is healthy.${tiny ? '' : ' All four demo domains start, one process each; the first start creates each domain\'s PGlite database, applies the migrations and loads the demo data (census 30,162 rows, health 200,000 generated rows, justice 6,167 rows, reference 40 rows).'}`,
    ],
    tables: [table],
    notes: [
      'Both cases pay for starting one Node process per subgraph (module loading, opening PGlite, checking migrations, building the schema) plus the gateway; the first start on an empty directory additionally creates each PGlite database (initdb inside WebAssembly) and loads the demo data.',
    ],
    goals: [],
    seconds: 0,
  };
}
