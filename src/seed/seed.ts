import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { repoRoot } from '../paths.js';
import { qualified, quoteIdent, type DomainDatabase } from '../storage/database.js';
import { countRows, csvBatches, toCsv, type Rejections } from './csv.js';
import { generators, type Row } from './generators.js';
import { progress } from './progress.js';
import { afterRankedLoad, RANK_COLUMN, rankInvariantDdl, unitColumn } from './rank.js';

export { RANK_COLUMN, verifiedRank } from './rank.js';

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
  /** The dataset is an existing table or view (never loaded). */
  existing?: boolean;
  /** Rows of the source rejected by the declared bounds or categories, by reason. */
  rejected?: number;
  rejections?: Record<string, number>;
}

/** Rows per batch read from a CSV source. */
const BATCH = 5000;

export async function seedDomain(db: DomainDatabase, domain: DomainDeclaration, opts: SeedOptions = {}): Promise<SeedResult[]> {
  await db.exec(`CREATE TABLE IF NOT EXISTS ${qualified(db, '_cdm_seed')} (
    dataset text PRIMARY KEY, fingerprint text NOT NULL, rows bigint NOT NULL, seeded_at timestamptz NOT NULL DEFAULT now())`);
  const results: SeedResult[] = [];
  for (const ds of domain.datasets) results.push(await seedDataset(db, domain, ds, opts));
  return results;
}

async function seedDataset(db: DomainDatabase, domain: DomainDeclaration, ds: DatasetDeclaration, opts: SeedOptions): Promise<SeedResult> {
  if (ds.source.kind === 'table') return existingTable(db, ds);
  const rowsOverride = opts.rows?.[ds.name];
  const fingerprint = await fingerprintOf(ds, rowsOverride);
  const [done] = await db.query<{ fingerprint: string; rows: string }>(
    `SELECT fingerprint, rows::text AS rows FROM ${qualified(db, '_cdm_seed')} WHERE dataset = $1`,
    [ds.name],
  );
  if (done && done.fingerprint === fingerprint && !opts.force) {
    return { dataset: ds.name, rows: Number(done.rows), skipped: true };
  }
  const loading = `${ds.table}__loading`;
  await db.exec(`DROP TABLE IF EXISTS ${qualified(db, loading)}; CREATE TABLE ${qualified(db, loading)} (${ds.columns.map(columnDdl).join(', ')})`);
  const total = ds.source.kind === 'generated' ? (rowsOverride ?? ds.source.rows) : await countRows(csvFile(ds.source.file));
  const bar = progress(`seed ${domain.name}.${ds.name}`, total);
  const rejections: Rejections = { rows: 0, reasons: new Map() };
  let loaded = 0;
  for await (const batch of inBatchesOf(LOAD_BATCH, sourceBatches(ds, rejections, rowsOverride))) {
    await loadBatch(db, loading, ds.columns, batch);
    loaded += batch.length;
    bar.add(batch.length);
  }
  bar.add(rejections.rows);
  bar.finish();
  if (rejections.rows > 0) reportRejections(`${domain.name}.${ds.name}`, rejections);
  await db.exec(rankDdl(db, ds, loading));
  await db.exec(indexDdl(db, ds, loading));
  await db.exec(`BEGIN;
    DROP TABLE IF EXISTS ${qualified(db, ds.table)};
    ALTER TABLE ${qualified(db, loading)} RENAME TO ${quoteIdent(ds.table)};
    ANALYZE ${qualified(db, ds.table)};
    COMMIT;`);
  await afterRankedLoad(db, ds, { loaded: true });
  await db.query(
    `INSERT INTO ${qualified(db, '_cdm_seed')} (dataset, fingerprint, rows) VALUES ($1, $2, $3)
     ON CONFLICT (dataset) DO UPDATE SET fingerprint = excluded.fingerprint, rows = excluded.rows, seeded_at = now()`,
    [ds.name, fingerprint, loaded],
  );
  const rejected = rejections.rows > 0 ? { rejected: rejections.rows, rejections: Object.fromEntries(rejections.reasons) } : {};
  return { dataset: ds.name, rows: loaded, skipped: false, ...rejected };
}

