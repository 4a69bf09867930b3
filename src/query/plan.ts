import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { askedAt } from '../dp/accountant.js';
import type { PrivacyCost } from '../dp/cost.js';
import { rhoForEpsilonDelta, splitEqually } from '../dp/conversions.js';
import {
  discreteGaussianMechanism,
  discreteLaplaceMechanism,
  epsilonForAccuracy,
  rhoForAccuracy,
  type IntegerMechanism,
} from '../dp/mechanisms.js';
import { keySelection } from '../dp/selection.js';
import { badInput } from '../errors.js';
import { compileWhere, type Filter } from './filters.js';
import type { AggregateKind, AggregateRequest, MechanismChoice } from './types.js';

/**
 * Planning: every DP question becomes a Plan whose sensitivity and privacy cost are known before
 * any data is read, so the accountant can refuse it up front. All sensitivities follow from the
 * declared contribution bounds and public column bounds, and nothing else (SPEC section 4).
 */

/** How each privacy unit's contribution is bounded inside the database. */
export interface Bounding {
  /** Column naming the privacy unit; undefined when one row is one unit. */
  unit?: ColumnDeclaration;
  maxRows: number;
  maxGroups: number;
  /** Histograms: rows a unit may add to each of its (at most maxGroups) groups. */
  perGroup: number;
}

/** A numeric column on its integer release grid: value v is released as round(v / g). */
export interface Grid {
  g: number;
  lo: bigint;
  hi: bigint;
  /** Values are centred on `mid` before summing, which halves the sum's sensitivity. */
  mid: bigint;
}

export type MeasurementName = 'count' | 'units' | 'sum' | 'centredSum' | 'sumSquares' | 'groups';
export interface Measurement {
  name: MeasurementName;
  /** In the statistic's integer units (rows, or grid units, or squared grid units). */
  sensitivity: number;
  mechanism: IntegerMechanism;
}

export interface QuantilePlan {
  /** q = Q / 10000 */
  Q: number;
  binWidth: bigint;
  bins: number;
  epsilon: number;
  /** Utility -|10000 rank - Q n| changes by at most this when one unit is added or removed. */
  sensitivity: number;
}

export interface KeySelectionPlan {
  scale: number;
  threshold: number;
  mechanism: IntegerMechanism;
}

export interface Plan {
  domain: string;
  dataset: DatasetDeclaration;
  aggregate: AggregateKind;
  column?: ColumnDeclaration;
  grid?: Grid;
  by: ColumnDeclaration[];
  filters: Filter[];
  bounding: Bounding;
  measurements: Measurement[];
  quantile?: QuantilePlan;
  keySelection?: KeySelectionPlan;
  /** Exact description of every privacy-consuming step, for the accountant. */
  costs: PrivacyCost[];
  /** What the caller asked to spend, in the terms they see. */
  epsilon: number;
  delta: number;
  mechanism: string;
  /** Canonical plan: the memoisation key of the release cache. */
  key: string;
}

const MEASUREMENTS: Record<AggregateKind, MeasurementName[]> = {
  count: ['count'],
  countDistinct: ['units'],
  sum: ['sum'],
  mean: ['count', 'centredSum'],
  variance: ['count', 'centredSum', 'sumSquares'],
  stddev: ['count', 'centredSum', 'sumSquares'],
  quantile: [],
  histogram: ['groups'],
};
const NEEDS_NUMERIC: AggregateKind[] = ['sum', 'mean', 'variance', 'stddev', 'quantile'];
const ACCURACY_AGGREGATES: AggregateKind[] = ['count', 'countDistinct', 'sum', 'histogram'];
const MAX_QUANTILE_BINS = 1024;
const MAX_HISTOGRAM_COLUMNS = 3;

