import { createHash, randomUUID } from 'node:crypto';
import type { Caller } from '../auth/tokens.js';
import { compose, emptyState, epsilonSpent, parseState, withinCap, type AccountantState } from '../dp/accountant.js';
import type { Cap, PrivacyCost } from '../dp/cost.js';
import { MeshError, ErrorCode } from '../errors.js';
import type { DomainDatabase } from '../storage/database.js';
import { appendAudit, canonicalJson, type TxQuery } from './audit.js';

/**
 * Charge before release (SPEC section 4): the charge, its ledger entry, the pending release and the
 * audit entry commit in ONE transaction before any data is read. Both caps (the principal's and the
 * dataset's global cap) are checked under row locks, so concurrent requests, across replicas on one
 * PostgreSQL, serialise on the rows they spend from and never overspend.
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
  principalCap: Cap;
  globalCap: Cap;
}

export interface StoredRelease {
  id: string;
  status: 'pending' | 'done' | 'failed';
  result: unknown;
  epsilon: number;
  delta: number;
}
export type ChargeOutcome = { kind: 'charged'; releaseId: string } | { kind: 'cached'; release: StoredRelease } | { kind: 'pending'; releaseId: string };

class LostRace extends Error {}

/** Charges queue on row locks under load: wait for a connection and the locks rather than fail. */
const TX_OPTIONS = { timeout: 30_000, maxWait: 30_000 };

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

async function chargeTx(q: TxQuery, schema: string, req: ChargeRequest): Promise<ChargeOutcome> {
  const t = (name: string) => `"${schema}"."${name}"`;
  const [existing] = await q<StoredRelease>(`SELECT id, status, result, epsilon, delta FROM ${t('release')} WHERE plan_key = $1`, req.planKey);
  if (existing?.status === 'done') return { kind: 'cached', release: existing };
  if (existing?.status === 'pending') return { kind: 'pending', releaseId: existing.id };
  if (existing?.status === 'failed') await q(`DELETE FROM ${t('release')} WHERE id = $1`, existing.id);

  await ensureRows(q, t, req);
  // Lock order is always principal row, then dataset row, then the audit chain: no deadlocks.
  const [principal] = await q<{ spent: unknown; epsilon: number; delta: number; revoked: boolean }>(
    `SELECT b.spent, b.epsilon, b.delta, p.revoked FROM ${t('principal_budget')} b JOIN ${t('principal')} p ON p.id = b.principal_id
     WHERE b.principal_id = $1 FOR UPDATE OF b`,
    req.caller.id,
  );
  const [global] = await q<{ spent: unknown; epsilon: number; delta: number }>(
    `SELECT spent, epsilon, delta FROM ${t('global_budget')} WHERE dataset = $1 FOR UPDATE`,
    req.dataset,
  );
  if (principal!.revoked) throw new MeshError(ErrorCode.FORBIDDEN, 'Your access to this domain has been revoked.');
  const mine = addCosts(stateOf(principal!.spent), req.costs);
  const all = addCosts(stateOf(global!.spent), req.costs);
  refuseIfOver(mine, { epsilon: principal!.epsilon, delta: principal!.delta }, 'your budget', stateOf(principal!.spent), req);
  refuseIfOver(all, { epsilon: global!.epsilon, delta: global!.delta }, `the global cap of ${req.dataset}`, stateOf(global!.spent), req);

  const releaseId = randomUUID();
  const inserted = await q<{ id: string }>(
    `INSERT INTO ${t('release')} (id, plan_key, dataset, aggregate, principal_id, status, epsilon, delta)
     VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) ON CONFLICT (plan_key) DO NOTHING RETURNING id`,
    releaseId, req.planKey, req.dataset, req.aggregate, req.caller.id, req.epsilon, req.delta,
  );
  if (inserted.length === 0) throw new LostRace();
  await q(`UPDATE ${t('principal_budget')} SET spent = $2::jsonb, updated_at = now() WHERE principal_id = $1`, req.caller.id, JSON.stringify(mine));
  await q(`UPDATE ${t('global_budget')} SET spent = $2::jsonb, updated_at = now() WHERE dataset = $1`, req.dataset, JSON.stringify(all));
  await q(
    `INSERT INTO ${t('ledger_entry')} (id, principal_id, dataset, release_id, aggregate, mechanism, epsilon, delta, cost)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)`,
    randomUUID(), req.caller.id, req.dataset, releaseId, req.aggregate, req.mechanism, req.epsilon, req.delta, JSON.stringify(req.costs),
  );
  await appendAudit(q, schema, {
    actor: req.caller.id,
    action: 'release.charge',
    detail: { releaseId, dataset: req.dataset, aggregate: req.aggregate, query: req.query, epsilon: req.epsilon, delta: req.delta, mechanism: req.mechanism, costs: req.costs },
  });
  return { kind: 'charged', releaseId };
}

