/**
 * Per-release conversions of every PrivacyCost into Gaussian differential privacy (GDP, Dong, Roth
 * & Su 2022, "Gaussian differential privacy", JRSS-B): a mechanism is mu-GDP when, for every pair
 * of neighbours, its two output distributions are a (randomised) post-processing of N(0,1) and
 * N(mu,1). The accountant's currency is sum(mu_i^2); see accountant.ts for why GDP.
 *
 * Each function returns mu^2 rounded UP: a larger mu is always a valid (weaker) claim.
 */
import {
  erfInvUpper,
  erfcInvUpper,
  logGaussianDeltaLower,
} from './accountant-math.js';

/**
 * kappa: every discrete Gaussian release is charged at most KERNEL_SLACK_RATE * mu_i^2 of
 * pointwise slack (see gaussianGdpMu2); the accountant then pays e^{kappa s} on delta and
 * kappa s on epsilon for a total s = sum mu_i^2. Tuned so both costs stay far below 0.1%.
 */
export const KERNEL_SLACK_RATE = 1e-4;

const TWO_PI_SQ = 2 * Math.PI * Math.PI;

/**
 * thetaTail(t) = 2 sum_{j>=1} exp(-2 pi^2 t^2 j^2), an upper bound (the sum is cut when the next
 * term is below 1e-17 of it; the ratio of consecutive terms is <= e^{-6 pi^2 t^2}, so doubling
 * that term bounds the rest for t >= 0.3).
 * By Poisson summation, sum_n exp(-(n - y)^2 / (2 t^2)) = t sqrt(2 pi) (1 + r(y)) with
 * r(y) = sum_{j != 0} exp(-2 pi^2 t^2 j^2) e^{2 pi i j y}, so |r| <= thetaTail(t).
 */
export function thetaTail(t: number): number {
  let sum = 0;
  for (let j = 1; j < 64; j++) {
    const term = Math.exp(-TWO_PI_SQ * t * t * j * j);
    sum += term;
    if (term <= sum * 1e-17) return 2 * (sum + 2 * term);
  }
  return 2 * sum * 1.01;
}

/**
 * Per shifted coordinate, an upper bound on a + b in the KERNEL LEMMA below (Infinity when the
 * lemma does not apply for this tau).
 *
 * KERNEL LEMMA (why a discrete Gaussian is, up to a factor 1 +- 1e-9, a post-processing of a
 * continuous Gaussian with slightly smaller variance). Let sigma > tau > 0, s^2 = sigma^2 - tau^2,
 * w = s tau / sigma, m an integer. Post-process Y ~ N(m, s^2) by drawing an integer X with
 * P[X = x | Y = y] = exp(-(x - y)^2 / (2 tau^2)) / Theta_tau(y) (a data-independent kernel).
 * Its pmf is R_m(x) = phi_sigma(x - m) E[u(Z)], Z ~ N(c, w^2), u = 1/(1 + r) with r as in
 * thetaTail(tau) (complete the square in y). Writing u = 1 - r + r^2 u and taking Fourier
 * coefficients (|r_j| = e^{-2 pi^2 tau^2 j^2}, int r^2 = thetaTail(sqrt2 tau), u <= 1/(1 - rho)):
 *     E[u(Z)] in [1 - E1, 1 + thetaTail(sqrt2 tau)/(1 - rho) + E1],
 *     E1 = thetaTail(sqrt(tau^2 + w^2)) + thetaTail(sqrt2 tau) thetaTail(w) / (1 - rho),
 * with rho = thetaTail(tau) < 1. The discrete Gaussian N_Z(m, sigma^2) has pmf
 * D_m(x) = phi_sigma(x - m) / (1 + r'), r' in [0, thetaTail(sigma)] (Poisson summation at y = 0).
 * Hence, pointwise, D_m <= e^a R_m and D_m >= e^{-b} R_m with
 *     a = -log(1 - E1),  b = log(1 + thetaTail(sigma)) + log(1 + thetaTail(sqrt2 tau)/(1 - rho) + E1).
 * Only coordinates whose centre differs between the two neighbours need the substitution; an
 * integer shift vector of l2 norm <= Delta has at most floor(Delta^2) such coordinates.
 * (Checked numerically in test/dp/accountant-gdp.test.ts; the true deviation at sigma = 10,
 * tau = 1 is ~1e-17, the bound ~1e-8.)
 */
