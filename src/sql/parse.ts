import { loadModule, parseSync } from 'libpg-query';
import { badInput } from '../errors.js';

/**
 * DP SQL is parsed by PostgreSQL's own grammar (libpg_query compiled to WASM, the `libpg-query`
 * package): every statement a PostgreSQL server accepts parses the same way here, so the compiler
 * sees exactly what the analyst wrote, with each node's character position for precise refusals.
 * Nothing is tokenised by hand.
 */
export type Node = Record<string, any>;

/** The WASM module loads once per process (a few ms); parsing is synchronous after that. */
await loadModule();

export const MAX_SQL_LENGTH = 8000;

/** A refusal naming the construct and where it is (1-based character position). */
export function refuse(message: string, location?: number, construct?: string): never {
  const at = location != null && location >= 0 ? location + 1 : null;
  throw badInput(`DP SQL: ${message}${at ? ` (at position ${at})` : ''}.`, { field: 'query', position: at, construct: construct ?? null });
}

/** One statement's parse tree, or BAD_USER_INPUT (syntax errors keep PostgreSQL's message and position). */
export function parseStatement(sql: string): Node {
  if (typeof sql !== 'string' || sql.trim() === '') refuse('the query is empty');
  if (sql.length > MAX_SQL_LENGTH) refuse(`the query is longer than ${MAX_SQL_LENGTH} characters`);
  if (sql.includes('\u0000')) refuse('the query contains a NUL character');
  let tree: { stmts?: { stmt: Node; stmt_location?: number }[] };
  try {
    tree = parseSync(sql) as never;
  } catch (e) {
    const details = (e as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    refuse(`syntax error: ${(e as Error).message}`, details?.cursorPosition, 'syntax');
  }
  const stmts = tree.stmts ?? [];
  if (stmts.length !== 1) refuse(`one statement per request (got ${stmts.length})`, stmts[1]?.stmt_location, 'multiple statements');
  const stmt = stmts[0]!.stmt;
  const kind = Object.keys(stmt)[0]!;
  if (kind === 'ExplainStmt') refuse('use the explain argument instead of EXPLAIN', stmts[0]!.stmt_location ?? 0, 'EXPLAIN');
  if (kind !== 'SelectStmt') refuse(`only SELECT is supported, not ${statementName(kind)}`, stmts[0]!.stmt_location ?? 0, statementName(kind));
  return stmt.SelectStmt as Node;
}

const STATEMENTS: Record<string, string> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  CreateStmt: 'CREATE TABLE',
  DropStmt: 'DROP',
  TruncateStmt: 'TRUNCATE',
  CopyStmt: 'COPY',
  CreateTableAsStmt: 'CREATE TABLE AS',
  VariableSetStmt: 'SET',
  TransactionStmt: 'a transaction statement',
  CallStmt: 'CALL',
  DoStmt: 'DO',
};
const statementName = (kind: string) => STATEMENTS[kind] ?? kind.replace(/Stmt$/, '').toUpperCase();

/** The single key of a parse node ({ ColumnRef: {...} } -> 'ColumnRef'). */
export const tag = (n: Node): string => Object.keys(n)[0]!;
/** The node's position, wherever the grammar put it. */
export function loc(n: Node | undefined): number | undefined {
  if (!n) return undefined;
  const inner = n[tag(n)];
  return typeof inner?.location === 'number' ? inner.location : undefined;
}
