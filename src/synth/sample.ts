/**
 * Drawing synthetic rows from a fitted model: pure post-processing, free and repeatable.
 *
 * Seekable: row r is drawn from its own generator, keyed by the sample's key and r
 * (rng.ts keyedRandom), by ancestral sampling down the junction tree (the root clique's cell from
 * its marginal, then each child clique's new attributes from their distribution given the
 * separator already drawn, then rare codes split by the stored rare weights). Row r depends on
 * (model, key, r) only, so rows [offset, offset + count) cost `count` draws whatever came before
 * them, any paging gives the same rows, and a sample of n rows is a prefix of a larger one.
 *
 * Each row is an independent draw from the model, so a sample's marginals differ from the model's
 * by multinomial noise, O(1/sqrt(n)) in total variation: a page cannot know how many rows share its
 * separator values elsewhere in the sample, which an allocation across rows (Private-PGM's
 * `round`) would need.
 */
import { currentRandom, type RandomSource } from '../dp/random.js';
import { compressedSize } from './compress.js';
import type { SynthModel } from './model.js';
import { keyedRandom, streamKey, type FastRandom, type StreamKey } from './rng.js';
import { buildIndexMap, cellCount } from './tensor.js';

/** Synthetic rows, column by column: codes[k][r] is row r's code (original domain) of column k. */
export interface SyntheticTable {
  columns: string[];
  codes: Int32Array[];
}

/** Cumulative weights (negative weights count as 0; all zero: uniform). */
function cumulative(weights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(weights.length);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) out[i] = acc += Math.max(0, weights[i]!);
  if (acc > 0) return out;
  return out.map((_, i) => i + 1);
}

/**
 * The cell a uniform u in [0, 1) picks from the cumulative weights at cum[from, from + k) (one
 * distribution's own cumulative sums); a cell of weight 0 is never picked.
 */
function pick(cum: Float64Array, u: number, from = 0, k = cum.length - from): number {
  const target = u * cum[from + k - 1]!;
  let lo = from;
  let hi = from + k - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid]! > target) hi = mid;
    else lo = mid + 1;
  }
  return lo - from;
}

/** Row-major decomposition of a cell index over the given dimension sizes into codes[attrs]. */
function writeCell(cell: number, attrs: readonly number[], dims: readonly number[], codes: Int32Array): void {
  for (let k = attrs.length - 1; k >= 0; k--) {
    codes[attrs[k]!] = cell % dims[k]!;
    cell = Math.floor(cell / dims[k]!);
  }
}

interface ChildStep {
  sep: number[];
  sepDims: number[];
  fresh: number[];
  freshDims: number[];
  freshCells: number;
  /** Per separator value s, cumulative P(fresh | s) at [s * freshCells, (s + 1) * freshCells). */
  cond: Float64Array;
}

/** Everything a row draw needs, computed once per model (the size of its marginals) and kept while the model lives. */
const preparedModels = new WeakMap<SynthModel, ReturnType<typeof prepareModel>>();
function prepare(model: SynthModel): ReturnType<typeof prepareModel> {
  let p = preparedModels.get(model);
  if (!p) preparedModels.set(model, (p = prepareModel(model)));
  return p;
}

function prepareModel(model: SynthModel) {
  const sizes = model.compression.map(compressedSize);
  const root = model.order[0]!;
  const rootAttrs = model.cliques[root]!;
  const children: ChildStep[] = [];
  for (const i of model.order.slice(1)) {
    const clique = model.cliques[i]!;
    const sep = model.separators[i]!;
    const fresh = clique.filter((a) => !sep.includes(a));
    if (fresh.length === 0) continue;
    const sepCells = cellCount(sep, sizes);
    const freshCells = cellCount(fresh, sizes);
    // joint[s * freshCells + f] = P(sep = s, fresh = f), re-laid out from the clique's own order.
    const toSep = buildIndexMap(clique, sep, sizes);
    const toFresh = buildIndexMap(clique, fresh, sizes);
    const marg = model.marginals[i]!;
    const joint = new Float64Array(sepCells * freshCells);
    for (let c = 0; c < marg.length; c++) joint[toSep[c]! * freshCells + toFresh[c]!]! += Math.max(0, marg[c]!);
    // A separator value the model gives probability 0 can still be drawn (its parent clique's
    // marginal is not exactly consistent): it falls back to the fresh attributes' marginal.
    const freshMarginal = new Float64Array(freshCells);
    for (let c = 0; c < joint.length; c++) freshMarginal[c % freshCells]! += joint[c]!;
    const cond = new Float64Array(joint.length);
    for (let s = 0; s < sepCells; s++) {
      const row = joint.subarray(s * freshCells, (s + 1) * freshCells);
      cond.set(cumulative(row.some((x) => x > 0) ? row : freshMarginal), s * freshCells);
    }
    children.push({ sep, sepDims: sep.map((a) => sizes[a]!), fresh, freshDims: fresh.map((a) => sizes[a]!), freshCells, cond });
  }
  return {
    rootAttrs,
    rootDims: rootAttrs.map((a) => sizes[a]!),
    rootCum: cumulative(model.marginals[root]!),
    children,
    rare: model.compression.map((c) => (c.rare.length > 0 ? cumulative(c.rareWeights) : undefined)),
  };
}

/** Draws one row's original codes into `out` (compressed codes in `scratch`). */
function drawRow(model: SynthModel, p: ReturnType<typeof prepare>, rnd: FastRandom, scratch: Int32Array, out: Int32Array): void {
  writeCell(pick(p.rootCum, rnd.next()), p.rootAttrs, p.rootDims, scratch);
  for (const c of p.children) {
    let s = 0;
    for (let k = 0; k < c.sep.length; k++) s = s * c.sepDims[k]! + scratch[c.sep[k]!]!;
    writeCell(pick(c.cond, rnd.next(), s * c.freshCells, c.freshCells), c.fresh, c.freshDims, scratch);
  }
  model.compression.forEach((c, k) => {
    const code = scratch[k]!;
    out[k] = code < c.kept.length ? c.kept[code]! : c.rare[pick(p.rare[k]!, rnd.next())]!;
  });
}

/**
 * Rows [offset, offset + count) of the sample keyed by `key`: row r from keyedRandom(key, r), so
 * the same rows whatever the paging, and the work is `count` rows.
 */
export function sampleRange(model: SynthModel, key: StreamKey, offset: number, count: number): SyntheticTable {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError('sample: offset must be a non-negative integer');
  if (!Number.isInteger(count) || count < 0) throw new RangeError('sample: count must be a non-negative integer');
  const prepared = prepare(model);
  const width = model.compression.length;
  const codes = model.domain.map(() => new Int32Array(count));
  const scratch = new Int32Array(width);
  const row = new Int32Array(width);
  for (let j = 0; j < count; j++) {
    drawRow(model, prepared, keyedRandom(key, offset + j), scratch, row);
    for (let k = 0; k < width; k++) codes[k]![j] = row[k]!;
  }
  return { columns: model.domain.map((c) => c.name), codes };
}

/** n synthetic rows from a fitted model; identical for the same model, n and random source. */
export function sample(model: SynthModel, n: number, rng: RandomSource = currentRandom()): SyntheticTable {
  if (!Number.isInteger(n) || n < 0) throw new RangeError('sample: n must be a non-negative integer');
  return sampleRange(model, streamKey(rng), 0, n);
}
