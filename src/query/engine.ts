import type { Caller } from '../auth/tokens.js';
import { authoriseQuery } from '../auth/authorise.js';
import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { buildPlan, type Plan, type QuerySpec } from '../core/plan.js';
import { datasetsOf } from '../core/relation.js';
import type { ReleasedTable } from '../core/release.js';
import { computeRelease } from './execute.js';
import { emptyState, epsilonSpent, howManyMore } from '../dp/accountant.js';
import { ErrorCode, MeshError } from '../errors.js';
import { addCosts, datasetBudget, principalBudget, type BudgetEffect } from '../governance/ledger.js';
import { PolicyCache, type EffectivePolicy } from '../governance/policy.js';
import { GovernanceService } from '../governance/service.js';
import { SyntheticService } from './synthetic.js';
import type { PrivacyRequest } from './types.js';
import type { DomainDatabase } from '../storage/database.js';
import { planAggregate } from './plan.js';
import { answerOf, type Answer } from './release.js';
import type { AggregateRequest } from './types.js';
import { domainDataSource, type DataSource } from './datasource.js';
import { LruCache } from '../cache.js';
import { checkPolicy, ReleaseLifecycle, Semaphore, type RequestReleases } from './lifecycle.js';
import { config } from '../config.js';
import { checkWork, ConcurrencyLimit } from '../limits.js';

/**
 * The one path every DP answer takes (resolvers are thin adapters over it): a request compiles to
 * a plan (src/core), the plan goes through the release lifecycle (policy, charge, compute, record)
 * and its statements run on the domain's DataSource.
 */
/**
 * One DP field of a GraphQL operation, for the operation-level check. A synthetic field's `rows` is
 * the rows it generates: its page (src/query/synthetic.ts syntheticPageRows), not the sample's size.
 */
export type OperationItem =
  | { dataset: string; request: AggregateRequest }
  | { dataset: string; synthetic: PrivacyRequest | null; rows?: number }
  /** `query`: the statement as `runSpec` will be given it (identifies its plan within the request). */
  | { dataset: string; spec: QuerySpec; kind: string; query: unknown };

interface RequestScope {
  policy?: Promise<EffectivePolicy>;
  /** Plans by field (dataset and arguments, or the statement as asked). */
  plans: Map<string, Plan>;
  releases: RequestReleases;
}

export interface Release {
  answer: Answer;
  /** The caller's spent epsilon before and after the charge (absent when served from memo). */
  effect?: BudgetEffect;
  releaseId: string;
  cached: boolean;
  epsilon: number;
  delta: number;
  mechanism: string;
}
export interface TableRelease {
  table: ReleasedTable;
  effect?: BudgetEffect;
  plan: Plan;
  releaseId: string;
  cached: boolean;
}

export class QueryEngine {
  // Each release holds a connection for its charge, its query and its completion: bounding how many
  // run at once keeps an operation with many DP fields from starving the connection pool.
  private readonly releases = new Semaphore(config().CDM_CONCURRENT_RELEASES);
  /** Operations computing new releases, per principal (the policy's maxConcurrentOperations). */
  private readonly operations = new ConcurrencyLimit();
  /** Plans of typed fields by data version and arguments (see `prepare`). */
  private readonly plans = new LruCache<Plan>(2_000);
  readonly synthetic: SyntheticService;
  readonly policies: PolicyCache;
  readonly lifecycle: ReleaseLifecycle;
  readonly governance: GovernanceService;
  readonly data: DataSource;
  constructor(
    readonly domain: DomainDeclaration,
    readonly db: DomainDatabase,
    data?: DataSource,
  ) {
    this.data = data ?? domainDataSource(db);
    this.policies = new PolicyCache(db.prisma, domain);
    this.lifecycle = new ReleaseLifecycle(domain, db);
    this.governance = new GovernanceService(domain, db, this.data);
    this.synthetic = new SyntheticService(domain, db, (caller) => this.policyFor(caller), this.lifecycle, this.data);
  }

