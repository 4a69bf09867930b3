import type { DomainDeclaration } from '../domain/declaration.js';
import { MAX_GROUP_COLUMNS, type AggregateSpec, type QuerySpec } from '../core/plan.js';
import { and, not, TRUE, type Predicate } from '../core/predicate.js';
import type { DerivedValue } from '../core/relation.js';
import type { PrivacyRequest } from '../core/privacy.js';
import { exprOf, type Expr, type ExprContext } from './expr.js';
import { loc, parseStatement, refuse, tag, type Node } from './parse.js';
import { fromClause, resolveColumn, subqueryScope, type CompileContext, type Scope } from './scope.js';
import { constant, predicateOf } from './where.js';
import { schemaOf } from '../core/stability.js';

/**
 * A DP SQL statement compiled to ONE plan-IR QuerySpec (so one plan, one charge, one release)
 * plus the post-processing that turns the released table into the statement's answer (select
 * expressions, HAVING, ORDER BY, LIMIT/OFFSET: all free).
 */
export interface OutputColumn {
  name: string;
  expr: Expr;
}
export interface CompiledSql {
  spec: QuerySpec;
  /** Relation column names of GROUP BY, in order. */
  groupBy: string[];
  outputs: OutputColumn[];
  having?: Expr;
  orderBy: { expr: Expr; desc: boolean; nullsFirst: boolean }[];
  limit?: number;
  offset: number;
  /** The statement, whitespace-normalised (for the ledger). */
  normalized: string;
}

export const MAX_LIMIT = 1_000_000;

export function compileSql(domain: DomainDeclaration, sql: string, privacy?: PrivacyRequest | null): CompiledSql {
  const s = parseStatement(sql);
  const first = s.targetList?.[0]?.ResTarget?.location ?? 0;
  if (s.op && s.op !== 'SETOP_NONE') refuse(`${String(s.op).replace('SETOP_', '')} (set operations) cannot be bounded: each part is its own query`, loc(s.larg?.targetList?.[0]) ?? 0, String(s.op).replace('SETOP_', ''));
  if (s.valuesLists) refuse('VALUES is not a DP query', 0, 'VALUES');
  if (s.intoClause) refuse('SELECT INTO writes a table', first, 'INTO');
  if (s.lockingClause) refuse('FOR UPDATE/SHARE is not supported', first, 'FOR UPDATE');
  if (s.windowClause) refuse('window functions cannot be bounded', first, 'WINDOW');
  if (s.distinctClause) refuse('SELECT DISTINCT releases row values: use GROUP BY with an aggregate', first, 'DISTINCT');

  const ctx: CompileContext = { domain, ctes: new Map(), where: (w, scope) => scope.rel.filter(predicateOf(w, scope)) };
  for (const c of (s.withClause?.ctes ?? []) as Node[]) {
    const cte = c.CommonTableExpr;
    if (s.withClause.recursive) refuse('WITH RECURSIVE cannot be bounded', cte.location, 'WITH RECURSIVE');
    if (cte.aliascolnames) refuse('column lists on a CTE are not supported: rename in its SELECT', cte.location, 'CTE');
    if (tag(cte.ctequery) !== 'SelectStmt') refuse('a CTE may only be a SELECT that filters, projects or renames', cte.location, 'CTE');
    const name = String(cte.ctename).toLowerCase();
    // Each reference compiles the CTE anew (it is a view over the same rows, not a second copy).
    ctx.ctes.set(name, (alias) => subqueryScope(cte.ctequery.SelectStmt, ctx, alias));
  }

  const scope = fromClause(s.fromClause, ctx, first);
  const groupBy = groupColumns(s, scope);
  const aggregates: AggregateSpec[] = [];
  const derivations: Derivation[] = [];
  const ectx: ExprContext = { scope, groupBy, aggregates, derived: new Set(), derive: (n) => derive(n, scope, derivations, ectx.derived) };
  const outputs: OutputColumn[] = [];
  for (const t of (s.targetList ?? []) as Node[]) {
    const rt = t.ResTarget;
    if (tag(rt.val) === 'ColumnRef' && (rt.val.ColumnRef.fields as Node[]).some((f) => f.A_Star)) refuse('SELECT * releases rows: select aggregates', rt.location, '*');
    // Unnamed columns keep the declared spelling of the column (PostgreSQL would fold it to lower case).
    const declared = tag(rt.val) === 'ColumnRef' ? resolveColumn(scope, rt.val.ColumnRef).split('.').at(-1) : undefined;
    outputs.push({ name: String(rt.name ?? declared ?? defaultName(rt.val)), expr: exprOf(rt.val, ectx) });
  }
  if (outputs.length === 0) refuse('select at least one aggregate', first, 'SELECT');
  ectx.aliases = new Map(outputs.map((o) => [o.name.toLowerCase(), o.expr]));
  const having = s.havingClause ? exprOf(s.havingClause, ectx) : undefined;
  const orderBy = ((s.sortClause ?? []) as Node[]).map((o) => {
    const sb = o.SortBy;
    if (sb.useOp) refuse('ORDER BY ... USING is not supported', sb.location, 'USING');
    const expr = positional(sb.node, outputs) ?? exprOf(sb.node, ectx);
    const desc = sb.sortby_dir === 'SORTBY_DESC';
    return { expr, desc, nullsFirst: sb.sortby_nulls === 'SORTBY_NULLS_DEFAULT' ? desc : sb.sortby_nulls === 'SORTBY_NULLS_FIRST' };
  });
  if (aggregates.length === 0) refuse('select at least one aggregate (COUNT, SUM, AVG, ...): row values are never released', first, 'SELECT');
  if (s.limitOption === 'LIMIT_OPTION_WITH_TIES') refuse('FETCH ... WITH TIES is not supported', first, 'WITH TIES');

  // Measurements in one canonical order, so statements asking the same aggregates in another
  // order (or inside other expressions) share a plan key and a release.
  const order = aggregates.map((a, i) => ({ a, i, k: JSON.stringify([a.kind, a.column ?? '', a.q ?? '']) })).sort((x, y) => (x.k < y.k ? -1 : x.k > y.k ? 1 : 0));
  const to = new Map(order.map((o, j) => [o.i, j]));
  const remap = (e: Expr): Expr => reindex(e, (i) => to.get(i)!);
  const withDerived = derivations.reduce((rel, d) => rel.derive(d.column, d.cases, d.otherwise), scope.rel);
  const spec: QuerySpec = { domain, relation: withPresence({ ...scope, rel: withDerived }, s, aggregates).relation, groupBy: groupBy.length ? groupBy : undefined, aggregates: order.map((o) => o.a), privacy };
  return {
    spec,
    groupBy,
    outputs: outputs.map((o) => ({ ...o, expr: remap(o.expr) })),
    having: having && remap(having),
    orderBy: orderBy.map((o) => ({ ...o, expr: remap(o.expr) })),
    limit: s.limitCount ? count(s.limitCount, 'LIMIT') : undefined,
    offset: s.limitOffset ? (count(s.limitOffset, 'OFFSET') ?? 0) : 0,
    normalized: sql.replace(/\s+/g, ' ').trim().replace(/;$/, ''),
  };
}

