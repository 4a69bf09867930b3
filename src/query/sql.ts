import type { ColumnDeclaration } from '../domain/declaration.js';
import { qualified, quoteIdent, type DomainDatabase } from '../storage/database.js';
import { RANK_COLUMN } from '../seed/seed.js';
import { filterSql } from './filters.js';
import type { Plan } from './plan.js';

/**
 * Push-down: one parameterised statement per plan does filtering, contribution bounding
 * (a random window per privacy unit), clamping to public bounds, rounding to the release grid and
 * aggregation. Only aggregates come back, so Node's memory does not grow with the table.
 * Identifiers come from the validated declaration; every user value is a $n parameter.
 */
export interface Statement {
  sql: string;
  params: unknown[];
}

const col = (c: ColumnDeclaration) => quoteIdent(c.sql);

export interface StatementOptions {
  /** The table has the per-unit random rank drawn at load (src/seed/seed.ts, RANK_COLUMN). */
  ranked?: boolean;
}

export function statementFor(db: DomainDatabase, plan: Plan, opts: StatementOptions = {}): Statement {
  const params: unknown[] = [];
  const where = filterSql(plan.filters, params);
  const table = qualified(db, plan.dataset.table);
  if (plan.aggregate === 'histogram') return histogramStatement(plan, table, where, params);
  if (plan.aggregate === 'countDistinct') {
    const expr = plan.bounding.unit ? `count(DISTINCT ${col(plan.bounding.unit)})` : 'count(*)';
    return { sql: `SELECT ${expr}::text AS units FROM ${table} WHERE ${where}`, params };
  }
  const valueCol = plan.column ? ` AND ${col(plan.column)} IS NOT NULL` : '';
  const bounded = boundedRows(plan, table, `${where}${valueCol}`, params, opts.ranked === true);
  if (plan.aggregate === 'count') return { sql: `SELECT count(*)::text AS count FROM ${bounded}`, params };
  const v = gridValue(plan, params);
  if (plan.aggregate === 'quantile') {
    params.push(plan.grid!.lo.toString(), plan.quantile!.binWidth.toString());
    const lo = `$${params.length - 1}::bigint`;
    const w = `$${params.length}::bigint`;
    return { sql: `SELECT ((v - ${lo}) / ${w})::int AS bin, count(*)::text AS n FROM (SELECT ${v} AS v FROM ${bounded}) x GROUP BY 1`, params };
  }
  if (plan.aggregate === 'sum') {
    return { sql: `SELECT coalesce(sum(v), 0)::text AS sum FROM (SELECT ${v} AS v FROM ${bounded}) x`, params };
  }
  params.push(plan.grid!.mid.toString());
  const mid = `$${params.length}::bigint`;
  return {
    sql: `SELECT count(*)::text AS count, coalesce(sum(v - ${mid}), 0)::text AS "centredSum",
                 coalesce(sum((v - ${mid}) * (v - ${mid})), 0)::text AS "sumSquares"
          FROM (SELECT ${v}${squaresFitBigint(plan) ? '' : '::numeric'} AS v FROM ${bounded}) x`,
    params,
  };
}

/**
 * Exact integer arithmetic either way: bigint products (fast; sums of bigint accumulate without
 * overflow) while (v - mid)^2 fits in a bigint, numeric beyond that.
 */
function squaresFitBigint(plan: Plan): boolean {
  const { lo, hi, mid } = plan.grid!;
  const r = hi - mid > mid - lo ? hi - mid : mid - lo;
  return r < 3_000_000_000n;
}

/** The filtered rows, at most maxRows per privacy unit, chosen uniformly at random. */
function boundedRows(plan: Plan, table: string, where: string, params: unknown[], ranked: boolean): string {
  const unit = plan.bounding.unit;
  if (!unit) return `(SELECT * FROM ${table} WHERE ${where}) b`;
  params.push(plan.bounding.maxRows);
  // The load-time rank (a uniformly random order of each unit's rows) bounds with a plain predicate
  // instead of a sort of every matching row. With a filter, a unit's counted rows are the matching
  // ones among its m ranked rows: still at most m, chosen at random; a unit with more than m rows
  // may count fewer matching rows than a per-query window would give it (less utility, same privacy).
  if (ranked) return `(SELECT * FROM ${table} WHERE ${where} AND ${RANK_COLUMN} <= $${params.length}) b`;
  return `(SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY ${col(unit)} ORDER BY random()) AS _cdm_rn
             FROM ${table} WHERE ${where}) r WHERE _cdm_rn <= $${params.length}) b`;
}

/** The column clamped to its public bounds on the integer release grid. */
function gridValue(plan: Plan, params: unknown[]): string {
  const grid = plan.grid!;
  params.push(grid.lo.toString(), grid.hi.toString());
  const lo = `$${params.length - 1}::bigint`;
  const hi = `$${params.length}::bigint`;
  const c = col(plan.column!);
  // Clamp BEFORE the integer cast, in float8: NaN sorts above every number (so it becomes hi) and
  // +-Infinity or huge values clamp too. A cast first would fail the whole query on one person's
  // outlier, and a failure that depends on one person's value is itself a leak.
  params.push(grid.g);
  const g = `$${params.length}::float8`;
  return `round(LEAST(GREATEST(${c}::float8 / ${g}, ${lo}::float8), ${hi}::float8))::bigint`;
}

/**
 * Per group counts with each unit in at most maxGroups groups (chosen at random) and at most
 * perGroup rows in each. Public key lists also restrict the rows, so a unit's group budget is
 * never spent on a value outside the list.
 */
function histogramStatement(plan: Plan, table: string, where: string, params: unknown[]): Statement {
  const keys = plan.by.map(col);
  const restrict = plan.by.map((c) => {
    if (!c.categories) return `${col(c)} IS NOT NULL`;
    params.push(c.categories);
    return `${col(c)} = ANY($${params.length}::text[])`;
  });
  const cond = [where, ...restrict].join(' AND ');
  const keyList = keys.join(', ');
  const keyOut = plan.by.map((c, i) => `${col(c)}::text AS k${i}`).join(', ');
  const unit = plan.bounding.unit;
  if (!unit) {
    return { sql: `SELECT ${keyOut}, count(*)::text AS n FROM ${table} WHERE ${cond} GROUP BY ${keyList}`, params };
  }
  params.push(plan.bounding.perGroup, plan.bounding.maxGroups);
  const perGroup = `$${params.length - 1}::bigint`;
  const maxGroups = `$${params.length}::bigint`;
  return {
    sql: `SELECT ${keyOut}, sum(LEAST(c, ${perGroup}))::text AS n FROM (
            SELECT ${col(unit)}, ${keyList}, count(*) AS c,
                   row_number() OVER (PARTITION BY ${col(unit)} ORDER BY random()) AS _cdm_gr
            FROM ${table} WHERE ${cond} GROUP BY ${col(unit)}, ${keyList}) g
          WHERE _cdm_gr <= ${maxGroups} GROUP BY ${keyList}`,
    params,
  };
}
