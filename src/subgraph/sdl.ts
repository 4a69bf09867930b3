import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { filterableColumns } from '../core/stability.js';
import { describeColumn, enumValue, names } from './naming.js';

/**
 * The per-domain part of a subgraph's SDL, generated from the declaration: the domain namespace,
 * one typed surface per dataset (column enums, where inputs, DP aggregate fields; rows only for
 * open datasets), admin fields, and the domain's budget field on Principal. Every type, field,
 * argument and enum value carries a description: introspection is the catalog.
 */
const d = (text: string) => JSON.stringify(text);

export function domainSdl(domain: DomainDeclaration): string {
  const n = names(domain);
  const sensitive = domain.sensitivity === 'sensitive';
  const parts: string[] = [];
  parts.push(`${d(`${domain.title}: ${domain.description} Owner: ${domain.owner.team} (${domain.owner.contact}).`)}
type ${n.domainType} implements DataDomain${sensitive ? ' & SensitiveDomain' : ''} {
  ${d('Owner, description, sensitivity and policy summary of the domain.')}
  info: DomainInfo!
  ${d('Catalog of the domain\'s datasets: columns, types, bounds, privacy unit.')}
  datasets: [DatasetInfo!]!
${domain.datasets.map((ds) => `  ${d(`${ds.title}: ${ds.description}`)}\n  ${ds.name}: ${n.dataset(ds).type}!`).join('\n')}
${sensitive ? `  ${d('Your privacy budget in this domain: spent and remaining, under your cap and the global caps.')}\n  budget: BudgetStatus!` : ''}
${sensitive ? `  ${d('DP SQL (PostgreSQL grammar): one SELECT over this domain\'s datasets, compiled to one DP plan and released once. Aggregates COUNT(*), COUNT(DISTINCT <unit>), SUM, AVG, VARIANCE, STDDEV, PERCENTILE_CONT/DISC, MEDIAN, MIN/MAX (DP quantiles 0.01/0.99) and expressions of them; WHERE with AND/OR/NOT/IN/BETWEEN/LIKE/IS NULL; GROUP BY declared columns; HAVING, ORDER BY, LIMIT/OFFSET as free post-processing; filtering subqueries and CTEs; JOIN with a public table on its key, or of two datasets on the privacy unit. Anything that cannot be bounded is refused with BAD_USER_INPUT naming the construct and its position.')}\n  sql(${d('The statement.')} query: String!, ${d('Privacy of the whole statement (epsilon and delta are split inside the plan).')} privacy: PrivacyInput, ${d('Return the plan, each measurement\'s sensitivity, mechanism and error, and the cost, without running or spending.')} explain: Boolean = false): SqlRelease!` : ''}
${sensitive ? `  ${d('Fitted DP synthetic-data models of this domain (reused for free by anyone in the domain).')}\n  syntheticModels(${d('Only this dataset.')} dataset: ${n.datasetEnum}): [SyntheticModelInfo!]!` : ''}
}

extend type Query {
  ${d(`${domain.title} (${domain.sensitivity} domain owned by ${domain.owner.team}).`)}
  ${n.root}: ${n.domainType}!
${sensitive ? adminQueries(domain) : ''}
}`);
  if (sensitive) parts.push(adminMutations(domain), principalExtension(domain));
  parts.push(datasetEnum(domain));
  for (const ds of domain.datasets) parts.push(datasetSdl(domain, ds));
  return parts.join('\n\n') + '\n';
}

function datasetEnum(domain: DomainDeclaration): string {
  const n = names(domain);
  return `${d(`Datasets of ${domain.name}.`)}
enum ${n.datasetEnum} {
${domain.datasets.map((ds) => `  ${d(ds.title)} ${enumValue(ds.name)}`).join('\n')}
}`;
}

