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
 * So a row's x has at most d = 1 + features non-zero entries, each of magnitude <= Q.
 *
 * Measurements and their sensitivities (the relation's stability gives m = rows one unit
 * contributes; a unit's rows add up, so by the triangle inequality every bound is m x per row).
 * Let d = features + 1 be the most non-zero entries of x:
 *   - GRAM: the upper triangle (i <= j) of sum_rows x x^T. Per row,
 *     sum_{i<=j} (x_i x_j)^2 = (||x||_2^4 + sum_i x_i^4) / 2 <= Q^4 (d^2 + d) / 2, so
 *     l2 <= m Q^2 sqrt(d (d + 1) / 2), tight when every |x_i| = Q; and sum_{i<=j} |x_i x_j| <=
 *     Q^2 d (d + 1) / 2 = l1 / m. Entries that are zero by construction (two levels of one
 *     categorical feature) are not measured at all (public: they carry no data).
 *   - MOMENTS: sum_rows x y (and y^2 for linear models; for logistic y^2 = Q^2 always, public).
 *     Per row sum_i (x_i y)^2 + y^4 <= Q^4 (d + 1): l2 <= m Q^2 sqrt(d + 1) (sqrt(d) for
 *     logistic), l1 <= m Q^2 (d + 1) (d).
 *   - GRADIENT (logistic refinement steps): sum_rows round(r_row * x) with r_row in [-1, 1] the
 *     residual at the current public coefficients. |round(r x_j)| <= |x_j| (|x_j| is an integer
 *     and |r x_j| <= |x_j|), so per row ||.||_2 <= ||x||_2 <= Q sqrt(d): l2 <= m Q sqrt(d).
 * Splitting X^T X and X^T y into two measurements lets the budget favour X^T y, which carries the
 * direction of the fit, over the Gram matrix, which only shapes it (GRAM_SHARE, measured).
 */
export const GRID = 1024;
export const MAX_FEATURES = 24;
/** Encoded columns (intercept + numeric + dummy columns): the SSP vector has p(p+1)/2 + p + 1 entries. */
export const MAX_DIMENSION = 128;
export const MAX_L2 = 100;
/** Share of rho spent on the sufficient statistics when Newton steps follow, and the step count. */
export const NEWTON_SSP_SHARE = 0.5;
export const NEWTON_STEPS = 3;
/**
 * Share of the sufficient statistics' budget spent on the Gram matrix (the rest on X^T y): 0.3,
 * 0.5 and 0.7 were measured on Adult; 0.5 was as good or better at every epsilon.
 */
export const GRAM_SHARE = 0.5;

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
  /** Max non-zero entries of x (intercept + one per feature). */
  nonZero: number;
  names: string[];
}

export interface RegressionMeasurement {
  id: string;
  kind: 'gram' | 'moments' | 'gradient';
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
  const method = chooseMethod(req, privacy.mechanism);
  const gram = gramSensitivity(encoding.nonZero, m);
  const moments = momentSensitivity(encoding.nonZero, m, req.kind === 'linear');
  const grad = gradientSensitivity(encoding.nonZero, m);
  // Budget shares: [gram, moments, step 1..T], summing to 1 (basic composition of pure / zCDP parts).
  const sspShare = method === 'ssp' ? 1 : NEWTON_SSP_SHARE;
  const shares = [sspShare * GRAM_SHARE, sspShare * (1 - GRAM_SHARE), ...Array<number>(method === 'ssp' ? 0 : NEWTON_STEPS).fill((1 - sspShare) / NEWTON_STEPS)];
  const rho = privacy.mechanism === 'GAUSSIAN' ? rhoForEpsilonDelta(privacy.epsilon, privacy.delta) : 0;
  const measurements: RegressionMeasurement[] = shares.map((share, i) => {
    const [id, kind, s] = i === 0 ? ['gram', 'gram', gram] as const : i === 1 ? ['moments', 'moments', moments] as const : [`step${i - 1}`, 'gradient', grad] as const;
    const mechanism =
      privacy.mechanism === 'LAPLACE'
        ? discreteLaplaceMechanism({ sensitivity: s.l1, epsilon: privacy.epsilon * share * (1 - 1e-12) })
        : discreteGaussianMechanism({ sensitivity: s.l2, rho: rho * share * (1 - 1e-12) });
    return { id, kind, sensitivity: s, mechanism };
  });
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

/** Sensitivity of the Gram measurement, in units of Q^2 (d = max non-zeros of x; proof above). */
export function gramSensitivity(d: number, rowsPerUnit: number): { l1: number; l2: number } {
  const Q2 = GRID * GRID;
  const pairs = (d * (d + 1)) / 2;
  return { l1: rowsPerUnit * Q2 * pairs, l2: Math.ceil(rowsPerUnit * Q2 * Math.sqrt(pairs)) };
}

/** Sensitivity of the moments measurement (X^T y, and y^T y when `withSquare`), in units of Q^2. */
export function momentSensitivity(d: number, rowsPerUnit: number, withSquare: boolean): { l1: number; l2: number } {
  const Q2 = GRID * GRID;
  const entries = d + (withSquare ? 1 : 0);
  return { l1: rowsPerUnit * Q2 * entries, l2: Math.ceil(rowsPerUnit * Q2 * Math.sqrt(entries)) };
}

/** Sensitivity of a clipped-residual gradient sum, in units of Q. */
export function gradientSensitivity(d: number, rowsPerUnit: number): { l1: number; l2: number } {
  return { l1: rowsPerUnit * GRID * d, l2: Math.ceil(rowsPerUnit * GRID * Math.sqrt(d)) };
}

/** Entries of X^T X that are zero for every row: two different levels of one categorical feature. */
export function structuralZero(enc: Encoding, i: number, j: number): boolean {
  if (i === j) return false;
  return enc.features.some((f) => f.kind === 'categorical' && i >= f.index && j >= f.index && i < f.index + f.levels.length - 1 && j < f.index + f.levels.length - 1);
}

/**
 * AUTO: linear models and pure-epsilon requests use SSP alone; logistic models with the Gaussian
 * mechanism take SSP followed by Newton steps on noisy gradients, which bench/ML-REPORT.md measured
 * more accurate than the quadratic approximation alone at every epsilon from 0.1 to 5.
 */
function chooseMethod(req: TrainingRequest, mechanism: string): TrainingMethod {
  if (req.method === 'sspNewton' && (req.kind !== 'logistic' || mechanism !== 'GAUSSIAN'))
    throw badInput('Newton refinement is for logistic models with the Gaussian mechanism.', { field: 'method' });
  if (req.method === 'ssp' || req.method === 'sspNewton') return req.method;
  return req.kind === 'logistic' && mechanism === 'GAUSSIAN' ? 'sspNewton' : 'ssp';
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
  return { features, target, p: names.length, nonZero: features.length + 1, names };
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
