import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type GatewayHandle } from '../../gateway/server.js';
import { createVerifier, mintDevToken } from '../../src/auth/tokens.js';
import { compose } from '../../src/compose.js';
import { demoDomain } from '../../src/domain/registry.js';
import { startSubgraph, type SubgraphHandle } from '../../src/subgraph/server.js';

/**
 * The gateway's /health reports each subgraph's readiness; /metrics counts requests, errors by code,
 * DP releases, epsilon and memo hits; the request id travels gateway -> subgraph.
 */
const secret = randomBytes(32);
const verifier = createVerifier({ secret });
const justice = demoDomain('justice');
const reference = demoDomain('reference');
let subgraphs: SubgraphHandle[];
let gateway: GatewayHandle;
let proxy: Server;
const seenIds: string[] = [];

before(async () => {
  subgraphs = await Promise.all([justice, reference].map((d) => startSubgraph(d, { port: 0, verifier, seed: true, database: { dataDir: 'memory://' } })));
  // A recording proxy in front of the justice subgraph: what the gateway sends it.
  const target = new URL(subgraphs[0]!.url);
  proxy = createServer((req, res) => {
    seenIds.push(String(req.headers['x-request-id']));
    const up = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/graphql`;
  gateway = await startGateway({
    port: 0,
    supergraphSdl: compose([justice, reference]).supergraphSdl,
    subgraphUrls: { justice: proxyUrl, reference: `${subgraphs[1]!.url}/graphql` },
    verifier,
  });
});
after(async () => {
  await gateway.close();
  proxy.closeAllConnections();
  await new Promise((r) => proxy.close(r));
  await Promise.all(subgraphs.map((s) => s.close().catch(() => undefined)));
});

const gql = async (query: string, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
const metric = (text: string, name: string, labels: string) => Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);

test('metrics count requests, errors by code, releases, epsilon and memo hits; the request id reaches the subgraph', async () => {
  const token = await mintDevToken(secret, { sub: 'metrics-analyst', roles: ['analyst'] });
  const before = await (await fetch(`${gateway.url}/metrics`)).text();
  await (await gql('{ justice { defendants { count { value } } } }')).text(); // no token
  const q = '{ justice { defendants { count(privacy: { epsilon: 0.25 }) { value } } } }';
  const first = await gql(q, { authorization: `Bearer ${token}`, 'x-request-id': 'req-42' });
  assert.equal(first.headers.get('x-request-id'), 'req-42');
  assert.equal(((await first.json()) as { errors?: unknown }).errors, undefined);
  await (await gql(q, { authorization: `Bearer ${token}`, 'x-request-id': 'bad id with spaces' })).text();
  assert.equal(seenIds[0], 'req-42', 'the caller\'s id is forwarded');
  assert.match(seenIds[1]!, /^[0-9a-f-]{36}$/, 'a malformed id is replaced by a fresh one');
  const after = await (await fetch(`${gateway.url}/metrics`)).text();
  const delta = (name: string, labels: string) => metric(after, name, labels) - metric(before, name, labels);
  assert.equal(delta('cdm_requests_total', 'service="gateway"'), 3);
  assert.equal(delta('cdm_errors_total', 'service="gateway",code="UNAUTHENTICATED"'), 1);
  assert.equal(delta('cdm_dp_releases_total', 'domain="justice",dataset="defendants"'), 1);
  assert.equal(delta('cdm_dp_epsilon_charged_total', 'domain="justice",dataset="defendants"'), 0.25);
  assert.equal(delta('cdm_dp_memo_hits_total', 'domain="justice",dataset="defendants"'), 1);
  assert.ok(delta('cdm_requests_total', 'service="justice"') >= 2);
  // Each subgraph serves /metrics too.
  assert.match(await (await fetch(`${subgraphs[1]!.url}/metrics`)).text(), /cdm_requests_total/);
});

test('/health is ready when every subgraph is, and names the one that is not', async () => {
  const ok = await fetch(`${gateway.url}/health`);
  assert.equal(ok.status, 200);
  const body = (await ok.json()) as { status: string; subgraphs: Record<string, { status: string }> };
  assert.deepEqual([body.status, body.subgraphs.justice?.status, body.subgraphs.reference?.status], ['pass', 'pass', 'pass']);
  await subgraphs[1]!.close();
  const down = await fetch(`${gateway.url}/health`);
  assert.equal(down.status, 503);
  const d = (await down.json()) as { status: string; subgraphs: Record<string, { status: string; error?: string }> };
  assert.deepEqual([d.status, d.subgraphs.justice?.status, d.subgraphs.reference?.status], ['fail', 'pass', 'fail']);
  assert.equal(d.subgraphs.reference?.error, 'unreachable');
});
