import type { AggregateSpec } from '../core/plan.js';
import { schemaOf } from '../core/stability.js';
import { loc, refuse, tag, type Node } from './parse.js';
import { resolveColumn, type Scope } from './scope.js';
import { constant, funcName } from './where.js';

/**
 * The outer query's expressions (SELECT list, HAVING, ORDER BY) over the released table:
 * aggregates become measurements of the plan, everything around them is post-processing of the
 * noisy values (free: DP is closed under post-processing, Dwork & Roth 2014, Prop. 2.1).
 */
export type Expr =
  | { k: 'agg'; i: number }
  | { k: 'key'; i: number }
  | { k: 'const'; v: number | string | boolean | null }
  | { k: 'op'; op: '+' | '-' | '*' | '/'; l: Expr; r: Expr }
  | { k: 'neg'; a: Expr }
  | { k: 'fn'; name: PostFunction; args: Expr[] }
  | { k: 'cmp'; op: '=' | '<>' | '<' | '<=' | '>' | '>='; l: Expr; r: Expr }
  | { k: 'bool'; op: 'and' | 'or' | 'not'; args: Expr[] }
  | { k: 'isNull'; a: Expr; negated: boolean }
  | { k: 'in'; a: Expr; list: Expr[]; negated: boolean }
  | { k: 'between'; a: Expr; lo: Expr; hi: Expr; negated: boolean };

export const POST_FUNCTIONS = ['round', 'abs', 'sqrt', 'ceil', 'ceiling', 'floor', 'greatest', 'least', 'coalesce'] as const;
export type PostFunction = (typeof POST_FUNCTIONS)[number];

/** MIN and MAX are released as DP quantiles at these ranks: an exact extreme has no bounded sensitivity. */
export const MIN_Q = 0.01;
export const MAX_Q = 0.99;

const AGGREGATES: Record<string, AggregateSpec['kind']> = {
  sum: 'sum',
  avg: 'mean',
  variance: 'variance',
  var_pop: 'variance',
  var_samp: 'variance',
  stddev: 'stddev',
  stddev_pop: 'stddev',
  stddev_samp: 'stddev',
};
const REFUSED_AGGREGATES = ['string_agg', 'array_agg', 'json_agg', 'jsonb_agg', 'json_object_agg', 'bool_and', 'bool_or', 'every', 'bit_and', 'bit_or', 'mode', 'corr', 'covar_pop', 'covar_samp', 'regr_slope', 'xmlagg'];
const WINDOW_ONLY = ['row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value', 'last_value', 'nth_value'];

export interface ExprContext {
  scope: Scope;
  groupBy: string[];
  aggregates: AggregateSpec[];
  /** Select-list aliases (ORDER BY / HAVING may name them). */
  aliases?: Map<string, Expr>;
  /** A CASE inside an aggregate as a computed column of the relation (returns its name). */
  derive: (node: Node) => string;
  derived: Set<string>;
}

export function exprOf(n: Node, ctx: ExprContext, inAggregate = false): Expr {
  switch (tag(n)) {
    case 'ColumnRef': {
      const fields = n.ColumnRef.fields as Node[];
      if (fields.length === 1 && fields[0]!.String && ctx.aliases?.has(String(fields[0]!.String.sval).toLowerCase())) return ctx.aliases.get(String(fields[0]!.String.sval).toLowerCase())!;
      const column = resolveColumn(ctx.scope, n.ColumnRef);
      const i = ctx.groupBy.indexOf(column);
      if (i < 0) refuse(`column "${column}" is neither aggregated nor in GROUP BY (row values are never released)`, n.ColumnRef.location, 'column');
      return { k: 'key', i };
    }
    case 'A_Const': {
      const c = n.A_Const;
      if (c.isnull) return { k: 'const', v: null };
      if (c.boolval) return { k: 'const', v: Boolean(c.boolval.boolval) };
      return { k: 'const', v: constant(n) };
    }
    case 'TypeCast':
      return exprOf(n.TypeCast.arg, ctx, inAggregate);
    case 'FuncCall':
      return funcExpr(n.FuncCall, ctx);
    case 'A_Expr':
      return opExpr(n.A_Expr, ctx);
    case 'BoolExpr': {
      const b = n.BoolExpr;
      return { k: 'bool', op: b.boolop === 'AND_EXPR' ? 'and' : b.boolop === 'OR_EXPR' ? 'or' : 'not', args: (b.args as Node[]).map((a) => exprOf(a, ctx)) };
    }
    case 'NullTest':
      return { k: 'isNull', a: exprOf(n.NullTest.arg, ctx), negated: n.NullTest.nulltesttype !== 'IS_NULL' };
    case 'MinMaxExpr':
      return { k: 'fn', name: n.MinMaxExpr.op === 'IS_GREATEST' ? 'greatest' : 'least', args: (n.MinMaxExpr.args as Node[]).map((a) => exprOf(a, ctx)) };
    case 'CoalesceExpr':
      return { k: 'fn', name: 'coalesce', args: (n.CoalesceExpr.args as Node[]).map((a) => exprOf(a, ctx)) };
    case 'CaseExpr':
      return refuse('CASE is not supported in DP SQL yet', n.CaseExpr.location, 'CASE');
    case 'SubLink':
      return refuse('subqueries in the select list cannot be bounded', n.SubLink.location, 'subquery');
    default:
      return refuse(`${tag(n)} is not supported here`, loc(n), tag(n));
  }
}

