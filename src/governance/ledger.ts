import { createHash, randomUUID } from 'node:crypto';
import type { Caller } from '../auth/tokens.js';
import { withinCap } from '../dp/accountant.js';
import type { Cap, PrivacyCost } from '../dp/cost.js';
import { config } from '../config.js';
import { MeshError, ErrorCode } from '../errors.js';
import type { DomainDatabase } from '../storage/database.js';
import { appendAudit, canonicalJson, type TxQuery } from './audit.js';
import { addCosts, emptyRow, rowJson, rowOf, spentEpsilon, syncEpoch, type BudgetRow, type ClosedEpoch } from './budget.js';
import { capFromRows } from './policy.js';

/**
 * Charge before release (SPEC section 4): the charge, its ledger entry, the pending release and the
 * audit entry commit in ONE transaction before any data is read. Both caps (the principal's and the
 * dataset's global cap) are checked under row locks, so concurrent requests, across replicas on one
 * PostgreSQL, serialise on the rows they spend from and never overspend.
 *
 * The caps are resolved here, at charge time, inside the transaction: the principal's from the
 * policy rows (principal > role > domain > declaration), the dataset's from its explicit admin cap
 * or the declaration; a cap that changed since the budget's filter opened starts a new epoch
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

class LostRace extends Error {}

/** Charges queue on row locks under load: wait for a connection and the locks rather than fail. */
export const TX_OPTIONS = { timeout: 30_000, maxWait: 30_000 };

/**
 * How long a release may stay pending before it is presumed dead (its process died between charge
 * and completion): CDM_RELEASE_TIMEOUT_MS (default 2 min); fits and training get 15 times that.
 */
export function staleAfterMs(aggregate: string): number {
  const base = config().CDM_RELEASE_TIMEOUT_MS;
  return ['synthetic', 'train'].includes(aggregate) ? base * 15 : base;
}

export async function chargeOrReuse(db: DomainDatabase, req: ChargeRequest): Promise<ChargeOutcome> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await db.prisma.$transaction((tx) => chargeTx(rawOf(tx), db.schema, req), TX_OPTIONS);
    } catch (e) {
      if (!(e instanceof LostRace)) throw e;
    }
  }
  throw new MeshError(ErrorCode.INTERNAL_SERVER_ERROR, 'Could not record the release; retry.');
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

