import { createHash, randomUUID } from 'node:crypto';
import type { Caller } from '../auth/tokens.js';
import { withinCap } from '../dp/accountant.js';
import type { Cap, PrivacyCost } from '../dp/cost.js';
import { LruCache } from '../cache.js';
import { config } from '../config.js';
import { MeshError, ErrorCode } from '../errors.js';
import type { DomainDatabase } from '../storage/database.js';
import { canonicalJson, type TxQuery } from './audit.js';
import { addCosts, emptyRow, explicitCap, globalJson, rowJson, rowOf, spentEpsilon, syncEpoch, type BudgetRow } from './budget.js';
import { committerFor, type BatchWriter, type Snapshot, type SnapshotRelease } from './committer.js';
import { capFromRows, scopesFor } from './policy.js';

/**
 * Charge before release (SPEC section 4): the charge, its ledger entry, the pending release and the
 * audit entry commit together before any data is read. Both caps (the principal's and the
 * dataset's global cap) are checked on a snapshot that the commit proves unchanged (the group
 * commit of ./committer.ts, which says why that never overspends, across replicas too).
 *
 * The caps are resolved at charge time, on that snapshot: the principal's from the policy rows
 * (principal > role > domain > declaration), the dataset's from its explicit admin cap or the
 * declaration; a cap that changed since the budget's filter opened starts a new epoch
 * (./budget.ts). The ledger is the source of truth; the budget rows are caches of it.
 */
export interface ChargeRequest {
  caller: Caller;
  dataset: string;
  aggregate: string;
  planKey: string;
  costs: PrivacyCost[];
  epsilon: number;
  delta: number;
  mechanism: string;
  /** The query as the caller asked it (for the ledger and the audit log). */
  query: unknown;
  /** The caller's cap as their effective policy gave it (the default when no policy row sets one now). */
  principalCap: Cap;
  /** The declaration's global cap (used unless an admin set the dataset's explicitly). */
  globalCap: Cap;
}

export interface StoredRelease {
  id: string;
  status: 'pending' | 'done' | 'failed';
  result: unknown;
  epsilon: number;
  delta: number;
}
/** The caller's spent epsilon (at their cap's delta, as the accountant proves it) around one charge. */
export interface BudgetEffect {
  budgetBefore: number;
  budgetAfter: number;
  cap: number;
}
export type ChargeOutcome = { kind: 'charged'; releaseId: string; effect: BudgetEffect } | { kind: 'cached'; release: StoredRelease } | { kind: 'pending'; releaseId: string };

/** Interactive governance writes queue on the audit head's row lock under load: wait rather than fail. */
export const TX_OPTIONS = { timeout: 30_000, maxWait: 30_000 };

/**
 * How long a release may stay pending before it is presumed dead (its process died between charge
 * and completion): CDM_RELEASE_TIMEOUT_MS (default 2 min); fits and training get 15 times that.
 */
export function staleAfterMs(aggregate: string): number {
  const base = config().CDM_RELEASE_TIMEOUT_MS;
  return ['synthetic', 'train'].includes(aggregate) ? base * 15 : base;
}

/**
 * Charges (or finds the memoised / in-flight release of the same plan). Goes through the domain's
 * group commit (./committer.ts): decided on a snapshot that the commit proves unchanged.
 */
export function chargeOrReuse(db: DomainDatabase, req: ChargeRequest): Promise<ChargeOutcome> {
  return committerFor(db).submit({
    needs: { principals: [req.caller.id], datasets: [req.dataset], scopes: scopesFor(req.caller), planKeys: [req.planKey] },
    apply: (s, w) => charge(s, w, req),
  });
}

type RawTx = { $queryRawUnsafe<T = unknown>(sql: string, ...values: unknown[]): Promise<T> };
export const rawOf = (tx: RawTx): TxQuery => (sql, ...params) => tx.$queryRawUnsafe(sql, ...params) as never;

interface BudgetColumns {
  spent: unknown;
  epoch: number;
  epoch_epsilon: number | null;
  epoch_delta: number | null;
  prior_epsilon: number;
  prior_delta: number;
}
const BUDGET_COLUMNS = 'spent, epoch, epoch_epsilon, epoch_delta, prior_epsilon, prior_delta';