export function planAggregate(domain: DomainDeclaration, ds: DatasetDeclaration, req: AggregateRequest): Plan {
  const aggregate = req.aggregate;
  const column = NEEDS_NUMERIC.includes(aggregate) ? numericColumn(ds, req.column) : undefined;
  const by = aggregate === 'histogram' ? histogramColumns(ds, req.by) : [];
  const filters = compileWhere(ds, req.where, false);
  const needsKeySelection = by.some((c) => !c.categories);
  // DP key selection's threshold assumes a unit adds at most 1 to each of its keys (Wilson et al.
  // 2020), so those histograms count at most one row per (unit, key).
  const bounding = needsKeySelection ? { ...boundingOf(ds, true), perGroup: 1 } : boundingOf(ds, by.length > 0);
  const grid = column ? gridOf(column) : undefined;
  const privacy = resolvePrivacy(domain, req, aggregate);

  const base = { domain: domain.name, dataset: ds, aggregate, column, grid, by, filters, bounding };
  let measurements: Measurement[] = [];
  let quantile: QuantilePlan | undefined;
  let keySel: KeySelectionPlan | undefined;
  const costs: PrivacyCost[] = [];

  if (aggregate === 'quantile') {
    quantile = quantilePlan(req.q, grid!, bounding, privacy.epsilon);
    costs.push({ kind: 'pure', epsilon: quantile.epsilon });
  } else if (needsKeySelection) {
    if (!(privacy.delta > 0)) throw badInput('Histogram keys without a public list need delta > 0 (DP key selection).', { field: 'privacy.delta' });
    const ks = keySelection({ epsilon: privacy.epsilon, delta: privacy.delta, maxGroupsPerUnit: bounding.maxGroups });
    // The noise is exactly the one the threshold was computed for (sensitivity maxGroups x 1).
    keySel = { scale: ks.scale, threshold: ks.threshold, mechanism: ks.mechanism };
    costs.push(ks.cost);
  } else {
    const names = MEASUREMENTS[aggregate];
    measurements = names.map((name) => {
      const sensitivity = privacy.mechanism === 'GAUSSIAN' ? l2SensitivityOf(name, bounding, grid) : sensitivityOf(name, bounding, grid);
      return { name, sensitivity, mechanism: mechanismFor(privacy, sensitivity, names.length) };
    });
    costs.push(...measurements.map((m) => m.mechanism.cost));
  }
  const mechanism = aggregate === 'quantile' ? 'permute-and-flip' : measurements[0]?.mechanism.kind ?? 'discreteLaplace+threshold';
  // The request's (epsilon, delta) on its costs: the accountant's basic route charges it as a whole (issue 18).
  const asked = askedAt(costs, { epsilon: privacy.epsilon, delta: privacy.delta });
  const plan = { ...base, measurements, quantile, keySelection: keySel, costs: asked, epsilon: privacy.epsilon, delta: privacy.delta, mechanism };
  return { ...plan, key: canonicalKey(plan) };
}

function numericColumn(ds: DatasetDeclaration, name: string | null | undefined): ColumnDeclaration {
  const c = ds.columns.find((x) => x.name === name);
  if (!c || (c.type !== 'integer' && c.type !== 'float'))
    throw badInput(`"${name ?? ''}" is not a numeric column of ${ds.name}.`, { field: 'column' });
  return c;
}

function histogramColumns(ds: DatasetDeclaration, names: string[] | null | undefined): ColumnDeclaration[] {
  if (!names || names.length === 0 || names.length > MAX_HISTOGRAM_COLUMNS)
    throw badInput(`A histogram groups by 1 to ${MAX_HISTOGRAM_COLUMNS} categorical columns.`, { field: 'by' });
  if (new Set(names).size !== names.length) throw badInput('A histogram column is repeated.', { field: 'by' });
  return names.map((n) => {
    const c = ds.columns.find((x) => x.name === n);
    if (!c || c.type !== 'categorical') throw badInput(`"${n}" is not a categorical column of ${ds.name}.`, { field: 'by' });
    return c;
  });
}

