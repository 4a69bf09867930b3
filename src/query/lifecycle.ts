import type { Caller } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import type { PrivacyCost } from '../dp/cost.js';
import { ErrorCode, MeshError } from '../errors.js';
import { chargeOrReuse, completeRelease, failRelease, waitForRelease, type BudgetEffect } from '../governance/ledger.js';
import { RateLimiter, type EffectivePolicy } from '../governance/policy.js';
import type { DomainDatabase } from '../storage/database.js';
import { observeMemoHit, observeRelease } from '../observability/metrics.js';
import { LruCache } from '../cache.js';
import { config } from '../config.js';

/**
 * The one release lifecycle (aggregates, DP SQL, synthetic fits, model training):
 *   memo? -> per-request policy check -> charge (ONE transaction: both caps under lock, ledger,
 *   pending release, audit) -> compute -> store the artifact -> complete, or fail (the charge
 *   stays: the budget was committed before any data was read).
 * A request is one release whatever it measures inside (several aggregates of one SQL statement
 * are one plan), so policy limits apply per request.
 */
export interface Releasable<T> {
  caller: Caller;
  /** What the policy's allow-list names: an aggregate, 'sql', 'synthetic', 'train'. */
  kind: string;
  dataset: string;
  key: string;
  costs: PrivacyCost[];
  epsilon: number;
  delta: number;
  mechanism: string;
  /** The request as asked, for the ledger and the audit log. */
  query: unknown;
  /** Runs the release once the charge is committed; its value is stored and memoised. */
  compute(releaseId: string): Promise<T>;
}
export interface Released<T> {
  result: T;
  releaseId: string;
  cached: boolean;
  /** The caller's spent epsilon before and after this release's charge (absent when nothing was charged). */
  effect?: BudgetEffect;
}
export type Memo = { id: string; result: unknown };

/**
 * What one request learnt about releases, shared by its operation-level check and its resolvers:
 * the releases it found done (served from here), and the plan keys it found not released a moment
 * ago (the lifecycle does not read them again: the charge re-checks the release row under lock, so a
 * release another replica completed in between is still reused, never charged twice).
 */
export interface RequestReleases {
  done: Map<string, Memo>;
  unreleased: Set<string>;
}

/**
 * Done releases in process, bounded in entries and in the size of their results
 * (CDM_MEMO_CACHE_MB). A done release never changes (its plan key includes the data version, and
 * only pending releases are ever failed or deleted), so an entry needs no invalidation: who may
 * read it is decided per request before the cache is consulted (authorisation, revocation and the
 * policy's limits, src/query/engine.ts).
 */
export class MemoCache extends LruCache<Memo> {
  constructor(maxBytes = config().CDM_MEMO_CACHE_MB * 2 ** 20, maxEntries = 10_000) {
    // JSON length (UTF-16 code units, two bytes each) approximates what a result holds.
    super(maxEntries, maxBytes, (key, memo) => 2 * (JSON.stringify(memo.result)?.length ?? 0) + 2 * key.length + 200);
  }
}

/** At most `n` holders at once; the rest queue in arrival order. */
export class Semaphore {
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

/** The policy rules a request must satisfy before it may be charged (also used by previews). */
export function checkPolicy(domain: DomainDeclaration, policy: EffectivePolicy, kind: string, epsilon: number): void {
  if (policy.allowedAggregates && !policy.allowedAggregates.includes(kind))
    throw new MeshError(ErrorCode.POLICY_VIOLATION, `The policy of ${domain.name} does not allow ${kind} for you.`);
  if (epsilon > policy.maxEpsilonPerQuery)
    throw new MeshError(ErrorCode.POLICY_VIOLATION, `epsilon ${epsilon} exceeds the per-query maximum ${policy.maxEpsilonPerQuery} of ${domain.name}.`, {
      maxEpsilonPerQuery: policy.maxEpsilonPerQuery,
    });
}

export class ReleaseLifecycle {
  private readonly limiter = new RateLimiter();
  /** Done releases never change: a bounded in-process copy answers repeats without a database read. */
  private readonly memoCache = new MemoCache();
  constructor(
    private readonly domain: DomainDeclaration,
    private readonly db: DomainDatabase,
  ) {}

  /** A done release known without reading the database (this request's, or this process's cache). */
  known(key: string, request?: RequestReleases): Memo | undefined {
    const hit = request?.done.get(key) ?? this.memoCache.get(key);
    if (hit) request?.done.set(key, hit);
    return hit;
  }

  async memoised(key: string, request?: RequestReleases): Promise<Memo | undefined> {
    const hit = this.known(key, request);
    if (hit || request?.unreleased.has(key)) return hit;
    const [row] = await this.db.query<Memo>(`SELECT id, result FROM "${this.db.schema}"."release" WHERE plan_key = $1 AND status = 'done'`, [key]);
    if (row) this.remember(key, row);
    return row;
  }

  remember(key: string, release: Memo) {
    this.memoCache.set(key, release);
  }

  async release<T>(r: Releasable<T>, policy: EffectivePolicy, request?: RequestReleases, waitMs = 30_000): Promise<Released<T>> {
    checkPolicy(this.domain, policy, r.kind, r.epsilon);
    // Memoised releases are free: served from memory (or one indexed read), without a transaction or the rate limit.
    const memo = await this.memoised(r.key, request);
    if (memo) {
      observeMemoHit(this.domain.name, r.dataset);
      return { result: memo.result as T, releaseId: memo.id, cached: true };
    }
    if (policy.rateLimitPerMinute && !this.limiter.allow(r.caller.id, policy.rateLimitPerMinute))
      throw new MeshError(ErrorCode.RATE_LIMITED, `More than ${policy.rateLimitPerMinute} DP queries a minute; slow down.`);
    const outcome = await chargeOrReuse(this.db, {
      caller: r.caller,
      dataset: r.dataset,
      aggregate: r.kind,
      planKey: r.key,
      costs: r.costs,
      epsilon: r.epsilon,
      delta: r.delta,
      mechanism: r.mechanism,
      query: r.query,
      principalCap: { epsilon: policy.totalEpsilon, delta: policy.totalDelta },
      globalCap: this.domain.policy.globalCap,
    });
    if (outcome.kind === 'cached') return { result: outcome.release.result as T, releaseId: outcome.release.id, cached: true };
    if (outcome.kind === 'pending') {
      const done = await waitForRelease(this.db, outcome.releaseId, waitMs);
      if (!done) throw new MeshError(ErrorCode.INTERNAL_SERVER_ERROR, 'The same request is being answered and did not finish; retry.');
      return { result: done.result as T, releaseId: done.id, cached: true };
    }
    let result: T;
    try {
      result = await r.compute(outcome.releaseId);
    } catch (e) {
      await failRelease(this.db, outcome.releaseId, r.caller.id);
      throw e;
    }
    await completeRelease(this.db, outcome.releaseId, r.caller.id, result);
    observeRelease(this.domain.name, r.dataset, r.epsilon);
    this.remember(r.key, { id: outcome.releaseId, result });
    return { result, releaseId: outcome.releaseId, cached: false, effect: outcome.effect };
  }
}
