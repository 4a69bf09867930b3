import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import autocannon, { type Options as LoadOptions } from 'autocannon';
import { fromRoot } from '../../src/paths.js';
import { BACKEND_NAME, type Backend, type BenchContext } from '../lib/context.js';
import { ensureHealth } from '../lib/datasets.js';
import { adminSetup, childEnv, cliDisplay, freePorts, gatewaySubgraphs, gql, gqlData, spawnReady, startHiveGateway, supergraphFor, token, type CliChild } from '../lib/mesh.js';
import { cachedFlags, dpQuery, dpVariables } from '../lib/queries.js';
import type { Goal, Section, Table } from '../lib/report.js';
import { fmt, fmtMs, quantile } from '../lib/stats.js';

/**
 * Section 2: the stack's own limit. A memoised DP answer against a trivial field through the same
 * gateway, under autocannon with a fixed number of connections, the mesh running as `cdm start`
 * (gateway in one process, one process per subgraph), the load generator in this process.
 */
/** Where a request goes: our gateway (@apollo/gateway), Hive Gateway, or straight to the health subgraph. */
type Router = 'apollo' | 'hive' | 'direct';
type Kind = 'trivial' | 'cached';
interface Target {
  router: Router;
  kind: Kind;
}
const TARGETS: Target[] = [
  { router: 'apollo', kind: 'trivial' },
  { router: 'apollo', kind: 'cached' },
  { router: 'hive', kind: 'trivial' },
  { router: 'hive', kind: 'cached' },
  { router: 'direct', kind: 'cached' },
];
const ROUTER_NAME: Record<Router, string> = { apollo: 'our gateway (@apollo/gateway)', hive: 'Hive Gateway', direct: 'health subgraph, no gateway' };
const same = (a: Target, b: Target) => a.router === b.router && a.kind === b.kind;

interface Sequential extends Target {
  backend: Backend;
  p50: number;
}
interface Run extends Target {
  backend: Backend;
  round: number;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  bad: number;
}

const PRINCIPAL = 'bench';
const TRIVIAL = {
  // `me` is shareable; the query planner sends it to the census subgraph, which must then run too.
  me: { query: '{ me { id } }', domains: 'health,census' },
  healthInfo: { query: '{ health { info { name } } }', domains: 'health' },
};