  dataset(name: string): DatasetDeclaration {
    const ds = this.domain.datasets.find((d) => d.name === name);
    if (!ds) throw new MeshError(ErrorCode.NOT_FOUND, `No dataset "${name}" in ${this.domain.name}.`);
    return ds;
  }

  /**
   * What one request has learnt, shared by its operation-level check (`preflight`) and its
   * resolvers, so that each field is planned once and each read is done once per request: the
   * caller's policy (after the revocation check), the plans by field, and what the check found
   * about their releases. Keyed by the request's own Caller object: the subgraph's context gives
   * every request a new one (src/subgraph/server.ts), and it is collected with the request.
   */
  private readonly scopes = new WeakMap<Caller, RequestScope>();
  private scope(caller: Caller): RequestScope {
    let s = this.scopes.get(caller);
    if (!s) this.scopes.set(caller, (s = { plans: new Map(), releases: { done: new Map(), unreleased: new Set() } }));
    return s;
  }

  /**
   * The caller's effective policy, after authorisation and the revocation check, once per request.
   * Policies and revocations come from an in-process snapshot (PolicyCache): this replica's admin
   * mutations invalidate it at once, other replicas' within CDM_POLICY_TTL_MS. Memo hits go through
   * here too: a revoked caller or one the policy no longer allows gets no memoised answer either.
   */
  policyFor(caller: Caller): Promise<EffectivePolicy> {
    authoriseQuery(caller, this.domain);
    const s = this.scope(caller);
    s.policy ??= this.policies.forCaller(caller);
    return s.policy;
  }

  /**
   * Plans and checks policy without reading data or spending budget. A typed field is planned once
   * per request (the preflight's plan serves the resolver), and once per process for the same
   * arguments on the same data: planning is pure (declaration, arguments, data version), so
   * repeated questions (the memoised ones) skip it.
   */
  async prepare(caller: Caller, datasetName: string, req: AggregateRequest): Promise<{ plan: Plan; policy: EffectivePolicy }> {
    const plans = this.scope(caller).plans;
    const key = JSON.stringify([datasetName, req]);
    let plan = plans.get(key);
    if (!plan) {
      const ds = this.dataset(datasetName);
      await this.data.prepare([ds]);
      const version = this.data.version(ds);
      const known = this.plans.get(`${version}\0${key}`);
      plan = known ?? planAggregate(this.domain, ds, req, { [ds.name]: version });
      if (!known) this.plans.set(`${version}\0${key}`, plan);
      plans.set(key, plan);
    }
    const policy = await this.policyFor(caller);
    checkPolicy(this.domain, policy, req.aggregate, plan.epsilon);
    return { plan, policy };
  }

  /** A typed DP field: one aggregate (or a histogram) as one release. */
  async run(caller: Caller, datasetName: string, req: AggregateRequest): Promise<Release> {
    const { plan } = await this.prepare(caller, datasetName, req);
    const r = await this.execute(caller, plan, req.aggregate, describeRequest(datasetName, req));
    return { answer: answerOf(r.table), releaseId: r.releaseId, cached: r.cached, epsilon: plan.epsilon, delta: plan.delta, mechanism: plan.mechanism, effect: r.effect };
  }

  /** Any plan-IR query (DP SQL, the wire protocol): one release of a table of DP values. */
  async runSpec(caller: Caller, spec: QuerySpec, kind: string, query: unknown): Promise<TableRelease> {
    return this.execute(caller, await this.planSpecOnce(caller, spec, kind, query), kind, query);
  }

  /** Plans a spec against the current data (its datasets' versions enter the memo key). */
  async planSpec(spec: QuerySpec): Promise<Plan> {
    const datasets = datasetsOf(spec.relation);
    await this.data.prepare(datasets);
    return buildPlan({ ...spec, dataVersions: Object.fromEntries(datasets.map((d) => [d.name, this.data.version(d)])) });
  }

