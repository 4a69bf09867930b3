import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { ApolloGateway, RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { Caller, Verifier } from '../src/auth/tokens.js';
import { formatClientError } from '../src/errors.js';
import { createHttpServer, listen, type Route } from '../src/http.js';
import { MAX_TOKENS, PLANNER_CONFIG, requestInputsPlugin } from '../src/limits.js';
import { localIntrospectionPlugin } from '../src/introspection.js';
import { subgraphFetcher } from './subgraph-fetch.js';
import { config } from '../src/config.js';
import { metricsRoute, observabilityPlugin, requestIdFrom } from '../src/observability/metrics.js';
import { consoleLandingPage, consoleRoute } from './console.js';

/**
 * The gateway: the only public entry point. It verifies the caller's token, plans over the supergraph
 * composed at start from the running domains (src/mesh.ts), and forwards the caller's bearer token to every subgraph (which verify it again).
 * It is stateless, so it can be replicated.
 */
export interface GatewayContext {
  caller: Caller;
  authorization: string;
  /** Propagated to every subgraph in x-request-id, and in each log line about this request. */
  requestId: string;
}

export interface GatewayOptions {
  port: number;
  host?: string;
  supergraphSdl: string;
  /** Subgraph URL by name, overriding the supergraph's (tests and `cdm start` pick ports). */
  subgraphUrls?: Record<string, string>;
  verifier: Verifier;
  routes?: Route[];
}

class ForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>) {
    // Forward the caller's own token: subgraphs authorise the caller, never the gateway.
    if ('authorization' in context && context.authorization) request.http?.headers.set('authorization', context.authorization);
    if ('requestId' in context && context.requestId) request.http?.headers.set('x-request-id', context.requestId);
  }
}

export interface GatewayHandle {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export async function startGateway(opts: GatewayOptions): Promise<GatewayHandle> {
  const gateway = new ApolloGateway({
    supergraphSdl: opts.supergraphSdl,
    buildService: ({ name, url }) => new ForwardingDataSource({ url: opts.subgraphUrls?.[name] ?? url, fetcher: subgraphFetcher() }),
    queryPlannerConfig: PLANNER_CONFIG,
  });
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    formatError: (formatted, error) => formatClientError(formatted, error) as typeof formatted,
    includeStacktraceInErrorResponses: false,
    // Our CLI stops servers in order (gateway, subgraphs, databases) on SIGINT/SIGTERM.
    stopOnTerminationSignals: false,
    parseOptions: { maxTokens: MAX_TOKENS },
    // The web console at /console replaces Apollo's CDN-loaded landing page.
    plugins: [consoleLandingPage(), requestInputsPlugin(), localIntrospectionPlugin(), observabilityPlugin<GatewayContext>('gateway')],
  });
  await apollo.start();
  const server = createHttpServer<GatewayContext>({
    apollo,
    context: async (req) => {
      const authorization = req.headers.authorization ?? '';
      const requestId = requestIdFrom(req.headers['x-request-id']) ?? randomUUID();
      return { caller: await opts.verifier(authorization), authorization, requestId };
    },
    health: () => gatewayHealth(opts.subgraphUrls ?? {}),
    routes: [metricsRoute(), consoleRoute(), exportProxy(opts), ...(opts.routes ?? [])],
  });
  const url = await listen(server, opts.port, opts.host);
  return {
    url,
    server,
    async close() {
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections?.();
      await apollo.stop();
    },
  };
}

/**
 * Readiness: the gateway is ready when every subgraph it routes to answers its own /health (each
 * probed in parallel with a short timeout, CDM_HEALTH_PROBE_TIMEOUT_S); the body names each one.
 */
async function gatewayHealth(subgraphUrls: Record<string, string>): Promise<Record<string, unknown>> {
  const timeout = config().CDM_HEALTH_PROBE_TIMEOUT_S * 1000;
  const entries = await Promise.all(
    Object.entries(subgraphUrls).map(async ([name, url]) => {
      const base = url.replace(/\/graphql$/, '');
      try {
        const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(timeout) });
        const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
        return [name, { status: res.ok ? 'pass' : 'fail', url, ...(res.ok ? {} : { error: body.error ?? `HTTP ${res.status}` }) }] as const;
      } catch (e) {
        return [name, { status: 'fail', url, error: (e as Error).name === 'TimeoutError' ? `no answer within ${timeout / 1000}s` : 'unreachable' }] as const;
      }
    }),
  );
  const subgraphs = Object.fromEntries(entries);
  const ready = entries.every(([, s]) => s.status === 'pass');
  return { status: ready ? 'pass' : 'fail', service: 'gateway', subgraphs };
}

/**
 * CSV exports on the gateway's origin: /export/<domain>/<dataset>.csv is verified here, then streamed
 * from the owning subgraph (which verifies the token again and does the charging).
 */
function exportProxy(opts: GatewayOptions): Route {
  return async (req, res, url) => {
    const m = /^\/export\/([a-z][a-zA-Z0-9]*)\/([a-zA-Z][a-zA-Z0-9]*)\.csv$/.exec(url.pathname);
    if (!m || req.method !== 'GET') return false;
    const json = (status: number, code: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}) });
      res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
      return true;
    };
    try {
      await opts.verifier(req.headers.authorization);
    } catch {
      return json(401, 'UNAUTHENTICATED', 'A valid bearer token is required.');
    }
    // Own keys only: /export/constructor/... must not find Object.prototype.constructor.
    const target = opts.subgraphUrls && Object.hasOwn(opts.subgraphUrls, m[1]!) ? opts.subgraphUrls[m[1]!] : undefined;
    if (!target) return json(404, 'NOT_FOUND', `No domain "${m[1]}".`);
    const upstream = await fetch(`${target.replace(/\/graphql$/, '')}/export/${m[2]}.csv${url.search}`, {
      headers: { authorization: req.headers.authorization ?? '' },
    }).catch(() => undefined);
    if (!upstream) return json(502, 'INTERNAL_SERVER_ERROR', `The ${m[1]} subgraph is unreachable.`);
    const headers: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (k === 'content-type' || k === 'content-disposition' || k.startsWith('x-cdm-')) headers[k] = v;
    });
    res.writeHead(upstream.status, headers);
    // Backpressure both ways; a client that goes away cancels the upstream export (which frees the
    // principal's export slot at the subgraph) instead of leaving it waiting for a 'drain'.
    const gone = new Promise<void>((r) => res.once('close', r));
    if (upstream.body) {
      const reader = upstream.body.getReader();
      for (;;) {
        const next = await Promise.race([reader.read(), gone.then(() => undefined)]);
        if (!next || next.done) break;
        if (!res.write(next.value)) await Promise.race([new Promise((r) => res.once('drain', r)), gone]);
      }
      if (res.destroyed) await reader.cancel().catch(() => undefined);
    }
    res.end();
    return true;
  };
}
