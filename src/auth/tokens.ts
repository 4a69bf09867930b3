import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWTVerifyGetKey } from 'jose';
import { configFrom } from '../config.js';
import { unauthenticated } from '../errors.js';

/**
 * Bearer JWTs (SPEC section 6). Development: HS256 with a secret generated on first start and kept
 * in .data/dev-jwt-secret (or CDM_JWT_SECRET). Production: RS256/ES256 verified against a JWKS URL
 * (CDM_JWKS_URL), optionally with CDM_JWT_ISSUER / CDM_JWT_AUDIENCE.
 *
 * Roles: "analyst", "admin" (every domain), "admin:<domain>" (one domain).
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
}

const ROLE = /^(analyst|admin|admin:[a-z][a-zA-Z0-9]*)$/;
const DEV_ALG = 'HS256';

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
  if (c.CDM_JWKS_URL) return { jwksUrl: c.CDM_JWKS_URL, issuer: c.CDM_JWT_ISSUER, audience: c.CDM_JWT_AUDIENCE };
  return { secret: loadOrCreateDevSecret(env), issuer: c.CDM_JWT_ISSUER, audience: c.CDM_JWT_AUDIENCE };
}

export type Verifier = (authorization: string | undefined) => Promise<Caller>;

/** Builds the verifier every gateway and subgraph process uses (zero trust: each verifies). */
export function createVerifier(config: AuthConfig): Verifier {
  const jwks: JWTVerifyGetKey | undefined = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : undefined;
  const options = {
    issuer: config.issuer,
    audience: config.audience,
    algorithms: jwks ? ['RS256', 'ES256'] : [DEV_ALG],
  };
  return async (authorization) => {
    const match = /^Bearer\s+([A-Za-z0-9_\-.]+)$/.exec(authorization?.trim() ?? '');
    if (!match) throw unauthenticated();
    try {
      const { payload } = jwks
        ? await jwtVerify(match[1]!, jwks, options)
        : await jwtVerify(match[1]!, config.secret!, options);
      const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string' && ROLE.test(r)) : [];
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 200) throw new Error('no sub');
      return { id: payload.sub, roles };
    } catch {
      // One message for every failure: which check failed is not the caller's business.
      throw unauthenticated('The bearer token is invalid or expired.');
    }
  };
}

export async function mintDevToken(
  secret: Uint8Array,
  claims: { sub: string; roles: string[]; expiresIn?: string; issuer?: string; audience?: string },
): Promise<string> {
  for (const r of claims.roles) if (!ROLE.test(r)) throw new Error(`unknown role "${r}" (analyst, admin, admin:<domain>)`);
  let jwt = new SignJWT({ roles: claims.roles })
    .setProtectedHeader({ alg: DEV_ALG })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '12h');
  if (claims.issuer) jwt = jwt.setIssuer(claims.issuer);
  if (claims.audience) jwt = jwt.setAudience(claims.audience);
  return jwt.sign(secret);
}

export const isAdminOf = (caller: Caller, domain: string) =>
  caller.roles.includes('admin') || caller.roles.includes(`admin:${domain}`);
export const canQuery = (caller: Caller, domain: string) => caller.roles.includes('analyst') || isAdminOf(caller, domain);
