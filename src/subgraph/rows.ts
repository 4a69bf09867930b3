import DataLoader from 'dataloader';
import { authoriseQuery } from '../auth/authorise.js';
import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import { whereCondition } from '../core/dialect/postgres.js';
import { checkPredicate } from '../core/predicate.js';
import { datasetColumns } from '../core/stability.js';
import { whereToPredicate } from '../query/plan.js';
import type { WhereInput } from '../query/types.js';
import { qualified, quoteIdent } from '../storage/database.js';
import type { SubgraphContext } from './context.js';
import { names } from './naming.js';

/**
 * Row access for OPEN datasets only (a sensitive dataset never gets these resolvers): keyset
 * pagination on the declared key (a Relay connection), and batched entity resolution by key.
 */
const MAX_PAGE = 500;

export function openRowsResolvers(domain: DomainDeclaration, ds: DatasetDeclaration) {
  if (domain.sensitivity !== 'open') throw new Error(`refusing row access on sensitive dataset ${ds.name}`);
  const t = names(domain).dataset(ds);
  const key = ds.columns.find((c) => c.name === ds.key) ?? ds.columns[0]!;
  const select = ds.columns.map((c) => `${quoteIdent(c.sql)} AS ${quoteIdent(c.name)}`).join(', ');
  // Open rows are public: every column may filter, checked and compiled like any DP filter.
  const columns = datasetColumns(ds, true);
  return {
    [t.type]: {
      rows: async (_: unknown, args: { first?: number; after?: string; where?: WhereInput }, ctx: SubgraphContext) => {
        authoriseQuery(ctx.caller, domain);
        const first = args.first ?? 20;
        if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw badInput(`first must be between 1 and ${MAX_PAGE}.`, { field: 'first' });
        const filter = whereCondition(checkPredicate(whereToPredicate(args.where), columns), columns);
        const params = filter.params;
        const where = filter.sql;
        const total = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified(ctx.db, ds.table)} WHERE ${where}`, [...params]);
        let cond = where;
        if (args.after != null) {
          params.push(decodeCursor(args.after));
          cond += ` AND ${quoteIdent(key.sql)}::text > $${params.length}`;
        }
        params.push(first + 1);
        const rows = await ctx.db.query<Record<string, unknown>>(
          `SELECT ${select} FROM ${qualified(ctx.db, ds.table)} WHERE ${cond} ORDER BY ${quoteIdent(key.sql)}::text LIMIT $${params.length}`,
          params,
        );
        const page = rows.slice(0, first);
        const edges = page.map((node) => ({ cursor: encodeCursor(String(node[key.name])), node }));
        return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null }, totalCount: total[0]?.n ?? 0 };
      },
      ...(ds.key ? { byKey: (_: unknown, args: Record<string, string>, ctx: SubgraphContext) => loaderFor(ctx, domain, ds).load(String(args[ds.key!])) } : {}),
    },
    ...(ds.key
      ? {
          [t.row]: {
            __resolveReference: (ref: Record<string, unknown>, ctx: SubgraphContext) => loaderFor(ctx, domain, ds).load(String(ref[ds.key!])),
          },
        }
      : {}),
  };
}

/** One query per request for all the keys asked (dataloader batches _entities and byKey). */
function loaderFor(ctx: SubgraphContext, domain: DomainDeclaration, ds: DatasetDeclaration) {
  authoriseQuery(ctx.caller, domain);
  let loader = ctx.loaders.get(ds.name);
  if (!loader) {
    const key = ds.columns.find((c) => c.name === ds.key)!;
    const select = ds.columns.map((c) => `${quoteIdent(c.sql)} AS ${quoteIdent(c.name)}`).join(', ');
    loader = new DataLoader<string, Record<string, unknown> | null>(async (keys) => {
      const rows = await ctx.db.query<Record<string, unknown>>(
        `SELECT ${select} FROM ${qualified(ctx.db, ds.table)} WHERE ${quoteIdent(key.sql)}::text = ANY($1::text[])`,
        [[...keys]],
      );
      const byKey = new Map(rows.map((r) => [String(r[key.name]), r]));
      return keys.map((k) => byKey.get(k) ?? null);
    }, { maxBatchSize: 500 });
    ctx.loaders.set(ds.name, loader);
  }
  return loader;
}

const encodeCursor = (k: string) => Buffer.from(`k:${k}`, 'utf8').toString('base64url');
function decodeCursor(c: string): string {
  const raw = /^[A-Za-z0-9_-]{1,400}$/.test(c) ? Buffer.from(c, 'base64url').toString('utf8') : '';
  if (!raw.startsWith('k:')) throw badInput('after is not a cursor from this connection.', { field: 'after' });
  return raw.slice(2);
}