export function boundingOf(ds: DatasetDeclaration, grouped: boolean): Bounding {
  if (ds.privacyUnit === 'row') return { maxRows: 1, maxGroups: 1, perGroup: 1 };
  const unit = ds.columns.find((c) => c.name === ds.privacyUnit)!;
  const { maxRowsPerUnit: maxRows, maxGroupsPerUnit } = ds.contribution;
  const maxGroups = grouped ? Math.min(maxGroupsPerUnit, maxRows) : 1;
  // Rows per group: the row budget shared over the unit's groups, so the total stays <= maxRows.
  return { unit, maxRows, maxGroups, perGroup: grouped ? Math.max(1, Math.floor(maxRows / maxGroups)) : maxRows };
}

export function gridOf(c: ColumnDeclaration): Grid {
  const g = c.granularity ?? 1;
  const [lo, hi] = c.bounds!;
  // Inner grid points, so every released (clamped, rounded) value stays within the public bounds.
  const glo = BigInt(Math.ceil(lo / g - 1e-9));
  const ghi = BigInt(Math.floor(hi / g + 1e-9));
  return { g, lo: glo, hi: ghi, mid: (glo + ghi) / 2n };
}

/** One place for every sensitivity the engine uses (add/remove one privacy unit). */
export function sensitivityOf(name: MeasurementName, b: Bounding, grid?: Grid): number {
  switch (name) {
    case 'count':
      return b.maxRows;
    case 'units':
      return 1;
    case 'groups':
      // l1 over all groups: at most maxGroups groups, perGroup rows each.
      return b.maxGroups * b.perGroup;
    case 'sum': {
      const r = maxAbs(grid!.lo) > maxAbs(grid!.hi) ? maxAbs(grid!.lo) : maxAbs(grid!.hi);
      return Number(r) * b.maxRows;
    }
    case 'centredSum':
      return Number(maxAbsCentred(grid!)) * b.maxRows;
    case 'sumSquares': {
      const r = maxAbsCentred(grid!);
      return Number(r * r) * b.maxRows;
    }
  }
}

/** l2 sensitivity (Gaussian noise): differs from l1 only for histograms, where one unit touches
 * at most maxGroups groups by at most perGroup each: sqrt(maxGroups) * perGroup, rounded up. */
export function l2SensitivityOf(name: MeasurementName, b: Bounding, grid?: Grid): number {
  if (name === 'groups') return Math.ceil(Math.sqrt(b.maxGroups) * b.perGroup - 1e-12);
  return sensitivityOf(name, b, grid);
}

const maxAbs = (x: bigint) => (x < 0n ? -x : x);
const maxAbsCentred = (grid: Grid) => {
  const a = grid.hi - grid.mid;
  const b = grid.mid - grid.lo;
  return a > b ? a : b;
};

interface ResolvedPrivacy {
  epsilon: number;
  delta: number;
  mechanism: MechanismChoice;
  /** Set when the caller asked by accuracy: per-measurement parameter already solved. */
  accuracy?: { within: number; confidence: number };
}

