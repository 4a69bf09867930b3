import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../generated/prisma/client.js';
import { config, configFrom } from '../config.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { openPGliteCluster } from './pglite-template.js';

/**
 * One domain's database: its dataset tables and its own state (principals, budgets, ledger,
 * releases, audit) live together, in the domain's own PGlite directory (embedded default) or its own
 * schema of a PostgreSQL server (DATABASE_URL=postgres://...). Same SQL dialect everywhere.
 */
export interface DomainDatabase {
  readonly kind: 'pglite' | 'postgres';
  /** Schema holding the domain's tables; every raw SQL statement qualifies names with it. */
  readonly schema: string;
  readonly prisma: PrismaClient;
  /** Parameterised query ($1, $2, ...). User input only ever travels in `params`. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A trusted multi-statement script (migrations, DDL from the declaration). Never user input. */
  exec(script: string): Promise<void>;
  /**
   * Bulk-loads CSV text (PostgreSQL's CSV format, the listed columns in order) into a trusted table
   * (both names already quoted): COPY from an in-memory blob on PGlite. Absent on a PostgreSQL
   * server, where COPY FROM STDIN needs a streaming driver this project does not ship: loaders
   * insert large batches of rows as arrays there (src/seed/seed.ts).
   */
  copyCsv?(table: string, columns: string[], csv: string): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://... to use a PostgreSQL server; otherwise PGlite. */
  url?: string;
  /** PGlite data directory; "memory://" for a throwaway database. */
  dataDir?: string;
  /** PostgreSQL schema override (tests isolate runs with unique names). */
  schema?: string;
}

export function databaseOptionsFromEnv(domain: DomainDeclaration, env = process.env): DatabaseOptions {
  const c = configFrom(env);
  const url = c.DATABASE_URL;
  if (url && /^postgres(ql)?:\/\//.test(url)) {
    return { url, schema: `${domain.databaseSchema}${c.CDM_SCHEMA_SUFFIX}` };
  }
  const base = c.CDM_DATA_DIR ?? resolve(process.cwd(), '.data');
  return { dataDir: base === 'memory://' ? 'memory://' : resolve(base, domain.name) };
}

export async function openDomainDatabase(domain: DomainDeclaration, opts: DatabaseOptions): Promise<DomainDatabase> {
  return opts.url ? openPostgres(opts.url, opts.schema ?? domain.databaseSchema) : openPGlite(opts.dataDir ?? 'memory://');
}

async function openPGlite(dataDir: string): Promise<DomainDatabase> {
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const client = await openPGliteCluster(dataDir);
  // One PGlite per domain, so the domain's tables use its `public` schema.
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(client) });
  return {
    kind: 'pglite',
    schema: 'public',
    prisma,
    async query<T>(sql: string, params: unknown[] = []) {
      const res = await client.query<T>(sql, params);
      return res.rows;
    },
    async exec(script: string) {
      await client.exec(script);
    },
    async copyCsv(table: string, columns: string[], csv: string) {
      await client.query(`COPY ${table} (${columns.join(', ')}) FROM '/dev/blob' WITH (FORMAT csv)`, [], { blob: new Blob([csv]) });
    },
    async close() {
      await prisma.$disconnect();
      await client.close();
    },
  };
}

async function openPostgres(url: string, schema: string): Promise<DomainDatabase> {
  const pool = new pg.Pool({ connectionString: url, max: config().CDM_PG_POOL });
  pool.on('error', () => undefined); // an idle client's error must not crash the process
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool, { schema }) });
  return {
    kind: 'postgres',
    schema,
    prisma,
    async query<T>(sql: string, params: unknown[] = []) {
      const res = await pool.query(sql, params);
      return res.rows as T[];
    },
    async exec(script: string) {
      const client = await pool.connect();
      try {
        await client.query(`SET search_path TO ${quoteIdent(schema)}`);
        await client.query(script);
      } finally {
        await client.query('RESET search_path').catch(() => undefined);
        client.release();
      }
    },
    async close() {
      await prisma.$disconnect();
      await pool.end();
    },
  };
}

/** Quotes a trusted SQL identifier (from a validated declaration). */
export function quoteIdent(name: string): string {
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`unsafe SQL identifier: ${name}`);
  return `"${name}"`;
}

export const qualified = (db: DomainDatabase, table: string) => `${quoteIdent(db.schema)}.${quoteIdent(table)}`;
