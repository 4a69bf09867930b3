import { rhoForEpsilonDelta } from '../dp/conversions.js';
import { badInput } from '../errors.js';
import type { PrivacyRequest } from './privacy.js';

/**
 * Every check of the privacy arguments a caller sends (GraphQL `privacy`, DP SQL, synthetic data,
 * CSV export), in one pure function called where those arguments enter planning, before any
 * policy, charge or data read. The ranges keep every downstream computation finite:
 *
 * - epsilon in [1e-6, 100]: below 1e-6 noise scales reach 1e6 x sensitivity and beyond, where
 *   accuracy searches and exact samplers lose their footing (5e-324 is a denormal whose inverse is
 *   Infinity); 100 is the declared ceiling of any policy.
 * - delta 0 or in [1e-30, 1e-3): ln(1/delta) must be finite (1/5e-324 is Infinity), and a delta
 *   above 1e-3 is no privacy for datasets of thousands of units.
 * - accuracy.within in (0, 1e9] and finite: within/granularity stays an exact integer in a double;
 *   confidence in [0.5, 1 - 1e-9].
 * - rho at most 25 for every Gaussian (zCDP) release: the accountant converts each zCDP release to
 *   Gaussian DP (src/dp/accountant-gdp.ts, zcdpGdpMu2), which is verified only below rho ~ 26.5;
 *   refusing above 25 keeps a margin (rho 25 is epsilon ~ 72 at delta 1e-10: no real request).
 * - accuracy targets need noise that does not depend on the data and a single known epsilon: not
 *   for histograms whose keys go through DP key selection (its threshold needs epsilon up front).
 */
export const PRIVACY_INPUT_LIMITS = {
  minEpsilon: 1e-6,
  maxEpsilon: 100,
  minDelta: 1e-30,
  maxDelta: 1e-3,
  maxWithin: 1e9,
  minConfidence: 0.5,
  maxConfidence: 1 - 1e-9,
  maxRho: 25,
} as const;

export interface PrivacyInputContext {
  /** What is being planned: an aggregate, or a synthetic-data fit (zCDP, needs delta > 0). */
  aggregate: string;
  /** A histogram whose keys are not public (DP key selection). */
  keySelection?: boolean;
  /** The domain's default delta (used when the caller gives none), for the rho bound. */
  defaultDelta?: number;
  /** The epsilon used when the caller gives none, for the rho bound. */
  defaultEpsilon?: number;
}

const L = PRIVACY_INPUT_LIMITS;
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

export function validatePrivacyInput(p: PrivacyRequest | null | undefined, ctx: PrivacyInputContext): void {
  if (p == null) return;
  if (typeof p !== 'object') throw badInput('privacy must be an object.', { field: 'privacy' });
  if (p.epsilon != null && !(isNum(p.epsilon) && p.epsilon >= L.minEpsilon && p.epsilon <= L.maxEpsilon))
    throw badInput(`epsilon must be a number in [${L.minEpsilon}, ${L.maxEpsilon}].`, { field: 'privacy.epsilon' });
  if (p.delta != null && !(isNum(p.delta) && (p.delta === 0 || (p.delta >= L.minDelta && p.delta < L.maxDelta))))
    throw badInput(`delta must be 0 or a number in [${L.minDelta}, ${L.maxDelta}).`, { field: 'privacy.delta' });
  if (p.mechanism != null && p.mechanism !== 'LAPLACE' && p.mechanism !== 'GAUSSIAN')
    throw badInput('mechanism must be LAPLACE or GAUSSIAN.', { field: 'privacy.mechanism' });
  if (p.accuracy != null) validateAccuracy(p, ctx);
  checkRho(p, ctx);
}

function validateAccuracy(p: PrivacyRequest, ctx: PrivacyInputContext): void {
  const a = p.accuracy!;
  if (typeof a !== 'object') throw badInput('accuracy must be an object.', { field: 'privacy.accuracy' });
  if (!(isNum(a.within) && a.within > 0 && a.within <= L.maxWithin))
    throw badInput(`accuracy.within must be a number in (0, ${L.maxWithin}].`, { field: 'privacy.accuracy.within' });
  if (a.confidence != null && !(isNum(a.confidence) && a.confidence >= L.minConfidence && a.confidence <= L.maxConfidence))
    throw badInput(`accuracy.confidence must be in [${L.minConfidence}, 1).`, { field: 'privacy.accuracy.confidence' });
  if (ctx.keySelection)
    throw badInput('This histogram\'s keys are not public: DP key selection needs epsilon up front, so give epsilon instead of accuracy.', { field: 'privacy.accuracy' });
}

/** Gaussian (zCDP) releases: the rho implied by (epsilon, delta) must stay convertible. */
function checkRho(p: PrivacyRequest, ctx: PrivacyInputContext): void {
  const delta = p.delta ?? ctx.defaultDelta;
  const epsilon = p.epsilon ?? ctx.defaultEpsilon;
  const gaussian = ctx.aggregate === 'synthetic' || p.mechanism === 'GAUSSIAN' || (p.mechanism == null && ctx.aggregate !== 'quantile' && (p.delta ?? 0) > 0);
  if (!gaussian || !isNum(epsilon) || !isNum(delta) || !(delta > 0) || p.accuracy != null) return;
  if (rhoForEpsilonDelta(epsilon, delta) > L.maxRho)
    throw badInput(`epsilon ${epsilon} at delta ${delta} is beyond what the Gaussian accountant supports (rho <= ${L.maxRho}); ask for less epsilon.`, { field: 'privacy.epsilon' });
}
