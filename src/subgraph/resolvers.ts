import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import type { Release } from '../query/engine.js';
import { runSql, type SqlAnswer } from '../sql/run.js';
import type { SqlCell } from '../sql/post.js';
import type { DpValue } from '../query/release.js';
import type { AggregateKind, AggregateRequest, PrivacyRequest, WhereInput } from '../query/types.js';
import { isAdminOf } from '../auth/tokens.js';
import { authoriseQuery } from '../auth/authorise.js';
import { adminResolvers } from './admin.js';
import type { SubgraphContext } from './context.js';
import { badInput } from '../errors.js';

const offsetCursor = (n: number) => Buffer.from(`o:${n}`, 'utf8').toString('base64url');
function decodeOffsetCursor(c: string): number {
  const raw = /^[A-Za-z0-9_-]{1,40}$/.test(c) ? Buffer.from(c, 'base64url').toString('utf8') : '';
  const m = /^o:(\d{1,7})$/.exec(raw);
  if (!m) throw badInput('after is not a cursor from this connection.', { field: 'after' });
  return Number(m[1]);
}
import { catalogEntry, domainInfo } from './catalog.js';
import { enumValue, names } from './naming.js';
import { openRowsResolvers } from './rows.js';

/**
 * Resolvers generated from the declaration. They are thin: decode arguments, call the query engine
 * or governance, shape the result. No per-domain code.
 */
type Resolver = (parent: any, args: any, ctx: SubgraphContext) => unknown;
export type ResolverMap = Record<string, Record<string, Resolver | { __resolveReference: unknown } | unknown>>;

export function domainResolvers(domain: DomainDeclaration): ResolverMap {
  const n = names(domain);
  const sensitive = domain.sensitivity === 'sensitive';
  const map: ResolverMap = {
    Query: { [n.root]: () => ({}) },
    [n.domainType]: {
      info: () => domainInfo(domain),
      datasets: () => domain.datasets.map((ds) => catalogEntry(domain, ds)),
      ...Object.fromEntries(domain.datasets.map((ds) => [ds.name, () => ({ dataset: ds.name })])),
      ...(sensitive
        ? {
            budget: (_: unknown, __: unknown, ctx: SubgraphContext) => ctx.engine.budget(ctx.caller),
            sql: (_: unknown, a: { query: string; privacy?: PrivacyRequest; explain?: boolean }, ctx: SubgraphContext) => runDpSql(a.query, a.privacy, a.explain ?? false, ctx),
            syntheticModels: (_: unknown, a: { dataset?: string }, ctx: SubgraphContext) => {
              authoriseQuery(ctx.caller, domain);
              return ctx.engine.synthetic.list(a.dataset ? domain.datasets.find((ds) => enumValue(ds.name) === a.dataset)?.name : undefined);
            },
          }
        : {}),
    },
  };
  for (const ds of domain.datasets) {
    const t = n.dataset(ds);
    Object.assign(map, sensitive ? { [t.type]: aggregateResolvers(ds) } : openRowsResolvers(domain, ds));
    // The generic interfaces (Dataset, SensitiveDataset, OpenDataset): the same fields everywhere.
    const typeMap = map[t.type] as Record<string, unknown>;
    typeMap.catalog = () => catalogEntry(domain, ds);
    if (sensitive)
      typeMap.syntheticModels = (_: unknown, __: unknown, ctx: SubgraphContext) => {
        authoriseQuery(ctx.caller, domain);
        return ctx.engine.synthetic.list(ds.name);
      };
  }
  if (sensitive) {
    const admin = adminResolvers(domain);
    Object.assign(map.Query!, admin.Query);
    map.Mutation = admin.Mutation;
    map.Principal = {
      [n.budgetField]: async (p: { id: string }, _: unknown, ctx: SubgraphContext) => {
        if (p.id !== ctx.caller.id && !isAdminOf(ctx.caller, domain.name)) return null;
        return p.id === ctx.caller.id ? ctx.engine.budget(ctx.caller) : ctx.engine.budget({ id: p.id, roles: [] });
      },
      // Reached through _entities too: another principal's roles are not this subgraph's to tell.
      roles: (p: { id: string }, _: unknown, ctx: SubgraphContext) => (p.id === ctx.caller.id ? ctx.caller.roles : null),
    };
  } else {
    map.Principal = { roles: (p: { id: string }, _: unknown, ctx: SubgraphContext) => (p.id === ctx.caller.id ? ctx.caller.roles : null) };
  }
  return map;
}

/** Enum value (AGE) -> declared column name (age), per dataset (built once: it runs on every DP field). */
const decoders = new WeakMap<DatasetDeclaration, (v: string | null | undefined) => string | null | undefined>();
function columnDecoder(ds: DatasetDeclaration) {
  let decode = decoders.get(ds);
  if (!decode) {
    const byEnum = new Map(ds.columns.map((c) => [enumValue(c.name), c.name]));
    decoders.set(ds, (decode = (v) => (v == null ? v : byEnum.get(v) ?? v)));
  }
  return decode;
}

/** The DP fields of a dataset surface (each one release). */
export const DP_FIELDS: readonly AggregateKind[] = ['count', 'countDistinct', 'sum', 'mean', 'variance', 'stddev', 'quantile', 'histogram'];

/** GraphQL arguments of a DP field -> the engine's request (shared by resolvers and the operation check). */
export function requestFromArgs(ds: DatasetDeclaration, aggregate: AggregateKind, a: any): AggregateRequest {
  const col = columnDecoder(ds);
  return {
    aggregate,
    column: col(a.column),
    q: a.q,
    by: a.by?.map((b: string) => col(b)!),
    where: a.where as WhereInput | undefined,
    privacy: a.privacy,
  };
}

