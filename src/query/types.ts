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

export type MechanismChoice = 'LAPLACE' | 'GAUSSIAN';
export interface PrivacyRequest {
  epsilon?: number | null;
  delta?: number | null;
  mechanism?: MechanismChoice | null;
  accuracy?: { within: number; confidence?: number | null } | null;
}

export interface AggregateRequest {
  aggregate: AggregateKind;
  column?: string | null;
  q?: number | null;
  by?: string[] | null;
  where?: WhereInput | null;
  privacy?: PrivacyRequest | null;
}
