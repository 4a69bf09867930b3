import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ApolloServer, type BaseContext, HeaderMap } from '@apollo/server';
import { checkDocumentText } from './limits.js';

/**
 * A small node:http front for Apollo Server (what startStandaloneServer does, plus our routes):
 * POST/GET /graphql, GET /health, and extra routes a caller registers (e.g. CSV export).
 */
export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

export interface HttpOptions<C extends BaseContext> {
  apollo: ApolloServer<C>;
  context: (req: IncomingMessage) => Promise<C>;
  health: () => Promise<Record<string, unknown>>;
  routes?: Route[];
  maxBodyBytes?: number;
}

/**
 * Idle keep-alive sockets are kept this long (CDM_KEEPALIVE_TIMEOUT_MS, default 65 s; Node's default
 * is 5 s). The gateway's client (gateway/subgraph-fetch.ts) follows the `Keep-Alive: timeout` hint
 * this sends and closes its idle sockets first, so it never reuses a socket the server is closing.
 * headersTimeout must exceed it (Node's rule), else idle sockets would be cut by that timer.
 */
export const KEEP_ALIVE_TIMEOUT_MS = Number(process.env.CDM_KEEPALIVE_TIMEOUT_MS ?? 65_000);

export function createHttpServer<C extends BaseContext>(opts: HttpOptions<C>): Server {
  const maxBody = opts.maxBodyBytes ?? 1_000_000;
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'Internal error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }));
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  return server;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/health' || url.pathname === '/.well-known/apollo/server-health') {
      const body = await opts.health().catch((e: Error) => ({ status: 'fail', error: e.message }));
      res.writeHead(body.status === 'pass' ? 200 : 503, { 'content-type': 'application/health+json' });
      res.end(JSON.stringify(body));
      return;
    }
    for (const route of opts.routes ?? []) if (await route(req, res, url)) return;
    if (url.pathname !== '/graphql' && url.pathname !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Not found. GraphQL is at /graphql, health at /health.');
      return;
    }
    const body = await readBody(req, maxBody);
    if (body === undefined) {
      res.writeHead(413, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: 'Request body too large.', extensions: { code: 'BAD_REQUEST' } }] }));
      return;
    }
    const headers = new HeaderMap();
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    let parsed: unknown = body;
    if (headers.get('content-type')?.includes('application/json') && body.length > 0) {
      try {
        parsed = JSON.parse(body);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ message: 'Malformed JSON body.', extensions: { code: 'BAD_REQUEST' } }] }));
        return;
      }
    }
    // Work limits before Apollo parses and validates (src/limits.ts): QUERY_TOO_COMPLEX, 400.
    const tooComplex = checkDocumentText(req.method === 'GET' ? url.searchParams.get('query') : (parsed as { query?: unknown } | null)?.query);
    if (tooComplex) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ message: tooComplex.message, extensions: { code: tooComplex.extensions.code } }] }));
      return;
    }
    const result = await opts.apollo.executeHTTPGraphQLRequest({
      httpGraphQLRequest: { method: (req.method ?? 'GET').toUpperCase(), headers, search: url.search, body: parsed },
      context: () => opts.context(req),
    });
    for (const [k, v] of result.headers) res.setHeader(k, v);
    res.statusCode = result.status ?? 200;
    if (result.body.kind === 'complete') {
      res.end(result.body.string);
      return;
    }
    for await (const chunk of result.body.asyncIterator) res.write(chunk);
    res.end();
  }
}

function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) tooBig = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(tooBig ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return `http://${host}:${addr.port}`;
}
