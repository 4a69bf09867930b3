/**
 * The privacy accountant: pure math, no I/O. The state is a tiny JSON object kept in one row per
 * principal (and one per dataset for the global cap) and replaced on every charge.
 *
 * WHY RUNNING SUMS IN GDP / zCDP / EPSILON (and not "compose the RDP curves / PLDs and compare")
 * --------------------------------------------------------------------------------------------
 * Our analysts pick each release's mechanism AND its privacy parameters adaptively, after seeing
 * earlier answers, and `fits` decides whether the next one may run. That is a privacy FILTER
 * (Rogers, Roth, Ullman & Vadhan 2016). Composition theorems for fixed parameters do not make
 * such a stopping rule valid: the "natural" filter that composes full privacy curves (PLDs, RDP
 * over a grid of orders, f-DP) and stops when the composed curve crosses the cap is NOT valid in
 * general (Regehr, Hu, Leeman, Manurangsi, Tholoniat & Lecuyer 2026, "Privacy filters are captured
 * by residues", arXiv 2602.15815: only totally ordered families admit free natural filters;
 * arXiv 2602.06756 for f-DP). Choosing the best of several accounting methods after the fact is a
 * union of filters, with the same problem.
 *
 * Gaussian DP and zCDP are totally ordered and have proven filters with no loss: an analyst who
 * adaptively runs mu_i-GDP mechanisms while sum mu_i^2 <= B gets sqrt(B)-GDP (Smith & Thakurta
 * 2022, "Fully adaptive composition for Gaussian differential privacy", arXiv 2210.17520); one who
 * runs rho_i-zCDP mechanisms while sum rho_i <= R gets R-zCDP (Feldman & Zrnic 2021, Renyi filter,
 * applied at every order alpha with the same stopping rule); pure epsilons add (Rogers et al.
 * 2016). So the state keeps three running sums, each mechanism converted ONCE into each currency:
 *   s   = sum mu_i^2   (GDP): exact for Gaussian noise. The privacy loss of a Gaussian is Gaussian;
 *                      k releases with sigma are one with sigma/sqrt(k) (Balle & Wang 2018), and
 *                      sqrt(s)-GDP has the exact curve of accountant-math.ts (Dong, Roth & Su
 *                      2022, Cor 2.13). Costs ~1.25^2 more than zCDP for pure-epsilon releases.
 *   rho = sum rho_i    (zCDP): converted with the improved RDP conversion (Canonne, Kamath &
 *                      Steinke 2020, Prop 12, arXiv v3 p. 13). ~7% looser on Gaussians, the best
 *                      valid one for pure releases.
 *   E   = sum eps_i    (basic composition), while only pure/approx releases happened.
 * The reported epsilon is the smallest of the three. Taking the smallest is itself a union of three
 * filters; that is paid for by splitting delta in advance (DELTA_SPLIT): every run that ends inside
 * the cap ended inside one of the three rules, and (each rule being monotone) satisfied that same
 * rule at every step, so it is a run of that filter alone; the hockey-stick divergence of the union
 * is at most the sum of the three (basic composition's is 0).
 *
 * Per cost kind (details and proofs in accountant-gdp.ts):
 *  - discreteGaussian {sigma, Delta} (l2 sensitivity, integer outputs; also vector releases):
 *    GDP: the discrete mechanism's own distribution is, pointwise up to a factor e^{+-kappa mu^2},
 *    a post-processing of a continuous Gaussian with variance sigma^2 - tau^2 (tau ~ 0.6-0.9, the
 *    "kernel lemma", by Poisson summation): ~0.3% at sigma = 10, nothing at sigma = 50.
 *    zCDP: rho = Delta^2/(2 sigma^2), which the discrete Gaussian satisfies exactly like the
 *    continuous one, coordinate by coordinate (Canonne, Kamath & Steinke 2020, arXiv 2004.00010:
 *    D_alpha(N_Z(m, s^2) || N_Z(m', s^2)) = alpha (m - m')^2/(2 s^2) + log(Theta(c)/Theta(0))/(alpha - 1)
 *    with Theta(c) = sum_x exp(-(x - c)^2/(2 s^2)) <= Theta(0) by Poisson summation).
 *    (CKS's exact single-release curve, their Thm 7, is for one coordinate and one release; it
 *    does not compose adaptively, so it is only used as a test oracle.)
 *  - discreteLaplace {scale, Delta} / pure {eps}: eps-DP (eps = Delta/scale); every eps-DP
 *    mechanism is a post-processing of randomised response (Kairouz, Oh & Viswanath 2015), and the
 *    discrete Laplace with Delta = 1 IS randomised response in its privacy loss, so nothing better
 *    holds in general (Mironov's Laplace RDP is for the continuous Laplace and would be optimistic
 *    here). GDP: mu = 2 Phi^{-1}(e^eps/(1+e^eps)) (exact for RR). zCDP: rho = eps tanh(eps/2)
 *    (Steinke 2024, "Tight RDP & zCDP bounds from pure DP", Thm 5; tight for RR). Basic: eps.
 *  - zcdp {rho}: zCDP: rho. GDP: mu^2 = 2 c rho with c ~ 2.2 found and VERIFIED numerically.
 *  - approx {eps_i, delta_i}: by Kairouz-Oh-Viswanath it is: with probability delta_i reveal
 *    everything, else randomised response RR_{eps_i} (so it enters the three sums as a pure
 *    eps_i release). The coins cost at most sum delta_i, which must fit a share of cap.delta
 *    FIXED in advance (DELTA_SPLIT.approx): a share that grew or shrank with what the analyst did
 *    would again be an unproven two-dimensional filter.
 */
