/**
 * Private selection for the fit: the exponential mechanism, sampled exactly.
 *
 * EM(u) picks candidate r with probability proportional to exp(eps u_r / (2 Delta)). It is
 * eps-DP and eps-BOUNDED-RANGE (Durfee & Rogers 2019, Lemma 3.1 style: every output's privacy
 * loss lies in an interval of width eps), hence eps^2/8-zCDP (Cesar & Rogers 2021, "Bounding,
 * concentrating, and truncating: unifying privacy loss composition for data analytics", Lemma 3.2).
 * Permute-and-flip is not known to be bounded-range and pays eps^2/2: for one zCDP budget rho the
 * exponential mechanism gets eps = sqrt(8 rho), twice permute-and-flip's sqrt(2 rho).
 *
 * Exact sampling, no floating point: propose a uniform candidate r and accept it with probability
 * exp(-gamma_r), gamma_r = (u* - u_r) eps / (2 Delta) (exact Bernoulli(exp(-gamma)) sampler, eps a
 * dyadic rational rounded DOWN); the accepted r has probability proportional to exp(eps u_r/(2 Delta)),
 * the exponential mechanism exactly. The best candidate is accepted with probability 1, so the
 * expected number of proposals is at most the number of candidates.
 */
import { currentRandom, type RandomSource } from '../dp/random.js';
import { div, fromNumber, mul, rational, roundDyadic, type Rational } from '../dp/rational.js';
import { sampleBernoulliExp } from '../dp/samplers.js';

/** Epsilon of an exponential-mechanism selection that costs `rho` in zCDP: sqrt(8 rho). */
export function emSelectionEpsilon(rho: number): number {
  return Math.sqrt(8 * rho) * (1 - 1e-12);
}

/** Scores are floats; utilities are floor(RESOLUTION * score) (integers for the exact sampler). */
export const RESOLUTION = 8;

/**
 * The sensitivity of the integer utilities floor(RESOLUTION * score) when every score moves by at
 * most `scoreSensitivity` (an integer) between neighbours, DECLARING what the rounding allows
 * (issue 11, DP audit): with exact scores s, s', |s - s'| <= Delta; the scores we compute carry
 * floating-point error e (sums of |x - x_hat| over the cells: e <= cells * 2^-52 * N, below 1e-6
 * for any table we build, far below 1/16), so |8 s_hat - 8 s_hat'| < 8 Delta + 16 e < 8 Delta + 1,
 * and two reals closer than an integer K + 1 have floors at most K + 1 apart. Hence 8 Delta + 1
 * (8 Delta alone holds only for exact arithmetic; test/synth/select.test.ts exhibits the + 1).
 */
export function utilitySensitivity(scoreSensitivity: number): number {
  if (!Number.isSafeInteger(scoreSensitivity) || scoreSensitivity < 1) throw new RangeError('score sensitivity must be a positive integer');
  return RESOLUTION * scoreSensitivity + 1;
}

/** Integer utilities of float scores (clamped below so the BigInts stay small). */
export const utilitiesOf = (scores: readonly number[]): bigint[] => scores.map((s) => BigInt(Math.floor(Math.max(-1e15, s) * RESOLUTION)));

/** Exponential mechanism over integer utilities with the given sensitivity, sampled exactly. */
export function exponentialMechanism(utilities: readonly bigint[], epsilon: number, sensitivity: number, rng: RandomSource = currentRandom()): number {
  if (utilities.length === 0) throw new RangeError('exponentialMechanism: no candidates');
  if (!(epsilon > 0 && Number.isFinite(epsilon))) throw new RangeError('exponentialMechanism: epsilon must be a finite number > 0');
  if (!(sensitivity > 0 && Number.isFinite(sensitivity))) throw new RangeError('exponentialMechanism: sensitivity must be > 0');
  const best = utilities.reduce((a, b) => (b > a ? b : a));
  const rate = div(roundDyadic(fromNumber(epsilon), 32, 'down'), mul(rational(2), fromNumber(sensitivity)));
  const n = BigInt(utilities.length);
  for (;;) {
    const r = Number(rng.uniformBelow(n));
    if (sampleBernoulliExp(gap(best, utilities[r]!, rate), rng)) return r;
  }
}

const gap = (best: bigint, u: bigint, rate: Rational): Rational => mul({ num: best - u, den: 1n }, rate);