/**
 * The WHERE filter, plus "the column is present" when every aggregate reads the same numeric
 * column (SQL's SUM/AVG ignore NULLs; bounding then spends a unit's row budget on rows that count).
 * This is exactly the typed GraphQL field's relation, so both share a plan key and a release.
 */
function withPresence(scope: Scope, s: Node, aggregates: AggregateSpec[]) {
  const where: Predicate = s.whereClause ? predicateOf(s.whereClause, scope) : TRUE;
  const numeric = new Set(aggregates.filter((a) => a.kind !== 'count' && a.kind !== 'countDistinct').map((a) => a.column!));
  const onlyNumeric = numeric.size === 1 && aggregates.every((a) => a.kind !== 'count' && a.kind !== 'countDistinct');
  const present: Predicate = onlyNumeric ? not({ op: 'isNull', column: [...numeric][0]! }) : TRUE;
  return scope.rel.filter(and(where, present));
}

type Derivation = { column: string; cases: { when: Predicate; then: DerivedValue }[]; otherwise: DerivedValue; key: string };

/**
 * CASE inside an aggregate: a computed column of the relation (core op `derive`), whose bounds
 * are the hull of its arms, so SUM(CASE WHEN department = 'oncology' THEN cost ELSE 0 END) is an
 * ordinary bounded sum. Identical CASE expressions share one column.
 */
function derive(n: Node, scope: Scope, out: Derivation[], names: Set<string>): string {
  const c = n.CaseExpr;
  const value = (v: Node | undefined): DerivedValue => {
    if (!v || (tag(v) === 'A_Const' && v.A_Const.isnull)) return null;
    const arm = 'a CASE arm inside an aggregate returns a number, a declared numeric column or NULL';
    if (tag(v) === 'ColumnRef') {
      const column = resolveColumn(scope, v.ColumnRef);
      const info = schemaOf(scope.rel.relation).columns.get(column);
      if (!info || (info.type !== 'integer' && info.type !== 'float') || !info.bounds) refuse(`${arm} ("${column}" is ${info?.type ?? 'unknown'})`, v.ColumnRef.location, 'CASE');
      return { column };
    }
    const k = tag(v) === 'A_Const' || tag(v) === 'TypeCast' || tag(v) === 'A_Expr' ? constant(v) : refuse(arm, loc(v) ?? c.location, 'CASE');
    if (typeof k !== 'number' || !(Math.abs(k) <= 1e15)) refuse(`${arm} (numbers up to 1e15)`, loc(v) ?? c.location, 'CASE');
    return { value: k };
  };
  const cases = ((c.args ?? []) as Node[]).map((w) => {
    const cw = w.CaseWhen;
    // Simple CASE x WHEN v THEN ...: the arm holds when x = v.
    const when = c.arg ? predicateOf({ A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '=' } }], lexpr: c.arg, rexpr: cw.expr, location: cw.location } }, scope) : predicateOf(cw.expr, scope);
    return { when, then: value(cw.result) };
  });
  const otherwise = value(c.defresult);
  const key = JSON.stringify([cases, otherwise]);
  const same = out.find((d) => d.key === key);
  if (same) return same.column;
  const column = `case_${out.length}`;
  out.push({ column, cases, otherwise, key });
  names.add(column);
  return column;
}

