import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createVerifier, mintDevToken } from '../../src/auth/tokens.js';
import type { DomainDeclaration } from '../../src/domain/declaration.js';
import { demoDomains } from '../../src/domain/registry.js';
import { startMesh, type Mesh, type MeshOptions } from '../../src/mesh.js';

/**
 * A whole mesh for end-to-end tests: every demo subgraph in this process (fresh PGlite in memory, or
 * a unique schema per run on the local PostgreSQL), the gateway in front, free ports, and a token
 * minter using a per-run secret.
 */
export type Backend = 'pglite' | 'postgres';
export const PG_URL = process.env.CDM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestMesh {
  mesh: Mesh;
  url: string;
  token(sub: string, roles?: string[], expiresIn?: string): Promise<string>;
  gql<T = any>(query: string, variables?: Record<string, unknown>, token?: string | null, url?: string): Promise<{ status: number; body: { data?: T; errors?: { message: string; extensions?: Record<string, any> }[] } }>;
  close(): Promise<void>;
}

export async function startTestMesh(backend: Backend, domains: DomainDeclaration[] = demoDomains(), extra: Pick<MeshOptions, 'pgwirePort'> = {}): Promise<TestMesh> {
  const secret = randomBytes(32);
  const suffix = `_t${randomBytes(4).toString('hex')}`;
  const mesh = await startMesh({
    domains,
    gatewayPort: 0,
    subgraphPortBase: 0,
    inProcess: true,
    seed: true,
    verifier: createVerifier({ secret }),
    database: (d) => (backend === 'postgres' ? { url: PG_URL, schema: `${d.databaseSchema}${suffix}` } : { dataDir: 'memory://' }),
    ...extra,
  });
  const url = `${mesh.gateway.url}/graphql`;
  return {
    mesh,
    url,
    token: (sub, roles = ['analyst'], expiresIn) => mintDevToken(secret, { sub, roles, expiresIn }),
    async gql(query, variables, token, target) {
      const res = await fetch(target ?? url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, body: (await res.json()) as never };
    },
    async close() {
      await mesh.close();
      if (backend === 'postgres') {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        for (const d of domains) await client.query(`DROP SCHEMA IF EXISTS "${d.databaseSchema}${suffix}" CASCADE`);
        await client.end();
      }
    },
  };
}

/** In CI a missing PostgreSQL is a failure, not a skip: this throws with a clear message. */
export async function requirePostgres(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (e) {
    throw new Error(`PostgreSQL is required for these tests at ${PG_URL}: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
