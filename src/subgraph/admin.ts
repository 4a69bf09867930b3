import type { DomainDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import type { PolicyPatch } from '../governance/policy.js';
import { qualified } from '../storage/database.js';
import { requireAdmin, type SubgraphContext } from './context.js';
import { enumValue, names } from './naming.js';

/**
 * Admin queries and mutations of a sensitive domain. Every one checks the caller is an admin of
 * this domain (FORBIDDEN otherwise); every mutation is a call to the governance service
 * (src/governance/service.ts), which validates it and writes its change with its audit entry.
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
          `SELECT seq::text AS seq, to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, actor, action, detail::text AS detail, version, state::text AS state, hash
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
      [n.admin('BudgetOf')]: admin(async (_: unknown, a: { principal: string }, ctx) => ctx.engine.governance.budgetOfPrincipal(a.principal)),
    },
    Mutation: {
      [n.admin('SetBudget')]: admin(async (_: unknown, a: { principal: string; epsilon: number; delta: number }, ctx) => {
        await changed(ctx, ctx.engine.governance.setBudget(ctx.caller.id, a.principal, { epsilon: a.epsilon, delta: a.delta }));
        return ctx.engine.governance.budgetOfPrincipal(a.principal);
      }),
      [n.admin('GrantBudget')]: admin(async (_: unknown, a: { principal: string; epsilon: number }, ctx) => {
        await changed(ctx, ctx.engine.governance.grantBudget(ctx.caller.id, a.principal, a.epsilon));
        return ctx.engine.governance.budgetOfPrincipal(a.principal);
      }),
      [n.admin('SetGlobalCap')]: admin(async (_: unknown, a: { dataset: string; epsilon: number; delta: number }, ctx) => {
        const dataset = datasetOf.get(a.dataset) ?? a.dataset;
        await changed(ctx, ctx.engine.governance.setGlobalCap(ctx.caller.id, dataset, { epsilon: a.epsilon, delta: a.delta }));
        const status = await ctx.engine.governance.budgetOf(ctx.caller);
        return status.global.find((g) => g.dataset === dataset);
      }),
      [n.admin('SetPolicy')]: admin(async (_: unknown, a: { scope: string; policy: PolicyPatch }, ctx) =>
        changed(ctx, ctx.engine.governance.setPolicy(ctx.caller.id, a.scope, a.policy)),
      ),
      [n.admin('Revoke')]: admin(async (_: unknown, a: { principal: string; restore?: boolean }, ctx) => {
        await changed(ctx, ctx.engine.governance.revoke(ctx.caller.id, a.principal, a.restore ?? false));
        return true;
      }),
    },
  };
}

const admin =
  <A>(fn: (parent: unknown, args: A, ctx: SubgraphContext) => Promise<unknown>) =>
  (parent: unknown, args: A, ctx: SubgraphContext) => {
    requireAdmin(ctx);
    return fn(parent, args, ctx);
  };

/** Policies and revocations take effect on this replica at once (others within the cache TTL). */
async function changed<T>(ctx: SubgraphContext, write: Promise<T>): Promise<T> {
  const out = await write;
  ctx.engine.policies.invalidate();
  return out;
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
