import 'reflect-metadata';
import { Directive, Field, Float, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';

/**
 * The value types every domain subgraph shares. They are @shareable: each subgraph defines them
 * identically, and the gateway may take any field from any of them. Per-dataset types are generated
 * from the declaration (sdl.ts); these are the fixed vocabulary they are made of.
 */

export enum Mechanism {
  LAPLACE = 'LAPLACE',
  GAUSSIAN = 'GAUSSIAN',
}
registerEnumType(Mechanism, {
  name: 'Mechanism',
  description: 'Noise distribution. LAPLACE: discrete Laplace, pure epsilon-DP. GAUSSIAN: discrete Gaussian, zCDP (needs delta > 0).',
});

export enum ErrorScale {
  VALUE = 'VALUE',
  RANK = 'RANK',
}
registerEnumType(ErrorScale, {
  name: 'ErrorScale',
  description: 'Scale of standardError and confidenceInterval: VALUE in the answer\'s own unit; RANK in rows of rank around the asked quantile.',
});

@InputType({ description: 'Ask by accuracy instead of epsilon: the smallest epsilon meeting it is used (count, countDistinct, sum, histogram).' })
export class AccuracyInput {
  @Field(() => Float, { description: 'Half-width of the interval, in the answer\'s unit (e.g. 50 for +-50).' })
  within!: number;
  @Field(() => Float, { nullable: true, description: 'Probability that the noise stays within it. Default 0.95.' })
  confidence?: number;
}

@InputType({ description: 'Privacy parameters of one release. Omitted fields take the domain policy\'s defaults.' })
export class PrivacyInput {
  @Field(() => Float, { nullable: true, description: 'Privacy loss epsilon to spend (> 0, at most the policy\'s per-query maximum).' })
  epsilon?: number;
  @Field(() => Float, { nullable: true, description: 'delta (0 for pure DP; > 0 for GAUSSIAN and for key selection).' })
  delta?: number;
  @Field(() => Mechanism, { nullable: true, description: 'Noise mechanism. Default LAPLACE, or GAUSSIAN when delta > 0.' })
  mechanism?: Mechanism;
  @Field(() => AccuracyInput, { nullable: true, description: 'Target accuracy instead of epsilon.' })
  accuracy?: AccuracyInput;
}

@Directive('@shareable')
@ObjectType({ description: 'A closed interval.' })
export class Interval {
  @Field(() => Float, { description: 'Lower end.' })
  low!: number;
  @Field(() => Float, { description: 'Upper end.' })
  high!: number;
  @Field(() => Float, { description: 'Probability the interval holds (e.g. 0.95).' })
  confidence!: number;
}

@Directive('@shareable')
@ObjectType({ description: 'A differentially private number: the noisy answer and what it cost.' })
export class DpNumber {
  @Field(() => Float, { description: 'The noisy answer.' })
  value!: number;
  @Field(() => Float, { description: 'Standard error of the noise (public: depends only on the mechanism).' })
  standardError!: number;
  @Field(() => Interval, { description: 'Interval that contains the noise-free value with the stated confidence (noise only; 95%).' })
  confidenceInterval!: Interval;
  @Field(() => ErrorScale, { description: 'Scale of standardError and confidenceInterval.' })
  errorScale!: ErrorScale;
  @Field(() => Float, { description: 'Epsilon of this release.' })
  epsilon!: number;
  @Field(() => Float, { description: 'Delta of this release.' })
  delta!: number;
  @Field({ description: 'Mechanism that produced it (discreteLaplace, discreteGaussian, permute-and-flip, ...).' })
  mechanism!: string;
  @Field({ description: 'True when served from the release cache at no cost.' })
  cached!: boolean;
  @Field(() => ID, { description: 'Release identifier (ledger and audit log refer to it).' })
  releaseId!: string;
  @Field(() => Float, { nullable: true, description: 'Your spent epsilon in this domain before this release was charged (at your cap\'s delta, as the accountant proves it); null when nothing was charged (cached).' })
  budgetBefore?: number | null;
  @Field(() => Float, { nullable: true, description: 'Your spent epsilon after this release was charged; it moves by at most the epsilon asked. Null when nothing was charged.' })
  budgetAfter?: number | null;
}

@Directive('@shareable')
@ObjectType({ description: 'One bucket of a DP histogram.' })
export class DpBucket {
  @Field(() => [String], { description: 'Values of the grouping columns, in the order asked.' })
  key!: string[];
  @Field(() => DpNumber, { description: 'Noisy number of rows (contribution-bounded) in the bucket.' })
  count!: DpNumber;
}

@Directive('@shareable')
@ObjectType({ description: 'What a query would cost and how accurate it would be, without running it.' })
export class CostEstimate {
  @Field(() => Float, { description: 'Epsilon the query would spend.' })
  epsilon!: number;
  @Field(() => Float, { description: 'Delta the query would spend.' })
  delta!: number;
  @Field({ description: 'Mechanism that would be used.' })
  mechanism!: string;
  @Field(() => Int, { description: 'Number of noisy measurements the budget is split over.' })
  measurements!: number;
  @Field(() => Float, { nullable: true, description: 'Standard error of the noise, when it does not depend on the data.' })
  standardError?: number | null;
  @Field(() => Float, { nullable: true, description: 'Half-width of the 95% noise interval, when it does not depend on the data.' })
  halfWidth95?: number | null;
  @Field(() => Float, { description: 'Epsilon the accountant would charge at your delta cap.' })
  epsilonCharged!: number;
  @Field({ description: 'Whether it fits your remaining budget now.' })
  fitsBudget!: boolean;
  @Field(() => Float, { description: 'Epsilon left to you after it (tight composition).' })
  remainingAfter!: number;
  @Field(() => Float, { description: 'Your spent epsilon in this domain now (at your cap\'s delta, as the accountant proves it).' })
  budgetBefore!: number;
  @Field(() => Float, { description: 'Your spent epsilon if this query were charged (it moves by at most the epsilon asked).' })
  budgetAfter!: number;
  @Field(() => Int, { description: 'How many more queries like this one your budget allows, composed as the accountant composes them (1e9 stands for unlimited).' })
  moreOfThese!: number;
  @Field({ description: 'Why it costs what it costs.' })
  note!: string;
}

@Directive('@shareable')
@ObjectType({ description: 'A dataset\'s global cap across all principals (analysts can collude).' })
export class DatasetBudget {
  @Field({ description: 'Dataset name.' })
  dataset!: string;
  @Field(() => Float, { description: 'Cap on epsilon across all principals.' })
  epsilon!: number;
  @Field(() => Float, { description: 'Epsilon spent by everyone, under tight composition.' })
  epsilonSpent!: number;
  @Field(() => Float, { description: 'Epsilon left under the cap.' })
  epsilonRemaining!: number;
}

@Directive('@shareable')
@ObjectType({ description: 'A principal\'s privacy budget in one domain, in (epsilon, delta) terms, composed tightly.' })
export class BudgetStatus {
  @Field(() => ID, { description: 'Principal.' })
  principal!: string;
  @Field({ description: 'Domain.' })
  domain!: string;
  @Field(() => Float, { description: 'Cap on epsilon for this principal.' })
  epsilon!: number;
  @Field(() => Float, { description: 'Delta at which epsilon is measured.' })
  delta!: number;
  @Field(() => Float, { description: 'Epsilon spent, as the accountant proves it (less than the sum of releases).' })
  epsilonSpent!: number;
  @Field(() => Float, { description: 'Epsilon left.' })
  epsilonRemaining!: number;
  @Field(() => Int, { description: 'Releases charged.' })
  releases!: number;
  @Field(() => [DatasetBudget], { description: 'Global caps of the domain\'s datasets.' })
  global!: DatasetBudget[];
}

@Directive('@shareable')
@ObjectType({ description: 'A column of a dataset, as the catalog describes it.' })
export class ColumnInfo {
  @Field({ description: 'Column name (row field and enum value source).' })
  name!: string;
  @Field({ description: 'integer, float, categorical, text or id.' })
  type!: string;
  @Field({ description: 'What the column holds.' })
  description!: string;
  @Field({ nullable: true, description: 'Unit of numeric values.' })
  unit?: string;
  @Field(() => Float, { nullable: true, description: 'Public lower bound (numeric).' })
  lowerBound?: number;
  @Field(() => Float, { nullable: true, description: 'Public upper bound (numeric).' })
  upperBound?: number;
  @Field(() => Float, { nullable: true, description: 'Granularity at which values are released.' })
  granularity?: number;
  @Field(() => [String], { nullable: true, description: 'Public category list (categorical); null when keys are not public.' })
  categories?: string[] | null;
  @Field({ description: 'True for the privacy-unit column.' })
  privacyUnit!: boolean;
}

@Directive('@shareable')
@ObjectType({ description: 'A catalog entry: one data product of a domain.' })
export class DatasetInfo {
  @Field({ description: 'Domain that owns it.' })
  domain!: string;
  @Field({ description: 'Dataset name (field under the domain).' })
  name!: string;
  @Field({ description: 'Human title.' })
  title!: string;
  @Field({ description: 'What one row is.' })
  description!: string;
  @Field({ description: 'open (rows listable) or sensitive (DP answers only).' })
  sensitivity!: string;
  @Field({ description: 'Column identifying the protected person, or "row".' })
  privacyUnit!: string;
  @Field(() => Int, { description: 'At most this many rows per privacy unit enter any answer.' })
  maxRowsPerUnit!: number;
  @Field(() => Int, { description: 'At most this many groups per privacy unit enter a histogram.' })
  maxGroupsPerUnit!: number;
  @Field(() => [ColumnInfo], { description: 'Columns.' })
  columns!: ColumnInfo[];
}

@Directive('@shareable')
@ObjectType({ description: 'Who owns a domain and on what terms it shares data.' })
export class DomainInfo {
  @Field({ description: 'Domain name (root field).' })
  name!: string;
  @Field({ description: 'Human title.' })
  title!: string;
  @Field({ description: 'What the domain publishes.' })
  description!: string;
  @Field({ description: 'Owning team.' })
  owner!: string;
  @Field({ description: 'Contact of the owner.' })
  contact!: string;
  @Field({ description: 'open or sensitive.' })
  sensitivity!: string;
  @Field({ description: 'Summary of the default policy.' })
  policySummary!: string;
}

@Directive('@shareable')
@ObjectType({ description: 'An audit log entry (hash-chained).' })
export class AuditEntry {
  @Field(() => ID, { description: 'Sequence number.' })
  seq!: string;
  @Field({ description: 'When (UTC, ISO 8601).' })
  at!: string;
  @Field({ description: 'Principal who acted.' })
  actor!: string;
  @Field({ description: 'What happened (release.charge, release.complete, admin.setBudget, ...).' })
  action!: string;
  @Field({ description: 'Details as JSON.' })
  detail!: string;
  @Field({ description: 'Hash of this entry (covers the previous hash).' })
  hash!: string;
  @Field(() => Int, { description: 'Chain format: from 2 on, the hash also covers the sequence number and the post-change budget state.' })
  version!: number;
  @Field(() => String, { nullable: true, description: 'Post-change state of every budget the entry touched, as JSON (version 2 and later; null otherwise).' })
  state?: string | null;
}

@Directive('@shareable')
@ObjectType({ description: 'A DP release recorded by a domain.' })
export class ReleaseRecord {
  @Field(() => ID, { description: 'Release id.' })
  id!: string;
  @Field({ description: 'Dataset.' })
  dataset!: string;
  @Field({ description: 'Aggregate.' })
  aggregate!: string;
  @Field({ description: 'Principal who first asked for it.' })
  principal!: string;
  @Field({ description: 'pending, done or failed.' })
  status!: string;
  @Field(() => Float, { description: 'Epsilon.' })
  epsilon!: number;
  @Field(() => Float, { description: 'Delta.' })
  delta!: number;
  @Field({ nullable: true, description: 'SHA-256 of the released result.' })
  resultHash?: string;
  @Field({ description: 'When (UTC, ISO 8601).' })
  createdAt!: string;
}

@Directive('@shareable')
@ObjectType({ description: 'A charge in the privacy ledger.' })
export class LedgerRecord {
  @Field(() => ID, { description: 'Entry id.' })
  id!: string;
  @Field({ description: 'Principal charged.' })
  principal!: string;
  @Field({ description: 'Dataset.' })
  dataset!: string;
  @Field(() => ID, { description: 'Release it paid for.' })
  releaseId!: string;
  @Field({ description: 'Aggregate.' })
  aggregate!: string;
  @Field({ description: 'Mechanism.' })
  mechanism!: string;
  @Field(() => Float, { description: 'Epsilon asked.' })
  epsilon!: number;
  @Field(() => Float, { description: 'Delta asked.' })
  delta!: number;
  @Field({ description: 'When (UTC, ISO 8601).' })
  createdAt!: string;
}

@Directive('@shareable')
@ObjectType({ description: 'Effective policy of a domain for a scope.' })
export class PolicyView {
  @Field({ description: 'Scope: domain, role:<role> or principal:<id>.' })
  scope!: string;
  @Field(() => Float, { nullable: true, description: 'Total epsilon per principal.' })
  totalEpsilon?: number | null;
  @Field(() => Float, { nullable: true, description: 'Total delta per principal.' })
  totalDelta?: number | null;
  @Field(() => Float, { nullable: true, description: 'Maximum epsilon of one query.' })
  maxEpsilonPerQuery?: number | null;
  @Field(() => [String], { nullable: true, description: 'Aggregates allowed (null: all).' })
  allowedAggregates?: string[] | null;
  @Field(() => Int, { nullable: true, description: 'DP queries per minute.' })
  rateLimitPerMinute?: number | null;
  @Field(() => Int, { nullable: true, description: 'Work limit of one operation: synthetic rows generated, rows exported and public buckets released (null: CDM_MAX_SYNTHETIC_ROWS_PER_OPERATION).' })
  maxRowsPerOperation?: number | null;
  @Field(() => Int, { nullable: true, description: 'CSV exports one principal streams at once (null: CDM_MAX_CONCURRENT_EXPORTS).' })
  maxConcurrentExports?: number | null;
  @Field(() => Int, { nullable: true, description: 'Operations computing new DP releases one principal runs at once; memoised answers take no slot (null: CDM_MAX_CONCURRENT_OPERATIONS).' })
  maxConcurrentOperations?: number | null;
}

@InputType({ description: 'Policy fields to set for a scope; null clears a field (inherit).' })
export class PolicyInput {
  @Field(() => Float, { nullable: true, description: 'Total epsilon per principal.' })
  totalEpsilon?: number | null;
  @Field(() => Float, { nullable: true, description: 'Total delta per principal.' })
  totalDelta?: number | null;
  @Field(() => Float, { nullable: true, description: 'Maximum epsilon of one query.' })
  maxEpsilonPerQuery?: number | null;
  @Field(() => [String], { nullable: true, description: 'Aggregates allowed (null: all).' })
  allowedAggregates?: string[] | null;
  @Field(() => Int, { nullable: true, description: 'DP queries per minute.' })
  rateLimitPerMinute?: number | null;
  @Field(() => Int, { nullable: true, description: 'Work limit of one operation: synthetic rows generated, rows exported and public buckets released (null: CDM_MAX_SYNTHETIC_ROWS_PER_OPERATION).' })
  maxRowsPerOperation?: number | null;
  @Field(() => Int, { nullable: true, description: 'CSV exports one principal streams at once (null: CDM_MAX_CONCURRENT_EXPORTS).' })
  maxConcurrentExports?: number | null;
  @Field(() => Int, { nullable: true, description: 'Operations computing new DP releases one principal runs at once; memoised answers take no slot (null: CDM_MAX_CONCURRENT_OPERATIONS).' })
  maxConcurrentOperations?: number | null;
}

@Directive('@shareable')
@ObjectType({ description: 'Relay page info.' })
export class PageInfo {
  @Field({ description: 'More rows after this page.' })
  hasNextPage!: boolean;
  @Field({ nullable: true, description: 'Cursor of the last row of the page.' })
  endCursor?: string;
}

export const SHARED_TYPES_BASE = [Interval, DpNumber, DpBucket, CostEstimate, DatasetBudget, BudgetStatus, ColumnInfo, DatasetInfo, DomainInfo, AuditEntry, ReleaseRecord, LedgerRecord, PolicyView, PageInfo];

@InputType({ description: 'Filter on an integer column: eq, in, or a range (gte/lte), within the public bounds.' })
export class IntFilter {
  @Field(() => Int, { nullable: true, description: 'Equal to.' })
  eq?: number;
  @Field(() => [Int], { nullable: true, description: 'One of (at most 1000 values).' })
  in?: number[];
  @Field(() => Int, { nullable: true, description: 'Greater than or equal to.' })
  gte?: number;
  @Field(() => Int, { nullable: true, description: 'Less than or equal to.' })
  lte?: number;
}

@InputType({ description: 'Filter on a real-valued column: eq, in, or a range (gte/lte).' })
export class FloatFilter {
  @Field(() => Float, { nullable: true, description: 'Equal to.' })
  eq?: number;
  @Field(() => [Float], { nullable: true, description: 'One of (at most 1000 values).' })
  in?: number[];
  @Field(() => Float, { nullable: true, description: 'Greater than or equal to.' })
  gte?: number;
  @Field(() => Float, { nullable: true, description: 'Less than or equal to.' })
  lte?: number;
}

@InputType({ description: 'Filter on a categorical or text column: eq or in. Values of a column with a public list must be in it.' })
export class StringFilter {
  @Field({ nullable: true, description: 'Equal to.' })
  eq?: string;
  @Field(() => [String], { nullable: true, description: 'One of (at most 1000 values).' })
  in?: string[];
}

@Directive('@shareable')
@ObjectType({ description: 'A fitted DP synthetic-data model (a release): fitted once per (dataset, epsilon, delta), charged once; sampling from it is free.' })
export class SyntheticModelInfo {
  @Field(() => ID, { description: 'Model id (the id of the release that fitted it).' })
  id!: string;
  @Field({ description: 'Dataset it models.' })
  dataset!: string;
  @Field(() => Float, { description: 'Epsilon of the fit.' })
  epsilon!: number;
  @Field(() => Float, { description: 'Delta of the fit.' })
  delta!: number;
  @Field(() => Float, { description: 'zCDP rho the fit spent (all its measurements and selections).' })
  rho!: number;
  @Field({ description: 'Method: aim (adaptive 2-/3-way marginals) or mst.' })
  method!: string;
  @Field({ description: 'True when an existing model was reused at no cost.' })
  cached!: boolean;
  @Field(() => ID, { description: 'Release id in the ledger and the audit log.' })
  releaseId!: string;
  @Field(() => Int, { description: 'The model\'s noisy estimate of the number of rows (a DP output).' })
  estimatedRows!: number;
  @Field(() => Int, { description: 'Noisy marginals measured.' })
  measurements!: number;
  @Field({ nullable: true, description: 'When it was fitted (UTC, ISO 8601).' })
  createdAt?: string;
}


export enum SqlType {
  TEXT = 'TEXT',
  INTEGER = 'INTEGER',
  FLOAT = 'FLOAT',
  BOOLEAN = 'BOOLEAN',
}
registerEnumType(SqlType, { name: 'SqlType', description: 'Type of a DP SQL result column.' });

@Directive('@shareable')
@ObjectType({ description: 'One row of a DP SQL answer: the group key (empty without GROUP BY) and one DP number per DP column.' })
export class SqlRow {
  @Field(() => [String], { description: 'Values of the GROUP BY columns, in order (empty without GROUP BY).' })
  key!: string[];
  @Field(() => [DpNumber], { description: 'One DP number per numeric DP column, in the order of `columns`.' })
  values!: DpNumber[];
}

@Directive('@shareable')
@ObjectType({ description: 'A column of a DP SQL result.' })
export class SqlColumn {
  @Field({ description: 'Output name (alias, or PostgreSQL\'s default name).' })
  name!: string;
  @Field(() => SqlType, { description: 'Value type.' })
  type!: SqlType;
  @Field({ description: 'True when computed from DP values (it has error bars); false for public group keys and constants.' })
  private!: boolean;
}

@Directive('@shareable')
@ObjectType({ description: 'One typed value of a DP SQL result, with its error bars when it is a DP value.' })
export class SqlCell {
  @Field({ nullable: true, description: 'The value as text (TEXT and BOOLEAN columns, and every value for display).' })
  text?: string;
  @Field(() => Float, { nullable: true, description: 'The value as a number (INTEGER and FLOAT columns).' })
  number?: number;
  @Field({ description: 'True for SQL NULL.' })
  isNull!: boolean;
  @Field(() => Float, { nullable: true, description: 'Standard error of the noise (DP values).' })
  standardError?: number;
  @Field(() => Interval, { nullable: true, description: 'Confidence interval of the noise (DP values).' })
  confidenceInterval?: Interval;
  @Field(() => Float, { nullable: true, description: 'Confidence of the interval.' })
  confidence?: number;
  @Field(() => ErrorScale, { nullable: true, description: 'Scale of the error bars.' })
  errorScale?: ErrorScale;
}

@Directive('@shareable')
@ObjectType({ description: 'A row of typed cells.' })
export class SqlTypedRow {
  @Field(() => [SqlCell], { description: 'One cell per column.' })
  cells!: SqlCell[];
}

@Directive('@shareable')
@ObjectType({ description: 'Typed tabular result of a DP SQL statement.' })
export class SqlTable {
  @Field(() => [SqlColumn], { description: 'Columns, in select-list order.' })
  columns!: SqlColumn[];
  @Field(() => [SqlTypedRow], { description: 'Rows after HAVING, ORDER BY and LIMIT/OFFSET.' })
  rows!: SqlTypedRow[];
}

@Directive('@shareable')
@ObjectType({ description: 'One noisy measurement of a plan.' })
export class SqlMeasurement {
  @Field({ description: 'Measurement id in the plan.' })
  name!: string;
  @Field({ description: 'What is measured per group (count, units, sum, centredSum, sumSquares, quantile(q)).' })
  statistic!: string;
  @Field({ nullable: true, description: 'Column measured.' })
  column?: string;
  @Field(() => Float, { description: 'L1 sensitivity (adding or removing one privacy unit), in grid units.' })
  l1Sensitivity!: number;
  @Field(() => Float, { description: 'L2 sensitivity.' })
  l2Sensitivity!: number;
  @Field({ description: 'Mechanism.' })
  mechanism!: string;
  @Field(() => Float, { description: 'Noise scale (quantiles: the epsilon of each group\'s selection).' })
  scale!: number;
  @Field(() => Float, { nullable: true, description: 'Standard error of the noise in the answer\'s unit (null for quantiles: rank-scale).' })
  standardError?: number;
}

@Directive('@shareable')
@ObjectType({ description: 'The plan of a DP SQL statement and what it would cost, without running it.' })
export class SqlExplain {
  @Field(() => [String], { description: 'Datasets read.' })
  datasets!: string[];
  @Field({ description: 'The relation (filters, joins, contribution bound) as JSON.' })
  relation!: string;
  @Field(() => Float, { description: 'Rows one privacy unit contributes after bounding.' })
  rowsPerUnit!: number;
  @Field(() => Int, { nullable: true, description: 'Groups one unit contributes to (grouped queries).' })
  groupsPerUnit?: number;
  @Field(() => Int, { nullable: true, description: 'Rows per group of one unit (grouped queries).' })
  rowsPerGroup?: number;
  @Field(() => [String], { description: 'Grouping columns.' })
  groupBy!: string[];
  @Field({ description: 'Where group keys come from: public, select (DP key selection) or none.' })
  keys!: string;
  @Field(() => [SqlMeasurement], { description: 'The noisy measurements.' })
  measurements!: SqlMeasurement[];
  @Field({ description: 'Privacy costs of the measurements, as JSON.' })
  costs!: string;
  @Field(() => Float, { description: 'Epsilon charged at your delta cap.' })
  epsilonCharged!: number;
  @Field({ description: 'Whether it fits your remaining budget now.' })
  fitsBudget!: boolean;
  @Field(() => Float, { description: 'Epsilon left to you after it.' })
  remainingAfter!: number;
  @Field(() => Float, { nullable: true, description: 'Standard error when it does not depend on the data (one count or sum).' })
  standardError?: number;
  @Field({ description: 'Why it costs what it costs.' })
  note!: string;
}

@Directive('@shareable')
@ObjectType({ description: 'The answer to a DP SQL statement: ONE release (one plan, one charge) whatever it selects.' })
export class SqlRelease {
  @Field({ description: 'The query, whitespace-normalised.' })
  query!: string;
  @Field({ description: 'First dataset read.' })
  dataset!: string;
  @Field(() => [String], { description: 'Datasets read (joins included).' })
  datasets!: string[];
  @Field(() => [String], { description: 'Names of the numeric DP columns (those in rows.values).' })
  columns!: string[];
  @Field(() => [SqlRow], { description: 'Result rows (group key and DP numbers).' })
  rows!: SqlRow[];
  @Field(() => SqlTable, { nullable: true, description: 'Typed result: every column with its type, every cell with its error bars (null with explain).' })
  table?: SqlTable;
  @Field(() => SqlExplain, { nullable: true, description: 'The plan and its cost (explain: true only).' })
  explain?: SqlExplain;
  @Field(() => Float, { description: 'Total epsilon of the statement (split inside the plan over its measurements).' })
  epsilon!: number;
  @Field(() => Float, { description: 'Total delta of the statement.' })
  delta!: number;
  @Field({ description: 'Mechanism.' })
  mechanism!: string;
  @Field({ description: 'True when served from the release cache at no cost.' })
  cached!: boolean;
  @Field(() => ID, { nullable: true, description: 'The release (null with explain).' })
  releaseId?: string;
}

export const SHARED_TYPES = [...SHARED_TYPES_BASE, SyntheticModelInfo, SqlRow, SqlColumn, SqlCell, SqlTypedRow, SqlTable, SqlMeasurement, SqlExplain, SqlRelease];
