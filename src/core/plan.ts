import { createHash } from 'node:crypto';
import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import type { PrivacyCost } from '../dp/cost.js';
import { askedAt } from '../dp/accountant.js';
import { rhoForEpsilonDelta, splitEqually } from '../dp/conversions.js';
import { discreteGaussianMechanism, discreteLaplaceMechanism, epsilonForAccuracy, rhoForAccuracy, type IntegerMechanism } from '../dp/mechanisms.js';
import { keySelection } from '../dp/selection.js';
import { badInput } from '../errors.js';
import { resolvePrivacy, type PrivacyRequest, type ResolvedPrivacy } from './privacy.js';
import type { Relation } from './relation.js';
import type { ColumnInfo, RelationSchema } from './schema.js';
import { analyse, type Contribution } from './stability.js';

/**
 * The planner: a QuerySpec (relation + grouping + aggregates + privacy) becomes a Plan whose every
 * statistic carries its sensitivity, computed by chaining the relation's stability map
 * (src/core/stability.ts: how many rows / groups one unit contributes) with the statistic's
 * per-row bound (how much one row can move it), and a mechanism whose privacy map gives the
 * PrivacyCost. Nothing here reads data; a plan that cannot be bounded fails to build.
 */
export type AggregateKind = 'count' | 'countDistinct' | 'sum' | 'mean' | 'variance' | 'stddev' | 'quantile';
export interface AggregateSpec {
  kind: AggregateKind;
  column?: string;
  /** Quantiles: q in (0, 1). */
  q?: number;
  label?: string;
}
export interface QuerySpec {
  domain: DomainDeclaration;
  /** Rows to aggregate; bounded by the planner with the declared contribution bounds unless it already is. */
  relation: Relation;
  groupBy?: string[];
  aggregates: AggregateSpec[];
  privacy?: PrivacyRequest | null;
  /** Version of each dataset's rows (by name): in the memo key, so a reload never serves old answers. */
  dataVersions?: Record<string, string>;
}

/** A numeric column on its integer release grid: value v is released as round(v / g), clamped. */
export interface Grid {
  g: number;
  lo: bigint;
  hi: bigint;
  /** Values are centred on `mid` before summing, which halves the sum's sensitivity. */
  mid: bigint;
}

export type StatisticKind = 'count' | 'units' | 'sum' | 'centredSum' | 'sumSquares';
/** One integer-valued query per group on the bounded rows, released with additive noise. */
export interface Statistic {
  id: string;
  kind: StatisticKind;
  column?: ColumnInfo;
  grid?: Grid;
  /** Max |value| one row adds to the statistic, in grid units (units: 1 per unit). */
  rowBound: number;
  /** Over the vector of all groups, for the add/remove-one-unit neighbour relation. */
  sensitivity: { l1: number; l2: number };
  mechanism: IntegerMechanism;
}
/** A quantile by permute-and-flip over a fine histogram of the clamped values (per group). */
export interface QuantileMeasurement {
  id: string;
  column: ColumnInfo;
  grid: Grid;
  /** q = Q / 10000 */
  Q: number;
  binWidth: bigint;
  bins: number;
  /** Epsilon of each group's selection (the measurement's share over the unit's groups). */
  epsilon: number;
  /** Utility -|10000 rank - Q n| of one group moves by at most this. */
  sensitivity: number;
}
export interface KeySelectionPlan {
  scale: number;
  threshold: number;
  mechanism: IntegerMechanism;
}
/** One column of the released table, computed from noisy statistics by post-processing. */
export interface Output {
  label: string;
  aggregate: AggregateKind;
  column?: ColumnInfo;
  /** Statistic ids by role (count, centredSum, ...), or the quantile's id. */
  uses: Partial<Record<StatisticKind, string>> & { quantile?: string };
}

export interface Plan {
  domain: string;
  /** The first dataset read (the one the request is about). */
  dataset: DatasetDeclaration;
  datasets: string[];
  relation: Relation;
  schema: RelationSchema;
  contribution: Contribution;
  groupBy: ColumnInfo[];
  keys: 'public' | 'select' | 'none';
  statistics: Statistic[];
  quantiles: QuantileMeasurement[];
  keySelection?: KeySelectionPlan;
  outputs: Output[];
  costs: PrivacyCost[];
  epsilon: number;
  delta: number;
  mechanism: string;
  /** Canonical plan: the memo key (hashed). */
  key: string;
}

