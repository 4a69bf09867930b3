import type { DatasetDeclaration } from '../../domain/declaration.js';
import type { Plan, Statistic, QuantileMeasurement } from '../plan.js';
import { predicateColumns, type Predicate } from '../predicate.js';
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
  /** The database enforces NOT NULL on this column (its `sql` name) of the dataset's table. */
  notNull?(ds: DatasetDeclaration, column: string): boolean;
  /** The column (its `sql` name) is stored as smallint, integer or bigint (read from the catalog). */
  integerStored?(ds: DatasetDeclaration, column: string): boolean;
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
  const r = plan.relation;
  const grouped = r.op === 'bound' && (r.by ?? []).every((k) => plan.groupBy.some((c) => c.name === k));
  const { from, filter, keysAfterGrouping } = scanOf(plan, b, grouped);
  const keys = plan.groupBy.map((c, i) => `x.${quoteIdent(c.sql)}::text AS k${i}`);
  const cols = plan.statistics.map((s) => `${statisticSql(s, plan.schema, b, filter, notNullIn(plan, b))}::text AS ${s.id}`);
  const group = plan.groupBy.length ? ` GROUP BY ${plan.groupBy.map((_, i) => `k${i}`).join(', ')}` : '';
  // Key selection releases keys found in the data: only keys with a kept, matching row are
  // candidates (rows read but not counted must not make a key appear).
  const having = plan.keys === 'select' && filter !== 'TRUE' ? ` HAVING count(*) FILTER (WHERE ${filter}) > 0` : '';
  const sql = `SELECT ${[...keys, ...cols].join(', ')} FROM (${from}) x${group}${having}`;
  if (!keysAfterGrouping?.length) return { id: 'stats', sql, params: b.params };
  // The key restriction the scan left to us (rankedRows), once per group; OFFSET 0 keeps the
  // planner from pushing it back below the GROUP BY (a test of grouping columns only, it would).
  const alias = (c: ColumnInfo) => `g.k${plan.groupBy.findIndex((k) => k.name === c.name)}`;
  const restriction = keyRestriction(keysAfterGrouping, alias, b);
  return { id: 'stats', sql: `SELECT * FROM (${sql} OFFSET 0) g WHERE ${restriction.join(' AND ')}`, params: b.params };
}

