import type { Caller } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import type { Cap } from '../dp/cost.js';
import { config } from '../config.js';
import { badInput } from '../errors.js';
import { log } from '../log.js';
import { domainDataSource, type DataSource } from '../query/datasource.js';
import { dropLeakedScratchTables } from '../query/synthetic.js';
import { qualified, type DomainDatabase } from '../storage/database.js';
import { appendAudit, lockHead, type TxQuery } from './audit.js';
import { explicitCap, globalJson, rowOf } from './budget.js';
import { datasetBudget, principalBudget, rawOf, staleAfterMs, TX_OPTIONS } from './ledger.js';
import { effectivePolicy, RELEASE_KINDS, type PolicyPatch } from './policy.js';

/**
 * The one owner of governance writes of a domain (issue 10): budgets, caps, policies, revocations,
 * and the upkeep of the release lifecycle (reaping dead releases, dropping leaked scratch tables).
 * Each write validates its input, then commits its change and its audit entry in one transaction
 * that locks the audit chain's head first (./audit.ts): the charges' group commit (./committer.ts)
 * relies on every governance write moving the head, and one lock order means no deadlock.
 * Charges themselves are in ./ledger.ts (the release lifecycle); the ledger is the source of truth
 * and the budget rows are caches that `cdm audit verify` (./verify.ts) recomputes.
 *
 * Cap semantics (issue 11): a principal's cap is the most specific policy that sets it
 * (principal > role > domain > the declaration's default), resolved at every charge. "Set" and
 * "grant" write the principal's own policy (an explicit admin setting), so later domain or role
 * policy changes reach everyone else but not them; granting adds to the cap the principal has now,
 * role policies included.
 */
export interface PolicyView {
  scope: string;
  totalEpsilon: number | null;
  totalDelta: number | null;
  maxEpsilonPerQuery: number | null;
  allowedAggregates: string[] | null;
  rateLimitPerMinute: number | null;
  maxRowsPerOperation: number | null;
  maxConcurrentExports: number | null;
  maxConcurrentOperations: number | null;
}

const SCOPE = /^(domain|role:[a-zA-Z][a-zA-Z0-9:_-]{0,60}|principal:.{1,200})$/s;

export class GovernanceService {
  constructor(
    readonly domain: DomainDeclaration,
    readonly db: DomainDatabase,
    /** Where the dataset rows (and the fits' scratch tables) live. */
    private readonly data: DataSource = domainDataSource(db),
  ) {}

  // ---- reads -------------------------------------------------------------------------------

  /** Roles a principal presented last (their budget's role policies follow them). */
  async rolesOf(principal: string): Promise<string[]> {
    const [p] = await this.db.query<{ roles: string[] | null }>(`SELECT roles FROM ${this.t('principal')} WHERE id = $1`, [principal]);
    return p?.roles ?? [];
  }

