/**
 * DP synthetic data: fit a marginal-based model once per (dataset, budget), then sample from it
 * as often as wanted (post-processing). See fit.ts for the method.
 *
 * Usage (the product's oracle is a SQL GROUP BY with contribution bounding):
 *
 *   const model = await fit(oracle, domain, { epsilon: 1, delta: 1e-9, contributionBound: 1 });
 *   store(JSON.stringify(model));                     // plain JSON
 *   const rows = sample(model, 10_000, rng);          // free, repeatable for a given rng state
 *   describe(model);                                  // what was measured, sigma and rho of each step
 *
 * The oracle is asked for every one-way marginal and for the 2- and 3-way marginals the selection
 * considers (on the order of d³/6 small GROUP BYs for d columns); its answers are never released
 * except through the noisy measurements and the private selections charged to the budget.
 */
export type { Column, Domain, MarginalOracle } from './types.js';
export { fit, shapeOf, type FitOptions } from './fit.js';
export { defaultFitDelta, fitCosts, fitSchedule, FIT_DELTA_SHARE, planFit, type FitPlan, type FitSchedule, type FitShape } from './plan.js';
export { sample, sampleRange, type SyntheticTable } from './sample.js';
export { describe, MODEL_FORMAT, type SynthModel, type ModelDescription, type PrivacyReport, type PrivacyStep } from './model.js';
export { binEdges, binIndex, sampleInBin, decodeColumn } from './discretize.js';
export { codeCount, codeOf, codeSql as numericCodeSql, decodeNumeric, numericBinning, valueOf, type NumericBinning } from './columns.js';
export { fastRandom, type FastRandom } from './rng.js';
export { rhoFromEpsilonDelta, epsilonFromRho, deltaFromRho, epsilonFromRhoBasic, gaussianRho, selectionRho } from './budget.js';
export { memoryOracle, countTable, type CodedTable } from './oracle.js';
export { averageTvd, marginalTvd, subsets } from './metrics.js';
