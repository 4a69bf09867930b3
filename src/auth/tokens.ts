import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRemoteJWKSet, decodeJwt, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { LruCache } from '../cache.js';
import { configFrom } from '../config.js';
import { unauthenticated } from '../errors.js';

/**
 * Bearer JWTs (SPEC section 6). Development: HS256 with a secret generated on first start and kept
 * in .data/dev-jwt-secret (or CDM_JWT_SECRET). Production: RS256/ES256 verified against a JWKS URL
 * (CDM_JWKS_URL), optionally with CDM_JWT_ISSUER / CDM_JWT_AUDIENCE.
 *
 * Roles: "analyst", "admin" (every domain), "admin:<domain>" (one domain), or any other role name a
 * domain's policy opens itself to (`policy.queryRoles`); see ./authorise.ts for who may query.
 *
 * Token rules (README "Security and limits"): `exp` is required; a lifetime (exp - iat, or exp - now
 * without iat) above CDM_MAX_TOKEN_LIFETIME seconds (default 24 h) is refused; `iss`/`aud` are
 * checked when CDM_JWT_ISSUER / CDM_JWT_AUDIENCE are set, and must be set with a JWKS URL (a
 * production identity provider signs tokens for many audiences: accepting any of them would let a
 * token minted for another service query the mesh). `sub` is printable text of at most 200 chars.
 */
export interface Caller {
  id: string;
  roles: string[];
}

export interface AuthConfig {
  secret?: Uint8Array;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** Longest accepted token lifetime in seconds (default 24 h). */
  maxLifetimeSeconds?: number;
}

/** A role name: `admin:<domain>` or a plain lower-case name (analyst, admin, or a domain's own). */
const ROLE = /^(admin:[a-z][a-zA-Z0-9]*|[a-z][a-z0-9_-]{0,63})$/;
/** Subjects become principal ids stored and logged: printable, no control characters, bounded. */
const SUB = /^[^\u0000-\u001f\u007f-\u009f]{1,200}$/u;
const DEV_ALG = 'HS256';
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 24 * 3600;

/** CDM_MAX_TOKEN_LIFETIME: seconds, or a duration such as 12h / 7d / 30m. */
export function maxLifetimeFromEnv(env = process.env): number {
  const raw = configFrom(env).CDM_MAX_TOKEN_LIFETIME?.trim();
  if (!raw) return DEFAULT_MAX_TOKEN_LIFETIME_S;
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(raw);
  if (!m) throw new Error(`CDM_MAX_TOKEN_LIFETIME must be seconds or a duration like 12h, not "${raw}"`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's'];
}

export function devSecretPath(env = process.env): string {
  const dir = configFrom(env).CDM_DATA_DIR;
  return resolve(dir && dir !== 'memory://' ? dir : resolve(process.cwd(), '.data'), 'dev-jwt-secret');
}

/** The HS256 development secret: from CDM_JWT_SECRET, else the local file, created on first use. */
export function loadOrCreateDevSecret(env = process.env): Uint8Array {
  const secret = configFrom(env).CDM_JWT_SECRET;
  if (secret) return new TextEncoder().encode(secret);
  const path = devSecretPath(env);
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
  }
  return new TextEncoder().encode(readFileSync(path, 'utf8').trim());
}

export function authConfigFromEnv(env = process.env): AuthConfig {
  const c = configFrom(env);
  const common = { issuer: c.CDM_JWT_ISSUER || undefined, audience: c.CDM_JWT_AUDIENCE || undefined, maxLifetimeSeconds: maxLifetimeFromEnv(env) };
  if (c.CDM_JWKS_URL) return { jwksUrl: c.CDM_JWKS_URL, ...common };
  return { secret: loadOrCreateDevSecret(env), ...common };
}

export type Verifier = (authorization: string | undefined) => Promise<Caller>;