import type { Cap, PrivacyCost } from './cost.js';
import {
  erfc,
  normalCdf,
  gaussianDelta,
  gaussianEpsilonForDelta,
  logGaussianDeltaUpper,
  MIN_GAUSSIAN_MU,
  roundUp,
} from './accountant-math.js';
import {
  gaussianGdpMu2,
  kernelSlack,
  KERNEL_SLACK_RATE,
  pureGdpMu2,
  shiftedCoordinates,
  zcdpGdpMu2,
} from './accountant-gdp.js';

export { KERNEL_SLACK_RATE } from './accountant-gdp.js';

/**
 * How cap.delta is split, once and for all (see above): approx releases' own deltas, the GDP
 * filter, the zCDP filter. Basic composition needs no delta.
 */
export const DELTA_SPLIT = { approx: 0.1, gdp: 0.8, zcdp: 0.1 } as const;
/** Fraction of cap.delta the approx (eps, delta) releases may use in total. */
export const APPROX_DELTA_SHARE = DELTA_SPLIT.approx;

type Kind = PrivacyCost['kind'];
const KINDS: readonly Kind[] = ['discreteLaplace', 'discreteGaussian', 'pure', 'zcdp', 'approx'];

export interface AccountantState {
  version: 1;
  /** number of composed releases */
  releases: number;
  /** s = sum of mu_i^2 (Gaussian DP currency) */
  gdp: number;
  /** sum of rho_i (zCDP currency) */
  zcdp: number;
  /** sum of eps over pure, discreteLaplace and approx releases (basic composition) */
  basicEpsilon: number;
  /** true while no discreteGaussian or zcdp release was composed (basic composition applies) */
  basicOnly: boolean;
  /** sum of delta over approx releases */
  approxDelta: number;
  /** releases per cost kind, for display */
  counts: Record<Kind, number>;
}

export function emptyState(): AccountantState {
  return {
    version: 1,
    releases: 0,
    gdp: 0,
    zcdp: 0,
    basicEpsilon: 0,
    basicOnly: true,
    approxDelta: 0,
    counts: { discreteLaplace: 0, discreteGaussian: 0, pure: 0, zcdp: 0, approx: 0 },
  };
}

function finiteNonNegative(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new RangeError(`${what} must be a finite number >= 0`);
  return x;
}

function positive(x: unknown, what: string): number {
  if (typeof x !== 'number' || !(x > 0) || Number.isNaN(x)) throw new RangeError(`${what} must be > 0`);
  return x;
}

/** What one cost adds to each running sum. */
interface Increment {
  gdp: number;
  zcdp: number;
  basicEpsilon: number;
  basicOnly: boolean;
  approxDelta: number;
}

/** rho of an eps-DP release: eps tanh(eps/2) (Steinke 2024, Thm 5), rounded up. */
export function pureZcdpRho(eps: number): number {
  return roundUp(eps * Math.tanh(eps / 2)) * (1 + 1e-15);
}

