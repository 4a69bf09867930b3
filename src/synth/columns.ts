/**
 * How a numeric column becomes codes for the synthesizer, and codes become values again, from
 * PUBLIC information only (the column's declared bounds and its optional `synthetic` binning;
 * data-dependent bins would leak):
 *
 *  - special values (e.g. `specialValues: [0]` for capital gains, or a documented top-code) get a
 *    code each and decode to exactly that value, so a point mass holding 92% of the rows is kept
 *    as a point mass instead of being smeared over the first bin;
 *  - the other values fall into ordinary bins: declared `binEdges`, or `scale: 'log'` with `bins`
 *    (skewed amounts), or equal-width bins (one per integer for integer columns with at most 100
 *    values, else 32, as before);
 *  - inside an ordinary bin a value is drawn uniformly, or log-uniformly for log-scale bins, whose
 *    density falls across the bin as skewed amounts do (uniform draws would inflate the mean).
 *
 * codeOf (in memory) and codeSql (in the database) implement the same coding.
 */
import type { ColumnDeclaration } from '../domain/declaration.js';
import type { RandomSource } from '../dp/random.js';
import { binEdges, binIndex, sampleInBin } from './discretize.js';
import { fastRandom, type FastRandom } from './rng.js';

export interface NumericBinning {
  /** Codes 0..specials.length - 1: these exact values. */
  specials: number[];
  /** Ordinary bin i (code specials.length + i) holds [edges[i], edges[i+1]); the last also edges[m]. */
  edges: number[];
  integer: boolean;
  shape: 'uniform' | 'logUniform';
}

const NUMERIC_BINS = 32;
const PER_VALUE_MAX = 100;
const LOG_BINS = 24;

type NumericColumn = Pick<ColumnDeclaration, 'type' | 'bounds' | 'synthetic'>;

/** The column's public binning. */
export function numericBinning(c: NumericColumn): NumericBinning {
  if (!c.bounds) throw new RangeError('a numeric column needs public bounds');
  const [lo, hi] = c.bounds;
  const integer = c.type === 'integer';
  const syn = c.synthetic ?? {};
  const specials = [...(syn.specialValues ?? [])];
  // Integer columns: special values at either end are left out of the ordinary range.
  let [start, end] = [lo, hi];
  if (integer) {
    while (specials.includes(start) && start < end) start++;
    while (specials.includes(end) && end > start) end--;
  }
  // Integer ranges end just below end + 1, so the last bin holds the integer `end` and no more.
  const top = integer ? end + 0.999 : end;
  let edges: number[];
  let shape: NumericBinning['shape'] = 'uniform';
  if (syn.binEdges) edges = [start, ...syn.binEdges.filter((e) => e > start && e < top), top];
  else if (syn.scale === 'log') {
    edges = logEdges(start, top, syn.bins ?? LOG_BINS, integer);
    shape = 'logUniform';
  } else if (syn.bins) edges = binEdges(start, top, syn.bins);
  else edges = integer && end - start + 1 <= PER_VALUE_MAX ? binEdges(start, top, end - start + 1) : binEdges(start, top, NUMERIC_BINS);
  return { specials, edges, integer, shape };
}

/**
 * `bins` log-spaced edges from start to top (a first bin [start, 1) when start < 1); integer
 * columns get integer edges (duplicates merged), so every bin holds at least one integer.
 */
function logEdges(start: number, top: number, bins: number, integer: boolean): number[] {
  const from = Math.max(start, 1);
  const edges = start < from ? [start] : [];
  const ratio = Math.pow(top / from, 1 / bins);
  for (let i = 0; i < bins; i++) {
    const e = from * Math.pow(ratio, i);
    const v = integer ? Math.round(e) : e;
    if (edges.length === 0 || v > edges[edges.length - 1]!) edges.push(v);
  }
  if (top > edges[edges.length - 1]!) edges.push(top);
  return edges;
}

export const codeCount = (b: NumericBinning): number => b.specials.length + b.edges.length - 1;

/** A value's code (clamped into the first / last ordinary bin outside the bounds, as binIndex). */
export function codeOf(value: number, b: NumericBinning): number {
  const s = b.specials.indexOf(value);
  return s >= 0 ? s : b.specials.length + binIndex(value, b.edges);
}

/**
 * The same coding in SQL (PostgreSQL): equality for special values, then width_bucket over the
 * ordinary bins' lower edges (1 + the bin index inside the range, 0 below it, m above it; NaN
 * sorts above every number), clamped like binIndex. Parameters are appended to `params`.
 */
export function codeSql(column: string, b: NumericBinning, params: unknown[]): string {
  const x = `${column}::float8`;
  const m = b.edges.length - 1;
  params.push(b.edges.slice(0, m));
  const ordinary = `(${b.specials.length} + LEAST(GREATEST(width_bucket(${x}, $${params.length}::float8[]) - 1, 0), ${m - 1}))`;
  if (b.specials.length === 0) return ordinary;
  const cases = b.specials.map((v, i) => {
    params.push(v);
    return `WHEN ${x} = $${params.length}::float8 THEN ${i}`;
  });
  return `(CASE ${cases.join(' ')} ELSE ${ordinary} END)`;
}

/** A value for a code: the special value itself, or a draw inside the ordinary bin. */
export function valueOf(code: number, b: NumericBinning, rnd: FastRandom): number {
  if (!Number.isInteger(code) || code < 0 || code >= codeCount(b)) throw new RangeError(`code ${code} outside 0..${codeCount(b) - 1}`);
  if (code < b.specials.length) return b.specials[code]!;
  const bin = code - b.specials.length;
  if (b.shape === 'uniform') return sampleInBin(bin, b.edges, rnd, b.integer);
  const lo = b.edges[bin]!;
  const hi = b.edges[bin + 1]!;
  // Log-uniform on [lo, hi) (lo >= 1 for log bins but a first [start, 1) bin, drawn uniformly).
  const x = lo > 0 ? lo * Math.pow(hi / lo, rnd.next()) : lo + (hi - lo) * rnd.next();
  if (!b.integer) return x;
  const last = bin === b.edges.length - 2;
  const first = Math.ceil(lo);
  const end = last ? Math.floor(hi) : Math.ceil(hi) - 1;
  if (end < first) return sampleInBin(bin, b.edges, rnd, true);
  return Math.min(end, Math.max(first, Math.floor(x)));
}

/** Decode a column of codes (post-processing; the RandomSource only seeds a fast generator). */
export function decodeNumeric(codes: ArrayLike<number>, b: NumericBinning, rng: RandomSource): Float64Array {
  const rnd = fastRandom(rng);
  return Float64Array.from({ length: codes.length }, (_, i) => valueOf(codes[i]!, b, rnd));
}
