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
 * applied at every order alpha with the same stopping rule; Whitehouse, Ramdas, Rogers & Wu 2023,
 * "Fully adaptive composition in differential privacy", ICML, Thm 3.1 for the zCDP/RDP filter);
 * (eps_i, delta_i) chosen adaptively compose BASICALLY while sum eps_i <= E and sum delta_i <= D
 * (Rogers, Roth, Ullman & Vadhan 2016, "Privacy odometers and filters", Thm 3.6: the basic
 * composition filter is valid with no loss). So the state keeps four routes, each a running sum
 * with a monotone stopping rule, every release converted ONCE into each currency:
 *   s   = sum mu_i^2   (GDP): exact for Gaussian noise. The privacy loss of a Gaussian is Gaussian;
 *                      k releases with sigma are one with sigma/sqrt(k) (Balle & Wang 2018), and
 *                      sqrt(s)-GDP has the exact curve of accountant-math.ts (Dong, Roth & Su
 *                      2022, Cor 2.13). Costs ~1.25^2 more than zCDP for pure-epsilon releases.
 *   rho = sum rho_i    (zCDP): converted with the improved RDP conversion (Canonne, Kamath &
 *                      Steinke 2020, Prop 12, arXiv v3 p. 13). ~7% looser on Gaussians, the best
 *                      valid one for many small pure releases.
 *   E, D = sum eps_i, sum delta_i (BASIC, "never more than asked"): a pure release at its eps; a
 *                      REQUEST whose costs carry `asked` (see askedAt) at the epsilon this file
 *                      PROVES for the whole request at the delta it was asked at (requestEpsilon:
 *                      the request is a composition with parameters fixed before it runs, so any
 *                      composition theorem applies to it: GDP of its own mu^2 sum, zCDP of its own
 *                      rho sum, pure sum; the smallest at that delta). The asked epsilon itself is
 *                      never trusted, only the delta and the grouping, and a planner that asks
 *                      for (eps, delta) and builds its noise from it (rhoForEpsilonDelta, planFit)
 *                      is always proved at <= eps. Requests without `asked` that contain Gaussian
 *                      or zCDP releases make this route unusable (as before: pure releases only).
 *                      The route is valid while D <= DELTA_SPLIT.basic * cap.delta.
 *   (approx releases: see below.)
 * The reported epsilon is the smallest of the three. Taking the smallest is itself a union of
 * filters; that is paid for by splitting delta in advance (DELTA_SPLIT): every run that ends inside
 * the cap ended inside one of the rules, and (each rule being monotone) satisfied that same rule at
 * every step, so on those transcripts the union behaves exactly like that filter alone; summing
 * P[M(D) in O and route j certifies] <= e^eps P[M(D') in O and route j certifies] + delta_j over
 * routes, the union is (eps, sum_j delta_j)-DP. A share that grew or shrank with what the analyst
 * did would again be an unproven two-dimensional filter, so the shares are constants.
 * Hence the reported spend is never above the plain sum of what was asked (basic route), while
 * long Gaussian or many-small-release ledgers get the tight GDP / zCDP figure.
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
import type { Asked, Cap, PrivacyCost } from './cost.js';
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
 * How cap.delta is split, once and for all (see above): approx releases' own deltas, the asked
 * deltas of requests on the basic route, the GDP filter, the zCDP filter. Chosen with
 * scripts/accountant-table.mjs over the ledgers users build (README, "Privacy accountant"): the
 * basic route needs room for the deltas users ask (0.15 holds 15 fits at their default delta,
 * FIT_DELTA_SHARE of the cap, or 150 Gaussian counts at 1e-9 under a 1e-6 cap); GDP keeps 100 to
 * 1,000 Gaussians within 2% of exact (its epsilon moves ~1% when its share halves); zCDP, which
 * wins for many small pure releases, loses ~2.5% there going from 0.1 to 0.05.
 */
export const DELTA_SPLIT = { approx: 0.1, basic: 0.15, gdp: 0.7, zcdp: 0.05 } as const;
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
  /**
   * true while the basic route can price every release: pure ones, and Gaussian / zCDP ones
   * that came in requests annotated with `asked` (the name is kept from states written before)
   */
  basicOnly: boolean;
  /** sum of delta over approx releases */
  approxDelta: number;
  /** releases per cost kind, for display */
  counts: Record<Kind, number>;
  /** sum of the asked deltas of the requests charged on the basic route (0 in older states) */
  basicDelta: number;
  /** the annotated request whose costs are still arriving (absent between requests) */
  open?: OpenRequest;
}

/** A request being composed cost by cost: its own sums, so requestEpsilon can price it. */
export interface OpenRequest {
  epsilon: number;
  delta: number;
  parts: number;
  /** index of the next part expected */
  next: number;
  /** its own mu^2 sum and rho sum over all its costs */
  gdp: number;
  zcdp: number;
  /** sum of the epsilons of its pure costs, and its other costs' mu^2 and rho sums */
  pure: number;
  gdpRest: number;
  zcdpRest: number;
  pureOnly: boolean;
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
    basicDelta: 0,
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

/** The `asked` annotation of a cost, validated (undefined when absent or on approx releases). */
function askedOf(cost: PrivacyCost): Asked | undefined {
  const a = cost.asked;
  if (a === undefined || cost.kind === 'approx') return undefined;
  if (typeof a !== 'object' || a === null) throw new RangeError('asked must be an object');
  finiteNonNegative(a.epsilon, 'asked.epsilon');
  finiteNonNegative(a.delta, 'asked.delta');
  if (!(a.delta < 1)) throw new RangeError('asked.delta must be < 1');
  if (!Number.isSafeInteger(a.parts) || a.parts < 1 || !Number.isSafeInteger(a.part) || a.part < 0 || a.part >= a.parts)
    throw new RangeError('asked.part must be an integer in [0, asked.parts)');
  return a;
}

const continues = (o: OpenRequest | undefined, a: Asked): o is OpenRequest =>
  o !== undefined && o.epsilon === a.epsilon && o.delta === a.delta && o.parts === a.parts && o.next === a.part;

const openRequest = (a: Asked): OpenRequest => ({
  epsilon: a.epsilon,
  delta: a.delta,
  parts: a.parts,
  next: a.part,
  gdp: 0,
  zcdp: 0,
  pure: 0,
  gdpRest: 0,
  zcdpRest: 0,
  pureOnly: true,
});

function addToRequest(o: OpenRequest, inc: Increment, pure: boolean): OpenRequest {
  return {
    ...o,
    next: o.next + 1,
    gdp: add(o.gdp, inc.gdp),
    zcdp: add(o.zcdp, inc.zcdp),
    pure: pure ? add(o.pure, inc.basicEpsilon) : o.pure,
    gdpRest: pure ? o.gdpRest : add(o.gdpRest, inc.gdp),
    zcdpRest: pure ? o.zcdpRest : add(o.zcdpRest, inc.zcdp),
    pureOnly: o.pureOnly && pure,
  };
}

/**
 * Epsilon PROVED for one request (its costs' parameters fixed before it runs) at delta: the
 * smallest of (a) its GDP sum at delta (with the discrete Gaussian's kernel slack, as gdpEpsilon),
 * (b) its zCDP sum at delta, (c) its pure releases' epsilons plus (a) or (b) of the rest (basic
 * composition of the two parts; a pure part needs no delta). Each is a valid bound on the same
 * fixed-parameter composition (Dong, Roth & Su 2022, Thm 3.2 / Bun & Steinke 2016, Lemma 2.3
 * hold for adaptively chosen queries with fixed parameters), so their minimum is one too.
 */
function openEpsilon(o: OpenRequest): number {
  if (o.pureOnly) return o.pure;
  const whole = Math.min(gdpEpsilon(o.gdp, o.delta), zcdpEpsilon(o.zcdp, o.delta));
  const split = o.pure + Math.min(gdpEpsilon(o.gdpRest, o.delta), zcdpEpsilon(o.zcdpRest, o.delta));
  return Math.min(whole, split);
}
const openDelta = (o: OpenRequest) => (o.pureOnly ? 0 : o.delta);

/** Moves the open request's proven (epsilon, delta) into the basic route's sums. */
function close(state: AccountantState): AccountantState {
  const o = state.open;
  if (!o) return state;
  const { open: _, ...rest } = state;
  const eps = openEpsilon(o);
  // An unprovable request (e.g. asked at delta 0) leaves the route unusable: valid, and JSON-safe.
  if (!Number.isFinite(eps)) return { ...rest, basicOnly: false };
  return { ...rest, basicEpsilon: add(state.basicEpsilon, eps), basicDelta: add(state.basicDelta, openDelta(o)) };
}

/** The state after one more release. Pure: the input is not modified. */
export function compose(state: AccountantState, cost: PrivacyCost): AccountantState {
  const inc = increment(cost);
  const asked = askedOf(cost);
  const sums: AccountantState = {
    ...state,
    version: 1,
    releases: state.releases + 1,
    gdp: add(state.gdp, inc.gdp),
    zcdp: add(state.zcdp, inc.zcdp),
    approxDelta: add(state.approxDelta, inc.approxDelta),
    counts: { ...state.counts, [cost.kind]: state.counts[cost.kind] + 1 },
  };
  if (asked) {
    const base = continues(state.open, asked) ? sums : close(sums);
    const open = addToRequest(continues(state.open, asked) ? state.open : openRequest(asked), inc, isPure(cost));
    const next = { ...base, open };
    return open.next >= open.parts ? close(next) : next;
  }
  const closed = close(sums);
  return { ...closed, basicEpsilon: add(closed.basicEpsilon, inc.basicEpsilon), basicOnly: closed.basicOnly && inc.basicOnly };
}

const isPure = (cost: PrivacyCost) => cost.kind === 'pure' || cost.kind === 'discreteLaplace';

/** The state after all of `costs` (one request, or several planned together), in order. */
export const composeAll = (state: AccountantState, costs: readonly PrivacyCost[]): AccountantState => costs.reduce(compose, state);

/**
 * Annotates the costs of ONE request with the (epsilon, delta) it was asked or planned at, so the
 * basic route can charge it as a whole (see the header). Approx costs stay as they are (they carry
 * their own delta). Returns new objects; use the result as the plan's costs.
 */
export function askedAt(costs: readonly PrivacyCost[], asked: { epsilon: number; delta: number }): PrivacyCost[] {
  const parts = costs.filter((c) => c.kind !== 'approx').length;
  let part = 0;
  return costs.map((c) => (c.kind === 'approx' ? { ...c } : { ...c, asked: { epsilon: asked.epsilon, delta: asked.delta, part: part++, parts } }));
}

/**
 * Epsilon the accountant proves for these costs as ONE request at `delta` (no route split: this
 * is the request's own (epsilon, delta) guarantee, the amount the basic route charges for it).
 * Approx costs add their epsilon and use their own delta out of `delta`.
 */
export function requestEpsilon(costs: readonly PrivacyCost[], delta: number): number {
  if (!(delta >= 0 && delta < 1)) throw new RangeError('delta must be in [0, 1)');
  const approx = costs.filter((c) => c.kind === 'approx') as { epsilon: number; delta: number }[];
  const rest = delta - approx.reduce((a, c) => a + c.delta, 0);
  if (approx.length > 0 && !(rest >= 0)) return Infinity;
  const s = composeAll(emptyState(), askedAt(costs, { epsilon: 0, delta: Math.max(0, rest) }));
  return s.basicOnly ? s.basicEpsilon : Infinity;
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
  const r = routeEpsilons(state, delta);
  return Math.min(r.basic, r.gdp, r.zcdp);
}

export type DeltaSplit = { [K in keyof typeof DELTA_SPLIT]: number };

/**
 * Each route's epsilon at its share of delta (Infinity where a route cannot price the ledger, or
 * everywhere when the approx deltas exceed their share). `split` other than DELTA_SPLIT is for
 * the README's table only (the shares must be fixed in advance).
 */
export function routeEpsilons(state: AccountantState, delta: number, split: DeltaSplit = DELTA_SPLIT): { basic: number; gdp: number; zcdp: number } {
  if (!(delta >= 0)) throw new RangeError('delta must be >= 0');
  if (state.releases === 0) return { basic: 0, gdp: 0, zcdp: 0 };
  if (state.approxDelta > split.approx * delta) return { basic: Infinity, gdp: Infinity, zcdp: Infinity };
  return {
    basic: basicEpsilon(state, split.basic * delta),
    gdp: gdpEpsilon(state.gdp, split.gdp * delta),
    zcdp: zcdpEpsilon(state.zcdp, split.zcdp * delta),
  };
}

/** The basic route: sum of proven request epsilons while their asked deltas fit its delta. */
function basicEpsilon(state: AccountantState, routeDelta: number): number {
  if (!state.basicOnly) return Infinity;
  const o = state.open;
  const eps = o ? openEpsilon(o) : 0;
  const d = o ? openDelta(o) : 0;
  if (!(state.basicDelta + d <= routeDelta)) return Infinity;
  return state.basicEpsilon + eps;
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
  const num = (k: string, from: Record<string, unknown> = o, infinite = false) => {
    const v = from[k];
    // A GDP sum may be +Infinity (a release the GDP route cannot price); JSON writes it as null.
    if (infinite && v === null) return Infinity;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${k} must be a finite number >= 0`);
    return v as number;
  };
  const releases = num('releases');
  if (!Number.isInteger(releases)) fail('releases must be an integer');
  const gdp = num('gdp', o, true);
  const zcdp = num('zcdp');
  const basicEpsilon = num('basicEpsilon');
  const approxDelta = num('approxDelta');
  const basicDelta = o.basicDelta === undefined ? 0 : num('basicDelta');
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
  for (const k of Object.keys(o)) if (!STATE_FIELDS.includes(k)) fail(`unknown field ${k}`);
  if (total !== releases) fail('counts do not add up to releases');
  if (approxDelta > 0 && counts.approx === 0) fail('approxDelta without approx releases');
  if (releases === 0 && (gdp > 0 || zcdp > 0 || basicEpsilon > 0 || basicDelta > 0 || o.open !== undefined)) fail('costs without releases');
  const state: AccountantState = { version: 1, releases, gdp, zcdp, basicEpsilon, basicOnly: o.basicOnly as boolean, approxDelta, counts, basicDelta };
  if (o.open !== undefined) state.open = parseOpen(o.open, fail);
  return state;
}

const STATE_FIELDS = ['version', 'releases', 'gdp', 'zcdp', 'basicEpsilon', 'basicOnly', 'approxDelta', 'counts', 'basicDelta', 'open'];
const OPEN_FIELDS = ['epsilon', 'delta', 'parts', 'next', 'gdp', 'zcdp', 'pure', 'gdpRest', 'zcdpRest', 'pureOnly'];

function parseOpen(v: unknown, fail: (why: string) => never): OpenRequest {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('open must be an object');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!OPEN_FIELDS.includes(k)) fail(`unknown field open.${k}`);
  const num = (k: string, infinite = false) => {
    const x = o[k];
    if (infinite && x === null) return Infinity;
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) fail(`open.${k} must be a finite number >= 0`);
    return x as number;
  };
  const out = {
    epsilon: num('epsilon'),
    delta: num('delta'),
    parts: num('parts'),
    next: num('next'),
    gdp: num('gdp', true),
    zcdp: num('zcdp'),
    pure: num('pure'),
    gdpRest: num('gdpRest', true),
    zcdpRest: num('zcdpRest'),
    pureOnly: o.pureOnly as boolean,
  };
  if (typeof o.pureOnly !== 'boolean') fail('open.pureOnly must be a boolean');
  if (!(out.delta < 1) || !Number.isInteger(out.parts) || !Number.isInteger(out.next) || out.next < 1 || out.next >= out.parts)
    fail('open request is malformed');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Budget effects in the user's currency (pure; the GraphQL layer reports them).
// ---------------------------------------------------------------------------------------------

/** What running `costs` (one request, or a batch) would do to a budget: spent before and after. */
export function budgetEffect(
  state: AccountantState,
  costs: readonly PrivacyCost[],
  cap: Cap,
): { before: number; after: number; alone: number; fits: boolean; remainingAfter: number } {
  const before = epsilonSpent(state, cap.delta);
  const after = epsilonSpent(composeAll(state, costs), cap.delta);
  return {
    before,
    after,
    alone: requestEpsilon(costs, cap.delta),
    fits: withinCap(after, cap.epsilon),
    remainingAfter: Number.isFinite(after) ? Math.max(0, cap.epsilon - after) : 0,
  };
}

/**
 * The state after `k` more requests, each made of `costs`, in O(costs) time: every repetition is
 * one more request with the same increments (sums scale by k, rounded up).
 */
export function composeRepeated(state: AccountantState, costs: readonly PrivacyCost[], k: number): AccountantState {
  if (!Number.isSafeInteger(k) || k < 0) throw new RangeError('k must be an integer >= 0');
  const s = close(state);
  if (k === 0) return s;
  const one = close(composeAll(emptyState(), costs));
  const times = (a: number, b: number) => (b === 0 ? a : add(a, roundUp(k * b)));
  const counts = { ...s.counts };
  for (const kind of KINDS) counts[kind] += k * one.counts[kind];
  return {
    version: 1,
    releases: s.releases + k * one.releases,
    gdp: times(s.gdp, one.gdp),
    zcdp: times(s.zcdp, one.zcdp),
    basicEpsilon: times(s.basicEpsilon, one.basicEpsilon),
    basicOnly: s.basicOnly && one.basicOnly,
    approxDelta: times(s.approxDelta, one.approxDelta),
    counts,
    basicDelta: times(s.basicDelta, one.basicDelta),
  };
}

/**
 * "How many more of these can I run?": the largest k such that k more requests made of `costs`
 * still fit the cap (0 when not even one does; Infinity when they cost nothing; at most `limit`).
 */
export function howManyMore(state: AccountantState, costs: readonly PrivacyCost[], cap: Cap, limit = 1e9): number {
  const ok = (k: number) => withinCap(epsilonSpent(composeRepeated(state, costs, k), cap.delta), cap.epsilon);
  if (!ok(1)) return 0;
  const one = close(composeAll(emptyState(), costs));
  if (one.gdp === 0 && one.zcdp === 0 && one.basicEpsilon === 0 && one.approxDelta === 0 && one.basicDelta === 0) return Infinity;
  let lo = 1;
  let hi = 2;
  while (hi <= limit && ok(hi)) [lo, hi] = [hi, hi * 2];
  if (hi > limit) {
    if (ok(limit)) return limit;
    hi = limit;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
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
