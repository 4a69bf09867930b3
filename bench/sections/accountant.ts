import { randomUUID } from 'node:crypto';
import { emptyState, epsilonSpent, withinCap } from '../../src/dp/accountant.js';
import type { PrivacyCost } from '../../src/dp/cost.js';
import { MeshError } from '../../src/errors.js';
import { addCosts, chargeOrReuse, stateOf } from '../../src/governance/ledger.js';
import { planAggregate } from '../../src/query/plan.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import type { BenchContext } from '../lib/context.js';
import { health } from '../lib/datasets.js';
import { visits } from '../lib/queries.js';
import type { Section, Table } from '../lib/report.js';
import { fmt, fmtMs, summarize, type Summary } from '../lib/stats.js';

/**
 * Section 3: the accountant's charge transaction on PostgreSQL under concurrency. Each client is
 * its own principal, so every charge contends for the dataset's global-cap row (and the audit
 * chain). After the timed phase the global cap is lowered to just above what is spent and every
 * client keeps charging until refused; then the ledger is composed again and compared with the cap.
 */
interface Level {
  clients: number;
  connections: number;
  seconds: number;
  charged: number;
  latency: Summary;
  exhaustCharged: number;
  exhaustRefused: number;
  ledgerEntries: number;
  ledgerSpent: number;
  storedSpent: number;
  cap: number;
  capDelta: number;
  overspend: number;
  consistent: boolean;
}

const DATASET = 'visits';
const GLOBAL_DELTA = 1e-5;

export async function accountantSection(ctx: BenchContext): Promise<Section> {
  const cfg = ctx.config.accountant;
  const schema = `${health().databaseSchema}${ctx.suffix}_accountant`;
  const plan = planAggregate(health(), visits(), { aggregate: 'count', privacy: { epsilon: cfg.epsilonPerCharge } });
  const levels: Level[] = [];
  const setup = await openDomainDatabase(health(), { url: ctx.pgUrl, schema });
  try {
    await migrate(setup);
  } finally {
    await setup.close();
  }
  for (const clients of cfg.clients) {
    const connections = Math.min(clients, cfg.maxConnections);
    const before = process.env.CDM_PG_POOL;
    process.env.CDM_PG_POOL = String(connections);
    const db = await openDomainDatabase(health(), { url: ctx.pgUrl, schema });
    if (before === undefined) delete process.env.CDM_PG_POOL;
    else process.env.CDM_PG_POOL = before;
    try {
      ctx.log(`section 3: ${clients} client(s), ${connections} connection(s)`);
      levels.push(await runLevel(ctx, db, clients, connections, plan.costs, plan));
    } finally {
      await db.close();
    }
  }
  return report(ctx, levels, plan.costs[0]!);
}

async function runLevel(ctx: BenchContext, db: DomainDatabase, clients: number, connections: number, costs: PrivacyCost[], plan: ReturnType<typeof planAggregate>): Promise<Level> {
  const cfg = ctx.config.accountant;
  const g = qualified(db, 'global_budget');
  // A fresh global row for this level (the schema is the benchmark's own).
  await db.query(`INSERT INTO ${g} (dataset, epsilon, delta, spent, updated_at) VALUES ($1, 1000, $2, '{}'::jsonb, now())
                  ON CONFLICT (dataset) DO UPDATE SET epsilon = 1000, delta = $2, spent = '{}'::jsonb, updated_at = now()`, [DATASET, GLOBAL_DELTA]);
  const principals = Array.from({ length: clients }, (_, i) => `acct-${clients}-${i}`);
  const charge = (principal: string) =>
    chargeOrReuse(db, {
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
  await db.query(`UPDATE ${g} SET epsilon = $2 WHERE dataset = $1`, [DATASET, cap]);
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
  const storedSpent = epsilonSpent(stateOf(after!.spent), GLOBAL_DELTA);
  const charged = latencies.length;
  const expectedEntries = clients + charged + exhaustCharged;
  return {
    clients,
    connections,
    seconds: elapsed,
    charged,
    latency: summarize(latencies),
    exhaustCharged,
    exhaustRefused,
    ledgerEntries: entries.length,
    ledgerSpent,
    storedSpent,
    cap: Number(after!.epsilon),
    capDelta: GLOBAL_DELTA,
    overspend: withinCap(ledgerSpent, cap) ? 0 : ledgerSpent - cap,
    consistent: entries.length === expectedEntries && Math.abs(ledgerSpent - storedSpent) <= 1e-9 * Math.max(1, storedSpent),
  };
}

function report(ctx: BenchContext, levels: Level[], cost: PrivacyCost): Section {
  const cfg = ctx.config.accountant;
  const table: Table = {
    id: 'accountant',
    caption: 'Table 3. Accountant charges per second on PostgreSQL, and the overspend check after each run',
    columns: ['clients', 'connections', 'charges (timed)', 'charges/s', 'p50 ms', 'p95 ms', 'cap phase: charged / refused', 'ledger entries', 'epsilon spent (ledger)', 'global cap', 'overspend', 'ledger = stored state'],
    rows: levels.map((l) => [
      String(l.clients),
      String(l.connections),
      l.charged.toLocaleString('en'),
      fmt(l.charged / l.seconds),
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
      rows: levels.map((l) => ({ label: `${l.clients} client${l.clients > 1 ? 's' : ''}`, values: [l.charged / l.seconds], note: `${fmt(l.charged / l.seconds)}/s, overspend ${l.overspend}` })),
    },
  };
  const ok = levels.every((l) => l.overspend === 0 && l.consistent && l.exhaustRefused === l.clients);
  return {
    number: 3,
    title: 'Accountant throughput and overspend',
    intro: [
      `\`chargeOrReuse\` (src/governance/ledger.ts) called directly against a fresh PostgreSQL schema: one transaction per charge that locks the principal's budget row and the dataset's global-cap row (\`FOR UPDATE\`), inserts the pending release and the ledger entry, updates both budgets and appends to the hash-chained audit log. Each charge is a discrete Laplace count at epsilon ${cfg.epsilonPerCharge} (cost \`${JSON.stringify(cost)}\`) with its own plan key. Each client is a distinct principal, so all clients contend for the same global-cap row. Clients are concurrent async callers in this process sharing a pg pool of min(clients, ${cfg.maxConnections}) connections (the server is shared with other work; a subgraph's default pool is 10). Each level: one warm-up charge per client, then ${cfg.seconds} s of charging as fast as possible.`,
      `Overspend check after each level: the global cap is lowered to what the accountant says is spent after ${cfg.roomPerClient} more charge(s) per client, every client charges until it is refused (BUDGET_EXHAUSTED), then all ledger entries of the level are composed again with the accountant (\`epsilonSpent\` at the cap's delta) and compared with the cap: overspend = max(0, ledger epsilon − cap) under the accountant\'s own 1e-9 relative tolerance. "ledger = stored state" checks that the ledger has one entry per successful charge and that its composition equals the budget row's stored state.`,
    ],
    tables: [table],
    notes: [],
    goals: [
      {
        goal: 'overspend 0 after every concurrency level (ledger composed vs the global cap)',
        measured: levels.map((l) => `${l.clients} client(s): overspend ${l.overspend}, ${l.exhaustRefused}/${l.clients} clients refused at the cap, ledger consistent: ${l.consistent ? 'yes' : 'no'}`).join('; '),
        met: ok,
      },
    ],
    seconds: 0,
  };
}