function datasetSdl(domain: DomainDeclaration, ds: DatasetDeclaration): string {
  const t = names(domain).dataset(ds);
  const open = domain.sensitivity === 'open';
  const numeric = ds.columns.filter((c) => c.type === 'integer' || c.type === 'float');
  const categorical = ds.columns.filter((c) => c.type === 'categorical');
  const out = [columnEnum(t.column, `Columns of ${ds.name}.`, ds, ds.columns.filter((c) => open || c.name !== ds.privacyUnit))];
  if (numeric.length) out.push(columnEnum(t.numeric, `Numeric columns of ${ds.name} (values clamped to their public bounds).`, ds, numeric));
  if (categorical.length) out.push(columnEnum(t.categorical, `Categorical columns of ${ds.name}.`, ds, categorical));
  out.push(whereInput(t.where, ds, open));
  out.push(open ? openDatasetSdl(domain, ds) : sensitiveDatasetSdl(domain, ds, numeric.length > 0, categorical.length > 0));
  return out.join('\n\n');
}

function columnEnum(name: string, description: string, ds: DatasetDeclaration, cols: ColumnDeclaration[]): string {
  return `${d(description)}
enum ${name} {
${cols.map((c) => `  ${d(`${c.name}: ${describeColumn(ds, c)}`)} ${enumValue(c.name)}`).join('\n')}
}`;
}

const FILTER_TYPE: Record<ColumnDeclaration['type'], string> = { integer: 'IntFilter', float: 'FloatFilter', categorical: 'StringFilter', text: 'StringFilter', id: 'StringFilter' };

function whereInput(name: string, ds: DatasetDeclaration, open: boolean): string {
  const cols = filterableColumns(ds, open);
  return `${d(`Row filter on ${ds.name}: all given conditions must hold (eq/in/range on declared columns only).`)}
input ${name} {
${cols.map((c) => `  ${d(describeColumn(ds, c))}\n  ${c.name}: ${FILTER_TYPE[c.type]}`).join('\n')}
}`;
}

