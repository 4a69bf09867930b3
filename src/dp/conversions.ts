/**
 * Conversions between the (epsilon, delta) users speak and the parameters mechanisms take.
 * Conservative by construction: a parameter derived here never promises more privacy than asked.
 */
import { zcdpEpsilon } from './accountant.js';

const rhoMemo = new Map<string, number>();

/**
 * Largest rho (less a 1e-9 relative margin) such that rho-zCDP implies (epsilon, delta)-DP by the
 * SAME conversion the accountant uses (improved RDP conversion, Canonne, Kamath & Steinke 2020,
 * Prop 12), found by bisection on it. So a request planned with this rho is proved by the
 * accountant at <= epsilon (its basic route never charges more than asked), while it gets ~10-20%
 * more rho than Bun & Steinke's epsilon = rho + 2 sqrt(rho ln(1/delta)) (which it never undercuts:
 * the bisection starts from it). The margin covers the few ulps by which sigma is rounded.
 */
export function rhoForEpsilonDelta(epsilon: number, delta: number): number {
  if (!(epsilon > 0) || !Number.isFinite(epsilon) || !(delta > 0 && delta < 1)) throw new RangeError('need epsilon > 0 and 0 < delta < 1');
  const key = `${epsilon}:${delta}`;
  const hit = rhoMemo.get(key);
  if (hit !== undefined) return hit;
  const L = Math.log(1 / delta);
  const basic = (Math.sqrt(L + epsilon) - Math.sqrt(L)) ** 2;
  let lo = basic * (1 - 1e-9); // zcdpEpsilon(lo) <= epsilon: the improved conversion beats Bun-Steinke
  let hi = basic * 2;
  while (zcdpEpsilon(hi, delta) <= epsilon) [lo, hi] = [hi, hi * 2];
  for (let i = 0; i < 60 && hi - lo > 1e-12 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (zcdpEpsilon(mid, delta) <= epsilon) lo = mid;
    else hi = mid;
  }
  const rho = lo * (1 - 1e-9);
  if (rhoMemo.size > 1024) rhoMemo.clear();
  rhoMemo.set(key, rho);
  return rho;
}

/** Splits a budget equally between `parts` measurements (basic composition of pure / zCDP parts). */
export const splitEqually = (total: number, parts: number) => (total / parts) * (1 - 1e-12);
