import type { ColumnInfo } from '../core/schema.js';
import type { DpValue, ReleasedTable } from '../core/release.js';
import type { CompiledSql } from './compile.js';
import type { Expr } from './expr.js';

/**
 * Post-processing of a released table into the statement's answer: select expressions, HAVING,
 * ORDER BY, OFFSET/LIMIT. It reads only noisy values and public keys, so it costs nothing
 * (post-processing, Dwork & Roth 2014, Prop. 2.1). Error bars of expressions of several DP values
 * are first-order (delta method) and treat the values' noises as independent: exact for sums of
 * distinct measurements, approximate for ratios; a quantile's rank-scale error does not carry
 * through arithmetic (reported null).
 */
export type SqlType = 'TEXT' | 'INTEGER' | 'FLOAT' | 'BOOLEAN';
export interface SqlColumn {
  name: string;
  type: SqlType;
  /** True when the column is computed from DP values (it has error bars). */
  private: boolean;
}
export interface SqlCell {
  value: number | string | boolean | null;
  standardError: number | null;
  low: number | null;
  high: number | null;
  confidence: number | null;
  errorScale: 'VALUE' | 'RANK' | null;
}
export interface SqlTable {
  columns: SqlColumn[];
  rows: SqlCell[][];
  /** Group keys of each row (the released table's keys, in the rows' order). */
  keys: string[][];
}

const Z95 = 1.959963984540054;
const plain = (value: SqlCell['value']): SqlCell => ({ value, standardError: null, low: null, high: null, confidence: null, errorScale: null });
const fromDp = (v: DpValue): SqlCell => ({ value: v.value, standardError: v.standardError, low: v.low, high: v.high, confidence: v.confidence, errorScale: v.errorScale });
function derived(value: number | null, se: number | null): SqlCell {
  if (value === null || !Number.isFinite(value)) return plain(null);
  if (se === null || !Number.isFinite(se)) return { ...plain(value), errorScale: null };
  return { value, standardError: se, low: value - Z95 * se, high: value + Z95 * se, confidence: 0.95, errorScale: 'VALUE' };
}

export function typesOf(compiled: CompiledSql, groupColumns: ColumnInfo[]): SqlColumn[] {
  return compiled.outputs.map((o) => ({ name: o.name, type: typeOf(o.expr, compiled, groupColumns), private: usesAggregate(o.expr) }));
}

function typeOf(e: Expr, c: CompiledSql, groups: ColumnInfo[]): SqlType {
  switch (e.k) {
    case 'agg': {
      const kind = c.spec.aggregates[e.i]!.kind;
      return kind === 'count' || kind === 'countDistinct' ? 'INTEGER' : 'FLOAT';
    }
    case 'key':
      return groups[e.i]?.type === 'integer' ? 'INTEGER' : 'TEXT';
    case 'const':
      return typeof e.v === 'number' ? (Number.isInteger(e.v) ? 'INTEGER' : 'FLOAT') : typeof e.v === 'boolean' ? 'BOOLEAN' : 'TEXT';
    case 'neg':
      return typeOf(e.a, c, groups);
    case 'fn':
      return e.name === 'coalesce' || e.name === 'greatest' || e.name === 'least' ? typeOf(e.args[0]!, c, groups) : 'FLOAT';
    case 'op':
      return 'FLOAT';
    default:
      return 'BOOLEAN';
  }
}

export function usesAggregate(e: Expr): boolean {
  switch (e.k) {
    case 'agg':
      return true;
    case 'key':
    case 'const':
      return false;
    case 'op':
    case 'cmp':
      return usesAggregate(e.l) || usesAggregate(e.r);
    case 'neg':
    case 'isNull':
      return usesAggregate(e.a);
    case 'fn':
    case 'bool':
      return e.args.some(usesAggregate);
    case 'in':
      return [e.a, ...e.list].some(usesAggregate);
    case 'between':
      return [e.a, e.lo, e.hi].some(usesAggregate);
  }
}

type Row = { key: string[]; values: DpValue[] };

export function evaluate(e: Expr, row: Row, groups: ColumnInfo[]): SqlCell {
  switch (e.k) {
    case 'agg':
      return fromDp(row.values[e.i]!);
    case 'key': {
      const v = row.key[e.i] ?? null;
      return plain(v !== null && groups[e.i]?.type === 'integer' ? Number(v) : v);
    }
    case 'const':
      return plain(e.v);
    case 'neg': {
      const a = evaluate(e.a, row, groups);
      return typeof a.value === 'number' ? { ...a, value: -a.value, low: a.high === null || a.errorScale === 'RANK' ? a.low : -a.high, high: a.low === null || a.errorScale === 'RANK' ? a.high : -a.low } : plain(null);
    }
    case 'op':
      return arithmetic(e.op, evaluate(e.l, row, groups), evaluate(e.r, row, groups));
    case 'fn':
      return call(e.name, e.args.map((a) => evaluate(a, row, groups)));
    case 'cmp': {
      const [l, r] = [evaluate(e.l, row, groups).value, evaluate(e.r, row, groups).value];
      return plain(l === null || r === null ? null : compare(e.op, l, r));
    }
    case 'bool': {
      const vs = e.args.map((a) => evaluate(a, row, groups).value);
      if (e.op === 'not') return plain(vs[0] === null ? null : !vs[0]);
      if (e.op === 'and') return plain(vs.some((v) => v === false) ? false : vs.some((v) => v === null) ? null : true);
      return plain(vs.some((v) => v === true) ? true : vs.some((v) => v === null) ? null : false);
    }
    case 'isNull': {
      const v = evaluate(e.a, row, groups).value;
      return plain((v === null) !== e.negated);
    }
    case 'in': {
      const v = evaluate(e.a, row, groups).value;
      if (v === null) return plain(null);
      const hit = e.list.some((x) => evaluate(x, row, groups).value === v);
      return plain(hit !== e.negated);
    }
    case 'between': {
      const [v, lo, hi] = [e.a, e.lo, e.hi].map((x) => evaluate(x, row, groups).value);
      if (v === null || lo === null || hi === null || v === undefined) return plain(null);
      return plain((compare('>=', v, lo!) && compare('<=', v, hi!)) !== e.negated);
    }
  }
}

