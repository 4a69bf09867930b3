import { createHash } from 'node:crypto';
import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import type { PrivacyCost } from '../dp/cost.js';
import { rhoForEpsilonDelta } from '../dp/conversions.js';
import { discreteGaussianMechanism, discreteLaplaceMechanism, type IntegerMechanism } from '../dp/mechanisms.js';
import { badInput } from '../errors.js';
import { and, not, type Predicate } from './predicate.js';
import { resolvePrivacy, type PrivacyRequest } from './privacy.js';
import { RelationBuilder, type Relation } from './relation.js';
import type { ColumnInfo, RelationSchema } from './schema.js';
import { analyse } from './stability.js';

/**
 * DP regression as measurements of the plan IR (pure: nothing here reads data).
 *
 * A training request becomes a bounded relation (the dataset's rows with a target, at most
 * maxRowsPerUnit rows per unit, optionally filtered) and an ENCODING of each row into an integer
 * vector z = (x, y) on a public grid:
 *   - intercept: Q;
 *   - numeric feature: round(Q * s(v)) with s(v) = 2 (clamp(v, lo, hi) - lo) / (hi - lo) - 1 on
 *     the column's PUBLIC bounds, so in [-Q, Q] (NULL -> 0, the middle of the bounds);
 *   - categorical feature: reference (dummy) coding on the PUBLIC category list: level i > 1 is a
 *     column holding Q when the row has that level; the first level, NULL and unlisted values
 *     hold 0 everywhere. At most ONE non-zero per categorical feature;
 *   - target: linear: round(Q * s(y)); logistic: +Q / -Q (positive class or not).
 * So a row's z has at most D = 2 + features non-zero entries, each of magnitude <= Q.
 *
 * Measurements and their sensitivities (the relation's stability gives m = rows one unit
 * contributes; a unit's rows add up, so by the triangle inequality every bound is m x per row):
 *   - SSP: the upper triangle (i <= j) of sum_rows z z^T (X^T X, X^T y, y^T y together).
 *     Per row, sum_{i<=j} (z_i z_j)^2 = (||z||_2^4 + sum_i z_i^4) / 2 <= Q^4 (D^2 + D) / 2, so
 *     l2 <= m Q^2 sqrt(D (D + 1) / 2); and sum_{i<=j} |z_i z_j| <= Q^2 D (D + 1) / 2 = l1 / m.
 *   - GRADIENT (logistic refinement steps): sum_rows round(r_row * x) with r_row in [-1, 1] the
 *     residual at the current public coefficients. |round(r x_j)| <= |x_j| (|x_j| is an integer
 *     and |r x_j| <= |x_j|), so per row ||.||_2 <= ||x||_2 <= Q sqrt(D - 1): l2 <= m Q sqrt(D - 1).
 * Each measurement is one vector of independent discrete Gaussians (rho = l2^2 / (2 sigma^2),
 * Canonne, Kamath & Steinke 2020, Thm 14 with the multivariate extension) or, for SSP only, of
 * discrete Laplaces (epsilon = l1 / t). A training's cost is the list of its measurements' costs:
 * one release, composed exactly by the accountant (zCDP for the Gaussian ones).
 */
export const GRID = 1024;
export const MAX_FEATURES = 24;
/** Encoded columns (intercept + numeric + dummy columns): the SSP vector has p(p+1)/2 + p + 1 entries. */
export const MAX_DIMENSION = 128;
export const MAX_L2 = 100;
/** Share of rho spent on the sufficient statistics when Newton steps follow, and the step count. */
export const NEWTON_SSP_SHARE = 0.5;
export const NEWTON_STEPS = 3;

export type ModelKind = 'linear' | 'logistic';
export type TrainingMethod = 'ssp' | 'sspNewton';

