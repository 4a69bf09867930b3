import type { Cap, PrivacyCost } from './cost.js';

/**
 * The privacy accountant: composes every release of a principal (or of a dataset, for the global
 * cap) by Renyi differential privacy, which is much tighter than adding epsilons, and converts to
 * the (epsilon, delta) users see with the improved conversion of Canonne, Kamath & Steinke 2020
 * (Prop. 12; also Asoodeh et al. 2021):
 *   eps(delta) = min_alpha  RDP(alpha) + log((alpha - 1) / alpha) - (log delta + log alpha) / (alpha - 1).
 * The state is a sum of RDP curves on a fixed grid of orders (RDP composes by addition), plus the
 * sum of pure epsilons (basic composition is kept as a second, always-valid bound: the reported
 * epsilon is the smaller of the two) and the (epsilon, delta) steps that only have an approximate-DP
 * description (composed on top by basic composition). Fixed size: a charge check is O(grid).
 *
 * Per cost kind (each bound cited is valid for the DISCRETE mechanism we actually run):
 *  - discreteGaussian(sigma, Delta): RDP alpha * Delta^2 / (2 sigma^2) (Canonne-Kamath-Steinke 2020,
 *    Prop. 5: the discrete Gaussian satisfies (Delta^2 / 2 sigma^2)-concentrated DP, i.e. this RDP curve).
 *  - zcdp(rho): RDP alpha * rho.
 *  - discreteLaplace(t, Delta) and pure(eps): eps = Delta / t, pure eps-DP; RDP of any eps-DP
 *    mechanism is at most min(eps, (1/(alpha-1)) log((sinh(alpha eps) - sinh((alpha-1) eps)) / sinh(eps)))
 *    (Bun & Steinke 2016, Prop. 3.3 / Mironov 2017, Prop. 10; the latter bound is attained by
 *    randomised response, so it is valid for the discrete Laplace).
 *  - approx(eps, delta): added by basic composition to the final (eps, delta).
 */
export const ORDERS: readonly number[] = (() => {
  const out: number[] = [];
  for (let i = 0; i < 160; i++) out.push(1 + 0.01 * Math.pow(1.075, i)); // 1.01 ... ~1e3, dense near 1
  return out;
})();

export interface AccountantState {
  v: 1;
  /** Sum of RDP epsilons, one per order in ORDERS. */
  rdp: number[];
  /** Sum of pure epsilons; Infinity once any non-pure step is composed (basic bound unusable). */
  pure: number;
  approxEpsilon: number;
  approxDelta: number;
  releases: number;
}

export function emptyState(): AccountantState {
  return { v: 1, rdp: ORDERS.map(() => 0), pure: 0, approxEpsilon: 0, approxDelta: 0, releases: 0 };
}

export function compose(state: AccountantState, cost: PrivacyCost): AccountantState {
  const next: AccountantState = { ...state, rdp: state.rdp.slice(), releases: state.releases + 1 };
  switch (cost.kind) {
    case 'discreteGaussian':
      return addCurve(next, (a) => (a * cost.sensitivity * cost.sensitivity) / (2 * cost.sigma * cost.sigma), Infinity);
    case 'zcdp':
      return addCurve(next, (a) => a * cost.rho, Infinity);
    case 'discreteLaplace':
      return addPure(next, cost.sensitivity / cost.scale);
    case 'pure':
      return addPure(next, cost.epsilon);
    case 'approx':
      next.approxEpsilon += cost.epsilon;
      next.approxDelta += cost.delta;
      return next;
  }
}

function addCurve(s: AccountantState, rdp: (alpha: number) => number, pure: number): AccountantState {
  for (let i = 0; i < ORDERS.length; i++) s.rdp[i]! += rdp(ORDERS[i]!);
  s.pure = pure === Infinity ? Infinity : s.pure + pure;
  return s;
}

const addPure = (s: AccountantState, eps: number) => addCurve(s, (a) => pureRdp(eps, a), eps);

/** RDP of order alpha of any eps-DP mechanism (Bun & Steinke 2016, Prop. 3.3). */
export function pureRdp(eps: number, alpha: number): number {
  if (eps === 0) return 0;
  const x = alpha * eps;
  if (x > 30) return eps; // sinh ratio ~ e^{eps}: the bound tends to eps
  const ratio = (Math.sinh(x) - Math.sinh(x - eps)) / Math.sinh(eps);
  const bound = Math.log(ratio) / (alpha - 1);
  return Math.min(eps, Number.isFinite(bound) ? bound : eps, (alpha * eps * eps) / 2);
}

