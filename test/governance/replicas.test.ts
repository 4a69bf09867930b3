import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { mintDevToken } from '../../src/auth/tokens.js';
import { compose, emptyState, epsilonSpent, withinCap } from '../../src/dp/accountant.js';
import type { PrivacyCost } from '../../src/dp/cost.js';
import { demoDomain } from '../../src/domain/registry.js';
import { verifyAudit } from '../../src/governance/audit.js';
import { stateOf } from '../../src/governance/ledger.js';
import { fromRoot } from '../../src/paths.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import { PG_URL, requirePostgres } from '../helpers/mesh.js';

/**
 * Two replicas of one subgraph on one PostgreSQL, 500 concurrent releases whose total cost is far
 * above the principal's cap: the caps hold exactly (overspend 0), and every release has its ledger
 * entry and both audit entries, in one unbroken hash chain.
 */
const census = demoDomain('census');
const CAP = { epsilon: 3, delta: 1e-6 };
const REQUESTS = 500;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

describe('two replicas, one PostgreSQL, 500 concurrent charges', { timeout: 240_000 }, () => {
  const suffix = `_r${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(32).toString('base64url');
  const children: ChildProcess[] = [];
  const urls: string[] = [];
  let db: DomainDatabase;

  before(async () => {
    await requirePostgres();
    db = await openDomainDatabase(census, { url: PG_URL, schema: `${census.databaseSchema}${suffix}` });
    await migrate(db);
    await seedDomain(db, census);
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = spawn(process.execPath, [fromRoot('dist', 'src', 'cli', 'main.js'), 'subgraph', 'census', '--port', String(port), '--no-seed'], {
        // 500 charges race from a few principals: lift the per-principal operation limit (tested in
        // test/query/request-scope.test.ts) so that only the caps decide.
        env: { ...process.env, DATABASE_URL: PG_URL, CDM_SCHEMA_SUFFIX: suffix, CDM_JWT_SECRET: secret, CDM_LOG_LEVEL: 'error', CDM_MAX_CONCURRENT_OPERATIONS: '1000' },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      children.push(child);
      urls.push(`http://127.0.0.1:${port}`);
    }
    for (const url of urls) {
      for (let t = 0; ; t++) {
        if (await fetch(`${url}/health`).then((r) => r.ok).catch(() => false)) break;
        if (t > 600) throw new Error(`replica ${url} did not start`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    if (db) {
      if (!process.env.KEEP_SCHEMA) await db.query(`DROP SCHEMA IF EXISTS "${db.schema}" CASCADE`);
      await db.close();
    }
  });

  const gql = async (url: string, token: string, query: string) => {
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
    return (await res.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] };
  };

  test('overspend is 0 and every release is in the ledger and the audit chain', async () => {
    const key = new TextEncoder().encode(secret);
    const admin = await mintDevToken(key, { sub: 'root', roles: ['admin'] });
    const analyst = await mintDevToken(key, { sub: 'zed', roles: ['analyst'] });
    const set = await gql(urls[0]!, admin, `mutation { censusSetBudget(principal: "zed", epsilon: ${CAP.epsilon}, delta: ${CAP.delta}) { epsilon } }`);
    assert.equal(set.errors, undefined);

    // 500 distinct plans of epsilon 0.1 (basic composition would allow 30), alternating replicas.
    const results = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) =>
        gql(urls[i % 2]!, analyst, `{ census { adults { count(where: { capitalGain: { gte: ${i} } }, privacy: { epsilon: 0.1 }) { value releaseId } } } }`),
      ),
    );
    const ok = results.filter((r) => r.data?.census?.adults?.count);
    const refused = results.filter((r) => r.errors?.[0]?.extensions?.code === 'BUDGET_EXHAUSTED');
    assert.equal(ok.length + refused.length, REQUESTS, `unexpected errors: ${JSON.stringify(results.find((r) => r.errors && r.errors[0]?.extensions?.code !== 'BUDGET_EXHAUSTED'))}`);
    assert.ok(ok.length > 0 && refused.length > 0, `${ok.length} answered, ${refused.length} refused`);

    // The ledger, recomposed from scratch, fits the cap: overspend 0.
    const ledger = await db.query<{ release_id: string; cost: PrivacyCost[] }>(`SELECT release_id, cost FROM ${qualified(db, 'ledger_entry')} WHERE principal_id = 'zed'`);
    assert.equal(ledger.length, ok.length, 'one ledger entry per answered release');
    const recomposed = ledger.flatMap((l) => l.cost).reduce(compose, emptyState());
    const spent = epsilonSpent(recomposed, CAP.delta);
    assert.ok(withinCap(spent, CAP.epsilon), `overspend: ${spent} > ${CAP.epsilon}`);
    const [row] = await db.query<{ spent: unknown }>(`SELECT spent FROM ${qualified(db, 'principal_budget')} WHERE principal_id = 'zed'`);
    assert.equal(stateOf(row!.spent).releases, ok.length, 'the running state counts every charge once');
    assert.ok(Math.abs(epsilonSpent(stateOf(row!.spent), CAP.delta) - spent) < 1e-9);

    // Every answered release: done, charged in the audit log, completed with its result hash.
    const released = new Set(ok.map((r) => r.data.census.adults.count.releaseId as string));
    assert.deepEqual(new Set(ledger.map((l) => l.release_id)), released);
    const done = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified(db, 'release')} WHERE status = 'done' AND principal_id = 'zed'`);
    assert.equal(done[0]!.n, ok.length);
    const audit = await db.query<{ action: string; rid: string }>(`SELECT action, detail->>'releaseId' AS rid FROM ${qualified(db, 'audit_entry')} WHERE action LIKE 'release.%'`);
    for (const action of ['release.charge', 'release.complete']) {
      assert.deepEqual(new Set(audit.filter((a) => a.action === action).map((a) => a.rid)), released, `${action} entries`);
    }
    const chain = await verifyAudit(db);
    assert.equal(chain.ok, true, `audit chain broken under concurrency: ${JSON.stringify(chain)}`);
  });
});
