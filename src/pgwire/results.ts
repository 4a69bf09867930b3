import type { ColumnDeclaration } from '../domain/declaration.js';
import { columnName } from './catalog.js';
import { Oid, type Cell, type Field } from './protocol.js';

/**
 * The one place that knows the shape of the GraphQL answers the wire serves: the `sql` field's
 * SqlRelease (its typed `table`, or its `explain`) for sensitive domains and the `rows` connection
 * for open ones. When DP SQL's result type changes, only this module changes.
 */
export interface WireResult {
  fields: Field[];
  rows: Cell[][];
  /** Release ids behind the answer (for logs and tests). */
  releaseIds: string[];
  /** Sent as a NOTICE: which release answered, at what epsilon, whether charged. */
  notice?: string;
}

export const SQL_SELECTION = 'epsilon cached releaseId table { columns { name type private } rows { cells { text number isNull standardError confidenceInterval { low high } } } }';
export const EXPLAIN_SELECTION = 'explain { datasets groupBy keys measurements { name statistic column mechanism scale standardError } epsilonCharged fitsBudget remainingAfter standardError note }';

type SqlType = 'TEXT' | 'INTEGER' | 'FLOAT' | 'BOOLEAN';
interface SqlCell {
  text: string | null;
  number: number | null;
  isNull: boolean;
  standardError: number | null;
  confidenceInterval: { low: number; high: number } | null;
}
export interface SqlRelease {
  epsilon: number;
  cached: boolean;
  releaseId: string | null;
  table: { columns: { name: string; type: SqlType; private: boolean }[]; rows: { cells: SqlCell[] }[] } | null;
}
export interface SqlExplainResult {
  explain: {
    datasets: string[];
    groupBy: string[];
    keys: string;
    measurements: { name: string; statistic: string; column: string | null; mechanism: string; scale: number; standardError: number | null }[];
    epsilonCharged: number;
    fitsBudget: boolean;
    remainingAfter: number;
    standardError: number | null;
    note: string;
  } | null;
}

const OID: Record<SqlType, number> = { TEXT: Oid.text, INTEGER: Oid.int8, FLOAT: Oid.float8, BOOLEAN: Oid.bool };

/** A typed DP SQL table as wire columns and rows; with error bars, three more columns after each DP column. */
export function releaseToWire(release: SqlRelease, errorBars: boolean): WireResult {
  const table = release.table ?? { columns: [], rows: [] };
  const bars = (c: { private: boolean }) => errorBars && c.private;
  const fields = table.columns.flatMap((c): Field[] => {
    const own = { name: c.name, oid: OID[c.type] ?? Oid.text };
    return bars(c) ? [own, { name: `${c.name}_stderr`, oid: Oid.float8 }, { name: `${c.name}_ci_low`, oid: Oid.float8 }, { name: `${c.name}_ci_high`, oid: Oid.float8 }] : [own];
  });
  const rows = table.rows.map((r) =>
    table.columns.flatMap((c, i): Cell[] => {
      const cell = r.cells[i];
      const own = !cell || cell.isNull ? null : cellText(c.type, cell);
      if (!bars(c)) return [own];
      return [own, cell?.standardError == null ? null : num(cell.standardError), cell?.confidenceInterval ? num(cell.confidenceInterval.low) : null, cell?.confidenceInterval ? num(cell.confidenceInterval.high) : null];
    }),
  );
  const ids = release.releaseId ? [release.releaseId] : [];
  const notice = `DP release ${ids.join(', ') || '(none)'}: epsilon ${release.epsilon}${release.cached ? ', served from the release cache at no cost' : ''}`;
  return { fields, rows, releaseIds: ids, notice };
}

/** Integers are rounded (post-processing of a DP release costs no privacy); booleans as PostgreSQL prints them. */
function cellText(type: SqlType, cell: SqlCell): string | null {
  if (type === 'INTEGER' && cell.number !== null) return String(Math.round(cell.number));
  if (type === 'FLOAT' && cell.number !== null) return num(cell.number);
  if (type === 'BOOLEAN') return cell.text === 'true' || cell.text === 't' ? 't' : 'f';
  return cell.text;
}

/** EXPLAIN's answer as PostgreSQL shows a plan: one text column, one line per step. */
export function explainToWire(result: SqlExplainResult, domain: string): WireResult {
  const e = result.explain;
  if (!e) return { fields: [{ name: 'QUERY PLAN', oid: Oid.text }], rows: [], releaseIds: [] };
  const lines = [
    `DP SQL over ${e.datasets.map((d) => `${domain}.${d}`).join(', ')}${e.groupBy.length ? ` grouped by ${e.groupBy.join(', ')} (keys: ${e.keys})` : ''}`,
    ...e.measurements.map((m) => `  measure ${m.statistic}${m.column ? `(${m.column})` : ''}: ${m.mechanism}, scale ${fmt(m.scale)}${m.standardError === null ? '' : `, standard error ${fmt(m.standardError)}`}`),
    `total: epsilon ${fmt(e.epsilonCharged)} charged if run now; ${e.fitsBudget ? 'fits your budget' : 'does NOT fit your budget'} (remaining after: ${fmt(e.remainingAfter)}); nothing was run or charged by EXPLAIN`,
    e.note,
  ];
  return { fields: [{ name: 'QUERY PLAN', oid: Oid.text }], rows: lines.map((l) => [l]), releaseIds: [] };
}

const num = (x: number) => (Number.isFinite(x) ? String(x) : x > 0 ? 'Infinity' : x < 0 ? '-Infinity' : 'NaN');
const fmt = (x: number) => String(Number(x.toPrecision(4)));

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
