import type { Fetcher } from '@apollo/utils.fetcher';

/**
 * How the gateway calls subgraphs: Node's own fetch (undici), whose pooled keep-alive sockets
 * follow the `Keep-Alive: timeout=N` hint every subgraph sends (closing them about a second before
 * the subgraph would), instead of a pool that keeps idle sockets forever and so reuses sockets the
 * subgraph has already closed ("socket hang up"). Subgraphs keep idle sockets for
 * KEEP_ALIVE_TIMEOUT_MS (src/http.ts), well above any idle period the gateway relies on.
 *
 * A query that fails because the connection was reset or closed before any response arrived is
 * retried once on a fresh connection: queries are idempotent here (a DP release is memoised by its
 * plan and charged once, so a repeat returns the same release). Mutations are never retried.
 */
const RETRYABLE = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);

export function isConnectionReset(e: unknown): boolean {
  for (let err = e as { code?: string; cause?: unknown; message?: string } | undefined, i = 0; err && i < 5; err = err.cause as typeof err, i++) {
    if (err.code && RETRYABLE.has(err.code)) return true;
    if (/socket hang up|other side closed/i.test(err.message ?? '')) return true;
  }
  return false;
}

const isMutation = (body: unknown) => typeof body === 'string' && /"query"\s*:\s*"\s*mutation\b/.test(body);

export function subgraphFetcher(base: typeof fetch = fetch): Fetcher {
  return (async (url: string, init?: RequestInit) => {
    try {
      return await base(url, init);
    } catch (e) {
      if (!isConnectionReset(e) || isMutation(init?.body)) throw e;
      return base(url, init);
    }
  }) as unknown as Fetcher;
}
