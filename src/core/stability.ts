import type { ColumnDeclaration, DatasetDeclaration } from '../domain/declaration.js';
import { badInput } from '../errors.js';
import { checkPredicate } from './predicate.js';
import type { Relation } from './relation.js';
import type { ColumnInfo, RelationSchema } from './schema.js';

/**
 * Stability maps of the relational operators. The input distance is always "one privacy unit
 * added or removed"; each operator maps the bound on how much that unit contributes to its input
 * (rows, groups, rows per group) to the bound on its output. `schemaOf` walks a relation tree
 * bottom-up and returns its output columns with that bound, or fails with the reason the
 * contribution cannot be bounded.
 *
 * Proof obligations, per operator (d = the unit's contribution; all other units' rows unchanged):
 *  - source: row-level datasets d = 1 row; unit-level d = unbounded until a bound.
 *  - filter: a predicate on one row keeps or drops that row: d_out <= d_in.
 *  - joinPublic: each row of the unit meets at most k public rows (k public, from public data):
 *    d_out <= k d_in. Other units' joined rows do not depend on the unit.
 *  - joinOnUnit: only rows with the same unit value meet, so the unit's output rows are its a*b
 *    pairs: d_out <= d_left * d_right; no other unit's output changes.
 *  - derive: a value computed from one row's own columns, one row out per row in: d_out = d_in.
 *  - bound: per-unit truncation decided on the unit's own rows: d_out <= min(d_in, maxRows) (and
 *    with groups: at most maxGroups groups, perGroup rows each), whatever d_in was. Without a unit
 *    column (row-level data) there is nothing to truncate by: d_out = d_in.
 */
export interface Contribution {
  /** Max rows one unit contributes (Infinity: unbounded). */
  rows: number;
  /** Max groups one unit contributes to, and rows in each, once grouped. */
  groups?: { by: string[]; maxGroups: number; perGroup: number };
}

export function schemaOf(r: Relation): RelationSchema {
  return analyse(r).schema;
}

/**
 * Checks a relation and returns it in canonical form (validated, canonical predicates, adjacent
 * filters merged) with its schema: equivalent relations become one, so they share a memo key.
 */
export function analyse(r: Relation): { relation: Relation; schema: RelationSchema } {
  switch (r.op) {
    case 'source':
      return { relation: r, schema: sourceSchema(r.dataset) };
    case 'filter': {
      const input = analyse(r.input);
      const merged = input.relation.op === 'filter' ? { op: 'and' as const, args: [input.relation.predicate, r.predicate] } : r.predicate;
      const below = input.relation.op === 'filter' ? input.relation.input : input.relation;
      const predicate = checkPredicate(merged, input.schema.columns);
      if (predicate.op === 'true') return { relation: below, schema: input.schema };
      return { relation: { op: 'filter', input: below, predicate }, schema: { ...input.schema, contribution: { ...input.schema.contribution } } };
    }
    case 'joinPublic': {
      const input = analyse(r.input);
      return { relation: { ...r, input: input.relation }, schema: joinPublicSchema(input.schema, r.table, r.leftKey, r.rightKey, r.multiplicity) };
    }
    case 'joinOnUnit': {
      const left = analyse(r.left);
      const right = analyse(r.right);
      return { relation: { op: 'joinOnUnit', left: left.relation, right: right.relation }, schema: joinOnUnitSchema(left.schema, right.schema, right.relation) };
    }
    case 'derive': {
      const input = analyse(r.input);
      const cases = r.cases.map((c) => ({ when: checkPredicate(c.when, input.schema.columns, 'CASE'), then: c.then }));
      return { relation: { ...r, input: input.relation, cases }, schema: deriveSchema(input.schema, r) };
    }
    case 'bound': {
      const input = analyse(r.input);
      return { relation: { ...r, input: input.relation }, schema: boundSchema(input.schema, r) };
    }
  }
}

