/**
 * Drawing synthetic rows from a fitted model: pure post-processing, free and repeatable.
 *
 * Rows are generated clique by clique down the junction tree: the root clique's cells jointly,
 * then each child clique's new attributes given its separator with its parent. Like Private-PGM's
 * `synthetic_data(method='round')`, each group of rows sharing a separator value gets counts
 * allocated proportionally to the conditional distribution (floor, then the fractional remainders
 * by systematic sampling) and shuffled, instead of independent draws: the rows follow the model's
 * marginals with far less sampling noise, and each cell's expected count is still exact.
 */
import { currentRandom, type RandomSource } from '../dp/random.js';
import { compressedSize } from './compress.js';
import type { SynthModel } from './model.js';
import { fastRandom, shuffle, type FastRandom } from './rng.js';
import { buildIndexMap, cellCount } from './tensor.js';

/** Synthetic rows, column by column: codes[k][r] is row r's code (original domain) of column k. */
export interface SyntheticTable {
  columns: string[];
  codes: Int32Array[];
}

/**
 * Integer counts summing to m, proportional to `weights`: floor of the proportional share, then
 * one more for the cells picked by systematic sampling on the fractional parts (each cell gets its
 * +1 with probability equal to its fractional part).
 */
export function allocate(weights: ArrayLike<number>, m: number, rnd: FastRandom): Int32Array {
  const k = weights.length;
  const counts = new Int32Array(k);
  let total = 0;
  for (let i = 0; i < k; i++) total += weights[i]!;
  const w = total > 0 ? (i: number) => weights[i]! / total : () => 1 / k;
  const frac = new Float64Array(k);
  let given = 0;
  for (let i = 0; i < k; i++) {
    const share = w(i) * m;
    counts[i] = Math.floor(share);
    frac[i] = share - counts[i]!;
    given += counts[i]!;
  }
  let u = rnd.next();
  let acc = 0;
  for (let i = 0; i < k && given < m; i++) {
    acc += frac[i]!;
    while (u < acc && given < m) {
      counts[i]!++;
      given++;
      u += 1;
    }
  }
  // Floating error can leave a unit over: give it to the largest remaining fraction.
  while (given < m) {
    let best = 0;
    for (let i = 1; i < k; i++) if (frac[i]! > frac[best]!) best = i;
    counts[best]!++;
    frac[best] = -1;
    given++;
  }
  return counts;
}

/** A shuffled list of m cell indices with allocated counts. */
function allocateShuffled(weights: ArrayLike<number>, m: number, rnd: FastRandom): Int32Array {
  const counts = allocate(weights, m, rnd);
  const out = new Int32Array(m);
  let p = 0;
  counts.forEach((c, cell) => {
    out.fill(cell, p, p + c);
    p += c;
  });
  shuffle(out, rnd);
  return out;
}

/** Row-major decomposition of a cell index over the given dimension sizes. */
function writeCell(cell: number, attrs: readonly number[], dims: readonly number[], row: number, codes: Int32Array[]): void {
  for (let k = attrs.length - 1; k >= 0; k--) {
    codes[attrs[k]!]![row] = cell % dims[k]!;
    cell = Math.floor(cell / dims[k]!);
  }
}

/** Rows grouped by their value of `attrs` (a counting sort): start offsets and row ids. */
function groupRows(attrs: readonly number[], dims: readonly number[], codes: Int32Array[], n: number): { starts: Int32Array; rows: Int32Array } {
  const cells = dims.reduce((a, b) => a * b, 1);
  const key = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let idx = 0;
    for (let k = 0; k < attrs.length; k++) idx = idx * dims[k]! + codes[attrs[k]!]![r]!;
    key[r] = idx;
  }
  const starts = new Int32Array(cells + 1);
  for (let r = 0; r < n; r++) starts[key[r]! + 1]!++;
  for (let c = 0; c < cells; c++) starts[c + 1]! += starts[c]!;
  const fill = starts.slice(0, cells);
  const rows = new Int32Array(n);
  for (let r = 0; r < n; r++) rows[fill[key[r]!]!++] = r;
  return { starts, rows };
}