  /** A principal's budget in this domain and the global caps (the `budget` fields). */
  async budgetOf(caller: Caller) {
    const policy = await effectivePolicy(this.db.prisma, this.domain, caller);
    const mine = await principalBudget(this.db, caller.id, { epsilon: policy.totalEpsilon, delta: policy.totalDelta });
    const global = await Promise.all(
      this.domain.datasets.map(async (ds) => {
        const g = await datasetBudget(this.db, ds.name, this.domain.policy.globalCap);
        return { dataset: ds.name, epsilon: g.cap.epsilon, epsilonSpent: g.spent, epsilonRemaining: g.remaining, delta: g.cap.delta };
      }),
    );
    // Releases = charges in the ledger (a mean is one release of two measurements).
    const [charged] = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.t('ledger_entry')} WHERE principal_id = $1`, [caller.id]);
    return {
      principal: caller.id,
      domain: this.domain.name,
      epsilon: mine.cap.epsilon,
      epsilonSpent: mine.spent,
      epsilonRemaining: mine.remaining,
      delta: mine.cap.delta,
      epoch: mine.row.epoch,
      releases: charged?.n ?? 0,
      global,
    };
  }

  /** Anyone's budget, under the roles they presented last (admin view). */
  async budgetOfPrincipal(principal: string) {
    return this.budgetOf({ id: principal, roles: await this.rolesOf(principal) });
  }

  // ---- writes ------------------------------------------------------------------------------

  /** An explicit cap for one principal: their own policy, above role and domain policies. */
  async setBudget(actor: string, principal: string, cap: Cap): Promise<void> {
    checkCap(cap.epsilon, cap.delta);
    await this.audited(actor, 'admin.setBudget', { principal, epsilon: cap.epsilon, delta: cap.delta }, async (q) => {
      await this.ensurePrincipal(q, principal);
      await this.upsertPrincipalCap(q, principal, cap.epsilon, cap.delta);
    });
  }

  /** Adds epsilon to the cap the principal has now (role and domain policies included). */
  async grantBudget(actor: string, principal: string, epsilon: number): Promise<void> {
    if (!(epsilon > 0 && epsilon <= 1000)) throw badInput('epsilon to grant must be in (0, 1000].', { field: 'epsilon' });
    checkPrincipal(principal);
    const base = (await effectivePolicy(this.db.prisma, this.domain, { id: principal, roles: await this.rolesOf(principal) })).totalEpsilon;
    if (!(base + epsilon <= 1000)) throw badInput(`the cap would exceed 1000 (it is ${base}).`, { field: 'epsilon' });
    await this.audited(actor, 'admin.grantBudget', { principal, epsilon, from: base, to: base + epsilon }, async (q) => {
      await this.ensurePrincipal(q, principal);
      await this.upsertPrincipalCap(q, principal, base + epsilon, null);
    });
  }

  /** An explicit global cap for one dataset (null: back to the declaration's). */
  async setGlobalCap(actor: string, dataset: string, cap: Cap | null): Promise<void> {
    if (cap) checkCap(cap.epsilon, cap.delta);
    if (!this.domain.datasets.some((d) => d.name === dataset)) throw badInput(`No dataset "${dataset}" in ${this.domain.name}.`, { field: 'dataset' });
    await this.db.prisma.$transaction(async (tx) => {
      const q = rawOf(tx);
      await lockHead(q, this.db.schema);
      const [row] = await q<Parameters<typeof rowOf>[0] & { epsilon: number | null; delta: number | null }>(
        `INSERT INTO ${this.t('global_budget')} (dataset, epsilon, delta, spent, updated_at) VALUES ($1, $2, $3, '{}'::jsonb, now())
         ON CONFLICT (dataset) DO UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta, updated_at = now()
         RETURNING spent, epoch, epoch_epsilon, epoch_delta, prior_epsilon, prior_delta, epsilon, delta`,
        dataset, cap?.epsilon ?? null, cap?.delta ?? null,
      );
      await appendAudit(q, this.db.schema, {
        actor,
        action: 'admin.setGlobalCap',
        detail: { dataset, epsilon: cap?.epsilon ?? null, delta: cap?.delta ?? null },
        state: { [`dataset:${dataset}`]: globalJson(rowOf(row!), explicitCap(row!)) },
      });
    }, TX_OPTIONS);
  }

  /** Replaces the policy of a scope (null fields inherit from the less specific scopes). */
  async setPolicy(actor: string, scope: string, patch: PolicyPatch): Promise<PolicyView> {
    const view = validatePolicy(scope, patch);
    await this.audited(actor, 'admin.setPolicy', { scope, policy: patch }, async (q) => {
      await q(
        `INSERT INTO ${this.t('policy')} (scope, total_epsilon, total_delta, max_epsilon_per_query, allowed_aggregates, rate_limit_per_minute, max_rows_per_operation, max_concurrent_exports, max_concurrent_operations, updated_at)
         VALUES ($1, $2, $3, $4, $5::text[], $6, $7, $8, $9, now())
         ON CONFLICT (scope) DO UPDATE SET total_epsilon = $2, total_delta = $3, max_epsilon_per_query = $4, allowed_aggregates = $5::text[], rate_limit_per_minute = $6,
           max_rows_per_operation = $7, max_concurrent_exports = $8, max_concurrent_operations = $9, updated_at = now()`,
        scope, view.totalEpsilon, view.totalDelta, view.maxEpsilonPerQuery, view.allowedAggregates ?? [], view.rateLimitPerMinute, view.maxRowsPerOperation, view.maxConcurrentExports, view.maxConcurrentOperations,
      );
    });
    return view;
  }

  async revoke(actor: string, principal: string, restore: boolean): Promise<void> {
    await this.audited(actor, restore ? 'admin.restore' : 'admin.revoke', { principal, restore }, async (q) => {
      await this.ensurePrincipal(q, principal);
      await q(`UPDATE ${this.t('principal')} SET revoked = $2 WHERE id = $1`, principal, !restore);
    });
  }

  // ---- upkeep of the release lifecycle -----------------------------------------------------

  /**
   * Marks releases pending for longer than their timeout failed (their process died between
   * charge and completion). The charges stay in the ledger: that budget was spent. `all` reaps
   * every pending release: only safe when no other process can be answering (embedded PGlite at
   * start, where this process is the only one with the database).
   */
  async reapStale(all = false): Promise<string[]> {
    return this.db.prisma.$transaction(async (tx) => {
      const q = rawOf(tx);
      await lockHead(q, this.db.schema);
      const rows = await q<{ id: string }>(
        `SELECT id FROM ${this.t('release')} WHERE status = 'pending' AND ($1::boolean OR created_at < localtimestamp - make_interval(secs =>
           CASE WHEN aggregate IN ('synthetic', 'train') THEN $3::float8 ELSE $2::float8 END)) FOR UPDATE SKIP LOCKED`,
        all, staleAfterMs('count') / 1000, staleAfterMs('synthetic') / 1000,
      );
      const ids = rows.map((r) => r.id);
      if (ids.length) await q(`UPDATE ${this.t('release')} SET status = 'failed', completed_at = now() WHERE id = ANY($1::text[]) AND status = 'pending'`, ids);
      for (const releaseId of ids) await appendAudit(q, this.db.schema, { actor: 'system', action: 'release.reaped', detail: { releaseId } });
      return ids;
    }, TX_OPTIONS);
  }

  /** Scratch tables of synthetic fits that are no longer running (their process died). */
  async dropLeakedScratch(): Promise<string[]> {
    const live = await this.db.query<{ id: string }>(`SELECT id FROM ${this.t('release')} WHERE status = 'pending'`);
    return dropLeakedScratchTables(this.data, live.map((r) => r.id));
  }

  /** At start: reap and clean up once, then every CDM_REAPER_INTERVAL_MS; returns the stopper. */
  async startMaintenance(intervalMs = config().CDM_REAPER_INTERVAL_MS): Promise<() => void> {
    await this.maintain(this.db.kind === 'pglite');
    const timer = setInterval(() => void this.maintain(false), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async maintain(all: boolean) {
    try {
      const reaped = await this.reapStale(all);
      const dropped = await this.dropLeakedScratch();
      if (reaped.length || dropped.length) log.warn({ domain: this.domain.name, reaped, dropped }, 'reaped dead releases and leaked scratch tables');
    } catch (e) {
      log.error({ domain: this.domain.name, err: (e as Error).message }, 'governance upkeep failed');
    }
  }

  // ---- helpers -----------------------------------------------------------------------------

  private t(table: string) {
    return qualified(this.db, table);
  }

  private async audited(actor: string, action: string, detail: unknown, body: (q: TxQuery) => Promise<void>) {
    await this.db.prisma.$transaction(async (tx) => {
      const q = rawOf(tx);
      await lockHead(q, this.db.schema);
      await body(q);
      await appendAudit(q, this.db.schema, { actor, action, detail });
    }, TX_OPTIONS);
  }

  private async ensurePrincipal(q: TxQuery, id: string) {
    checkPrincipal(id);
    await q(`INSERT INTO ${this.t('principal')} (id, roles) VALUES ($1, '{}'::text[]) ON CONFLICT (id) DO NOTHING`, id);
  }

  /** Sets the cap fields of the principal's own policy, leaving its other fields as they are. */
  private async upsertPrincipalCap(q: TxQuery, principal: string, epsilon: number, delta: number | null) {
    await q(
      `INSERT INTO ${this.t('policy')} (scope, total_epsilon, total_delta, allowed_aggregates, updated_at) VALUES ($1, $2, $3, '{}'::text[], now())
       ON CONFLICT (scope) DO UPDATE SET total_epsilon = $2, total_delta = COALESCE($3, ${this.t('policy')}.total_delta), updated_at = now()`,
      `principal:${principal}`, epsilon, delta,
    );
  }
}

function checkPrincipal(id: string) {
  if (!id || id.length > 200) throw badInput('principal must be 1 to 200 characters.', { field: 'principal' });
}

function checkCap(epsilon: number, delta: number, fields = { epsilon: 'epsilon', delta: 'delta' }) {
  if (!(epsilon > 0 && epsilon <= 1000)) throw badInput('epsilon must be in (0, 1000].', { field: fields.epsilon });
  if (!(delta >= 0 && delta < 1e-3)) throw badInput('delta must be in [0, 0.001).', { field: fields.delta });
}

/** The stored form of a policy, after checking every field (pure). */
export function validatePolicy(scope: string, p: PolicyPatch): PolicyView {
  if (!SCOPE.test(scope)) throw badInput('scope must be "domain", "role:<role>" or "principal:<id>".', { field: 'scope' });
  if (p.totalEpsilon != null || p.totalDelta != null) checkCap(p.totalEpsilon ?? 1, p.totalDelta ?? 0, { epsilon: 'policy.totalEpsilon', delta: 'policy.totalDelta' });
  if (p.maxEpsilonPerQuery != null && !(p.maxEpsilonPerQuery > 0 && p.maxEpsilonPerQuery <= 100))
    throw badInput('maxEpsilonPerQuery must be in (0, 100].', { field: 'policy.maxEpsilonPerQuery' });
  if (p.rateLimitPerMinute != null && !(Number.isInteger(p.rateLimitPerMinute) && p.rateLimitPerMinute >= 1))
    throw badInput('rateLimitPerMinute must be an integer >= 1.', { field: 'policy.rateLimitPerMinute' });
  for (const field of ['maxRowsPerOperation', 'maxConcurrentExports', 'maxConcurrentOperations'] as const) {
    const v = p[field];
    if (v != null && !(Number.isInteger(v) && v >= 1)) throw badInput(`${field} must be an integer >= 1.`, { field: `policy.${field}` });
  }
  const bad = p.allowedAggregates?.find((x) => !(RELEASE_KINDS as readonly string[]).includes(x));
  if (bad !== undefined) throw badInput(`"${String(bad).slice(0, 40)}" is not a kind of release (${RELEASE_KINDS.join(', ')}).`, { field: 'policy.allowedAggregates' });
  return {
    scope,
    totalEpsilon: p.totalEpsilon ?? null,
    totalDelta: p.totalDelta ?? null,
    maxEpsilonPerQuery: p.maxEpsilonPerQuery ?? null,
    allowedAggregates: p.allowedAggregates?.length ? [...new Set(p.allowedAggregates)] : null,
    rateLimitPerMinute: p.rateLimitPerMinute ?? null,
    maxRowsPerOperation: p.maxRowsPerOperation ?? null,
    maxConcurrentExports: p.maxConcurrentExports ?? null,
    maxConcurrentOperations: p.maxConcurrentOperations ?? null,
  };
}
