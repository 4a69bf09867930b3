import type { Caller } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { ErrorCode, MeshError } from '../errors.js';
import type { PrismaClient } from '../generated/prisma/client.js';

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
}

export interface PolicyPatch {
  totalEpsilon?: number | null;
  totalDelta?: number | null;
  maxEpsilonPerQuery?: number | null;
  allowedAggregates?: string[] | null;
  rateLimitPerMinute?: number | null;
}

export const scopesFor = (caller: Caller) => ['domain', ...caller.roles.map((r) => `role:${r}`), `principal:${caller.id}`];

export async function effectivePolicy(prisma: PrismaClient, domain: DomainDeclaration, caller: Caller): Promise<EffectivePolicy> {
  const scopes = scopesFor(caller);
  const rows = await prisma.policy.findMany({ where: { scope: { in: scopes } } });
  rows.sort((a, b) => scopes.indexOf(a.scope) - scopes.indexOf(b.scope));
  const p: EffectivePolicy = {
    totalEpsilon: domain.policy.defaultBudget.epsilon,
    totalDelta: domain.policy.defaultBudget.delta,
    maxEpsilonPerQuery: domain.policy.maxEpsilonPerQuery,
    allowedAggregates: domain.policy.allowedAggregates ?? null,
    rateLimitPerMinute: domain.policy.rateLimitPerMinute ?? null,
  };
  for (const r of rows) {
    if (r.totalEpsilon != null) p.totalEpsilon = r.totalEpsilon;
    if (r.totalDelta != null) p.totalDelta = r.totalDelta;
    if (r.maxEpsilonPerQuery != null) p.maxEpsilonPerQuery = r.maxEpsilonPerQuery;
    if (r.allowedAggregates.length > 0) p.allowedAggregates = r.allowedAggregates;
    if (r.rateLimitPerMinute != null) p.rateLimitPerMinute = r.rateLimitPerMinute;
  }
  return p;
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

/** Revoked means no answer at all from the domain, not even a free memoised one. */
export async function assertNotRevoked(prisma: PrismaClient, caller: Caller): Promise<void> {
  const p = await prisma.principal.findUnique({ where: { id: caller.id }, select: { revoked: true } });
  if (p?.revoked) throw new MeshError(ErrorCode.FORBIDDEN, 'Your access to this domain has been revoked.');
}