/** Existing data is never copied or dropped: only checked to exist (and counted, for the log). */
async function existingTable(db: DomainDatabase, ds: DatasetDeclaration): Promise<SeedResult> {
  const [found] = await db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`,
    [db.schema, ds.table],
  );
  if (found?.n !== '1') throw new Error(`dataset ${ds.name}: table or view "${db.schema}.${ds.table}" does not exist in the domain's database`);
  return { dataset: ds.name, rows: 0, skipped: true, existing: true };
}

function reportRejections(label: string, r: Rejections) {
  const reasons = [...r.reasons].map(([why, n]) => `${why}: ${n.toLocaleString('en')}`).join('; ');
  process.stderr.write(`seed ${label}: ${r.rows.toLocaleString('en')} rows rejected (${reasons})\n`);
}

const csvFile = (file: string) => resolve(repoRoot, file);

async function fingerprintOf(ds: DatasetDeclaration, rowsOverride?: number): Promise<string> {
  // The file's content, not its path: moving the repository or the declaration does not reload.
  const source = ds.source.kind === 'csv' ? { ...ds.source, file: await fileHash(csvFile(ds.source.file)) } : ds.source;
  const h = createHash('sha256').update(JSON.stringify({ layout: 3, columns: ds.columns, source, table: ds.table, rowsOverride }));
  return h.digest('hex').slice(0, 32);
}

async function fileHash(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
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
 * Ranks are drawn per unit at load (one random permutation of each unit's rows), then the table
 * gets the invariant that bounding relies on (src/seed/rank.ts).
 */
function rankDdl(db: DomainDatabase, ds: DatasetDeclaration, table: string): string {
  const unit = unitColumn(ds);
  if (!unit) return 'SELECT 1';
  const ranked = `${table}__ranked`;
  return `DROP TABLE IF EXISTS ${qualified(db, ranked)};
    CREATE TABLE ${qualified(db, ranked)} AS
      SELECT *, (row_number() OVER (PARTITION BY ${quoteIdent(unit.sql)} ORDER BY random()))::int AS ${RANK_COLUMN} FROM ${qualified(db, table)};
    DROP TABLE ${qualified(db, table)};
    ALTER TABLE ${qualified(db, ranked)} RENAME TO ${quoteIdent(table)};
    ${rankInvariantDdl(db, table, unit.sql)}`;
}

function indexDdl(db: DomainDatabase, ds: DatasetDeclaration, table: string): string {
  const stmts: string[] = [];
  const key = ds.key ? ds.columns.find((c) => c.name === ds.key) : undefined;
  if (key) stmts.push(`ALTER TABLE ${qualified(db, table)} ADD PRIMARY KEY (${quoteIdent(key.sql)})`);
  return stmts.join(';\n') || 'SELECT 1';
}

async function* sourceBatches(ds: DatasetDeclaration, rejections: Rejections, rowsOverride?: number): AsyncGenerator<Row[]> {
  if (ds.source.kind === 'generated') {
    const gen = generators[ds.source.generator];
    if (!gen) throw new Error(`dataset ${ds.name}: unknown generator "${ds.source.generator}"`);
    yield* gen(rowsOverride ?? ds.source.rows, ds.source.seed);
    return;
  }
  if (ds.source.kind === 'csv') yield* csvBatches(ds, csvFile(ds.source.file), BATCH, rejections);
}

/**
 * Rows per load statement. Measured on 200,000 generated rows (issue 17): PGlite's COPY from a blob
 * loads them about twice as fast as array inserts, and fewer, larger statements win on both
 * (PostgreSQL: 50,000-row array inserts ~20% faster than 5,000).
 */
const LOAD_BATCH = 50_000;

/** Regroups a source's batches into batches of `size` rows (the last one smaller). */
async function* inBatchesOf(size: number, source: AsyncIterable<Row[]> | Iterable<Row[]>): AsyncGenerator<Row[]> {
  let batch: Row[] = [];
  for await (const rows of source) {
    for (const row of rows) batch.push(row);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/** COPY where the database offers it (PGlite), else one multi-row insert. */
async function loadBatch(db: DomainDatabase, table: string, columns: ColumnDeclaration[], rows: Row[]) {
  if (!db.copyCsv) return insertBatch(db, table, columns, rows);
  const names = columns.map((c) => c.sql);
  await db.copyCsv(qualified(db, table), names.map(quoteIdent), toCsv(rows, names));
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
