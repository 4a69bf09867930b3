import type { DatasetDeclaration } from '../../src/domain/declaration.js';
import type { AggregateRequest, WhereInput } from '../../src/query/types.js';
import { qualified, quoteIdent, type DomainDatabase } from '../../src/storage/database.js';
import { health } from './datasets.js';

/**
 * The five DP aggregates the benchmark asks of health.visits, as GraphQL through the gateway and
 * as the plain SQL they replace (same filter, no contribution bounding, no clamping).
 */
export const AGGREGATES = ['count', 'sum', 'mean', 'quantile', 'histogram'] as const;
export type Agg = (typeof AGGREGATES)[number];

/** The same filter on both sides: adult patients. */
export const WHERE: WhereInput = { patientAge: { gte: 18 } };
const MIN_AGE = 18;

const FIELD: Record<Agg, string> = {
  count: 'count(where: $w, privacy: $p) { value cached }',
  sum: 'sum(column: COST, where: $w, privacy: $p) { value cached }',
  mean: 'mean(column: COST, where: $w, privacy: $p) { value cached }',
  quantile: 'quantile(column: COST, q: 0.5, where: $w, privacy: $p) { value cached }',
  histogram: 'histogram(by: [DEPARTMENT, SEX], where: $w, privacy: $p) { key count { value cached } }',
};
export const GRAPHQL_SHAPE: Record<Agg, string> = {
  count: 'count',
  sum: 'sum(column: COST)',
  mean: 'mean(column: COST)',
  quantile: 'quantile(column: COST, q: 0.5)',
  histogram: 'histogram(by: [DEPARTMENT, SEX])',
};

export const dpQuery = (a: Agg) => `query Bench($w: HealthVisitsWhere, $p: PrivacyInput) { health { visits { ${FIELD[a]} } } }`;
export const dpVariables = (epsilon: number) => ({ w: WHERE, p: { epsilon } });

/** The `cached` flags of an answer (one per histogram bucket). */
export function cachedFlags(a: Agg, data: any): boolean[] {
  const v = data?.health?.visits?.[a];
  if (v === undefined || v === null) throw new Error(`no ${a} in the answer`);
  if (a === 'histogram') return (v as { count: { cached: boolean } }[]).map((b) => b.count.cached);
  return [(v as { cached: boolean }).cached];
}

/** The engine's request for an aggregate (for planning outside GraphQL). */
export function aggregateRequest(a: Agg, epsilon: number, where: WhereInput | null = WHERE): AggregateRequest {
  const base = { where, privacy: { epsilon } };
  switch (a) {
    case 'count':
      return { aggregate: 'count', ...base };
    case 'sum':
    case 'mean':
      return { aggregate: a, column: 'cost', ...base };
    case 'quantile':
      return { aggregate: 'quantile', column: 'cost', q: 0.5, ...base };
    case 'histogram':
      return { aggregate: 'histogram', by: ['department', 'sex'], ...base };
  }
}

export const visits = (): DatasetDeclaration => health().datasets.find((d) => d.name === 'visits')!;
const col = (name: string) => quoteIdent(visits().columns.find((c) => c.name === name)!.sql);

/** The plain aggregate SQL: what a non-private system would run. */
export function rawStatement(db: DomainDatabase, a: Agg, filtered = true): { sql: string; params: unknown[] } {
  const t = qualified(db, visits().table);
  const where = filtered ? `WHERE ${col('patientAge')} >= $1::integer` : '';
  const params = filtered ? [MIN_AGE] : [];
  switch (a) {
    case 'count':
      return { sql: `SELECT count(*)::text AS n FROM ${t} ${where}`, params };
    case 'sum':
      return { sql: `SELECT sum(${col('cost')})::float8 AS s FROM ${t} ${where}`, params };
    case 'mean':
      return { sql: `SELECT avg(${col('cost')})::float8 AS m FROM ${t} ${where}`, params };
    case 'quantile':
      return { sql: `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ${col('cost')}) AS q FROM ${t} ${where}`, params };
    case 'histogram':
      return { sql: `SELECT ${col('department')} AS k0, ${col('sex')} AS k1, count(*)::text AS n FROM ${t} ${where} GROUP BY 1, 2`, params };
  }
}
