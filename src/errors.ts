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

export const unauthenticated = (message = 'A valid bearer token is required.') =>
  new MeshError(ErrorCode.UNAUTHENTICATED, message);
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
  const cause = (original as { originalError?: unknown })?.originalError ?? original;
  log.error({ err: cause, path: formatted.path, code }, 'internal error masked for the client');
  return {
    message: 'Internal error. It has been logged.',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}