const pureIncrement = (eps: number, approxDelta: number): Increment => ({
  gdp: pureGdpMu2(eps),
  zcdp: pureZcdpRho(eps),
  basicEpsilon: eps,
  basicOnly: true,
  approxDelta,
});

function increment(cost: PrivacyCost): Increment {
  switch (cost.kind) {
    case 'discreteLaplace':
      return pureIncrement(roundUp(finiteNonNegative(cost.sensitivity, 'sensitivity') / positive(cost.scale, 'scale')), 0);
    case 'pure':
      return pureIncrement(finiteNonNegative(cost.epsilon, 'epsilon'), 0);
    case 'discreteGaussian': {
      const sigma = positive(cost.sigma, 'sigma');
      const sensitivity = finiteNonNegative(cost.sensitivity, 'sensitivity');
      if (sigma === Infinity) return { gdp: 0, zcdp: 0, basicEpsilon: 0, basicOnly: false, approxDelta: 0 };
      const rho = roundUp((sensitivity * sensitivity) / (2 * sigma * sigma));
      return { gdp: gaussianGdpMu2(sigma, sensitivity), zcdp: rho, basicEpsilon: 0, basicOnly: false, approxDelta: 0 };
    }
    case 'zcdp': {
      const rho = finiteNonNegative(cost.rho, 'rho');
      return { gdp: zcdpGdpMu2(rho), zcdp: rho, basicEpsilon: 0, basicOnly: false, approxDelta: 0 };
    }
    case 'approx': {
      const delta = finiteNonNegative(cost.delta, 'delta');
      if (delta > 1) throw new RangeError('delta must be <= 1');
      return pureIncrement(finiteNonNegative(cost.epsilon, 'epsilon'), delta);
    }
    default:
      throw new RangeError(`unknown privacy cost kind: ${(cost as { kind?: unknown }).kind}`);
  }
}

/** a + b rounded up (exact when either is 0), so running sums never undershoot. */
const add = (a: number, b: number) => (a === 0 || b === 0 ? a + b : roundUp(a + b));

/** The state after one more release. Pure: the input is not modified. */
export function compose(state: AccountantState, cost: PrivacyCost): AccountantState {
  const inc = increment(cost);
  return {
    version: 1,
    releases: state.releases + 1,
    gdp: add(state.gdp, inc.gdp),
    zcdp: add(state.zcdp, inc.zcdp),
    basicEpsilon: add(state.basicEpsilon, inc.basicEpsilon),
    basicOnly: state.basicOnly && inc.basicOnly,
    approxDelta: add(state.approxDelta, inc.approxDelta),
    counts: { ...state.counts, [cost.kind]: state.counts[cost.kind] + 1 },
  };
}

/**
 * Epsilon of sqrt(s)-GDP at delta, paying the kernel slack of the discrete Gaussians: with
 * kappa = KERNEL_SLACK_RATE, the discrete interaction's hockey-stick divergence at e^eps is at
 * most e^{kappa s} times the GDP one at e^{eps - kappa s} (pointwise ratio bounds, see
 * accountant-gdp.ts), so eps = eps_G(delta e^{-kappa s}) + kappa s. A 1e-9 relative margin on
 * delta covers floating-point error of the curve (tested against 40-digit arithmetic).
 */
export function gdpEpsilon(s: number, delta: number): number {
  if (s === 0) return 0;
  if (!(delta > 0)) return Infinity;
  const mu = Math.max(Math.sqrt(s), MIN_GAUSSIAN_MU);
  const slack = KERNEL_SLACK_RATE * s;
  return gaussianEpsilonForDelta(mu, delta * Math.exp(-slack) * (1 - 1e-9)) + slack;
}

/**
 * Epsilon spent at this delta: the interaction so far (run under this accountant's filter with
 * cap delta = `delta`) is (eps, delta)-DP. Never optimistic; 0 for the empty state; Infinity when
 * the approx deltas exceed their reserved share.
 */
export function epsilonSpent(state: AccountantState, delta: number): number {
  if (!(delta >= 0)) throw new RangeError('delta must be >= 0');
  if (state.releases === 0) return 0;
  if (state.approxDelta > DELTA_SPLIT.approx * delta) return Infinity;
  const basic = state.basicOnly ? state.basicEpsilon : Infinity;
  const gdp = gdpEpsilon(state.gdp, DELTA_SPLIT.gdp * delta);
  const zcdp = zcdpEpsilon(state.zcdp, DELTA_SPLIT.zcdp * delta);
  return Math.min(basic, gdp, zcdp);
}

