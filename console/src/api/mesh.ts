import {
  buildClientSchema,
  getIntrospectionQuery,
  getNamedType,
  isEnumType,
  isObjectType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  type IntrospectionQuery,
} from 'graphql';
import { request } from './client.js';
import { graphql, type ResultOf } from './graphql.js';
import {
  AuditFields,
  BudgetFields,
  CostFields,
  DatasetFields,
  DomainFields,
  DpNumberFields,
  LedgerFields,
  ModelFields,
  PolicyFields,
  inline,
  spread,
  type AuditEntry,
  type BudgetStatus,
  type CostEstimate,
  type DatasetInfo,
  type DomainInfo,
  type DpNumber,
  type LedgerRecord,
  type PolicyView,
  type SyntheticModel,
} from './fragments.js';

/**
 * Everything the console asks the mesh, in one module. Domains are not hard-coded: they are
 * discovered from introspection (a root field whose type has `info` and `datasets`), and each
 * domain's catalog (`datasets`) says which datasets and columns exist. Per-domain documents are
 * assembled from the generated naming (root field = domain, field = dataset, enum = UPPER_SNAKE of
 * the column) and checked against the introspected schema.
 */
export interface Dataset {
  info: DatasetInfo;
  domain: string;
  field: string;
  open: boolean;
  /** Columns a numeric aggregate may take / a histogram may group by (from the field's enum args). */
  numericColumns: string[];
  categoricalColumns: string[];
  /** Row fields of an open dataset, or of the synthetic rows of a sensitive one. */
  rowFields: string[];
  synthetic: boolean;
}
export interface Domain {
  name: string;
  info: DomainInfo;
  sensitive: boolean;
  datasets: Dataset[];
  /** Mutations and admin queries this domain's schema has (`${name}SetBudget` ...). */
  admin: { has: (verb: string) => boolean };
}
export interface Mesh {
  schema: GraphQLSchema;
  domains: Domain[];
}

export const enumValue = (column: string) => column.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

const Me = graphql(`query Me { me { id roles } }`);
export async function me(token?: string) {
  const data = await request<ResultOf<typeof Me>>(Me, undefined, token);
  if (!data.me) throw new Error('The mesh did not say who you are.');
  return data.me;
}

/**
 * The standard introspection query with type references four wrappers deep (the mesh's deepest
 * type is [X!]!): the full nine-level one exceeds the gateway's query depth limit.
 */