export function kernelSlack(sigma: number, tau: number): number {
  if (!(tau > 0 && tau < sigma)) return Infinity;
  const rho = thetaTail(tau);
  if (!(rho < 0.5)) return Infinity;
  const s = Math.sqrt(sigma * sigma - tau * tau);
  const w = (s * tau) / sigma;
  const rho2 = thetaTail(Math.SQRT2 * tau);
  const e1 = thetaTail(Math.sqrt(tau * tau + w * w)) + (rho2 * thetaTail(w)) / (1 - rho);
  if (!(e1 < 0.5)) return Infinity;
  const a = -Math.log1p(-e1);
  const b = Math.log1p(thetaTail(sigma)) + Math.log1p(rho2 / (1 - rho) + e1);
  return a + b;
}

/** Shifted coordinates an integer vector of l2 norm <= sensitivity can have (at least 1). */
export function shiftedCoordinates(sensitivity: number): number {
  return Math.max(1, Math.floor(sensitivity * sensitivity * (1 + 1e-12) + 1e-12));
}

const TAU_MIN = 0.4;

/**
 * The kernel tau of the lemma for one discrete Gaussian release: the smallest tau in
 * [0.4, sigma/sqrt2] whose slack n (a + b) is at most kappa * mu'^2 with mu'^2 = Delta^2/(sigma^2 - tau^2)
 * (n = shiftedCoordinates). Both sides shrink as tau grows, so bisection applies. Returns
 * undefined when no tau qualifies (sigma below ~1).
 */
