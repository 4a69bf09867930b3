import pg from 'pg';
import type { DatasetDeclaration } from '../domain/declaration.js';
import { quoteIdent, type SqlTarget } from '../core/dialect/postgres.js';
import { storedColumns, unitColumn, verifiedRank } from '../seed/rank.js';
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
  /**
   * The version of a dataset's rows (after `prepare`): part of the memo key, so answers released
   * before a reload are not served as answers about the new data.
   */
  version(ds: DatasetDeclaration): string;
  close(): Promise<void>;
}

/** A reload by another process is noticed within this time (the seeding process bumps it at once). */
const VERSION_TTL_MS = 5_000;

class SchemaDataSource implements DataSource {
  private readonly rankedTables = new Set<string>();
  /** NOT NULL columns per table (enforced by the database, read from its catalog). */
  private readonly notNull = new Map<string, Set<string>>();
  /** Columns stored as smallint, integer or bigint per table (from the catalog). */
  private readonly integers = new Map<string, Set<string>>();
  private readonly checked = new Map<string, number>();
  private readonly versions = new Map<string, { v: string; at: number }>();
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
      notNull: (ds, column) => this.notNull.get(ds.table)?.has(column) === true,
      integerStored: (ds, column) => this.integers.get(ds.table)?.has(column) === true,
    };
  }
  version(ds: DatasetDeclaration): string {
    return this.versions.get(ds.name)?.v ?? '';
  }
  async prepare(datasets: DatasetDeclaration[]): Promise<void> {
    for (const ds of datasets) {
      const known = this.versions.get(ds.name);
      if (!known || Date.now() - known.at > VERSION_TTL_MS) {
        const [row] = await this.run<{ v: string | null }>(
          `SELECT CASE WHEN to_regclass($1) IS NULL THEN NULL ELSE (SELECT fingerprint || ':' || extract(epoch FROM seeded_at)::text FROM ${quoteIdent(this.schema)}."_cdm_seed" WHERE dataset = $2) END AS v`,
          [`${quoteIdent(this.schema)}."_cdm_seed"`, ds.name],
        ).catch(() => [{ v: null }]);
        this.versions.set(ds.name, { v: row?.v ?? '', at: Date.now() });
      }
      const checkedAt = this.checked.get(ds.table);
      if (checkedAt !== undefined && Date.now() - checkedAt <= VERSION_TTL_MS) continue;
      // Trusted only when the database enforces the rank's invariant (src/seed/rank.ts); re-checked
      // every few seconds, so a dropped constraint stops the trust.
      const unit = unitColumn(ds);
      const ok = unit ? await verifiedRank({ schema: this.schema, query: this.run }, ds.table, unit.sql) : false;
      if (ok) this.rankedTables.add(ds.table);
      else this.rankedTables.delete(ds.table);
      const stored = await storedColumns({ schema: this.schema, query: this.run }, ds.table);
      this.notNull.set(ds.table, new Set(stored.filter((c) => c.notNull).map((c) => c.name)));
      this.integers.set(ds.table, new Set(stored.filter((c) => c.integer).map((c) => c.name)));
      this.checked.set(ds.table, Date.now());
    }
  }
  /** Forget what was discovered (after a reload of the data). */
  reset() {
    this.rankedTables.clear();
    this.notNull.clear();
    this.integers.clear();
    this.checked.clear();
    this.versions.clear();
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
