import type { Caller } from '../auth/tokens.js';
import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { budgetStatus, emptyState, epsilonSpent, withinCap } from '../dp/accountant.js';
import { ErrorCode, MeshError } from '../errors.js';
import { chargeOrReuse, completeRelease, failRelease, waitForRelease, budgetState, addCosts } from '../governance/ledger.js';
import { effectivePolicy, PolicyCache, RateLimiter, type EffectivePolicy } from '../governance/policy.js';
import { SyntheticService } from './synthetic.js';
import type { PrivacyRequest } from './types.js';
import type { DomainDatabase } from '../storage/database.js';
import { planAggregate, type Plan } from './plan.js';
import { releaseAnswer, type Answer } from './release.js';
import { observeMemoHit, observeRelease } from '../observability/metrics.js';
import { unitColumn, verifiedRank } from '../seed/rank.js';
import { statementFor } from './sql.js';
import type { AggregateRequest } from './types.js';
import { config } from '../config.js';

/**
 * The one path every DP answer takes (resolvers are thin adapters over it):
 * plan -> policy -> charge (or reuse the memoised release) -> SQL -> noise -> record -> return.
 */
/** One DP field of a GraphQL operation, for the operation-level check. */
export type OperationItem = { dataset: string; request: AggregateRequest } | { dataset: string; synthetic: PrivacyRequest | null };

export interface Release {
  answer: Answer;
  releaseId: string;
  cached: boolean;
  epsilon: number;
  delta: number;
  mechanism: string;
}

/** At most `n` holders at once; the rest queue in arrival order. */
class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly n: number) {}
  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

export class QueryEngine {
  private readonly limiter = new RateLimiter();
  // Each release holds a connection for its charge, its query and its completion: bounding how many
  // run at once keeps an operation with many DP fields from starving the connection pool.
  private readonly releases = new Semaphore(config().CDM_CONCURRENT_RELEASES);
  readonly synthetic: SyntheticService;
  readonly policies: PolicyCache;
  /** Done releases never change: a bounded in-process copy saves the memo read on repeats. */
  private readonly memoCache = new Map<string, { id: string; result: Answer }>();
  constructor(
    readonly domain: DomainDeclaration,
    readonly db: DomainDatabase,
  ) {
    this.policies = new PolicyCache(db.prisma, domain);
    this.synthetic = new SyntheticService(domain, db, (caller) => this.policyFor(caller));
  }

  dataset(name: string): DatasetDeclaration {
    const ds = this.domain.datasets.find((d) => d.name === name);
    if (!ds) throw new MeshError(ErrorCode.NOT_FOUND, `No dataset "${name}" in ${this.domain.name}.`);
    return ds;
  }

  /**
   * Per-request scope, keyed by the request's own Caller object (each request verifies its token
   * into a new one): the policy and revocation are read once per request, and memoised releases
   * found by the operation-level check are not read again by the resolvers.
   */
  private readonly scopes = new WeakMap<Caller, { policy?: Promise<EffectivePolicy>; memo: Map<string, { id: string; result: Answer }> }>();
  private scope(caller: Caller) {
    let s = this.scopes.get(caller);
    if (!s) this.scopes.set(caller, (s = { memo: new Map() }));
    return s;
  }

  /** The caller's effective policy, after checking they are not revoked (once per request). */
  policyFor(caller: Caller): Promise<EffectivePolicy> {
    const s = this.scope(caller);
    s.policy ??= this.policies.forCaller(caller);
    return s.policy;
  }

  private readonly rankedTables = new Map<string, { at: number; ok: Promise<boolean> }>();
  /**
   * Whether a dataset's table carries a load-time rank whose invariant the database enforces
   * (src/seed/rank.ts); re-checked every few seconds, so a dropped constraint stops the trust.
   */
  private ranked(dataset: Plan['dataset']): Promise<boolean> {
    let r = this.rankedTables.get(dataset.table);
    if (!r || Date.now() - r.at > 5000) {
      const unit = unitColumn(dataset);
      r = { at: Date.now(), ok: unit ? verifiedRank(this.db, dataset.table, unit.sql) : Promise.resolve(false) };
      this.rankedTables.set(dataset.table, r);
    }
    return r.ok;
  }

