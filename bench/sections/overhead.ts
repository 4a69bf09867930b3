import autocannon from 'autocannon';
import { BACKEND_NAME, type Backend, type BenchContext } from '../lib/context.js';
import { ensureHealth } from '../lib/datasets.js';
import { adminSetup, childEnv, cliDisplay, freePorts, gql, gqlData, spawnReady, token } from '../lib/mesh.js';
import { cachedFlags, dpQuery, dpVariables } from '../lib/queries.js';
import type { Section, Table } from '../lib/report.js';
import { fmt, fmtMs, quantile } from '../lib/stats.js';

/**
 * Section 2: the stack's own limit. A memoised DP answer against a trivial field through the same
 * gateway, under autocannon with a fixed number of connections, the mesh running as `cdm start`
 * (gateway in one process, one process per subgraph), the load generator in this process.
 */
interface Sequential {
  backend: Backend;
  target: 'trivial' | 'cached';
  p50: number;
}
interface Run {
  backend: Backend;
  round: number;
  target: 'trivial' | 'cached';
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
          if ((await gql(target, trivial.query, undefined, analyst)).data == null) return false;
          commands.push(`${Object.entries(ds.env).map(([k, v]) => `${k}=${k === 'CDM_DATA_DIR' ? '<tmp>/' + v.split('/').pop() : v}`).join(' ')} CDM_JWT_SECRET=<per-run> ${cliDisplay} ${args.join(' ')}`);
          return true;
        },
      };
    });
    try {
      await adminSetup(ctx, url, PRINCIPAL);
      const vars = dpVariables(0.1);
      await gqlData(url, dpQuery('count'), vars, analyst); // charged once (or already memoised)
      const again = await gqlData(url, dpQuery('count'), vars, analyst);
      if (!cachedFlags('count', again).every(Boolean)) throw new Error('the repeated DP answer was not memoised');
      const bodies = {
        trivial: JSON.stringify({ query: trivial.query }),
        cached: JSON.stringify({ query: dpQuery('count'), variables: vars }),
      };
      const headers = { 'content-type': 'application/json', authorization: `Bearer ${analyst}` };
      const expect = async (body: string) => (await fetch(url, { method: 'POST', headers, body })).text();
      const expected = { trivial: await expect(bodies.trivial), cached: await expect(bodies.cached) };
      for (const target of ['trivial', 'cached'] as const) {
        await autocannon({ url, method: 'POST', headers, body: bodies[target], connections: cfg.connections, duration: cfg.warmupSeconds });
      }
      // One connection: what a single request costs when nothing else is queued.
      for (const target of ['trivial', 'cached'] as const) {
        const r = await autocannon({ url, method: 'POST', headers, body: bodies[target], connections: 1, amount: cfg.sequentialRequests, expectBody: expected[target] });
        if (r.mismatches + r.non2xx + r.errors > 0) throw new Error(`${target}: ${r.mismatches + r.non2xx + r.errors} bad answers on one connection`);
        sequential.push({ backend, target, p50: r.latency.p50 });
      }
      for (let round = 0; round < cfg.rounds; round++) {
        for (const target of round % 2 === 0 ? (['trivial', 'cached'] as const) : (['cached', 'trivial'] as const)) {
          const r = await autocannon({ url, method: 'POST', headers, body: bodies[target], connections: cfg.connections, duration: cfg.seconds, expectBody: expected[target] });
          const ok = r['2xx'] - r.mismatches;
          runs.push({ backend, round, target, rps: ok / r.duration, p50: r.latency.p50, p99: r.latency.p99, ok, bad: r.non2xx + r.errors + r.timeouts + r.mismatches });
          ctx.log(`section 2: ${backend} ${target}: ${(ok / r.duration).toFixed(0)} req/s`);
        }
      }
    } finally {
      await child.stop();
    }
  }
  return report(ctx, runs, sequential, commands);
}