function opExpr(e: Node, ctx: ExprContext): Expr {
  const op = String(e.name?.[0]?.String?.sval ?? '');
  switch (e.kind) {
    case 'AEXPR_OP':
      if (!e.lexpr && op === '-') return { k: 'neg', a: exprOf(e.rexpr, ctx) };
      if (['+', '-', '*', '/'].includes(op)) return { k: 'op', op: op as '+', l: exprOf(e.lexpr, ctx), r: exprOf(e.rexpr, ctx) };
      if (['=', '<>', '!=', '<', '<=', '>', '>='].includes(op)) return { k: 'cmp', op: (op === '!=' ? '<>' : op) as '=', l: exprOf(e.lexpr, ctx), r: exprOf(e.rexpr, ctx) };
      return refuse(`operator ${op} is not supported`, e.location, op);
    case 'AEXPR_IN':
      return { k: 'in', a: exprOf(e.lexpr, ctx), list: (e.rexpr.List.items as Node[]).map((x) => exprOf(x, ctx)), negated: op === '<>' };
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN': {
      const [lo, hi] = (e.rexpr.List.items as Node[]).map((x) => exprOf(x, ctx));
      return { k: 'between', a: exprOf(e.lexpr, ctx), lo: lo!, hi: hi!, negated: e.kind === 'AEXPR_NOT_BETWEEN' };
    }
    default:
      return refuse(`${String(e.kind).replace('AEXPR_', '')} is not supported on released values`, e.location, String(e.kind));
  }
}

function funcExpr(f: Node, ctx: ExprContext): Expr {
  const name = funcName(f).toLowerCase().replace(/^pg_catalog\./, '');
  if (f.over) refuse(`window functions (${name} OVER ...) cannot be bounded`, f.location, 'window function');
  if (WINDOW_ONLY.includes(name)) refuse(`${name} is a window function: it releases row-level ranks`, f.location, 'window function');
  if (f.agg_filter) refuse(`FILTER (WHERE ...) on ${name} is not supported: put the condition in WHERE`, f.location, 'FILTER');
  const isAggregate = name === 'count' || name in AGGREGATES || name === 'median' || name === 'min' || name === 'max' || name === 'percentile_cont' || name === 'percentile_disc';
  if (isAggregate) return { k: 'agg', i: addAggregate(ctx, aggregateOf(name, f, ctx)) };
  if (REFUSED_AGGREGATES.includes(name)) refuse(`${name.toUpperCase()} is not a supported DP aggregate`, f.location, name);
  if ((POST_FUNCTIONS as readonly string[]).includes(name)) {
    if (f.agg_distinct || f.agg_star) refuse(`${name} takes values`, f.location, name);
    return { k: 'fn', name: name as PostFunction, args: ((f.args ?? []) as Node[]).map((a) => exprOf(a, ctx)) };
  }
  return refuse(`function ${funcName(f)}() is not supported (user and arbitrary functions cannot be analysed)`, f.location, 'function');
}

function addAggregate(ctx: ExprContext, a: AggregateSpec): number {
  const same = ctx.aggregates.findIndex((x) => x.kind === a.kind && x.column === a.column && x.q === a.q);
  if (same >= 0) return same;
  ctx.aggregates.push(a);
  return ctx.aggregates.length - 1;
}

