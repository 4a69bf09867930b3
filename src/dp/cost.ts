/**
 * What one release costs, described by the mechanism that made it, so the accountant can compose
 * releases tightly (it knows each mechanism's own privacy curve, not only a summary number).
 *
 * Sensitivities are in the mechanism's integer output units (see src/dp/mechanisms.ts).
 */
export type PrivacyCost = (
  /** Discrete Laplace noise, pmf proportional to exp(-|x|/scale); pure epsilon = sensitivity/scale. */
  | { kind: 'discreteLaplace'; scale: number; sensitivity: number }
  /** Discrete Gaussian noise, pmf proportional to exp(-x^2/(2 sigma^2)); l2 sensitivity. */
  | { kind: 'discreteGaussian'; sigma: number; sensitivity: number }
  /** Any other pure epsilon-DP step (e.g. permute-and-flip for quantiles). */
  | { kind: 'pure'; epsilon: number }
  /** Any other rho-zCDP step (e.g. an exponential-mechanism selection: eps^2/8, bounded range). */
  | { kind: 'zcdp'; rho: number }
  /** An (epsilon, delta)-DP step with no better description (e.g. DP key selection). */
  | { kind: 'approx'; epsilon: number; delta: number }
) & {
  /**
   * Optional (absent = as before): the request this release belongs to and the (epsilon, delta) it
   * was asked or planned at. Set it with `askedAt` (src/dp/accountant.ts) on all costs of one request.
   * The accountant then also charges the request on its basic-composition route, at the epsilon it
   * PROVES for the whole request at that delta (never more than asked when the plan is right).
   */
  asked?: Asked;
};

/** See PrivacyCost.asked. `part` of `parts` numbers the request's annotated costs in order. */
export interface Asked {
  epsilon: number;
  delta: number;
  part: number;
  parts: number;
}

/** A budget cap in the terms users see. */
export interface Cap {
  epsilon: number;
  delta: number;
}
