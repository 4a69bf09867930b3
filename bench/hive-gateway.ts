#!/usr/bin/env node
/**
 * A second router for section 2 of `npm run bench`: Hive Gateway (@graphql-hive/gateway, a
 * devDependency) serving the same running subgraphs, unchanged, from a supergraph SDL composed by
 * src/compose.ts. It only forwards the caller's bearer token and x-request-id, as our gateway does
 * (the subgraphs verify the token themselves), so the two routers do the same work per request.
 *
 *   node dist/bench/hive-gateway.js <supergraph.graphql> <port>
 *
 * It prints `ready <url>` on stdout once listening, and stops on SIGTERM.
 */
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createGatewayRuntime } from '@graphql-hive/gateway';

const [file, portText] = process.argv.slice(2);
if (!file || !portText) {
  process.stderr.write('usage: node dist/bench/hive-gateway.js <supergraph.graphql> <port>\n');
  process.exit(2);
}

const gateway = createGatewayRuntime({
  supergraph: readFileSync(file, 'utf8'),
  logging: false,
  graphiql: false,
  landingPage: false,
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({
      authorization: request.headers.get('authorization') ?? undefined,
      'x-request-id': request.headers.get('x-request-id') ?? undefined,
    }),
  },
});
const server = createServer(gateway);
// Same as the bench's other servers: long keep-alive, so autocannon's connections are never closed under it.
server.keepAliveTimeout = 600_000;
server.listen(Number(portText), '127.0.0.1', () => process.stdout.write(`ready http://127.0.0.1:${portText}/graphql\n`));
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void Promise.resolve(gateway.dispose()).finally(() => process.exit(0));
});
