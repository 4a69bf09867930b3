import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { decodeJwt, SignJWT } from 'jose';
import { authConfigFromEnv, createVerifier, maxLifetimeFromEnv, mintDevToken } from '../../src/auth/tokens.js';
import { startTestMesh, type TestMesh } from '../helpers/mesh.js';

/** Attack class: forged, confused and over-long tokens. */
const secret = randomBytes(32);
const verify = createVerifier({ secret });
const sign = (claims: Record<string, unknown>, build: (j: SignJWT) => SignJWT = (j) => j) =>
  build(new SignJWT(claims).setProtectedHeader({ alg: 'HS256' })).sign(secret);
const code = async (p: Promise<unknown>) => p.then(() => 'OK', (e: any) => e.extensions?.code ?? `THREW ${e}`);

describe('token rules', () => {
  test('exp is required', async () => {
    assert.equal(await code(verify(`Bearer ${await sign({ roles: ['analyst'] }, (j) => j.setSubject('a').setIssuedAt())}`)), 'UNAUTHENTICATED');
  });

  test('a lifetime above the maximum (24 h by default) is refused, with or without iat', async () => {
    assert.equal(await code(verify(`Bearer ${await sign({ roles: ['analyst'] }, (j) => j.setSubject('a').setIssuedAt().setExpirationTime('23h'))}`)), 'OK');
    assert.equal(await code(verify(`Bearer ${await sign({ roles: ['analyst'] }, (j) => j.setSubject('a').setIssuedAt().setExpirationTime('25h'))}`)), 'UNAUTHENTICATED');
    assert.equal(await code(verify(`Bearer ${await sign({ roles: ['analyst'] }, (j) => j.setSubject('a').setExpirationTime('3650d'))}`)), 'UNAUTHENTICATED');
    // An iat in the future cannot stretch the window.
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await code(verify(`Bearer ${await sign({ roles: ['analyst'] }, (j) => j.setSubject('a').setIssuedAt(now + 30 * 86400).setExpirationTime(now + 30 * 86400 + 3600))}`)), 'UNAUTHENTICATED');
    const short = createVerifier({ secret, maxLifetimeSeconds: 600 });
    assert.equal(await code(short(`Bearer ${await sign({}, (j) => j.setSubject('a').setIssuedAt().setExpirationTime('1h'))}`)), 'UNAUTHENTICATED');
  });

  test('CDM_MAX_TOKEN_LIFETIME sets the maximum (seconds or a duration)', () => {
    assert.equal(maxLifetimeFromEnv({}), 86400);
    assert.equal(maxLifetimeFromEnv({ CDM_MAX_TOKEN_LIFETIME: '3600' }), 3600);
    assert.equal(maxLifetimeFromEnv({ CDM_MAX_TOKEN_LIFETIME: '7d' }), 7 * 86400);
    assert.throws(() => maxLifetimeFromEnv({ CDM_MAX_TOKEN_LIFETIME: 'forever' }));
  });

  test('iss and aud are checked when configured, and required with a JWKS URL', async () => {
    const strict = createVerifier({ secret, issuer: 'https://idp', audience: 'cdm' });
    const good = await sign({}, (j) => j.setSubject('a').setIssuedAt().setExpirationTime('1h').setIssuer('https://idp').setAudience('cdm'));
    assert.equal(await code(strict(`Bearer ${good}`)), 'OK');
    const otherAud = await sign({}, (j) => j.setSubject('a').setIssuedAt().setExpirationTime('1h').setIssuer('https://idp').setAudience('billing'));
    assert.equal(await code(strict(`Bearer ${otherAud}`)), 'UNAUTHENTICATED');
    const noIss = await sign({}, (j) => j.setSubject('a').setIssuedAt().setExpirationTime('1h').setAudience('cdm'));
    assert.equal(await code(strict(`Bearer ${noIss}`)), 'UNAUTHENTICATED');
    assert.throws(() => createVerifier({ jwksUrl: 'https://idp/.well-known/jwks.json' }), /CDM_JWT_ISSUER/);
    assert.throws(() => createVerifier({ jwksUrl: 'https://idp/.well-known/jwks.json', issuer: 'https://idp' }), /CDM_JWT_AUDIENCE/);
    assert.throws(() => createVerifier(authConfigFromEnv({ CDM_JWKS_URL: 'https://idp/jwks', CDM_JWT_SECRET: 'x' })));
  });

  test('NUL bytes, control characters or absurd subjects are UNAUTHENTICATED, not a crash', async () => {
    for (const sub of ['a\u0000b', '\u0000', 'x'.repeat(201), 'line\nbreak', '']) {
      assert.equal(await code(verify(`Bearer ${await sign({ roles: ['analyst'] }, (j) => j.setSubject(sub).setIssuedAt().setExpirationTime('1h'))}`)), 'UNAUTHENTICATED', JSON.stringify(sub));
    }
    assert.equal(await code(verify(`Bearer ${await sign({ roles: ['analyst'], sub: 42 }, (j) => j.setIssuedAt().setExpirationTime('1h'))}`)), 'UNAUTHENTICATED');
    assert.equal(await code(verify('Bearer ' + 'a'.repeat(20_000))), 'UNAUTHENTICATED');
  });

  test('mintDevToken mints exp within the maximum and refuses longer lifetimes', async () => {
    const t = await mintDevToken(secret, { sub: 'a', roles: ['analyst'] });
    const { exp, iat } = decodeJwt(t);
    assert.ok(exp && iat && exp - iat <= 86400);
    await assert.rejects(mintDevToken(secret, { sub: 'a', roles: ['analyst'], expiresIn: '7d' }), /at most/);
  });

  test('cdm token prints a token with exp', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdm-token-'));
    try {
      const cli = resolve(import.meta.dirname, '../../src/cli/main.js');
      const out = execFileSync(process.execPath, [cli, 'token', '--sub', 'ann'], { env: { ...process.env, CDM_DATA_DIR: dir, CDM_JWT_SECRET: '' }, encoding: 'utf8' }).trim();
      const { exp, iat, sub } = decodeJwt(out.split('\n').pop()!);
      assert.equal(sub, 'ann');
      assert.ok(typeof exp === 'number' && exp - iat! <= 86400);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('HTTP status of UNAUTHENTICATED (GraphQL over HTTP)', { timeout: 300_000 }, () => {
  let m: TestMesh;
  before(async () => (m = await startTestMesh('pglite')));
  after(async () => m?.close());

  test('401 with WWW-Authenticate: Bearer at the gateway and at every subgraph', async () => {
    const forged = await new SignJWT({ roles: ['analyst'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('m').setIssuedAt().setExpirationTime('1h').sign(randomBytes(32));
    for (const url of [m.url, ...Object.values(m.mesh.subgraphs)]) {
      for (const token of [null, forged]) {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ query: '{ __typename }' }),
        });
        assert.equal(res.status, 401, url);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/, url);
        assert.equal(((await res.json()) as any).errors[0].extensions.code, 'UNAUTHENTICATED');
      }
    }
    const csv = await fetch(`${m.mesh.gateway.url}/export/census/adults.csv`);
    assert.equal(csv.status, 401);
    assert.match(csv.headers.get('www-authenticate') ?? '', /^Bearer/);
  });
});