export const MAX_QUANTILE_BINS = 1024;
export const MAX_GROUP_COLUMNS = 3;
export const MAX_PUBLIC_BUCKETS = 10_000;
export const MAX_AGGREGATES = 20;
const NUMERIC: AggregateKind[] = ['sum', 'mean', 'variance', 'stddev', 'quantile'];
const ROLES: Record<AggregateKind, StatisticKind[]> = {
  count: ['count'],
  countDistinct: ['units'],
  sum: ['sum'],
  mean: ['count', 'centredSum'],
  variance: ['count', 'centredSum', 'sumSquares'],
  stddev: ['count', 'centredSum', 'sumSquares'],
  quantile: [],
};

export function buildPlan(spec: QuerySpec): Plan {
  if (spec.aggregates.length === 0) throw badInput('A DP query needs at least one aggregate.');
  if (spec.aggregates.length > MAX_AGGREGATES) throw badInput(`A DP query has at most ${MAX_AGGREGATES} aggregates.`);
  const by = spec.groupBy ?? [];
  if (by.length > MAX_GROUP_COLUMNS) throw badInput(`Group by at most ${MAX_GROUP_COLUMNS} columns.`, { field: 'by' });
  if (new Set(by).size !== by.length) throw badInput('A grouping column is repeated.', { field: 'by' });
  const { relation: requested, schema: unbounded } = analyse(spec.relation);
  const groupCols = by.map((name) => groupColumn(unbounded, name));
  const keys = groupCols.length === 0 ? 'none' : groupCols.every((c) => c.categories) ? 'public' : 'select';
  if (keys === 'public') {
    const buckets = groupCols.reduce((n, c) => n * c.categories!.length, 1);
    if (buckets > MAX_PUBLIC_BUCKETS) throw badInput(`Grouping by ${by.join(', ')} makes ${buckets} groups; at most ${MAX_PUBLIC_BUCKETS}.`, { field: 'by' });
  }

  const hasQuantile = spec.aggregates.some((a) => a.kind === 'quantile');
  const accuracyAllowed =
    keys === 'select' ? 'grouping keys come from DP key selection.' : spec.aggregates.length > 1 ? 'a request with several aggregates splits its budget.' : ['mean', 'variance', 'stddev', 'quantile'].includes(spec.aggregates[0]!.kind) ? `the error of ${spec.aggregates[0]!.kind} depends on the data; ask count, countDistinct, sum or a histogram.` : null;
  const privacy = resolvePrivacy(spec.domain, spec.privacy, { needsPure: hasQuantile, defaultDelta: keys === 'select', accuracyAllowed });
  // Groups are chosen per unit only where a measurement's sensitivity depends on them: key
  // selection, quantiles (epsilon per group), distinct counts (l1 = groups) and Gaussian noise (l2).
  // Otherwise (Laplace on public keys) every l1 is min(rows, G p) either way, so a plain row bound
  // of G p rows gives the same noise, keeps more rows and needs no per-query choice of groups.
  const grouping = keys === 'select' ? 'onePerGroup' : keys === 'public' && privacy.mechanism === 'LAPLACE' && !hasQuantile && !spec.aggregates.some((a) => a.kind === 'countDistinct') ? 'rowsOnly' : 'groups';
  const { relation, schema } = analyse(bounded(requested, unbounded, by, grouping));
  const c = schema.contribution;
  if (!Number.isFinite(c.rows)) throw badInput('This query cannot be bounded: a unit could contribute unboundedly many rows (add a contribution bound after the join).');

  // Statistics, shared between aggregates that need the same one (e.g. AVG and VARIANCE of x).
  const stats = new Map<string, Omit<Statistic, 'mechanism' | 'id'> & { id: string }>();
  const quantileSpecs: Omit<QuantileMeasurement, 'epsilon' | 'sensitivity'>[] = [];
  const outputs: Output[] = spec.aggregates.map((a, i) => {
    const column = NUMERIC.includes(a.kind) ? numericColumn(schema, a.column) : undefined;
    if (a.kind === 'countDistinct' && a.column != null && a.column !== schema.unit?.name && !(schema.unit === undefined && a.column === '*'))
      throw badInput(`COUNT(DISTINCT ${a.column}) cannot be bounded: only the privacy unit (${schema.unit?.name ?? 'row'}) may be counted distinct.`, { field: 'column' });
    const grid = column ? gridOf(column) : undefined;
    const uses: Output['uses'] = {};
    if (a.kind === 'quantile') {
      const id = `q${quantileSpecs.length}`;
      quantileSpecs.push(quantileShape(id, a.q, column!, grid!));
      uses.quantile = id;
    }
    for (const kind of ROLES[a.kind]) {
      const key = `${kind}:${kind === 'count' || kind === 'units' ? (column?.name ?? '*') : column!.name}`;
      if (!stats.has(key)) stats.set(key, { id: `s${stats.size}`, kind, column: kind === 'units' ? undefined : column, grid: kind === 'count' || kind === 'units' ? undefined : grid, ...bounds(kind, grid, c) });
      uses[kind] = stats.get(key)!.id;
    }
    return { label: a.label ?? defaultLabel(a), aggregate: a.kind, column, uses };
  });

  const costs: PrivacyCost[] = [];
  let keySel: KeySelectionPlan | undefined;
  let statistics: Statistic[];
  // The budget the measurements share (all of it, unless key selection takes a part first).
  let measure = privacy;
  let parts = stats.size + quantileSpecs.length;
  if (keys === 'select') {
    if (!(privacy.delta > 0)) throw badInput('Grouping keys without a public list need delta > 0 (DP key selection).', { field: 'privacy.delta' });
    const countsOnly = spec.aggregates.every((a) => a.kind === 'count');
    // Keys first: DP key selection (Wilson et al. 2020) on the noisy row count per key, whose
    // threshold assumes a unit adds at most 1 to each of at most maxGroups keys, which the bound
    // (perGroup = 1) guarantees. COUNT(*) alone is released from the selection's own noisy counts
    // (the whole budget); any other aggregate is measured afterwards at the released keys with the
    // other half, as a second mechanism over the same bounded rows (basic composition: the costs
    // add; the released keys are post-processing of the first). The selection count is added as a
    // hidden statistic when the request has no COUNT(*).
    const selection = countsOnly ? privacy.epsilon : privacy.epsilon / 2;
    const ks = keySelection({ epsilon: selection, delta: privacy.delta, maxGroupsPerUnit: c.groups!.maxGroups });
    keySel = { scale: ks.scale, threshold: ks.threshold, mechanism: ks.mechanism };
    costs.push(ks.cost);
    if (!stats.has('count:*')) stats.set('count:*', { id: `s${stats.size}`, kind: 'count', ...bounds('count', undefined, c) });
    measure = { ...privacy, epsilon: privacy.epsilon - selection, mechanism: 'LAPLACE' };
    parts = stats.size - 1 + quantileSpecs.length;
    statistics = [...stats.values()].map((s) => {
      if (s.kind === 'count' && !s.column) return { ...s, mechanism: ks.mechanism };
      const mechanism = mechanismFor(measure, s.sensitivity.l1, parts, s.kind === 'sum' ? (s.grid?.g ?? 1) : 1);
      costs.push(mechanism.cost);
      return { ...s, mechanism };
    });
  } else {
    statistics = [...stats.values()].map((s) => {
      const mechanism = mechanismFor(privacy, privacy.mechanism === 'GAUSSIAN' ? s.sensitivity.l2 : s.sensitivity.l1, parts, s.kind === 'sum' ? (s.grid?.g ?? 1) : 1);
      costs.push(mechanism.cost);
      return { ...s, mechanism };
    });
  }
  const quantiles = quantileSpecs.map((q) => {
    const perPart = splitEqually(measure.epsilon, parts);
    const groups = c.groups?.maxGroups ?? 1;
    const rowsPerGroup = c.groups?.perGroup ?? c.rows;
    costs.push({ kind: 'pure', epsilon: perPart });
    // A unit is in at most `groups` groups: each group's selection gets perPart / groups (basic
    // composition over the groups one unit can change), its utility moves by <= max(Q, 1e4-Q) per row.
    return { ...q, epsilon: perPart / groups, sensitivity: Math.max(q.Q, 10000 - q.Q) * rowsPerGroup };
  });
  const mechanism = quantiles.length > 0 && statistics.length === 0 ? 'permute-and-flip' : keySel ? 'discreteLaplace+threshold' : (statistics[0]?.mechanism.kind ?? 'permute-and-flip');
  const base = {
    domain: spec.domain.name,
    dataset: schema.datasets[0]!,
    datasets: schema.datasets.map((d) => d.name),
    relation,
    schema,
    contribution: c,
    groupBy: groupCols,
    keys,
    statistics,
    quantiles,
    keySelection: keySel,
    outputs,
    // The request's (epsilon, delta) on its costs: the accountant's basic route charges the request
    // as a whole, so no request moves a budget by more than it asked (issue 18).
    costs: askedAt(costs, { epsilon: privacy.epsilon, delta: privacy.delta }),
    epsilon: privacy.epsilon,
    delta: privacy.delta,
    mechanism,
  } as const;
  return { ...base, key: canonicalKey(base, spec.dataVersions ?? {}) };
}

