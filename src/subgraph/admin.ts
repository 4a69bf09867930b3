import type { DomainDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import { appendAudit } from '../governance/audit.js';
import { rawOf } from '../governance/ledger.js';
import { qualified } from '../storage/database.js';
import { requireAdmin, type SubgraphContext } from './context.js';
import { enumValue, names } from './naming.js';

/**
 * Admin queries and mutations of a sensitive domain. Every one checks the caller is an admin of
 * this domain (FORBIDDEN otherwise) and every mutation writes its audit entry in the same
 * transaction as its change.
 */
const MAX_PAGE = 500;

export function adminResolvers(domain: DomainDeclaration) {
  const n = names(domain);
  const datasetOf = new Map(domain.datasets.map((ds) => [enumValue(ds.name), ds.name]));
  return {
    Query: {
      [n.admin('AuditLog')]: admin(async (_: unknown, a: { first?: number; after?: string; actor?: string; action?: string }, ctx) => {
        const params: unknown[] = [pageSize(a.first)];
        const cond: string[] = [];
        if (a.after) cond.push(`seq < $${params.push(decodeOffset(a.after, 'after'))}::bigint`);
        if (a.actor) cond.push(`actor = $${params.push(a.actor)}`);
        if (a.action) cond.push(`action = $${params.push(a.action)}`);
        const rows = await ctx.db.query<Record<string, unknown>>(
          `SELECT seq::text AS seq, to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, action, detail::text AS detail, hash
           FROM ${qualified(ctx.db, 'audit_entry')} ${cond.length ? 'WHERE ' + cond.join(' AND ') : ''} ORDER BY audit_entry.seq DESC LIMIT $1`,
          params,
        );
        return rows;
      }),
      [n.admin('Releases')]: admin(async (_: unknown, a: { first?: number; after?: string; dataset?: string }, ctx) => {
        const params: unknown[] = [pageSize(a.first), a.after ? decodeOffset(a.after, 'after') : 0];
        const cond = a.dataset ? `WHERE dataset = $${params.push(datasetOf.get(a.dataset) ?? a.dataset)}` : '';
        return ctx.db.query(
          `SELECT id, dataset, aggregate, principal_id AS principal, status, epsilon, delta, result_hash AS "resultHash",
                  to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"
           FROM ${qualified(ctx.db, 'release')} ${cond} ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`,
          params,
        );
      }),
      [n.admin('Ledger')]: admin(async (_: unknown, a: { first?: number; after?: string; principal?: string; dataset?: string }, ctx) => {
        const params: unknown[] = [pageSize(a.first), a.after ? decodeOffset(a.after, 'after') : 0];
        const cond: string[] = [];
        if (a.principal) cond.push(`principal_id = $${params.push(a.principal)}`);
        if (a.dataset) cond.push(`dataset = $${params.push(datasetOf.get(a.dataset) ?? a.dataset)}`);
        return ctx.db.query(
          `SELECT id, principal_id AS principal, dataset, release_id AS "releaseId", aggregate, mechanism, epsilon, delta,
                  to_char(created_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "createdAt"
           FROM ${qualified(ctx.db, 'ledger_entry')} ${cond.length ? 'WHERE ' + cond.join(' AND ') : ''} ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`,
          params,
        );
      }),
      [n.admin('Policies')]: admin(async (_: unknown, __: unknown, ctx) => ctx.db.prisma.policy.findMany({ orderBy: { scope: 'asc' } })),
      [n.admin('BudgetOf')]: admin(async (_: unknown, a: { principal: string }, ctx) => ctx.engine.budget({ id: a.principal, roles: [] })),
    },
    Mutation: {
      [n.admin('SetBudget')]: admin(async (_: unknown, a: { principal: string; epsilon: number; delta: number }, ctx) => {
        checkCap(a.epsilon, a.delta);
        await inAuditedTx(ctx, 'admin.setBudget', a, async (q) => {
          await ensurePrincipal(q, ctx, a.principal);
          await q(
            `INSERT INTO ${qualified(ctx.db, 'principal_budget')} (principal_id, epsilon, delta, spent, updated_at) VALUES ($1, $2, $3, '{}'::jsonb, now())
             ON CONFLICT (principal_id) DO UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta, updated_at = now()`,
            a.principal, a.epsilon, a.delta,
          );
        });
        return ctx.engine.budget({ id: a.principal, roles: [] });
      }),
      [n.admin('GrantBudget')]: admin(async (_: unknown, a: { principal: string; epsilon: number }, ctx) => {
        if (!(a.epsilon > 0 && a.epsilon <= 1000)) throw badInput('epsilon to grant must be in (0, 1000].', { field: 'epsilon' });
        const base = (await ctx.engine.budget({ id: a.principal, roles: [] })).epsilon;
        await inAuditedTx(ctx, 'admin.grantBudget', a, async (q) => {
          await ensurePrincipal(q, ctx, a.principal);
          await q(
            `INSERT INTO ${qualified(ctx.db, 'principal_budget')} (principal_id, epsilon, delta, spent, updated_at) VALUES ($1, $2, $3, '{}'::jsonb, now())
             ON CONFLICT (principal_id) DO UPDATE SET epsilon = ${qualified(ctx.db, 'principal_budget')}.epsilon + $4, updated_at = now()`,
            a.principal, base + a.epsilon, domain.policy.defaultBudget.delta, a.epsilon,
          );
        });
        return ctx.engine.budget({ id: a.principal, roles: [] });
      }),
      [n.admin('SetGlobalCap')]: admin(async (_: unknown, a: { dataset: string; epsilon: number; delta: number }, ctx) => {
        checkCap(a.epsilon, a.delta);
        const dataset = datasetOf.get(a.dataset)!;
        await inAuditedTx(ctx, 'admin.setGlobalCap', { ...a, dataset }, async (q) => {
          await q(
            `INSERT INTO ${qualified(ctx.db, 'global_budget')} (dataset, epsilon, delta, spent, updated_at) VALUES ($1, $2, $3, '{}'::jsonb, now())
             ON CONFLICT (dataset) DO UPDATE SET epsilon = excluded.epsilon, delta = excluded.delta, updated_at = now()`,
            dataset, a.epsilon, a.delta,
          );
        });
        const status = await ctx.engine.budget(ctx.caller);
        return status.global.find((g: { dataset: string }) => g.dataset === dataset);
      }),
      [n.admin('SetPolicy')]: admin(async (_: unknown, a: { scope: string; policy: Record<string, unknown> }, ctx) => {
        if (!/^(domain|role:(analyst|admin|admin:[a-z][a-zA-Z0-9]*)|principal:.{1,200})$/.test(a.scope))
          throw badInput('scope must be "domain", "role:<role>" or "principal:<id>".', { field: 'scope' });
        const p = a.policy as { totalEpsilon?: number; totalDelta?: number; maxEpsilonPerQuery?: number; allowedAggregates?: string[]; rateLimitPerMinute?: number };
        if (p.totalEpsilon != null || p.totalDelta != null) checkCap(p.totalEpsilon ?? 1, p.totalDelta ?? 0);
        if (p.maxEpsilonPerQuery != null && !(p.maxEpsilonPerQuery > 0 && p.maxEpsilonPerQuery <= 100)) throw badInput('maxEpsilonPerQuery must be in (0, 100].', { field: 'policy.maxEpsilonPerQuery' });
        if (p.rateLimitPerMinute != null && !(p.rateLimitPerMinute >= 1)) throw badInput('rateLimitPerMinute must be >= 1.', { field: 'policy.rateLimitPerMinute' });
        const known = ['count', 'countDistinct', 'sum', 'mean', 'variance', 'stddev', 'quantile', 'histogram'];
        const bad = p.allowedAggregates?.find((x) => !known.includes(x));
        if (bad) throw badInput(`"${bad}" is not an aggregate (${known.join(', ')}).`, { field: 'policy.allowedAggregates' });
        const data = {
          totalEpsilon: p.totalEpsilon ?? null,
          totalDelta: p.totalDelta ?? null,
          maxEpsilonPerQuery: p.maxEpsilonPerQuery ?? null,
          allowedAggregates: p.allowedAggregates ?? [],
          rateLimitPerMinute: p.rateLimitPerMinute ?? null,
        };
        await inAuditedTx(ctx, 'admin.setPolicy', a, async (q) => {
          await q(
            `INSERT INTO ${qualified(ctx.db, 'policy')} (scope, total_epsilon, total_delta, max_epsilon_per_query, allowed_aggregates, rate_limit_per_minute, updated_at)
             VALUES ($1, $2, $3, $4, $5::text[], $6, now())
             ON CONFLICT (scope) DO UPDATE SET total_epsilon = $2, total_delta = $3, max_epsilon_per_query = $4, allowed_aggregates = $5::text[], rate_limit_per_minute = $6, updated_at = now()`,
            a.scope, data.totalEpsilon, data.totalDelta, data.maxEpsilonPerQuery, data.allowedAggregates, data.rateLimitPerMinute,
          );
        });
        return { scope: a.scope, ...data };
      }),
      [n.admin('Revoke')]: admin(async (_: unknown, a: { principal: string; restore?: boolean }, ctx) => {
        await inAuditedTx(ctx, a.restore ? 'admin.restore' : 'admin.revoke', a, async (q) => {
          await ensurePrincipal(q, ctx, a.principal);
          await q(`UPDATE ${qualified(ctx.db, 'principal')} SET revoked = $2 WHERE id = $1`, a.principal, !a.restore);
        });
        return true;
      }),
    },
  };
}

type Q = ReturnType<typeof rawOf>;
const admin =
  <A>(fn: (parent: unknown, args: A, ctx: SubgraphContext) => Promise<unknown>) =>
  (parent: unknown, args: A, ctx: SubgraphContext) => {
    requireAdmin(ctx);
    return fn(parent, args, ctx);
  };

async function inAuditedTx(ctx: SubgraphContext, action: string, detail: unknown, body: (q: Q) => Promise<void>) {
  await ctx.db.prisma.$transaction(async (tx) => {
    const q = rawOf(tx);
    await body(q);
    await appendAudit(q, ctx.db.schema, { actor: ctx.caller.id, action, detail });
  });
  // Policies and revocations take effect on this replica at once (others within the cache TTL).
  ctx.engine.policies.invalidate();
}

async function ensurePrincipal(q: Q, ctx: SubgraphContext, id: string) {
  if (!id || id.length > 200) throw badInput('principal must be 1 to 200 characters.', { field: 'principal' });
  await q(`INSERT INTO ${qualified(ctx.db, 'principal')} (id, roles) VALUES ($1, '{}'::text[]) ON CONFLICT (id) DO NOTHING`, id);
}

function checkCap(epsilon: number, delta: number) {
  if (!(epsilon > 0 && epsilon <= 1000)) throw badInput('epsilon must be in (0, 1000].', { field: 'epsilon' });
  if (!(delta >= 0 && delta < 1e-3)) throw badInput('delta must be in [0, 0.001).', { field: 'delta' });
}

function pageSize(first: number | undefined): number {
  const n = first ?? 50;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) throw badInput(`first must be between 1 and ${MAX_PAGE}.`, { field: 'first' });
  return n;
}

function decodeOffset(after: string, field: string): number {
  if (!/^\d{1,15}$/.test(after)) throw badInput(`${field} must be a cursor from a previous page.`, { field });
  return Number(after);
}
