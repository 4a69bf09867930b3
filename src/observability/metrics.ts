import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin, BaseContext, GraphQLRequestContext } from '@apollo/server';
import client from 'prom-client';
import { log } from '../log.js';

/**
 * Prometheus metrics (`GET /metrics` on the gateway and on every subgraph) and per-request logs
 * carrying a request id that the gateway propagates to subgraphs in `x-request-id`.
 *
 * One registry per process: `cdm start` runs each subgraph in its own process, so each /metrics
 * shows its own service; an in-process mesh (tests) shows all of them, told apart by labels.
 * Labels never carry data values: only service, domain, dataset and error code.
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'cdm_process_' });

const requests = new client.Counter({ name: 'cdm_requests_total', help: 'GraphQL requests received', labelNames: ['service'], registers: [registry] });
const errors = new client.Counter({ name: 'cdm_errors_total', help: 'Errors returned, by stable error code', labelNames: ['service', 'code'], registers: [registry] });
const duration = new client.Histogram({
  name: 'cdm_request_duration_seconds',
  help: 'GraphQL request duration',
  labelNames: ['service'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});
const releases = new client.Counter({ name: 'cdm_dp_releases_total', help: 'DP releases computed (fresh, charged)', labelNames: ['domain', 'dataset'], registers: [registry] });
const epsilon = new client.Counter({ name: 'cdm_dp_epsilon_charged_total', help: 'Epsilon charged by fresh DP releases', labelNames: ['domain', 'dataset'], registers: [registry] });
const memoHits = new client.Counter({ name: 'cdm_dp_memo_hits_total', help: 'DP answers served from an earlier release (free)', labelNames: ['domain', 'dataset'], registers: [registry] });

/** The hook the query engine calls when it releases a fresh DP answer. */
export function observeRelease(domain: string, dataset: string, eps: number) {
  releases.inc({ domain, dataset });
  epsilon.inc({ domain, dataset }, eps);
}
/** The hook the query engine calls when it serves a memoised answer. */
export function observeMemoHit(domain: string, dataset: string) {
  memoHits.inc({ domain, dataset });
}

/** GET /metrics, in the Prometheus text format. */
export function metricsRoute() {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> => {
    if (url.pathname !== '/metrics' || req.method !== 'GET') return false;
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(await registry.metrics());
    return true;
  };
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** The caller's x-request-id when well-formed, else undefined (the gateway then makes one). */
export const requestIdFrom = (header: string | string[] | undefined) => (typeof header === 'string' && REQUEST_ID.test(header) ? header : undefined);

/**
 * Counts requests and errors by code, and logs one line per request with its request id (from the
 * context's `requestId`, else the `x-request-id` header), echoed in the response's x-request-id.
 */
export function observabilityPlugin<C extends BaseContext>(service: string): ApolloServerPlugin<C> {
  const idOf = (rc: GraphQLRequestContext<C>) =>
    (rc.contextValue as { requestId?: string } | undefined)?.requestId ?? requestIdFrom(rc.request.http?.headers.get('x-request-id'));
  return {
    async contextCreationDidFail({ error }) {
      requests.inc({ service });
      errors.inc({ service, code: String((error as { extensions?: { code?: unknown } }).extensions?.code ?? 'INTERNAL_SERVER_ERROR') });
    },
    async requestDidStart() {
      const started = process.hrtime.bigint();
      requests.inc({ service });
      return {
        async willSendResponse(rc) {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          duration.observe({ service }, seconds);
          const id = idOf(rc);
          if (id) rc.response.http.headers.set('x-request-id', id);
          const codes = (rc.errors ?? []).map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR'));
          for (const code of codes) errors.inc({ service, code });
          log.info({ service, requestId: id, operation: rc.operationName ?? undefined, ms: Math.round(seconds * 1000), errors: codes.length ? codes : undefined }, 'request');
        },
      };
    },
  };
}