/**
 * Whether a spent epsilon is within a cap. Relative tolerance 1e-9 so that ten releases of 0.1
 * fit a cap of 1 despite binary rounding (0.1 is not a double); it lets nothing measurable through.
 */
export const withinCap = (spent: number, capEpsilon: number): boolean =>
  Number.isFinite(spent) && spent <= capEpsilon * (1 + 1e-9);

/** Sum of the approx releases' deltas; must stay within APPROX_DELTA_SHARE * cap.delta. */
export function deltaSpentFloor(state: AccountantState): number {
  return state.approxDelta;
}

/** Whether `cost` may run: the state after it still satisfies the cap. */
export function fits(state: AccountantState, cost: PrivacyCost, cap: Cap): boolean {
  return withinCap(epsilonSpent(compose(state, cost), cap.delta), cap.epsilon);
}

export function budgetStatus(
  state: AccountantState,
  cap: Cap,
): { epsilonSpent: number; epsilonRemaining: number; delta: number; releases: number } {
  const spent = epsilonSpent(state, cap.delta);
  return {
    epsilonSpent: spent,
    epsilonRemaining: Number.isFinite(spent) ? Math.max(0, cap.epsilon - spent) : 0,
    delta: cap.delta,
    releases: state.releases,
  };
}

/** Validate a state read back from the database; throws on anything malformed. */
export function parseState(json: unknown): AccountantState {
  const fail = (why: string): never => {
    throw new TypeError(`invalid accountant state: ${why}`);
  };
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch {
      fail('not JSON');
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('not an object');
  const o = json as Record<string, unknown>;
  if (o.version !== 1) fail(`unsupported version ${String(o.version)}`);
  const num = (k: string) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${k} must be a finite number >= 0`);
    return v as number;
  };
  const releases = num('releases');
  if (!Number.isInteger(releases)) fail('releases must be an integer');
  const gdp = num('gdp');
  const zcdp = num('zcdp');
  const basicEpsilon = num('basicEpsilon');
  const approxDelta = num('approxDelta');
  if (typeof o.basicOnly !== 'boolean') fail('basicOnly must be a boolean');
  const c = o.counts;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) return fail('counts must be an object');
  const counts = {} as Record<Kind, number>;
  let total = 0;
  for (const k of KINDS) {
    const v = (c as Record<string, unknown>)[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) fail(`counts.${k} must be an integer >= 0`);
    counts[k] = v as number;
    total += v as number;
  }
  for (const k of Object.keys(c)) if (!KINDS.includes(k as Kind)) fail(`unknown counts.${k}`);
  for (const k of Object.keys(o))
    if (!['version', 'releases', 'gdp', 'zcdp', 'basicEpsilon', 'basicOnly', 'approxDelta', 'counts'].includes(k)) fail(`unknown field ${k}`);
  if (total !== releases) fail('counts do not add up to releases');
  if (o.basicOnly && counts.discreteGaussian + counts.zcdp > 0) fail('basicOnly with Gaussian/zCDP releases');
  if (approxDelta > 0 && counts.approx === 0) fail('approxDelta without approx releases');
  if (releases === 0 && (gdp > 0 || zcdp > 0 || basicEpsilon > 0)) fail('costs without releases');
  return { version: 1, releases, gdp, zcdp, basicEpsilon, basicOnly: o.basicOnly as boolean, approxDelta, counts };
}

// ---------------------------------------------------------------------------------------------
// Exact curves (tests, README) and single-release display values.
// ---------------------------------------------------------------------------------------------

/**
 * Exact analytic Gaussian mechanism (Balle & Wang 2018, Thm 8): the smallest eps with
 * Phi(-eps s/D + D/(2s)) - e^eps Phi(-eps s/D - D/(2s)) <= delta. For the CONTINUOUS Gaussian.
 */
export function analyticGaussianEpsilon(sigma: number, sensitivity: number, delta: number): number {
  positive(sigma, 'sigma');
  finiteNonNegative(sensitivity, 'sensitivity');
  return gaussianEpsilonForDelta(sensitivity / sigma, delta);
}

export function analyticGaussianDelta(sigma: number, sensitivity: number, epsilon: number): number {
  positive(sigma, 'sigma');
  finiteNonNegative(sensitivity, 'sensitivity');
  return gaussianDelta(sensitivity / sigma, epsilon);
}

/**
 * The improved RDP -> (eps, delta) conversion for rho-zCDP (Canonne, Kamath & Steinke 2020,
 * Prop 12; Balle et al. 2020, Thm 21): eps = min over alpha > 1 of
 *   alpha rho + (log(1/delta) + (alpha - 1) log(1 - 1/alpha) - log(alpha)) / (alpha - 1).
 * Applied to one rho-zCDP release, or to the running sum of the zCDP filter (adaptively chosen
 * rho_i whose sum stays below the cap's rho are R-zCDP together, Feldman & Zrnic 2021).
 */
export function zcdpEpsilon(rho: number, delta: number): number {
  if (rho === 0) return 0;
  if (!(delta > 0)) return Infinity;
  if (delta >= 1) return 0;
  const logInvDelta = -Math.log(delta);
  // alpha = 1 + e^t; any alpha gives a valid bound, so an approximate minimiser only costs tightness.
  const f = (t: number) => {
    const am1 = Math.exp(t);
    const al = 1 + am1;
    return al * rho + (logInvDelta + am1 * Math.log1p(-1 / al) - Math.log(al)) / am1;
  };
  let bestT = -12;
  let best = f(bestT);
  for (let t = -12; t <= 32; t += 0.125) {
    const v = f(t);
    if (v < best) [best, bestT] = [v, t];
  }
  let lo = bestT - 0.125;
  let hi = bestT + 0.125;
  for (let i = 0; i < 50; i++) {
    const m1 = lo + (hi - lo) / 3;
    const m2 = hi - (hi - lo) / 3;
    if (f(m1) < f(m2)) hi = m2;
    else lo = m1;
  }
  best = Math.min(best, f(0.5 * (lo + hi)));
  return Math.max(0, best) * (1 + 1e-12); // floating-point margin on an exact formula
}

/**
 * One discrete Gaussian release on its own (no adaptivity): the kernel lemma with the best tau
 * from a small grid (slack paid for floor(Delta^2) shifted coordinates), or the zCDP conversion.
 */
function singleDiscreteGaussianEpsilon(sigma: number, sensitivity: number, delta: number): number {
  if (sensitivity === 0) return 0;
  const n = shiftedCoordinates(sensitivity);
  let best = zcdpEpsilon((sensitivity * sensitivity) / (2 * sigma * sigma), delta);
  for (const tau of [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9, 1, 1.2, 1.5, 2, 3]) {
    if (tau >= sigma / Math.SQRT2) break;
    const slack = n * kernelSlack(sigma, tau);
    if (!Number.isFinite(slack)) continue;
    const mu = sensitivity / Math.sqrt(sigma * sigma - tau * tau);
    const eps = gaussianEpsilonForDelta(Math.max(mu, MIN_GAUSSIAN_MU), delta * Math.exp(-slack) * (1 - 1e-9)) + slack;
    best = Math.min(best, eps);
  }
  return best;
}

/** Epsilon at delta of ONE release on its own, for display ("epsilon charged"). */
export function singleReleaseEpsilon(cost: PrivacyCost, delta: number): number {
  if (!(delta >= 0)) throw new RangeError('delta must be >= 0');
  switch (cost.kind) {
    case 'discreteLaplace':
      return roundUp(finiteNonNegative(cost.sensitivity, 'sensitivity') / positive(cost.scale, 'scale'));
    case 'pure':
      return finiteNonNegative(cost.epsilon, 'epsilon');
    case 'approx':
      return delta >= finiteNonNegative(cost.delta, 'delta') ? finiteNonNegative(cost.epsilon, 'epsilon') : Infinity;
    case 'discreteGaussian': {
      const sigma = positive(cost.sigma, 'sigma');
      return singleDiscreteGaussianEpsilon(sigma, finiteNonNegative(cost.sensitivity, 'sensitivity'), delta);
    }
    case 'zcdp':
      return zcdpEpsilon(finiteNonNegative(cost.rho, 'rho'), delta);
    default:
      throw new RangeError(`unknown privacy cost kind: ${(cost as { kind?: unknown }).kind}`);
  }
}

// Re-exported for tests and the README table.
export { erfc, logGaussianDeltaUpper, normalCdf };
