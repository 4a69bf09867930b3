import { RANK_COLUMN } from '../core/dialect/postgres.js';
import type { DatasetDeclaration } from '../domain/declaration.js';
import { qualified, quoteIdent, type DomainDatabase } from '../storage/database.js';

/**
 * The load-time rank and its invariant.
 *
 * Datasets with a privacy-unit column get `_cdm_rank`: each row's position in a uniformly random
 * order of its unit's rows. Queries bound contributions with `_cdm_rank <= maxRowsPerUnit`, a plain
 * predicate, instead of a window sort of the matching rows (src/query/sql.ts).
 *
 * PRIVACY: that predicate keeps at most m rows of a unit ONLY IF no unit has two rows with the same
 * rank and no rank is below 1: then a unit's kept ranks are distinct integers in 1..m. (Which rows,
 * uniformly at random, is utility, not privacy: the sensitivity argument needs only the count.) A
 * unit whose rows were re-inserted with their ranks would otherwise count 2m rows against a bound
 * of m. So the invariant is ENFORCED where ranks are written (NOT NULL, CHECK (_cdm_rank >= 1) and a
 * UNIQUE (unit, _cdm_rank) NULLS NOT DISTINCT index: rows with no unit form one unit, as in the
 * per-query window) and CHECKED where they are read (`verifiedRank`): a table without all three
 * falls back to the per-query window, which needs no trust in stored data.
 */
// The column's name belongs to the SQL dialect, which bounds with it: one definition, there.
export { RANK_COLUMN };

export const unitColumn = (ds: DatasetDeclaration) =>
  ds.privacyUnit === 'row' ? undefined : ds.columns.find((c) => c.name === ds.privacyUnit);

/** DDL giving a freshly ranked table its invariant (the rows must already satisfy it). */
export function rankInvariantDdl(db: DomainDatabase, table: string, unitSql: string): string {
  const t = qualified(db, table);
  return `ALTER TABLE ${t} ALTER COLUMN ${RANK_COLUMN} SET NOT NULL, ADD CHECK (${RANK_COLUMN} >= 1);
    CREATE UNIQUE INDEX ON ${t} (${quoteIdent(unitSql)}, ${RANK_COLUMN}) NULLS NOT DISTINCT`;
}

/**
 * Whether `table` carries a load-time rank the engine may trust: a table (not a view) whose rank
 * column is NOT NULL, has a validated CHECK (rank >= 1), and a valid, total, unique index on exactly
 * (unit, rank) that treats NULL units as one. Anything else: use the per-query window.
 */
export async function verifiedRank(db: Pick<DomainDatabase, 'schema' | 'query'>, table: string, unitSql: string): Promise<boolean> {
  const [row] = await db.query<{ ok: boolean }>(
    `WITH t AS (
       SELECT c.oid,
              (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = $3 AND NOT attisdropped) AS unit,
              (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = $4 AND NOT attisdropped AND attnotnull) AS rank
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p'))
     SELECT (t.unit IS NOT NULL AND t.rank IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.oid AND i.indisunique AND i.indisvalid AND i.indnullsnotdistinct
                     AND i.indpred IS NULL AND i.indexprs IS NULL AND i.indnatts = 2
                     AND ((i.indkey[0] = t.unit AND i.indkey[1] = t.rank) OR (i.indkey[0] = t.rank AND i.indkey[1] = t.unit)))
       AND EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'c' AND k.convalidated
                     AND pg_get_constraintdef(k.oid) = $5)) AS ok
     FROM t`,
    [db.schema, table, unitSql, RANK_COLUMN, `CHECK ((${RANK_COLUMN} >= 1))`],
  );
  return row?.ok === true;
}

const lookupIndex = (table: string) => quoteIdent(`${table}_cdm_rank_unit`.slice(0, 63));

/** DDL of the (rank, unit) index: where the bounding finds the units with a row of rank m + 1. */
export function rankLookupDdl(db: DomainDatabase, table: string, unitSql: string): string {
  return `DROP INDEX IF EXISTS ${quoteIdent(db.schema)}.${lookupIndex(table)};
    CREATE INDEX ${lookupIndex(table)} ON ${qualified(db, table)} (${RANK_COLUMN}, ${quoteIdent(unitSql)})`;
}

/**
 * After a ranked table is loaded (seed) or ranked in place (prepare): the (rank, unit) lookup
 * index, NOT NULL on the columns the loaded rows never leave NULL (seed only), then VACUUM ANALYZE
 * so the visibility map lets the heavy-unit lookup be an index-only scan. Performance only:
 * bounding is correct without any of them (src/core/dialect/postgres.ts, rankedRows); NOT NULL is
 * read back from the catalog (`notNullColumns`), which the database enforces.
 */
export async function afterRankedLoad(db: DomainDatabase, ds: DatasetDeclaration, opts: { loaded: boolean }): Promise<void> {
  const unit = unitColumn(ds);
  if (!unit) return;
  await db.exec(rankLookupDdl(db, ds.table, unit.sql));
  // Only on tables the mesh loads: a prepared table is the owner's, whose writers may insert NULLs.
  if (opts.loaded) await enforceNotNull(db, ds, ds.table);
  await db.exec(`VACUUM (ANALYZE) ${qualified(db, ds.table)}`);
}

/**
 * Declared columns the loaded rows never leave NULL get NOT NULL (one scan): the bounding then
 * knows, from the catalog (`notNullColumns`), that "x IS NOT NULL" holds on every row.
 */
async function enforceNotNull(db: DomainDatabase, ds: DatasetDeclaration, table: string): Promise<void> {
  const cols = ds.columns.filter((c) => c.name !== ds.privacyUnit);
  if (cols.length === 0) return;
  const [nulls] = await db.query<Record<string, string>>(`SELECT ${cols.map((c, i) => `count(*) - count(${quoteIdent(c.sql)}) AS c${i}`).join(', ')} FROM ${qualified(db, table)}`);
  const full = cols.filter((_, i) => nulls?.[`c${i}`] !== undefined && Number(nulls[`c${i}`]) === 0);
  if (full.length > 0) await db.exec(`ALTER TABLE ${qualified(db, table)} ${full.map((c) => `ALTER COLUMN ${quoteIdent(c.sql)} SET NOT NULL`).join(', ')}`);
}

/** What the catalog says of each column of `table`: NOT NULL (enforced) and stored as an integer type. */
export interface StoredColumn {
  name: string;
  notNull: boolean;
  /** smallint, integer or bigint: compared exactly with a bigint (src/core/dialect/postgres.ts). */
  integer: boolean;
}

/** Columns of `table` as stored (read where the dialect relies on NOT NULL or integer storage). */
export async function storedColumns(db: Pick<DomainDatabase, 'schema' | 'query'>, table: string): Promise<StoredColumn[]> {
  return db.query<StoredColumn>(
    `SELECT a.attname AS name, a.attnotnull AS "notNull", a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) AS integer
     FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`,
    [db.schema, table],
  );
}
