import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { RelationBuilder } from '../core/relation.js';
import { loc, refuse, tag, type Node } from './parse.js';

/**
 * The FROM clause: which relation the statement reads and how its names resolve. A scope maps
 * the names an analyst may write (`c.region`, `region`, `p.drugClass`) to the relation's column
 * names in the plan IR (`clinics.region`, `prescriptions.drugClass`). Names compare
 * case-insensitively, as PostgreSQL folds unquoted identifiers.
 */
export interface Scope {
  rel: RelationBuilder;
  /** qualifier (lower case) -> column (lower case) -> relation column name. */
  tables: Map<string, Map<string, string>>;
  /** Relation column of the privacy unit (absent for row-level data). */
  unit?: string;
  /** Declared dataset of each relation column (for types in results). */
  sensitive: boolean;
}

export interface CompileContext {
  domain: DomainDeclaration;
  ctes: Map<string, (alias: string) => Scope>;
  /** Compiles a WHERE clause against a scope (injected to avoid a cycle). */
  where: (node: Node, scope: Scope) => RelationBuilder;
}

/** Public (open) data replicated into a sensitive domain: its rows may be joined on a public key. */
export const isPublic = (ds: DatasetDeclaration) => ds.access === 'public';

export function datasetByName(domain: DomainDeclaration, name: string, location?: number): DatasetDeclaration {
  const lower = name.toLowerCase();
  const ds = domain.datasets.find((d) => d.name.toLowerCase() === lower || d.table === lower);
  if (!ds) refuse(`no dataset "${name}" in ${domain.name} (datasets: ${domain.datasets.map((d) => d.name).join(', ')})`, location, 'FROM');
  return ds;
}

function sourceScope(ds: DatasetDeclaration, alias: string): Scope {
  const cols = new Map(ds.columns.map((c) => [c.name.toLowerCase(), c.name]));
  return { rel: RelationBuilder.from(ds), tables: new Map([[alias.toLowerCase(), cols]]), unit: ds.privacyUnit === 'row' ? undefined : ds.privacyUnit, sensitive: !isPublic(ds) };
}

/** Resolves a column reference (`col` or `qualifier.col`) to a relation column name. */
export function resolveColumn(scope: Scope, ref: Node): string {
  const fields = (ref.fields as Node[]).map((f) => (f.String ? String(f.String.sval) : '*'));
  const where = ref.location as number | undefined;
  if (fields.includes('*')) refuse('* is only allowed in COUNT(*)', where, '*');
  if (fields.length > 2) refuse(`"${fields.join('.')}": use column or table.column`, where, 'qualified name');
  const [qualifier, column] = fields.length === 2 ? [fields[0]!.toLowerCase(), fields[1]!.toLowerCase()] : [undefined, fields[0]!.toLowerCase()];
  if (qualifier) {
    const t = scope.tables.get(qualifier);
    if (!t) refuse(`no table "${fields[0]}" in FROM`, where, 'column');
    const c = t.get(column);
    if (!c) refuse(`"${fields[1]}" is not a column of ${fields[0]}`, where, 'column');
    return c;
  }
  const hits = [...new Set([...scope.tables.values()].map((t) => t.get(column)).filter((c): c is string => c !== undefined))];
  if (hits.length === 0) refuse(`"${fields[0]}" is not a column here (columns: ${[...new Set([...scope.tables.values()].flatMap((t) => [...t.keys()]))].join(', ')})`, where, 'column');
  if (hits.length > 1) refuse(`"${fields[0]}" is ambiguous: qualify it with its table`, where, 'column');
  return hits[0]!;
}

/** The FROM clause as one scope: a dataset, a CTE, a filtering subquery, or inner joins of those. */
export function fromClause(from: Node[] | undefined, ctx: CompileContext, position: number): Scope {
  if (!from || from.length === 0) refuse('a DP query reads FROM a dataset', position, 'FROM');
  if (from.length > 1) refuse('comma-separated FROM items are a cross join, whose contribution cannot be bounded: use JOIN ... ON', loc(from[1]), 'cross join');
  return fromItem(from[0]!, ctx);
}

