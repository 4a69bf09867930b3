import pg from 'pg';
import type { DatasetDeclaration } from '../domain/declaration.js';
import { quoteIdent, RANK_COLUMN, type SqlTarget } from '../core/dialect/postgres.js';
import type { DomainDatabase } from '../storage/database.js';

/**
 * Where a domain's dataset rows live, apart from where its state (budgets, ledger, releases,
 * audit) lives: by default the same database, but a domain may read its data from another
 * PostgreSQL database (the domain team's own warehouse) while the node keeps its state. The query
 * engine only ever sends it the dialect's parameterised, read-only statements.
 */
export interface DataSource {
  readonly kind: string;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** How to name tables and what they offer, for the SQL dialect (after `prepare`). */
  target(): SqlTarget;
  /** Discovers the capabilities of the datasets' tables (e.g. the verified load-time rank). */
  prepare(datasets: DatasetDeclaration[]): Promise<void>;
  close(): Promise<void>;
}

class SchemaDataSource implements DataSource {
  private readonly rankedTables = new Set<string>();
  private readonly checked = new Set<string>();
  constructor(
    readonly kind: string,
    private readonly schema: string,
    private readonly run: <T>(sql: string, params?: unknown[]) => Promise<T[]>,
    private readonly end: () => Promise<void>,
  ) {}
  query<T>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.run<T>(sql, params);
  }
  target(): SqlTarget {
    return {
      table: (ds) => `${quoteIdent(this.schema)}.${quoteIdent(ds.table)}`,
      scratch: (name) => `${quoteIdent(this.schema)}.${quoteIdent(name)}`,
      ranked: (ds) => this.rankedTables.has(ds.table),
    };
  }
  async prepare(datasets: DatasetDeclaration[]): Promise<void> {
    for (const ds of datasets) {
      if (this.checked.has(ds.table)) continue;
      const rows = await this.run<{ ok: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = $3) AS ok`,
        [this.schema, ds.table, RANK_COLUMN],
      );
      if (rows[0]?.ok) this.rankedTables.add(ds.table);
      this.checked.add(ds.table);
    }
  }
  /** Forget what was discovered (after a reload of the data). */
  reset() {
    this.rankedTables.clear();
    this.checked.clear();
  }
  close(): Promise<void> {
    return this.end();
  }
}

/** The domain's own database (the embedded default). */
export function domainDataSource(db: DomainDatabase): DataSource {
  return new SchemaDataSource(db.kind, db.schema, (sql, params) => db.query(sql, params), async () => undefined);
}

/** Another PostgreSQL database holding the datasets' tables in `schema`. */
export function postgresDataSource(url: string, schema: string, max = 8): DataSource {
  const pool = new pg.Pool({ connectionString: url, max });
  return new SchemaDataSource('postgres', schema, async (sql, params) => (await pool.query(sql, params as unknown[])).rows, () => pool.end());
}
