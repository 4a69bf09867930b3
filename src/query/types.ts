import type { PrivacyRequest } from '../core/privacy.js';
/** The request shapes the DP query engine accepts (GraphQL arguments map onto these 1:1). */
export type AggregateKind = 'count' | 'countDistinct' | 'sum' | 'mean' | 'variance' | 'stddev' | 'quantile' | 'histogram';
export const AGGREGATES: readonly AggregateKind[] = ['count', 'countDistinct', 'sum', 'mean', 'variance', 'stddev', 'quantile', 'histogram'];

export interface ColumnFilter {
  eq?: string | number | null;
  in?: (string | number)[] | null;
  gte?: number | null;
  lte?: number | null;
}
/** Keyed by the column's GraphQL name. */
export type WhereInput = Record<string, ColumnFilter | null | undefined>;

/** The privacy arguments are the core's (src/core/privacy.ts), shared by every front end. */
export type { MechanismChoice, PrivacyRequest } from '../core/privacy.js';

export interface AggregateRequest {
  aggregate: AggregateKind;
  column?: string | null;
  q?: number | null;
  by?: string[] | null;
  where?: WhereInput | null;
  privacy?: PrivacyRequest | null;
}
