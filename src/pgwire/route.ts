import { loadModule, parseSync } from 'libpg-query';
import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { WireError } from './errors.js';

/**
 * Where a statement goes, decided on PostgreSQL's own parse tree (libpg-query is the server's
 * grammar compiled to WebAssembly, so psql's and JDBC's catalog SQL parses exactly as on a server):
 *
 * - a statement that reads a dataset (a RangeVar naming <domain>.<dataset>) goes to the domain's DP
 *   SQL (sensitive: the whole statement, names made domain-local) or to its rows connection (open),
 *   and nowhere else;
 * - SET/SHOW/RESET and transaction control stay in the session (nothing is stored, so they are no-ops);
 * - anything else is metadata, answered by the empty catalog database.
 */
export interface DatasetRef {
  domain: DomainDeclaration;
  dataset: DatasetDeclaration;
  /** Offsets of the schema-qualified name in the statement text. */
  start: number;
  end: number;
}

export type Route =
  | { kind: 'empty' }
  | { kind: 'set'; name: string; value: string }
  | { kind: 'reset'; name: string | null }
  | { kind: 'show'; name: string }
  | { kind: 'noop'; tag: string }
  | { kind: 'dataset'; explain: boolean; ref: DatasetRef; refs: DatasetRef[]; select: SelectNode; sql: string; params: ParamSpan[]; bodyStart: number }
  | { kind: 'catalog'; sql: string };

export type SelectNode = Record<string, any>;
export interface ParamSpan {
  number: number;
  start: number;
  end: number;
}

await loadModule();

/** Splits a simple-query string into statements and routes each. */
export function routeAll(text: string, domains: DomainDeclaration[], searchPath: string): Route[] {
  let tree: { stmts: { stmt: Record<string, any>; stmt_location?: number; stmt_len?: number }[] };
  if (text.trim() === '') return [{ kind: 'empty' }];
  try {
    tree = parseSync(text) as never;
  } catch (e) {
    const pos = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails?.cursorPosition;
    throw new WireError('42601', (e as Error).message, pos === undefined ? undefined : { position: pos + 1 });
  }
  if (tree.stmts.length === 0) return [{ kind: 'empty' }];
  return tree.stmts.map((s) => {
    const start = s.stmt_location ?? 0;
    const sql = text.slice(start, s.stmt_len ? start + s.stmt_len : undefined);
    return routeOne(s.stmt, sql, start, domains, searchPath);
  });
}

function routeOne(stmt: Record<string, any>, sql: string, offset: number, domains: DomainDeclaration[], searchPath: string): Route {
  const [type, node] = Object.entries(stmt)[0]!;
  switch (type) {
    case 'VariableSetStmt':
      return setRoute(node);
    case 'VariableShowStmt':
      return { kind: 'show', name: String(node.name).toLowerCase() };
    case 'TransactionStmt':
      return { kind: 'noop', tag: transactionTag(node.kind) };
    case 'DiscardStmt':
      return { kind: 'noop', tag: 'DISCARD ALL' };
    case 'DeallocateStmt':
      return { kind: 'noop', tag: 'DEALLOCATE' };
  }
  const explain = type === 'ExplainStmt';
  const refs = datasetRefs(stmt, domains, searchPath, offset, sql);
  if (refs.length === 0) return { kind: 'catalog', sql };
  const select = explain ? node.query?.SelectStmt : type === 'SelectStmt' ? node : undefined;
  const domain = refs[0]!.domain;
  const from = select?.fromClause;
  if (!select) throw new WireError('0A000', `datasets are read by SELECT (or EXPLAIN SELECT) only`);
  if (refs.some((r) => r.domain !== domain)) throw new WireError('0A000', `one statement reads one domain: ${[...new Set(refs.map((r) => r.domain.name))].join(' and ')} are separate (each answers with its own budget)`);
  // Open data is served as plain row reads; sensitive domains get the whole statement (joins with
  // their public tables, CTEs, post-processing): DP SQL decides what it can bound.
  const plain = !select.withClause && (select.op ?? 'SETOP_NONE') === 'SETOP_NONE' && from?.length === 1 && from[0].RangeVar && refs.length === 1 && countNodes(stmt, 'RangeVar') === 1 && countNodes(stmt, 'SubLink') === 0;
  if (domain.sensitivity !== 'sensitive' && !plain) throw new WireError('0A000', `open data is read by one plain SELECT ... FROM ${domain.name}.${refs[0]!.dataset.table} (no joins, subqueries, CTEs or set operations)`);
  const params: ParamSpan[] = [];
  walk(select, (k, v) => {
    if (k === 'ParamRef') {
      const start = v.location - offset;
      params.push({ number: v.number, start, end: start + 1 + String(v.number).length });
    }
  });
  // EXPLAIN [options] SELECT ...: options are keywords, so the query starts at the first SELECT.
  const bodyStart = explain ? sql.search(/\bselect\b/i) : 0;
  return { kind: 'dataset', explain, ref: refs[0]!, refs, select, sql, params, bodyStart: Math.max(0, bodyStart) };
}

