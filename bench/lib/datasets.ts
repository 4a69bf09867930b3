import { join } from 'node:path';
import pg from 'pg';
import { demoDomain } from '../../src/domain/registry.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, type DatabaseOptions, type DomainDatabase } from '../../src/storage/database.js';
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
