/**
 * Gaussian measurements of contingency tables with the exact discrete Gaussian sampler of src/dp.
 * Counts are integers, so integer noise keeps them integers and the sampler's exactness means the
 * zCDP guarantee rho = Δ²/(2σ²) (Canonne, Kamath, Steinke 2020, Thm. 4) holds as computed.
 */
import { fromNumber, roundDyadic, toNumberDown, type Rational } from '../dp/rational.js';
import type { RandomSource } from '../dp/random.js';
import { sampleDiscreteGaussian } from '../dp/samplers.js';
import { gaussianRho } from './budget.js';

export interface GaussianScale {
  /** The exact variance handed to the sampler. */
  sigma2: Rational;
  /** sigma2 as a double, rounded down (so the cost computed from it is never understated). */
  variance: number;
  /** zCDP cost of one measurement at this scale. */
  rho: number;
}

/**
 * The noise scale that spends at most `rho` on a table with l2 sensitivity `sensitivity`. The
 * variance is rounded up to a 40-bit dyadic (more noise, never less) to keep the sampler's BigInts
 * small; the reported rho is recomputed from the variance actually used.
 */
export function gaussianScale(rho: number, sensitivity: number): GaussianScale {
  const target = (sensitivity * sensitivity) / (2 * rho);
  const sigma2 = roundDyadic(fromNumber(target), 40, 'up');
  const variance = toNumberDown(sigma2);
  return { sigma2, variance, rho: gaussianRho(variance, sensitivity) };
}

/** x + discrete Gaussian noise, cell by cell. */
export function addNoise(x: ArrayLike<number>, scale: GaussianScale, rng: RandomSource): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = x[i]! + Number(sampleDiscreteGaussian(scale.sigma2, rng));
  return y;
}