function setRoute(node: Record<string, any>): Route {
  const name = String(node.name ?? '').toLowerCase();
  switch (node.kind) {
    case 'VAR_SET_VALUE':
      return { kind: 'set', name: name === 'timezone' ? 'timezone' : name, value: (node.args ?? []).map(constText).join(', ') };
    case 'VAR_SET_DEFAULT':
    case 'VAR_RESET':
      return { kind: 'reset', name };
    case 'VAR_RESET_ALL':
      return { kind: 'reset', name: null };
    default:
      return { kind: 'noop', tag: 'SET' };
  }
}

/** Text of a constant (A_Const, possibly under a TypeCast), as SHOW would print it. */
export function constText(n: Record<string, any>): string {
  const c = n.A_Const ?? n.TypeCast?.arg?.A_Const;
  if (!c) throw new WireError('22023', 'expected a constant value');
  if (c.isnull) return '';
  if (c.sval) return c.sval.sval ?? '';
  if (c.ival) return String(c.ival.ival ?? 0);
  if (c.fval) return String(c.fval.fval);
  if (c.boolval) return c.boolval.boolval ? 'on' : 'off';
  return '0';
}

function transactionTag(kind: string): string {
  if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') return 'BEGIN';
  if (kind === 'TRANS_STMT_COMMIT') return 'COMMIT';
  if (kind === 'TRANS_STMT_ROLLBACK') return 'ROLLBACK';
  return kind.replace('TRANS_STMT_', '').replace(/_/g, ' ');
}

/** Every RangeVar naming a dataset: schema = domain, or unqualified and found along search_path. */
function datasetRefs(stmt: Record<string, any>, domains: DomainDeclaration[], searchPath: string, offset: number, sql: string): DatasetRef[] {
  const path = searchPath.split(',').map((s) => s.trim().replace(/^"|"$/g, '').toLowerCase());
  const out: DatasetRef[] = [];
  walk(stmt, (k, v) => {
    if (k !== 'RangeVar') return;
    const candidates = v.schemaname ? domains.filter((d) => d.name.toLowerCase() === String(v.schemaname).toLowerCase()) : path.map((p) => domains.find((d) => d.name.toLowerCase() === p)).filter((d): d is DomainDeclaration => !!d);
    for (const domain of candidates) {
      const dataset = domain.datasets.find((ds) => ds.table === String(v.relname).toLowerCase() || ds.name.toLowerCase() === String(v.relname).toLowerCase());
      if (!dataset) continue;
      const start = v.location - offset;
      out.push({ domain, dataset, start, end: start + qualifiedNameLength(sql, start) });
      return;
    }
  });
  return out;
}

/**
 * Length of the (possibly quoted, possibly schema-qualified) relation name the parser located at
 * `start`: identifier parts separated by dots, each bare or double-quoted.
 */
function qualifiedNameLength(sql: string, start: number): number {
  let i = start;
  for (;;) {
    if (sql[i] === '"') {
      i++;
      while (i < sql.length && !(sql[i] === '"' && sql[i + 1] !== '"')) i += sql[i] === '"' ? 2 : 1;
      i++;
    } else while (i < sql.length && /[\p{L}\p{N}_$]/u.test(sql[i]!)) i++;
    let j = i;
    while (/\s/.test(sql[j] ?? '')) j++;
    if (sql[j] !== '.') return i - start;
    j++;
    while (/\s/.test(sql[j] ?? '')) j++;
    i = j;
  }
}

export function walk(node: unknown, visit: (key: string, value: any) => void): void {
  if (Array.isArray(node)) for (const x of node) walk(x, visit);
  else if (node && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (v && typeof v === 'object') visit(k, v);
      walk(v, visit);
    }
}

function countNodes(node: unknown, type: string): number {
  let n = 0;
  walk(node, (k) => void (k === type && n++));
  return n;
}