function report(ctx: BenchContext, runs: Run[], sequential: Sequential[], commands: string[]): Section {
  const cfg = ctx.config.overhead;
  const agg = (backend: Backend, target: Run['target']) => {
    const rs = runs.filter((r) => r.backend === backend && r.target === target);
    const ok = rs.reduce((s, r) => s + r.ok, 0);
    return {
      rps: rs.reduce((s, r) => s + r.rps, 0) / rs.length,
      p50: rs.map((r) => r.p50).sort((a, b) => a - b)[Math.floor((rs.length - 1) / 2)]!,
      p99: Math.max(...rs.map((r) => r.p99)),
      ok,
      bad: rs.reduce((s, r) => s + r.bad, 0),
    };
  };
  const rows: Table['rows'] = [];
  const chartRows: Table['chart']['rows'] = [];
  const goals = [];
  for (const backend of cfg.backends) {
    const t = agg(backend, 'trivial');
    const c = agg(backend, 'cached');
    // Each round runs both kinds back to back; the median of the per-round ratios resists the
    // load of other work on the shared machine drifting between rounds.
    const pairs = [...new Set(runs.filter((r) => r.backend === backend).map((r) => r.round))].map((round) => {
      const of = (target: Run['target']) => runs.find((r) => r.backend === backend && r.round === round && r.target === target)!.rps;
      return of('cached') / of('trivial');
    });
    const ratio = quantile(pairs, 0.5);
    const seq = (target: Run['target']) => fmtMs(sequential.find((x) => x.backend === backend && x.target === target)?.p50 ?? NaN);
    rows.push([BACKEND_NAME[backend], `trivial field \`${TRIVIAL[cfg.trivial].query}\``, seq('trivial'), fmt(t.rps), fmtMs(t.p50), fmtMs(t.p99), t.ok.toLocaleString('en'), String(t.bad), '100%']);
    rows.push([BACKEND_NAME[backend], 'memoised DP count (`cached: true`)', seq('cached'), fmt(c.rps), fmtMs(c.p50), fmtMs(c.p99), c.ok.toLocaleString('en'), String(c.bad), `${fmt(100 * ratio)}%`]);
    chartRows.push({ label: `${BACKEND_NAME[backend]} trivial field`, values: [t.rps] }, { label: `${BACKEND_NAME[backend]} memoised DP answer`, values: [c.rps], note: `${fmt(c.rps)} (${fmt(100 * ratio)}%)` });
    goals.push({
      goal: `memoised DP answers >= 70% of the trivial field's throughput through the same gateway (${BACKEND_NAME[backend]})`,
      measured: `median over ${pairs.length} round(s) of the per-round ratio ${fmt(100 * ratio)}% (rounds: ${pairs.map((x) => `${fmt(100 * x)}%`).join(', ')}); mean ${fmt(c.rps)} vs ${fmt(t.rps)} requests/s${c.bad + t.bad > 0 ? ` (${c.bad + t.bad} failed or mismatched responses)` : ''}`,
      met: ratio >= 0.7 && c.bad + t.bad === 0,
    });
  }
  const table: Table = {
    id: 'stack-overhead',
    caption: `Table 2. Throughput through the gateway, ${cfg.connections} connections (autocannon)`,
    columns: ['backend', 'request', 'p50 ms, 1 connection', `requests/s, ${cfg.connections} connections`, 'p50 ms', 'p99 ms', 'answers checked', 'errors + non-2xx + wrong bodies', 'throughput vs trivial (median of rounds)'],
    rows,
    chart: { title: `Requests/s through the gateway, ${cfg.connections} connections`, unit: 'requests per second', series: ['requests/s'], rows: chartRows, lines: [] },
  };
  return {
    number: 2,
    title: 'Stack overhead: memoised DP answer vs a trivial field',
    intro: [
      `The mesh runs as the CLI runs it: \`cdm start\` (gateway in that process, one child process per subgraph) on the ${cfg.rows.toLocaleString('en')}-row health dataset of section 1 (\`--no-seed\`), ${cfg.trivial === 'me' ? 'with the health subgraph and the census subgraph (the query planner sends the shareable `me` field to census)' : 'with the health subgraph only (tiny mode: the trivial field is health\'s catalog)'}. Commands (the secret is per run, the data directory temporary):`,
      commands.map((c) => `\`${c}\``).join('  \n'),
      `Load: autocannon (in the benchmark process) with ${cfg.connections} connections, POST /graphql with an analyst token; ${cfg.rounds} round(s), each one run of ${cfg.seconds} s of each kind back to back (order alternating between rounds); requests/s is the mean over rounds and "throughput vs trivial" the median of the per-round ratios (robust to other work's load drifting between rounds). Before that: ${cfg.sequentialRequests} requests of each kind on a single connection (the latency of one request with nothing queued), then ${cfg.warmupSeconds} s of warm-up load of each kind. Every response body is compared with the expected one (\`expectBody\`): requests/s counts only correct 2xx answers. The memoised DP answer is \`{ health { visits { count(where: {patientAge: {gte: 18}}, privacy: {epsilon: 0.1}) { value cached } } } }\`, asked once beforehand so that every request is served from the release cache (\`cached: true\`, no budget spent); it still runs the subgraph's operation-level budget check, policy lookup and memo read on every request.`,
    ],
    tables: [table],
    notes: [
      `Both kinds go through the same gateway and one subgraph hop. A memoised DP answer is not free for the subgraph: the operation-level budget check plans the field and reads the effective policy (Prisma), the revocation flag and the memo table, and the resolver then does the same reads again before returning the stored release; the trivial field ${cfg.trivial === 'me' ? "only echoes the token's subject" : 'reads the static catalog'}. On two shared cores the gateway, the subgraph processes and the load generator compete for the CPU, so throughput follows the CPU time per request.`,
    ],
    goals,
    seconds: 0,
  };
}
