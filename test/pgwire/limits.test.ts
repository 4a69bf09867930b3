import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startWireMesh } from './harness.js';

/** Per-server limits (from the PGWIRE_* environment, as `cdm start` reads it), EXPLAIN, SET defaults. */
describe('PostgreSQL wire protocol: limits, EXPLAIN and session settings', { timeout: 300_000 }, () => {
  let m: Awaited<ReturnType<typeof startWireMesh>>;
  const connect = async (user: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port: m.port, user, password: await m.token(user), database: 'mesh' });
    await c.connect();
    return c;
  };
  const spent = async (user: string) => {
    const r = await m.gql(`{ census { budget { epsilonSpent } } }`, {}, await m.token(user));
    return r.body.data.census.budget.epsilonSpent as number;
  };

  before(async () => {
    process.env.PGWIRE_MAX_ROWS = '30';
    process.env.PGWIRE_MAX_CONNECTIONS_PER_PRINCIPAL = '2';
    m = await startWireMesh();
  });
  after(async () => m?.close());

  test('at most N connections per principal; a closed one frees its slot', async () => {
    const a = await connect('dora');
    const b = await connect('dora');
    await assert.rejects(connect('dora'), (e: { code: string; message: string }) => e.code === '53300' && /too many connections for principal "dora"/.test(e.message));
    const other = await connect('erin');
    await other.end();
    await a.end();
    await new Promise((r) => setTimeout(r, 100));
    const c = await connect('dora');
    await Promise.all([b.end(), c.end()]);
  });

  test('max result rows: open rows over the limit are refused, a LIMIT under it is served', async () => {
    const c = await connect('fay');
    try {
      await assert.rejects(c.query('SELECT id FROM reference.clinics'), (e: { code: string }) => e.code === '54000');
      assert.equal((await c.query('SELECT id FROM reference.clinics LIMIT 30')).rows.length, 30);
      await assert.rejects(c.query('SELECT id FROM reference.clinics LIMIT 31'), (e: { code: string }) => e.code === '54000');
    } finally {
      await c.end();
    }
  });

  test('statement_timeout cancels with 57014 and the session goes on', async () => {
    const c = await connect('gus');
    try {
      await c.query('SET statement_timeout = 1');
      await assert.rejects(c.query('SELECT COUNT(*) FROM health.visits'), (e: { code: string }) => e.code === '57014');
      await c.query('RESET statement_timeout');
      assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    } finally {
      await c.end();
    }
  });

  test('EXPLAIN shows each release and its cost and charges nothing; SET cdm.epsilon is the session default', async () => {
    const c = await connect('hal');
    try {
      await c.query('SET cdm.epsilon = 0.4');
      const before = await spent('hal');
      const plan = await c.query("EXPLAIN SELECT COUNT(*) AS n, AVG(age) AS mean_age FROM census.adults WHERE sex = 'Male'");
      assert.deepEqual(plan.fields.map((f) => f.name), ['QUERY PLAN']);
      const lines = plan.rows.map((r) => r['QUERY PLAN'] as string);
      assert.equal(lines[0], 'DP SQL over census.adults');
      assert.ok(lines.some((l) => /^ {2}measure count: /.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /^ {2}measure centredSum\(age\): /.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /^total: epsilon 0\.4 charged if run now; fits your budget/.test(l)), lines.join('\n'));
      assert.equal(await spent('hal'), before);
      await c.query("SELECT COUNT(*) AS n, AVG(age) AS mean_age FROM census.adults WHERE sex = 'Male'");
      assert.ok(Math.abs((await spent('hal')) - before - 0.4) < 1e-9);
      assert.equal((await c.query('SHOW cdm.epsilon')).rows[0]['cdm.epsilon'], '0.4');
      await assert.rejects(c.query('SET cdm.unknown = 1'), (e: { code: string }) => e.code === '42704');
    } finally {
      await c.end();
    }
  });
});
