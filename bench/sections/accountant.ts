import { randomUUID } from 'node:crypto';
import { emptyState, epsilonSpent, withinCap } from '../../src/dp/accountant.js';
import type { PrivacyCost } from '../../src/dp/cost.js';
import { MeshError } from '../../src/errors.js';
import { addCosts, chargeOrReuse, stateOf } from '../../src/governance/ledger.js';
import { GovernanceService } from '../../src/governance/service.js';
import { verifyDomain } from '../../src/governance/verify.js';
import { planAggregate } from '../../src/query/plan.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import type { BenchContext } from '../lib/context.js';
import { health } from '../lib/datasets.js';
import { visits } from '../lib/queries.js';
import type { Goal, Section, Table } from '../lib/report.js';
import { fmt, fmtMs, summarize, type Summary } from '../lib/stats.js';

/**
 * Section 3: the accountant's group-committed charges on PostgreSQL under concurrency. Each client is
 * its own principal, so every charge contends for the dataset's global cap (and the audit chain's
 * head). After the timed phase the global cap is lowered to just above what is spent and every
 * client keeps charging until refused; then the ledger is composed again and compared with the cap.
 */
interface Level {
  clients: number;
  replicas: number;
  connections: number;
  seconds: number;
  charged: number;
  latency: Summary;
  exhaustCharged: number;
  exhaustRefused: number;
  ledgerEntries: number;
  ledgerSpent: number;
  /** What `verifyDomain` found wrong (empty when the ledger, the budgets and the audit chain agree). */
  problems: string[];
  cap: number;
  capDelta: number;
  overspend: number;
  consistent: boolean;
}

const DATASET = 'visits';
const GLOBAL_DELTA = 1e-5;

export async function accountantSection(ctx: BenchContext): Promise<Section> {
  const cfg = ctx.config.accountant;
  const plan = planAggregate(health(), visits(), { aggregate: 'count', privacy: { epsilon: cfg.epsilonPerCharge } });
  const levels: Level[] = [];
  const runs = [...cfg.clients.map((clients) => ({ clients, replicas: 1 })), ...cfg.replicated];
  for (const { clients, replicas } of runs) {
    // A fresh schema per level: its global-cap row starts empty, and every write goes through the ledger and the service.
    const schema = `${health().databaseSchema}${ctx.suffix}_acct_${clients}_${replicas}`;
    const setup = await openDomainDatabase(health(), { url: ctx.pgUrl, schema });
    await migrate(setup).finally(() => setup.close());
    const perReplica = Math.ceil(clients / replicas);
    const connections = Math.min(perReplica, cfg.maxConnections);
    // Each replica: its own DomainDatabase (own pool, own group committer), as two subgraph processes would have.
    const dbs: DomainDatabase[] = [];
    try {
      for (let i = 0; i < replicas; i++) dbs.push(await withPool(connections, () => openDomainDatabase(health(), { url: ctx.pgUrl, schema })));
      ctx.log(`section 3: ${clients} client(s) on ${replicas} replica(s), ${connections} connection(s) each`);
      levels.push(await runLevel(ctx, dbs, clients, connections, plan.costs, plan));
    } finally {
      for (const db of dbs) await db.close();
    }
  }
  return report(ctx, levels, plan.costs[0]!);
}

/** Opens with CDM_PG_POOL set to `size` (the pool size of a domain database comes from the environment). */
async function withPool<T>(size: number, open: () => Promise<T>): Promise<T> {
  const before = process.env.CDM_PG_POOL;
  process.env.CDM_PG_POOL = String(size);
  try {
    return await open();
  } finally {
    if (before === undefined) delete process.env.CDM_PG_POOL;
    else process.env.CDM_PG_POOL = before;
  }
}

