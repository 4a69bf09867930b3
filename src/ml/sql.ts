import { quoteIdent, relationStatement, type SqlTarget } from '../core/dialect/postgres.js';
import { GRID, type Encoding, type TrainingPlan } from '../core/regression.js';

/**
 * The training statements (PostgreSQL dialect): every row is encoded in the database into the
 * sparse integer vector of src/core/regression.ts (indices + values, at most D entries), and only
 * per-entry sums come back: p(p+1)/2 products for the sufficient statistics, p sums for a
 * gradient. Memory in Node is O(p^2) whatever the row count.
 *
 * Values are clamped in float8 BEFORE any cast (NaN sorts above every number in PostgreSQL, so it
 * clamps to the upper bound; +-Infinity clamp too): no row's value can make a statement fail,
 * since a failure that depends on one person's value would itself leak.
 */
export interface Statement {
  sql: string;
  params: unknown[];
}

class Params {
  constructor(readonly list: unknown[]) {}
  add(v: unknown, cast: string): string {
    this.list.push(v);
    return `$${this.list.length}::${cast}`;
  }
}

/** A numeric value scaled on public bounds to round(Q s) in [-Q, Q]; NULL -> 0. */
function scaled(col: string, [lo, hi]: [number, number], p: Params): string {
  const l = p.add(lo, 'float8');
  const h = p.add(hi, 'float8');
  const v = `LEAST(GREATEST(${col}::float8, ${l}), ${h})`;
  // NULL is tested first: GREATEST/LEAST skip NULLs, so a NULL inside would become -Q.
  return `(CASE WHEN ${col} IS NULL THEN 0 ELSE LEAST(GREATEST(round((2 * (${v} - ${l}) / (${h} - ${l}) - 1) * ${GRID}), -${GRID}), ${GRID})::bigint END)`;
}

/** 1-based position of a categorical value in its public list (NULL when absent or unlisted). */
const position = (col: string, levels: string[], p: Params) => `array_position(${p.add(levels, 'text[]')}, ${col}::text)`;

/** The logistic label as 0/1 (NaN compares above any threshold: bounded either way). */
function label(enc: Encoding, p: Params): string {
  const t = enc.target;
  const col = `x.${quoteIdent(t.column.sql)}`;
  if (t.positiveClass !== undefined) return `(CASE WHEN ${col}::text = ${p.add(t.positiveClass, 'text')} THEN 1 ELSE 0 END)`;
  return `(CASE WHEN ${col}::float8 > ${p.add(t.threshold, 'float8')} THEN 1 ELSE 0 END)`;
}

/**
 * The encoded rows: idx int[] and val bigint[] (x with the intercept at 0; the target appended at
 * index p when `withTarget`), and y01 for logistic models.
 */
function encodedRows(plan: TrainingPlan, target: SqlTarget, p: Params, withTarget: boolean): string {
  const rel = relationStatement(plan.relation, target);
  const offset = p.list.length;
  p.list.push(...rel.params);
  // Shift the relation's $n placeholders past the parameters already bound.
  const from = offset === 0 ? rel.sql : rel.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`);
  const enc = plan.encoding;
  const idx: string[] = ['0'];
  const val: string[] = [String(GRID)];
  for (const f of enc.features) {
    const col = `x.${quoteIdent(f.column.sql)}`;
    if (f.kind === 'numeric') {
      idx.push(String(f.index));
      val.push(scaled(col, f.bounds, p));
    } else {
      const pos = position(col, f.levels, p);
      // Level k > 1 sits at index + k - 2; the reference level and unlisted values hold nothing.
      idx.push(`coalesce(${f.index} + ${pos} - 2, ${f.index})`);
      val.push(`(CASE WHEN coalesce(${pos}, 1) > 1 THEN ${GRID} ELSE 0 END)::bigint`);
    }
  }
  const y01 = plan.kind === 'logistic' ? label(enc, p) : '0';
  if (withTarget) {
    idx.push(String(enc.p));
    val.push(plan.kind === 'logistic' ? `((2 * ${y01} - 1) * ${GRID})::bigint` : scaled(`x.${quoteIdent(enc.target.column.sql)}`, enc.target.bounds!, p));
  }
  return `SELECT ARRAY[${idx.join(', ')}]::int[] AS idx, ARRAY[${val.join(', ')}]::bigint[] AS val, ${y01} AS y01 FROM (${from}) x`;
}

/** Sum over rows of z_i z_j for i <= j over the non-zero entries: rows (i, j, s). */
export function sspStatement(plan: TrainingPlan, target: SqlTarget): Statement {
  const p = new Params([]);
  const rows = encodedRows(plan, target, p, true);
  return {
    sql: `SELECT a.i, b.j, sum(a.v * b.v)::text AS s
          FROM (${rows}) r
          CROSS JOIN LATERAL unnest(r.idx, r.val) AS a(i, v)
          CROSS JOIN LATERAL unnest(r.idx, r.val) AS b(j, v)
          WHERE a.i <= b.j AND a.v <> 0 AND b.v <> 0
          GROUP BY a.i, b.j`,
    params: p.list,
  };
}

/**
 * Sum over rows of round(r x_j), r = sigmoid(theta . x) - y01 in [-1, 1], at PUBLIC coefficients
 * theta (the previous noisy iterate). The margin is clamped to [-30, 30] before exp so it can
 * never overflow: rows (i, s).
 */
export function gradientStatement(plan: TrainingPlan, target: SqlTarget, theta: number[]): Statement {
  const p = new Params([]);
  const rows = encodedRows(plan, target, p, false);
  const t = p.add(theta, 'float8[]');
  const margin = `LEAST(GREATEST((SELECT coalesce(sum((${t})[u.i + 1] * u.v), 0) FROM unnest(r.idx, r.val) AS u(i, v)) / ${GRID}, -30), 30)`;
  return {
    sql: `SELECT a.i, sum(LEAST(GREATEST(round(g.r * a.v), -abs(a.v)), abs(a.v))::bigint)::text AS s
          FROM (SELECT r.idx, r.val, 1 / (1 + exp(-${margin})) - r.y01 AS r FROM (${rows}) r) g
          CROSS JOIN LATERAL unnest(g.idx, g.val) AS a(i, v)
          WHERE a.v <> 0
          GROUP BY a.i`,
    params: p.list,
  };
}
