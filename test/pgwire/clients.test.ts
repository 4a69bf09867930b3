import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startWireMesh } from './harness.js';

/**
 * Real PostgreSQL clients against `cdm start`'s wire server: psql, JDBC (Debian's driver, compiled
 * with the installed JDK), psycopg2 (Debian's), node-postgres (extended protocol).
 */
const JDBC_JAR = '/usr/share/java/postgresql.jar';
const PYTHON = '/usr/bin/python3';

function run(cmd: string, args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Asynchronous on purpose: the server under test runs in this process.
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

describe('PostgreSQL wire protocol with real clients', { timeout: 300_000 }, () => {
  let m: Awaited<ReturnType<typeof startWireMesh>>;
  let alice: string;
  let admin: string;
  const psql = (user: string, token: string, script: string) =>
    run('psql', ['-X', '-A', '-h', '127.0.0.1', '-p', String(m.port), '-U', user, '-d', 'mesh', '-f', '-'], { input: script, env: { PGPASSWORD: token, PGGSSENCMODE: 'disable', PGSSLMODE: 'prefer' } });
  const client = async (user: string, token: string) => {
    const c = new pg.Client({ host: '127.0.0.1', port: m.port, user, password: token, database: 'mesh' });
    await c.connect();
    return c;
  };

  before(async () => {
    m = await startWireMesh();
    alice = await m.token('alice');
    admin = await m.token('root', ['admin']);
  });
  after(async () => m?.close());

  test('psql: catalog, DP COUNT and grouped query, over-budget error and a refused construct without losing the session', async () => {
    const setBudget = await m.gql(`mutation { censusSetBudget(principal: "bob", epsilon: 0.3, delta: 0.000001) { principal } }`, {}, admin);
    assert.equal(setBudget.body.errors, undefined);
    const bob = await m.token('bob');
    const r = await psql('bob', bob, [
      '\\set VERBOSITY verbose',
      '\\dn',
      '\\dt census.*',
      '\\d census.adults',
      "SELECT obj_description('census.adults'::regclass) AS about;",
      'SET cdm.epsilon = 0.1;',
      'SELECT COUNT(*) AS n FROM census.adults;',
      "SELECT sex, COUNT(*) AS n FROM census.adults WHERE age >= 30 GROUP BY sex;",
      'SET cdm.epsilon = 1;',
      'SELECT AVG(age) FROM census.adults;',
      'SELECT sex, AVG(age) AS mean_age FROM census.adults GROUP BY sex;',
      'SELECT * FROM census.adults;',
      'SELECT COUNT(*) FROM census.adults a JOIN reference.clinics c ON true;',
      "SELECT 'still here' AS alive;",
    ].join('\n'));
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    for (const schema of ['census', 'health', 'justice', 'reference']) assert.match(out, new RegExp(`^${schema}\\|`, 'm'));
    assert.match(out, /^census\|adults\|table\|/m);
    assert.match(out, /^hoursPerWeek\|bigint/m);
    assert.match(out, /^sex\|text/m);
    assert.match(out, /One row per adult person/);
    const n = Number(/^n\n(\d+)$/m.exec(out)?.[1]);
    assert.ok(Math.abs(n - 30162) < 500, `DP count ${n}`);
    const female = Number(/^Female\|(\d+)$/m.exec(out)?.[1]);
    const male = Number(/^Male\|(\d+)$/m.exec(out)?.[1]);
    assert.ok(female > 3000 && male > 10000 && male > female, out);
    // 0.1 + 0.1 spent of 0.3: an epsilon-1 query does not fit.
    assert.match(r.stderr, /ERROR: {2}CD001: \S.*\n/);
    assert.match(r.stderr, /ERROR: {2}0A000: DP SQL: SELECT \* releases rows/);
    assert.match(r.stderr, /ERROR: {2}0A000: one statement reads one domain: census and reference are separate/);
    assert.match(out, /^still here$/m);
    assert.match(r.stderr, /NOTICE: {2}00000: DP release [0-9a-f-]{36}: epsilon 0.1\n/);
  });

  test('SQLSTATEs of refusals: unknown column 42703, unsupported 0A000, unknown table 42P01, policy CD002; the session goes on', async () => {
    const c = await client('alice', alice);
    try {
      const code = async (sql: string) => (await c.query(sql).then(() => 'ok', (e: { code: string }) => e.code));
      assert.equal(await code('SELECT AVG(salary) FROM census.adults'), '42703');
      assert.equal(await code('SELECT COUNT(age) FROM census.adults'), '0A000');
      assert.equal(await code('SELECT COUNT(*) FROM census.nothing'), '42P01');
      assert.equal(await code('SET cdm.epsilon = -1'), '22023');
      assert.equal(await code('SELECT COUNT(*) FROM census.adults WHERE age >= 20'), 'ok');
      await c.query("SET cdm.epsilon = 5");
      assert.equal(await code('SELECT COUNT(*) FROM census.adults'), 'CD002');
      assert.equal(await code('SELECT 1'), 'ok');
    } finally {
      await c.end();
    }
  });

  test('authentication: a wrong token is 28P01, a missing one 28000, a token for someone else 28000', async () => {
    const fail = async (user: string, password: string) => {
      const c = new pg.Client({ host: '127.0.0.1', port: m.port, user, password, database: 'mesh' });
      try {
        await c.connect();
        await c.end();
        return 'connected';
      } catch (e) {
        return (e as { code: string }).code;
      }
    };
    assert.equal(await fail('alice', 'not-a-token'), '28P01');
    assert.equal(await fail('alice', ' '), '28000');
    assert.equal(await fail('mallory', alice), '28000');
    assert.equal(await fail('alice', alice), 'connected');
  });

  test('node-postgres: extended protocol with parameters, DP and open data', async () => {
    const c = await client('alice', alice);
    try {
      const dp = await c.query({ text: 'SELECT COUNT(*) AS n FROM census.adults WHERE sex = $1 AND age >= $2', values: ['Female', 30] });
      assert.equal(dp.fields[0]!.name, 'n');
      assert.equal(dp.fields[0]!.dataTypeID, 20);
      const n = Number(dp.rows[0].n);
      assert.ok(n > 3000 && n < 12000, `count ${n}`);
      const open = await c.query({ text: 'SELECT id, beds FROM reference.clinics WHERE region = $1 LIMIT $2 OFFSET 1', values: ['north', 2] });
      const truth = await m.gql(`{ reference { clinics { rows(first: 3, where: { region: { eq: "north" } }) { edges { node { id beds } } } } } }`, {}, alice);
      const expected = truth.body.data.reference.clinics.rows.edges.slice(1).map((e: any) => ({ id: e.node.id, beds: String(e.node.beds) }));
      assert.deepEqual(open.rows, expected);
      const meta = await c.query({ text: 'SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1 ORDER BY ordinal_position', values: ['census'] });
      assert.deepEqual(meta.rows.slice(0, 2), [{ table_name: 'adults', column_name: 'age', data_type: 'bigint' }, { table_name: 'adults', column_name: 'workclass', data_type: 'text' }]);
    } finally {
      await c.end();
    }
  });

  test('psycopg2: a DP query with error-bar columns', async () => {
    const script = `
import sys, psycopg2
c = psycopg2.connect(host='127.0.0.1', port=int(sys.argv[1]), user='alice', password=sys.argv[2], dbname='mesh')
cur = c.cursor()
cur.execute("SET cdm.error_bars = on")
cur.execute("SELECT AVG(age) AS mean_age FROM census.adults WHERE sex = %s", ('Female',))
print(",".join(d.name for d in cur.description))
print(",".join(repr(v) for v in cur.fetchone()))
`;
    const r = await run(PYTHON, ['-c', script, String(m.port), alice]);
    assert.equal(r.code, 0, r.stderr);
    const [cols, vals] = r.stdout.trim().split('\n');
    assert.equal(cols, 'mean_age,mean_age_stderr,mean_age_ci_low,mean_age_ci_high');
    const [v, se, lo, hi] = vals!.split(',').map(Number);
    assert.ok(v! > 30 && v! < 45, `mean ${v}`);
    assert.ok(se! > 0 && lo! < v! && v! < hi!, vals);
  });

  test('JDBC: DatabaseMetaData getTables/getColumns and a prepared DP query with a parameter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdm-jdbc-'));
    writeFileSync(join(dir, 'Wire.java'), `
import java.sql.*;
public class Wire {
  public static void main(String[] a) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + a[0] + "/mesh", "alice", a[1])) {
      DatabaseMetaData md = c.getMetaData();
      try (ResultSet t = md.getTables(null, "census", "%", new String[] {"TABLE"})) { while (t.next()) System.out.println("table " + t.getString("TABLE_SCHEM") + "." + t.getString("TABLE_NAME")); }
      try (ResultSet col = md.getColumns(null, "census", "adults", "%")) { while (col.next()) System.out.println("column " + col.getString("COLUMN_NAME") + " " + col.getString("TYPE_NAME") + " " + col.getString("REMARKS")); }
      try (PreparedStatement p = c.prepareStatement("SELECT COUNT(*) AS n FROM census.adults WHERE age >= ?")) {
        p.setInt(1, 40);
        try (ResultSet r = p.executeQuery()) { r.next(); System.out.println("n " + r.getLong("n")); }
      }
    }
  }
}`);
    const javac = await run('javac', ['-cp', JDBC_JAR, 'Wire.java'], { cwd: dir });
    assert.equal(javac.code, 0, javac.stderr);
    const r = await run('java', ['-cp', `${JDBC_JAR}:.`, 'Wire', String(m.port), alice], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^table census\.adults$/m);
    assert.match(r.stdout, /^column age int8 Age of the person\..*\[17, 90\]/m);
    assert.match(r.stdout, /^column hoursPerWeek int8 /m);
    const n = Number(/^n (\d+)$/m.exec(r.stdout)?.[1]);
    assert.ok(n > 10000 && n < 20000, `count ${n}`);
  });

  test('the same query over the wire and through GraphQL is one release: same value, one charge in the audit log', async () => {
    const carol = await m.token('carol');
    const c = await client('carol', carol);
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(n.message ?? ''));
    let wireValue: string;
    try {
      await c.query('SET cdm.epsilon = 0.25');
      wireValue = (await c.query('SELECT COUNT(*) AS n FROM census.adults WHERE age >= 50')).rows[0].n;
    } finally {
      await c.end();
    }
    const releaseId = /DP release (\S+):/.exec(notices[0] ?? '')?.[1];
    assert.ok(releaseId, notices.join('\n'));
    const gql = await m.gql(`{ census { sql(query: "SELECT COUNT(*) AS n FROM adults WHERE age >= 50", privacy: { epsilon: 0.25 }) { cached releaseId table { rows { cells { number } } } } } }`, {}, carol);
    assert.equal(gql.body.errors, undefined);
    const v = gql.body.data.census.sql;
    assert.equal(v.releaseId, releaseId);
    assert.equal(v.cached, true);
    assert.equal(String(Math.round(v.table.rows[0].cells[0].number)), wireValue);
    const audit = await m.gql(`{ censusAuditLog(first: 500, actor: "carol") { action detail } }`, {}, admin);
    const mine = audit.body.data.censusAuditLog.filter((e: any) => e.detail.includes(releaseId!));
    assert.deepEqual(mine.map((e: any) => e.action).sort(), ['release.charge', 'release.complete']);
  });
});