export function kernelTau(sigma: number, sensitivity: number, kappa = KERNEL_SLACK_RATE): number | undefined {
  const n = shiftedCoordinates(sensitivity);
  const budget = kappa * (1 - 1e-6) * sensitivity * sensitivity;
  const excess = (tau: number) => n * kernelSlack(sigma, tau) * (sigma * sigma - tau * tau) - budget;
  let hi = sigma / Math.SQRT2;
  if (!(hi > TAU_MIN) || !(excess(hi) <= 0)) return undefined;
  let lo = TAU_MIN;
  if (excess(lo) <= 0) return lo;
  for (let i = 0; i < 60; i++) {
    const mid = 0.5 * (lo + hi);
    if (excess(mid) <= 0) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * mu^2 charged for one discrete Gaussian release {sigma, sensitivity (l2, integer output units)}.
 *
 * By the KERNEL LEMMA, replacing this release by the continuous Gaussian with standard deviation
 * sqrt(sigma^2 - tau^2) followed by the kernel changes each output probability by a factor within
 * [e^{-n b}, e^{n a}], n a + n b <= kappa mu'^2, and that continuous Gaussian (followed by any
 * post-processing) is mu'-GDP with mu' = Delta / sqrt(sigma^2 - tau^2) (the pair N(q, s^2 I),
 * N(q', s^2 I) with |q - q'| <= Delta projects onto N(0,1), N(|q - q'|/s, 1)).
 * For tiny sigma the lemma is costly; the release is then also rho-zCDP with
 * rho = Delta^2/(2 sigma^2) (Canonne, Kamath & Steinke 2020: the discrete Gaussian obeys the same
 * Renyi bound as the continuous one, coordinate-wise, since Theta(c) <= Theta(0)), and
 * zcdpGdpMu2 converts that; the cheaper valid charge is used.
 */
export function gaussianGdpMu2(sigma: number, sensitivity: number): number {
  if (sensitivity === 0) return 0;
  const tau = kernelTau(sigma, sensitivity);
  const kernel = tau === undefined ? Infinity : (sensitivity * sensitivity) / (sigma * sigma - tau * tau);
  const plain = (sensitivity * sensitivity) / (sigma * sigma);
  // zcdpGdpMu2 never returns less than (pi/2) * 2 rho = (pi/2) plain, so skip it when useless.
  if (kernel <= (Math.PI / 2) * plain) return kernel * (1 + 1e-12);
  return Math.min(kernel * (1 + 1e-12), zcdpGdpMu2((sensitivity * sensitivity) / (2 * sigma * sigma)));
}

/**
 * mu^2 for a pure epsilon-DP release (discrete Laplace with scale b and sensitivity Delta is
 * Delta/b-DP; with Delta = 1 its privacy loss is exactly randomised response's).
 * Every eps-DP mechanism is a post-processing of randomised response RR_eps (Kairouz, Oh &
 * Viswanath 2015, Sec. 2), whose trade-off function f_{eps,0} is piecewise linear with one kink
 * at alpha* = 1/(1 + e^eps). G_mu is convex, equals f at alpha = 0 and 1, so G_mu <= f_{eps,0}
 * iff G_mu(alpha*) <= alpha* iff mu >= 2 Phi^{-1}(e^eps/(1 + e^eps)) = 2 sqrt2 erfinv(tanh(eps/2))
 * (Dong, Roth & Su 2022, Prop 2.2 / Blackwell: then RR_eps is a post-processing of N(0,1), N(mu,1)).
 * This is exact for randomised response; for small eps, mu = 1.2533 eps.
 */
export function pureGdpMu2(eps: number): number {
  if (eps === 0) return 0;
  let y: number;
  if (eps > 700) y = Math.sqrt(eps); // erfc(y) <= e^{-y^2} = e^{-eps} <= 2/(1 + e^eps) for y >= 1
  else {
    const t = Math.tanh(eps / 2);
    y = t < 0.5 ? erfInvUpper(t) : erfcInvUpper(2 / (1 + Math.exp(eps)));
  }
  const mu = 2 * Math.SQRT2 * y;
  return mu * mu * (1 + 1e-12);
}

// ---------------------------------------------------------------------------------------------
// rho-zCDP -> mu-GDP, by a verified numerical comparison of privacy profiles.
// ---------------------------------------------------------------------------------------------

/**
 * log of an upper bound on delta(eps) for ANY rho-zCDP pair (eps >= 0):
 *  - total variation (delta(eps) <= TV for eps >= 0): Pinsker TV <= sqrt(KL/2), Bretagnolle-Huber
 *    TV <= sqrt(1 - e^{-KL}), with KL = D_1 <= rho;
 *  - the improved RDP conversion (Canonne, Kamath & Steinke 2020, Prop 12; Asoodeh et al. 2020;
 *    Balle et al. 2020, Thm 21): for every alpha > 1,
 *      delta <= exp((alpha - 1)(alpha rho - eps)) (1 - 1/alpha)^{alpha - 1} / alpha.
 * The exponent is convex in alpha; a few Newton steps find a good alpha (any alpha is valid).
 */
export function logZcdpDeltaUpper(rho: number, eps: number): number {
  const tv = Math.min(Math.sqrt(rho / 2), Math.sqrt(-Math.expm1(-rho)));
  let best = Math.log(Math.min(1, tv));
  const exponent = (al: number) => (al - 1) * (al * rho - eps) + (al - 1) * Math.log1p(-1 / al) - Math.log(al);
  let al = eps > rho ? (eps + rho) / (2 * rho) : 1 + 1 / Math.sqrt(2 * rho + 1e-300);
  if (!(al > 1) || !Number.isFinite(al)) al = 2;
  for (let i = 0; i < 40; i++) {
    best = Math.min(best, exponent(al));
    const g = (2 * al - 1) * rho - eps + Math.log1p(-1 / al);
    const h = 2 * rho + 1 / (al * (al - 1));
    let next = al - g / h;
    if (!(next > 1)) next = 1 + (al - 1) / 4;
    if (Math.abs(next - al) <= 1e-12 * al) break;
    al = next;
  }
  best = Math.min(best, exponent(al));
  return best + 1e-12 * (1 + Math.abs(best));
}

/**
 * Tail argument for eps >= epsT (proof): for eps >= rho, rho-zCDP gives delta <= U(eps) =
 * exp(-(eps - rho)^2 / (4 rho)) (Bun & Steinke 2016, Prop 1.3). With mu^2 = 2 c rho, c > 1,
 * x = eps/mu - mu/2 and the Mills lower bound of logGaussianDeltaLower,
 *   log LB - log U >= h(eps) = (c - 1)(eps^2 - c rho^2)/(4 c rho) - K - 2 log eps + 3 log mu,
 * K = log(2 pi)/2 + 3 log 2, as soon as x >= max(1, mu, 2/mu) (then x mu - 1 >= x mu/2,
 * 1 + x^2 <= 2x^2, x + mu <= 2x, x <= eps/mu). h' = (c-1) eps/(2 c rho) - 2/eps >= 0 once
 * eps^2 >= 4 c rho/(c - 1). All conditions are monotone in eps, so h(epsT) >= 0 at an epsT meeting
 * them proves U <= LB for every eps >= epsT.
 */
function tailStart(rho: number, mu: number): number | undefined {
  const c = (mu * mu) / (2 * rho);
  if (!(c > 1)) return undefined;
  const xMin = Math.max(1, mu, 2 / mu);
  let epsT = Math.max(rho, Math.sqrt((4 * c * rho) / (c - 1)), mu * (xMin + mu / 2)) * (1 + 1e-9);
  const K = 0.5 * Math.log(2 * Math.PI) + 3 * Math.LN2;
  const h = (e: number) => ((c - 1) * (e * e - c * rho * rho)) / (4 * c * rho) - K - 2 * Math.log(e) + 3 * Math.log(mu);
  for (let i = 0; i < 200; i++) {
    if (h(epsT) >= 1e-6) return epsT;
    epsT *= 1.5;
  }
  return undefined;
}

/**
 * Does every rho-zCDP mechanism satisfy mu-GDP? By Dong, Roth & Su 2022 (Cor 2.13 with Prop 2.12),
 * mu-GDP is equivalent to (eps, delta_mu(eps))-DP for all eps >= 0, so it suffices that the zCDP
 * profile bound B(eps) <= delta_mu(eps) for all eps >= 0. On [0, epsT] we walk cells
 * [e_j, e_{j+1}] and check B(e_j) <= LOWER(delta_mu(e_{j+1})): both curves decrease, so this
 * covers the whole cell; beyond epsT the analytic tail argument applies.
 */
export function zcdpImpliesGdp(rho: number, mu: number): boolean {
  const epsT = tailStart(rho, mu);
  if (epsT === undefined) return false;
  let eps = 0;
  let step = mu / 32;
  for (let guard = 0; eps < epsT; guard++) {
    if (guard > 200000) return false;
    const next = Math.min(eps + step, epsT);
    if (logZcdpDeltaUpper(rho, eps) <= logGaussianDeltaLower(mu, next)) {
      eps = next;
      step *= 1.6;
    } else {
      step /= 2;
      if (step < 1e-10 * (mu + eps)) return false;
    }
  }
  return true;
}

const zcdpMemo = new Map<number, number>();

/**
 * mu^2 for a rho-zCDP release: 2 c rho with c found by bisection above pi/2 (no smaller c can be
 * right for small rho: randomised response with eps tanh(eps/2) = rho is rho-zCDP and needs
 * mu = 1.2533 eps, i.e. c -> pi/2), keeping only verified values of c (c ~ 2.2 in practice).
 * Memoised (each verification walks a few hundred cells; 1-40 ms). Returns +Infinity (never throws)
 * when no c can be verified (rho above ~26.9): "the GDP route cannot price this release".
 */
export function zcdpGdpMu2(rho: number): number {
  if (rho === 0) return 0;
  const cached = zcdpMemo.get(rho);
  if (cached !== undefined) return cached;
  const ok = (c: number) => zcdpImpliesGdp(rho, Math.sqrt(2 * c * rho));
  let lo = Math.PI / 2;
  let hi = 2;
  while (!ok(hi)) {
    lo = hi;
    hi *= 2;
    // No verified c (from rho ~26.9 up, the profiles' floating-point margins overlap near eps = 0):
    // the GDP route cannot price this release, so it becomes unusable (+Infinity), which is valid;
    // the zCDP and basic routes still account for it. Requests this large are refused up front.
    if (hi > 1e6) return remember(rho, Infinity);
  }
  for (let i = 0; i < 20 && hi - lo > 1e-3 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return remember(rho, 2 * hi * rho * (1 + 1e-12));
}

function remember(rho: number, mu2: number): number {
  if (zcdpMemo.size > 4096) zcdpMemo.clear();
  zcdpMemo.set(rho, mu2);
  return mu2;
}
