import type { DatasetDeclaration } from '../../domain/declaration.js';
import type { Plan, Statistic, QuantileMeasurement } from '../plan.js';
import type { Predicate } from '../predicate.js';
import type { DerivedValue, Relation } from '../relation.js';
import type { ColumnInfo, RelationSchema } from '../schema.js';
import { analyse } from '../stability.js';

/**
 * The PostgreSQL dialect (PGlite and the server): walks a plan into parameterised statements.
 * Filtering, contribution bounding, clamping to public bounds, rounding to the release grid and
 * aggregation all run in the database; only per-group aggregates come back. Identifiers come from
 * validated declarations; every caller value is a $n parameter.
 */
export interface Statement {
  /** 'stats' (additive statistics per group) or a quantile's id. */
  id: string;
  sql: string;
  params: unknown[];
}

/** Where a dataset's rows live, and what its table offers (the DataSource's capabilities). */
export interface SqlTarget {
  /** Fully qualified, quoted table name of a dataset. */
  table(ds: DatasetDeclaration): string;
  /** Fully qualified, quoted name of a node-owned scratch table in the same database. */
  scratch(name: string): string;
  /** The table carries a verified per-unit random rank (1..n per unit) drawn at load. */
  ranked(ds: DatasetDeclaration): boolean;
  /**
   * The order in which a unit's rows are kept by a window (default `random()`). The stability
   * argument holds for ANY order decided by the unit's own rows, so tests may fix it (e.g. a hash
   * of the row) to compare a dataset and its neighbour under the same choices.
   */
  rowOrder?(alias: string): string;
}

export const RANK_COLUMN = '_cdm_rank';
export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

class Builder {
  readonly params: unknown[] = [];
  private depth = 0;
  /** Orders each unit's groups (with the unit and key) when it has more than maxGroups. */
  constructor(
    readonly target: SqlTarget,
    readonly salt = '',
  ) {}
  param(v: unknown, cast: string): string {
    this.params.push(v);
    return `$${this.params.length}::${cast}`;
  }
  fresh(prefix: string): string {
    return `${prefix}${this.depth++}`;
  }
}

export function statementsFor(plan: Plan, target: SqlTarget): Statement[] {
  const out: Statement[] = [];
  if (plan.statistics.length > 0) out.push(statisticsStatement(plan, target));
  for (const q of plan.quantiles) out.push(quantileStatement(plan, q, target));
  return out;
}

function statisticsStatement(plan: Plan, target: SqlTarget): Statement {
  const b = new Builder(target, plan.key);
  const { from, filter } = scanOf(plan, b);
  const keys = plan.groupBy.map((c, i) => `x.${quoteIdent(c.sql)}::text AS k${i}`);
  const cols = plan.statistics.map((s) => `${statisticSql(s, plan.schema, b, filter)}::text AS ${s.id}`);
  const group = plan.groupBy.length ? ` GROUP BY ${plan.groupBy.map((_, i) => `k${i}`).join(', ')}` : '';
  return { id: 'stats', sql: `SELECT ${[...keys, ...cols].join(', ')} FROM (${from}) x${group}`, params: b.params };
}

function quantileStatement(plan: Plan, q: QuantileMeasurement, target: SqlTarget): Statement {
  const b = new Builder(target, plan.key);
  const { from, filter } = scanOf(plan, b);
  const v = gridValue(`x.${quoteIdent(q.column.sql)}`, q.grid, b);
  const lo = b.param(q.grid.lo.toString(), 'bigint');
  const w = b.param(q.binWidth.toString(), 'bigint');
  const keys = plan.groupBy.map((c, i) => `x.${quoteIdent(c.sql)}::text AS k${i}`);
  const groupKeys = plan.groupBy.map((_, i) => `k${i}`);
  const present = `x.${quoteIdent(q.column.sql)} IS NOT NULL`;
  return {
    id: q.id,
    sql: `SELECT ${[...keys, `((${v} - ${lo}) / ${w})::int AS bin`, `count(*) FILTER (WHERE ${present} AND ${filter})::text AS n`].join(', ')} FROM (${from}) x
          GROUP BY ${[...groupKeys, 'bin'].join(', ')}`,
    params: b.params,
  };
}

