import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { demoDomain } from '../../src/domain/registry.js';
import { fromRoot } from '../../src/paths.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, quoteIdent, type DatabaseOptions, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import type { Backend, BenchContext } from './context.js';

/**
 * The health domain's `visits` dataset at a given size, seeded once per run with the deterministic
 * generator (src/seed), on PGlite (a directory under the run's temporary folder) or PostgreSQL (a
 * schema whose name carries the run's unique suffix). The same database serves in-process
 * subgraphs (DatabaseOptions) and child processes (environment variables).
 */
export interface HealthDataset {
  backend: Backend;
  rows: number;
  options: DatabaseOptions;
  /** Environment for `cdm subgraph health` / `cdm start` to open this same database. */
  env: Record<string, string>;
  seedSeconds: number;
  /** The schema, when the dataset is kept across runs (ensurePersistentHealth). */
  persistent?: string;
  /** Epsilons unique to this run (a persistent dataset's memo remembers earlier runs' plans). */
  nextEpsilon?: () => number;
}

export const health = () => demoDomain('health');
const cache = new Map<string, HealthDataset>();

export function datasetLocation(ctx: BenchContext, backend: Backend, rows: number): Pick<HealthDataset, 'options' | 'env'> {
  if (backend === 'pglite') {
    const dir = join(ctx.tmp, `pglite-${rows}`);
    return { options: { dataDir: join(dir, 'health') }, env: { CDM_DATA_DIR: dir } };
  }
  const suffix = `${ctx.suffix}_${rows}`;
  return { options: { url: ctx.pgUrl, schema: `${health().databaseSchema}${suffix}` }, env: { DATABASE_URL: ctx.pgUrl, CDM_SCHEMA_SUFFIX: suffix } };
}

export async function ensureHealth(ctx: BenchContext, backend: Backend, rows: number): Promise<HealthDataset> {
  const key = `${backend}:${rows}`;
  const known = cache.get(key);
  if (known) return known;
  const loc = datasetLocation(ctx, backend, rows);
  ctx.log(`seeding health.visits with ${rows.toLocaleString('en')} rows on ${backend}`);
  const t0 = performance.now();
  const db = await openDomainDatabase(health(), loc.options);
  try {
    await migrate(db);
    await seedDomain(db, health(), { rows: { visits: rows } });
  } finally {
    await db.close();
  }
  const seedSeconds = (performance.now() - t0) / 1000;
  ctx.seeds.push({ backend, rows, seconds: seedSeconds });
  ctx.log(`seeded ${rows.toLocaleString('en')} rows on ${backend} in ${seedSeconds.toFixed(1)} s`);
  const ds = { backend, rows, ...loc, seedSeconds };
  cache.set(key, ds);
  return ds;
}

export async function openHealth(ds: HealthDataset): Promise<DomainDatabase> {
  return openDomainDatabase(health(), ds.options);
}

/**
 * A PostgreSQL dataset kept ACROSS runs (the 10M-row point: seeding it takes minutes), in schema
 * `cdm_bench_<size>` (e.g. cdm_bench_10m). The schema's comment records the fingerprint of what
 * made it (row count, the health.visits declaration, the compiled seeder and rank code); a schema
 * whose comment differs (or that a seed left unfinished) is dropped and seeded again. Never
 * dropped by the run's cleanup (its name lacks the run suffix): `DROP SCHEMA cdm_bench_10m CASCADE`.
 */
export const persistentSchema = (rows: number) => `cdm_bench_${rows >= 1_000_000 ? `${rows / 1_000_000}m` : rows >= 1000 ? `${rows / 1000}k` : rows}`;

function persistentFingerprint(rows: number): string {
  const h = createHash('sha256').update(JSON.stringify({ layout: 1, rows, visits: health().datasets.find((d) => d.name === 'visits') }));
  const seedDir = fromRoot('dist', 'src', 'seed');
  for (const f of readdirSync(seedDir).filter((f) => f.endsWith('.js')).sort()) h.update(f).update(readFileSync(join(seedDir, f)));
  return `cdm-bench ${h.digest('hex').slice(0, 32)}`;
}