function info(c: ColumnDeclaration, name: string, sql: string, filterable: boolean): ColumnInfo {
  return { name, sql, type: c.type, bounds: c.bounds, categories: c.categories, granularity: c.granularity, description: c.description, filterable, declaration: c };
}

const sqlName = (c: ColumnDeclaration) => c.sql ?? c.name;

/**
 * Columns a caller may filter (and group) on. Sensitive rows: declared numeric and categorical
 * columns only (never ids or free text, whose values are not public). An open dataset's rows are
 * public: every column.
 */
export function filterableColumns(ds: DatasetDeclaration, open: boolean): ColumnDeclaration[] {
  return ds.columns.filter((c) => open || c.type === 'integer' || c.type === 'float' || c.type === 'categorical');
}

/** A dataset's columns as the planner and the predicate checker see them. */
export function datasetColumns(ds: DatasetDeclaration, open: boolean): Map<string, ColumnInfo> {
  const filterable = new Set(filterableColumns(ds, open));
  return new Map(ds.columns.map((c) => [c.name, info(c, c.name, sqlName(c), filterable.has(c))]));
}

function sourceSchema(ds: DatasetDeclaration): RelationSchema {
  const columns = datasetColumns(ds, false);
  const unit = ds.privacyUnit === 'row' ? undefined : columns.get(ds.privacyUnit);
  return { datasets: [ds], columns, unit, contribution: { rows: unit ? Infinity : 1 }, defaults: ds.contribution };
}

function joinPublicSchema(input: RelationSchema, table: DatasetDeclaration, leftKey: string, rightKey: string, multiplicity: number): RelationSchema {
  if (input.contribution.groups) throw badInput('A join must come before grouping.');
  const left = input.columns.get(leftKey);
  const right = table.columns.find((c) => c.name === rightKey);
  if (!left) throw badInput(`Join key "${leftKey}" is not a column of the sensitive side.`, { column: leftKey });
  if (!right) throw badInput(`Join key "${rightKey}" is not a column of ${table.name}.`, { column: rightKey });
  if (left.type === 'id' && left.name === input.unit?.name) throw badInput('A public table cannot be joined on the privacy unit (its values are not public).');
  if (!(Number.isInteger(multiplicity) && multiplicity >= 1)) throw badInput(`The public side's key multiplicity must be a positive integer (got ${multiplicity}).`);
  const columns = new Map(input.columns);
  for (const c of table.columns) {
    const name = `${table.name}.${c.name}`;
    // Public columns are public: any of them may filter or group.
    columns.set(name, info(c, name, `${table.table}__${sqlName(c)}`, true));
  }
  return { ...input, datasets: [...input.datasets, table], columns, contribution: { rows: input.contribution.rows * multiplicity } };
}

function joinOnUnitSchema(left: RelationSchema, right: RelationSchema, rightRel: Relation): RelationSchema {
  if (!left.unit || !right.unit) throw badInput('Joins on the privacy unit need two datasets whose privacy unit is a column (not "row").');
  if (left.contribution.groups || right.contribution.groups) throw badInput('A join must come before grouping.');
  const rds = right.datasets[0]!;
  if (rightRel.op !== 'source' && rightRel.op !== 'filter' && rightRel.op !== 'bound') throw badInput('The right side of a join on the privacy unit must be one dataset.');
  const columns = new Map(left.columns);
  for (const c of right.columns.values()) {
    if (c.name === right.unit.name) continue;
    const name = `${rds.name}.${c.name}`;
    columns.set(name, { ...c, name, sql: `${rds.table}__${c.sql}` });
  }
  return {
    datasets: [...left.datasets, ...right.datasets],
    columns,
    unit: left.unit,
    contribution: { rows: left.contribution.rows * right.contribution.rows },
    defaults: {
      maxRowsPerUnit: Math.min(left.defaults.maxRowsPerUnit, right.defaults.maxRowsPerUnit),
      maxGroupsPerUnit: Math.min(left.defaults.maxGroupsPerUnit, right.defaults.maxGroupsPerUnit),
    },
  };
}