function quantileStatement(plan: Plan, q: QuantileMeasurement, target: SqlTarget): Statement {
  const b = new Builder(target, plan.key);
  const { from, filter } = scanOf(plan, b);
  const v = gridValue(`x.${quoteIdent(q.column.sql)}`, q.grid, b, notNullIn(plan, b)(q.column.sql));
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
 * The rows a plan's aggregates scan, and the condition under which a scanned row is kept and
 * counted (applied by FILTER clauses inside the aggregates). The caller's filter is part of that
 * condition, never a WHERE before the bound: the rows a statement reads (and sorts, and hands to
 * the aggregates) do not depend on how many rows match it, so its running time says nothing about
 * that (issue 11's timing side channel). See boundedScan for each bounding path.
 */
function scanOf(plan: Plan, b: Builder, grouped = false): { from: string; filter: string; keysAfterGrouping?: ColumnInfo[] } {
  const r = plan.relation;
  if (r.op !== 'bound') return { from: relationSql(r, b), filter: 'TRUE' };
  const s = boundedScan(r, b, grouped);
  return { from: s.from, filter: s.keep, keysAfterGrouping: s.keysAfterGrouping };
}

type Bound = Extract<Relation, { op: 'bound' }>;
/** Rows a bound reads (`from`, with helper columns) and the condition for a row to count (`keep`). */
interface BoundedScan {
  from: string;
  keep: string;
  /** Grouping keys whose public-list restriction the caller applies to its groups (rankedRows). */
  keysAfterGrouping?: ColumnInfo[];
}

/**
 * A bound over an optionally filtered input, with the filter `f` moved into `keep` and into the
 * per-unit choice (matching rows are chosen first), so every path keeps, for each unit, exactly
 * the rows the bound would keep of the filtered input (min(m, matching rows) for a row bound), and
 * reads the same rows whatever `f` matches:
 *  - one row per unit (row-level): no truncation; rows with a grouping key off its public list (or
 *    NULL) are dropped first (a condition on public key lists only, not on the caller's filter).
 *  - a row bound (or a group bound its row limit already implies) on a table with the verified
 *    load-time rank: rankedRows (no per-query sort of the whole table).
 *  - otherwise a per-query window: windowRows, windowGroups.
 */
function boundedScan(r: Bound, b: Builder, grouped = false): BoundedScan {
  const filtered = r.input.op === 'filter' ? r.input : undefined;
  const base = filtered ? filtered.input : r.input;
  const schema = analyse(base).schema;
  const stored: StoredFacts = {
    integer: (sql) => base.op === 'source' && b.target.integerStored?.(base.dataset, sql) === true,
    notNull: (sql) => base.op === 'source' && b.target.notNull?.(base.dataset, sql) === true,
  };
  const f = filtered ? predicateSql(filtered.predicate, schema, b, stored) : 'TRUE';
  const keyColumns = (r.by ?? []).map((k) => schema.columns.get(k)!);
  const eligible = () => keyRestriction(keyColumns, (c) => `t.${quoteIdent(c.sql)}`, b);
  if (!schema.unit) return { from: `SELECT * FROM (${relationSql(base, b)}) t${whereOf(eligible())}`, keep: f };
  // Which rows match can vary within a unit unless every column deciding it is declared an
  // attribute of the unit (public declaration and query: the choice of path says nothing of the
  // data). Grouping keys decide only through NULLs (the loader rejects values off a public list;
  // a prepared table holding some keeps fewer rows of the units that have them). When a unit's
  // rows all match or none does, choosing matching rows first changes nothing and is skipped.
  const enforced = (c: string) => stored.notNull(schema.columns.get(c)!.sql);
  const decidedBy = [...(filtered ? decidingColumns(filtered.predicate, enforced) : []), ...(r.by ?? []).filter((c) => !enforced(c))];
  const perUnit = decidedBy.every((c) => schema.columns.get(c)?.declaration.perUnit === true);
  const rows = rowLimit(r);
  if (rows === undefined) return windowGroups(r, relationSql(base, b), schema, perUnit ? 'TRUE' : f, eligible(), b, f);
  if (base.op === 'source' && b.target.ranked(base.dataset)) {
    const table = b.target.table(base.dataset);
    // Light part only: whether a row is kept depends on that row alone (rank <= m, its keys, f),
    // and a group's rows share its keys, so dropping the groups whose keys are off the public
    // lists (or NULL) after grouping leaves the same groups with the same aggregates as dropping
    // those rows before; the test then runs once per group, not once per row (issue 17). The rows
    // read stay the rows of rank <= m, whatever f matches.
    if (perUnit && grouped) return { ...rankedRows(table, schema.unit, rows, f, [], true, b), keysAfterGrouping: keyColumns };
    return rankedRows(table, schema.unit, rows, f, eligible(), perUnit, b);
  }
  return windowRows(relationSql(base, b), schema.unit, rows, perUnit ? 'TRUE' : f, eligible(), b, f);
}

/** Columns whose values decide a predicate, leaving out IS NULL tests the database answers alone (NOT NULL). */
function decidingColumns(p: Predicate, notNull: (column: string) => boolean): string[] {
  if (p.op === 'isNull' && notNull(p.column)) return [];
  if (p.op === 'not') return decidingColumns(p.arg, notNull);
  if (p.op === 'and' || p.op === 'or') return p.args.flatMap((a) => decidingColumns(a, notNull));
  return predicateColumns(p);
}

const whereOf = (conds: string[]) => (conds.length ? ` WHERE ${conds.join(' AND ')}` : '');

/**
 * The bound as a plain row limit, when it is one: a bound without groups, or a group bound whose
 * group limits follow from its row limit (a unit with at most k rows is in at most k groups with
 * at most k rows in each, so maxGroups >= k and perGroup >= k hold without choosing groups).
 */
export function rowLimit(r: Pick<Bound, 'by' | 'maxRows' | 'maxGroups' | 'perGroup'>): number | undefined {
  if (!r.by) return r.maxRows;
  const maxGroups = r.maxGroups ?? 1;
  const perGroup = r.perGroup ?? r.maxRows;
  const k = Math.min(r.maxRows, maxGroups * perGroup);
  return maxGroups >= k && perGroup >= k ? k : undefined;
}

/**
 * At most m rows per unit from the load-time rank R (verified: NOT NULL, >= 1, unique per unit
 * with NULL units as one; src/seed/rank.ts), without a per-query sort of the table:
 *
 *   light part: every row with R <= m;
 *   heavy part: for the units H that have a row with R = m + 1, all their rows in R order with
 *               c = the running count of rows matching f (ROWS mode), emitting those with R > m;
 *   keep:       f AND c <= m (light rows carry c = 0).
 *
 * Privacy (Dwork and Roth 2014, Def. 2.4; the stability argument of McSherry 2009, PINQ, for a
 * per-unit truncation): whether a unit is in H is decided by its own rows, so adding or removing
 * one unit changes no other unit's kept rows (the heavy window is PARTITIONed by unit). A unit
 * outside H (or the NULL unit, which `= ANY` never matches) keeps only light rows: distinct ranks
 * in 1..m, so at most m rows, whatever the stored data. A unit in H keeps the rows matching f
 * whose c is <= m: its light rows matching f have c <= R <= m (c counts matching rows of distinct
 * ranks >= 1 up to R), and its heavy rows are kept only with c <= m; c grows by exactly one on
 * each matching row, so at most m rows are kept. The bound holds whatever H is; H only decides
 * accuracy.
 *
 * Accuracy: ranks are 1..n per unit at load, so a unit with at most m rows has all of them in the
 * light part (all its matching rows are kept) and a unit with more has rank m + 1 (its first
 * min(m, matching) matching rows in rank order are kept): exactly the per-query window's count,
 * and a uniformly random choice among the matching rows since R is a uniform permutation. Gaps
 * in ranks (rows deleted from a prepared table) can only make a unit look light: fewer rows kept,
 * never more (`cdm domain prepare --refresh` re-ranks).
 *
 * Timing: the rows read are the light rows and all rows of H, whatever f matches; the window has
 * no run condition (the OFFSET 0 fence keeps `c <= m` out of it) and every row it reads reaches
 * the aggregates, which apply f and c <= m in FILTER clauses. The heavy set comes from the index
 * on (R, unit) and the heavy rows from the unique (unit, R) index in order (no sort); both are
 * performance only: without them the same statement is correct, only slower.
 */
function rankedRows(table: string, unit: ColumnInfo, m: number, f: string, eligible: string[], perUnit: boolean, b: Builder): BoundedScan {
  const u = quoteIdent(unit.sql);
  const mp = b.param(m, 'bigint');
  const c = b.fresh('_cdm_c');
  const e = eligible.map((x) => ` AND ${x}`).join('');
  const light = `SELECT t.*, 0::bigint AS ${c} FROM ${table} t WHERE t.${RANK_COLUMN} <= ${mp}${e}`;
  // A unit's rows all match or none does (no filter, or only columns declared `perUnit`): a heavy
  // unit's row of rank R > m then has c = R > m or no c at all (ranks 1..n), so the heavy part
  // would keep nothing. The light part alone is the same bound (privacy never rests on the hint:
  // if the data disagrees, a unit keeps its matching rows of rank <= m, fewer, never more).
  if (perUnit) return { from: light, keep: f === 'TRUE' ? 'TRUE' : `(${f}) AND ${c} <= ${mp}` };
  const heavyUnits = `ARRAY(SELECT h.${u} FROM ${table} h WHERE h.${RANK_COLUMN} = ${mp} + 1)`;
  const window = `SELECT t.*, count(*) FILTER (WHERE ${f}) OVER (PARTITION BY t.${u} ORDER BY t.${RANK_COLUMN} ROWS UNBOUNDED PRECEDING) AS ${c}
    FROM ${table} t WHERE t.${u} = ANY(${heavyUnits})${e} OFFSET 0`;
  const heavy = `SELECT * FROM (${window}) w WHERE w.${RANK_COLUMN} > ${mp}`;
  return { from: `${light} UNION ALL ${heavy}`, keep: `(${f}) AND ${c} <= ${mp}` };
}

/**
 * At most m rows per unit by a per-query window over ALL the unit's rows, matching rows first
 * (then `rowOrder`, random() in production): the first min(m, n) rows of each unit, of which the
 * matching ones are counted: min(m, matching rows), as if the filter ran first, while the rows
 * read and sorted do not depend on the filter. The order is decided by the unit's own rows, so
 * the truncation is 1-stable per unit (at most m rows kept). `first` is the filter put first, or
 * TRUE when a unit's rows all match or none does (boundedScan); `f` is the filter counted.
 */
function windowRows(inner: string, unit: ColumnInfo, m: number, first: string, eligible: string[], b: Builder, f: string): BoundedScan {
  const rn = b.fresh('_cdm_rn');
  const mp = b.param(m, 'bigint');
  const ordering = first === 'TRUE' ? order(b, 't') : `(${first}) IS NOT TRUE, ${order(b, 't')}`;
  return {
    from: `SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY t.${quoteIdent(unit.sql)} ORDER BY ${ordering}) AS ${rn} FROM (${inner}) t${whereOf(eligible)}) w WHERE ${rn} <= ${mp}`,
    keep: f,
  };
}

/** Rows whose grouping keys are NULL or outside a public list never reach a group. */
function keyRestriction(keys: ColumnInfo[], expr: (c: ColumnInfo) => string, b: Builder): string[] {
  return keys.map((c) => (c.categories && c.type === 'categorical' ? `${expr(c)}::text = ANY(${b.param(c.categories, 'text[]')})` : `${expr(c)} IS NOT NULL`));
}

function statisticSql(s: Statistic, schema: RelationSchema, b: Builder, filter: string, notNull: (sql: string) => boolean): string {
  const only = filter === 'TRUE' ? '' : ` FILTER (WHERE ${filter})`;
  if (s.kind === 'units') return schema.unit ? `count(DISTINCT x.${quoteIdent(schema.unit.sql)})${only}` : `count(*)${only}`;
  if (s.kind === 'count') return s.column ? `count(x.${quoteIdent(s.column.sql)})${only}` : `count(*)${only}`;
  const grid = s.grid!;
  const v = gridValue(`x.${quoteIdent(s.column!.sql)}`, grid, b, notNull(s.column!.sql));
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
 * The float8 -> bigint cast rounds to the nearest integer, ties to even: PostgreSQL's dtoi8 applies
 * rint() before its range check, exactly what round(float8) (dround: rint()) does, and rint is
 * idempotent, so `y::bigint` = `round(y)::bigint` for every float8 y (one function call less per
 * row, issue 17). The CASE keeps NULL from becoming lo (GREATEST ignores NULLs); on a column the
 * database keeps NOT NULL (`notNull`) it never fires and is left out.
 */
function gridValue(col: string, grid: { g: number; lo: bigint; hi: bigint }, b: Builder, notNull = false): string {
  const lo = b.param(grid.lo.toString(), 'float8');
  const hi = b.param(grid.hi.toString(), 'float8');
  const g = b.param(grid.g, 'float8');
  const clamped = `LEAST(GREATEST(${col}::float8 / ${g}, ${lo}), ${hi})::bigint`;
  return notNull ? `(${clamped})` : `(CASE WHEN ${col} IS NULL THEN NULL ELSE ${clamped} END)`;
}

/** Which columns of the rows a plan's aggregates read the database keeps NOT NULL (its source table's). */
function notNullIn(plan: Plan, b: Builder): (sql: string) => boolean {
  const r = plan.relation;
  const base = r.op === 'bound' ? (r.input.op === 'filter' ? r.input.input : r.input) : undefined;
  return (sql) => base?.op === 'source' && b.target.notNull?.(base.dataset, sql) === true;
}

/**
 * A checked predicate (core/predicate.ts checkPredicate) alone, as a WHERE condition on the bare
 * columns of one table, its values as $1.. parameters: the row filter of OPEN datasets' rows,
 * compiled by the same code as every DP filter.
 */
export function whereCondition(p: Predicate, columns: Map<string, ColumnInfo>): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const param = (v: unknown, cast: string) => {
    params.push(v);
    return `$${params.length}::${cast}`;
  };
  return { sql: predicateSql(p, { columns }, { param }), params };
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
    case 'bound': {
      const s = boundedScan(r, b);
      return `SELECT * FROM (${s.from}) ${b.fresh('_cdm_b')} WHERE ${s.keep}`;
    }
  }
}

/**
 * Each unit in at most maxGroups groups with at most perGroup rows in each, by a per-query window
 * over all the unit's eligible rows (rows with a grouping key off its public list, or NULL, are
 * dropped first so they never use a unit's group budget). Matching rows come first in each group
 * and groups with a matching row come first, then a salted hash of (unit, key), then the key
 * itself, so distinct groups never tie: the groups and rows kept are those the same bound keeps
 * of the filtered rows, while the rows read and sorted do not depend on the filter. Any choice
 * made from the unit's own rows keeps the stability bound, so the salt may be public: it is the
 * plan key (the same plan picks the same groups, which keeps repeated statements of one plan
 * consistent and lets the property test couple runs).
 */
function windowGroups(r: Bound, inner: string, schema: RelationSchema, first: string, eligible: string[], b: Builder, f: string): BoundedScan {
  const keys = r.by!.map((k) => schema.columns.get(k)!);
  const unit = quoteIdent(schema.unit!.sql);
  const keyList = (alias: string) => keys.map((c) => `${alias}.${quoteIdent(c.sql)}`).join(', ');
  const salt = b.param(b.salt, 'text');
  const inGroup = b.fresh('_cdm_gr');
  const unmatched = b.fresh('_cdm_gu');
  const groupRank = b.fresh('_cdm_gk');
  const perGroup = b.param(r.perGroup ?? r.maxRows, 'bigint');
  const maxGroups = b.param(r.maxGroups ?? 1, 'bigint');
  // `first` is TRUE when a unit's rows all match or none does: nothing to put first.
  const miss = first === 'TRUE' ? 'FALSE' : `(${first}) IS NOT TRUE`;
  const rows = `SELECT t.*,
      row_number() OVER (PARTITION BY t.${unit}, ${keyList('t')} ORDER BY ${first === 'TRUE' ? '' : `${miss}, `}${order(b, 't')}) AS ${inGroup},
      ${first === 'TRUE' ? 'FALSE' : `bool_and(${miss}) OVER (PARTITION BY t.${unit}, ${keyList('t')})`} AS ${unmatched}
    FROM (${inner}) t${whereOf(eligible)}`;
  const hash = `md5(concat_ws(chr(31), ${salt}, g.${unit}::text, ${keys.map((c) => `g.${quoteIdent(c.sql)}::text`).join(', ')}))`;
  return {
    from: `SELECT * FROM (SELECT g.*, dense_rank() OVER (PARTITION BY g.${unit} ORDER BY g.${unmatched}, ${hash}, ${keyList('g')}) AS ${groupRank} FROM (${rows}) g) w
      WHERE ${inGroup} <= ${perGroup} AND ${groupRank} <= ${maxGroups}`,
    keep: f,
  };
}

const order = (b: Builder, alias: string) => b.target.rowOrder?.(alias) ?? 'random()';

const CAST: Record<string, string> = { integer: 'numeric', float: 'float8', categorical: 'text', text: 'text', id: 'text' };

/** What the catalog says of the scanned table's columns (`sql` names); nothing when not a table. */
interface StoredFacts {
  integer(sql: string): boolean;
  notNull(sql: string): boolean;
}
const NOTHING_STORED: StoredFacts = { integer: () => false, notNull: () => false };

/**
 * A validated, canonical predicate as SQL (values as parameters, LIKE patterns too). An integer
 * column is compared as numeric, whatever its stored type. When the catalog says it is stored as
 * smallint, integer or bigint (`stored.integer`) and the values are integers (|v| <= 1e15 < 2^53,
 * checkPredicate), `col OP v::bigint` is the same test: PostgreSQL's int2/int4/int8 cross-type
 * operators compare the two integers exactly, as numeric does, and NULL gives NULL either way; it
 * only skips a numeric conversion per row (issue 17: ~20% of a filtered count at 1M rows). On a
 * column the database keeps NOT NULL (`stored.notNull`), `IS NULL` is false on every row: FALSE,
 * which the planner folds away.
 */
export function predicateSql(p: Predicate, schema: Pick<RelationSchema, 'columns'>, b: Pick<Builder, 'param'>, stored: StoredFacts = NOTHING_STORED): string {
  // The column as compared, and the cast of the values it is compared with.
  const operand = (c: ColumnInfo, values: unknown[]): [string, string] =>
    c.type === 'integer' && stored.integer(c.sql) && values.every((v) => typeof v === 'number' && Number.isSafeInteger(v))
      ? [quoteIdent(c.sql), 'bigint']
      : [`${quoteIdent(c.sql)}::${CAST[c.type]!}`, CAST[c.type]!];
  switch (p.op) {
    case 'true':
      return 'TRUE';
    case 'and':
    case 'or':
      return `(${p.args.map((a) => predicateSql(a, schema, b, stored)).join(p.op === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${predicateSql(p.arg, schema, b, stored)})`;
    case 'in': {
      const c = schema.columns.get(p.column)!;
      const [col, cast] = operand(c, p.values);
      return p.values.length === 1 ? `${col} = ${b.param(p.values[0], cast)}` : `${col} = ANY(${b.param(p.values, `${cast}[]`)})`;
    }
    case 'cmp': {
      const c = schema.columns.get(p.column)!;
      const [col, cast] = operand(c, [p.value]);
      return `${col} ${p.cmp} ${b.param(p.value, cast)}`;
    }
    case 'isNull': {
      const sql = schema.columns.get(p.column)!.sql;
      return stored.notNull(sql) ? 'FALSE' : `${quoteIdent(sql)} IS NULL`;
    }
    case 'like':
      return `${quoteIdent(schema.columns.get(p.column)!.sql)}::text LIKE ${b.param(p.pattern, 'text')}`;
  }
}
