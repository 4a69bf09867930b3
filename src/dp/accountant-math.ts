/**
 * Numerics for the privacy accountant: erf/erfc/erfcx to ~1e-15 relative error, the normal CDF
 * in the log domain, and the exact privacy curve (hockey-stick divergence) of the Gaussian
 * mechanism (Balle & Wang 2018, "Improving the Gaussian mechanism", Thm 8):
 *
 *   delta(eps) = Phi(-eps/mu + mu/2) - e^eps * Phi(-eps/mu - mu/2),   mu = sensitivity / sigma.
 *
 * Everything here is pure and allocation-free; the accountant relies on it being fast.
 */

const SQRT_PI = Math.sqrt(Math.PI);
const TWO_OVER_SQRT_PI = 2 / SQRT_PI;
const LN2 = Math.LN2;

/**
 * erf(x) for 0 <= x < 2 by the positive-term series (Abramowitz & Stegun 7.1.6)
 *   erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1)).
 * No cancellation: every term is positive.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/**
 * erfcx(z) = e^{z^2} erfc(z) for z >= 2 by the Laplace continued fraction
 *   sqrt(pi) erfcx(z) = 1/(z + (1/2)/(z + (2/2)/(z + (3/2)/(z + ...)))),
 * evaluated with the modified Lentz algorithm (56 terms at z = 2, 5 at z = 100).
 */
function erfcxContinuedFraction(z: number): number {
  const tiny = 1e-300;
  let f = z;
  let c = f;
  let d = 0;
  for (let n = 1; n < 1000; n++) {
    const a = n / 2;
    d = z + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = z + a / c;
    if (c === 0) c = tiny;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 2e-16) break;
  }
  return 1 / (SQRT_PI * f);
}

/** erf(x), relative error ~1e-15. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  if (x < 2) return erfSeries(x);
  return 1 - erfc(x);
}

/** erfc(x), relative error ~1e-15 on the whole line (below 1e-13 everywhere, tested). */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x); // erfc(2) = 4.7e-3: cancellation costs < 1e-13 relative
  if (x > 27.3) return 0; // below the smallest double
  return erfcxContinuedFraction(x) * Math.exp(-x * x);
}

/** erfcx(x) = e^{x^2} erfc(x) for x >= 0, without overflow. */
export function erfcx(x: number): number {
  if (x < 0) throw new RangeError('erfcx: x must be >= 0');
  if (x < 2) return Math.exp(x * x) * (1 - erfSeries(x));
  return erfcxContinuedFraction(x);
}

/** Standard normal CDF. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** log of the standard normal CDF, accurate far into both tails. */
export function logNormalCdf(x: number): number {
  const z = -x / Math.SQRT2;
  if (z >= 2) return Math.log(erfcx(z)) - z * z - LN2; // left tail: no underflow
  if (z <= -2) return Math.log1p(-0.5 * erfc(-z)); // right tail: Phi close to 1
  return Math.log(0.5 * erfc(z));
}

/**
 * log delta(eps) of the Gaussian pair N(0,1) vs N(mu,1) (equivalently sensitivity/sigma = mu),
 * valid for every real eps. Returns the two logs la = log Phi(a), lb = eps + log Phi(a - mu) whose
 * difference e^la - e^lb is delta, so callers can see how much cancellation there was.
 */
export function gaussianHockeyStickParts(mu: number, eps: number): { la: number; lb: number } {
  const a = -eps / mu + mu / 2;
  return { la: logNormalCdf(a), lb: eps + logNormalCdf(a - mu) };
}

/**
 * Absolute floating-point error bound for la and lb above: logNormalCdf is accurate to ~1e-15
 * absolute plus ~2e-16 relative (the z^2 term and the rounding of a), and lb adds eps. Tested
 * against 40-digit references in test/dp/accountant-math.test.ts (observed errors are ~50x smaller).
 */
const partsError = (la: number, eps: number) => 4e-15 * (1 + Math.abs(la) + Math.abs(eps));

/**
 * An UPPER bound on log delta(eps) for the Gaussian pair with parameter mu > 0, including the
 * floating-point error of the two-term difference (which cancels badly for tiny mu: the relative
 * error grows like 1/mu). When the terms cancel below their error it returns the first term,
 * an upper bound since the subtracted term is non-negative.
 */
export function logGaussianDeltaUpper(mu: number, eps: number): number {
  const { la, lb } = gaussianHockeyStickParts(mu, eps);
  const err = partsError(la, eps);
  const gap = la - lb;
  if (!(gap > 2 * err)) return la + err;
  return la + err + Math.log(-Math.expm1(-(gap + err)));
}

