import { epsilonSpent, type AccountantState } from '../dp/accountant.js';
import type { PrivacyCost } from '../dp/cost.js';
import { qualified, type DomainDatabase } from '../storage/database.js';
import { canonicalJson, verifyAudit, type Appended } from './audit.js';
import { addCosts, emptyRow, explicitCap, globalJson, provenSpend, rowJson, rowOf, type BudgetRow } from './budget.js';
import type { AuditHead } from './head.js';

/**
 * `cdm audit verify`: the ledger is the source of truth, everything else is checked against it.
 *  1. the audit chain: every link, hash and (version 2) sequence number;
 *  2. the anchored head, when given: the chain still holds that entry with that hash;
 *  3. ledger <-> audit: every charge in the ledger has its audited `release.charge` with the same
 *     costs, and the other way round (an entry cut from either side shows);
 *  4. every budget row (principal and dataset) recomputed from the ledger, epoch by epoch: the
 *     current epoch's state, each closed epoch's proven spend and their sums;
 *  5. every budget row equals the last post-change state the chain vouches for.
 * Each problem is one line naming the budget, release or entry and what differs.
 */
export interface VerifyReport {
  ok: boolean;
  entries: number;
  budgets: number;
  problems: string[];
  head?: Appended;
}

interface LedgerRow {
  principal_id: string;
  dataset: string;
  release_id: string;
  cost: PrivacyCost[] | string;
  principal_epoch: number;
  global_epoch: number;
}

interface StoredBudget {
  key: string;
  row: BudgetRow;
  json: unknown;
}

export async function verifyDomain(db: DomainDatabase, opts: { head?: AuditHead } = {}): Promise<VerifyReport> {
  const problems: string[] = [];
  const charges = new Map<string, { seq: string; costs: string }>();
  const lastState = new Map<string, { seq: string; state: unknown }>();
  const hashAt = new Map<string, string>();
  const chain = await verifyAudit(db, 5000, (e) => {
    if (opts.head && e.seq === opts.head.seq) hashAt.set(e.seq, e.hash);
    if (e.action === 'release.charge') {
      const d = e.detail as { releaseId?: string; costs?: unknown };
      if (d?.releaseId) charges.set(d.releaseId, { seq: e.seq, costs: canonicalJson(d.costs ?? null) });
    }
    if (e.state && typeof e.state === 'object') for (const [key, state] of Object.entries(e.state)) lastState.set(key, { seq: e.seq, state });
  });
  if (!chain.ok) problems.push(`audit chain BROKEN at entry ${chain.brokenAt}: ${chain.reason}`);
  if (opts.head) problems.push(...headProblems(opts.head, chain.head, hashAt));

  const ledger = await db.query<LedgerRow>(
    `SELECT principal_id, dataset, release_id, cost, principal_epoch, global_epoch FROM ${qualified(db, 'ledger_entry')} ORDER BY created_at, id`,
  );
  const states = new Map<string, Map<number, AccountantState>>();
  const fold = (key: string, epoch: number, costs: PrivacyCost[]) => {
    const epochs = states.get(key) ?? states.set(key, new Map()).get(key)!;
    epochs.set(epoch, addCosts(epochs.get(epoch) ?? emptyRow().spent, costs));
  };
  const inLedger = new Set<string>();
  for (const l of ledger) {
    const costs = (typeof l.cost === 'string' ? JSON.parse(l.cost) : l.cost) as PrivacyCost[];
    inLedger.add(l.release_id);
    fold(`principal:${l.principal_id}`, Number(l.principal_epoch), costs);
    fold(`dataset:${l.dataset}`, Number(l.global_epoch), costs);
    const audited = charges.get(l.release_id);
    if (!audited) problems.push(`release ${l.release_id}: charged in the ledger but the audit log has no release.charge for it (the log was cut or the ledger edited)`);
    else if (audited.costs !== canonicalJson(costs)) problems.push(`release ${l.release_id}: its ledger cost differs from the one audited at entry ${audited.seq} (the ledger was edited)`);
  }
  for (const [releaseId, { seq }] of charges)
    if (!inLedger.has(releaseId)) problems.push(`release ${releaseId}: charged at audit entry ${seq} but missing from the ledger (a ledger entry was deleted)`);

  const budgets = await storedBudgets(db);
  const closed = await closedEpochs(db);
  for (const b of budgets) problems.push(...budgetProblems(b, states.get(b.key) ?? new Map(), closed.get(b.key) ?? new Map(), lastState.get(b.key)));
  const stored = new Set(budgets.map((b) => b.key));
  for (const key of states.keys()) if (!stored.has(key)) problems.push(`${key}: the ledger charges it but its budget row is missing (the row was deleted)`);
  return { ok: problems.length === 0, entries: chain.entries, budgets: budgets.length, problems, head: chain.head };
}

