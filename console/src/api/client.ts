import { print, type DocumentNode } from 'graphql';

/**
 * The one place that talks HTTP to the gateway: bearer token from session storage, errors turned
 * into ApiError with the mesh's stable code, and an expired or invalid token reported once to the
 * app (which sends the user back to sign-in with the reason).
 */
export const GRAPHQL_URL = '/graphql';
const TOKEN_KEY = 'cdm.console.token';

export class ApiError extends Error {
  constructor(message: string, readonly code: string, readonly extensions: Record<string, unknown> = {}) {
    super(message);
  }
}

export const tokenStore = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t: string) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

let unauthenticated: (reason: string) => void = () => undefined;
export function onUnauthenticated(handler: (reason: string) => void) {
  unauthenticated = handler;
}

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** Raw request: the response as sent (GraphiQL wants it so). Still reports a dead token. */
export async function rawRequest<T = unknown>(query: string, variables?: Record<string, unknown>, token = tokenStore.get(), operationName?: string): Promise<GraphQLResponse<T>> {
  let res: Response;
  try {
    res = await fetch(GRAPHQL_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables, operationName }),
    });
  } catch {
    throw new ApiError('The gateway cannot be reached.', 'NETWORK_ERROR');
  }
  const body = (await res.json().catch(() => ({ errors: [{ message: `HTTP ${res.status}`, extensions: { code: 'BAD_RESPONSE' } }] }))) as GraphQLResponse<T>;
  const dead = res.status === 401 || body.errors?.find((e) => e.extensions?.code === 'UNAUTHENTICATED');
  if (dead) unauthenticated(body.errors?.[0]?.message ?? 'The bearer token is invalid or expired.');
  return body;
}

/** Data or an ApiError carrying the first error's code. */
export async function request<T>(doc: string | DocumentNode, variables?: Record<string, unknown>, token?: string | null): Promise<T> {
  const body = await rawRequest<T>(typeof doc === 'string' ? doc : print(doc), variables, token === undefined ? tokenStore.get() : token);
  const err = body.errors?.[0];
  if (err) throw new ApiError(err.message, String(err.extensions?.code ?? 'INTERNAL_SERVER_ERROR'), err.extensions);
  if (!body.data) throw new ApiError('Empty response.', 'BAD_RESPONSE');
  return body.data;
}
