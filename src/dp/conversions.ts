/**
 * Conversions between the (epsilon, delta) users speak and the parameters mechanisms take.
 * Conservative by construction: a parameter derived here never promises more privacy than asked.
 */

/**
 * Largest rho such that rho-zCDP implies (epsilon, delta)-DP by Bun & Steinke 2016, Prop. 1.3:
 * epsilon = rho + 2 sqrt(rho ln(1/delta)). Solving for sqrt(rho): sqrt(L + eps) - sqrt(L), L = ln(1/delta).
 * (The accountant may later prove a smaller epsilon for the same rho; never a larger one.)
 */
export function rhoForEpsilonDelta(epsilon: number, delta: number): number {
  if (!(epsilon > 0) || !(delta > 0 && delta < 1)) throw new RangeError('need epsilon > 0 and 0 < delta < 1');
  const L = Math.log(1 / delta);
  const root = Math.sqrt(L + epsilon) - Math.sqrt(L);
  // Round down in the last bits so floating error cannot overshoot the guarantee.
  return root * root * (1 - 1e-12);
}

/** Splits a budget equally between `parts` measurements (basic composition of pure / zCDP parts). */
export const splitEqually = (total: number, parts: number) => (total / parts) * (1 - 1e-12);