function resolvePrivacy(domain: DomainDeclaration, req: AggregateRequest, aggregate: AggregateKind): ResolvedPrivacy {
  const p = req.privacy ?? {};
  const mechanism: MechanismChoice = p.mechanism ?? (p.delta && p.delta > 0 && aggregate !== 'quantile' ? 'GAUSSIAN' : 'LAPLACE');
  if (mechanism === 'GAUSSIAN' && aggregate === 'quantile') throw badInput('Quantiles use permute-and-flip (pure epsilon); omit mechanism.', { field: 'privacy.mechanism' });
  const delta = p.delta ?? (mechanism === 'GAUSSIAN' || (aggregate === 'histogram') ? domain.policy.defaultDelta : 0);
  if (!(delta >= 0 && delta < 1e-3)) throw badInput('delta must be in [0, 0.001).', { field: 'privacy.delta' });
  if (mechanism === 'GAUSSIAN' && !(delta > 0)) throw badInput('The Gaussian mechanism needs delta > 0.', { field: 'privacy.delta' });
  if (p.accuracy) {
    if (p.epsilon != null) throw badInput('Give either epsilon or accuracy, not both.', { field: 'privacy' });
    if (!ACCURACY_AGGREGATES.includes(aggregate))
      throw badInput(`Accuracy targets are supported for ${ACCURACY_AGGREGATES.join(', ')}: their noise does not depend on the data.`, { field: 'privacy.accuracy' });
    const confidence = p.accuracy.confidence ?? 0.95;
    if (!(p.accuracy.within > 0 && Number.isFinite(p.accuracy.within))) throw badInput('accuracy.within must be a positive number.', { field: 'privacy.accuracy.within' });
    if (!(confidence >= 0.5 && confidence < 1)) throw badInput('accuracy.confidence must be in [0.5, 1).', { field: 'privacy.accuracy.confidence' });
    return { epsilon: NaN, delta, mechanism, accuracy: { within: p.accuracy.within, confidence } };
  }
  const epsilon = p.epsilon ?? domain.policy.defaultEpsilon;
  if (!(epsilon > 0 && Number.isFinite(epsilon) && epsilon <= 100)) throw badInput('epsilon must be in (0, 100].', { field: 'privacy.epsilon' });
  return { epsilon, delta, mechanism };
}

/** Builds the noise mechanism of one of `parts` measurements sharing the request's budget. */
function mechanismFor(p: ResolvedPrivacy, sensitivity: number, parts: number): IntegerMechanism {
  if (p.accuracy) {
    // Accuracy-first: only single-measurement aggregates reach here (count, sum, histogram).
    const opts = { sensitivity, within: p.accuracy.within, confidence: p.accuracy.confidence, granularity: 1 };
    if (p.mechanism === 'GAUSSIAN') {
      const m = discreteGaussianMechanism({ sensitivity, rho: rhoForAccuracy(opts) });
      p.epsilon = epsilonOfRho(m.rho!, p.delta);
      return m;
    }
    const m = discreteLaplaceMechanism({ sensitivity, epsilon: epsilonForAccuracy(opts) });
    p.epsilon = m.epsilon!;
    return m;
  }
  if (p.mechanism === 'GAUSSIAN') {
    return discreteGaussianMechanism({ sensitivity, rho: splitEqually(rhoForEpsilonDelta(p.epsilon, p.delta), parts) });
  }
  return discreteLaplaceMechanism({ sensitivity, epsilon: splitEqually(p.epsilon, parts) });
}

const epsilonOfRho = (rho: number, delta: number) => rho + 2 * Math.sqrt(rho * Math.log(1 / delta));

function quantilePlan(q: number | null | undefined, grid: Grid, b: Bounding, epsilon: number): QuantilePlan {
  if (q == null || !(q > 0 && q < 1)) throw badInput('q must be strictly between 0 and 1.', { field: 'q' });
  const Q = Math.round(q * 10000);
  if (Q <= 0 || Q >= 10000) throw badInput('q must be between 0.0001 and 0.9999.', { field: 'q' });
  const span = grid.hi - grid.lo + 1n;
  const bins = span < BigInt(MAX_QUANTILE_BINS) ? Number(span) : MAX_QUANTILE_BINS;
  const binWidth = (span + BigInt(bins) - 1n) / BigInt(bins);
  return { Q, binWidth, bins: Number((span + binWidth - 1n) / binWidth), epsilon, sensitivity: Math.max(Q, 10000 - Q) * b.maxRows };
}

function canonicalKey(p: Omit<Plan, 'key'>): string {
  return JSON.stringify({
    d: p.domain,
    ds: p.dataset.name,
    a: p.aggregate,
    c: p.column?.name ?? null,
    by: p.by.map((c) => c.name),
    f: p.filters.map((f) => [f.column.name, f.op, f.value]),
    b: [p.bounding.maxRows, p.bounding.maxGroups, p.bounding.perGroup],
    q: p.quantile?.Q ?? null,
    m: p.costs,
  });
}
