import { and, between, checkPredicate, cmp, isIn, not, or, type Comparison, type Predicate, type Scalar } from '../core/predicate.js';
import { schemaOf } from '../core/stability.js';
import { MeshError } from '../errors.js';
import { loc, refuse, tag, type Node } from './parse.js';
import { resolveColumn, type Scope } from './scope.js';

/**
 * WHERE clauses as plan-IR predicates (src/core/predicate.ts): AND, OR, NOT, comparisons, IN,
 * BETWEEN, IS [NOT] NULL and LIKE, each between ONE column and constants. The core validates the
 * values against the column's declared type and public categories; a predicate on one row keeps or
 * drops that row, so any of them is stable with constant 1.
 */
export function predicateOf(n: Node, scope: Scope): Predicate {
  const columns = schemaOf(scope.rel.relation).columns;
  return visit(n, scope, (p, at) => {
    // Each condition is checked where it is written, so a bad value is refused with its position.
    try {
      checkPredicate(p, columns);
    } catch (e) {
      if (e instanceof MeshError) refuse(e.message.replace(/^where: /, '').replace(/\.$/, ''), at, 'value');
      throw e;
    }
    return p;
  });
}

type Check = (p: Predicate, at: number | undefined) => Predicate;

function visit(n: Node, scope: Scope, check: Check): Predicate {
  const predicateOf = (m: Node, s: Scope) => visit(m, s, check);
  switch (tag(n)) {
    case 'BoolExpr': {
      const b = n.BoolExpr;
      const args = (b.args as Node[]).map((a) => predicateOf(a, scope));
      return b.boolop === 'AND_EXPR' ? and(...args) : b.boolop === 'OR_EXPR' ? or(...args) : not(args[0]!);
    }
    case 'NullTest': {
      const t = n.NullTest;
      const column = columnOf(t.arg, scope, 'IS NULL');
      return check(t.nulltesttype === 'IS_NULL' ? { op: 'isNull', column } : not({ op: 'isNull', column }), t.location);
    }
    case 'A_Expr':
      return check(exprPredicate(n.A_Expr, scope), n.A_Expr.location);
    case 'A_Const':
      if (n.A_Const.boolval) return n.A_Const.boolval.boolval ? and() : not(and());
      return refuse('a condition compares a column with a value', n.A_Const.location, 'constant');
    case 'SubLink':
      return refuse('subqueries in WHERE (IN/EXISTS (SELECT ...)) cannot be bounded', n.SubLink.location, 'SubLink');
    case 'FuncCall':
      return refuse(`function ${funcName(n.FuncCall)}() in WHERE is not supported: compare declared columns with constants`, n.FuncCall.location, funcName(n.FuncCall));
    default:
      return refuse(`${tag(n)} is not a supported condition`, loc(n), tag(n));
  }
}

const FLIP: Record<string, string> = { '<': '>', '>': '<', '<=': '>=', '>=': '<=', '=': '=', '<>': '<>', '!=': '<>' };

function exprPredicate(e: Node, scope: Scope): Predicate {
  const op = String(e.name?.[0]?.String?.sval ?? '');
  switch (e.kind) {
    case 'AEXPR_OP': {
      if (!FLIP[op]) refuse(`operator ${op} is not a supported condition`, e.location, op);
      let [col, val, o] = [e.lexpr, e.rexpr, op];
      if (tag(col) !== 'ColumnRef' && tag(val) === 'ColumnRef') [col, val, o] = [val, col, FLIP[op]!];
      if (tag(val) === 'ColumnRef') refuse('comparing two columns is not supported: compare a column with a constant', e.location, 'column comparison');
      const column = columnOf(col, scope, o);
      const value = constant(val);
      if (o === '=') return isIn(column, [value]);
      if (o === '<>' || o === '!=') return typeof value === 'number' ? cmp(column, '<>', value) : not(isIn(column, [value]));
      return cmp(column, o as Comparison, value);
    }
    case 'AEXPR_IN': {
      const column = columnOf(e.lexpr, scope, 'IN');
      if (tag(e.rexpr) !== 'List') refuse('IN takes a list of constants', e.location, 'IN');
      const p = isIn(column, (e.rexpr.List.items as Node[]).map(constant));
      return op === '<>' ? not(p) : p;
    }
    case 'AEXPR_BETWEEN':
    case 'AEXPR_NOT_BETWEEN': {
      const column = columnOf(e.lexpr, scope, 'BETWEEN');
      const [lo, hi] = (e.rexpr.List.items as Node[]).map(constant);
      const p = between(column, lo!, hi!);
      return e.kind === 'AEXPR_NOT_BETWEEN' ? not(p) : p;
    }
    case 'AEXPR_BETWEEN_SYM':
    case 'AEXPR_NOT_BETWEEN_SYM':
      return refuse('BETWEEN SYMMETRIC is not supported', e.location, 'BETWEEN SYMMETRIC');
    case 'AEXPR_LIKE': {
      const column = columnOf(e.lexpr, scope, 'LIKE');
      const pattern = constant(e.rexpr);
      if (typeof pattern !== 'string') refuse('LIKE takes a string pattern', e.location, 'LIKE');
      const p: Predicate = { op: 'like', column, pattern };
      return op === '!~~' ? not(p) : p;
    }
    case 'AEXPR_ILIKE':
      return refuse('ILIKE is not supported (categories are case-sensitive; use LIKE or IN)', e.location, 'ILIKE');
    case 'AEXPR_SIMILAR':
      return refuse('SIMILAR TO is not supported (use LIKE)', e.location, 'SIMILAR TO');
    case 'AEXPR_DISTINCT':
    case 'AEXPR_NOT_DISTINCT':
      return refuse('IS [NOT] DISTINCT FROM is not supported (use = with IS NULL)', e.location, 'IS DISTINCT FROM');
    default:
      return refuse(`${String(e.kind).replace('AEXPR_', '')} is not a supported condition`, e.location, String(e.kind));
  }
}

function columnOf(n: Node, scope: Scope, what: string): string {
  if (tag(n) === 'FuncCall') refuse(`function ${funcName(n.FuncCall)}() in WHERE is not supported: compare declared columns with constants`, n.FuncCall.location, funcName(n.FuncCall));
  if (tag(n) !== 'ColumnRef') refuse(`${what} applies to a declared column, not to an expression`, loc(n), 'expression');
  return resolveColumn(scope, n.ColumnRef);
}

/** A literal (optionally negated or cast): the core checks it against the column's type. */
export function constant(n: Node): Scalar {
  switch (tag(n)) {
    case 'A_Const': {
      const c = n.A_Const;
      if (c.isnull) refuse('compare with NULL using IS NULL', c.location, 'NULL');
      if (c.sval) return String(c.sval.sval ?? '');
      if (c.ival) return Number(c.ival.ival ?? 0);
      if (c.fval) return Number(c.fval.fval);
      if (c.boolval) refuse('boolean constants are not column values', c.location, 'boolean');
      return refuse('unsupported constant', c.location, 'constant');
    }
    case 'TypeCast':
      return constant(n.TypeCast.arg);
    case 'A_Expr': {
      const e = n.A_Expr;
      if (e.kind === 'AEXPR_OP' && e.name?.[0]?.String?.sval === '-' && !e.lexpr) {
        const v = constant(e.rexpr);
        if (typeof v === 'number') return -v;
      }
      return refuse('expected a constant', e.location, 'expression');
    }
    default:
      return refuse('expected a constant', loc(n), tag(n));
  }
}

export const funcName = (f: Node) => (f.funcname as Node[]).map((x) => x.String?.sval).join('.');
