import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import type { AggregateKind, AggregateRequest, ColumnFilter, PrivacyRequest, WhereInput } from './types.js';

/**
 * DP SQL (SPEC section 5): a small SQL subset rewritten into the same DP pipeline as the typed
 * fields. Each SELECT item becomes one planned, bounded, charged release; the caller's epsilon is
 * split equally over them. Anything that cannot be bounded is refused with a precise error.
 *
 *   SELECT item [, item ...] FROM <dataset> [WHERE cond [AND cond ...]] [GROUP BY col [, col ...]]
 *   item: COUNT(*) | COUNT(DISTINCT <privacy unit>) | SUM(c) | AVG(c) | VARIANCE(c) | STDDEV(c)
 *         | MEDIAN(c) | QUANTILE(c, q) | <group column>          (each may have AS alias)
 *   cond: c = v | c IN (v, ...) | c >= v | c <= v | c > v | c < v (integers) | c BETWEEN a AND b
 *   With GROUP BY, only COUNT(*) (a histogram over the grouping columns) is supported.
 */
export interface DpSqlItem {
  label: string;
  request: AggregateRequest;
}
export interface DpSqlPlan {
  dataset: DatasetDeclaration;
  items: DpSqlItem[];
  groupBy: string[];
  normalized: string;
}

type Token = { kind: 'ident' | 'number' | 'string' | 'op' | 'punct'; text: string; pos: number };

const MAX_SQL = 4000;
const AGG: Record<string, AggregateKind> = { SUM: 'sum', AVG: 'mean', MEAN: 'mean', VARIANCE: 'variance', VAR_POP: 'variance', VAR: 'variance', STDDEV: 'stddev', STDDEV_POP: 'stddev', MEDIAN: 'quantile', QUANTILE: 'quantile' };

function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  const re = /\s+|(--[^\n]*)|([A-Za-z_][A-Za-z0-9_]*)|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|('(?:[^']|'')*')|(>=|<=|<>|!=|=|<|>)|([(),*;])/y;
  let pos = 0;
  while (pos < sql.length) {
    re.lastIndex = pos;
    const m = re.exec(sql);
    if (!m) throw badInput(`DP SQL: unexpected character ${JSON.stringify(sql[pos])} at position ${pos + 1}.`, { field: 'query', position: pos + 1 });
    if (m[2]) out.push({ kind: 'ident', text: m[2], pos });
    else if (m[3]) out.push({ kind: 'number', text: m[3], pos });
    else if (m[4]) out.push({ kind: 'string', text: m[4].slice(1, -1).replace(/''/g, "'"), pos });
    else if (m[5]) out.push({ kind: 'op', text: m[5], pos });
    else if (m[6]) out.push({ kind: 'punct', text: m[6], pos });
    pos = re.lastIndex;
  }
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly t: Token[]) {}
  peek(): Token | undefined {
    return this.t[this.i];
  }
  fail(msg: string): never {
    const tok = this.peek();
    throw badInput(`DP SQL: ${msg}${tok ? ` (at "${tok.text}", position ${tok.pos + 1})` : ' (at the end)'}.`, { field: 'query', position: tok ? tok.pos + 1 : null });
  }
  keyword(k: string): boolean {
    const tok = this.peek();
    if (tok?.kind === 'ident' && tok.text.toUpperCase() === k) {
      this.i++;
      return true;
    }
    return false;
  }
  expectKeyword(k: string) {
    if (!this.keyword(k)) this.fail(`expected ${k}`);
  }
  punct(p: string): boolean {
    const tok = this.peek();
    if (tok?.kind === 'punct' && tok.text === p) {
      this.i++;
      return true;
    }
    return false;
  }
  expectPunct(p: string) {
    if (!this.punct(p)) this.fail(`expected "${p}"`);
  }
  ident(what: string): string {
    const tok = this.peek();
    if (tok?.kind !== 'ident') this.fail(`expected ${what}`);
    this.i++;
    return tok.text;
  }
  literal(): string | number {
    const tok = this.peek();
    if (tok?.kind === 'number') {
      this.i++;
      return Number(tok.text);
    }
    if (tok?.kind === 'string') {
      this.i++;
      return tok.text;
    }
    return this.fail('expected a number or a quoted string');
  }
  next(): Token | undefined {
    return this.t[this.i++];
  }
  done(): boolean {
    this.punct(';');
    return this.i >= this.t.length;
  }
}