function sensitiveDatasetSdl(domain: DomainDeclaration, ds: DatasetDeclaration, hasNumeric: boolean, hasCategorical: boolean): string {
  const t = names(domain).dataset(ds);
  const unit = ds.privacyUnit === 'row' ? 'one row is one person' : `privacy unit: ${ds.privacyUnit}, at most ${ds.contribution.maxRowsPerUnit} rows and ${ds.contribution.maxGroupsPerUnit} groups per unit`;
  const common = `${d('Rows to include.')} where: ${t.where}, ${d('Epsilon/delta/mechanism, or a target accuracy.')} privacy: PrivacyInput`;
  const col = `${d('Numeric column, clamped to its public bounds.')} column: ${t.numeric}!`;
  const fields = [
    `  ${d(`DP number of rows (sensitivity ${ds.contribution.maxRowsPerUnit}).`)}\n  count(${common}): DpNumber!`,
    `  ${d('DP number of distinct privacy units (sensitivity 1).')}\n  countDistinct(${common}): DpNumber!`,
  ];
  if (hasNumeric) {
    fields.push(
      `  ${d('DP sum of a column (sensitivity max(|lower|, |upper|) x maxRowsPerUnit).')}\n  sum(${col}, ${common}): DpNumber!`,
      `  ${d('DP mean of a column (two measurements: count and centred sum; epsilon split in two).')}\n  mean(${col}, ${common}): DpNumber!`,
      `  ${d('DP variance of a column (three measurements; epsilon split in three).')}\n  variance(${col}, ${common}): DpNumber!`,
      `  ${d('DP standard deviation of a column (square root of the DP variance).')}\n  stddev(${col}, ${common}): DpNumber!`,
      `  ${d('DP quantile of a column by permute-and-flip over a fine histogram (pure epsilon; error in rank).')}\n  quantile(${col}, ${d('Quantile in (0, 1), e.g. 0.5 for the median (resolution 0.0001).')} q: Float!, ${common}): DpNumber!`,
    );
  }
  if (hasCategorical) {
    fields.push(`  ${d('DP histogram over 1-3 categorical columns: every public key (zeros included), or DP key selection for columns without a public list.')}\n  histogram(${d('Grouping columns.')} by: [${t.categorical}!]!, ${common}): [DpBucket!]!`);
  }
  fields.push(
    `  ${d('Cost preview: what a query would spend and its expected error, without running it or spending budget.')}\n  estimate(${d('Aggregate to preview.')} aggregate: Aggregate!, ${hasNumeric ? `${d('Numeric column (sum, mean, variance, stddev, quantile).')} column: ${t.numeric}, ${d('Quantile (quantile only).')} q: Float, ` : ''}${hasCategorical ? `${d('Grouping columns (histogram only).')} by: [${t.categorical}!], ` : ''}${common}): CostEstimate!`,
  );
  fields.push(
    `  ${d('DP synthetic rows with the dataset\'s columns, sampled from a marginal-based model (AIM-style) fitted on the real rows. The model is fitted once per (epsilon, delta) and charged once; sampling more rows, or other seeds, is free. Columns without public bounds or categories are null.')}\n  synthetic(${d('Rows to generate (1 to 1,000,000).')} rows: Int!, ${d('Sampling seed: the same seed gives the same rows.')} seed: Int = 0, ${d('Epsilon and delta of the fit (default epsilon 1).')} privacy: PrivacyInput, ${d('Page size (1-1000).')} first: Int = 100, ${d('Cursor of the last row of the previous page.')} after: String): ${t.syntheticConnection}!`,
  );
  const synthRow = ds.columns.filter((c) => c.name !== ds.privacyUnit);
  fields.push(`  ${d('This dataset\'s catalog entry (the same as in the domain\'s datasets list).')}\n  catalog: DatasetInfo!`);
  fields.push(`  ${d('Fitted DP synthetic-data models of this dataset.')}\n  syntheticModels: [SyntheticModelInfo!]!`);
  return `${d(`${ds.title} (sensitive; ${unit}). ${ds.description} Differentially private answers only: no row, value or exact count ever leaves the domain.`)}
type ${t.type} implements Dataset & SensitiveDataset {
${fields.join('\n')}
}

${d(`A SYNTHETIC row of ${ds.name}: sampled from a DP model, not a real record.`)}
type ${t.syntheticRow} {
${synthRow.map((c) => `  ${d(describeColumn(ds, c))}\n  ${c.name}: ${GQL_TYPE[c.type]}`).join('\n')}
}

${d(`An edge of the synthetic ${ds.name} connection.`)}
type ${t.syntheticEdge} {
  ${d('Opaque cursor of this row.')}
  cursor: String!
  ${d('The synthetic row.')}
  node: ${t.syntheticRow}!
}

${d(`A page of synthetic ${ds.name} rows.`)}
type ${t.syntheticConnection} {
  ${d('Rows of this page.')}
  edges: [${t.syntheticEdge}!]!
  ${d('Paging information.')}
  pageInfo: PageInfo!
  ${d('Rows in the whole synthetic sample (the rows argument).')}
  totalCount: Int!
  ${d('The model they were sampled from and what it cost.')}
  model: SyntheticModelInfo!
}`;
}

const GQL_TYPE: Record<ColumnDeclaration['type'], string> = { integer: 'Int', float: 'Float', categorical: 'String', text: 'String', id: 'ID' };

function openDatasetSdl(domain: DomainDeclaration, ds: DatasetDeclaration): string {
  const t = names(domain).dataset(ds);
  const key = ds.key ? ` @key(fields: "${ds.key}")` : '';
  return `${d(`One row of ${ds.name} (open data). ${ds.description}`)}
type ${t.row}${key} {
${ds.columns.map((c) => `  ${d(describeColumn(ds, c))}\n  ${c.name}: ${GQL_TYPE[c.type]}${c.name === ds.key ? '!' : ''}`).join('\n')}
}

${d(`An edge of the ${ds.name} connection.`)}
type ${t.edge} {
  ${d('Opaque cursor of this row.')}
  cursor: String!
  ${d('The row.')}
  node: ${t.row}!
}

${d(`A page of ${ds.name} rows (Relay connection).`)}
type ${t.connection} {
  ${d('Rows of this page.')}
  edges: [${t.edge}!]!
  ${d('Paging information.')}
  pageInfo: PageInfo!
  ${d('Rows matching the filter (open data: exact).')}
  totalCount: Int!
}

${d(`${ds.title} (open). ${ds.description}`)}
type ${t.type} implements Dataset & OpenDataset {
  ${d('This dataset\'s catalog entry (the same as in the domain\'s datasets list).')}
  catalog: DatasetInfo!
  ${d('Rows, in key order, cursor-paginated.')}
  rows(${d('Page size (1-500).')} first: Int = 20, ${d('Cursor of the last row of the previous page.')} after: String, ${d('Rows to include.')} where: ${t.where}): ${t.connection}!
${ds.key ? `  ${d('One row by its key.')}\n  byKey(${d('Key of the row.')} ${ds.key}: ID!): ${t.row}` : ''}
}`;
}