  /** A spec's plan, once per request: `query` (the statement as asked) identifies it. */
  private async planSpecOnce(caller: Caller, spec: QuerySpec, kind: string, query: unknown): Promise<Plan> {
    const plans = this.scope(caller).plans;
    const key = JSON.stringify([kind, query]);
    let plan = plans.get(key);
    if (!plan) plans.set(key, (plan = await this.planSpec(spec)));
    return plan;
  }

  private async execute(caller: Caller, plan: Plan, kind: string, query: unknown): Promise<TableRelease> {
    const policy = await this.policyFor(caller);
    const releases = this.scope(caller).releases;
    const release = async () => {
      const r = await this.lifecycle.release(
        {
          caller,
          kind,
          dataset: plan.dataset.name,
          key: plan.key,
          costs: plan.costs,
          epsilon: plan.epsilon,
          delta: plan.delta,
          mechanism: plan.mechanism,
          query,
          compute: () => computeRelease(this.data, plan),
        },
        policy,
        releases,
      );
      return { table: r.result as ReleasedTable, plan, releaseId: r.releaseId, cached: r.cached, effect: r.effect };
    };
    // A memo hit holds no connection: it does not queue behind releases being computed.
    return this.lifecycle.known(plan.key, releases) ? release() : this.releases.use(release);
  }

  /**
   * Operation-level check, before anything runs: plans every DP field of the operation (a planning
   * error refuses the whole operation), skips plans already released (free) and repeated plans,
   * and refuses the operation when the rest does not fit the principal's cap or a global cap.
   * The plans are kept for the resolvers; releases found in memory cost no database read, the
   * others one read, done alongside the budget reads.
   */
  async preflight(caller: Caller, items: OperationItem[]): Promise<(() => void) | undefined> {
    // Work first (src/limits.ts): synthetic pages and public buckets, every field and alias together.
    const work = { syntheticRows: 0, buckets: 0 };
    const plans = new Map<string, { dataset: string; costs: Plan['costs'] }>();
    let policy: EffectivePolicy | undefined;
    for (const item of items) {
      if ('synthetic' in item) {
        const p = await this.synthetic.plan(caller, this.dataset(item.dataset), item.synthetic);
        policy = p.policy;
        work.syntheticRows += Math.max(0, item.rows ?? 0);
        plans.set(p.key, { dataset: item.dataset, costs: p.costs });
        continue;
      }
      if ('spec' in item) {
        const plan = await this.planSpecOnce(caller, item.spec, item.kind, item.query);
        policy = await this.policyFor(caller);
        checkPolicy(this.domain, policy, item.kind, plan.epsilon);
        work.buckets += bucketsOf(plan);
        plans.set(plan.key, { dataset: plan.dataset.name, costs: plan.costs });
        continue;
      }
      const prepared = await this.prepare(caller, item.dataset, item.request);
      policy = prepared.policy;
      work.buckets += bucketsOf(prepared.plan);
      plans.set(prepared.plan.key, { dataset: prepared.plan.dataset.name, costs: prepared.plan.costs });
    }
    if (!policy || plans.size === 0) return;
    // Work limits hold for memoised fields too: they count rows generated and exported, not budget.
    checkWork(policy, work);
    const releases = this.scope(caller).releases;
    for (const key of plans.keys()) if (this.lifecycle.known(key, releases)) plans.delete(key);
    if (plans.size === 0) return;
    // New releases will be computed: the operation holds one of the principal's slots until it
    // ends (the caller calls what this returns); a refusal below frees it at once.
    const endOperation = this.operations.take(caller.id, policy.maxConcurrentOperations, 'operations computing new DP releases', 'maxConcurrentOperations');
    try {
      await this.checkBudgets(caller, policy, plans, releases);
    } catch (e) {
      endOperation();
      throw e;
    }
    return endOperation;
  }

