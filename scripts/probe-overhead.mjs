#!/usr/bin/env node
// Probe of the fixed cost per answer (issue 17; a measurement, not a test): p50 of a memoised DP
// answer vs a trivial field sent straight to an in-process census subgraph (no gateway), database
// round trips per memo hit, and a fresh answer's time split (data SQL, charge and completion
// transactions, other state reads). Needs a build and PostgreSQL on 127.0.0.1:5432 (or pglite).
// Usage: CDM_LOG_LEVEL=silent CDM_QUIET=1 node scripts/probe-overhead.mjs [repoRoot] [postgres|pglite] [n]
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
const root = resolve(process.argv[2] ?? resolve(import.meta.dirname, '..'));
const backend = process.argv[3] ?? 'postgres';
const N = Number(process.argv[4] ?? 300);
const { createVerifier, mintDevToken } = await import(`${root}/dist/src/auth/tokens.js`);
const { demoDomains } = await import(`${root}/dist/src/domain/registry.js`);
const { startSubgraph } = await import(`${root}/dist/src/subgraph/server.js`);
const pg = (await import(`${root}/node_modules/pg/lib/index.js`)).default;
const PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const census = demoDomains().find((d) => d.name === 'census');
const secret = randomBytes(32);
const schema = `cdm_census_probe${randomBytes(3).toString('hex')}`;
const h = await startSubgraph(census, { port: 0, verifier: createVerifier({ secret }), seed: true, database: backend === 'postgres' ? { url: PG_URL, schema } : { dataDir: 'memory://' } });
const url = `${h.url}/graphql`;
const analyst = await mintDevToken(secret, { sub: 'probe', roles: ['analyst'] });
const admin = await mintDevToken(secret, { sub: 'root', roles: ['admin'] });
// Instrument: every db.query (state and data), every transaction.
const t = { state: 0, stateN: 0, data: 0, dataN: 0, tx: 0, txN: 0, charge: 0, complete: 0 };
const q0 = h.db.query.bind(h.db);
h.db.query = async (sql, params) => {
  const s = performance.now();
  try { return await q0(sql, params); } finally {
    const d = performance.now() - s;
    if (/"adults"/.test(sql) && !/_cdm_seed/.test(sql)) { t.data += d; t.dataN++; } else { t.state += d; t.stateN++; }
  }
};
const tx0 = h.db.prisma.$transaction.bind(h.db.prisma);
try {
  h.db.prisma.$transaction = async (...a) => { const s = performance.now(); try { return await tx0(...a); } finally { const d = performance.now() - s; t.tx += d; t.txN++; if (t.txN === 1) t.charge += d; else t.complete += d; } };
} catch (e) { console.log('cannot wrap $transaction', e.message); }
const post = async (query, token = analyst) => {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
  const j = await res.json();
  if (j.errors) throw new Error(JSON.stringify(j.errors));
  return j;
};
const p50 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p90 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length * 0.9)]; };
await post(`mutation { censusSetBudget(principal: "probe", epsilon: 1000, delta: 1e-6) { epsilon } }`, admin);
const TRIVIAL = '{ census { info { name } } }';
const MEMO = '{ census { adults { count(privacy: { epsilon: 0.1 }) { value cached } } } }';
await post(MEMO);
for (let i = 0; i < 50; i++) { await post(TRIVIAL); await post(MEMO); }
const times = { trivial: [], memo: [] };
const reset = () => Object.keys(t).forEach((k) => (t[k] = 0));
reset();
for (let i = 0; i < N; i++) {
  for (const [k, q] of [['trivial', TRIVIAL], ['memo', MEMO]]) { const s = performance.now(); const j = await post(q); times[k].push(performance.now() - s); if (k === 'memo' && !j.data.census.adults.count.cached) throw new Error('not cached'); }
}
const memoRoundTrips = (t.stateN + t.dataN) / N;
console.log(`${backend} sequential, n=${N}: trivial p50 ${p50(times.trivial).toFixed(2)} ms (p90 ${p90(times.trivial).toFixed(2)}), memoised p50 ${p50(times.memo).toFixed(2)} ms (p90 ${p90(times.memo).toFixed(2)}); memo extra p50 ${(p50(times.memo) - p50(times.trivial)).toFixed(2)} ms; db round trips per memo request ${memoRoundTrips.toFixed(2)} (state ${(t.stateN / N).toFixed(2)}, data ${(t.dataN / N).toFixed(2)}, tx ${(t.txN / N).toFixed(2)})`);
// Fresh answers: distinct plans (where age >= k), measured one by one with their split.
const F = Math.min(100, N);
const fresh = [];
for (let i = 0; i < F; i++) {
  reset();
  const s = performance.now();
  const j = await post(`{ census { adults { count(where: { age: { gte: ${17 + (i % 70)} } }, privacy: { epsilon: ${(0.01 + i * 1e-5).toFixed(5)} }) { value cached } } } }`);
  const total = performance.now() - s;
  if (j.data.census.adults.count.cached) throw new Error('fresh was cached');
  fresh.push({ total, data: t.data, tx: t.tx, charge: t.charge, complete: t.complete, state: t.state, stateN: t.stateN, txN: t.txN, dataN: t.dataN });
}
const col = (k) => p50(fresh.map((f) => f[k]));
const trivialP50 = p50(times.trivial);
console.log(`${backend} fresh, n=${F}: total p50 ${col('total').toFixed(2)} ms; data SQL ${col('data').toFixed(2)} ms (${col('dataN')} stmt); transactions ${col('tx').toFixed(2)} ms (${col('txN')}: charge ${col('charge').toFixed(2)}, complete ${col('complete').toFixed(2)}); other state queries ${col('state').toFixed(2)} ms (${col('stateN')}); fixed (total - data - charge) p50 ${p50(fresh.map((f) => f.total - f.data - f.charge)).toFixed(2)} ms (total-data-tx p50 ${p50(fresh.map((f) => f.total - f.data - f.tx)).toFixed(2)}, trivial request p50 ${trivialP50.toFixed(2)})`);
await h.close();
if (backend === 'postgres') { const c = new pg.Client({ connectionString: PG_URL }); await c.connect(); await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`); await c.end(); }
process.exit(0);