const TYPE_REF = `fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }`;
export const INTROSPECTION = getIntrospectionQuery({ descriptions: true }).replace(/fragment TypeRef on __Type \{[\s\S]*$/, TYPE_REF);

export async function loadSchema(): Promise<GraphQLSchema> {
  return buildClientSchema(await request<IntrospectionQuery>(INTROSPECTION));
}

function domainFields(schema: GraphQLSchema): GraphQLField<unknown, unknown>[] {
  return Object.values(schema.getQueryType()!.getFields()).filter((f) => {
    const t = getNamedType(f.type);
    return isObjectType(t) && 'info' in t.getFields() && 'datasets' in t.getFields();
  });
}

const enumValuesOf = (field: GraphQLField<unknown, unknown> | undefined, arg: string) => {
  const t = field && field.args.find((a) => a.name === arg);
  const named = t && getNamedType(t.type);
  return named && isEnumType(named) ? named.getValues().map((v) => v.name) : [];
};

function describeDataset(schema: GraphQLSchema, domainType: GraphQLObjectType, info: DatasetInfo): Dataset {
  const t = getNamedType(domainType.getFields()[info.name]!.type) as GraphQLObjectType;
  const fields = t.getFields();
  const byEnum = new Map(info.columns.map((c) => [enumValue(c.name), c.name]));
  const fromEnum = (vals: string[]) => vals.map((v) => byEnum.get(v)).filter((v): v is string => !!v);
  const rowsType = fields.rows ?? fields.synthetic;
  const edgeNode = rowsType && (getNamedType(rowsType.type) as GraphQLObjectType).getFields().edges;
  const nodeType = edgeNode && (getNamedType(edgeNode.type) as GraphQLObjectType).getFields().node;
  const rowFields = nodeType ? Object.keys((getNamedType(nodeType.type) as GraphQLObjectType).getFields()) : [];
  void schema;
  return {
    info,
    domain: info.domain,
    field: info.name,
    open: 'rows' in fields,
    numericColumns: fromEnum(enumValuesOf(fields.sum, 'column')),
    categoricalColumns: fromEnum(enumValuesOf(fields.histogram, 'by')),
    rowFields,
    synthetic: 'synthetic' in fields,
  };
}

/** The whole catalog: every domain's info and datasets, in one request. */
export async function loadMesh(): Promise<Mesh> {
  const schema = await loadSchema();
  const roots = domainFields(schema);
  const d = spread(DomainFields);
  const s = spread(DatasetFields);
  const doc = `query Catalog { ${roots.map((r) => `${r.name} { info { ${d.use} } datasets { ${s.use} } }`).join(' ')} }\n${d.def}\n${s.def}`;
  const data = await request<Record<string, { info: DomainInfo; datasets: DatasetInfo[] }>>(doc);
  const mutations = schema.getMutationType()?.getFields() ?? {};
  const queries = schema.getQueryType()!.getFields();
  const domains = roots.map((r): Domain => {
    const type = getNamedType(r.type) as GraphQLObjectType;
    return {
      name: r.name,
      info: data[r.name]!.info,
      sensitive: 'budget' in type.getFields(),
      datasets: data[r.name]!.datasets.map((ds) => describeDataset(schema, type, ds)),
      admin: { has: (verb) => `${r.name}${verb}` in mutations || `${r.name}${verb}` in queries },
    };
  });
  return { schema, domains };
}

// ---------- GraphQL literals (the generated documents are shown to the user to copy) ----------

export class EnumLiteral {
  constructor(readonly name: string) {}
}
export function literal(v: unknown): string {
  if (v instanceof EnumLiteral) return v.name;
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  if (v && typeof v === 'object')
    return `{ ${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${k}: ${literal(x)}`)
      .join(', ')} }`;
  return JSON.stringify(v);
}
const args = (a: Record<string, unknown>) => {
  const parts = Object.entries(a).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0));
  return parts.length ? `(${parts.map(([k, v]) => `${k}: ${literal(v)}`).join(', ')})` : '';
};

// ---------- Open datasets ----------

export interface RowPage {
  rows: Record<string, unknown>[];
  hasNextPage: boolean;
  endCursor: string | null;
  totalCount: number | null;
}
export async function rows(ds: Dataset, first: number, after?: string | null): Promise<RowPage> {
  const doc = `query Rows { ${ds.domain} { ${ds.field} { rows${args({ first, after: after ?? undefined })} { edges { node { ${ds.rowFields.join(' ')} } } pageInfo { hasNextPage endCursor } totalCount } } } }`;
  const data = await request<any>(doc);
  const c = data[ds.domain][ds.field].rows;
  return { rows: c.edges.map((e: { node: Record<string, unknown> }) => e.node), hasNextPage: c.pageInfo.hasNextPage, endCursor: c.pageInfo.endCursor, totalCount: c.totalCount ?? null };
}

// ---------- DP queries ----------

export const AGGREGATES = ['count', 'countDistinct', 'sum', 'mean', 'variance', 'stddev', 'quantile', 'histogram'] as const;
export type Aggregate = (typeof AGGREGATES)[number];
export const needsColumn = (a: Aggregate) => a === 'sum' || a === 'mean' || a === 'variance' || a === 'stddev' || a === 'quantile';

export interface Filter {
  column: string;
  op: 'eq' | 'in' | 'gte' | 'lte';
  value: string | number | (string | number)[];
}
export type Privacy = { mode: 'epsilon'; epsilon: number; mechanism?: 'LAPLACE' | 'GAUSSIAN'; delta?: number } | { mode: 'accuracy'; within: number; confidence: number };
export interface QuerySpec {
  aggregate: Aggregate;
  column?: string;
  q?: number;
  by?: string[];
  filters: Filter[];
  privacy: Privacy;
}

export function whereInput(filters: Filter[]): Record<string, Record<string, unknown>> | undefined {
  if (filters.length === 0) return undefined;
  const where: Record<string, Record<string, unknown>> = {};
  for (const f of filters) (where[f.column] ??= {})[f.op] = f.value;
  return where;
}
export function privacyInput(p: Privacy) {
  if (p.mode === 'accuracy') return { accuracy: { within: p.within, confidence: p.confidence } };
  return { epsilon: p.epsilon, ...(p.mechanism ? { mechanism: new EnumLiteral(p.mechanism) } : {}), ...(p.delta ? { delta: p.delta } : {}) };
}

function fieldCall(spec: QuerySpec, estimate: boolean): string {
  const common = { where: whereInput(spec.filters), privacy: privacyInput(spec.privacy) };
  const column = spec.column ? new EnumLiteral(enumValue(spec.column)) : undefined;
  const by = spec.by?.map((b) => new EnumLiteral(enumValue(b)));
  if (estimate)
    return `estimate${args({ aggregate: new EnumLiteral(spec.aggregate), column: needsColumn(spec.aggregate) ? column : undefined, q: spec.aggregate === 'quantile' ? spec.q : undefined, by: spec.aggregate === 'histogram' ? by : undefined, ...common })}`;
  if (spec.aggregate === 'histogram') return `histogram${args({ by, ...common })}`;
  if (spec.aggregate === 'quantile') return `quantile${args({ column, q: spec.q, ...common })}`;
  return `${spec.aggregate}${args({ column: needsColumn(spec.aggregate) ? column : undefined, ...common })}`;
}

/** The document the query builder runs (and shows to copy). */
export function queryDocument(ds: Dataset, spec: QuerySpec): string {
  const dp = inline(DpNumberFields);
  const selection = spec.aggregate === 'histogram' ? `{\n        key\n        count { ${dp} }\n      }` : `{\n        ${dp}\n      }`;
  return `query DpQuery {\n  ${ds.domain} {\n    ${ds.field} {\n      ${fieldCall(spec, false)} ${selection}\n    }\n  }\n}`;
}
export function estimateDocument(ds: Dataset, spec: QuerySpec): string {
  const c = spread(CostFields);
  return `query Estimate { ${ds.domain} { ${ds.field} { ${fieldCall(spec, true)} { ${c.use} } } } }\n${c.def}`;
}

export type Answer = { kind: 'scalar'; value: DpNumber } | { kind: 'histogram'; buckets: { key: string[]; count: DpNumber }[] };
export async function estimate(ds: Dataset, spec: QuerySpec): Promise<CostEstimate> {
  const data = await request<any>(estimateDocument(ds, spec));
  return data[ds.domain][ds.field].estimate;
}
export async function run(ds: Dataset, spec: QuerySpec): Promise<Answer> {
  const data = await request<any>(queryDocument(ds, spec));
  const v = data[ds.domain][ds.field][spec.aggregate];
  return spec.aggregate === 'histogram' ? { kind: 'histogram', buckets: v } : { kind: 'scalar', value: v };
}

/** The same query in the mesh's DP SQL (`<domain> { sql(query:) }`). */
export function dpSql(ds: Dataset, spec: QuerySpec): string {
  const unit = ds.info.privacyUnit === 'row' ? '*' : `DISTINCT ${ds.info.privacyUnit}`;
  const item: Record<Aggregate, string> = {
    count: 'COUNT(*)',
    countDistinct: `COUNT(${unit})`,
    sum: `SUM(${spec.column})`,
    mean: `AVG(${spec.column})`,
    variance: `VARIANCE(${spec.column})`,
    stddev: `STDDEV(${spec.column})`,
    quantile: spec.q === 0.5 ? `MEDIAN(${spec.column})` : `QUANTILE(${spec.column}, ${spec.q})`,
    histogram: 'COUNT(*)',
  };
  const by = spec.aggregate === 'histogram' ? spec.by ?? [] : [];
  const sqlValue = (v: string | number) => (typeof v === 'number' ? String(v) : `'${v.replace(/'/g, "''")}'`);
  const conds = spec.filters.map((f) => {
    if (f.op === 'in') return `${f.column} IN (${(f.value as (string | number)[]).map(sqlValue).join(', ')})`;
    const op = { eq: '=', gte: '>=', lte: '<=' }[f.op];
    return `${f.column} ${op} ${sqlValue(f.value as string | number)}`;
  });
  return [
    `SELECT ${[...by, item[spec.aggregate]].join(', ')}`,
    `FROM ${ds.field}`,
    ...(conds.length ? [`WHERE ${conds.join(' AND ')}`] : []),
    ...(by.length ? [`GROUP BY ${by.join(', ')}`] : []),
  ].join('\n');
}