function fromItem(n: Node, ctx: CompileContext): Scope {
  switch (tag(n)) {
    case 'RangeVar': {
      const rv = n.RangeVar;
      if (rv.schemaname) refuse(`schema-qualified names are not supported ("${rv.schemaname}.${rv.relname}")`, rv.location, 'schema');
      const alias = rv.alias?.aliasname ?? rv.relname;
      if (rv.alias?.colnames) refuse('column aliases in FROM are not supported', rv.location, 'alias');
      const cte = ctx.ctes.get(String(rv.relname).toLowerCase());
      if (cte) return cte(alias);
      return sourceScope(datasetByName(ctx.domain, rv.relname, rv.location), alias);
    }
    case 'JoinExpr':
      return joinScope(n.JoinExpr, ctx);
    case 'RangeSubselect': {
      const rs = n.RangeSubselect;
      const at = rs.subquery.SelectStmt?.targetList?.[0]?.ResTarget?.location;
      if (rs.lateral) refuse('LATERAL subqueries are not supported', at, 'LATERAL');
      if (!rs.alias) refuse('a subquery in FROM needs an alias', at, 'subquery');
      return subqueryScope(rs.subquery.SelectStmt, ctx, rs.alias.aliasname);
    }
    case 'RangeFunction':
      return refuse('table functions cannot be bounded', loc((n.RangeFunction.functions?.[0]?.List?.items ?? [])[0]), 'table function');
    default:
      return refuse(`${tag(n)} in FROM is not supported`, loc(n), tag(n));
  }
}

/**
 * A subquery (or CTE) that only filters, projects and renames: the same relation with a WHERE and
 * new names. Anything that aggregates, deduplicates, sorts or limits changes what a unit
 * contributes, and is refused.
 */
export function subqueryScope(s: Node, ctx: CompileContext, alias: string): Scope {
  const where = s.targetList?.[0]?.ResTarget?.location ?? 0;
  if (s.op && s.op !== 'SETOP_NONE') refuse(`${String(s.op).replace('SETOP_', '')} (set operations) cannot be bounded`, where, String(s.op).replace('SETOP_', ''));
  const forbidden: [string, string][] = [
    ['groupClause', 'GROUP BY'],
    ['havingClause', 'HAVING'],
    ['distinctClause', 'DISTINCT'],
    ['sortClause', 'ORDER BY'],
    ['limitCount', 'LIMIT'],
    ['limitOffset', 'OFFSET'],
    ['windowClause', 'WINDOW'],
    ['withClause', 'WITH'],
    ['valuesLists', 'VALUES'],
    ['lockingClause', 'FOR UPDATE'],
  ];
  for (const [k, name] of forbidden) if (s[k]) refuse(`a subquery may only filter, project or rename: ${name} inside it is not supported`, where, name);
  const inner = fromClause(s.fromClause, ctx, where);
  const rel = s.whereClause ? ctx.where(s.whereClause, inner) : inner.rel;
  const cols = new Map<string, string>();
  for (const t of s.targetList as Node[]) {
    const rt = t.ResTarget;
    const v = rt.val as Node;
    if (tag(v) === 'ColumnRef' && v.ColumnRef.fields.some((f: Node) => f.A_Star)) {
      const q = v.ColumnRef.fields.length === 2 ? String(v.ColumnRef.fields[0].String.sval).toLowerCase() : undefined;
      for (const [name, table] of inner.tables) if (!q || q === name) for (const [k, c] of table) cols.set(k, c);
      continue;
    }
    if (tag(v) !== 'ColumnRef') refuse('a subquery may only select columns (computed columns and aggregates belong to the outer query)', rt.location, tag(v));
    const c = resolveColumn(inner, v.ColumnRef);
    const name = String(rt.name ?? (v.ColumnRef.fields.at(-1).String.sval as string)).toLowerCase();
    if (cols.has(name) && cols.get(name) !== c) refuse(`the subquery names two columns "${name}"`, rt.location, 'alias');
    cols.set(name, c);
  }
  return { rel, tables: new Map([[alias.toLowerCase(), cols]]), unit: inner.unit, sensitive: inner.sensitive };
}