export function parseDpSql(domain: DomainDeclaration, sql: string): DpSqlPlan {
  if (sql.length > MAX_SQL) throw badInput(`DP SQL: queries are limited to ${MAX_SQL} characters.`, { field: 'query' });
  const p = new Parser(tokenize(sql));
  p.expectKeyword('SELECT');
  const rawItems: { fn: string; arg?: string; distinct?: boolean; q?: number; alias?: string; star?: boolean }[] = [];
  do rawItems.push(selectItem(p));
  while (p.punct(','));
  p.expectKeyword('FROM');
  const dsName = p.ident('a dataset name');
  const ds = domain.datasets.find((d) => d.name.toLowerCase() === dsName.toLowerCase() || d.table === dsName.toLowerCase());
  if (!ds) throw badInput(`DP SQL: no dataset "${dsName}" in ${domain.name} (datasets: ${domain.datasets.map((d) => d.name).join(', ')}).`, { field: 'query' });
  const column = (name: string) => {
    const c = ds.columns.find((x) => x.name.toLowerCase() === name.toLowerCase() || x.sql === name.toLowerCase());
    if (!c) throw badInput(`DP SQL: "${name}" is not a column of ${ds.name}.`, { field: 'query' });
    return c;
  };
  const where: WhereInput = {};
  if (p.keyword('WHERE')) {
    do condition(p, column, where);
    while (p.keyword('AND'));
    if (p.keyword('OR')) p.fail('OR is not supported; use IN for alternatives on one column');
  }
  const groupBy: string[] = [];
  if (p.keyword('GROUP')) {
    p.expectKeyword('BY');
    do groupBy.push(column(p.ident('a grouping column')).name);
    while (p.punct(','));
  }
  if (!p.done()) p.fail('unexpected input after the query (JOIN, ORDER BY, LIMIT, HAVING and subqueries are not supported)');

  const items: DpSqlItem[] = [];
  for (const it of rawItems) {
    const label = it.alias ?? (it.star ? 'count' : `${it.fn.toLowerCase()}${it.arg ? `_${it.arg}` : ''}`);
    if (it.fn === 'COLUMN') {
      if (!groupBy.includes(column(it.arg!).name)) throw badInput(`DP SQL: "${it.arg}" is selected but neither aggregated nor in GROUP BY.`, { field: 'query' });
      continue;
    }
    if (groupBy.length > 0) {
      if (!(it.fn === 'COUNT' && it.star)) throw badInput('DP SQL: with GROUP BY only COUNT(*) is supported (a DP histogram over the grouping columns).', { field: 'query' });
      items.push({ label, request: { aggregate: 'histogram', by: groupBy, where } });
      continue;
    }
    if (it.fn === 'COUNT') {
      if (it.star) items.push({ label, request: { aggregate: 'count', where } });
      else if (it.distinct && (column(it.arg!).name === ds.privacyUnit || ds.privacyUnit === 'row'))
        items.push({ label, request: { aggregate: 'countDistinct', where } });
      else throw badInput(`DP SQL: COUNT(DISTINCT ...) is supported on the privacy unit (${ds.privacyUnit}) only; COUNT(col) is not.`, { field: 'query' });
      continue;
    }
    const kind = AGG[it.fn];
    if (!kind) throw badInput(`DP SQL: ${it.fn} is not a supported aggregate (COUNT, SUM, AVG, VARIANCE, STDDEV, MEDIAN, QUANTILE).`, { field: 'query' });
    const q = it.fn === 'MEDIAN' ? 0.5 : it.q;
    items.push({ label, request: { aggregate: kind, column: column(it.arg!).name, q, where } });
  }
  if (items.length === 0) throw badInput('DP SQL: select at least one aggregate.', { field: 'query' });
  return { dataset: ds, items, groupBy, normalized: sql.trim().replace(/\s+/g, ' ') };
}

function selectItem(p: Parser) {
  const name = p.ident('an aggregate such as COUNT(*)');
  const fn = name.toUpperCase();
  let item: { fn: string; arg?: string; distinct?: boolean; q?: number; alias?: string; star?: boolean };
  if (!p.punct('(')) item = { fn: 'COLUMN', arg: name };
  else if (fn === 'COUNT' && p.punct('*')) {
    p.expectPunct(')');
    item = { fn, star: true };
  } else {
    const distinct = p.keyword('DISTINCT');
    const arg = p.ident('a column');
    let q: number | undefined;
    if (fn === 'QUANTILE') {
      p.expectPunct(',');
      const v = p.literal();
      if (typeof v !== 'number') p.fail('QUANTILE needs a number q in (0, 1)');
      q = v;
    }
    p.expectPunct(')');
    item = { fn, arg, distinct, q };
  }
  if (p.keyword('AS')) item.alias = p.ident('an alias');
  return item;
}

function condition(p: Parser, column: (n: string) => { name: string; type: string }, where: WhereInput) {
  const c = column(p.ident('a column'));
  const f: ColumnFilter = (where[c.name] ??= {}) as ColumnFilter;
  const set = (k: keyof ColumnFilter, v: unknown) => {
    if ((f as Record<string, unknown>)[k] !== undefined) p.fail(`two conditions of the same kind on ${c.name}`);
    (f as Record<string, unknown>)[k] = v;
  };
  if (p.keyword('IN')) {
    p.expectPunct('(');
    const values: (string | number)[] = [];
    do values.push(p.literal());
    while (p.punct(','));
    p.expectPunct(')');
    return set('in', values);
  }
  if (p.keyword('BETWEEN')) {
    const lo = p.literal();
    p.expectKeyword('AND');
    const hi = p.literal();
    set('gte', lo);
    return set('lte', hi);
  }
  const op = p.peek();
  if (op?.kind !== 'op') p.fail('expected a comparison (=, >=, <=, >, <, IN, BETWEEN)');
  p.next();
  const v = p.literal();
  switch (op.text) {
    case '=':
      return set('eq', v);
    case '>=':
      return set('gte', v);
    case '<=':
      return set('lte', v);
    case '>':
    case '<':
      if (c.type !== 'integer' || typeof v !== 'number' || !Number.isInteger(v)) p.fail(`strict ${op.text} is supported on integer columns only; use >= or <=`);
      return set(op.text === '>' ? 'gte' : 'lte', op.text === '>' ? v + 1 : v - 1);
    default:
      return p.fail(`${op.text} is not supported (it cannot be answered from bounded contributions more cheaply than two queries)`);
  }
}

/** The privacy of each item: the caller's epsilon (or the default) split equally over the items. */
export function itemPrivacy(domain: DomainDeclaration, privacy: PrivacyRequest | null | undefined, items: number): PrivacyRequest {
  if (privacy?.accuracy) throw badInput('DP SQL takes epsilon (split over the selected aggregates), not an accuracy target.', { field: 'privacy.accuracy' });
  const epsilon = privacy?.epsilon ?? domain.policy.defaultEpsilon;
  if (!(epsilon > 0 && Number.isFinite(epsilon))) throw badInput('epsilon must be positive.', { field: 'privacy.epsilon' });
  return { ...privacy, epsilon: epsilon / items };
}