  private async memoised(key: string, requestMemo: Map<string, { id: string; result: Answer }>) {
    const hit = requestMemo.get(key) ?? this.memoCache.get(key);
    if (hit) return hit;
    const [row] = await this.db.query<{ id: string; result: Answer }>(`SELECT id, result FROM "${this.db.schema}"."release" WHERE plan_key = $1 AND status = 'done'`, [key]);
    if (row) this.remember(key, row);
    return row;
  }

  private remember(key: string, release: { id: string; result: Answer }) {
    if (this.memoCache.size >= 10_000) this.memoCache.delete(this.memoCache.keys().next().value!);
    this.memoCache.set(key, release);
  }

  /** Plans and checks policy without reading data or spending budget. */
  async prepare(caller: Caller, datasetName: string, req: AggregateRequest): Promise<{ plan: Plan; policy: EffectivePolicy }> {
    const plan = planAggregate(this.domain, this.dataset(datasetName), req);
    const policy = await this.policyFor(caller);
    if (policy.allowedAggregates && !policy.allowedAggregates.includes(plan.aggregate))
      throw new MeshError(ErrorCode.POLICY_VIOLATION, `The policy of ${this.domain.name} does not allow ${plan.aggregate} for you.`);
    if (plan.epsilon > policy.maxEpsilonPerQuery)
      throw new MeshError(ErrorCode.POLICY_VIOLATION, `epsilon ${plan.epsilon} exceeds the per-query maximum ${policy.maxEpsilonPerQuery} of ${this.domain.name}.`, {
        maxEpsilonPerQuery: policy.maxEpsilonPerQuery,
      });
    return { plan, policy };
  }

  run(caller: Caller, datasetName: string, req: AggregateRequest): Promise<Release> {
    return this.releases.use(() => this.runNow(caller, datasetName, req));
  }

  private async runNow(caller: Caller, datasetName: string, req: AggregateRequest): Promise<Release> {
    const { plan, policy } = await this.prepare(caller, datasetName, req);
    const meta = { epsilon: plan.epsilon, delta: plan.delta, mechanism: plan.mechanism };
    // Memoised releases are free: served from one indexed read (or the one the operation check
    // already made), without a transaction or the rate limit.
    const memo = await this.memoised(plan.key, this.scope(caller).memo);
    if (memo) {
      observeMemoHit(this.domain.name, plan.dataset.name);
      return { answer: memo.result, releaseId: memo.id, cached: true, ...meta };
    }
    if (policy.rateLimitPerMinute && !this.limiter.allow(caller.id, policy.rateLimitPerMinute))
      throw new MeshError(ErrorCode.RATE_LIMITED, `More than ${policy.rateLimitPerMinute} DP queries a minute; slow down.`);
    const outcome = await chargeOrReuse(this.db, {
      caller,
      dataset: plan.dataset.name,
      aggregate: plan.aggregate,
      planKey: plan.key,
      costs: plan.costs,
      epsilon: plan.epsilon,
      delta: plan.delta,
      mechanism: plan.mechanism,
      query: describeRequest(datasetName, req),
      principalCap: { epsilon: policy.totalEpsilon, delta: policy.totalDelta },
      globalCap: this.domain.policy.globalCap,
    });
    if (outcome.kind === 'cached') return { answer: outcome.release.result as Answer, releaseId: outcome.release.id, cached: true, ...meta };
    if (outcome.kind === 'pending') {
      const done = await waitForRelease(this.db, outcome.releaseId);
      if (!done) throw new MeshError(ErrorCode.INTERNAL_SERVER_ERROR, 'The same query is being answered and did not finish; retry.');
      return { answer: done.result as Answer, releaseId: done.id, cached: true, ...meta };
    }
    let answer: Answer;
    try {
      const stmt = statementFor(this.db, plan, { ranked: await this.ranked(plan.dataset) });
      const rows = await this.db.query<Record<string, string>>(stmt.sql, stmt.params);
      answer = releaseAnswer(plan, rows);
    } catch (e) {
      await failRelease(this.db, outcome.releaseId, caller.id);
      throw e;
    }
    await completeRelease(this.db, outcome.releaseId, caller.id, answer);
    observeRelease(this.domain.name, plan.dataset.name, plan.epsilon);
    return { answer, releaseId: outcome.releaseId, cached: false, ...meta };
  }