/**
 * One charge on the batch's snapshot (the rules of SPEC section 4, in order): a done release of the
 * plan is served, a live pending one is waited for, a dead one is reaped (its charge stays: it was
 * spent); a revoked caller is refused; both caps are resolved now (the principal's from the policy
 * rows, the dataset's explicit cap or the declaration's), their epochs synced, and the charge must
 * fit both. Everything is decided before the first write, so a refusal writes nothing.
 */
function charge(s: Snapshot, w: BatchWriter, req: ChargeRequest): ChargeOutcome {
  const existing = s.releases.get(req.planKey);
  if (existing?.status === 'done') return { kind: 'cached', release: stored(existing) };
  const dead = existing?.status === 'pending' && existing.age > staleAfterMs(req.aggregate) / 1000;
  if (existing?.status === 'pending' && !dead) return { kind: 'pending', releaseId: existing.id };
  const principal = s.principals.get(req.caller.id);
  if (principal?.revoked) throw new MeshError(ErrorCode.FORBIDDEN, 'Your access to this domain has been revoked.');
  const global = s.globals.get(req.dataset);
  const pcap = capFromRows(req.caller, s.policies, req.principalCap);
  const gcap = global?.cap ?? req.globalCap;
  const mine = syncEpoch(principal?.row ?? emptyRow(), pcap);
  const all = syncEpoch(global?.row ?? emptyRow(), gcap);
  const pAfter: BudgetRow = { ...mine.row, spent: addCosts(mine.row.spent, req.costs) };
  const gAfter: BudgetRow = { ...all.row, spent: addCosts(all.row.spent, req.costs) };
  refuseIfOver(mine.row, pAfter, pcap, 'your budget', req);
  refuseIfOver(all.row, gAfter, gcap, `the global cap of ${req.dataset}`, req);

  if (existing) {
    if (dead) w.entry({ actor: 'system', action: 'release.reaped', detail: { releaseId: existing.id } });
    w.drop(existing);
  }
  const releaseId = randomUUID();
  const pkey = `principal:${req.caller.id}`;
  const gkey = `dataset:${req.dataset}`;
  w.principal(req.caller.id, req.caller.roles, pAfter);
  w.dataset(req.dataset, gAfter);
  for (const [key, closed] of [[pkey, mine.closed], [gkey, all.closed]] as const) if (closed) w.closedEpoch(key, closed);
  w.release({ id: releaseId, planKey: req.planKey, dataset: req.dataset, aggregate: req.aggregate, principalId: req.caller.id, epsilon: req.epsilon, delta: req.delta });
  w.ledgerEntry({
    id: randomUUID(), principalId: req.caller.id, dataset: req.dataset, releaseId, aggregate: req.aggregate, mechanism: req.mechanism,
    epsilon: req.epsilon, delta: req.delta, cost: req.costs, principalEpoch: pAfter.epoch, globalEpoch: gAfter.epoch,
  });
  const closedEpochs = Object.fromEntries([[pkey, mine.closed], [gkey, all.closed]].filter(([, c]) => c));
  w.entry({
    actor: req.caller.id,
    action: 'release.charge',
    detail: {
      releaseId, dataset: req.dataset, aggregate: req.aggregate, query: req.query, epsilon: req.epsilon, delta: req.delta, mechanism: req.mechanism, costs: req.costs,
      ...(Object.keys(closedEpochs).length ? { closedEpochs } : {}),
    },
    state: { [pkey]: rowJson(pAfter), [gkey]: globalJson(gAfter, global?.cap ?? null) },
  });
  return { kind: 'charged', releaseId, effect: { budgetBefore: spentOf(mine.row), budgetAfter: spentOf(pAfter), cap: pcap.epsilon } };
}

const stored = (r: SnapshotRelease): StoredRelease => ({ id: r.id, status: r.status, result: r.result, epsilon: r.epsilon, delta: r.delta });

/** Kept here for the engine and older callers; defined with the budget rows. */
export { addCosts, stateOf } from './budget.js';

/**
 * spentEpsilon of a row, remembered by the row's content: the accountant's conversions (GDP, zCDP)
 * are the bulk of a charge's CPU, and each budget's state after one charge is the state before its
 * next one. A cache of a pure function: the math is the accountant's, unchanged.
 */
const spentCache = new LruCache<number>(10_000);
function spentOf(row: BudgetRow): number {
  const key = canonicalJson(rowJson(row));
  let v = spentCache.get(key);
  if (v === undefined) {
    v = spentEpsilon(row);
    spentCache.set(key, v);
  }
  return v;
}