export async function overheadSection(ctx: BenchContext): Promise<Section> {
  const cfg = ctx.config.overhead;
  const runs: Run[] = [];
  const sequential: Sequential[] = [];
  const commands: string[] = [];
  for (const backend of cfg.backends) {
    const ds = await ensureHealth(ctx, backend, cfg.rows);
    const trivial = TRIVIAL[cfg.trivial];
    const analyst = await token(ctx, PRINCIPAL);
    const answers = (target: string) => async () => (await gql(target, trivial.query, undefined, analyst)).data != null;
    let url = '';
    const { child } = await spawnReady(ctx, 'gateway', async () => {
      const gatewayPort = await freePorts(1);
      const subgraphPort = await freePorts(2);
      const args = ['start', '--no-seed', '--domains', trivial.domains, '--port', String(gatewayPort), '--subgraph-port', String(subgraphPort)];
      ctx.log(`section 2: ${backend}: ${args.join(' ')}`);
      url = `http://127.0.0.1:${gatewayPort}/graphql`;
      const target = url;
      return {
        args,
        env: childEnv(ctx, ds.env),
        ready: async () => {
          if (!(await answers(target)())) return false;
          commands.push(`${Object.entries(ds.env).map(([k, v]) => `${k}=${k === 'CDM_DATA_DIR' ? '<tmp>/' + v.split('/').pop() : v}`).join(' ')} CDM_JWT_SECRET=<per-run> ${cliDisplay} ${args.join(' ')}`);
          return true;
        },
      };
    });
    let hive: CliChild | undefined;
    try {
      // The same running subgraphs behind a second router, from the project's own composition.
      const subgraphs = await gatewaySubgraphs(url);
      if (!subgraphs.health) throw new Error('the gateway does not route to a health subgraph');
      const started = await startHiveGateway(ctx, supergraphFor(subgraphs), (target) => answers(target)());
      hive = started.child;
      commands.push(`node dist/bench/hive-gateway.js <supergraph of ${Object.keys(subgraphs).join(', ')} composed by src/compose.ts, with these subgraphs' URLs> <port>`);
      const urls: Record<Router, string> = { apollo: url, hive: started.url, direct: subgraphs.health };
      await adminSetup(ctx, url, PRINCIPAL);
      const vars = dpVariables(0.1);
      await gqlData(url, dpQuery('count'), vars, analyst); // charged once (or already memoised)
      for (const router of ['apollo', 'hive', 'direct'] as const) {
        const again = await gqlData(urls[router], dpQuery('count'), vars, analyst);
        if (!cachedFlags('count', again).every(Boolean)) throw new Error(`the repeated DP answer was not memoised (${ROUTER_NAME[router]})`);
      }
      const bodies: Record<Kind, string> = {
        trivial: JSON.stringify({ query: trivial.query }),
        cached: JSON.stringify({ query: dpQuery('count'), variables: vars }),
      };
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${analyst}` };
      const expect = async (t: Target) => (await fetch(urls[t.router], { method: 'POST', headers, body: bodies[t.kind] })).text();
      const expected = new Map<Target, string>();
      for (const t of TARGETS) expected.set(t, await expect(t));
      const load = (t: Target, extra: Partial<LoadOptions>) =>
        autocannon({ url: urls[t.router], method: 'POST', headers, body: bodies[t.kind], connections: cfg.connections, ...extra });
      for (const t of TARGETS) await load(t, { duration: cfg.warmupSeconds });
      // One request at a time: what a single request costs when nothing else is queued, timed here
      // to the microsecond (autocannon's latencies are whole milliseconds), the targets interleaved
      // request by request so that the load of other work falls on all of them alike.
      const single = new Map<Target, number[]>(TARGETS.map((t) => [t, []]));
      for (let i = 0; i < cfg.sequentialRequests; i++) {
        for (const t of TARGETS) {
          const t0 = performance.now();
          const res = await fetch(urls[t.router], { method: 'POST', headers, body: bodies[t.kind] });
          const text = await res.text();
          single.get(t)!.push(performance.now() - t0);
          if (!res.ok || text !== expected.get(t)) throw new Error(`${t.router} ${t.kind}: a wrong answer one request at a time: ${text.slice(0, 200)}`);
        }
      }
      for (const t of TARGETS) sequential.push({ backend, ...t, p50: quantile(single.get(t)!, 0.5) });
      for (let round = 0; round < cfg.rounds; round++) {
        for (const t of round % 2 === 0 ? TARGETS : [...TARGETS].reverse()) {
          const r = await load(t, { duration: cfg.seconds, expectBody: expected.get(t)! });
          const ok = r['2xx'] - r.mismatches;
          runs.push({ backend, round, ...t, rps: ok / r.duration, p50: r.latency.p50, p99: r.latency.p99, ok, bad: r.non2xx + r.errors + r.timeouts + r.mismatches });
          ctx.log(`section 2: ${backend} ${t.router} ${t.kind}: ${(ok / r.duration).toFixed(0)} req/s`);
        }
      }
    } finally {
      await hive?.stop();
      await child.stop();
    }
  }
  return report(ctx, runs, sequential, commands);
}

function report(ctx: BenchContext, runs: Run[], sequential: Sequential[], commands: string[]): Section {
  const cfg = ctx.config.overhead;
  const of = (backend: Backend, t: Target) => runs.filter((r) => r.backend === backend && same(r, t));
  const agg = (backend: Backend, t: Target) => {
    const rs = of(backend, t);
    return {
      rps: rs.reduce((s, r) => s + r.rps, 0) / rs.length,
      p50: quantile(rs.map((r) => r.p50), 0.5),
      p99: Math.max(...rs.map((r) => r.p99)),
      ok: rs.reduce((s, r) => s + r.ok, 0),
      bad: rs.reduce((s, r) => s + r.bad, 0),
    };
  };
  // Each round runs every target back to back; the median of the per-round ratios resists the
  // load of other work on the shared machine drifting between rounds.
  const ratios = (backend: Backend, a: Target, b: Target) => {
    const rounds = [...new Set(runs.filter((r) => r.backend === backend).map((r) => r.round))];
    return rounds.map((round) => of(backend, a).find((r) => r.round === round)!.rps / of(backend, b).find((r) => r.round === round)!.rps);
  };
  const seq = (backend: Backend, t: Target) => sequential.find((x) => x.backend === backend && same(x, t))?.p50 ?? NaN;
  const label = (t: Target) => (t.kind === 'trivial' ? `trivial field \`${TRIVIAL[cfg.trivial].query}\`` : 'memoised DP count (`cached: true`)');
  const rows: Table['rows'] = [];
  const chartRows: Table['chart']['rows'] = [];
  const gatewayRows: Table['rows'] = [];
  const goals: Goal[] = [];
  const notes: string[] = [];
  for (const backend of cfg.backends) {
    for (const t of TARGETS) {
      const a = agg(backend, t);
      const vsTrivial = t.router === 'direct' ? '—' : t.kind === 'trivial' ? '100%' : `${fmt(100 * quantile(ratios(backend, t, { router: t.router, kind: 'trivial' }), 0.5))}%`;
      rows.push([BACKEND_NAME[backend], ROUTER_NAME[t.router], label(t), fmtMs(seq(backend, t)), fmt(a.rps), fmtMs(a.p50), fmtMs(a.p99), a.ok.toLocaleString('en'), String(a.bad), vsTrivial]);
      chartRows.push({ label: `${BACKEND_NAME[backend]} ${t.router} ${t.kind}`, values: [a.rps], note: `${fmt(a.rps)}${vsTrivial === '—' || vsTrivial === '100%' ? '' : ` (${vsTrivial})`}` });
    }
    const cachedVia = (router: Router) => ({ router, kind: 'cached' as const });
    const direct = agg(backend, cachedVia('direct'));
    for (const router of ['apollo', 'hive'] as const) {
      const g = agg(backend, cachedVia(router));
      const share = quantile(ratios(backend, cachedVia(router), cachedVia('direct')), 0.5);
      gatewayRows.push([
        BACKEND_NAME[backend],
        ROUTER_NAME[router],
        fmtMs(seq(backend, cachedVia(router))),
        fmtMs(seq(backend, cachedVia('direct'))),
        fmtMs(seq(backend, cachedVia(router)) - seq(backend, cachedVia('direct'))),
        fmt(g.rps),
        fmt(direct.rps),
        `${fmt(100 * share)}%`,
      ]);
    }
    const apolloRatio = ratios(backend, cachedVia('apollo'), { router: 'apollo', kind: 'trivial' });
    const ratio = quantile(apolloRatio, 0.5);
    const bad = agg(backend, cachedVia('apollo')).bad + agg(backend, { router: 'apollo', kind: 'trivial' }).bad;
    const c = agg(backend, cachedVia('apollo'));
    const t = agg(backend, { router: 'apollo', kind: 'trivial' });
    goals.push({
      goal: `memoised DP answers >= ${GOAL_SHARE}% of the trivial field's throughput through the same gateway (${BACKEND_NAME[backend]})`,
      measured: `median over ${apolloRatio.length} round(s) of the per-round ratio ${fmt(100 * ratio)}% (rounds: ${apolloRatio.map((x) => `${fmt(100 * x)}%`).join(', ')}); mean ${fmt(c.rps)} vs ${fmt(t.rps)} requests/s${bad > 0 ? ` (${bad} failed or mismatched responses)` : ''}`,
      met: ratio * 100 >= GOAL_SHARE && bad === 0,
    });
    notes.push(routerVerdict(backend, { apollo: c.rps, hive: agg(backend, cachedVia('hive')).rps, direct: direct.rps }, {
      apollo: quantile(ratios(backend, cachedVia('hive'), cachedVia('apollo')), 0.5),
      overhead: seq(backend, cachedVia('apollo')) - seq(backend, cachedVia('direct')),
      hiveOverhead: seq(backend, cachedVia('hive')) - seq(backend, cachedVia('direct')),
    }));
  }
  const table: Table = {
    id: 'stack-overhead',
    caption: `Table 2a. Throughput through each router, ${cfg.connections} connections (autocannon)`,
    columns: ['backend', 'router', 'request', 'p50 ms, one at a time', `requests/s, ${cfg.connections} connections`, 'p50 ms', 'p99 ms', 'answers checked', 'errors + non-2xx + wrong bodies', 'throughput vs trivial, same router (median of rounds)'],
    rows,
    chart: { title: `Requests/s, ${cfg.connections} connections`, unit: 'requests per second', series: ['requests/s'], rows: chartRows, lines: [] },
  };
  const gatewayTable: Table = {
    id: 'gateway-overhead',
    caption: 'Table 2b. The router\'s own overhead on the memoised DP answer: through a router minus straight from the subgraph',
    columns: ['backend', 'router', 'p50 ms via router, one at a time', 'p50 ms direct, one at a time', 'router overhead per request (ms)', `requests/s via router, ${cfg.connections} connections`, 'requests/s direct', 'via router / direct (median of rounds)'],
    rows: gatewayRows,
    chart: {
      title: 'Router overhead per memoised answer (p50, one request at a time)',
      unit: 'milliseconds',
      series: ['router overhead'],
      rows: gatewayRows.map((r) => ({ label: `${r[0]} ${String(r[1]).split(' (')[0]}`, values: [Number(r[4])], note: `${r[4]} ms` })),
    },
  };
  return {
    number: 2,
    title: 'Stack overhead: memoised DP answer vs a trivial field',
    intro: [
      `The mesh runs as the CLI runs it: \`cdm start\` (gateway in that process, one child process per subgraph) on the ${cfg.rows.toLocaleString('en')}-row health dataset of section 1 (\`--no-seed\`), ${cfg.trivial === 'me' ? 'with the health subgraph and the census subgraph (the query planner sends the shareable `me` field to census)' : 'with the health subgraph only (tiny mode: the trivial field is health\'s catalog)'}. The same running subgraphs are also served, unchanged, by a second router, Hive Gateway (@graphql-hive/gateway ${hiveVersion()}, in its own process, \`bench/hive-gateway.ts\`), from the supergraph that src/compose.ts composes of them, forwarding the bearer token as ours does; and the memoised answer is also asked straight from the health subgraph (no router). Commands (the secret is per run, the data directory temporary):`,
      commands.map((c) => `\`${c}\``).join('  \n'),
      `Load: autocannon (in the benchmark process) with ${cfg.connections} connections, POST /graphql with an analyst token; ${cfg.rounds} round(s), each one run of ${cfg.seconds} s of each of the ${TARGETS.length} targets back to back (order reversed every other round); requests/s is the mean over rounds and every ratio the median of the per-round ratios (robust to other work's load drifting between rounds). Before that: ${cfg.sequentialRequests} requests of each target one at a time, interleaved (the latency of one request with nothing queued, timed with \`performance.now()\` around \`fetch\`), then ${cfg.warmupSeconds} s of warm-up load of each. Every response body is compared with the one expected from that target (\`expectBody\`): requests/s counts only correct 2xx answers. The memoised DP answer is \`{ health { visits { count(where: {patientAge: {gte: 18}}, privacy: {epsilon: 0.1}) { value cached } } } }\`, asked once beforehand so that every request is served from the release cache (\`cached: true\`, no budget spent); it still runs the subgraph's operation-level budget check, policy lookup and memo read on every request.`,
    ],
    tables: [table, gatewayTable],
    notes: [
      ...notes,
      `Both kinds go through the same router and one subgraph hop. A memoised DP answer reads no database (the plan, the caller's policy and revocation, and the release come from the process's caches), but it is still parsed, planned, authorised and policy-checked before the stored release is returned; the trivial field ${cfg.trivial === 'me' ? "only echoes the token's subject" : 'reads the static catalog'}. On ${availableParallelism()} shared cores the router, the subgraph processes and the load generator compete for the CPU, so throughput follows the CPU time per request; without a router the subgraph also gets the router's share of the CPU.`,
    ],
    goals,
    seconds: 0,
  };
}

const GOAL_SHARE = 90;

/** Says, from the numbers, whether our gateway is what limits the memoised answer's throughput. */
function routerVerdict(backend: Backend, rps: Record<Router, number>, m: { apollo: number; overhead: number; hiveOverhead: number }): string {
  const viaApollo = rps.apollo / rps.direct;
  const parts = [
    `${BACKEND_NAME[backend]}: the memoised answer runs at ${fmt(rps.direct)} requests/s straight from the subgraph, ${fmt(rps.apollo)} through our gateway (${fmt(100 * viaApollo)}%) and ${fmt(rps.hive)} through Hive Gateway (Hive / ours, median of rounds: ${fmt(m.apollo)}x); one request pays ${fmtMs(m.overhead)} ms in our gateway and ${fmtMs(m.hiveOverhead)} ms in Hive Gateway (p50, one request at a time).`,
  ];
  if (viaApollo >= 0.8) parts.push(`No router is the throughput limit: the subgraph itself is (our gateway keeps ${fmt(100 * viaApollo)}% of its throughput).`);
  else if (m.apollo >= 1.25)
    parts.push(`So @apollo/gateway is the throughput limit: the subgraph alone serves ${fmt(1 / viaApollo)}x as many requests, and another router serves the same subgraphs ${fmt(m.apollo)}x as fast as ours.`);
  else if (m.apollo > 1 / 1.25)
    parts.push(`Routing is the throughput limit (the subgraph alone serves ${fmt(1 / viaApollo)}x as many requests), but not @apollo/gateway in particular: another router on the same subgraphs is within 25% of ours (${fmt(m.apollo)}x).`);
  else parts.push(`Routing is the throughput limit (the subgraph alone serves ${fmt(1 / viaApollo)}x as many requests); @apollo/gateway does better than Hive Gateway here (${fmt(m.apollo)}x).`);
  return parts.join(' ');
}

function hiveVersion(): string {
  try {
    return (JSON.parse(readFileSync(fromRoot('node_modules', '@graphql-hive', 'gateway', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown version';
  }
}