  /** The operation's new releases against the principal's cap and each dataset's global cap. */
  private async checkBudgets(caller: Caller, policy: EffectivePolicy, plans: Map<string, { dataset: string; costs: Plan['costs'] }>, releases: RequestReleases): Promise<void> {
    // One new release: its own charge checks both caps (and finds it if it was released since)
    // under the audit head, before any data is read, so an operation-level read would only repeat
    // that check. The lifecycle skips its memo read for it too: the charge's snapshot is the read.
    if (plans.size === 1) {
      releases.unreleased.add(plans.keys().next().value!);
      return;
    }
    const cap = { epsilon: policy.totalEpsilon, delta: policy.totalDelta };
    const datasets = [...new Set([...plans.values()].map((p) => p.dataset))];
    // Not found in memory: most likely new, so the budget reads go out with the release read.
    const [done, mine, globals] = await Promise.all([
      this.db.query<{ plan_key: string; id: string; result: unknown }>(
        `SELECT plan_key, id, result FROM "${this.db.schema}"."release" WHERE plan_key = ANY($1::text[]) AND status = 'done'`,
        [[...plans.keys()]],
      ),
      principalBudget(this.db, caller.id, cap),
      Promise.all(datasets.map((ds) => datasetBudget(this.db, ds, this.domain.policy.globalCap))),
    ]);
    for (const r of done) {
      plans.delete(r.plan_key);
      releases.done.set(r.plan_key, { id: r.id, result: r.result });
      this.lifecycle.remember(r.plan_key, { id: r.id, result: r.result });
    }
    for (const key of plans.keys()) releases.unreleased.add(key);
    const pending = [...plans.values()];
    if (pending.length === 0) return;
    const costs = pending.flatMap((p) => p.costs);
    const alone = () => epsilonSpent(addCosts(emptyState(), costs), policy.totalDelta);
    if (!mine.fits(costs)) {
      throw new MeshError(
        ErrorCode.BUDGET_EXHAUSTED,
        `This operation's ${pending.length} DP release(s) would cost epsilon ${alone().toPrecision(4)} together, and ${mine.remaining.toPrecision(4)} of your ${mine.cap.epsilon} is left. Nothing was run or charged.`,
        { operationCost: alone(), releases: pending.length, cap: mine.cap.epsilon, spent: mine.spent, remaining: mine.remaining },
      );
    }
    datasets.forEach((ds, i) => {
      const global = globals[i]!;
      if (!global.fits(pending.filter((p) => p.dataset === ds).flatMap((p) => p.costs))) {
        throw new MeshError(ErrorCode.BUDGET_EXHAUSTED, `This operation does not fit the global cap of ${ds}. Nothing was run or charged.`, {
          operationCost: alone(),
          cap: global.cap.epsilon,
          spent: global.spent,
          remaining: global.remaining,
        });
      }
    });
  }

  /** Cost preview: what a query would spend and its expected error, without running it. */
  async estimate(caller: Caller, datasetName: string, req: AggregateRequest) {
    const { plan, policy } = await this.prepare(caller, datasetName, req);
    return this.preview(caller, plan, policy);
  }

  /** What a plan would spend and its expected error (public: it depends on the plan only). */
  async preview(caller: Caller, plan: Plan, policy?: EffectivePolicy) {
    policy ??= await this.policyFor(caller);
    const mine = await principalBudget(this.db, caller.id, { epsilon: policy.totalEpsilon, delta: policy.totalDelta });
    const cap = mine.cap;
    const only = plan.outputs.length === 1 ? plan.outputs[0]! : undefined;
    const s = only && DATA_FREE_NOISE.includes(only.aggregate) ? plan.statistics.find((x) => x.id === (only.uses.count ?? only.uses.units ?? only.uses.sum)) : undefined;
    // Error bars are public before running only where the noise alone is the error (no ratio of noisy values).
    const g = s?.kind === 'sum' ? (s.grid?.g ?? 1) : 1;
    return {
      epsilon: plan.epsilon,
      delta: plan.delta,
      mechanism: plan.mechanism,
      measurements: plan.statistics.length + plan.quantiles.length,
      standardError: s ? s.mechanism.standardError(g) : null,
      halfWidth95: s ? s.mechanism.halfWidth(0.95, g) : null,
      epsilonCharged: epsilonSpent(addCosts(emptyState(), plan.costs), cap.delta),
      fitsBudget: mine.fits(plan.costs),
      remainingAfter: Math.max(0, cap.epsilon - mine.after(plan.costs)),
      budgetBefore: mine.spent,
      budgetAfter: mine.after(plan.costs),
      // In the current epoch of the caller's budget (src/governance/budget.ts): the cap less what
      // closed epochs spent, at the epoch's delta.
      moreOfThese: cappedCount(howManyMore(mine.row.spent, plan.costs, { epsilon: cap.epsilon - mine.row.priorEpsilon, delta: mine.row.epochDelta ?? cap.delta })),
      note: costNote(plan),
      plan: explainPlan(plan),
    };
  }