function refuseIfOver(before: BudgetRow, after: BudgetRow, cap: Cap, which: string, req: ChargeRequest) {
  const spentAfter = spentOf(after);
  if (withinCap(spentAfter, cap.epsilon)) return;
  const spent = spentOf(before);
  throw new MeshError(ErrorCode.BUDGET_EXHAUSTED, `This release does not fit ${which}: it would bring the spent epsilon to ${fmt(spentAfter)} of ${fmt(cap.epsilon)} (at delta ${cap.delta}).`, {
    cap: cap.epsilon,
    delta: cap.delta,
    spent,
    remaining: Math.max(0, cap.epsilon - spent),
    wouldSpend: spentAfter,
    budgetBefore: spent,
    budgetAfter: spentAfter,
    requestedEpsilon: req.epsilon,
  });
}
const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : 'infinity');

/** Marks the release done with its result; audit records a hash of what was returned. */
export async function completeRelease(db: DomainDatabase, releaseId: string, actor: string, result: unknown): Promise<string> {
  const resultHash = createHash('sha256').update(canonicalJson(result)).digest('hex');
  return committerFor(db).submit({
    needs: { releaseIds: [releaseId] },
    blind: true,
    apply: (_, w) => {
      w.finish(releaseId, 'done', result, resultHash);
      w.entry({ actor, action: 'release.complete', detail: { releaseId, resultHash } });
      return resultHash;
    },
  });
}

/** The data step failed after the charge: the charge stands (privacy-safe), the key is freed. */
export async function failRelease(db: DomainDatabase, releaseId: string, actor: string): Promise<void> {
  return committerFor(db).submit({
    needs: { releaseIds: [releaseId] },
    blind: true,
    apply: (_, w) => {
      w.finish(releaseId, 'failed');
      w.entry({ actor, action: 'release.failed', detail: { releaseId } });
    },
  });
}

export async function waitForRelease(db: DomainDatabase, releaseId: string, timeoutMs = 30_000): Promise<StoredRelease | undefined> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const [r] = await db.query<StoredRelease>(`SELECT id, status, result, epsilon, delta FROM "${db.schema}"."release" WHERE id = $1`, [releaseId]);
    if (!r || r.status === 'failed') return undefined;
    if (r.status === 'done') return r;
    await new Promise((res) => setTimeout(res, 25));
  }
  return undefined;
}

/**
 * A budget as the next charge would see it (its epoch synced to `cap`), for checks that read no
 * data: the operation-level preflight, estimates and the `budget` fields.
 */
export interface BudgetCheck {
  cap: Cap;
  row: BudgetRow;
  /** Epsilon spent so far (closed epochs plus the current one). */
  spent: number;
  /** Epsilon spent once `costs` are charged too. */
  after(costs: readonly PrivacyCost[]): number;
  fits(costs: readonly PrivacyCost[]): boolean;
  remaining: number;
}

function check(row: BudgetRow, cap: Cap): BudgetCheck {
  const synced = syncEpoch(row, cap).row;
  const spent = spentEpsilon(synced);
  const after = (costs: readonly PrivacyCost[]) => spentEpsilon(synced, costs);
  return { cap, row: synced, spent, after, fits: (costs) => withinCap(after(costs), cap.epsilon), remaining: Number.isFinite(spent) ? Math.max(0, cap.epsilon - spent) : 0 };
}

/** The principal's budget under `cap` (their effective policy's totalEpsilon / totalDelta). */
export async function principalBudget(db: DomainDatabase, principalId: string, cap: Cap): Promise<BudgetCheck> {
  const [r] = await db.query<BudgetColumns>(`SELECT ${BUDGET_COLUMNS} FROM "${db.schema}"."principal_budget" WHERE principal_id = $1`, [principalId]);
  return check(r ? rowOf(r) : emptyRow(), cap);
}

/** A dataset's global budget under its explicit admin cap, else `declared`. */
export async function datasetBudget(db: DomainDatabase, dataset: string, declared: Cap): Promise<BudgetCheck> {
  const [r] = await db.query<BudgetColumns & { epsilon: number | null; delta: number | null }>(
    `SELECT ${BUDGET_COLUMNS}, epsilon, delta FROM "${db.schema}"."global_budget" WHERE dataset = $1`,
    [dataset],
  );
  return check(r ? rowOf(r) : emptyRow(), (r && explicitCap(r)) ?? declared);
}