function compare(op: string, l: NonNullable<SqlCell['value']>, r: NonNullable<SqlCell['value']>): boolean {
  const [a, b] = typeof l === 'number' || typeof r === 'number' ? [Number(l), Number(r)] : [String(l), String(r)];
  switch (op) {
    case '=':
      return a === b;
    case '<>':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a >= b;
  }
}

/** First-order error propagation for independent noises (the delta method). */
function arithmetic(op: '+' | '-' | '*' | '/', l: SqlCell, r: SqlCell): SqlCell {
  if (typeof l.value !== 'number' || typeof r.value !== 'number') return plain(null);
  const rank = l.errorScale === 'RANK' || r.errorScale === 'RANK';
  const [sa, sb] = [l.standardError ?? 0, r.standardError ?? 0];
  const [a, b] = [l.value, r.value];
  const se = (s: number) => (rank ? null : s);
  switch (op) {
    case '+':
      return derived(a + b, se(Math.hypot(sa, sb)));
    case '-':
      return derived(a - b, se(Math.hypot(sa, sb)));
    case '*':
      return derived(a * b, se(Math.hypot(b * sa, a * sb)));
    case '/':
      if (b === 0) return plain(null);
      return derived(a / b, se(Math.hypot(sa / b, (a * sb) / (b * b))));
  }
}

function call(name: string, args: SqlCell[]): SqlCell {
  const [x, y] = args;
  const num = (c: SqlCell | undefined) => (typeof c?.value === 'number' ? c.value : null);
  switch (name) {
    case 'round': {
      const v = num(x);
      if (v === null) return plain(null);
      const f = 10 ** Math.max(0, Math.min(15, Math.trunc(num(y) ?? 0)));
      return { ...x!, value: Math.round(v * f) / f };
    }
    case 'ceil':
    case 'ceiling':
    case 'floor': {
      const v = num(x);
      return v === null ? plain(null) : { ...x!, value: name === 'floor' ? Math.floor(v) : Math.ceil(v) };
    }
    case 'abs': {
      const v = num(x);
      return v === null ? plain(null) : derived(Math.abs(v), x!.errorScale === 'VALUE' ? x!.standardError : null);
    }
    case 'sqrt': {
      const v = num(x);
      if (v === null || v < 0) return plain(null);
      return derived(Math.sqrt(v), x!.errorScale === 'VALUE' && v > 0 ? x!.standardError! / (2 * Math.sqrt(v)) : null);
    }
    case 'coalesce':
      return args.find((a) => a.value !== null) ?? plain(null);
    default: {
      // greatest / least: the chosen argument, with its error bars.
      const present = args.filter((a) => a.value !== null);
      if (present.length === 0) return plain(null);
      return present.reduce((best, a) => (compare(name === 'greatest' ? '>' : '<', a.value!, best.value!) ? a : best));
    }
  }
}

/** The statement's answer from its released table. */
export function answerTable(compiled: CompiledSql, table: ReleasedTable, groupColumns: ColumnInfo[]): SqlTable {
  let rows = table.rows.map((r) => ({ r, cells: compiled.outputs.map((o) => evaluate(o.expr, r, groupColumns)) }));
  if (compiled.having) rows = rows.filter((x) => evaluate(compiled.having!, x.r, groupColumns).value === true);
  if (compiled.orderBy.length) {
    const keyed = rows.map((x) => ({ ...x, sort: compiled.orderBy.map((o) => evaluate(o.expr, x.r, groupColumns).value) }));
    keyed.sort((p, q) => {
      for (let i = 0; i < compiled.orderBy.length; i++) {
        const o = compiled.orderBy[i]!;
        const [a, b] = [p.sort[i], q.sort[i]];
        if (a === b) continue;
        if (a === null || a === undefined) return o.nullsFirst ? -1 : 1;
        if (b === null || b === undefined) return o.nullsFirst ? 1 : -1;
        const lt = compare('<', a, b);
        return (lt ? -1 : 1) * (o.desc ? -1 : 1);
      }
      return 0;
    });
    rows = keyed;
  }
  const start = compiled.offset;
  rows = rows.slice(start, compiled.limit === undefined ? undefined : start + compiled.limit);
  return { columns: typesOf(compiled, groupColumns), rows: rows.map((x) => x.cells), keys: rows.map((x) => x.r.key) };
}