// ---------- Budgets ----------

export async function budgets(domains: Domain[]): Promise<Record<string, BudgetStatus>> {
  const b = spread(BudgetFields);
  const sensitive = domains.filter((d) => d.sensitive);
  if (sensitive.length === 0) return {};
  const data = await request<Record<string, { budget: BudgetStatus }>>(`query Budgets { ${sensitive.map((d) => `${d.name} { budget { ${b.use} } }`).join(' ')} }\n${b.def}`);
  return Object.fromEntries(sensitive.map((d) => [d.name, data[d.name]!.budget]));
}
export async function budget(domain: string): Promise<BudgetStatus> {
  return (await budgets([{ name: domain, sensitive: true } as Domain]))[domain]!;
}

// ---------- Admin (domain admins only; the domain answers FORBIDDEN to anyone else) ----------

const adminField = (domain: string, verb: string) => `${domain}${verb}`;

export async function budgetOf(domain: string, principal: string): Promise<BudgetStatus> {
  const b = spread(BudgetFields);
  const f = adminField(domain, 'BudgetOf');
  return (await request<any>(`query BudgetOf { ${f}${args({ principal })} { ${b.use} } }\n${b.def}`))[f];
}
export async function setBudget(domain: string, principal: string, epsilon: number, delta: number): Promise<BudgetStatus> {
  const b = spread(BudgetFields);
  const f = adminField(domain, 'SetBudget');
  return (await request<any>(`mutation SetBudget { ${f}${args({ principal, epsilon, delta })} { ${b.use} } }\n${b.def}`))[f];
}
export async function grantBudget(domain: string, principal: string, epsilon: number): Promise<BudgetStatus> {
  const b = spread(BudgetFields);
  const f = adminField(domain, 'GrantBudget');
  return (await request<any>(`mutation GrantBudget { ${f}${args({ principal, epsilon })} { ${b.use} } }\n${b.def}`))[f];
}
export async function setGlobalCap(domain: string, dataset: string, epsilon: number, delta: number) {
  const f = adminField(domain, 'SetGlobalCap');
  return (await request<any>(`mutation SetGlobalCap { ${f}${args({ dataset: new EnumLiteral(enumValue(dataset)), epsilon, delta })} { dataset epsilon epsilonSpent epsilonRemaining } }`))[f];
}
export async function revoke(domain: string, principal: string, restore: boolean): Promise<boolean> {
  const f = adminField(domain, 'Revoke');
  return (await request<any>(`mutation Revoke { ${f}${args({ principal, restore })} }`))[f];
}
export async function policies(domain: string): Promise<PolicyView[]> {
  const p = spread(PolicyFields);
  const f = adminField(domain, 'Policies');
  return (await request<any>(`query Policies { ${f} { ${p.use} } }\n${p.def}`))[f];
}
export async function setPolicy(domain: string, scope: string, policy: Partial<Omit<PolicyView, 'scope'>>): Promise<PolicyView> {
  const p = spread(PolicyFields);
  const f = adminField(domain, 'SetPolicy');
  return (await request<any>(`mutation SetPolicy { ${f}${args({ scope, policy })} { ${p.use} } }\n${p.def}`))[f];
}
export async function ledger(domain: string, opts: { principal?: string; first?: number; after?: string }): Promise<LedgerRecord[]> {
  const l = spread(LedgerFields);
  const f = adminField(domain, 'Ledger');
  return (await request<any>(`query Ledger { ${f}${args({ first: opts.first ?? 200, after: opts.after, principal: opts.principal })} { ${l.use} } }\n${l.def}`))[f];
}
export async function auditLog(domain: string, first: number, after?: string): Promise<AuditEntry[]> {
  const a = spread(AuditFields);
  const f = adminField(domain, 'AuditLog');
  return (await request<any>(`query Audit { ${f}${args({ first, after })} { ${a.use} } }\n${a.def}`))[f];
}

// ---------- Synthetic data ----------

export async function syntheticModels(domain: string): Promise<SyntheticModel[]> {
  const m = spread(ModelFields);
  return (await request<any>(`query Models { ${domain} { syntheticModels { ${m.use} } } }\n${m.def}`))[domain].syntheticModels;
}
export async function syntheticPreview(ds: Dataset, rowsWanted: number, seed: number, epsilon: number) {
  const m = spread(ModelFields);
  const doc = `query Synthetic { ${ds.domain} { ${ds.field} { synthetic${args({ rows: rowsWanted, seed, first: Math.min(rowsWanted, 1000), privacy: { epsilon } })} { edges { node { ${ds.rowFields.join(' ')} } } totalCount model { ${m.use} } } } } }\n${m.def}`;
  const s = (await request<any>(doc))[ds.domain][ds.field].synthetic;
  return { rows: s.edges.map((e: { node: Record<string, unknown> }) => e.node) as Record<string, unknown>[], model: s.model as SyntheticModel };
}