/**
 * The rows a plan's aggregates scan, and the caller's filter when it can be applied INSIDE the
 * aggregates (FILTER clauses) rather than before them: then the statement reads the same rows
 * whatever the filter matches, so its running time says nothing about how many rows match (a
 * timing side channel). That holds when the bound does not depend on the filter's result: rows
 * of row-level datasets, and the load-time rank (rank <= m is decided before the filter, exactly
 * as the ranked bound below does). Otherwise the filter runs before the per-query window.
 */
function scanOf(plan: Plan, b: Builder): { from: string; filter: string } {
  const r = plan.relation;
  if (r.op === 'bound') {
    const base = r.input.op === 'filter' ? r.input.input : r.input;
    const unit = plan.schema.unit;
    if (base.op === 'source' && (!unit || (!r.by && b.target.ranked(base.dataset)))) {
      const schema = analyse(base).schema;
      const conds: string[] = [];
      if (unit) conds.push(`${RANK_COLUMN} <= ${b.param(r.maxRows, 'bigint')}`);
      if (r.by) conds.push(...keyRestriction(r.by.map((k) => schema.columns.get(k)!), '', b));
      const filter = r.input.op === 'filter' ? predicateSql(r.input.predicate, schema, b) : 'TRUE';
      return { from: `SELECT * FROM ${b.target.table(base.dataset)}${conds.length ? ` WHERE ${conds.join(' AND ')}` : ''}`, filter };
    }
  }
  return { from: relationSql(r, b), filter: 'TRUE' };
}

/** Rows whose grouping keys are NULL or outside a public list never reach a group. */
function keyRestriction(keys: ColumnInfo[], alias: string, b: Builder): string[] {
  return keys.map((c) => (c.categories && c.type === 'categorical' ? `${alias}${quoteIdent(c.sql)}::text = ANY(${b.param(c.categories, 'text[]')})` : `${alias}${quoteIdent(c.sql)} IS NOT NULL`));
}

function statisticSql(s: Statistic, schema: RelationSchema, b: Builder, filter: string): string {
  const only = filter === 'TRUE' ? '' : ` FILTER (WHERE ${filter})`;
  if (s.kind === 'units') return schema.unit ? `count(DISTINCT x.${quoteIdent(schema.unit.sql)})${only}` : `count(*)${only}`;
  if (s.kind === 'count') return s.column ? `count(x.${quoteIdent(s.column.sql)})${only}` : `count(*)${only}`;
  const grid = s.grid!;
  const v = gridValue(`x.${quoteIdent(s.column!.sql)}`, grid, b);
  if (s.kind === 'sum') return `coalesce(sum(${v})${only}, 0)`;
  const mid = b.param(grid.mid.toString(), 'bigint');
  if (s.kind === 'centredSum') return `coalesce(sum(${v} - ${mid})${only}, 0)`;
  // Exact integer arithmetic either way: bigint products while (v - mid)^2 fits, numeric beyond.
  const r = grid.hi - grid.mid > grid.mid - grid.lo ? grid.hi - grid.mid : grid.mid - grid.lo;
  const d = r < 3_000_000_000n ? `(${v} - ${mid})` : `(${v} - ${mid})::numeric`;
  return `coalesce(sum(${d} * ${d})${only}, 0)`;
}

/**
 * The column clamped to its public bounds on the integer release grid; NULL stays NULL. Clamp
 * BEFORE the integer cast, in float8: NaN sorts above every number (so it becomes hi) and
 * +-Infinity or huge values clamp too. A cast first would fail the whole query on one person's
 * outlier, and a failure that depends on one person's value is itself a leak.
 */
function gridValue(col: string, grid: { g: number; lo: bigint; hi: bigint }, b: Builder): string {
  const lo = b.param(grid.lo.toString(), 'float8');
  const hi = b.param(grid.hi.toString(), 'float8');
  const g = b.param(grid.g, 'float8');
  return `(CASE WHEN ${col} IS NULL THEN NULL ELSE round(LEAST(GREATEST(${col}::float8 / ${g}, ${lo}), ${hi}))::bigint END)`;
}

