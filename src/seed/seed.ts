import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { createGunzip, gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse';
import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { fromRoot } from '../paths.js';
import { qualified, quoteIdent, type DomainDatabase } from '../storage/database.js';
import { generators, type Row } from './generators.js';
import { progress } from './progress.js';

/**
 * Loads each dataset of a domain from its declared source into its table. Idempotent: a dataset
 * whose source and declaration are unchanged is skipped; otherwise it is loaded into a fresh table
 * and swapped in atomically, so a crash mid-load never leaves half a table behind.
 */
export interface SeedOptions {
  /** Override the generated row count per dataset (benchmarks seed 1M or 5M rows). */
  rows?: Record<string, number>;
  force?: boolean;
}
export interface SeedResult {
  dataset: string;
  rows: number;
  skipped: boolean;
}

const BATCH = 5000;

export async function seedDomain(db: DomainDatabase, domain: DomainDeclaration, opts: SeedOptions = {}): Promise<SeedResult[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS ${qualified(db, '_cdm_seed')} (
    dataset text PRIMARY KEY, fingerprint text NOT NULL, rows bigint NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())`);
  const results: SeedResult[] = [];
  for (const ds of domain.datasets) results.push(await seedDataset(db, domain, ds, opts));
  return results;
}

async function seedDataset(db: DomainDatabase, domain: DomainDeclaration, ds: DatasetDeclaration, opts: SeedOptions): Promise<SeedResult> {
  const rowsOverride = opts.rows?.[ds.name];
  const fingerprint = fingerprintOf(ds, rowsOverride);
  const [done] = await db.query<{ fingerprint: string; rows: string }>(
    `SELECT fingerprint, rows::text AS rows FROM ${qualified(db, '_cdm_seed')} WHERE dataset = $1`,
    [ds.name],
  );
  if (done && done.fingerprint === fingerprint && !opts.force) {
    return { dataset: ds.name, rows: Number(done.rows), skipped: true };
  }
  const loading = `${ds.table}__loading`;
  await db.exec(`DROP TABLE IF EXISTS ${qualified(db, loading)}; CREATE TABLE ${qualified(db, loading)} (${ds.columns.map(columnDdl).join(', ')})`);
  const total = ds.source.kind === 'generated' ? (rowsOverride ?? ds.source.rows) : countLines(ds.source.file);
  const bar = progress(`seed ${domain.name}.${ds.name}`, total);
  let loaded = 0;
  for await (const batch of sourceBatches(ds, rowsOverride)) {
    await insertBatch(db, loading, ds.columns, batch);
    loaded += batch.length;
    bar.add(batch.length);
  }
  bar.finish();
  await db.exec(rankDdl(db, ds, loading));
  await db.exec(indexDdl(db, ds, loading));
  await db.exec(`BEGIN;
    DROP TABLE IF EXISTS ${qualified(db, ds.table)};
    ALTER TABLE ${qualified(db, loading)} RENAME TO ${quoteIdent(ds.table)};
    ANALYZE ${qualified(db, ds.table)};
    COMMIT;`);
  await db.query(
    `INSERT INTO ${qualified(db, '_cdm_seed')} (dataset, fingerprint, rows) VALUES ($1, $2, $3)
     ON CONFLICT (dataset) DO UPDATE SET fingerprint = excluded.fingerprint, rows = excluded.rows, seeded_at = now()`,
    [ds.name, fingerprint, loaded],
  );
  return { dataset: ds.name, rows: loaded, skipped: false };
}

function fingerprintOf(ds: DatasetDeclaration, rowsOverride?: number): string {
  const h = createHash('sha256').update(JSON.stringify({ layout: 2, columns: ds.columns, source: ds.source, table: ds.table, rowsOverride }));
  if (ds.source.kind === 'csv') h.update(readFileSync(fromRoot(ds.source.file)));
  return h.digest('hex').slice(0, 32);
}

const SQL_TYPE: Record<ColumnDeclaration['type'], string> = {
  id: 'text',
  text: 'text',
  categorical: 'text',
  integer: 'integer',
  float: 'double precision',
};
const columnDdl = (c: ColumnDeclaration) => `${quoteIdent(c.sql)} ${SQL_TYPE[c.type]}`;

/**
 * Datasets with a privacy-unit column get `_cdm_rank`: each row's position in a uniformly random
 * order of its unit's rows, drawn once at load. Queries bound contributions with
 * `_cdm_rank <= maxRowsPerUnit`, a plain predicate, instead of a window sort of the matching rows.
 * Still "at most maxRowsPerUnit rows per unit, chosen uniformly at random": the sensitivity is the
 * same; only which rows is fixed at load rather than per query (see src/query/sql.ts).
 */
export const RANK_COLUMN = '_cdm_rank';
function rankDdl(db: DomainDatabase, ds: DatasetDeclaration, table: string): string {
  const unit = ds.privacyUnit === 'row' ? undefined : ds.columns.find((c) => c.name === ds.privacyUnit);
  if (!unit) return 'SELECT 1';
  const ranked = `${table}__ranked`;
  return `DROP TABLE IF EXISTS ${qualified(db, ranked)};
    CREATE TABLE ${qualified(db, ranked)} AS
      SELECT *, (row_number() OVER (PARTITION BY ${quoteIdent(unit.sql)} ORDER BY random()))::int AS ${RANK_COLUMN} FROM ${qualified(db, table)};
    DROP TABLE ${qualified(db, table)};
    ALTER TABLE ${qualified(db, ranked)} RENAME TO ${quoteIdent(table)}`;
}

function indexDdl(db: DomainDatabase, ds: DatasetDeclaration, table: string): string {
  const stmts: string[] = [];
  const key = ds.key ? ds.columns.find((c) => c.name === ds.key) : undefined;
  if (key) stmts.push(`ALTER TABLE ${qualified(db, table)} ADD PRIMARY KEY (${quoteIdent(key.sql)})`);
  const unit = ds.privacyUnit === 'row' ? undefined : ds.columns.find((c) => c.name === ds.privacyUnit);
  if (unit) stmts.push(`CREATE INDEX ON ${qualified(db, table)} (${quoteIdent(unit.sql)})`);
  return stmts.join(';\n') || 'SELECT 1';
}

async function* sourceBatches(ds: DatasetDeclaration, rowsOverride?: number): AsyncGenerator<Row[]> {
  if (ds.source.kind === 'generated') {
    const gen = generators[ds.source.generator];
    if (!gen) throw new Error(`dataset ${ds.name}: unknown generator "${ds.source.generator}"`);
    yield* gen(rowsOverride ?? ds.source.rows, ds.source.seed);
    return;
  }
  const parser = createReadStream(fromRoot(ds.source.file)).pipe(createGunzip()).pipe(parse({ columns: true, trim: true }));
  let batch: Row[] = [];
  for await (const record of parser as AsyncIterable<Record<string, string>>) {
    const row: Row = {};
    for (const c of ds.columns) row[c.sql] = csvValue(c, record[c.source ?? c.name]);
    batch.push(row);
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

function csvValue(c: ColumnDeclaration, raw: string | undefined): string | number | null {
  if (raw === undefined || raw === '' || raw === '?') return null;
  if (c.type === 'integer') return Number.parseInt(raw, 10);
  if (c.type === 'float') return Number.parseFloat(raw);
  return raw;
}

/** Bulk insert with one array parameter per column: a few parameters whatever the batch size. */
async function insertBatch(db: DomainDatabase, table: string, columns: ColumnDeclaration[], rows: Row[]) {
  const arrays = columns.map((c) => rows.map((r) => r[c.sql] ?? null));
  const unnest = columns.map((c, i) => `$${i + 1}::${SQL_TYPE[c.type]}[]`).join(', ');
  await db.query(
    `INSERT INTO ${qualified(db, table)} (${columns.map((c) => quoteIdent(c.sql)).join(', ')}) SELECT * FROM unnest(${unnest})`,
    arrays,
  );
}

function countLines(file: string): number {
  // Only for the progress total: gz files here are small (< 1 MB), so read them whole.
  const text = gunzipSync(readFileSync(fromRoot(file))).toString('utf8');
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) n++;
  return Math.max(0, n - 1);
}
