import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createVerifier, mintDevToken } from '../../src/auth/tokens.js';
import { demoDomains } from '../../src/domain/registry.js';
import { startPgWire, type PgWireHandle } from '../../src/pgwire/server.js';

/**
 * The token travels as a cleartext password, so it is asked for only over TLS or from loopback.
 * No mesh is needed: these connections end at authentication or in the data-free catalog.
 */
const external = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;

describe('PostgreSQL wire protocol: transport security', { timeout: 120_000 }, () => {
  const secret = randomBytes(32);
  const verifier = createVerifier({ secret });
  let plain: PgWireHandle;
  let tls: PgWireHandle;
  const options = { host: '0.0.0.0', gatewayUrl: 'http://127.0.0.1:9/graphql', domains: demoDomains(), verifier };
  const connect = async (host: string, port: number, ssl?: pg.ClientConfig['ssl']) => {
    const c = new pg.Client({ host, port, user: 'ann', password: await mintDevToken(secret, { sub: 'ann', roles: ['analyst'] }), database: 'mesh', ssl });
    await c.connect();
    return c;
  };

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdm-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const buf = (f: string) => new Uint8Array(readFileSync(join(dir, f))).buffer;
    plain = await startPgWire({ ...options, port: 0 });
    tls = await startPgWire({ ...options, port: 0, tls: { key: buf('key.pem'), cert: buf('cert.pem') } });
  });
  after(async () => {
    await plain?.close();
    await tls?.close();
  });

  test('loopback without TLS: accepted; catalog queries work without touching the mesh', async () => {
    const c = await connect('127.0.0.1', plain.port);
    const r = await c.query("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'census'");
    assert.deepEqual(r.rows, [{ table_schema: 'census', table_name: 'adults' }]);
    await c.end();
  });

  test('off loopback without TLS: refused with 28000 before the password is asked for', { skip: !external && 'no non-loopback interface' }, async () => {
    await assert.rejects(connect(external!, plain.port), (e: { code: string; message: string }) => e.code === '28000' && /only over TLS or from loopback/.test(e.message));
  });

  test('off loopback over TLS: accepted, and the session is encrypted', { skip: !external && 'no non-loopback interface' }, async () => {
    const c = await connect(external!, tls.port, { rejectUnauthorized: false });
    assert.equal((c as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted, true);
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.end();
  });

  test('a server without TLS declines SSLRequest, so sslmode=require fails cleanly', async () => {
    await assert.rejects(connect('127.0.0.1', plain.port, { rejectUnauthorized: false }), /does not support SSL/);
  });
});
