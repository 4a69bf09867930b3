import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { log } from './log.js';

/**
 * Every failure a client can see carries one of these stable codes in `extensions.code`.
 * Anything else (a bug, a database error) is masked as INTERNAL_SERVER_ERROR without its message:
 * database messages can quote data, and a sensitive domain must never leak a raw value.
 */
export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  BUDGET_EXHAUSTED: 'BUDGET_EXHAUSTED',
  POLICY_VIOLATION: 'POLICY_VIOLATION',
  RATE_LIMITED: 'RATE_LIMITED',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  NOT_FOUND: 'NOT_FOUND',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const PUBLIC_CODES = new Set<string>(Object.values(ErrorCode));
/** Apollo's own codes for malformed requests: their messages describe the request, not data. */
const CLIENT_ERROR_CODES = new Set(['GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'BAD_REQUEST', 'PERSISTED_QUERY_NOT_FOUND', 'PERSISTED_QUERY_NOT_SUPPORTED', 'OPERATION_RESOLUTION_FAILURE']);

export class MeshError extends GraphQLError {
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message, { extensions: { code, ...details } });
  }
}

/**
 * GraphQL-over-HTTP: a request without valid credentials is refused as a whole with 401 and a
 * `WWW-Authenticate: Bearer` challenge (RFC 6750 section 3), at the gateway and at every subgraph.
 * Apollo reads `extensions.http` for the response head and drops it from the body.
 */
const UNAUTH_DEFAULT = 'A valid bearer token is required.';
export const unauthenticated = (message = UNAUTH_DEFAULT) =>
  new MeshError(ErrorCode.UNAUTHENTICATED, message, {
    http: { status: 401, headers: new HeaderMap([['www-authenticate', message === UNAUTH_DEFAULT ? 'Bearer' : 'Bearer error="invalid_token"']]) },
  });
export const forbidden = (message: string) => new MeshError(ErrorCode.FORBIDDEN, message);
export const badInput = (message: string, details: Record<string, unknown> = {}) =>
  new MeshError(ErrorCode.BAD_USER_INPUT, message, details);

/**
 * Apollo `formatError`: keep our own errors and GraphQL validation errors, mask everything else.
 * Stack traces never leave the process.
 */
export function formatClientError(
  formatted: { message: string; extensions?: Record<string, unknown>; locations?: unknown; path?: unknown },
  original?: unknown,
): typeof formatted {
  const code = String(formatted.extensions?.code ?? '');
  const { stacktrace: _drop, exception: _drop2, ...extensions } = formatted.extensions ?? {};
  // INTERNAL_SERVER_ERROR is what Apollo labels any unexpected error with: its message may quote a
  // database error (and so data), so it is always replaced below.
  if ((PUBLIC_CODES.has(code) && code !== ErrorCode.INTERNAL_SERVER_ERROR) || CLIENT_ERROR_CODES.has(code)) {
    return { ...formatted, extensions };
  }
  // Apollo's own request errors without a code (e.g. a persisted query whose hash does not match)
  // carry a 4xx status: they describe the request, so they are the client's error, not ours.
  const status = (original as { extensions?: { http?: { status?: number } } })?.extensions?.http?.status;
  if (!code.length || code === ErrorCode.INTERNAL_SERVER_ERROR) {
    if (original instanceof GraphQLError && !original.originalError && typeof status === 'number' && status >= 400 && status < 500)
      return { ...formatted, extensions: { ...extensions, code: 'BAD_REQUEST' } };
  }
  const cause = (original as { originalError?: unknown })?.originalError ?? original;
  log.error({ err: cause, path: formatted.path, code }, 'internal error masked for the client');
  return {
    message: 'Internal error. It has been logged.',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}