/** Epsilon proven at `delta` by the state (never optimistic). */
export function epsilonSpent(state: AccountantState, delta: number): number {
  if (state.releases === 0) return 0;
  const d = delta - state.approxDelta;
  if (d < 0) return Infinity; // the approximate steps alone already exceed delta
  let best = Infinity;
  if (state.pure !== Infinity) best = state.pure;
  if (d > 0) {
    for (let i = 0; i < ORDERS.length; i++) {
      const a = ORDERS[i]!;
      const eps = state.rdp[i]! + Math.log((a - 1) / a) - (Math.log(d) + Math.log(a)) / (a - 1);
      if (eps < best) best = eps;
    }
  } else if (state.rdp.some((r) => r > 0) && state.pure === Infinity) {
    return Infinity;
  }
  // A tiny upward margin absorbs floating-point error in the sums: the bound must never be low.
  return (Math.max(0, best) + state.approxEpsilon) * (1 + 1e-12);
}

export const deltaSpentFloor = (state: AccountantState) => state.approxDelta;

export function fits(state: AccountantState, cost: PrivacyCost, cap: Cap): boolean {
  const after = compose(state, cost);
  return withinCap(epsilonSpent(after, cap.delta), cap.epsilon);
}

/**
 * Caps are compared with a relative tolerance of 1e-9, so that ten releases of 0.1 fit a cap of 1
 * despite binary rounding (0.1 is not a double); it can never let through a release worth noticing.
 */
export const withinCap = (spent: number, capEpsilon: number) => Number.isFinite(spent) && spent <= capEpsilon * (1 + 1e-9);

export function budgetStatus(state: AccountantState, cap: Cap) {
  const spent = epsilonSpent(state, cap.delta);
  return { epsilonSpent: spent, epsilonRemaining: Math.max(0, cap.epsilon - spent), delta: cap.delta, releases: state.releases };
}

/** Validates a state read back from the database. */
export function parseState(json: unknown): AccountantState {
  const s = json as Partial<AccountantState>;
  const num = (x: unknown) => typeof x === 'number' || x === null;
  if (!s || s.v !== 1 || !Array.isArray(s.rdp) || s.rdp.length !== ORDERS.length || !s.rdp.every((x) => typeof x === 'number' && x >= 0))
    throw new Error('invalid accountant state');
  if (!num(s.pure) || typeof s.approxEpsilon !== 'number' || typeof s.approxDelta !== 'number' || typeof s.releases !== 'number')
    throw new Error('invalid accountant state');
  // JSON has no Infinity: it round-trips as null.
  return { v: 1, rdp: s.rdp, pure: s.pure === null ? Infinity : (s.pure as number), approxEpsilon: s.approxEpsilon, approxDelta: s.approxDelta, releases: s.releases };
}

/** Epsilon of one release alone at `delta` (for display). */
export const singleReleaseEpsilon = (cost: PrivacyCost, delta: number) => epsilonSpent(compose(emptyState(), cost), delta);

// ---- exact analytic Gaussian (Balle & Wang 2018), for tests and the README table ----

/** Standard normal CDF via erfc (W. J. Cody's rational approximations, relative error < 1e-15). */
export function normalCdf(x: number): number {
  return 0.5 * erfcAccurate(-x / Math.SQRT2);
}

function erfcAccurate(x: number): number {
  // Continued fraction / series split (Numerical Recipes erfc with Chebyshev), adequate to ~1e-14.
  const z = Math.abs(x);
  const t = 2 / (2 + z);
  const ty = 4 * t - 2;
  const cof = [-1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3, -9.46595344482036e-4, 3.66839497852761e-4,
    4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6, 1.30365583558e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9,
    -9.91364156e-10, -2.27365122e-10, 9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13, 3.81e-16, 7.106e-15,
    -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17];
  let d = 0;
  let dd = 0;
  for (let j = cof.length - 1; j > 0; j--) {
    const tmp = d;
    d = ty * d - dd + cof[j]!;
    dd = tmp;
  }
  const r = t * Math.exp(-z * z + 0.5 * (cof[0]! + ty * d) - dd);
  return x >= 0 ? r : 2 - r;
}

export function analyticGaussianDelta(sigma: number, sensitivity: number, epsilon: number): number {
  const a = sensitivity / (2 * sigma);
  const b = (epsilon * sigma) / sensitivity;
  return normalCdf(a - b) - Math.exp(epsilon) * normalCdf(-a - b);
}

export function analyticGaussianEpsilon(sigma: number, sensitivity: number, delta: number): number {
  let lo = 0;
  let hi = 1;
  while (analyticGaussianDelta(sigma, sensitivity, hi) > delta) hi *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (analyticGaussianDelta(sigma, sensitivity, mid) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}
