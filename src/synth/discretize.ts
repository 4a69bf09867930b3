/**
 * Continuous columns reach the synthesizer as bin codes over PUBLIC bounds (data-dependent bins
 * would leak). These helpers define the bins and map codes back to values when exporting.
 */
import type { RandomSource } from '../dp/random.js';
import { fastRandom, type FastRandom } from './rng.js';

/** bins + 1 equally spaced edges from lower to upper. */
export function binEdges(lower: number, upper: number, bins: number): number[] {
  if (!(upper > lower) || !Number.isInteger(bins) || bins < 1) throw new RangeError('binEdges: need upper > lower and an integer bins >= 1');
  const edges: number[] = [];
  for (let i = 0; i <= bins; i++) edges.push(i === bins ? upper : lower + ((upper - lower) * i) / bins);
  return edges;
}

/**
 * The bin code of a value: bin i holds [edges[i], edges[i+1]), the last bin also holds `upper`;
 * values outside the bounds are clamped into the first/last bin (the bounds are public, so
 * clamping leaks nothing).
 */
export function binIndex(value: number, edges: readonly number[]): number {
  const bins = edges.length - 1;
  if (!(value >= edges[0]!)) return 0;
  if (value >= edges[bins]!) return bins - 1;
  let lo = 0;
  let hi = bins; // edges[lo] <= value < edges[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (value >= edges[mid]!) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * A value for bin `code`: uniform within the bin; for integer columns, a uniform integer among
 * those the bin holds (so integers stay integers). A bin narrower than one integer step holds no
 * integer or one; then the nearest integer inside the bounds is returned. Deterministic given rnd.
 */
export function sampleInBin(code: number, edges: readonly number[], rnd: FastRandom, integer = false): number {
  const bins = edges.length - 1;
  if (!Number.isInteger(code) || code < 0 || code >= bins) throw new RangeError(`sampleInBin: code ${code} outside 0..${bins - 1}`);
  const lo = edges[code]!;
  const hi = edges[code + 1]!;
  const last = code === bins - 1;
  if (!integer) return lo + (hi - lo) * rnd.next();
  const first = Math.ceil(lo);
  // Integers in [lo, hi), or [lo, hi] for the last bin.
  const end = last ? Math.floor(hi) : Math.ceil(hi) - 1;
  if (end < first) return Math.min(Math.max(Math.round((lo + hi) / 2), Math.ceil(edges[0]!)), Math.floor(edges[bins]!));
  return first + rnd.below(end - first + 1);
}

/**
 * Decode a whole column of bin codes to values (see sampleInBin). The RandomSource only seeds a
 * fast generator (post-processing), so the same source state gives the same values.
 */
export function decodeColumn(codes: ArrayLike<number>, edges: readonly number[], rng: RandomSource, integer = false): Float64Array {
  const rnd = fastRandom(rng);
  return Float64Array.from({ length: codes.length }, (_, i) => sampleInBin(codes[i]!, edges, rnd, integer));
}
