import type { Encoding, ModelKind } from '../core/regression.js';
import { badInput } from '../errors.js';
import { dot, ridgeSolve, sigmoid, zeros } from './linalg.js';

/**
 * A trained model as stored and served: the public encoding (bounds, category lists) and the
 * coefficients on it. Prediction is free post-processing and runs on the caller's rows in Node.
 */
export type FeatureSpec = { name: string; kind: 'numeric'; bounds: [number, number] } | { name: string; kind: 'categorical'; levels: string[] };
export interface ModelSpec {
  kind: ModelKind;
  dataset: string;
  target: { name: string; bounds?: [number, number]; positiveClass?: string; threshold?: number };
  features: FeatureSpec[];
  /** Names of the encoded columns: "(intercept)", numeric names, "feature=level". */
  names: string[];
}
export interface StoredModel extends ModelSpec {
  /** On the encoding: numeric features scaled to [-1, 1] on their public bounds; linear y too. */
  coefficients: number[];
  method: string;
  source: 'DIRECT' | 'SYNTHETIC_MODEL';
  epsilon: number;
  delta: number;
  /** DP estimate of the training rows (from the released statistics, free). */
  estimatedRows: number;
  /** Linear models: R^2 on the training rows estimated from the released statistics (free). */
  estimatedR2?: number | null;
  l2: number;
}

export function specOf(dataset: string, kind: ModelKind, enc: Encoding): ModelSpec {
  return {
    kind,
    dataset,
    target: { name: enc.target.column.name, bounds: enc.target.bounds, positiveClass: enc.target.positiveClass, threshold: enc.target.threshold },
    features: enc.features.map((f) => (f.kind === 'numeric' ? { name: f.name, kind: 'numeric', bounds: f.bounds } : { name: f.name, kind: 'categorical', levels: f.levels })),
    names: enc.names,
  };
}

const scale = (v: number, [lo, hi]: [number, number]) => (2 * (Math.min(hi, Math.max(lo, v)) - lo)) / (hi - lo) - 1;

/** A row's encoded x (dense, exact scaling; the training grid only rounds at 1/1024). */
export function encodeRow(spec: ModelSpec, row: Record<string, unknown>): number[] {
  const x = new Array<number>(spec.names.length).fill(0);
  x[0] = 1;
  let k = 1;
  for (const f of spec.features) {
    const v = row[f.name];
    if (f.kind === 'numeric') {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      // Missing (or non-numeric) values sit in the middle of the bounds, as in training.
      x[k++] = Number.isFinite(n) ? scale(n, f.bounds) : 0;
    } else {
      const pos = v == null ? -1 : f.levels.indexOf(String(v));
      if (pos > 0) x[k + pos - 1] = 1;
      k += f.levels.length - 1;
    }
  }
  return x;
}

/** The training label of a row: scaled y (linear) or 0/1 (logistic); null when missing. */
export function labelOf(spec: ModelSpec, row: Record<string, unknown>): number | null {
  const v = row[spec.target.name];
  if (v == null || v === '') return null;
  if (spec.kind === 'linear') return scale(Number(v), spec.target.bounds!);
  if (spec.target.positiveClass !== undefined) return String(v) === spec.target.positiveClass ? 1 : 0;
  return Number(v) > spec.target.threshold! ? 1 : 0;
}

/** Prediction: the target's value (linear, back on its scale) or P(positive) (logistic). */
export function predictRow(model: StoredModel, row: Record<string, unknown>): number {
  const m = dot(model.coefficients, encodeRow(model, row));
  if (model.kind === 'logistic') return sigmoid(m);
  const [lo, hi] = model.target.bounds!;
  return lo + ((Math.max(-1, Math.min(1, m)) + 1) * (hi - lo)) / 2;
}

export const MAX_PREDICT_ROWS = 10_000;

export function predictRows(model: StoredModel, rows: unknown): number[] {
  if (!Array.isArray(rows) || rows.length > MAX_PREDICT_ROWS) throw badInput(`rows must be a list of at most ${MAX_PREDICT_ROWS} objects.`, { field: 'rows' });
  return rows.map((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw badInput(`rows[${i}] must be an object of column values.`, { field: 'rows' });
    return predictRow(model, r as Record<string, unknown>);
  });
}

/**
 * Non-private fits on rows already in memory (synthetic rows: post-processing; and the benchmark's
 * baselines): ridge least squares, and ridge logistic regression by Newton's method (IRLS).
 */
export function fitExact(spec: ModelSpec, rows: Iterable<Record<string, unknown>>, l2: number): { coefficients: number[]; n: number } {
  const p = spec.names.length;
  const A = zeros(p);
  const b = new Array<number>(p).fill(0);
  const data: { x: number[]; y: number }[] = [];
  for (const row of rows) {
    const y = labelOf(spec, row);
    if (y === null) continue;
    data.push({ x: encodeRow(spec, row), y });
  }
  const n = Math.max(1, data.length);
  if (spec.kind === 'linear') {
    for (const { x, y } of data) accumulate(A, b, x, y, 1);
    return { coefficients: ridgeSolve(A, b, l2 * n), n: data.length };
  }
  let theta = new Array<number>(p).fill(0);
  for (let it = 0; it < 25; it++) {
    const H = zeros(p);
    const g = theta.map((t) => l2 * n * t);
    for (const { x, y } of data) {
      const q = sigmoid(dot(theta, x));
      accumulate(H, g, x, q - y, q * (1 - q));
    }
    const step = ridgeSolve(H, g, l2 * n + 1e-9);
    theta = theta.map((t, i) => t - step[i]!);
    if (Math.max(...step.map(Math.abs)) < 1e-8) break;
  }
  return { coefficients: theta, n: data.length };
}

/** A += w x x^T (non-zero entries only), b += r x. */
function accumulate(A: number[][], b: number[], x: number[], r: number, w: number) {
  const nz: number[] = [];
  x.forEach((v, i) => v !== 0 && nz.push(i));
  for (const i of nz) {
    b[i]! += r * x[i]!;
    for (const j of nz) A[i]![j]! += w * x[i]! * x[j]!;
  }
}