function headProblems(anchor: AuditHead, head: Appended | undefined, hashAt: Map<string, string>): string[] {
  if (anchor.seq === '0') return []; // signed while the log was empty: every log extends it
  const last = head ? BigInt(head.seq) : 0n;
  if (BigInt(anchor.seq) > last)
    return [`the anchored head is entry ${anchor.seq} (signed ${anchor.at}) but the log ends at entry ${last}: the log was truncated`];
  const hash = hashAt.get(anchor.seq);
  if (hash === undefined) return [`the anchored head's entry ${anchor.seq} is not in the log (entries were deleted)`];
  if (hash !== anchor.hash) return [`entry ${anchor.seq} no longer has the anchored hash: the log was rewritten`];
  return [];
}

async function storedBudgets(db: DomainDatabase): Promise<StoredBudget[]> {
  const cols = 'spent, epoch, epoch_epsilon, epoch_delta, prior_epsilon, prior_delta';
  const principals = await db.query<Parameters<typeof rowOf>[0] & { principal_id: string }>(`SELECT principal_id, ${cols} FROM ${qualified(db, 'principal_budget')}`);
  const globals = await db.query<Parameters<typeof rowOf>[0] & { dataset: string; epsilon: number | null; delta: number | null }>(
    `SELECT dataset, epsilon, delta, ${cols} FROM ${qualified(db, 'global_budget')}`,
  );
  return [
    ...principals.map((p) => {
      const row = rowOf(p);
      return { key: `principal:${p.principal_id}`, row, json: rowJson(row) };
    }),
    ...globals.map((g) => {
      const row = rowOf(g);
      return { key: `dataset:${g.dataset}`, row, json: globalJson(row, explicitCap(g)) };
    }),
  ];
}

async function closedEpochs(db: DomainDatabase) {
  const rows = await db.query<{ budget: string; epoch: number; delta: number; spent_epsilon: number; spent_delta: number }>(
    `SELECT budget, epoch, delta, spent_epsilon, spent_delta FROM ${qualified(db, 'budget_epoch')}`,
  );
  const out = new Map<string, Map<number, { delta: number; spentEpsilon: number; spentDelta: number }>>();
  for (const r of rows) {
    const m = out.get(r.budget) ?? out.set(r.budget, new Map()).get(r.budget)!;
    m.set(Number(r.epoch), { delta: r.delta, spentEpsilon: r.spent_epsilon, spentDelta: r.spent_delta });
  }
  return out;
}

function budgetProblems(
  b: StoredBudget,
  ledger: Map<number, AccountantState>,
  closed: Map<number, { delta: number; spentEpsilon: number; spentDelta: number }>,
  audited: { seq: string; state: unknown } | undefined,
): string[] {
  const out: string[] = [];
  const current = ledger.get(b.row.epoch) ?? emptyRow().spent;
  if (!sameState(current, b.row.spent))
    out.push(
      `${b.key}: the stored budget (epsilon ${fmt(epsilonSpent(b.row.spent, b.row.epochDelta ?? 0))}, ${b.row.spent.releases} releases in epoch ${b.row.epoch}) ` +
        `does not match the ledger (epsilon ${fmt(epsilonSpent(current, b.row.epochDelta ?? 0))}, ${current.releases} releases): the budget row was changed outside a charge`,
    );
  for (const epoch of ledger.keys()) if (epoch > b.row.epoch) out.push(`${b.key}: the ledger charges epoch ${epoch} but the budget row is at epoch ${b.row.epoch}`);
  let priorEpsilon = 0;
  let priorDelta = 0;
  for (let epoch = 1; epoch < b.row.epoch; epoch++) {
    const c = closed.get(epoch);
    const state = ledger.get(epoch);
    if (!c) {
      if (state) out.push(`${b.key}: epoch ${epoch} has ledger charges but no record of its closing`);
      continue;
    }
    const proven = provenSpend(state ?? emptyRow().spent, c.delta);
    if (!close(proven.epsilon, c.spentEpsilon) || !close(proven.delta, c.spentDelta))
      out.push(`${b.key}: closed epoch ${epoch} records epsilon ${fmt(c.spentEpsilon)} but its ledger charges prove ${fmt(proven.epsilon)}`);
    priorEpsilon += c.spentEpsilon;
    priorDelta += c.spentDelta;
  }
  if (!close(priorEpsilon, b.row.priorEpsilon) || !close(priorDelta, b.row.priorDelta))
    out.push(`${b.key}: the stored spend of closed epochs (epsilon ${fmt(b.row.priorEpsilon)}) does not match their records (epsilon ${fmt(priorEpsilon)})`);
  if (audited && canonicalJson(audited.state) !== canonicalJson(b.json))
    out.push(`${b.key}: the stored budget differs from the last state the audit chain vouches for (entry ${audited.seq}): the row was reset or the log's tail was cut`);
  return out;
}

/** Running sums are rounded up per addition, so a replay in another order may differ in the last bits. */
const close = (a: number, b: number) => a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));

function sameState(a: AccountantState, b: AccountantState): boolean {
  return (
    a.releases === b.releases &&
    a.basicOnly === b.basicOnly &&
    close(a.gdp, b.gdp) &&
    close(a.zcdp, b.zcdp) &&
    close(a.basicEpsilon, b.basicEpsilon) &&
    close(a.approxDelta, b.approxDelta) &&
    canonicalJson(a.counts) === canonicalJson(b.counts)
  );
}

const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)).toString() : 'infinity');