/** A relation alone as one parameterised SELECT (e.g. the bounded rows a synthetic fit reads). */
export function relationStatement(r: Relation, target: SqlTarget): { sql: string; params: unknown[] } {
  const b = new Builder(target);
  return { sql: relationSql(r, b), params: b.params };
}

/** SQL of a relation: a SELECT whose columns are the relation schema's `sql` names. */
function relationSql(r: Relation, b: Builder): string {
  switch (r.op) {
    case 'source':
      return `SELECT * FROM ${b.target.table(r.dataset)}`;
    case 'filter': {
      const schema = analyse(r.input).schema;
      return `SELECT * FROM (${relationSql(r.input, b)}) f WHERE ${predicateSql(r.predicate, schema, b)}`;
    }
    case 'joinPublic': {
      const schema = analyse(r.input).schema;
      const left = schema.columns.get(r.leftKey)!;
      const right = r.table.columns.find((c) => c.name === r.rightKey)!;
      const extra = r.table.columns.map((c) => `p.${quoteIdent(c.sql ?? c.name)} AS ${quoteIdent(`${r.table.table}__${c.sql ?? c.name}`)}`);
      // The stability constant is the declared multiplicity k: the public side keeps at most k
      // rows per key value, so k holds by construction whatever the public table holds.
      const key = `p0.${quoteIdent(right.sql ?? right.name)}::text`;
      const pn = b.fresh('_cdm_pk');
      const pub = `SELECT * FROM (SELECT p0.*, row_number() OVER (PARTITION BY ${key} ORDER BY ${key}) AS ${pn} FROM ${b.target.table(r.table)} p0) p1 WHERE ${pn} <= ${b.param(r.multiplicity, 'bigint')}`;
      return `SELECT l.*, ${extra.join(', ')} FROM (${relationSql(r.input, b)}) l
              JOIN (${pub}) p ON l.${quoteIdent(left.sql)}::text = p.${quoteIdent(right.sql ?? right.name)}::text`;
    }
    case 'joinOnUnit': {
      const ls = analyse(r.left).schema;
      const rs = analyse(r.right).schema;
      const ds = rs.datasets[0]!;
      const extra = [...rs.columns.values()].filter((c) => c.name !== rs.unit!.name).map((c) => `r.${quoteIdent(c.sql)} AS ${quoteIdent(`${ds.table}__${c.sql}`)}`);
      return `SELECT l.*, ${extra.join(', ')} FROM (${relationSql(r.left, b)}) l
              JOIN (${relationSql(r.right, b)}) r ON l.${quoteIdent(ls.unit!.sql)} = r.${quoteIdent(rs.unit!.sql)}`;
    }
    case 'derive': {
      const schema = analyse(r.input).schema;
      const value = (v: DerivedValue) => (v === null ? 'NULL' : 'value' in v ? b.param(v.value, 'float8') : `${quoteIdent(schema.columns.get(v.column)!.sql)}::float8`);
      const arms = r.cases.map((c) => `WHEN ${predicateSql(c.when, schema, b)} THEN ${value(c.then)}`).join(' ');
      return `SELECT d.*, (CASE ${arms} ELSE ${value(r.otherwise)} END)::float8 AS ${quoteIdent(r.column)} FROM (${relationSql(r.input, b)}) d`;
    }
    case 'bound':
      return r.by ? groupBoundSql(r, b) : rowBoundSql(r, b);
  }
}

/**
 * At most maxRows rows per unit. A source (optionally filtered) whose table has the verified
 * load-time rank bounds with a plain predicate; anything else with a per-query random window.
 */
function rowBoundSql(r: Extract<Relation, { op: 'bound' }>, b: Builder): string {
  const schema = analyse(r.input).schema;
  if (!schema.unit) return relationSql(r.input, b);
  const base = r.input.op === 'filter' ? r.input.input : r.input;
  if (base.op === 'source' && b.target.ranked(base.dataset)) {
    // The rank is a uniformly random order of each unit's rows drawn at load: rank <= m keeps
    // at most m of them. With a filter, a unit's counted rows are the matching ones among its m
    // ranked rows: still at most m (same sensitivity), possibly fewer than a window would keep.
    const m = b.param(r.maxRows, 'bigint');
    const where = r.input.op === 'filter' ? ` AND ${predicateSql(r.input.predicate, schema, b)}` : '';
    return `SELECT * FROM ${b.target.table(base.dataset)} WHERE ${RANK_COLUMN} <= ${m}${where}`;
  }
  const rn = b.fresh('_cdm_rn');
  const inner = relationSql(r.input, b);
  const m = b.param(r.maxRows, 'bigint');
  return `SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY t.${quoteIdent(schema.unit.sql)} ORDER BY ${order(b, 't')}) AS ${rn} FROM (${inner}) t) w WHERE ${rn} <= ${m}`;
}

