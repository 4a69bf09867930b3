import type { Caller } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import type { Cap } from '../dp/cost.js';
import { ErrorCode, MeshError } from '../errors.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import { config } from '../config.js';

/**
 * Policies per domain, per role and per principal (SPEC section 4, governance). The declaration gives
 * the defaults; admins override them per scope ("domain", "role:<role>", "principal:<id>"); the most
 * specific scope that sets a field wins.
 */
export interface EffectivePolicy {
  totalEpsilon: number;
  totalDelta: number;
  maxEpsilonPerQuery: number;
  allowedAggregates: string[] | null;
  rateLimitPerMinute: number | null;
  /**
   * Work limit of one operation, before anything runs: the rows it may produce (synthetic rows
   * generated, rows exported, public buckets released). Default CDM_MAX_SYNTHETIC_ROWS_PER_OPERATION.
   */
  maxRowsPerOperation: number;
  /** CSV exports one principal may stream at once (per subgraph). Default CDM_MAX_CONCURRENT_EXPORTS. */
  maxConcurrentExports: number;
  /**
   * Operations computing new DP releases that one principal may run at once (per subgraph; memoised
   * answers take no slot). Default CDM_MAX_CONCURRENT_OPERATIONS.
   */
  maxConcurrentOperations: number;
}

export interface PolicyPatch {
  totalEpsilon?: number | null;
  totalDelta?: number | null;
  maxEpsilonPerQuery?: number | null;
  allowedAggregates?: string[] | null;
  rateLimitPerMinute?: number | null;
  maxRowsPerOperation?: number | null;
  maxConcurrentExports?: number | null;
  maxConcurrentOperations?: number | null;
}

export const scopesFor = (caller: Caller) => ['domain', ...caller.roles.map((r) => `role:${r}`), `principal:${caller.id}`];

/**
 * What `allowedAggregates` may name: every kind of release a domain answers, so an allow-list can
 * open (or close) synthetic data, DP SQL and model training like any aggregate.
 */
export const RELEASE_KINDS = ['count', 'countDistinct', 'sum', 'mean', 'variance', 'stddev', 'quantile', 'histogram', 'synthetic', 'sql', 'train'] as const;

interface PolicyRow {
  scope: string;
  totalEpsilon: number | null;
  totalDelta: number | null;
  maxEpsilonPerQuery: number | null;
  allowedAggregates: string[];
  rateLimitPerMinute: number | null;
  maxRowsPerOperation: number | null;
  maxConcurrentExports: number | null;
  maxConcurrentOperations: number | null;
}

/** The declaration's defaults overridden by the caller's scopes, least to most specific (pure). */
export function resolvePolicy(domain: DomainDeclaration, caller: Caller, rows: readonly PolicyRow[]): EffectivePolicy {
  const mine = leastToMostSpecific(caller, rows);
  const p: EffectivePolicy = {
    totalEpsilon: domain.policy.defaultBudget.epsilon,
    totalDelta: domain.policy.defaultBudget.delta,
    maxEpsilonPerQuery: domain.policy.maxEpsilonPerQuery,
    allowedAggregates: domain.policy.allowedAggregates ?? null,
    rateLimitPerMinute: domain.policy.rateLimitPerMinute ?? null,
    maxRowsPerOperation: config().CDM_MAX_SYNTHETIC_ROWS_PER_OPERATION,
    maxConcurrentExports: config().CDM_MAX_CONCURRENT_EXPORTS,
    maxConcurrentOperations: config().CDM_MAX_CONCURRENT_OPERATIONS,
  };
  for (const r of mine) {
    if (r.totalEpsilon != null) p.totalEpsilon = r.totalEpsilon;
    if (r.totalDelta != null) p.totalDelta = r.totalDelta;
    if (r.maxEpsilonPerQuery != null) p.maxEpsilonPerQuery = r.maxEpsilonPerQuery;
    if (r.allowedAggregates.length > 0) p.allowedAggregates = r.allowedAggregates;
    if (r.rateLimitPerMinute != null) p.rateLimitPerMinute = r.rateLimitPerMinute;
    if (r.maxRowsPerOperation != null) p.maxRowsPerOperation = r.maxRowsPerOperation;
    if (r.maxConcurrentExports != null) p.maxConcurrentExports = r.maxConcurrentExports;
    if (r.maxConcurrentOperations != null) p.maxConcurrentOperations = r.maxConcurrentOperations;
  }
  return p;
}

function leastToMostSpecific<R extends { scope: string }>(caller: Caller, rows: readonly R[]): R[] {
  const scopes = scopesFor(caller);
  return rows.filter((r) => scopes.includes(r.scope)).sort((a, b) => scopes.indexOf(a.scope) - scopes.indexOf(b.scope));
}

/**
 * A principal's cap from the policy rows as they are now (read inside the charge's transaction):
 * the most specific scope that sets each field, else `fallback` (the declaration's default).
 */
export function capFromRows(caller: Caller, rows: readonly Pick<PolicyRow, 'scope' | 'totalEpsilon' | 'totalDelta'>[], fallback: Cap): Cap {
  const cap = { ...fallback };
  for (const r of leastToMostSpecific(caller, rows)) {
    if (r.totalEpsilon != null) cap.epsilon = r.totalEpsilon;
    if (r.totalDelta != null) cap.delta = r.totalDelta;
  }
  return cap;
}

export async function effectivePolicy(prisma: PrismaClient, domain: DomainDeclaration, caller: Caller): Promise<EffectivePolicy> {
  return resolvePolicy(domain, caller, await prisma.policy.findMany({ where: { scope: { in: scopesFor(caller) } } }));
}

/**
 * The domain's policies and revoked principals, read as one snapshot at most every `ttlMs` (both
 * tables are tiny) instead of twice per request. This replica's own admin mutations invalidate it
 * at once; other replicas see a change within `ttlMs` (CDM_POLICY_TTL_MS, default 1000). Charges
 * always re-check revocation on the state they commit on (./committer.ts), so no new budget is
 * ever spent by a revoked principal; at most memoised answers are served during that window.
 */
export class PolicyCache {
  private snapshot?: { at: number; load: Promise<{ rows: PolicyRow[]; revoked: Set<string> }> };
  constructor(
    private readonly prisma: PrismaClient,
    private readonly domain: DomainDeclaration,
    private readonly ttlMs = config().CDM_POLICY_TTL_MS,
  ) {}

  async forCaller(caller: Caller): Promise<EffectivePolicy> {
    const { rows, revoked } = await this.current();
    if (revoked.has(caller.id)) throw new MeshError(ErrorCode.FORBIDDEN, 'Your access to this domain has been revoked.');
    return resolvePolicy(this.domain, caller, rows);
  }

  invalidate(): void {
    this.snapshot = undefined;
  }

  private current() {
    const now = Date.now();
    if (!this.snapshot || now - this.snapshot.at > this.ttlMs) {
      const load = Promise.all([
        this.prisma.policy.findMany(),
        this.prisma.principal.findMany({ where: { revoked: true }, select: { id: true } }),
      ]).then(([rows, revoked]) => ({ rows, revoked: new Set(revoked.map((r) => r.id)) }));
      this.snapshot = { at: now, load };
      load.catch(() => (this.snapshot = undefined));
    }
    return this.snapshot.load;
  }
}

/** Per-process sliding window; with several replicas each enforces its own share of the limit. */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  allow(key: string, perMinute: number, now = Date.now()): boolean {
    const recent = (this.hits.get(key) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= perMinute) {
      this.hits.set(key, recent);
      return false;
    }
    recent.push(now);
    this.hits.set(key, recent);
    return true;
  }
}