export async function ensurePersistentHealth(ctx: BenchContext, rows: number): Promise<HealthDataset> {
  const key = `persistent:${rows}`;
  const known = cache.get(key);
  if (known) return known;
  const schema = persistentSchema(rows);
  const fingerprint = persistentFingerprint(rows);
  const client = new pg.Client({ connectionString: ctx.pgUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  let seedSeconds = 0;
  try {
    // Two runs at once (e.g. two harness tests) take turns: one seeds, the other then reuses. Held until client.end().
    await client.query(`SELECT pg_advisory_lock(hashtext($1))`, [`cdm-bench:${schema}`]);
    const { rows: found } = await client.query<{ c: string | null }>(`SELECT obj_description(oid, 'pg_namespace') AS c FROM pg_namespace WHERE nspname = $1`, [schema]);
    const options: DatabaseOptions = { url: ctx.pgUrl, schema };
    if (found[0]?.c === fingerprint) {
      ctx.log(`reusing ${rows.toLocaleString('en')} rows in PostgreSQL schema ${schema} (kept across runs; DROP SCHEMA ${schema} CASCADE to reseed)`);
      const db = await openDomainDatabase(health(), options);
      await migrate(db).finally(() => db.close());
    } else {
      ctx.log(`${found.length ? `schema ${schema} was made by other code or is incomplete: dropping it; ` : ''}seeding ${rows.toLocaleString('en')} rows into PostgreSQL schema ${schema}, once (kept for later runs)`);
      await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
      const t0 = performance.now();
      const db = await openDomainDatabase(health(), options);
      const ticker = setInterval(() => void seedProgress(client, schema, rows, t0).then((line) => ctx.log(line), () => undefined), 15_000);
      try {
        await migrate(db);
        await seedDomain(db, health(), { rows: { visits: rows } });
      } finally {
        clearInterval(ticker);
        await db.close();
      }
      await client.query(`COMMENT ON SCHEMA ${quoteIdent(schema)} IS ${literal(fingerprint)}`);
      seedSeconds = (performance.now() - t0) / 1000;
      ctx.seeds.push({ backend: 'postgres', rows, seconds: seedSeconds });
      ctx.log(`seeded ${rows.toLocaleString('en')} rows into ${schema} in ${seedSeconds.toFixed(0)} s`);
    }
    // The memo outlives the run with the schema: this run's plans must differ from every earlier run's.
    const seq = `${quoteIdent(schema)}."cdm_bench_runs"`;
    await client.query(`CREATE SEQUENCE IF NOT EXISTS ${seq}`);
    const { rows: next } = await client.query<{ r: string }>(`SELECT nextval('${seq.replace(/'/g, "''")}')::text AS r`);
    const run = Number(next[0]!.r) % 9000;
    let k = 0;
    const nextEpsilon = () => Number((0.1 + run * 1e-4 + ++k * 1e-7).toFixed(8));
    const ds: HealthDataset = { backend: 'postgres', rows, options, env: { DATABASE_URL: ctx.pgUrl }, seedSeconds, persistent: schema, nextEpsilon };
    cache.set(key, ds);
    return ds;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A progress line from another connection: rows inserted into the loading table so far, or the phase after. */
async function seedProgress(client: pg.Client, schema: string, total: number, t0: number): Promise<string> {
  const secs = ((performance.now() - t0) / 1000).toFixed(0);
  // After the rows: statements on the whole table, seen in pg_stat_activity (uncommitted tables are not in the statistics).
  const { rows: active } = await client.query<{ query: string }>(`SELECT query FROM pg_stat_activity WHERE state = 'active' AND strpos(query, $1) > 0 AND pid <> pg_backend_pid()`, [schema]);
  const phase = active.map((a) => a.query).find((q) => /row_number\(\)|PRIMARY KEY|ANALYZE/i.test(q));
  if (phase) return `seeding ${schema}: all rows loaded, ${/row_number\(\)/i.test(phase) ? 'drawing the per-patient ranks' : /PRIMARY KEY/i.test(phase) ? 'building the key' : 'analysing'} (${secs} s)`;
  const { rows } = await client.query<{ n: string }>(
    `SELECT n_tup_ins::text AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname LIKE '%\\_\\_loading'`,
    [schema],
  );
  // Rows of a COPY still running are not in the statistics until it commits.
  const { rows: copying } = await client.query<{ n: string }>(
    `SELECT coalesce(sum(p.tuples_processed), 0)::text AS n FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) WHERE strpos(a.query, $1) > 0`,
    [schema],
  );
  if (!rows[0] && copying[0]?.n === '0') return `seeding ${schema}: preparing (${secs} s)`;
  const n = Number(rows[0]?.n ?? 0) + Number(copying[0]?.n ?? 0);
  return `seeding ${schema}: ${n.toLocaleString('en')} / ${total.toLocaleString('en')} rows (${Math.min(100, Math.floor((100 * n) / total))}%, ${secs} s)`;
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Drops every PostgreSQL schema whose name contains this run's unique suffix. */
export async function dropRunSchemas(ctx: BenchContext): Promise<string[]> {
  const client = new pg.Client({ connectionString: ctx.pgUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE strpos(nspname, $1) > 0`, [ctx.suffix]);
    for (const r of rows) await client.query(`DROP SCHEMA IF EXISTS "${r.nspname.replace(/"/g, '""')}" CASCADE`);
    return rows.map((r) => r.nspname);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function postgresVersion(ctx: BenchContext): Promise<string> {
  const client = new pg.Client({ connectionString: ctx.pgUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`);
    return rows[0]!.v;
  } finally {
    await client.end().catch(() => undefined);
  }
}