/** Generate one child clique's new attributes given the separator values already written. */
function sampleChild(model: SynthModel, i: number, sizes: number[], codes: Int32Array[], n: number, rnd: FastRandom): void {
  const clique = model.cliques[i]!;
  const sep = model.separators[i]!;
  const fresh = clique.filter((a) => !sep.includes(a));
  if (fresh.length === 0) return;
  const sepCells = cellCount(sep, sizes);
  const freshCells = cellCount(fresh, sizes);
  // cond[s * freshCells + f] = P(sep = s, fresh = f), re-laid out from the clique's own order.
  const toSep = buildIndexMap(clique, sep, sizes);
  const toFresh = buildIndexMap(clique, fresh, sizes);
  const marg = model.marginals[i]!;
  const cond = new Float64Array(sepCells * freshCells);
  for (let c = 0; c < marg.length; c++) cond[toSep[c]! * freshCells + toFresh[c]!]! += marg[c]!;
  const freshMarginal = new Float64Array(freshCells);
  for (let c = 0; c < cond.length; c++) freshMarginal[c % freshCells]! += cond[c]!;
  const { starts, rows } = groupRows(sep, sep.map((a) => sizes[a]!), codes, n);
  const dims = fresh.map((a) => sizes[a]!);
  for (let s = 0; s < sepCells; s++) {
    const m = starts[s + 1]! - starts[s]!;
    if (m === 0) continue;
    let w: ArrayLike<number> = cond.subarray(s * freshCells, (s + 1) * freshCells);
    // A separator value the model gives probability 0 can only be reached through rounding
    // elsewhere; fall back to the fresh attributes' marginal.
    if ((w as Float64Array).every((x) => x <= 0)) w = freshMarginal;
    const cells = allocateShuffled(w, m, rnd);
    for (let j = 0; j < m; j++) writeCell(cells[j]!, fresh, dims, rows[starts[s]! + j]!, codes);
  }
}

/** Compressed codes -> original codes; rare codes are split by the stored rare weights. */
function decompress(model: SynthModel, codes: Int32Array[], n: number, rnd: FastRandom): Int32Array[] {
  return model.compression.map((c, k) => {
    const out = new Int32Array(n);
    const col = codes[k]!;
    const rareRows: number[] = [];
    for (let r = 0; r < n; r++) {
      if (col[r]! < c.kept.length) out[r] = c.kept[col[r]!]!;
      else rareRows.push(r);
    }
    if (rareRows.length > 0) {
      const picks = allocateShuffled(c.rareWeights, rareRows.length, rnd);
      rareRows.forEach((r, j) => (out[r] = c.rare[picks[j]!]!));
    }
    return out;
  });
}

/** n synthetic rows from a fitted model; identical for the same model, n and random source. */
export function sample(model: SynthModel, n: number, rng: RandomSource = currentRandom()): SyntheticTable {
  if (!Number.isInteger(n) || n < 0) throw new RangeError('sample: n must be a non-negative integer');
  const rnd = fastRandom(rng);
  const sizes = model.compression.map(compressedSize);
  const codes = sizes.map(() => new Int32Array(n));
  const order = model.order;
  const root = order[0]!;
  const rootAttrs = model.cliques[root]!;
  const rootCells = allocateShuffled(model.marginals[root]!, n, rnd);
  const rootDims = rootAttrs.map((a) => sizes[a]!);
  for (let r = 0; r < n; r++) writeCell(rootCells[r]!, rootAttrs, rootDims, r, codes);
  for (let k = 1; k < order.length; k++) sampleChild(model, order[k]!, sizes, codes, n, rnd);
  return { columns: model.domain.map((c) => c.name), codes: decompress(model, codes, n, rnd) };
}