export interface TrainingRequest {
  domain: DomainDeclaration;
  dataset: DatasetDeclaration;
  kind: ModelKind;
  target: string;
  /** Logistic on a categorical target: the class predicted as 1. */
  positiveClass?: string | null;
  /** Logistic on a numeric target: y = 1 when target > threshold. */
  threshold?: number | null;
  features: string[];
  /** Ridge penalty per row (the loss is mean loss + l2/2 ||theta||^2 on the scaled encoding). */
  l2?: number | null;
  privacy?: PrivacyRequest | null;
  method?: TrainingMethod | 'auto' | null;
  /** Extra row filter (e.g. a training split), part of the relation and of the memo key. */
  where?: Predicate | null;
}

export type EncodedFeature =
  | { kind: 'numeric'; name: string; column: ColumnInfo; bounds: [number, number]; index: number }
  | { kind: 'categorical'; name: string; column: ColumnInfo; levels: string[]; index: number };

export interface Target {
  column: ColumnInfo;
  /** linear: scaled on these public bounds. */
  bounds?: [number, number];
  positiveClass?: string;
  threshold?: number;
}

export interface Encoding {
  features: EncodedFeature[];
  target: Target;
  /** Encoded x columns (intercept at 0); y is column p of z. */
  p: number;
  /** Max non-zero entries of z = (x, y). */
  nonZero: number;
  names: string[];
}

export interface RegressionMeasurement {
  id: string;
  kind: 'ssp' | 'gradient';
  /** In integer units of the grid: Q^2 for SSP entries, Q for gradient entries. */
  sensitivity: { l1: number; l2: number };
  mechanism: IntegerMechanism;
}

export interface TrainingPlan {
  domain: string;
  dataset: DatasetDeclaration;
  kind: ModelKind;
  method: TrainingMethod;
  relation: Relation;
  schema: RelationSchema;
  rowsPerUnit: number;
  encoding: Encoding;
  l2: number;
  measurements: RegressionMeasurement[];
  costs: PrivacyCost[];
  epsilon: number;
  delta: number;
  mechanism: string;
  key: string;
}

/** Validates the request against the public declaration and prices it, before any charge. */
export function buildTrainingPlan(req: TrainingRequest): TrainingPlan {
  const base = RelationBuilder.from(req.dataset);
  const columns = analyse(base.relation).schema.columns;
  const target = resolveTarget(req, columns);
  const encoding = encode(req, columns, target);
  const l2 = req.l2 ?? 1e-4;
  if (!(typeof l2 === 'number' && l2 >= 0 && l2 <= MAX_L2)) throw badInput(`l2 must be in [0, ${MAX_L2}].`, { field: 'l2' });
  // Rows without a target are not training rows; the caller's filter (a split) comes on top.
  const present: Predicate = not({ op: 'isNull', column: target.column.name });
  const filtered = base.filter(req.where ? and(present, req.where) : present);
  const maxRows = req.dataset.privacyUnit === 'row' ? 1 : req.dataset.contribution.maxRowsPerUnit;
  const { relation, schema } = analyse(filtered.bound(maxRows).relation);
  const m = schema.contribution.rows;
  if (!Number.isFinite(m)) throw badInput('The training rows cannot be bounded per privacy unit.');

  const mechanismChoice = req.privacy?.mechanism ?? 'GAUSSIAN';
  const privacy = resolvePrivacy(req.domain, { ...req.privacy, mechanism: mechanismChoice }, {
    needsPure: false,
    defaultDelta: mechanismChoice === 'GAUSSIAN',
    accuracyAllowed: 'a model\'s accuracy depends on the data; give epsilon.',
  });
  const method = chooseMethod(req, privacy.mechanism, privacy.epsilon);
  const measurements: RegressionMeasurement[] = [];
  const ssp = sspSensitivity(encoding.nonZero, m);
  const grad = gradientSensitivity(encoding.nonZero, m);
  if (privacy.mechanism === 'LAPLACE') {
    measurements.push({ id: 'ssp', kind: 'ssp', sensitivity: ssp, mechanism: discreteLaplaceMechanism({ sensitivity: ssp.l1, epsilon: privacy.epsilon * (1 - 1e-12) }) });
  } else {
    const rho = rhoForEpsilonDelta(privacy.epsilon, privacy.delta);
    const shares = method === 'ssp' ? [1] : [NEWTON_SSP_SHARE, ...Array<number>(NEWTON_STEPS).fill((1 - NEWTON_SSP_SHARE) / NEWTON_STEPS)];
    shares.forEach((share, i) => {
      const s = i === 0 ? ssp : grad;
      measurements.push({ id: i === 0 ? 'ssp' : `step${i}`, kind: i === 0 ? 'ssp' : 'gradient', sensitivity: s, mechanism: discreteGaussianMechanism({ sensitivity: s.l2, rho: rho * share * (1 - 1e-12) }) });
    });
  }
  const costs = measurements.map((x) => x.mechanism.cost);
  const plan = {
    domain: req.domain.name,
    dataset: req.dataset,
    kind: req.kind,
    method,
    relation,
    schema,
    rowsPerUnit: m,
    encoding,
    l2,
    measurements,
    costs,
    epsilon: privacy.epsilon,
    delta: privacy.delta,
    mechanism: `${method === 'ssp' ? 'noisy sufficient statistics' : 'noisy sufficient statistics + Newton steps on noisy gradients'} (${measurements[0]!.mechanism.kind})`,
  };
  return { ...plan, key: trainingKey(plan) };
}