async function ensureRows(q: TxQuery, t: (n: string) => string, req: ChargeRequest) {
  await q(`INSERT INTO ${t('principal')} (id, roles) VALUES ($1, $2::text[]) ON CONFLICT (id) DO UPDATE SET roles = excluded.roles`, req.caller.id, req.caller.roles);
  await q(
    `INSERT INTO ${t('principal_budget')} (principal_id, epsilon, delta, spent, updated_at) VALUES ($1, $2, $3, '{}'::jsonb, now()) ON CONFLICT DO NOTHING`,
    req.caller.id, req.principalCap.epsilon, req.principalCap.delta,
  );
  await q(
    `INSERT INTO ${t('global_budget')} (dataset, epsilon, delta, spent, updated_at) VALUES ($1, $2, $3, '{}'::jsonb, now()) ON CONFLICT DO NOTHING`,
    req.dataset, req.globalCap.epsilon, req.globalCap.delta,
  );
}

export const stateOf = (json: unknown): AccountantState =>
  json && typeof json === 'object' && Object.keys(json).length > 0 ? parseState(json) : emptyState();
export const addCosts = (s: AccountantState, costs: PrivacyCost[]) => costs.reduce(compose, s);

function refuseIfOver(after: AccountantState, cap: Cap, which: string, before: AccountantState, req: ChargeRequest) {
  const spentAfter = epsilonSpent(after, cap.delta);
  if (withinCap(spentAfter, cap.epsilon)) return;
  const spent = epsilonSpent(before, cap.delta);
  throw new MeshError(ErrorCode.BUDGET_EXHAUSTED, `This release does not fit ${which}: it would bring the spent epsilon to ${fmt(spentAfter)} of ${fmt(cap.epsilon)} (at delta ${cap.delta}).`, {
    cap: cap.epsilon,
    delta: cap.delta,
    spent,
    remaining: Math.max(0, cap.epsilon - spent),
    wouldSpend: spentAfter,
    requestedEpsilon: req.epsilon,
  });
}
const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(4) : 'infinity');

/** Marks the release done with its result; audit records a hash of what was returned. */
export async function completeRelease(db: DomainDatabase, releaseId: string, actor: string, result: unknown): Promise<string> {
  const resultHash = createHash('sha256').update(canonicalJson(result)).digest('hex');
  await db.prisma.$transaction(async (tx) => {
    const q = rawOf(tx);
    await q(
      `UPDATE "${db.schema}"."release" SET status = 'done', result = $2::jsonb, result_hash = $3, completed_at = now() WHERE id = $1`,
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
    await q(`UPDATE "${db.schema}"."release" SET status = 'failed', completed_at = now() WHERE id = $1`, releaseId);
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

export async function budgetState(db: DomainDatabase, principalId: string, dataset?: string) {
  const [p] = await db.query<{ spent: unknown; epsilon: number; delta: number }>(
    `SELECT spent, epsilon, delta FROM "${db.schema}"."principal_budget" WHERE principal_id = $1`,
    [principalId],
  );
  const g = dataset
    ? (await db.query<{ spent: unknown; epsilon: number; delta: number }>(`SELECT spent, epsilon, delta FROM "${db.schema}"."global_budget" WHERE dataset = $1`, [dataset]))[0]
    : undefined;
  return { principal: p ? { state: stateOf(p.spent), cap: { epsilon: p.epsilon, delta: p.delta } } : undefined, global: g ? { state: stateOf(g.spent), cap: { epsilon: g.epsilon, delta: g.delta } } : undefined };
}