async function chargeTx(q: TxQuery, schema: string, req: ChargeRequest): Promise<ChargeOutcome> {
  const t = (name: string) => `"${schema}"."${name}"`;
  const [existing] = await q<StoredRelease & { stale: boolean }>(
    `SELECT id, status, result, epsilon, delta, created_at < localtimestamp - make_interval(secs => $2::float8) AS stale FROM ${t('release')} WHERE plan_key = $1`,
    req.planKey, staleAfterMs(req.aggregate) / 1000,
  );
  if (existing?.status === 'done') return { kind: 'cached', release: existing };
  if (existing?.status === 'pending' && !existing.stale) return { kind: 'pending', releaseId: existing.id };
  // A dead release (its process died after the charge) is reaped here too, so the next identical
  // request is answered instead of waiting for it; its charge stays in the ledger: it was spent.
  if (existing?.status === 'pending') await reapTx(q, schema, [existing.id], 'system');
  if (existing) await q(`DELETE FROM ${t('release')} WHERE id = $1`, existing.id);

  await ensureRows(q, t, req);
  // Lock order is always principal row, then dataset row, then the audit chain: no deadlocks.
  const [principal] = await q<BudgetColumns & { revoked: boolean }>(
    `SELECT ${BUDGET_COLUMNS.split(', ').map((c) => `b.${c}`).join(', ')}, p.revoked FROM ${t('principal_budget')} b JOIN ${t('principal')} p ON p.id = b.principal_id
     WHERE b.principal_id = $1 FOR UPDATE OF b`,
    req.caller.id,
  );
  const [global] = await q<BudgetColumns & { epsilon: number | null; delta: number | null }>(
    `SELECT ${BUDGET_COLUMNS}, epsilon, delta FROM ${t('global_budget')} WHERE dataset = $1 FOR UPDATE`,
    req.dataset,
  );
  if (principal!.revoked) throw new MeshError(ErrorCode.FORBIDDEN, 'Your access to this domain has been revoked.');
  const policyRows = await q<{ scope: string; totalEpsilon: number | null; totalDelta: number | null }>(
    `SELECT scope, total_epsilon AS "totalEpsilon", total_delta AS "totalDelta" FROM ${t('policy')} WHERE scope = ANY($1::text[])`,
    ['domain', ...req.caller.roles.map((r) => `role:${r}`), `principal:${req.caller.id}`],
  );
  const pcap = capFromRows(req.caller, policyRows, req.principalCap);
  const gcap = explicitCap(global!) ?? req.globalCap;
  const mine = syncEpoch(rowOf(principal!), pcap);
  const all = syncEpoch(rowOf(global!), gcap);
  refuseIfOver(mine.row, pcap, 'your budget', req);
  refuseIfOver(all.row, gcap, `the global cap of ${req.dataset}`, req);

  const releaseId = randomUUID();
  const inserted = await q<{ id: string }>(
    `INSERT INTO ${t('release')} (id, plan_key, dataset, aggregate, principal_id, status, epsilon, delta)
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) ON CONFLICT (plan_key) DO NOTHING RETURNING id`,
    releaseId, req.planKey, req.dataset, req.aggregate, req.caller.id, req.epsilon, req.delta,
  );
  if (inserted.length === 0) throw new LostRace();
  const pkey = `principal:${req.caller.id}`;
  const gkey = `dataset:${req.dataset}`;
  const pAfter: BudgetRow = { ...mine.row, spent: addCosts(mine.row.spent, req.costs) };
  const gAfter: BudgetRow = { ...all.row, spent: addCosts(all.row.spent, req.costs) };
  await writeRow(q, t('principal_budget'), 'principal_id', req.caller.id, pAfter);
  await writeRow(q, t('global_budget'), 'dataset', req.dataset, gAfter);
  for (const [key, closed] of [[pkey, mine.closed], [gkey, all.closed]] as const) if (closed) await recordClosedEpoch(q, t('budget_epoch'), key, closed);
  await q(
    `INSERT INTO ${t('ledger_entry')} (id, principal_id, dataset, release_id, aggregate, mechanism, epsilon, delta, cost, principal_epoch, global_epoch)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)`,
    randomUUID(), req.caller.id, req.dataset, releaseId, req.aggregate, req.mechanism, req.epsilon, req.delta, JSON.stringify(req.costs), pAfter.epoch, gAfter.epoch,
  );
  const closedEpochs = Object.fromEntries([[pkey, mine.closed], [gkey, all.closed]].filter(([, c]) => c));
  await appendAudit(q, schema, {
    actor: req.caller.id,
    action: 'release.charge',
    detail: {
      releaseId, dataset: req.dataset, aggregate: req.aggregate, query: req.query, epsilon: req.epsilon, delta: req.delta, mechanism: req.mechanism, costs: req.costs,
      ...(Object.keys(closedEpochs).length ? { closedEpochs } : {}),
    },
    state: { [pkey]: rowJson(pAfter), [gkey]: globalJson(gAfter, explicitCap(global!)) },
  });
  return { kind: 'charged', releaseId, effect: { budgetBefore: spentEpsilon(mine.row), budgetAfter: spentEpsilon(pAfter), cap: pcap.epsilon } };
}

/** The dataset's cap an admin set explicitly, if any. */
export const explicitCap = (r: { epsilon: number | null; delta: number | null }): Cap | null =>
  r.epsilon != null && r.delta != null ? { epsilon: r.epsilon, delta: r.delta } : null;

/** A global budget's audited state: its filter and its explicit cap. */
export const globalJson = (row: BudgetRow, cap: Cap | null) => ({ ...rowJson(row), cap });