/** l1/l2 sensitivity of the SSP vector, in units of Q^2 (see the file comment for the proof). */
export function sspSensitivity(nonZero: number, rowsPerUnit: number): { l1: number; l2: number } {
  const Q2 = GRID * GRID;
  const pairs = (nonZero * (nonZero + 1)) / 2;
  return { l1: rowsPerUnit * Q2 * pairs, l2: Math.ceil(rowsPerUnit * Q2 * Math.sqrt(pairs)) };
}

/** l2 sensitivity of a clipped-residual gradient sum, in units of Q (x has nonZero - 1 entries). */
export function gradientSensitivity(nonZero: number, rowsPerUnit: number): { l1: number; l2: number } {
  const d = nonZero - 1;
  return { l1: rowsPerUnit * GRID * d, l2: Math.ceil(rowsPerUnit * GRID * Math.sqrt(d)) };
}

/**
 * AUTO: linear models and pure-epsilon requests use SSP alone; logistic models take SSP followed by
 * Newton steps on noisy gradients from epsilon 0.5 on, where bench/ML-REPORT.md measured it more
 * accurate than the quadratic approximation alone (below, splitting the budget costs more than
 * the refinement gains).
 */
function chooseMethod(req: TrainingRequest, mechanism: string, epsilon: number): TrainingMethod {
  if (req.method === 'sspNewton' && (req.kind !== 'logistic' || mechanism !== 'GAUSSIAN'))
    throw badInput('Newton refinement is for logistic models with the Gaussian mechanism.', { field: 'method' });
  if (req.method === 'ssp' || req.method === 'sspNewton') return req.method;
  return req.kind === 'logistic' && mechanism === 'GAUSSIAN' && epsilon >= 0.5 ? 'sspNewton' : 'ssp';
}