async function runLevel(ctx: BenchContext, dbs: DomainDatabase[], clients: number, connections: number, costs: PrivacyCost[], plan: ReturnType<typeof planAggregate>): Promise<Level> {
  const cfg = ctx.config.accountant;
  const db = dbs[0]!;
  const g = qualified(db, 'global_budget');
  const principals = Array.from({ length: clients }, (_, i) => `acct-${clients}-${i}`);
  // Client i charges through replica i mod n.
  const replicaOf = new Map(principals.map((p, i) => [p, dbs[i % dbs.length]!]));
  const charge = (principal: string) =>
    chargeOrReuse(replicaOf.get(principal)!, {
      caller: { id: principal, roles: ['analyst'] },
      dataset: DATASET,
      aggregate: 'count',
      planKey: `bench-acct-${randomUUID()}`,
      costs,
      epsilon: plan.epsilon,
      delta: plan.delta,
      mechanism: plan.mechanism,
      query: { bench: 'accountant' },
      principalCap: { epsilon: 1000, delta: 1e-5 },
      globalCap: { epsilon: 1000, delta: GLOBAL_DELTA },
    });

  // Warm-up: one charge per client (creates the principal rows, opens the connections).
  await Promise.all(principals.map((p) => charge(p)));

  // Timed phase.
  const latencies: number[] = [];
  const deadline = performance.now() + cfg.seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    principals.map(async (p) => {
      while (performance.now() < deadline) {
        const s = performance.now();
        const out = await charge(p);
        if (out.kind !== 'charged') throw new Error(`expected a charge, got ${out.kind}`);
        latencies.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;

  // Exhaustion phase: the cap becomes what is spent after a few more charges per client (composed
  // with the accountant itself, which is tighter than adding epsilons), then every client charges
  // until refused.
  const [row] = await db.query<{ spent: unknown }>(`SELECT spent FROM ${g} WHERE dataset = $1`, [DATASET]);
  let room = stateOf(row!.spent);
  for (let i = 0; i < cfg.roomPerClient * clients; i++) room = addCosts(room, costs);
  const cap = epsilonSpent(room, GLOBAL_DELTA);
  // An admin's cap change, through the governance service (audited like any admin write).
  await new GovernanceService(health(), db).setGlobalCap('bench-admin', DATASET, { epsilon: cap, delta: GLOBAL_DELTA });
  let exhaustCharged = 0;
  let exhaustRefused = 0;
  await Promise.all(
    principals.map(async (p) => {
      for (let attempt = 0; attempt < 1000; attempt++) {
        try {
          await charge(p);
          exhaustCharged++;
        } catch (e) {
          if (e instanceof MeshError && e.extensions.code === 'BUDGET_EXHAUSTED') {
            exhaustRefused++;
            return;
          }
          throw e;
        }
      }
      throw new Error('the global cap never refused a charge');
    }),
  );

  // Overspend check: compose every ledger entry of this level again and compare with the cap.
  const entries = await db.query<{ cost: PrivacyCost[] }>(
    `SELECT cost FROM ${qualified(db, 'ledger_entry')} WHERE dataset = $1 AND principal_id = ANY($2::text[]) ORDER BY created_at, id`,
    [DATASET, principals],
  );
  const ledgerState = entries.reduce((s, e) => addCosts(s, e.cost), emptyState());
  const ledgerSpent = epsilonSpent(ledgerState, GLOBAL_DELTA);
  const [after] = await db.query<{ spent: unknown; epsilon: number }>(`SELECT spent, epsilon FROM ${g} WHERE dataset = $1`, [DATASET]);
  // Every budget row recomputed from the ledger epoch by epoch, the audit chain and its states (`cdm audit verify`).
  const verified = await verifyDomain(db);
  const charged = latencies.length;
  const expectedEntries = clients + charged + exhaustCharged;
  return {
    clients,
    replicas: dbs.length,
    connections,
    seconds: elapsed,
    charged,
    latency: summarize(latencies),
    exhaustCharged,
    exhaustRefused,
    ledgerEntries: entries.length,
    ledgerSpent,
    problems: verified.problems,
    cap: Number(after!.epsilon),
    capDelta: GLOBAL_DELTA,
    overspend: withinCap(ledgerSpent, cap) ? 0 : ledgerSpent - cap,
    consistent: entries.length === expectedEntries && verified.ok,
  };
}

const GOAL_RATE = 1000;

function report(ctx: BenchContext, levels: Level[], cost: PrivacyCost): Section {
  const cfg = ctx.config.accountant;
  const rate = (l: Level) => l.charged / l.seconds;
  const name = (l: Level) => `${l.clients} client${l.clients > 1 ? 's' : ''}${l.replicas > 1 ? `, ${l.replicas} replicas` : ''}`;
  const table: Table = {
    id: 'accountant',
    caption: 'Table 3. Accountant charges per second on PostgreSQL, and the overspend check after each run',
    columns: ['clients', 'replicas', 'connections per replica', 'charges (timed)', 'charges/s', 'p50 ms', 'p95 ms', 'cap phase: charged / refused', 'ledger entries', 'epsilon spent (ledger)', 'global cap', 'overspend', 'ledger = stored state'],
    rows: levels.map((l) => [
      String(l.clients),
      String(l.replicas),
      String(l.connections),
      l.charged.toLocaleString('en'),
      fmt(rate(l)),
      fmtMs(l.latency.p50),
      fmtMs(l.latency.p95),
      `${l.exhaustCharged} / ${l.exhaustRefused}`,
      l.ledgerEntries.toLocaleString('en'),
      fmt(l.ledgerSpent, 6),
      fmt(l.cap, 6),
      String(l.overspend),
      l.consistent ? 'yes' : 'NO',
    ]),
    chart: {
      title: 'Accountant charges per second (PostgreSQL)',
      unit: 'charges per second',
      series: ['charges/s'],
      rows: levels.map((l) => ({ label: name(l), values: [rate(l)], note: `${fmt(rate(l))}/s, overspend ${l.overspend}` })),
      lines: [{ value: GOAL_RATE, label: `goal ${GOAL_RATE.toLocaleString('en')}/s` }],
    },
  };
  const safe = (l: Level) => l.overspend === 0 && l.consistent && l.exhaustRefused === l.clients;
  const check = (l: Level) => `overspend ${l.overspend}, ${l.exhaustRefused}/${l.clients} clients refused at the cap, ledger consistent: ${l.consistent ? 'yes' : `no (${l.ledgerEntries} entries${l.problems.length ? `; ${l.problems.length} problem(s), first: ${l.problems[0]}` : ''})`}`;
  const single = levels.filter((l) => l.replicas === 1);
  const replicated = levels.filter((l) => l.replicas > 1);
  const top = single.reduce<Level | undefined>((m, l) => (!m || l.clients > m.clients ? l : m), undefined);
  const goals: Goal[] = [
    {
      goal: `accountant >= ${GOAL_RATE.toLocaleString('en')} charges/s at ${top?.clients ?? '?'} concurrent clients on PostgreSQL`,
      measured: top ? `${fmt(rate(top))} charges/s (${top.charged.toLocaleString('en')} charges in ${fmt(top.seconds)} s; p50 ${fmtMs(top.latency.p50)} ms, p95 ${fmtMs(top.latency.p95)} ms per charge; ${top.connections} connections)` : 'not measured',
      met: top !== undefined && rate(top) >= GOAL_RATE,
    },
    {
      goal: 'overspend 0 after every concurrency level (ledger composed vs the global cap)',
      measured: single.map((l) => `${name(l)}: ${check(l)}`).join('; '),
      met: single.length > 0 && single.every(safe),
    },
    {
      goal: `overspend 0 and ledger consistent with ${replicated.map((l) => l.replicas).join(', ') || 'several'} replicas (independent DomainDatabase instances with their own pools on one schema, clients split across them)`,
      measured: replicated.map((l) => `${name(l)}: ${fmt(rate(l))} charges/s, ${check(l)}`).join('; ') || 'not measured',
      met: replicated.length > 0 && replicated.every(safe),
    },
  ];
  return {
    number: 3,
    title: 'Accountant throughput and overspend',
    intro: [
      `\`chargeOrReuse\` (src/governance/ledger.ts) called directly against a fresh PostgreSQL schema per level: concurrent charges are group-committed (src/governance/committer.ts): one snapshot read per batch, each charge checked in memory against the principal's budget and the dataset's global cap with the charges before it, then one \`cdm_commit_batch\` statement that, under the audit head's row lock and only if the head is still the one read, inserts the pending releases and ledger entries, updates the budgets and appends to the hash-chained audit log, all or nothing. Each charge is a discrete Laplace count at epsilon ${cfg.epsilonPerCharge} (cost \`${JSON.stringify(cost)}\`) with its own plan key. Each client is a distinct principal, so all clients contend for the same global-cap row. Clients are concurrent async callers in this process; each replica is its own \`DomainDatabase\` (its own pg pool of min(clients per replica, ${cfg.maxConnections}) connections, and whatever per-database state the ledger keeps), as separate subgraph processes would be, and client i charges through replica i mod n. Each level: one warm-up charge per client, then ${cfg.seconds} s of charging as fast as possible.`,
      `Overspend check after each level: the global cap is lowered (through \`GovernanceService.setGlobalCap\`, audited like any admin write) to what the accountant says is spent after ${cfg.roomPerClient} more charge(s) per client, every client charges until it is refused (BUDGET_EXHAUSTED), then all ledger entries of the level are composed again with the accountant (\`epsilonSpent\` at the cap's delta) and compared with the cap: overspend = max(0, ledger epsilon − cap) under the accountant\'s own 1e-9 relative tolerance. "ledger = stored state" checks that the ledger has one entry per successful charge and that \`verifyDomain\` (what \`cdm audit verify\` runs) finds nothing wrong: the audit chain intact, every charge audited, and every budget row (the principals' and the dataset's) recomputed from the ledger epoch by epoch (lowering the cap closes the budget's current epoch, src/governance/budget.ts) equal to the stored one.`,
    ],
    tables: [table],
    notes: [],
    goals,
    seconds: 0,
  };
}