function groupColumns(s: Node, scope: Scope): string[] {
  const out: string[] = [];
  for (const g of (s.groupClause ?? []) as Node[]) {
    let node = g;
    if (tag(g) === 'A_Const' && g.A_Const.ival) {
      const i = Number(g.A_Const.ival.ival ?? 0);
      const t = s.targetList?.[i - 1]?.ResTarget;
      if (!t) refuse(`GROUP BY position ${i} is not in the select list`, g.A_Const.location, 'GROUP BY');
      node = t.val;
    } else if (tag(g) === 'ColumnRef') {
      const fields = g.ColumnRef.fields as Node[];
      const alias = fields.length === 1 && fields[0]!.String ? String(fields[0]!.String.sval).toLowerCase() : undefined;
      const t = alias ? ((s.targetList ?? []) as Node[]).find((x) => String(x.ResTarget.name ?? '').toLowerCase() === alias && tag(x.ResTarget.val) === 'ColumnRef') : undefined;
      const inScope = (() => {
        try {
          resolveColumn(scope, g.ColumnRef);
          return true;
        } catch {
          return false;
        }
      })();
      if (t && !inScope) node = t.ResTarget.val;
    }
    if (tag(node) === 'GroupingSet') refuse('GROUPING SETS / ROLLUP / CUBE are not supported', loc(node), 'GROUPING SETS');
    if (tag(node) !== 'ColumnRef') refuse('GROUP BY takes declared columns (or select-list positions)', loc(node), 'GROUP BY');
    const c = resolveColumn(scope, node.ColumnRef);
    const info = schemaOf(scope.rel.relation).columns.get(c);
    if (!info?.filterable || (info.type !== 'categorical' && info.type !== 'integer'))
      refuse(`"${c}" cannot be grouped by: group by declared categorical (or integer) columns`, node.ColumnRef.location, 'GROUP BY');
    if (!out.includes(c)) out.push(c);
    if (out.length > MAX_GROUP_COLUMNS) refuse(`group by at most ${MAX_GROUP_COLUMNS} columns`, node.ColumnRef.location, 'GROUP BY');
  }
  return out;
}

function positional(n: Node, outputs: OutputColumn[]): Expr | undefined {
  if (tag(n) !== 'A_Const' || !n.A_Const.ival) return undefined;
  const i = Number(n.A_Const.ival.ival ?? 0);
  if (!(i >= 1 && i <= outputs.length)) refuse(`ORDER BY position ${i} is not in the select list`, n.A_Const.location, 'ORDER BY');
  return outputs[i - 1]!.expr;
}

function count(n: Node, what: string): number | undefined {
  if (tag(n) === 'A_Const' && n.A_Const.isnull) return undefined;
  const v = constant(n);
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_LIMIT) refuse(`${what} takes an integer from 0 to ${MAX_LIMIT}`, loc(n), what);
  return v;
}

/** PostgreSQL's default output names: the column, or the function's name. */
function defaultName(n: Node): string {
  switch (tag(n)) {
    case 'ColumnRef':
      return String((n.ColumnRef.fields as Node[]).at(-1)!.String?.sval ?? '?');
    case 'FuncCall':
      return String((n.FuncCall.funcname as Node[]).at(-1)!.String.sval);
    case 'TypeCast':
      return defaultName(n.TypeCast.arg);
    default:
      return '?column?';
  }
}

/** The same expression with its aggregate indices mapped. */
function reindex(e: Expr, f: (i: number) => number): Expr {
  const r = (x: Expr) => reindex(x, f);
  switch (e.k) {
    case 'agg':
      return { k: 'agg', i: f(e.i) };
    case 'key':
    case 'const':
      return e;
    case 'op':
    case 'cmp':
      return { ...e, l: r(e.l), r: r(e.r) };
    case 'neg':
    case 'isNull':
      return { ...e, a: r(e.a) };
    case 'fn':
    case 'bool':
      return { ...e, args: e.args.map(r) };
    case 'in':
      return { ...e, a: r(e.a), list: e.list.map(r) };
    case 'between':
      return { ...e, a: r(e.a), lo: r(e.lo), hi: r(e.hi) };
  }
}