function groupColumn(schema: RelationSchema, name: string): ColumnInfo {
  const c = schema.columns.get(name);
  if (!c || !c.filterable || (c.type !== 'categorical' && c.type !== 'integer'))
    throw badInput(`"${name}" cannot be grouped by: group by declared categorical (or integer) columns.`, { field: 'by', column: name });
  if (c.type === 'integer' && !c.categories) {
    const [lo, hi] = c.bounds!;
    if (hi - lo + 1 > 1000) throw badInput(`"${name}" has too many values to group by (more than 1000 between its public bounds).`, { field: 'by', column: name });
  }
  return c.type === 'integer' && !c.categories ? { ...c, categories: integerKeys(c.bounds!) } : c;
}
const integerKeys = ([lo, hi]: [number, number]) => Array.from({ length: hi - lo + 1 }, (_, i) => String(lo + i));

/** Adds the declared contribution bound on top of the relation unless it is bounded already. */
function bounded(r: Relation, schema: RelationSchema, by: string[], grouping: 'groups' | 'onePerGroup' | 'rowsOnly'): Relation {
  if (r.op === 'bound') return r;
  const m = schema.unit ? schema.defaults.maxRowsPerUnit : 1;
  if (by.length === 0) return { op: 'bound', input: r, maxRows: m };
  const maxGroups = Math.min(schema.unit ? schema.defaults.maxGroupsPerUnit : 1, m);
  // Rows per group: the row budget shared over the unit's groups, so the total stays <= m.
  const perGroup = grouping === 'onePerGroup' ? 1 : Math.max(1, Math.floor(m / maxGroups));
  // G p rows in any groups: at most G p groups with at most G p rows each (the dialect's rowLimit).
  if (grouping === 'rowsOnly') return { op: 'bound', input: r, maxRows: maxGroups * perGroup, by, maxGroups: maxGroups * perGroup, perGroup: maxGroups * perGroup };
  return { op: 'bound', input: r, maxRows: m, by, maxGroups, perGroup };
}