/** Builds the verifier every gateway and subgraph process uses (zero trust: each verifies). */
export function createVerifier(config: AuthConfig): Verifier {
  if (config.jwksUrl && (!config.issuer || !config.audience))
    throw new Error('CDM_JWKS_URL needs CDM_JWT_ISSUER and CDM_JWT_AUDIENCE: tokens of any issuer or audience would otherwise be accepted.');
  const jwks: JWTVerifyGetKey | undefined = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;
  const maxLifetime = config.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_S;
  const options = {
    issuer: config.issuer,
    audience: config.audience,
    algorithms: jwks ? ['RS256', 'ES256'] : [DEV_ALG],
    requiredClaims: ['exp', 'sub'],
  };
  const verified = new VerifiedTokens();
  return async (authorization) => {
    const match = /^Bearer\s+([A-Za-z0-9_\-.]{1,8192})$/.exec(authorization?.trim() ?? '');
    if (!match) throw unauthenticated();
    const known = verified.get(match[1]!);
    if (known) return known;
    try {
      const { payload } = jwks
        ? await jwtVerify(match[1]!, jwks, options)
        : await jwtVerify(match[1]!, config.secret!, options);
      checkLifetime(payload.exp, payload.iat, maxLifetime);
      const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string' && ROLE.test(r)) : [];
      if (typeof payload.sub !== 'string' || !SUB.test(payload.sub)) throw new Error('bad sub');
      verified.set(match[1]!, { id: payload.sub, roles }, payload.exp!);
      return { id: payload.sub, roles };
    } catch {
      // One message for every failure: which check failed is not the caller's business.
      throw unauthenticated('The bearer token is invalid or expired.');
    }
  };
}

/**
 * Tokens that verified, for a short while: checking a signature costs CPU on every request at every
 * hop (gateway, then subgraph), and callers send the same token again and again. Only successful
 * verifications are kept, by the token's SHA-256; an entry lasts until the token expires, and at
 * most VERIFIED_TTL_MS, so a key withdrawn from a JWKS stops its tokens within that time. Each hit is
 * a new Caller object (the query engine scopes a request by its Caller object).
 */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 10_000;
class VerifiedTokens {
  private readonly entries = new LruCache<{ caller: Caller; until: number }>(VERIFIED_MAX);
  private readonly key = (token: string) => createHash('sha256').update(token).digest('base64url');
  get(token: string): Caller | undefined {
    const e = this.entries.get(this.key(token));
    // An expired entry is never served; the bound in entries keeps the stale ones few.
    if (!e || Date.now() >= e.until) return undefined;
    return { id: e.caller.id, roles: [...e.caller.roles] };
  }
  set(token: string, caller: Caller, expSeconds: number): void {
    this.entries.set(this.key(token), { caller, until: Math.min(expSeconds * 1000, Date.now() + VERIFIED_TTL_MS) });
  }
}

/** A stolen long-lived token is a standing key to the budget: bound what one token can be. */
function checkLifetime(exp: unknown, iat: unknown, maxSeconds: number, now = Math.floor(Date.now() / 1000)): void {
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new Error('no exp');
  const from = typeof iat === 'number' && Number.isFinite(iat) ? iat : now;
  // A token issued in the future (beyond clock skew) would stretch its lifetime past the bound.
  if (from > now + 60) throw new Error('iat in the future');
  if (exp - from > maxSeconds) throw new Error('lifetime too long');
}

export async function mintDevToken(
  secret: Uint8Array,
  claims: { sub: string; roles: string[]; expiresIn?: string; issuer?: string; audience?: string; maxLifetimeSeconds?: number },
): Promise<string> {
  for (const r of claims.roles) if (!ROLE.test(r)) throw new Error(`invalid role "${r}" (analyst, admin, admin:<domain>, or a role a domain's policy names)`);
  if (!SUB.test(claims.sub)) throw new Error('sub must be 1-200 printable characters');
  let jwt = new SignJWT({ roles: claims.roles })
    .setProtectedHeader({ alg: DEV_ALG })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '12h');
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  const token = await jwt.sign(secret);
  // Refuse to mint what every verifier would refuse: the CLI then fails with a clear message.
  const { exp, iat } = decodeJwt(token);
  const max = claims.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_S;
  if (exp! - iat! > max) throw new Error(`a token may live at most ${max} s (CDM_MAX_TOKEN_LIFETIME); ${claims.expiresIn} is longer`);
  return token;
}

export const isAdminOf = (caller: Caller, domain: string) =>
  caller.roles.includes('admin') || caller.roles.includes(`admin:${domain}`);