  /**
   * Operation-level check, before anything runs: plans every DP field of the operation (a planning
   * error refuses the whole operation), skips plans already released (free) and repeated plans,
   * and refuses the operation when the rest does not fit the principal's cap or a global cap.
   */
  async preflight(caller: Caller, items: OperationItem[]): Promise<void> {
    const plans = new Map<string, { dataset: string; costs: Plan['costs'] }>();
    let policy: EffectivePolicy | undefined;
    for (const item of items) {
      if ('synthetic' in item) {
        const p = await this.synthetic.plan(caller, this.dataset(item.dataset), item.synthetic);
        policy = p.policy;
        plans.set(p.key, { dataset: item.dataset, costs: p.costs });
        continue;
      }
      const prepared = await this.prepare(caller, item.dataset, item.request);
      policy = prepared.policy;
      plans.set(prepared.plan.key, { dataset: prepared.plan.dataset.name, costs: prepared.plan.costs });
    }
    if (!policy || plans.size === 0) return;
    const done = await this.db.query<{ plan_key: string; id: string; result: Answer }>(
      `SELECT plan_key, id, result FROM "${this.db.schema}"."release" WHERE plan_key = ANY($1::text[]) AND status = 'done'`,
      [[...plans.keys()]],
    );
    for (const r of done) {
      plans.delete(r.plan_key);
      this.scope(caller).memo.set(r.plan_key, { id: r.id, result: r.result });
      this.remember(r.plan_key, { id: r.id, result: r.result });
    }
    const pending = [...plans.values()];
    if (pending.length === 0) return;
    const costs = pending.flatMap((p) => p.costs);
    const alone = epsilonSpent(addCosts(emptyState(), costs), policy.totalDelta);
    const { principal } = await budgetState(this.db, caller.id);
    const cap = principal?.cap ?? { epsilon: policy.totalEpsilon, delta: policy.totalDelta };
    const before = principal?.state ?? emptyState();
    const after = epsilonSpent(addCosts(before, costs), cap.delta);
    if (!withinCap(after, cap.epsilon)) {
      const spent = epsilonSpent(before, cap.delta);
      throw new MeshError(
        ErrorCode.BUDGET_EXHAUSTED,
        `This operation's ${pending.length} DP release(s) would cost epsilon ${alone.toPrecision(4)} together, and ${Math.max(0, cap.epsilon - spent).toPrecision(4)} of your ${cap.epsilon} is left. Nothing was run or charged.`,
        { operationCost: alone, releases: pending.length, cap: cap.epsilon, spent, remaining: Math.max(0, cap.epsilon - spent) },
      );
    }
    for (const ds of new Set(pending.map((p) => p.dataset))) {
      const mine = pending.filter((p) => p.dataset === ds).flatMap((p) => p.costs);
      const { global } = await budgetState(this.db, caller.id, ds);
      const gcap = global?.cap ?? this.domain.policy.globalCap;
      const gstate = global?.state ?? emptyState();
      if (!withinCap(epsilonSpent(addCosts(gstate, mine), gcap.delta), gcap.epsilon)) {
        const spent = epsilonSpent(gstate, gcap.delta);
        throw new MeshError(ErrorCode.BUDGET_EXHAUSTED, `This operation does not fit the global cap of ${ds}. Nothing was run or charged.`, {
          operationCost: alone,
          cap: gcap.epsilon,
          spent,
          remaining: Math.max(0, gcap.epsilon - spent),
        });
      }
    }
  }