function numericColumn(schema: RelationSchema, name: string | undefined): ColumnInfo {
  const c = name === undefined ? undefined : schema.columns.get(name);
  if (!c || (c.type !== 'integer' && c.type !== 'float') || !c.bounds)
    throw badInput(`"${name ?? ''}" is not a numeric column with public bounds.`, { field: 'column', column: name ?? null });
  return c;
}

export function gridOf(c: Pick<ColumnInfo, 'bounds' | 'granularity'>): Grid {
  const g = c.granularity ?? 1;
  const [lo, hi] = c.bounds!;
  // Inner grid points, so every released (clamped, rounded) value stays within the public bounds.
  const glo = BigInt(Math.ceil(lo / g - 1e-9));
  const ghi = BigInt(Math.floor(hi / g + 1e-9));
  return { g, lo: glo, hi: ghi, mid: (glo + ghi) / 2n };
}

const abs = (x: bigint) => (x < 0n ? -x : x);
const maxCentred = (grid: Grid) => (grid.hi - grid.mid > grid.mid - grid.lo ? grid.hi - grid.mid : grid.mid - grid.lo);

/** The statistic's per-row map bound, chained with the relation's stability into l1/l2 sensitivity. */
function bounds(kind: StatisticKind, grid: Grid | undefined, c: Contribution): { rowBound: number; sensitivity: { l1: number; l2: number } } {
  if (kind === 'units') {
    // A unit adds 1 to the distinct-unit count of each group it is in, and nothing else.
    const groups = c.groups?.maxGroups ?? 1;
    return { rowBound: 1, sensitivity: { l1: groups, l2: Math.ceil(Math.sqrt(groups) - 1e-12) } };
  }
  const r = kind === 'count' ? 1n : kind === 'sum' ? (abs(grid!.lo) > abs(grid!.hi) ? abs(grid!.lo) : abs(grid!.hi)) : kind === 'centredSum' ? maxCentred(grid!) : maxCentred(grid!) ** 2n;
  const rowBound = Number(r);
  if (!Number.isSafeInteger(rowBound)) throw badInput('The column\'s public bounds are too wide for its granularity (the per-row bound exceeds 2^53).');
  const { l1, l2 } = vectorSensitivity(c);
  return { rowBound, sensitivity: { l1: l1 * rowBound, l2: Math.ceil(l2 * rowBound - 1e-9) } };
}