function boundSchema(input: RelationSchema, r: Extract<Relation, { op: 'bound' }>): RelationSchema {
  if (!(Number.isInteger(r.maxRows) && r.maxRows >= 1)) throw badInput('maxRows must be a positive integer.');
  if (input.contribution.groups) throw badInput('A relation is bounded once.');
  for (const k of r.by ?? []) {
    const c = input.columns.get(k);
    if (!c || !c.filterable) throw badInput(`"${k}" cannot be grouped by here.`, { column: k });
  }
  const maxGroups = r.maxGroups ?? 1;
  const perGroup = r.perGroup ?? r.maxRows;
  if (!(Number.isInteger(maxGroups) && maxGroups >= 1 && Number.isInteger(perGroup) && perGroup >= 1)) throw badInput('Group bounds must be positive integers.');
  // Without a unit column nothing tells which rows came from one person's row (after a join with
  // a public table, up to k of them), so the SQL truncates nothing: the contribution stays the
  // input's (all of it possibly in one group).
  if (!input.unit) {
    const rows = input.contribution.rows;
    return { ...input, contribution: r.by ? { rows, groups: { by: r.by, maxGroups: rows, perGroup: rows } } : { rows } };
  }
  if (!r.by) return { ...input, contribution: { rows: Math.min(input.contribution.rows, r.maxRows) } };
  // Row-level relations have one row per unit: it is in one group with one row, whatever is asked.
  const rows = Math.min(input.contribution.rows, r.maxRows, maxGroups * perGroup);
  return {
    ...input,
    contribution: { rows, groups: { by: r.by, maxGroups: Math.min(maxGroups, rows), perGroup: Math.min(perGroup, rows) } },
  };
}

const MAX_DERIVED_CONSTANT = 1e15;

/** The derived column's public description: numeric, bounds = hull of its arms, finest grid of its columns. */
function deriveSchema(input: RelationSchema, r: Extract<Relation, { op: 'derive' }>): RelationSchema {
  if (input.contribution.groups) throw badInput('A computed column must come before grouping.');
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(r.column) || input.columns.has(r.column)) throw badInput(`"${r.column}" cannot name a computed column here.`);
  if (r.cases.length === 0 || r.cases.length > 50) throw badInput('CASE needs 1 to 50 WHEN arms.');
  let lo = Infinity;
  let hi = -Infinity;
  let integer = true;
  let granularity: number | undefined;
  for (const v of [...r.cases.map((c) => c.then), r.otherwise]) {
    if (v === null) continue;
    if ('value' in v) {
      if (!(Number.isFinite(v.value) && Math.abs(v.value) <= MAX_DERIVED_CONSTANT)) throw badInput(`CASE values must be finite numbers up to 1e15 (got ${v.value}).`);
      lo = Math.min(lo, v.value);
      hi = Math.max(hi, v.value);
      integer &&= Number.isInteger(v.value);
      continue;
    }
    const c = input.columns.get(v.column);
    if (!c || (c.type !== 'integer' && c.type !== 'float') || !c.bounds) throw badInput(`CASE can return declared numeric columns only, not "${v.column}".`, { column: v.column });
    lo = Math.min(lo, c.bounds[0]);
    hi = Math.max(hi, c.bounds[1]);
    integer &&= c.type === 'integer';
    const g = c.granularity ?? 1;
    granularity = granularity === undefined ? g : Math.min(granularity, g);
  }
  if (!(lo <= hi)) throw badInput('CASE must return at least one number.');
  // A constant-only CASE has a one-point span: widen it so the column has two distinct bounds.
  if (lo === hi) hi = lo + 1;
  const type = integer ? ('integer' as const) : ('float' as const);
  const declaration: ColumnDeclaration = { name: r.column, sql: r.column, type, bounds: [lo, hi], granularity: integer ? undefined : granularity, description: 'Computed by CASE.' };
  const columns = new Map(input.columns);
  columns.set(r.column, info(declaration, r.column, r.column, true));
  return { ...input, columns };
}