function aggregateResolvers(ds: DatasetDeclaration): Record<string, Resolver> {
  const request = (aggregate: AggregateKind, a: any) => requestFromArgs(ds, aggregate, a);
  const scalar = (aggregate: AggregateKind): Resolver => async (_p, args, ctx) => dpNumber(await ctx.engine.run(ctx.caller, ds.name, request(aggregate, args)));
  return {
    count: scalar('count'),
    countDistinct: scalar('countDistinct'),
    sum: scalar('sum'),
    mean: scalar('mean'),
    variance: scalar('variance'),
    stddev: scalar('stddev'),
    quantile: scalar('quantile'),
    histogram: async (_p, args, ctx) => {
      const r = await ctx.engine.run(ctx.caller, ds.name, request('histogram', args));
      if (r.answer.kind !== 'histogram') throw new Error('expected a histogram');
      return r.answer.buckets.map((b) => ({ key: b.key, count: toDpNumber(b.count, r) }));
    },
    estimate: (_p, args, ctx) => ctx.engine.estimate(ctx.caller, ds.name, request(args.aggregate, args)),
    synthetic: async (_p, args, ctx) => {
      const first = args.first ?? 100;
      if (!Number.isInteger(first) || first < 1 || first > 1000) throw badInput('first must be between 1 and 1000.', { field: 'first' });
      const offset = args.after == null ? 0 : decodeOffsetCursor(args.after);
      const { info, model } = await ctx.engine.synthetic.model(ctx.caller, ds, args.privacy);
      const page = ctx.engine.synthetic.rows(ds, info.id, model, args.rows, args.seed ?? 0, offset, first);
      const edges = page.map((node, i) => ({ cursor: offsetCursor(offset + i + 1), node }));
      return { edges, pageInfo: { hasNextPage: offset + first < args.rows, endCursor: edges.at(-1)?.cursor ?? null }, totalCount: args.rows, model: info };
    },
  };
}

/** DP SQL (src/sql): one statement, one release; the answer in the old (key/values) and typed shapes. */
async function runDpSql(query: string, privacy: PrivacyRequest | undefined, explain: boolean, ctx: SubgraphContext) {
  return sqlReleaseOf(await runSql(ctx.engine, ctx.caller, query, privacy, explain));
}

export function sqlReleaseOf(a: SqlAnswer) {
  const base = { query: a.query, dataset: a.dataset, datasets: a.datasets, epsilon: a.epsilon, delta: a.delta, mechanism: a.mechanism, cached: a.cached, releaseId: a.releaseId };
  if (!a.table) {
    const e = a.explain!;
    const plan = e.plan;
    return {
      ...base,
      columns: [],
      rows: [],
      table: null,
      explain: {
        datasets: plan.datasets,
        relation: a.relation,
        rowsPerUnit: plan.contribution.rowsPerUnit,
        groupsPerUnit: plan.contribution.groupsPerUnit,
        rowsPerGroup: plan.contribution.rowsPerGroup,
        groupBy: plan.groupBy,
        keys: plan.keys,
        measurements: plan.measurements,
        costs: JSON.stringify(plan.costs),
        epsilonCharged: e.epsilonCharged,
        fitsBudget: e.fitsBudget,
        remainingAfter: e.remainingAfter,
        standardError: e.standardError,
        note: e.note,
      },
    };
  }
  const t = a.table;
  const dp = t.columns.map((c, i) => ({ c, i })).filter(({ c }) => c.private && (c.type === 'INTEGER' || c.type === 'FLOAT'));
  const dpNumberOf = (cell: SqlCell) => ({
    value: typeof cell.value === 'number' ? cell.value : NaN,
    standardError: cell.standardError ?? NaN,
    confidenceInterval: { low: cell.low ?? NaN, high: cell.high ?? NaN, confidence: cell.confidence ?? 0.95 },
    errorScale: cell.errorScale ?? 'VALUE',
    epsilon: a.epsilon,
    delta: a.delta,
    mechanism: a.mechanism,
    cached: a.cached,
    releaseId: a.releaseId,
  });
  return {
    ...base,
    columns: dp.map(({ c }) => c.name),
    rows: t.rows.map((cells, r) => ({ key: t.keys[r] ?? [], values: dp.map(({ i }) => dpNumberOf(cells[i]!)) })),
    table: {
      columns: t.columns,
      rows: t.rows.map((cells) => ({
        cells: cells.map((c) => ({
          text: c.value === null ? null : String(c.value),
          number: typeof c.value === 'number' ? c.value : null,
          isNull: c.value === null,
          standardError: c.standardError,
          confidenceInterval: c.low !== null && c.high !== null ? { low: c.low, high: c.high, confidence: c.confidence ?? 0.95 } : null,
          confidence: c.confidence,
          errorScale: c.errorScale,
        })),
      })),
    },
    explain: null,
  };
}

function dpNumber(r: Release) {
  if (r.answer.kind !== 'scalar') throw new Error('expected a scalar answer');
  return toDpNumber(r.answer.value, r);
}

function toDpNumber(v: DpValue, r: Release) {
  return {
    value: v.value,
    standardError: v.standardError,
    confidenceInterval: { low: v.low, high: v.high, confidence: v.confidence },
    errorScale: v.errorScale,
    epsilon: r.epsilon,
    delta: r.delta,
    mechanism: r.mechanism,
    cached: r.cached,
    releaseId: r.releaseId,
    budgetBefore: r.effect?.budgetBefore ?? null,
    budgetAfter: r.effect?.budgetAfter ?? null,
  };
}
