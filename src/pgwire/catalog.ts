import type { PGlite } from '@electric-sql/pglite';
import { openPGliteCluster } from '../storage/pglite-template.js';
import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { describeColumn } from '../subgraph/naming.js';
import type { Field } from './protocol.js';

/**
 * The catalog tools browse, as a real (embedded) PostgreSQL: one schema per domain, one EMPTY table
 * per dataset with the declared columns, COMMENTs carrying the catalog descriptions. psql's \d
 * queries, JDBC DatabaseMetaData and information_schema are then answered by PostgreSQL itself,
 * exactly, instead of by a hand-written imitation of pg_catalog; and they touch no data and charge
 * nothing, because this database holds no data: it is built from the declarations alone.
 *
 * Reads of a dataset never reach it (the router sends them to DP SQL). As a second line, the role
 * catalog queries run as may not SELECT the dataset tables, so a read the router could not see
 * (say, SQL text inside query_to_xml) fails loudly instead of answering "no rows". Queries run as an unprivileged role in a read-only transaction that is always rolled back, so a
 * session cannot change the shared catalog.
 */
export interface CatalogResult {
  fields: Field[];
  rows: (string | null)[][];
  command: string;
}

export interface Catalog {
  serverVersion: string;
  /** `settings`: the session's search_path and cdm.* values, visible to current_setting() and name lookup. */
  query(sql: string, params: (string | null)[], paramTypes: number[], settings: Record<string, string>): Promise<CatalogResult>;
  describe(sql: string, settings: Record<string, string>): Promise<{ params: number[]; fields: Field[] }>;
  close(): Promise<void>;
}

const ROLE = 'cdm_catalog';
const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

export const sqlType = (c: ColumnDeclaration) => (c.type === 'integer' ? 'bigint' : c.type === 'float' ? 'double precision' : 'text');
// The declared name: DP SQL resolves columns by it (case-insensitively, as PostgreSQL folds identifiers).
export const columnName = (c: ColumnDeclaration) => c.name;

function datasetDdl(domain: DomainDeclaration, ds: DatasetDeclaration): string[] {
  const table = `${q(domain.name)}.${q(ds.table)}`;
  const unit = ds.privacyUnit === 'row' ? 'one row per person' : `privacy unit: ${ds.privacyUnit}`;
  const comment = `${ds.title}: ${ds.description} (${domain.sensitivity === 'sensitive' ? `sensitive: DP answers only; ${unit}; at most ${ds.contribution.maxRowsPerUnit} rows per unit` : 'open: rows listable'})`;
  return [
    `CREATE TABLE ${table} (${ds.columns.map((c) => `${q(columnName(c))} ${sqlType(c)}`).join(', ')})`,
    `COMMENT ON TABLE ${table} IS ${lit(comment)}`,
    ...ds.columns.map((c) => `COMMENT ON COLUMN ${table}.${q(columnName(c))} IS ${lit(describeColumn(ds, c))}`),
    // REFERENCES, not SELECT: enough for information_schema to list the table and its columns,
    // while any read the router did not see (e.g. inside query_to_xml) fails with 42501.
    `GRANT REFERENCES ON ${table} TO ${ROLE}`,
  ];
}

export async function createCatalog(domains: DomainDeclaration[]): Promise<Catalog> {
  const pg = await openPGliteCluster();
  const ddl = [
    `CREATE ROLE ${ROLE} NOLOGIN`,
    ...domains.flatMap((d) => [
      `CREATE SCHEMA ${q(d.name)}`,
      `COMMENT ON SCHEMA ${q(d.name)} IS ${lit(`${d.title} (${d.sensitivity}). ${d.description}`)}`,
      `GRANT USAGE ON SCHEMA ${q(d.name)} TO ${ROLE}`,
      ...d.datasets.flatMap((ds) => datasetDdl(d, ds)),
    ]),
  ];
  for (const stmt of ddl) await pg.exec(stmt);
  // Every value back as PostgreSQL's own text output: the wire answer is then byte-for-byte what
  // PostgreSQL would send, whatever the type (arrays, oids, regclass, ...).
  const types = await pg.query<{ oid: number }>('SELECT oid::int AS oid FROM pg_type');
  const parsers = Object.fromEntries(types.rows.map((r) => [r.oid, (x: string) => x]));
  const version = (await pg.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v;

  const inSession = async <T>(settings: Record<string, string>, run: (tx: Awaited<Parameters<Parameters<PGlite['transaction']>[0]>[0]>) => Promise<T>): Promise<T> =>
    pg.transaction(async (tx) => {
      await tx.exec(`SET TRANSACTION READ ONLY; SET LOCAL ROLE ${ROLE}`);
      for (const [k, v] of Object.entries(settings)) await tx.query('SELECT set_config($1, $2, true)', [k, v]);
      try {
        return await run(tx);
      } finally {
        await tx.rollback();
      }
    });

  return {
    serverVersion: version,
    query: (sql, params, paramTypes, settings) =>
      inSession(settings, async (tx) => {
        const r = await tx.query<unknown[]>(sql, params, { rowMode: 'array', parsers, paramTypes });
        const fields = r.fields.map((f) => ({ name: f.name, oid: f.dataTypeID }));
        const rows = r.rows.map((row) => row.map((v) => (v === null || v === undefined ? null : String(v))));
        return { fields, rows, command: fields.length > 0 ? `SELECT ${rows.length}` : commandTag(sql, r.affectedRows) };
      }),
    describe: (sql, settings) =>
      inSession(settings, async (tx) => {
        // Prepared statements outlive a rolled-back transaction: deallocated before anything can fail.
        await tx.query(`PREPARE cdm_describe AS ${sql}`); // extended protocol: one statement only
        const p = await tx.query<{ oids: number[] }>(`SELECT array(SELECT unnest(parameter_types)::oid::int) AS oids FROM pg_prepared_statements WHERE name = 'cdm_describe'`);
        await tx.query('DEALLOCATE cdm_describe');
        const params = p.rows[0]?.oids ?? [];
        const r = await tx.query(sql, params.map(() => null), { rowMode: 'array', parsers, paramTypes: params });
        return { params, fields: r.fields.map((f) => ({ name: f.name, oid: f.dataTypeID })) };
      }),
    close: () => pg.close(),
  };
}

function commandTag(sql: string, affected?: number): string {
  const word = /^\s*([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? 'OK';
  return affected ? `${word} ${affected}` : word;
}
