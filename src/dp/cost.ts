/**
 * What one release costs, described by the mechanism that made it, so the accountant can compose
 * releases tightly (it knows each mechanism's own privacy curve, not only a summary number).
 *
 * Sensitivities are in the mechanism's integer output units (see src/dp/mechanisms.ts).
 */
export type PrivacyCost =
  /** Discrete Laplace noise, pmf proportional to exp(-|x|/scale); pure epsilon = sensitivity/scale. */
  | { kind: 'discreteLaplace'; scale: number; sensitivity: number }
  /** Discrete Gaussian noise, pmf proportional to exp(-x^2/(2 sigma^2)); l2 sensitivity. */
  | { kind: 'discreteGaussian'; sigma: number; sensitivity: number }
  /** Any other pure epsilon-DP step (e.g. permute-and-flip for quantiles). */
  | { kind: 'pure'; epsilon: number }
  /** Any other rho-zCDP step. */
  | { kind: 'zcdp'; rho: number }
  /** An (epsilon, delta)-DP step with no better description (e.g. DP key selection). */
  | { kind: 'approx'; epsilon: number; delta: number };

/** A budget cap in the terms users see. */
export interface Cap {
  epsilon: number;
  delta: number;
}