/** The two sides' key columns of an equi-join: `ON a.x = b.y` or `USING (x)`. */
function joinKeys(j: Node, left: Scope, right: Scope): [string, string] {
  if (j.usingClause) {
    if (j.usingClause.length !== 1) refuse('join on one key column', loc(j.larg), 'USING');
    const name = String(j.usingClause[0].String.sval);
    const ref = { fields: [{ String: { sval: name } }], location: loc(j.larg) };
    return [resolveColumn(left, ref), resolveColumn(right, ref)];
  }
  const q = j.quals as Node | undefined;
  if (!q) refuse('a JOIN needs ON <left key> = <right key>', loc(j.larg), 'JOIN');
  const e = q.A_Expr;
  if (!e || e.kind !== 'AEXPR_OP' || e.name?.[0]?.String?.sval !== '=' || tag(e.lexpr) !== 'ColumnRef' || tag(e.rexpr) !== 'ColumnRef')
    refuse('a JOIN condition must be one equality of two columns (ON a.key = b.key); put other conditions in WHERE', loc(q) ?? e?.location, 'join condition');
  const tryBoth = (a: Node, b: Node): [string, string] | undefined => {
    try {
      return [resolveColumn(left, a.ColumnRef), resolveColumn(right, b.ColumnRef)];
    } catch {
      return undefined;
    }
  };
  const keys = tryBoth(e.lexpr, e.rexpr) ?? tryBoth(e.rexpr, e.lexpr);
  if (!keys) refuse('the join condition must compare a column of the left side with a column of the right side', e.location, 'join condition');
  return keys;
}

function joinScope(j: Node, ctx: CompileContext): Scope {
  if (j.jointype !== 'JOIN_INNER') refuse(`${String(j.jointype).replace('JOIN_', '')} JOIN is not supported (inner joins only: an outer join's unmatched rows are not bounded by the stability analysis)`, loc(j.larg), `${String(j.jointype).replace('JOIN_', '')} JOIN`);
  if (j.isNatural) refuse('NATURAL JOIN is not supported: name the key with ON or USING', loc(j.larg), 'NATURAL JOIN');
  if (!j.quals && !j.usingClause) refuse('CROSS JOIN cannot be bounded', loc(j.rarg), 'CROSS JOIN');
  const left = fromItem(j.larg, ctx);
  const right = fromItem(j.rarg, ctx);
  const [lk, rk] = joinKeys(j, left, right);
  const publicOf = (s: Scope) => (!s.sensitive && s.rel.relation.op === 'source' ? s.rel.relation.dataset : undefined);
  if (left.sensitive && right.sensitive) {
    // Two sensitive datasets of one domain: only rows of the same unit may meet (a*b pairs per unit).
    if (lk !== left.unit || rk !== right.unit)
      refuse(`two sensitive datasets join only on their privacy unit (${left.unit ?? 'row'} = ${right.unit ?? 'row'}): a join on other keys lets one person's rows meet unboundedly many others'`, j.quals ? loc(j.quals) : loc(j.larg), 'join key');
    const rds = right.rel.relation.op === 'source' ? right.rel.relation.dataset : right.rel.relation.op === 'filter' && right.rel.relation.input.op === 'source' ? right.rel.relation.input.dataset : undefined;
    if (!rds) refuse('the right side of a join on the privacy unit must be one dataset (optionally filtered)', loc(j.rarg), 'join');
    const renamed = new Map([...right.tables].map(([q, cols]) => [q, new Map([...cols].map(([k, c]) => [k, c === right.unit ? left.unit! : `${rds.name}.${c}`]))]));
    return { rel: left.rel.joinOnUnit(right.rel), tables: new Map([...left.tables, ...renamed]), unit: left.unit, sensitive: true };
  }
  const [sens, pub, sensKey, pubKey] = left.sensitive ? [left, right, lk, rk] : [right, left, rk, lk];
  const table = publicOf(pub);
  if (!sens.sensitive || !table) refuse('a join needs one sensitive side and, on the other, a sensitive dataset (on the privacy unit) or a public table (on its key)', loc(j.larg), 'join');
  if (sensKey === sens.unit) refuse('a public table cannot be joined on the privacy unit (its values are not public)', j.quals ? loc(j.quals) : loc(j.larg), 'join key');
  if (!table.key || pubKey !== table.key)
    refuse(`${table.name} joins on its declared key ${table.key ?? '(none declared)'}: one row per key, so each sensitive row meets at most one public row`, j.quals ? loc(j.quals) : loc(j.larg), 'join key');
  // The public side's columns appear as <table>.<column> in the relation (src/core/stability.ts).
  const renamed = new Map([...pub.tables].map(([q, cols]) => [q, new Map([...cols].map(([k, c]) => [k, `${table.name}.${c}`]))]));
  return { rel: sens.rel.joinPublic(table, sensKey, pubKey, 1), tables: new Map([...sens.tables, ...renamed]), unit: sens.unit, sensitive: true };
}