function resolveTarget(req: TrainingRequest, columns: Map<string, ColumnInfo>): Target {
  const c = columns.get(req.target);
  if (!c || req.target === req.dataset.privacyUnit) throw badInput(`Unknown target column "${req.target}" in ${req.dataset.name}.`, { field: 'target', column: req.target });
  const numeric = (c.type === 'integer' || c.type === 'float') && c.bounds;
  if (req.kind === 'linear') {
    if (!numeric) throw badInput(`A linear model needs a numeric target with public bounds; "${c.name}" is ${c.type}.`, { field: 'target', column: c.name });
    if (req.positiveClass != null || req.threshold != null) throw badInput('positiveClass and threshold are for logistic models.', { field: 'positiveClass' });
    return { column: c, bounds: c.bounds };
  }
  if (c.type === 'categorical') {
    if (!c.categories) throw badInput(`"${c.name}" has no public category list to choose a class from.`, { field: 'target', column: c.name });
    if (req.threshold != null) throw badInput('threshold is for a numeric target; give positiveClass.', { field: 'threshold' });
    if (req.positiveClass == null || !c.categories.includes(req.positiveClass))
      throw badInput(`positiveClass must be one of ${c.name}'s categories: ${c.categories.join(', ')}.`, { field: 'positiveClass', column: c.name });
    return { column: c, positiveClass: req.positiveClass };
  }
  if (!numeric) throw badInput(`A logistic model needs a categorical or numeric target; "${c.name}" is ${c.type}.`, { field: 'target', column: c.name });
  if (req.positiveClass != null) throw badInput('positiveClass is for a categorical target; give threshold.', { field: 'positiveClass' });
  if (typeof req.threshold !== 'number' || !Number.isFinite(req.threshold) || !(req.threshold >= c.bounds![0] && req.threshold < c.bounds![1]))
    throw badInput(`threshold must be within ${c.name}'s public bounds [${c.bounds!.join(', ')}).`, { field: 'threshold' });
  return { column: c, threshold: req.threshold };
}

function encode(req: TrainingRequest, columns: Map<string, ColumnInfo>, target: Target): Encoding {
  if (req.features.length === 0) throw badInput('Give at least one feature.', { field: 'features' });
  if (req.features.length > MAX_FEATURES) throw badInput(`At most ${MAX_FEATURES} features.`, { field: 'features' });
  if (new Set(req.features).size !== req.features.length) throw badInput('A feature is repeated.', { field: 'features' });
  const features: EncodedFeature[] = [];
  const names = ['(intercept)'];
  for (const name of req.features) {
    const c = columns.get(name);
    if (!c || name === req.dataset.privacyUnit) throw badInput(`Unknown feature column "${name}" in ${req.dataset.name}.`, { field: 'features', column: name });
    if (name === target.column.name) throw badInput(`The target "${name}" cannot also be a feature.`, { field: 'features', column: name });
    if ((c.type === 'integer' || c.type === 'float') && c.bounds) {
      features.push({ kind: 'numeric', name, column: c, bounds: c.bounds, index: names.length });
      names.push(name);
    } else if (c.type === 'categorical' && c.categories) {
      if (c.categories.length < 2) throw badInput(`"${name}" has a single category: it carries no information.`, { field: 'features', column: name });
      features.push({ kind: 'categorical', name, column: c, levels: c.categories, index: names.length });
      names.push(...c.categories.slice(1).map((l) => `${name}=${l}`));
    } else {
      throw badInput(`Feature "${name}" needs public bounds (numeric) or a public category list (categorical).`, { field: 'features', column: name });
    }
  }
  if (names.length > MAX_DIMENSION) throw badInput(`The features encode to ${names.length} columns; at most ${MAX_DIMENSION}.`, { field: 'features' });
  return { features, target, p: names.length, nonZero: features.length + 2, names };
}

function trainingKey(p: Omit<TrainingPlan, 'key'>): string {
  const rel = JSON.stringify(p.relation, (k, v) => (k === 'dataset' || k === 'table' ? (v as DatasetDeclaration).name : v));
  const text = JSON.stringify({
    v: 1,
    a: 'train',
    d: p.domain,
    r: rel,
    k: p.kind,
    m: p.method,
    f: p.encoding.features.map((f) => f.name),
    t: [p.encoding.target.column.name, p.encoding.target.positiveClass ?? null, p.encoding.target.threshold ?? null],
    l2: p.l2,
    c: p.costs,
  });
  return `train:${createHash('sha256').update(text).digest('base64url')}`;
}