/**
 * Rows-of-one-unit bounds for a per-group vector: at most `rows` rows in total, at most
 * `maxGroups` groups, at most `perGroup` in each. l1 = min(rows, G p); l2 = the largest
 * sqrt(sum c_g^2) under those constraints, reached by filling whole groups first.
 */
export function vectorSensitivity(c: Contribution): { l1: number; l2: number } {
  if (!c.groups) return { l1: c.rows, l2: c.rows };
  const { maxGroups: G, perGroup: p } = c.groups;
  const total = Math.min(c.rows, G * p);
  const full = Math.min(G, Math.floor(total / p));
  const rest = full < G ? Math.min(p, total - full * p) : 0;
  return { l1: total, l2: Math.sqrt(full * p * p + rest * rest) };
}

/** The noise of one of `parts` measurements sharing the request's budget (the privacy map). */
function mechanismFor(p: ResolvedPrivacy, sensitivity: number, parts: number, granularity: number): IntegerMechanism {
  if (sensitivity < 1) sensitivity = 1;
  if (p.accuracy) {
    const opts = { sensitivity, within: p.accuracy.within, confidence: p.accuracy.confidence, granularity };
    if (p.mechanism === 'GAUSSIAN') {
      const m = discreteGaussianMechanism({ sensitivity, rho: rhoForAccuracy(opts) });
      p.epsilon = epsilonOfRho(m.rho!, p.delta);
      return m;
    }
    const m = discreteLaplaceMechanism({ sensitivity, epsilon: epsilonForAccuracy(opts) });
    p.epsilon = m.epsilon!;
    return m;
  }
  if (p.mechanism === 'GAUSSIAN') return discreteGaussianMechanism({ sensitivity, rho: splitEqually(rhoForEpsilonDelta(p.epsilon, p.delta), parts) });
  return discreteLaplaceMechanism({ sensitivity, epsilon: splitEqually(p.epsilon, parts) });
}
const epsilonOfRho = (rho: number, delta: number) => rho + 2 * Math.sqrt(rho * Math.log(1 / delta));

function quantileShape(id: string, q: number | undefined, column: ColumnInfo, grid: Grid): Omit<QuantileMeasurement, 'epsilon' | 'sensitivity'> {
  if (q == null || !(q > 0 && q < 1)) throw badInput('q must be strictly between 0 and 1.', { field: 'q' });
  const Q = Math.round(q * 10000);
  if (Q <= 0 || Q >= 10000) throw badInput('q must be between 0.0001 and 0.9999.', { field: 'q' });
  const span = grid.hi - grid.lo + 1n;
  const bins0 = span < BigInt(MAX_QUANTILE_BINS) ? span : BigInt(MAX_QUANTILE_BINS);
  const binWidth = (span + bins0 - 1n) / bins0;
  return { id, column, grid, Q, binWidth, bins: Number((span + binWidth - 1n) / binWidth) };
}

function defaultLabel(a: AggregateSpec): string {
  if (a.kind === 'quantile') return `quantile_${a.column}_${a.q}`;
  return a.column && a.kind !== 'countDistinct' ? `${a.kind}_${a.column}` : a.kind;
}

/**
 * The memo key: everything that determines the release's distribution, in canonical form
 * (predicates are already canonical; labels are presentation and excluded). Hashed, so long
 * IN lists never overflow an index.
 */
function canonicalKey(p: Omit<Plan, 'key'>, versions: Record<string, string>): string {
  const rel = JSON.stringify(p.relation, (k, v) => (k === 'dataset' || k === 'table' ? (v as DatasetDeclaration).name : v));
  const text = JSON.stringify({
    v: 2,
    d: p.domain,
    r: rel,
    g: p.groupBy.map((c) => c.name),
    o: p.outputs.map((o) => [o.aggregate, o.column?.name ?? null, o.uses]),
    q: p.quantiles.map((q) => [q.column.name, q.Q]),
    m: p.costs,
    dv: p.datasets.map((d) => versions[d] ?? ''),
  });
  return `plan:${createHash('sha256').update(text).digest('base64url')}`;
}
