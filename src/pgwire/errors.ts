import type { PgError } from './protocol.js';

/**
 * SQLSTATEs for the mesh's error codes (the message is the GraphQL one, unchanged).
 * Budget and policy refusals have no standard SQLSTATE, so they get their own class "CD"
 * (confidential data), documented in the README:
 *   CD001 budget exhausted, CD002 policy violation, CD003 rate limited.
 */
export class WireError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly extra: { position?: number; detail?: string; hint?: string } = {},
  ) {
    super(message);
  }
}

const BY_CODE: Record<string, string> = {
  UNAUTHENTICATED: '28000',
  FORBIDDEN: '42501',
  BUDGET_EXHAUSTED: 'CD001',
  POLICY_VIOLATION: 'CD002',
  RATE_LIMITED: 'CD003',
  QUERY_TOO_COMPLEX: '54000',
  NOT_FOUND: '42P01',
  INTERNAL_SERVER_ERROR: 'XX000',
};

/**
 * BAD_USER_INPUT splits by what was wrong: unknown relation, unknown column, unsupported construct,
 * syntax. DP SQL names the construct it refused (extensions.construct); the message decides otherwise.
 */
const BY_CONSTRUCT: Record<string, string> = { syntax: '42601', FROM: '42P01', column: '42703', 'qualified name': '42703' };
function badInputState(message: string, construct?: string): string {
  if (construct) return construct === 'column' && /GROUP BY/.test(message) ? '42803' : (BY_CONSTRUCT[construct] ?? '0A000');
  if (/no dataset/i.test(message)) return '42P01';
  if (/is not a column/i.test(message)) return '42703';
  if (/not supported|is supported .* only|only .* is supported/i.test(message)) return '0A000';
  return '42601';
}

export function sqlStateOf(code: string | undefined, message: string, construct?: string): string {
  if (code === 'BAD_USER_INPUT') return badInputState(message, construct);
  return BY_CODE[code ?? ''] ?? 'XX000';
}

/** Any failure as an ErrorResponse: ours keep their SQLSTATE; anything unexpected is masked. */
export function toPgError(e: unknown): PgError {
  if (e instanceof WireError) return { code: e.code, message: e.message, detail: e.extra.detail, hint: e.extra.hint };
  const pg = e as { code?: unknown; message?: unknown; name?: string };
  // PGlite (the data-free catalog) raises PostgreSQL errors with a real SQLSTATE: pass them on.
  if (typeof pg.code === 'string' && /^[0-9A-Z]{5}$/.test(pg.code) && typeof pg.message === 'string') return { code: pg.code, message: pg.message };
  if (pg.name === 'TimeoutError' || pg.name === 'AbortError') return { code: '57014', message: 'canceling statement due to statement timeout' };
  return { code: 'XX000', message: 'internal error in the SQL gateway (logged)' };
}
