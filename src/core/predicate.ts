import { badInput } from '../errors.js';
import type { ColumnInfo } from './schema.js';

/**
 * Row predicates of the plan IR: a small boolean algebra over declared columns. Values are
 * checked against the column's declared type (and public category list) here, once, so that every
 * front end (GraphQL `where`, DP SQL, the wire protocol) refuses the same bad values before any
 * charge, and so that nothing a dialect emits can fail at run time on a caller's value.
 *
 * `canonical` puts a predicate in one normal form (IN for equality, sorted and deduplicated lists,
 * flattened and sorted AND/OR, BETWEEN as two bounds): equivalent requests get one plan key and so
 * share one release.
 */
export type Scalar = string | number;
export type Comparison = '<' | '<=' | '>' | '>=' | '<>';
export type Predicate =
  | { op: 'true' }
  | { op: 'and' | 'or'; args: Predicate[] }
  | { op: 'not'; arg: Predicate }
  | { op: 'in'; column: string; values: Scalar[] }
  | { op: 'cmp'; column: string; cmp: Comparison; value: Scalar }
  | { op: 'isNull'; column: string }
  | { op: 'like'; column: string; pattern: string };

export const TRUE: Predicate = { op: 'true' };
export const and = (...args: Predicate[]): Predicate => ({ op: 'and', args });
export const or = (...args: Predicate[]): Predicate => ({ op: 'or', args });
export const not = (arg: Predicate): Predicate => ({ op: 'not', arg });
export const eq = (column: string, value: Scalar): Predicate => ({ op: 'in', column, values: [value] });
export const isIn = (column: string, values: Scalar[]): Predicate => ({ op: 'in', column, values });
export const cmp = (column: string, c: Comparison, value: Scalar): Predicate => ({ op: 'cmp', column, cmp: c, value });
export const between = (column: string, low: Scalar, high: Scalar): Predicate => and(cmp(column, '>=', low), cmp(column, '<=', high));

export const MAX_IN_VALUES = 1000;
export const MAX_STRING = 200;
export const MAX_PREDICATE_NODES = 2000;
/** Values beyond this are refused: every comparison stays exact in float8 and numeric alike. */
const MAX_ABS_NUMBER = 1e15;

/** Validates every column and value against the relation's columns, then normalises. */
export function checkPredicate(p: Predicate, columns: Map<string, ColumnInfo>, where = 'where'): Predicate {
  let nodes = 0;
  const visit = (q: Predicate): Predicate => {
    if (++nodes > MAX_PREDICATE_NODES) throw badInput(`The filter has more than ${MAX_PREDICATE_NODES} conditions.`, { field: where });
    switch (q.op) {
      case 'true':
        return q;
      case 'and':
      case 'or':
        return { op: q.op, args: q.args.map(visit) };
      case 'not':
        return { op: 'not', arg: visit(q.arg) };
      case 'in': {
        const c = filterable(columns, q.column, where);
        if (q.values.length === 0 || q.values.length > MAX_IN_VALUES)
          throw badInput(`${where}: IN on ${q.column} needs 1 to ${MAX_IN_VALUES} values.`, { field: where });
        return { op: 'in', column: q.column, values: q.values.map((v) => checkValue(c, v, where)) };
      }
      case 'cmp': {
        const c = filterable(columns, q.column, where);
        if (!isNumeric(c)) throw badInput(`${where}: ${q.cmp} applies to numeric columns only, and ${q.column} is ${c.type}.`, { field: where });
        return { ...q, value: checkValue(c, q.value, where) };
      }
      case 'isNull':
        filterable(columns, q.column, where);
        return q;
      case 'like': {
        const c = filterable(columns, q.column, where);
        if (c.type !== 'categorical' && c.type !== 'text') throw badInput(`${where}: LIKE applies to categorical columns, and ${q.column} is ${c.type}.`, { field: where });
        checkString(q.pattern, where);
        return q;
      }
    }
  };
  return canonical(visit(p));
}

function filterable(columns: Map<string, ColumnInfo>, name: string, where: string): ColumnInfo {
  const c = columns.get(name);
  if (!c || !c.filterable) throw badInput(`${where}: "${name}" is not a filterable column here.`, { field: where, column: name });
  return c;
}

const isNumeric = (c: ColumnInfo) => c.type === 'integer' || c.type === 'float';

