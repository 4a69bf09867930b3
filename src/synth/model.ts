/**
 * The fitted model: plain JSON (numbers, strings, arrays) so the lead can store it in a database
 * and sample from it later without the data. It holds only DP outputs and public information:
 * the public domain, the compression decided from noisy one-way counts, and the clique marginals
 * estimated from noisy measurements.
 */
import type { Column } from './types.js';
import type { ColumnCompression } from './compress.js';

export const MODEL_FORMAT = 'confidential-mesh/synth-model';

/** One privacy-consuming step of a fit, with what it cost. */
export type PrivacyStep =
  | {
      kind: 'measure';
      /** Columns of the measured marginal (original names). */
      columns: string[];
      /** Cells measured (in the compressed domain). */
      cells: number;
      /** Standard deviation of the discrete Gaussian noise per cell. */
      sigma: number;
      /** l2 sensitivity of the table (= the contribution bound). */
      sensitivity: number;
      /** zCDP cost: sensitivity² / (2 sigma²). */
      rho: number;
    }
  | {
      kind: 'select';
      /** What was chosen from how many candidates. */
      chosen: string[];
      candidates: number;
      /** Exponential-mechanism epsilon and the integer utility's sensitivity (rounding included). */
      epsilon: number;
      sensitivity: number;
      /** zCDP cost: epsilon² / 8 (epsilon-bounded-range, Cesar & Rogers 2021). */
      rho: number;
    };

export interface PrivacyReport {
  /** The budget the fit was given (and spends in full). */
  rho: number;
  /** The (epsilon, delta) it was derived from, when given that way. */
  epsilon?: number;
  delta?: number;
  /** Maximum rows one privacy unit contributes to the oracle's counts. */
  contributionBound: number;
  steps: PrivacyStep[];
}

export interface SynthModel {
  format: typeof MODEL_FORMAT;
  version: 1;
  method: 'mst' | 'aim';
  domain: Column[];
  compression: ColumnCompression[];
  /** Junction tree over compressed codes: maximal cliques (attribute indices), parents-first order. */
  cliques: number[][];
  parent: number[];
  separators: number[][];
  order: number[];
  /** Each clique's estimated distribution (probabilities summing to 1), row-major. */
  marginals: number[][];
  /** Noisy estimate of the number of rows in the data (a DP output). */
  estimatedRows: number;
  privacy: PrivacyReport;
}

export interface ModelDescription {
  method: string;
  rho: number;
  epsilon?: number;
  delta?: number;
  /** Sum of the steps' costs; equals rho up to floating-point rounding. */
  rhoSpent: number;
  measurements: { columns: string[]; cells: number; sigma: number; rho: number }[];
  selections: { chosen: string[]; candidates: number; epsilon: number; rho: number }[];
  /** Attribute sets of the model's cliques, by column name. */
  modelCliques: string[][];
  estimatedRows: number;
}

/** What was measured and selected, and what each step cost. */
export function describe(model: SynthModel): ModelDescription {
  const names = model.domain.map((c) => c.name);
  const steps = model.privacy.steps;
  const measurements = steps.flatMap((s) => (s.kind === 'measure' ? [{ columns: s.columns, cells: s.cells, sigma: s.sigma, rho: s.rho }] : []));
  const selections = steps.flatMap((s) => (s.kind === 'select' ? [{ chosen: s.chosen, candidates: s.candidates, epsilon: s.epsilon, rho: s.rho }] : []));
  return {
    method: model.method,
    rho: model.privacy.rho,
    ...(model.privacy.epsilon !== undefined ? { epsilon: model.privacy.epsilon, delta: model.privacy.delta } : {}),
    rhoSpent: steps.reduce((s, x) => s + x.rho, 0),
    measurements,
    selections,
    modelCliques: model.cliques.map((c) => c.map((a) => names[a]!)),
    estimatedRows: model.estimatedRows,
  };
}