async function writeRow(q: TxQuery, table: string, keyColumn: string, key: string, row: BudgetRow) {
  await q(
    `UPDATE ${table} SET spent = $2::jsonb, epoch = $3, epoch_epsilon = $4, epoch_delta = $5, prior_epsilon = $6, prior_delta = $7, updated_at = now() WHERE ${keyColumn} = $1`,
    key, JSON.stringify(row.spent), row.epoch, row.epochEpsilon, row.epochDelta, row.priorEpsilon, row.priorDelta,
  );
}

async function recordClosedEpoch(q: TxQuery, table: string, budget: string, c: ClosedEpoch) {
  await q(
    `INSERT INTO ${table} (budget, epoch, epsilon, delta, spent_epsilon, spent_delta, releases) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    budget, c.epoch, c.epsilon, c.delta, c.spentEpsilon, c.spentDelta, c.releases,
  );
}

async function ensureRows(q: TxQuery, t: (n: string) => string, req: ChargeRequest) {
  await q(`INSERT INTO ${t('principal')} (id, roles) VALUES ($1, $2::text[]) ON CONFLICT (id) DO UPDATE SET roles = excluded.roles`, req.caller.id, req.caller.roles);
  await q(`INSERT INTO ${t('principal_budget')} (principal_id, spent, updated_at) VALUES ($1, '{}'::jsonb, now()) ON CONFLICT DO NOTHING`, req.caller.id);
  await q(`INSERT INTO ${t('global_budget')} (dataset, spent, updated_at) VALUES ($1, '{}'::jsonb, now()) ON CONFLICT DO NOTHING`, req.dataset);
}

/** Kept here for the engine and older callers; defined with the budget rows. */
export { addCosts, stateOf } from './budget.js';

function refuseIfOver(row: BudgetRow, cap: Cap, which: string, req: ChargeRequest) {
  const spentAfter = spentEpsilon(row, req.costs);
  if (withinCap(spentAfter, cap.epsilon)) return;
  const spent = spentEpsilon(row);
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

/** Marks pending releases failed (their process died): the charge stays, the memo key is freed. */
export async function reapTx(q: TxQuery, schema: string, ids: string[], actor: string): Promise<void> {
  if (ids.length === 0) return;
  await q(`UPDATE "${schema}"."release" SET status = 'failed', completed_at = now() WHERE id = ANY($1::text[]) AND status = 'pending'`, ids);
  for (const releaseId of ids) await appendAudit(q, schema, { actor, action: 'release.reaped', detail: { releaseId } });
}

/** Marks the release done with its result; audit records a hash of what was returned. */
export async function completeRelease(db: DomainDatabase, releaseId: string, actor: string, result: unknown): Promise<string> {
  const resultHash = createHash('sha256').update(canonicalJson(result)).digest('hex');
  await db.prisma.$transaction(async (tx) => {
    const q = rawOf(tx);
    await q(
      `UPDATE "${db.schema}"."release" SET status = 'done', result = $2::jsonb, result_hash = $3, completed_at = now() WHERE id = $1 AND status = 'pending'`,
      releaseId, JSON.stringify(result), resultHash,
    );
    await appendAudit(q, db.schema, { actor, action: 'release.complete', detail: { releaseId, resultHash } });
  }, TX_OPTIONS);
  return resultHash;
}

/** The data step failed after the charge: the charge stands (privacy-safe), the key is freed. */
export async function failRelease(db: DomainDatabase, releaseId: string, actor: string): Promise<void> {
  await db.prisma.$transaction(async (tx) => {
    const q = rawOf(tx);
    await q(`UPDATE "${db.schema}"."release" SET status = 'failed', completed_at = now() WHERE id = $1 AND status = 'pending'`, releaseId);
    await appendAudit(q, db.schema, { actor, action: 'release.failed', detail: { releaseId } });
  }, TX_OPTIONS);
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
