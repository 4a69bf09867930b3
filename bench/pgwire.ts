#!/usr/bin/env node
/**
 * `npm run bench:pgwire`: latency of the PostgreSQL wire path against the GraphQL path for the same
 * memoised (cached, free) DP SQL query, on an in-process census mesh (PGlite in memory). Writes
 * bench/PGWIRE-REPORT.md. A few seconds; the wire path is the GraphQL path plus the wire server's
 * routing and encoding, so the difference is the adapter's overhead.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import pg from 'pg';
import { createVerifier, mintDevToken } from '../src/auth/tokens.js';
import { demoDomain } from '../src/domain/registry.js';
import { startMesh } from '../src/mesh.js';
import { fromRoot } from '../src/paths.js';
import { SQL_SELECTION } from '../src/pgwire/results.js';

process.env.APOLLO_TELEMETRY_DISABLED = '1';
process.env.CDM_QUIET = '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 500);
const WIRE_SQL = 'SELECT COUNT(*) AS n FROM census.adults WHERE age >= 40';
const GRAPHQL = `{ census { sql(query: "SELECT COUNT(*) AS n FROM adults WHERE age >= 40", privacy: { epsilon: 0.5 }) { ${SQL_SELECTION} } } }`;

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
/** Interleaved rounds (paths in rotating order), so load drift on a shared machine hits every path alike. */
async function time(fns: (() => Promise<unknown>)[]): Promise<number[][]> {
  for (let i = 0; i < 50; i++) for (const fn of fns) await fn(); // warm-up: JIT, connection pools
  const out: number[][] = fns.map(() => []);
  for (let i = 0; i < ROUNDS; i++)
    for (let k = 0; k < fns.length; k++) {
      const j = (i + k) % fns.length;
      const t = process.hrtime.bigint();
      await fns[j]!();
      out[j]!.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  return out;
}

const secret = randomBytes(32);
const mesh = await startMesh({ domains: [demoDomain('census')], gatewayPort: 0, subgraphPortBase: 0, inProcess: true, seed: true, verifier: createVerifier({ secret }), database: () => ({ dataDir: 'memory://' }), pgwirePort: 0 });
try {
  const token = await mintDevToken(secret, { sub: 'bench', roles: ['analyst'] });
  const url = `${mesh.gateway.url}/graphql`;
  const graphql = async () => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: GRAPHQL }) });
    const body = (await res.json()) as { errors?: unknown; data?: { census: { sql: { cached: boolean } } } };
    if (body.errors || !body.data?.census.sql.cached) throw new Error(`not a cached answer: ${JSON.stringify(body)}`);
  };
  const client = new pg.Client({ host: '127.0.0.1', port: mesh.pgwire!.port, user: 'bench', password: token, database: 'mesh' });
  await client.connect();
  await client.query('SET cdm.epsilon = 0.5');
  await client.query(WIRE_SQL); // the one charged release; every timed call below is served from the memo
  const simple = () => client.query(WIRE_SQL);
  const extended = () => client.query({ text: 'SELECT COUNT(*) AS n FROM census.adults WHERE age >= $1', values: [40] });
  const [g, s, e] = (await time([graphql, simple, extended])) as [number[], number[], number[]];
  await client.end();
  const row = (name: string, xs: number[]) => `| ${name} | ${pct(xs, 0.5).toFixed(2)} | ${pct(xs, 0.95).toFixed(2)} |`;
  const report = [
    '# PostgreSQL wire protocol: latency of a cached DP SQL query',
    '',
    `\`npm run bench:pgwire\` (${ROUNDS} sequential calls per path, interleaved, after 50 warm-up rounds; one client; in-process census mesh on PGlite; ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}; Node ${process.version}; ${new Date().toISOString().slice(0, 10)}).`,
    'Every call is served from the release memo (no charge), so this measures the stack, not DP.',
    '',
    '| path | p50 (ms) | p95 (ms) |',
    '| --- | --- | --- |',
    row('GraphQL (HTTP POST to the gateway)', g),
    row('wire, simple query protocol (psql, psycopg2)', s),
    row('wire, extended protocol with a parameter (JDBC, node-postgres)', e),
    '',
    `Wire p50 / GraphQL p50: ${(pct(s, 0.5) / pct(g, 0.5)).toFixed(2)}x (simple), ${(pct(e, 0.5) / pct(g, 0.5)).toFixed(2)}x (extended). The wire path is one GraphQL call plus parsing and encoding.`,
    '',
  ].join('\n');
  writeFileSync(fromRoot('bench', 'PGWIRE-REPORT.md'), report);
  console.log(report);
} finally {
  await mesh.close();
}
