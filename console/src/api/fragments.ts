import { print } from 'graphql';
import { graphql, type ResultOf } from './graphql.js';

/** Typed selections on the mesh's shared types; per-domain documents are assembled around them. */
export const DomainFields = graphql(`fragment DomainFields on DomainInfo { name title description owner contact sensitivity policySummary }`);
export const DatasetFields = graphql(`
  fragment DatasetFields on DatasetInfo {
    domain name title description sensitivity privacyUnit maxRowsPerUnit maxGroupsPerUnit
    columns { name type description unit lowerBound upperBound granularity categories privacyUnit }
  }`);
export const DpNumberFields = graphql(`
  fragment DpNumberFields on DpNumber {
    value standardError confidenceInterval { low high confidence } errorScale epsilon delta mechanism cached releaseId
  }`);
export const CostFields = graphql(`
  fragment CostFields on CostEstimate {
    epsilon delta mechanism measurements standardError halfWidth95 epsilonCharged fitsBudget remainingAfter note
  }`);
export const BudgetFields = graphql(`
  fragment BudgetFields on BudgetStatus {
    principal domain epsilon delta epsilonSpent epsilonRemaining releases
    global { dataset epsilon epsilonSpent epsilonRemaining }
  }`);
export const AuditFields = graphql(`fragment AuditFields on AuditEntry { seq at actor action detail version state hash }`);
export const LedgerFields = graphql(`fragment LedgerFields on LedgerRecord { id principal dataset releaseId aggregate mechanism epsilon delta createdAt }`);
export const ReleaseFields = graphql(`fragment ReleaseFields on ReleaseRecord { id dataset aggregate principal status epsilon delta resultHash createdAt }`);
export const PolicyFields = graphql(`fragment PolicyFields on PolicyView { scope totalEpsilon totalDelta maxEpsilonPerQuery allowedAggregates rateLimitPerMinute }`);
export const ModelFields = graphql(`fragment ModelFields on SyntheticModelInfo { id dataset epsilon delta rho method cached releaseId estimatedRows measurements createdAt }`);

export type DomainInfo = ResultOf<typeof DomainFields>;
export type DatasetInfo = ResultOf<typeof DatasetFields>;
export type ColumnInfo = DatasetInfo['columns'][number];
export type DpNumber = ResultOf<typeof DpNumberFields>;
export type CostEstimate = ResultOf<typeof CostFields>;
export type BudgetStatus = ResultOf<typeof BudgetFields>;
export type AuditEntry = ResultOf<typeof AuditFields>;
export type LedgerRecord = ResultOf<typeof LedgerFields>;
export type ReleaseRecord = ResultOf<typeof ReleaseFields>;
export type PolicyView = ResultOf<typeof PolicyFields>;
export type SyntheticModel = ResultOf<typeof ModelFields>;

/** `...Name` spread plus the fragment's definition, for documents built at run time. */
export function spread(fragment: { definitions: readonly unknown[] }): { use: string; def: string } {
  const def = print(fragment as never);
  const name = /fragment\s+(\w+)/.exec(def)![1]!;
  return { use: `...${name}`, def };
}

/** The fragment's selection on one line, inlined where a document is shown to be copied. */
export function inline(fragment: { definitions: readonly unknown[] }): string {
  const def = print(fragment as never);
  return def.slice(def.indexOf('{') + 1, def.lastIndexOf('}')).replace(/\s+/g, ' ').trim();
}
