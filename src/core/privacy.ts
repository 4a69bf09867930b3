import type { DomainDeclaration } from '../domain/declaration.js';
import { rhoForEpsilonDelta } from '../dp/conversions.js';
import { badInput } from '../errors.js';
import { validatePrivacyInput } from './privacy-input.js';

/**
 * The privacy a request asks for, resolved against the domain's defaults and checked once for
 * every front end. `epsilon` is what the caller sees charged for the request as a whole; the
 * planner splits it over the request's measurements.
 */
export type MechanismChoice = 'LAPLACE' | 'GAUSSIAN';
export interface PrivacyRequest {
  epsilon?: number | null;
  delta?: number | null;
  mechanism?: MechanismChoice | null;
  accuracy?: { within: number; confidence?: number | null } | null;
}
export interface ResolvedPrivacy {
  epsilon: number;
  delta: number;
  mechanism: MechanismChoice;
  accuracy?: { within: number; confidence: number };
}

/** Below this epsilon the noise parameters of the exact samplers stop being representable. */
export const MIN_EPSILON = 1e-6;
export const MAX_EPSILON = 100;
export const MAX_DELTA = 1e-3;
/**
 * Above this rho the accountant's zCDP -> Gaussian-DP conversion is not defined in floating
 * point (mu = sqrt(2 rho) beyond ~7.3 makes Phi(-mu/2 ...) underflow): refuse up front.
 */
export const MAX_RHO = 25;

export function resolvePrivacy(
  domain: DomainDeclaration,
  p: PrivacyRequest | null | undefined,
  opts: { needsPure: boolean; defaultDelta: boolean; accuracyAllowed: string | null },
): ResolvedPrivacy {
  // Types and ranges of every argument first (one module for every front end), then defaults.
  validatePrivacyInput(p, { aggregate: opts.needsPure ? 'quantile' : 'count', keySelection: opts.defaultDelta, defaultDelta: domain.policy.defaultDelta, defaultEpsilon: domain.policy.defaultEpsilon });
  p = p ?? {};
  const mechanism: MechanismChoice = p.mechanism ?? (p.delta && p.delta > 0 && !opts.needsPure ? 'GAUSSIAN' : 'LAPLACE');
  if (mechanism === 'GAUSSIAN' && opts.needsPure) throw badInput('Quantiles use permute-and-flip (pure epsilon): omit mechanism or ask LAPLACE.', { field: 'privacy.mechanism' });
  const delta = p.delta ?? (mechanism === 'GAUSSIAN' || opts.defaultDelta ? domain.policy.defaultDelta : 0);
  if (!(Number.isFinite(delta) && delta >= 0 && delta < MAX_DELTA)) throw badInput(`delta must be in [0, ${MAX_DELTA}).`, { field: 'privacy.delta' });
  if (delta > 0 && delta < 1e-30) throw badInput('delta must be 0 or at least 1e-30.', { field: 'privacy.delta' });
  if (mechanism === 'GAUSSIAN' && !(delta > 0)) throw badInput('The Gaussian mechanism needs delta > 0.', { field: 'privacy.delta' });
  if (p.accuracy) {
    if (p.epsilon != null) throw badInput('Give either epsilon or accuracy, not both.', { field: 'privacy' });
    if (opts.accuracyAllowed) throw badInput(`Accuracy targets are not available here: ${opts.accuracyAllowed}`, { field: 'privacy.accuracy' });
    const confidence = p.accuracy.confidence ?? 0.95;
    if (!(typeof p.accuracy.within === 'number' && p.accuracy.within > 0 && p.accuracy.within <= 1e15))
      throw badInput('accuracy.within must be a positive number up to 1e15.', { field: 'privacy.accuracy.within' });
    if (!(confidence >= 0.5 && confidence <= 0.999999)) throw badInput('accuracy.confidence must be in [0.5, 0.999999].', { field: 'privacy.accuracy.confidence' });
    return { epsilon: NaN, delta, mechanism, accuracy: { within: p.accuracy.within, confidence } };
  }
  const epsilon = p.epsilon ?? domain.policy.defaultEpsilon;
  if (!(typeof epsilon === 'number' && epsilon >= MIN_EPSILON && epsilon <= MAX_EPSILON))
    throw badInput(`epsilon must be in [${MIN_EPSILON}, ${MAX_EPSILON}].`, { field: 'privacy.epsilon' });
  if (mechanism === 'GAUSSIAN' && rhoForEpsilonDelta(epsilon, delta) > MAX_RHO)
    throw badInput(`epsilon ${epsilon} at delta ${delta} is beyond what the Gaussian accountant supports (rho <= ${MAX_RHO}); ask less.`, { field: 'privacy.epsilon' });
  return { epsilon, delta, mechanism };
}