/**
 * A LOWER bound on log delta(eps) for the Gaussian pair with parameter mu > 0, for checks of the
 * form "some other curve <= the Gaussian curve". Floating-point error of the two-term difference
 * is bounded explicitly; where that bound is useless it uses Mills' ratio instead,
 *   delta >= phi(x) (x mu - 1) / ((1 + x^2)(x + mu)),  x = eps/mu - mu/2 > 1/mu,
 * from Phi(-x) >= phi(x) x/(1+x^2), Phi(-y) <= phi(y)/y and e^eps phi(x + mu) = phi(x).
 * Returns -Infinity when neither gives anything.
 */
export function logGaussianDeltaLower(mu: number, eps: number): number {
  const { la, lb } = gaussianHockeyStickParts(mu, eps);
  const gap = la - lb;
  const err = partsError(la, eps);
  let best = -Infinity;
  if (gap > 2 * err) best = la - err + Math.log(-Math.expm1(-gap)) - err / (gap - err) - 1e-12;
  const x = eps / mu - mu / 2;
  if (x * mu > 1) {
    const mills =
      -0.5 * x * x - 0.5 * Math.log(2 * Math.PI) + Math.log(x * mu - 1) - Math.log1p(x * x) - Math.log(x + mu);
    best = Math.max(best, mills - 1e-12 * (1 + Math.abs(mills)));
  }
  return best;
}

/** Smallest mu for which we trust the two-term formula (relative error <~1e-9, tested). */
export const MIN_GAUSSIAN_MU = 1e-6;

/**
 * Smallest eps >= 0 with delta_mu(eps) <= delta, found by bisection on the log curve (delta is
 * decreasing in eps). Returns the upper end of the final bracket, so the curve at the returned
 * value is <= delta as evaluated. Infinity when delta <= 0 and mu > 0.
 */
export function gaussianEpsilonForDelta(mu: number, delta: number): number {
  if (!(mu >= 0) || Number.isNaN(delta)) throw new RangeError('gaussianEpsilonForDelta: bad arguments');
  if (mu === 0 || delta >= 1) return 0;
  if (!(delta > 0)) return Infinity;
  if (mu === Infinity) return Infinity;
  const target = Math.log(delta);
  if (logGaussianDeltaUpper(mu, 0) <= target) return 0;
  let lo = 0;
  let hi = (mu * mu) / 2 + mu * Math.sqrt(2 * Math.max(0, -target)) + 1;
  while (logGaussianDeltaUpper(mu, hi) > target) {
    lo = hi;
    hi *= 2;
    if (hi > 1e12) return Infinity;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (logGaussianDeltaUpper(mu, mid) <= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** delta(eps) of the Gaussian pair with parameter mu (0 for mu = 0 and eps >= 0). */
export function gaussianDelta(mu: number, eps: number): number {
  if (mu === 0) return Math.max(0, -Math.expm1(eps));
  if (mu === Infinity) return 1;
  return Math.exp(logGaussianDeltaUpper(mu, eps));
}

/**
 * Inverse of erf on [0, 1): the y >= 0 with erf(y) = t, by Newton, then nudged UP until
 * erf(y) >= t holds as evaluated (callers want an upper bound). For t >= 1/2 it works from
 * q = 1 - t (exact in floating point there) in the log domain.
 */
export function erfInvUpper(t: number): number {
  if (!(t >= 0 && t < 1)) throw new RangeError('erfInvUpper: t must be in [0, 1)');
  if (t === 0) return 0;
  if (t >= 0.5) return erfcInvUpper(1 - t);
  let y = (t * SQRT_PI) / 2;
  for (let i = 0; i < 60; i++) {
    const step = (erf(y) - t) / (TWO_OVER_SQRT_PI * Math.exp(-y * y));
    y -= step;
    if (Math.abs(step) <= 1e-16 * y) break;
  }
  while (erf(y) < t) y *= 1 + 1e-15;
  return y * (1 + 1e-13);
}

/** The y >= 0 with erfc(y) = q for q in (0, 1], rounded UP (erfc(y) <= q as evaluated). */
export function erfcInvUpper(q: number): number {
  if (!(q > 0 && q <= 1)) throw new RangeError('erfcInvUpper: q must be in (0, 1]');
  if (q > 0.5) return erfInvUpper(1 - q);
  // Newton on g(y) = log erfc(y) - log q, with d/dy log erfc(y) = -2 / (sqrt(pi) erfcx(y)).
  const logQ = Math.log(q);
  const logErfc = (y: number) => (y < 2 ? Math.log(erfc(y)) : Math.log(erfcx(y)) - y * y);
  let y = Math.sqrt(Math.max(0.25, -logQ));
  for (let i = 0; i < 100; i++) {
    const step = (logErfc(y) - logQ) / (-2 / (SQRT_PI * erfcx(y)));
    y = Math.max(0.3, y - step);
    if (Math.abs(step) <= 1e-16 * y) break;
  }
  while (logErfc(y) > logQ) y *= 1 + 1e-15;
  return y * (1 + 1e-13);
}

/** Round a non-negative quantity up by a few ulps, so sums kept in the state never undershoot. */
export function roundUp(x: number): number {
  return x + Math.abs(x) * 4.5e-16;
}
