import { sqlStateOf, WireError } from './errors.js';

/**
 * Calls the gateway's GraphQL endpoint with the caller's own bearer token: the wire adds no
 * authority of its own, and every budget, policy, memo and audit decision is the GraphQL one.
 */
export type GraphQL = <T = any>(query: string, variables: Record<string, unknown>, token: string, timeoutMs: number) => Promise<T>;

export function gatewayClient(url: string): GraphQL {
  return async (query, variables, token, timeoutMs) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    }).catch((e: Error) => {
      if (e.name === 'TimeoutError') throw new WireError('57014', 'canceling statement due to statement timeout');
      throw new WireError('08006', `the mesh gateway is unreachable: ${e.message}`);
    });
    const body = (await res.json().catch(() => ({}))) as { data?: any; errors?: { message: string; extensions?: { code?: string; construct?: string } }[] };
    const err = body.errors?.[0];
    if (err) throw new WireError(sqlStateOf(err.extensions?.code, err.message, err.extensions?.construct ?? undefined), err.message);
    if (!body.data) throw new WireError('08006', `the mesh gateway answered HTTP ${res.status} without data`);
    return body.data;
  };
}
