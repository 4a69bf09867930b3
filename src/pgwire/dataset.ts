import type { ColumnDeclaration } from '../domain/declaration.js';
import { columnName } from './catalog.js';
import type { GraphQL } from './client.js';
import { WireError } from './errors.js';
import { Oid, type Field } from './protocol.js';
import { constText, type Route } from './route.js';
import { EXPLAIN_SELECTION, explainToWire, openFields, openRows, releaseToWire, rowsSelection, SQL_SELECTION, type RowsPage, type SqlExplainResult, type SqlRelease, type WireResult } from './results.js';

/** Reads of a dataset: DP SQL for sensitive datasets, the rows connection for open ones. */
export interface DatasetContext {
  gql: GraphQL;
  token: string;
  timeoutMs: number;
  maxRows: number;
  errorBars: boolean;
  privacy: { epsilon?: number; delta?: number } | null;
}

type DatasetRoute = Extract<Route, { kind: 'dataset' }>;
type Params = { values: (string | null)[]; types: number[] };

export async function runDataset(route: DatasetRoute, params: Params, ctx: DatasetContext): Promise<WireResult> {
  if (route.ref.domain.sensitivity === 'sensitive') return runDp(route, params, ctx);
  if (route.explain) throw new WireError('0A000', `${route.ref.domain.name}.${route.ref.dataset.table} is open data: reading it costs nothing, so there is no DP plan to explain`);
  return runOpen(route, params, ctx);
}

/**
 * Columns of a dataset read without running it (Describe of a prepared statement, before Bind): for
 * open data exact; for DP SQL a preview from the select list (names as written or aliased; counts
 * int8, other aggregates float8, plain columns text). Describe of a portal describes the release itself.
 */
export function describeDataset(route: DatasetRoute, errorBars: boolean): Field[] {
  if (route.explain) return [{ name: 'QUERY PLAN', oid: Oid.text }];
  if (route.ref.domain.sensitivity !== 'sensitive') return openFields(openColumns(route));
  return (route.select.targetList ?? []).flatMap((t: any): Field[] => {
    const v = t.ResTarget.val;
    const fn = v.FuncCall ? String(v.FuncCall.funcname.at(-1).String.sval).toLowerCase() : undefined;
    const name = t.ResTarget.name ?? fn ?? String(v.ColumnRef?.fields?.at(-1)?.String?.sval ?? '?column?');
    if (!fn) return [{ name, oid: Oid.text }];
    const own = { name, oid: fn === 'count' ? Oid.int8 : Oid.float8 };
    return errorBars ? [own, { name: `${name}_stderr`, oid: Oid.float8 }, { name: `${name}_ci_low`, oid: Oid.float8 }, { name: `${name}_ci_high`, oid: Oid.float8 }] : [own];
  });
}

/**
 * The text the domain's `sql` field expects: the statement with `<domain>.<dataset>` replaced by the
 * dataset's own name and each $n by its bound value as a literal (spans from the parse tree).
 */
export function dpSqlText(route: DatasetRoute, params: Params): string {
  const edits = [
    ...route.refs.map((r) => ({ start: r.start, end: r.end, text: r.dataset.table })),
    ...route.params.map((p) => ({ start: p.start, end: p.end, text: literal(params.values[p.number - 1], params.types[p.number - 1] ?? 0, p.number) })),
  ].sort((a, b) => b.start - a.start);
  let sql = route.sql;
  for (const e of edits) sql = sql.slice(0, e.start) + e.text + sql.slice(e.end);
  return sql.slice(route.bodyStart);
}

const NUMERIC_OIDS = new Set<number>([0, Oid.int2, Oid.int4, Oid.int8, Oid.float4, Oid.float8, Oid.numeric, Oid.unknown]);
const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

function literal(value: string | null | undefined, oid: number, n: number): string {
  if (value === undefined) throw new WireError('08P01', `no value bound for parameter $${n}`);
  if (value === null) throw new WireError('22004', `parameter $${n} is NULL: DP SQL compares with values only`);
  return NUMERIC_OIDS.has(oid) && NUMBER.test(value) ? value : `'${value.replace(/'/g, "''")}'`;
}

async function runDp(route: DatasetRoute, params: Params, ctx: DatasetContext): Promise<WireResult> {
  const d = route.ref.domain.name;
  const vars = { q: dpSqlText(route, params), p: ctx.privacy };
  if (route.explain) {
    const data = await ctx.gql<Record<string, { sql: SqlExplainResult }>>(`query PgWireExplain($q: String!, $p: PrivacyInput) { ${d} { sql(query: $q, privacy: $p, explain: true) { ${EXPLAIN_SELECTION} } } }`, vars, ctx.token, ctx.timeoutMs);
    return explainToWire(data[d]!.sql, d);
  }
  const data = await ctx.gql<Record<string, { sql: SqlRelease }>>(`query PgWire($q: String!, $p: PrivacyInput) { ${d} { sql(query: $q, privacy: $p) { ${SQL_SELECTION} } } }`, vars, ctx.token, ctx.timeoutMs);
  const release = data[d]!.sql;
  const rows = release.table?.rows.length ?? 0;
  if (rows > ctx.maxRows) throw new WireError('54000', `the answer has ${rows} rows, over this server's limit of ${ctx.maxRows}`);
  return releaseToWire(release, ctx.errorBars);
}