/**
 * Each unit in at most maxGroups groups with at most perGroup rows in each (and rows with a key
 * outside a public list, or NULL, dropped first so they never use a unit's group budget). The
 * unit's groups are ranked by a salted hash of (unit, key), then the key itself, so distinct
 * groups never tie. Any choice made from the unit's own rows keeps the stability bound, so the
 * salt may be public: it is the plan key (the same plan picks the same groups, which keeps
 * repeated statements of one plan consistent and lets the property test couple runs).
 */
function groupBoundSql(r: Extract<Relation, { op: 'bound' }>, b: Builder): string {
  const schema = analyse(r.input).schema;
  const keys = r.by!.map((k) => schema.columns.get(k)!);
  const restrict = keyRestriction(keys, 't.', b);
  const inner = relationSql(r.input, b);
  const restricted = `SELECT * FROM (${inner}) t WHERE ${restrict.join(' AND ')}`;
  if (!schema.unit) return restricted;
  const unit = quoteIdent(schema.unit.sql);
  const keyList = keys.map((c) => `g.${quoteIdent(c.sql)}`).join(', ');
  const salt = b.param(b.salt, 'text');
  const inGroup = b.fresh('_cdm_gr');
  const groupRank = b.fresh('_cdm_gk');
  const perGroup = b.param(r.perGroup ?? r.maxRows, 'bigint');
  const maxGroups = b.param(r.maxGroups ?? 1, 'bigint');
  return `SELECT * FROM (SELECT g.*,
            row_number() OVER (PARTITION BY g.${unit}, ${keyList} ORDER BY ${order(b, 'g')}) AS ${inGroup},
            dense_rank() OVER (PARTITION BY g.${unit} ORDER BY md5(concat_ws(chr(31), ${salt}, g.${unit}::text, ${keys.map((c) => `g.${quoteIdent(c.sql)}::text`).join(', ')})), ${keyList}) AS ${groupRank}
          FROM (${restricted}) g) w WHERE ${inGroup} <= ${perGroup} AND ${groupRank} <= ${maxGroups}`;
}

const order = (b: Builder, alias: string) => b.target.rowOrder?.(alias) ?? 'random()';

const CAST: Record<string, string> = { integer: 'numeric', float: 'float8', categorical: 'text', text: 'text', id: 'text' };

/** A validated, canonical predicate as SQL (values as parameters, LIKE patterns too). */
export function predicateSql(p: Predicate, schema: RelationSchema, b: Builder): string {
  switch (p.op) {
    case 'true':
      return 'TRUE';
    case 'and':
    case 'or':
      return `(${p.args.map((a) => predicateSql(a, schema, b)).join(p.op === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${predicateSql(p.arg, schema, b)})`;
    case 'in': {
      const c = schema.columns.get(p.column)!;
      const cast = CAST[c.type]!;
      return p.values.length === 1 ? `${quoteIdent(c.sql)}::${cast} = ${b.param(p.values[0], cast)}` : `${quoteIdent(c.sql)}::${cast} = ANY(${b.param(p.values, `${cast}[]`)})`;
    }
    case 'cmp': {
      const c = schema.columns.get(p.column)!;
      return `${quoteIdent(c.sql)}::${CAST[c.type]} ${p.cmp} ${b.param(p.value, CAST[c.type]!)}`;
    }
    case 'isNull':
      return `${quoteIdent(schema.columns.get(p.column)!.sql)} IS NULL`;
    case 'like':
      return `${quoteIdent(schema.columns.get(p.column)!.sql)}::text LIKE ${b.param(p.pattern, 'text')}`;
  }
}
