import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import { parse } from 'graphql';
import { readSupergraph } from '../../src/compose.js';
import { KEEP_ALIVE_TIMEOUT_MS } from '../../src/http.js';
import { PLANNER_CONFIG } from '../../src/limits.js';
import { isConnectionReset, subgraphFetcher } from '../../gateway/subgraph-fetch.js';
import { startTestMesh, type TestMesh } from '../helpers/mesh.js';

/**
 * Attack class: gateway reliability. Planning a new query text is bounded, keep-alive timeouts are
 * aligned so the gateway never reuses a socket a subgraph closed, a reset is retried once for
 * queries, and bursts of concurrent queries next to steady traffic fail nothing.
 */
describe('gateway planning is bounded', () => {
  test('a new query with many aliased shared selections evaluates at most maxEvaluatedPlans plans', () => {
    const supergraph = Supergraph.build(readSupergraph());
    const selections = Array.from({ length: 30 }, (_, i) => `a${i}: me { id } b${i}: census { info { name } } c${i}: health { info { name } }`).join(' ');
    const planner = new QueryPlanner(supergraph, PLANNER_CONFIG);
    planner.buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(`query Many { ${selections} }`)));
    const evaluated = planner.lastGeneratedPlanStatistics()!.evaluatedPlanCount;
    assert.ok(evaluated <= PLANNER_CONFIG.debug.maxEvaluatedPlans, `${evaluated} plans evaluated`);
    // Without the bound the same query explores far more plans (what took seconds to plan).
    const unbounded = new QueryPlanner(supergraph);
    unbounded.buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(`query Many { ${selections} }`)));
    assert.ok(unbounded.lastGeneratedPlanStatistics()!.evaluatedPlanCount > 10 * evaluated);
  });
});

describe('subgraph fetches', () => {
  test('subgraph servers keep idle sockets longer than Node\'s 5 s default the gateway used to race', () => {
    assert.ok(KEEP_ALIVE_TIMEOUT_MS >= 30_000);
  });

  test('a query whose connection was reset is retried once; a mutation is not', async () => {
    const reset = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    let calls = 0;
    const flaky = (async () => {
      if (calls++ === 0) throw reset;
      return new Response('{"data":{}}');
    }) as unknown as typeof fetch;
    const res = await subgraphFetcher(flaky)('http://x/graphql', { method: 'POST', body: JSON.stringify({ query: 'query Q { a }' }) });
    assert.equal(res.status, 200);
    assert.equal(calls, 2);
    calls = 0;
    await assert.rejects(subgraphFetcher(flaky)('http://x/graphql', { method: 'POST', body: JSON.stringify({ query: 'mutation M { a }' }) }));
    assert.equal(calls, 1);
    assert.equal(isConnectionReset(new Error('boom')), false);
    assert.equal(isConnectionReset(reset), true);
  });
});

/**
 * The soak's assertions are counts (failed requests = 0), never timings, so its timeouts are sized
 * to its work on a slow, loaded machine, not to a fast one: a request of a burst may wait behind
 * the whole burst (per-request timeout = burst size x a generous per-request cost), and the test
 * may take every request at that cost plus its idle pauses.
 */
const BURSTS = 3;
const BURST_SIZE = 200;
const IDLE_MS = 5_500;
/** Generous cost of one request on a loaded 2-core machine (gateway, subgraph and database in one process). */
const REQUEST_COST_MS = 500;
const REQUEST_TIMEOUT_MS = BURST_SIZE * REQUEST_COST_MS;
const SOAK_TIMEOUT_MS = BURSTS * (BURST_SIZE * REQUEST_COST_MS + IDLE_MS) + 60_000;
/** Starting the mesh (migrations, seeding four domains) on the same loaded machine. */
const STARTUP_MS = 300_000;

describe('soak: bursts of concurrent queries next to steady traffic', { timeout: STARTUP_MS + SOAK_TIMEOUT_MS }, () => {
  let m: TestMesh;
  before(async () => (m = await startTestMesh('pglite')), { timeout: STARTUP_MS });
  after(async () => m?.close());

  test(`${BURSTS} bursts of ${BURST_SIZE} concurrent queries with steady unrelated traffic between them: zero failed requests`, { timeout: SOAK_TIMEOUT_MS }, async () => {
    const burstToken = await m.token('burst', ['analyst']);
    const steadyToken = await m.token('steady', ['analyst']);
    const burstQuery = '{ me { id } census { adults { count(privacy: { epsilon: 0.5 }) { value } } } }';
    const steadyQuery = '{ health { info { name } } reference { clinics { rows(first: 2) { totalCount } } } }';
    const failures: string[] = [];
    let ok = 0;
    const send = async (query: string, token: string) => {
      try {
        const res = await fetch(m.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const body = (await res.json()) as { errors?: unknown };
        if (res.status !== 200 || body.errors) failures.push(`${res.status} ${JSON.stringify(body.errors)}`);
        else ok++;
      } catch (e) {
        failures.push(String(e));
      }
    };
    await send(burstQuery, burstToken); // the release is made once; bursts then read it
    let steady = true;
    const steadyLoop = (async () => {
      while (steady) {
        await send(steadyQuery, steadyToken);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    for (let round = 0; round < BURSTS; round++) {
      await Promise.all(Array.from({ length: BURST_SIZE }, () => send(burstQuery, burstToken)));
      // Idle past Node's default 5 s keep-alive: the burst's sockets sit idle while steady traffic runs.
      await new Promise((r) => setTimeout(r, IDLE_MS));
    }
    steady = false;
    await steadyLoop;
    assert.deepEqual(failures.slice(0, 5), []);
    assert.ok(ok > BURSTS * BURST_SIZE, `${ok} requests answered`);
  });
});