function openColumns(route: DatasetRoute): ColumnDeclaration[] {
  const ds = route.ref.dataset;
  const out: ColumnDeclaration[] = [];
  for (const t of route.select.targetList ?? []) {
    const ref = t.ResTarget.val?.ColumnRef;
    if (!ref) throw new WireError('0A000', `${route.ref.domain.name}.${ds.table} is open data: select its columns (or *); aggregates over open data are not served over the wire`);
    const last = ref.fields.at(-1);
    if (last.A_Star) out.push(...ds.columns);
    else out.push(column(route, String(last.String.sval)));
  }
  return out;
}

function column(route: DatasetRoute, name: string): ColumnDeclaration {
  const c = route.ref.dataset.columns.find((x) => columnName(x) === name.toLowerCase() || x.name.toLowerCase() === name.toLowerCase());
  if (!c) throw new WireError('42703', `column "${name}" does not exist in ${route.ref.domain.name}.${route.ref.dataset.table}`);
  return c;
}

/** SELECT cols FROM <open dataset> [WHERE c = v AND c IN (...)] [LIMIT n] [OFFSET m], paged through `rows`. */
async function runOpen(route: DatasetRoute, params: Params, ctx: DatasetContext): Promise<WireResult> {
  const s = route.select;
  if (s.sortClause || s.groupClause || s.havingClause || s.distinctClause) throw new WireError('0A000', 'open datasets are served in key order as plain row reads: ORDER BY, GROUP BY, HAVING and DISTINCT are not supported over the wire');
  const columns = openColumns(route);
  const where: Record<string, { eq?: unknown; in?: unknown[] }> = {};
  if (s.whereClause) conditions(route, s.whereClause, params, where);
  const limit = s.limitCount ? intValue(s.limitCount, params) : ctx.maxRows + 1;
  let skip = s.limitOffset ? intValue(s.limitOffset, params) : 0;
  if (limit > ctx.maxRows && s.limitCount) throw new WireError('54000', `LIMIT ${limit} is over this server's limit of ${ctx.maxRows} rows`);
  const d = route.ref.domain.name;
  const nodes: Record<string, unknown>[] = [];
  let after: string | null = null;
  while (nodes.length < limit) {
    const first = Math.min(500, skip + limit - nodes.length);
    const data: Record<string, Record<string, { rows: RowsPage }>> = await ctx.gql(
      `query PgWireRows($first: Int, $after: String, $where: ${whereType(route)}) { ${d} { ${route.ref.dataset.name} { ${rowsSelection(columns)} } } }`,
      { first, after, where },
      ctx.token,
      ctx.timeoutMs,
    );
    const page = data[d]![route.ref.dataset.name]!.rows;
    for (const e of page.edges) {
      if (skip > 0) skip--;
      else if (nodes.length < limit) nodes.push(e.node);
    }
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) break;
    after = page.pageInfo.endCursor;
  }
  if (!s.limitCount && nodes.length > ctx.maxRows) throw new WireError('54000', `the answer has more than ${ctx.maxRows} rows (this server's limit): add a LIMIT`);
  return { fields: openFields(columns), rows: openRows(nodes, columns), releaseIds: [] };
}

const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const whereType = (route: DatasetRoute) => `${pascal(route.ref.domain.name)}${pascal(route.ref.dataset.name)}Where`;

function conditions(route: DatasetRoute, node: any, params: Params, where: Record<string, { eq?: unknown; in?: unknown[] }>): void {
  if (node.BoolExpr?.boolop === 'AND_EXPR') return node.BoolExpr.args.forEach((a: any) => conditions(route, a, params, where));
  const e = node.A_Expr;
  const op = e?.name?.[0]?.String?.sval;
  if (!e?.lexpr?.ColumnRef || !((e.kind === 'AEXPR_OP' && op === '=') || e.kind === 'AEXPR_IN'))
    throw new WireError('0A000', 'open datasets filter with column = value, column IN (...) and AND only');
  const c = column(route, String(e.lexpr.ColumnRef.fields.at(-1).String.sval));
  const f = (where[c.name] ??= {});
  if (e.kind === 'AEXPR_IN') f.in = (e.rexpr.List?.items ?? e.rexpr).map((x: any) => typed(c, value(x, params)));
  else f.eq = typed(c, value(e.rexpr, params));
}

function value(n: any, params: Params): string {
  if (n.ParamRef) {
    const v = params.values[n.ParamRef.number - 1];
    if (v === null || v === undefined) throw new WireError('22004', `parameter $${n.ParamRef.number} is NULL or unbound`);
    return v;
  }
  return constText(n);
}

function typed(c: ColumnDeclaration, v: string): string | number {
  if (c.type !== 'integer' && c.type !== 'float') return v;
  const n = Number(v);
  if (!Number.isFinite(n) || (c.type === 'integer' && !Number.isInteger(n))) throw new WireError('22P02', `invalid input for ${c.type} column ${columnName(c)}: "${v}"`);
  return n;
}

function intValue(n: any, params: Params): number {
  const v = Number(value(n, params));
  if (!Number.isInteger(v) || v < 0) throw new WireError('2201W', 'LIMIT and OFFSET must be non-negative integers');
  return v;
}
