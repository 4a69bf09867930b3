/**
 * The privacy plan of a fit, fixed BEFORE any data is read: how many measurements at which sigma,
 * how many selections at which epsilon. The fit follows it step for step (fit.ts), so the list of
 * PrivacyCosts charged up front describes exactly what runs (a step skipped at run time is a step
 * with a constant query: still covered by its charge).
 *
 * Charging each mechanism where it is tightest: every measurement enters the accountant as the
 * discrete Gaussian it is (sigma, l2 sensitivity = contribution bound), so the Gaussian-DP route
 * prices it exactly; every selection as its own zCDP cost. The budget rho of a fit asked at
 * (epsilon, delta) is the largest one whose plan the accountant PROVES (epsilon, delta)-DP
 * (requestEpsilon: the smallest of the plan's GDP, zCDP and split conversions), so a fit asked at
 * epsilon is charged at most epsilon on the accountant's basic route.
 */
import { askedAt, requestEpsilon } from '../dp/accountant.js';
import type { PrivacyCost } from '../dp/cost.js';
import { gaussianScale, type GaussianScale } from './noise.js';
import { emSelectionEpsilon } from './select.js';

/** What determines a fit's plan (all public). */
export interface FitShape {
  /** Number of synthesised columns. */
  columns: number;
  method: 'mst' | 'aim';
  /** Max rows one privacy unit contributes (l1 = l2 sensitivity of every count table). */
  contributionBound: number;
  /** 'aim': adaptive rounds (default 20). */
  rounds?: number;
  /** Share of rho for the one-way marginals (default aim 0.4, mst 1/3). */
  oneWayShare?: number;
  /** 'mst': share for the tree selection (default 1/3). 'aim': share of each round (default 0.05: the
   * exponential mechanism's bounded-range cost makes that sharper than permute-and-flip's 10% was). */
  selectionShare?: number;
}

/** The fixed schedule of one fit. */
export interface FitSchedule {
  rho: number;
  /** Every column's one-way marginal, measured once at this scale. */
  oneWay: GaussianScale;
  /** Selection + measurement pairs: 'aim' rounds, or 'mst' tree edges (columns - 1). */
  steps: number;
  /** zCDP budget and exponential-mechanism epsilon of each selection. */
  selectRho: number;
  selectEpsilon: number;
  /** Scale of each step's measurement. */
  measure: GaussianScale;
}

const DEFAULT_ROUNDS = 20;

export function fitSchedule(rho: number, shape: FitShape): FitSchedule {
  if (!(rho > 0 && Number.isFinite(rho))) throw new RangeError('rho must be a positive number');
  const d = shape.columns;
  const cb = shape.contributionBound;
  if (d === 1) return { rho, oneWay: gaussianScale(rho, cb), steps: 0, selectRho: 0, selectEpsilon: 0, measure: gaussianScale(rho, cb) };
  const aim = shape.method === 'aim';
  const oneWayShare = shape.oneWayShare ?? (aim ? 0.4 : 1 / 3);
  const steps = aim ? shape.rounds ?? DEFAULT_ROUNDS : d - 1;
  let selectRho: number;
  let measureRho: number;
  if (aim) {
    const perStep = (rho * (1 - oneWayShare)) / steps;
    const share = shape.selectionShare ?? 0.05;
    [selectRho, measureRho] = [perStep * share, perStep * (1 - share)];
  } else {
    const share = shape.selectionShare ?? 1 / 3;
    [selectRho, measureRho] = [(rho * share) / steps, (rho * (1 - oneWayShare - share)) / steps];
  }
  const selectEpsilon = emSelectionEpsilon(selectRho);
  return { rho, oneWay: gaussianScale((rho * oneWayShare) / d, cb), steps, selectRho: (selectEpsilon * selectEpsilon) / 8, selectEpsilon, measure: gaussianScale(measureRho, cb) };
}

/** The PrivacyCosts of a schedule, in the order the fit runs them. */
export function fitCosts(s: FitSchedule, shape: FitShape): PrivacyCost[] {
  const cb = shape.contributionBound;
  const gauss = (g: GaussianScale): PrivacyCost => ({ kind: 'discreteGaussian', sigma: Math.sqrt(g.variance), sensitivity: cb });
  const costs: PrivacyCost[] = Array.from({ length: shape.columns }, () => gauss(s.oneWay));
  for (let i = 0; i < s.steps; i++) costs.push({ kind: 'zcdp', rho: s.selectRho }, gauss(s.measure));
  return costs;
}

/** A fit's plan for a request asked at (epsilon, delta): the budget, its costs (annotated). */
export interface FitPlan {
  rho: number;
  schedule: FitSchedule;
  costs: PrivacyCost[];
  /** The epsilon the accountant proves for the whole fit at delta (<= the epsilon asked). */
  epsilon: number;
  delta: number;
}

const memo = new Map<string, FitPlan>();

/**
 * The largest rho (to 0.1%) whose plan the accountant proves (epsilon, delta)-DP. Bisection on
 * log rho: requestEpsilon grows with rho. Memoised (a plan takes ~0.1-1 s to search).
 */
export function planFit(epsilon: number, delta: number, shape: FitShape): FitPlan {
  if (!(epsilon > 0 && Number.isFinite(epsilon)) || !(delta > 0 && delta < 1)) throw new RangeError('need epsilon > 0 and 0 < delta < 1');
  const key = JSON.stringify([epsilon, delta, shape]);
  const hit = memo.get(key);
  if (hit) return hit;
  const proved = (rho: number) => requestEpsilon(fitCosts(fitSchedule(rho, shape), shape), delta);
  let lo = 0;
  let hi = epsilon; // rho <= epsilon is necessary: any rho-zCDP... (a start; grown below if needed)
  while (proved(hi) <= epsilon) [lo, hi] = [hi, hi * 2];
  if (lo === 0) {
    lo = hi / 2;
    while (!(proved(lo) <= epsilon)) [hi, lo] = [lo, lo / 2];
  }
  while (hi / lo > 1.001) {
    const mid = Math.sqrt(lo * hi);
    if (proved(mid) <= epsilon) lo = mid;
    else hi = mid;
  }
  const schedule = fitSchedule(lo, shape);
  const raw = fitCosts(schedule, shape);
  const plan = { rho: lo, schedule, costs: askedAt(raw, { epsilon, delta }), epsilon: requestEpsilon(raw, delta), delta };
  if (memo.size > 256) memo.clear();
  memo.set(key, plan);
  return plan;
}

/**
 * A fit asked without a delta: this fraction of the cap's delta. Small enough that tens of fits
 * fit the accountant's basic-route share of delta (DELTA_SPLIT.basic), large enough that it costs
 * little accuracy (rho grows like 1/log(1/delta)).
 */
export const FIT_DELTA_SHARE = 0.01;
export const defaultFitDelta = (capDelta: number): number => capDelta * FIT_DELTA_SHARE;