  budget(caller: Caller) {
    return this.governance.budgetOf(caller);
  }

}


const DATA_FREE_NOISE = ['count', 'countDistinct', 'sum'];

/** Rows a plan releases, known before it runs: its public buckets (selected keys: not known, counted 1). */
const bucketsOf = (plan: Plan) => (plan.keys === 'public' ? plan.groupBy.reduce((n, c) => n * (c.categories?.length ?? 1), 1) : 1);

/** GraphQL Int: "as many as you like" (free, or beyond a billion) is reported as 1e9. */
const cappedCount = (n: number) => (Number.isFinite(n) ? Math.min(n, 1e9) : 1e9);

function costNote(plan: Plan): string {
  const parts = plan.statistics.length + plan.quantiles.length;
  if (plan.keySelection) return 'keys are not public: only keys whose noisy count clears the threshold are released (needs delta > 0).';
  const notes = [parts > 1 ? `the epsilon is split over ${parts} measurements (${[...plan.statistics.map((s) => s.kind + (s.column ? `(${s.column.name})` : '')), ...plan.quantiles.map((q) => `quantile(${q.column.name})`)].join(', ')}), so each is noisier than one measurement at the same epsilon.` : 'one measurement.'];
  if (plan.quantiles.length) notes.push('quantiles use permute-and-flip over a fine histogram; their error is bounded in rank (rows), not in value.');
  if (plan.keys === 'public') notes.push('every public key is released, zero counts included.');
  return notes.join(' ');
}

/** The plan as a caller may see it: every number public, each traceable to the planner. */
export function explainPlan(plan: Plan) {
  return {
    datasets: plan.datasets,
    contribution: { rowsPerUnit: plan.contribution.rows, groupsPerUnit: plan.contribution.groups?.maxGroups ?? null, rowsPerGroup: plan.contribution.groups?.perGroup ?? null },
    groupBy: plan.groupBy.map((c) => c.name),
    keys: plan.keys,
    measurements: [
      ...plan.statistics.map((s) => ({
        name: s.id,
        statistic: s.kind,
        column: s.column?.name ?? null,
        l1Sensitivity: s.sensitivity.l1,
        l2Sensitivity: s.sensitivity.l2,
        mechanism: s.mechanism.kind,
        scale: s.mechanism.scale,
        standardError: s.mechanism.standardError(s.kind === 'sum' ? (s.grid?.g ?? 1) : 1),
      })),
      ...plan.quantiles.map((q) => ({ name: q.id, statistic: `quantile(${q.Q / 10000})`, column: q.column.name, l1Sensitivity: q.sensitivity, l2Sensitivity: q.sensitivity, mechanism: 'permute-and-flip', scale: q.epsilon, standardError: null })),
    ],
    costs: plan.costs,
  };
}

function describeRequest(dataset: string, req: AggregateRequest) {
  return { dataset, aggregate: req.aggregate, column: req.column ?? undefined, q: req.q ?? undefined, by: req.by ?? undefined, where: req.where ?? undefined, privacy: req.privacy ?? undefined };
}
