import type { ColumnDeclaration } from '../domain/declaration.js';
import { columnName } from './catalog.js';
import { Oid, type Cell, type Field } from './protocol.js';
import type { SelectNode } from './route.js';

/**
 * The one place that knows the shape of the GraphQL answers the wire serves: the `sql` field's
 * SqlRelease for sensitive datasets and the `rows` connection for open ones. When DP SQL's result
 * type grows (typed columns, intervals), only this module changes.
 */
export interface WireResult {
  fields: Field[];
  rows: Cell[][];
  /** Release ids behind the answer (for logs and tests). */
  releaseIds: string[];
  /** Sent as a NOTICE: which releases answered, at what epsilon, whether charged. */
  notice?: string;
}

export const SQL_SELECTION = 'query dataset columns epsilon cached rows { key values { value standardError confidenceInterval { low high } releaseId cached } }';

interface DpValue {
  value: number;
  standardError: number;
  confidenceInterval: { low: number; high: number };
  releaseId: string;
}
export interface SqlRelease {
  columns: string[];
  epsilon: number;
  cached: boolean;
  rows: { key: string[]; values: DpValue[] }[];
}

type Item = { kind: 'key'; name: string; index: number } | { kind: 'value'; label: string; index: number; integer: boolean };

/**
 * The columns a DP SELECT returns, in select-list order: grouping columns (text) and aggregates
 * (int8 for counts, float8 otherwise). Labels follow DP SQL's: the alias, else count / fn_column.
 */
export function selectShape(select: SelectNode): Item[] {
  const groups: string[] = (select.groupClause ?? []).map((g: any) => refName(g));
  let agg = 0;
  return (select.targetList ?? []).map((t: any): Item => {
    const val = t.ResTarget.val;
    if (val.ColumnRef) {
      const name = refName(val);
      return { kind: 'key', name: t.ResTarget.name ?? name, index: Math.max(0, groups.indexOf(name)) };
    }
    const fn = String(val.FuncCall?.funcname?.at(-1)?.String?.sval ?? 'value').toLowerCase();
    const arg = val.FuncCall?.args?.[0] ? refName(val.FuncCall.args[0]) : undefined;
    const label = t.ResTarget.name ?? (val.FuncCall?.agg_star ? 'count' : `${fn}${arg ? `_${arg}` : ''}`);
    return { kind: 'value', label, index: agg++, integer: fn === 'count' };
  });
}

function refName(n: any): string {
  return String(n?.ColumnRef?.fields?.at(-1)?.String?.sval ?? '?');
}

export function dpFields(items: Item[], errorBars: boolean, labels?: string[]): Field[] {
  return items.flatMap((it): Field[] => {
    if (it.kind === 'key') return [{ name: it.name, oid: Oid.text }];
    const name = labels?.[it.index] ?? it.label;
    const own = { name, oid: it.integer ? Oid.int8 : Oid.float8 };
    return errorBars ? [own, { name: `${name}_stderr`, oid: Oid.float8 }, { name: `${name}_ci_low`, oid: Oid.float8 }, { name: `${name}_ci_high`, oid: Oid.float8 }] : [own];
  });
}

/** A SqlRelease as wire rows. Counts are rounded: post-processing of a DP release costs no privacy. */
export function releaseToWire(release: SqlRelease, items: Item[], errorBars: boolean): WireResult {
  const fields = dpFields(items, errorBars, release.columns);
  const releaseIds = new Set<string>();
  const rows = release.rows.map((r) =>
    items.flatMap((it): Cell[] => {
      if (it.kind === 'key') return [r.key[it.index] ?? null];
      const v = r.values[it.index];
      if (!v) return errorBars ? [null, null, null, null] : [null];
      releaseIds.add(v.releaseId);
      const own = it.integer ? String(Math.round(v.value)) : num(v.value);
      return errorBars ? [own, num(v.standardError), num(v.confidenceInterval.low), num(v.confidenceInterval.high)] : [own];
    }),
  );
  const notice = `DP release ${[...releaseIds].join(', ')}: epsilon ${release.epsilon}${release.cached ? ', served from the release cache at no cost' : ''}`;
  return { fields, rows, releaseIds: [...releaseIds], notice };
}

const num = (x: number) => (Number.isFinite(x) ? String(x) : x > 0 ? 'Infinity' : x < 0 ? '-Infinity' : 'NaN');

export function openFields(columns: ColumnDeclaration[]): Field[] {
  return columns.map((c) => ({ name: columnName(c), oid: c.type === 'integer' ? Oid.int8 : c.type === 'float' ? Oid.float8 : Oid.text }));
}

export function rowsSelection(columns: ColumnDeclaration[]): string {
  return `rows(first: $first, after: $after, where: $where) { edges { node { ${columns.map((c) => c.name).join(' ')} } } pageInfo { hasNextPage endCursor } }`;
}

export interface RowsPage {
  edges: { node: Record<string, unknown> }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export function openRows(nodes: Record<string, unknown>[], columns: ColumnDeclaration[]): Cell[][] {
  return nodes.map((n) => columns.map((c) => (n[c.name] === null || n[c.name] === undefined ? null : String(n[c.name]))));
}