function checkValue(c: ColumnInfo, v: unknown, where: string): Scalar {
  if (isNumeric(c)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (!Number.isFinite(n)) throw badInput(`${where}: ${c.name} compares with numbers, not ${JSON.stringify(v)}.`, { field: where });
    if (Math.abs(n) > MAX_ABS_NUMBER) throw badInput(`${where}: ${n} is out of range for ${c.name} (|value| <= 1e15).`, { field: where });
    return n;
  }
  if (typeof v !== 'string') throw badInput(`${where}: ${c.name} compares with strings.`, { field: where });
  checkString(v, where);
  // A public category list is public: naming a value outside it is a caller mistake worth reporting.
  if (c.categories && !c.categories.includes(v)) throw badInput(`${where}: "${v}" is not a category of ${c.name} (see the catalog).`, { field: where });
  return v;
}

function checkString(v: string, where: string) {
  if (v.length === 0 || v.length > MAX_STRING) throw badInput(`${where}: strings must have 1 to ${MAX_STRING} characters.`, { field: where });
  // PostgreSQL text cannot hold NUL: refuse it here rather than fail after the charge.
  if (v.includes('\u0000')) throw badInput(`${where}: strings cannot contain NUL characters.`, { field: where });
}

const order = (a: Predicate, b: Predicate) => {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
};
const sortValues = (vs: Scalar[]) => [...new Set(vs)].sort((a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0));

/** One normal form per meaning (for the syntactic equivalences the memo must recognise). */
export function canonical(p: Predicate): Predicate {
  switch (p.op) {
    case 'in':
      return { op: 'in', column: p.column, values: sortValues(p.values) };
    case 'not': {
      const a = canonical(p.arg);
      return a.op === 'not' ? a.arg : { op: 'not', arg: a };
    }
    case 'and':
    case 'or': {
      const flat: Predicate[] = [];
      for (const a of p.args.map(canonical)) {
        if (a.op === p.op) flat.push(...a.args);
        else if (!(a.op === 'true' && p.op === 'and')) flat.push(a);
      }
      if (p.op === 'or' && flat.some((a) => a.op === 'true')) return TRUE;
      const merged = p.op === 'and' ? mergeRanges(flat) : mergeIns(flat);
      const unique = [...new Map(merged.map((a) => [JSON.stringify(a), a])).values()].sort(order);
      if (unique.length === 0) return TRUE;
      return unique.length === 1 ? unique[0]! : { op: p.op, args: unique };
    }
    default:
      return p;
  }
}

/** x IN A OR x IN B is x IN (A u B): `a = 1 OR a = 2` and `a IN (1, 2)` are one plan. */
function mergeIns(args: Predicate[]): Predicate[] {
  const lists = new Map<string, Scalar[]>();
  const rest: Predicate[] = [];
  for (const a of args) {
    if (a.op === 'in') lists.set(a.column, [...(lists.get(a.column) ?? []), ...a.values]);
    else rest.push(a);
  }
  for (const [column, values] of lists) rest.push({ op: 'in', column, values: sortValues(values) });
  return rest;
}

/** x >= v AND x <= v is x IN (v); the tightest of repeated bounds on one column is kept. */
function mergeRanges(args: Predicate[]): Predicate[] {
  const lo = new Map<string, number>();
  const hi = new Map<string, number>();
  const rest: Predicate[] = [];
  for (const a of args) {
    if (a.op === 'cmp' && a.cmp === '>=' && typeof a.value === 'number') lo.set(a.column, Math.max(lo.get(a.column) ?? -Infinity, a.value));
    else if (a.op === 'cmp' && a.cmp === '<=' && typeof a.value === 'number') hi.set(a.column, Math.min(hi.get(a.column) ?? Infinity, a.value));
    else rest.push(a);
  }
  for (const column of new Set([...lo.keys(), ...hi.keys()])) {
    const l = lo.get(column);
    const h = hi.get(column);
    if (l !== undefined && l === h) rest.push({ op: 'in', column, values: [l] });
    else {
      if (l !== undefined) rest.push({ op: 'cmp', column, cmp: '>=', value: l });
      if (h !== undefined) rest.push({ op: 'cmp', column, cmp: '<=', value: h });
    }
  }
  return rest;
}

/** Columns a predicate reads (for the planner's checks). */
export function predicateColumns(p: Predicate): string[] {
  switch (p.op) {
    case 'true':
      return [];
    case 'and':
    case 'or':
      return p.args.flatMap(predicateColumns);
    case 'not':
      return predicateColumns(p.arg);
    default:
      return [p.column];
  }
}