function adminQueries(domain: DomainDeclaration): string {
  const n = names(domain);
  const page = `${d('Page size (1-500).')} first: Int = 50, ${d('Cursor from the previous page.')} after: String`;
  return [
    `  ${d(`Audit log of ${domain.name}, newest first (domain admins only).`)}\n  ${n.admin('AuditLog')}(${page}, ${d('Only this actor.')} actor: String, ${d('Only this action.')} action: String): [AuditEntry!]!`,
    `  ${d(`Releases of ${domain.name}, newest first (domain admins only).`)}\n  ${n.admin('Releases')}(${page}, ${d('Only this dataset.')} dataset: ${n.datasetEnum}): [ReleaseRecord!]!`,
    `  ${d(`Privacy ledger of ${domain.name}, newest first (domain admins only).`)}\n  ${n.admin('Ledger')}(${page}, ${d('Only this principal.')} principal: ID, ${d('Only this dataset.')} dataset: ${n.datasetEnum}): [LedgerRecord!]!`,
    `  ${d(`Policies set on ${domain.name} (domain admins only).`)}\n  ${n.admin('Policies')}: [PolicyView!]!`,
    `  ${d(`Budget of any principal in ${domain.name} (domain admins only).`)}\n  ${n.admin('BudgetOf')}(${d('Principal id (token sub).')} principal: ID!): BudgetStatus!`,
  ].join('\n');
}

function adminMutations(domain: DomainDeclaration): string {
  const n = names(domain);
  const p = `${d('Principal id (token sub).')} principal: ID!`;
  return `type Mutation {
  ${d(`Set a principal's total budget in ${domain.name} (domain admins only). Spent budget is kept.`)}
  ${n.admin('SetBudget')}(${p}, ${d('New total epsilon.')} epsilon: Float!, ${d('New total delta.')} delta: Float!): BudgetStatus!
  ${d(`Add epsilon to a principal's total budget in ${domain.name} (domain admins only).`)}
  ${n.admin('GrantBudget')}(${p}, ${d('Epsilon to add (> 0).')} epsilon: Float!): BudgetStatus!
  ${d(`Set a dataset's global cap across all principals (domain admins only).`)}
  ${n.admin('SetGlobalCap')}(${d('Dataset.')} dataset: ${n.datasetEnum}!, ${d('Total epsilon across principals.')} epsilon: Float!, ${d('Total delta.')} delta: Float!): DatasetBudget!
  ${d(`Set the policy of a scope of ${domain.name}: "domain", "role:<role>" or "principal:<id>" (domain admins only).`)}
  ${n.admin('SetPolicy')}(${d('domain, role:<role> or principal:<id>.')} scope: String!, ${d('Fields to set.')} policy: PolicyInput!): PolicyView!
  ${d(`Revoke (or restore) a principal's access to ${domain.name} (domain admins only).`)}
  ${n.admin('Revoke')}(${p}, ${d('true to restore access.')} restore: Boolean = false): Boolean!
}`;
}

function principalExtension(domain: DomainDeclaration): string {
  const n = names(domain);
  return `extend type Principal {
  ${d(`Budget in ${domain.name} (your own, or anyone's for domain admins).`)}
  ${n.budgetField}: BudgetStatus
}`;
}