/** One aggregate call as a measurement of the plan (its stability analysis is the core's). */
function aggregateOf(name: string, f: Node, ctx: ExprContext): AggregateSpec {
  const args = (f.args ?? []) as Node[];
  const at = f.location as number;
  if (f.agg_order && !f.agg_within_group) refuse(`ORDER BY inside ${name.toUpperCase()}() is not supported`, at, 'ORDER BY in aggregate');
  if (f.agg_distinct && name !== 'count') refuse(`${name.toUpperCase()}(DISTINCT ...) cannot be bounded: only COUNT(DISTINCT <privacy unit>) is supported`, at, 'DISTINCT');
  if (name === 'count') {
    if (f.agg_star) return { kind: 'count' };
    const column = columnArg(args, name, at, ctx);
    if (!f.agg_distinct) refuse(`COUNT(${column}) is not supported: use COUNT(*) (rows) or COUNT(DISTINCT ${ctx.scope.unit ?? '<privacy unit>'}) (people)`, at, 'COUNT(column)');
    if (column !== ctx.scope.unit) refuse(`COUNT(DISTINCT ${column}) cannot be bounded: only the privacy unit (${ctx.scope.unit ?? 'none: one row is one unit'}) may be counted distinct`, at, 'COUNT(DISTINCT)');
    return { kind: 'countDistinct', column };
  }
  if (f.agg_star) refuse(`${name.toUpperCase()}(*) is not defined`, at, name);
  if (name === 'percentile_cont' || name === 'percentile_disc') {
    if (!f.agg_within_group || !f.agg_order || f.agg_order.length !== 1) refuse(`${name.toUpperCase()}(q) needs WITHIN GROUP (ORDER BY <column>)`, at, name);
    if (args.length !== 1) refuse(`${name.toUpperCase()} takes one fraction q`, at, name);
    const q = constant(args[0]!);
    if (typeof q !== 'number' || !(q > 0 && q < 1)) refuse(`${name.toUpperCase()} takes a fraction q strictly between 0 and 1`, at, name);
    const sort = f.agg_order[0].SortBy;
    if (sort.sortby_dir === 'SORTBY_DESC') refuse(`${name.toUpperCase()} ... ORDER BY DESC is not supported: use 1 - q`, at, name);
      const column = columnArg([sort.node], name, at, ctx);
    const type = ctx.derived.has(column) ? 'float' : schemaOf(ctx.scope.rel.relation).columns.get(column)?.type;
    if (type !== 'integer' && type !== 'float') refuse(`${name.toUpperCase()}: "${column}" is not a numeric column with public bounds`, at, name);
    return { kind: 'quantile', column, q };
  }
  if (f.agg_within_group) refuse(`WITHIN GROUP applies to PERCENTILE_CONT and PERCENTILE_DISC only`, at, name);
  const column = columnArg(args, name, at, ctx);
  const type = ctx.derived.has(column) ? 'float' : schemaOf(ctx.scope.rel.relation).columns.get(column)?.type;
  if (type !== 'integer' && type !== 'float') refuse(`${name.toUpperCase()}(${column}): "${column}" is not a numeric column with public bounds`, at, name);
  if (name === 'median') return { kind: 'quantile', column, q: 0.5 };
  if (name === 'min') return { kind: 'quantile', column, q: MIN_Q };
  if (name === 'max') return { kind: 'quantile', column, q: MAX_Q };
  return { kind: AGGREGATES[name]!, column };
}

function columnArg(args: Node[], name: string, at: number, ctx: ExprContext): string {
  if (args.length !== 1) refuse(`${name.toUpperCase()} takes one column`, at, name);
  const a = args[0]!;
  if (tag(a) === 'CaseExpr') {
    if (name === 'count') refuse('COUNT(CASE ...) is not supported: write SUM(CASE WHEN ... THEN 1 ELSE 0 END)', a.CaseExpr.location, 'CASE');
    return ctx.derive(a);
  }
  if (tag(a) === 'FuncCall') {
    const inner = funcName(a.FuncCall).toLowerCase();
    const nested = inner === 'count' || inner in AGGREGATES || ['median', 'min', 'max', 'percentile_cont', 'percentile_disc'].includes(inner);
    refuse(nested ? 'aggregates cannot be nested' : `${name.toUpperCase()} takes a declared column, not ${inner}(...)`, a.FuncCall.location, nested ? 'nested aggregate' : 'expression');
  }
  if (tag(a) !== 'ColumnRef') refuse(`${name.toUpperCase()} takes a declared column, not an expression (its bounds would not be public)`, loc(a) ?? at, 'expression');
  return resolveColumn(ctx.scope, a.ColumnRef);
}