  /** Cost preview: what a query would spend and its expected error, without running it. */
  async estimate(caller: Caller, datasetName: string, req: AggregateRequest) {
    const { plan, policy } = await this.prepare(caller, datasetName, req);
    const { principal } = await budgetState(this.db, caller.id);
    const cap = principal?.cap ?? { epsilon: policy.totalEpsilon, delta: policy.totalDelta };
    const state = principal?.state ?? emptyState();
    const after = addCosts(state, plan.costs);
    const m = plan.measurements[0]?.mechanism ?? plan.keySelection?.mechanism;
    const g = plan.aggregate === 'sum' ? (plan.grid?.g ?? 1) : 1;
    // Error bars are public before running only where the noise alone is the error (no ratio of noisy values).
    const dataFreeNoise = m && ['count', 'countDistinct', 'sum', 'histogram'].includes(plan.aggregate) ? m : undefined;
    return {
      epsilon: plan.epsilon,
      delta: plan.delta,
      mechanism: plan.mechanism,
      measurements: plan.measurements.length || 1,
      standardError: dataFreeNoise ? dataFreeNoise.standardError(g) : null,
      halfWidth95: dataFreeNoise ? dataFreeNoise.halfWidth(0.95, g) : null,
      epsilonCharged: epsilonSpent(addCosts(emptyState(), plan.costs), cap.delta),
      fitsBudget: withinCap(epsilonSpent(after, cap.delta), cap.epsilon),
      remainingAfter: Math.max(0, cap.epsilon - epsilonSpent(after, cap.delta)),
      note: costNote(plan),
    };
  }

  async budget(caller: Caller) {
    const policy = await effectivePolicy(this.db.prisma, this.domain, caller);
    const { principal } = await budgetState(this.db, caller.id);
    const cap = principal?.cap ?? { epsilon: policy.totalEpsilon, delta: policy.totalDelta };
    const status = budgetStatus(principal?.state ?? emptyState(), cap);
    const globals = await Promise.all(
      this.domain.datasets.map(async (ds) => {
        const { global } = await budgetState(this.db, caller.id, ds.name);
        const gcap = global?.cap ?? this.domain.policy.globalCap;
        return { dataset: ds.name, ...budgetStatus(global?.state ?? emptyState(), gcap), epsilon: gcap.epsilon };
      }),
    );
    // Releases = charges in the ledger (a mean is one release of two measurements).
    const [charged] = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${this.db.schema}"."ledger_entry" WHERE principal_id = $1`, [caller.id]);
    return { principal: caller.id, domain: this.domain.name, epsilon: cap.epsilon, ...status, releases: charged?.n ?? 0, global: globals };
  }
}


function costNote(plan: Plan): string {
  switch (plan.aggregate) {
    case 'mean':
      return 'mean spends its epsilon on two measurements (count and sum), so each is noisier than a count at the same epsilon.';
    case 'variance':
    case 'stddev':
      return `${plan.aggregate} spends its epsilon on three measurements (count, sum, sum of squares).`;
    case 'quantile':
      return 'quantile uses permute-and-flip over a fine histogram; its error is bounded in rank (rows), not in value.';
    case 'histogram':
      return plan.keySelection ? 'keys are not public: only keys whose noisy count clears the threshold are released (needs delta > 0).' : 'every public key is released, zero counts included.';
    default:
      return `${plan.aggregate} is one measurement.`;
  }
}

function describeRequest(dataset: string, req: AggregateRequest) {
  return { dataset, aggregate: req.aggregate, column: req.column ?? undefined, q: req.q ?? undefined, by: req.by ?? undefined, where: req.where ?? undefined, privacy: req.privacy ?? undefined };
}
