/**
 * Dense tables over small sets of attributes ("factors"), stored row-major over their attributes
 * in ascending index order (the last attribute varies fastest).
 *
 * Every operation the estimator needs (marginalise, broadcast-multiply, broadcast-add) is a single
 * pass driven by an index map `big cell -> small cell`. The maps depend only on the junction-tree
 * structure, which is fixed during an optimisation of thousands of iterations, so they are built
 * once and cached: the inner loops are then plain typed-array scans that V8 compiles well.
 */
import type { Clique } from './types.js';

/** Number of cells of the table over `attrs`. */
export function cellCount(attrs: Clique, sizes: readonly number[]): number {
  let n = 1;
  for (const a of attrs) n *= sizes[a]!;
  return n;
}

/** Sorted union of attribute sets. */
export function union(...sets: Clique[]): number[] {
  return [...new Set(sets.flat())].sort((a, b) => a - b);
}

export function intersect(a: Clique, b: Clique): number[] {
  const s = new Set(b);
  return a.filter((x) => s.has(x));
}

export function isSubset(small: Clique, big: Clique): boolean {
  const s = new Set(big);
  return small.every((x) => s.has(x));
}

/**
 * For each cell of the table over `big`, the index of its cell in the table over `small`
 * (`small` must be a subset of `big`). Built with an odometer so no division is needed.
 */
export function buildIndexMap(big: Clique, small: Clique, sizes: readonly number[]): Int32Array {
  const smallStride = new Map<number, number>();
  let s = 1;
  for (let k = small.length - 1; k >= 0; k--) {
    smallStride.set(small[k]!, s);
    s *= sizes[small[k]!]!;
  }
  const n = big.length;
  const dims = big.map((a) => sizes[a]!);
  const strides = big.map((a) => smallStride.get(a) ?? 0);
  const total = cellCount(big, sizes);
  const out = new Int32Array(total);
  const ctr = new Int32Array(n);
  let idx = 0;
  for (let i = 0; i < total; i++) {
    out[i] = idx;
    for (let k = n - 1; k >= 0; k--) {
      ctr[k]!++;
      idx += strides[k]!;
      if (ctr[k]! < dims[k]!) break;
      idx -= strides[k]! * dims[k]!;
      ctr[k] = 0;
    }
  }
  return out;
}

/** A cache of index maps for one domain (sizes), keyed by the two attribute lists. */
export class IndexMaps {
  private readonly cache = new Map<string, Int32Array>();
  constructor(readonly sizes: readonly number[]) {}

  get(big: Clique, small: Clique): Int32Array {
    const key = `${big.join(',')}|${small.join(',')}`;
    let m = this.cache.get(key);
    if (!m) {
      m = buildIndexMap(big, small, this.sizes);
      this.cache.set(key, m);
    }
    return m;
  }
}

/** Strides of each attribute of `big` inside the row-major table over `small` (0 if absent). */
function stridesIn(big: Clique, small: Clique, sizes: readonly number[]): number[] {
  const stride = new Map<number, number>();
  let s = 1;
  for (let k = small.length - 1; k >= 0; k--) {
    stride.set(small[k]!, s);
    s *= sizes[small[k]!]!;
  }
  return big.map((a) => stride.get(a) ?? 0);
}

/**
 * Marginal of a table over `big` onto `small` without building (or caching) an index map: for
 * one-off queries, one fused pass instead of two.
 */
export function marginalizeDirect(values: Float64Array, big: Clique, small: Clique, sizes: readonly number[]): Float64Array {
  const out = new Float64Array(cellCount(small, sizes));
  const n = big.length;
  const dims = big.map((a) => sizes[a]!);
  const strides = stridesIn(big, small, sizes);
  const ctr = new Int32Array(n);
  let idx = 0;
  for (let i = 0; i < values.length; i++) {
    out[idx]! += values[i]!;
    for (let k = n - 1; k >= 0; k--) {
      idx += strides[k]!;
      if (++ctr[k]! < dims[k]!) break;
      idx -= strides[k]! * dims[k]!;
      ctr[k] = 0;
    }
  }
  return out;
}

/** The product of two tables, over the union of their attributes (one fused pass). */
export function productDirect(a: Float64Array, aAttrs: Clique, b: Float64Array, bAttrs: Clique, sizes: readonly number[]): { attrs: number[]; values: Float64Array } {
  const attrs = union(aAttrs, bAttrs);
  const out = new Float64Array(cellCount(attrs, sizes));
  const n = attrs.length;
  const dims = attrs.map((x) => sizes[x]!);
  const sa = stridesIn(attrs, aAttrs, sizes);
  const sb = stridesIn(attrs, bAttrs, sizes);
  const ctr = new Int32Array(n);
  let ia = 0;
  let ib = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = a[ia]! * b[ib]!;
    for (let k = n - 1; k >= 0; k--) {
      ia += sa[k]!;
      ib += sb[k]!;
      if (++ctr[k]! < dims[k]!) break;
      ia -= sa[k]! * dims[k]!;
      ib -= sb[k]! * dims[k]!;
      ctr[k] = 0;
    }
  }
  return { attrs, values: out };
}

/** out[map[i]] += values[i]: the marginal over the small attribute set. */
export function marginalize(values: Float64Array, map: Int32Array, outSize: number): Float64Array {
  const out = new Float64Array(outSize);
  for (let i = 0; i < values.length; i++) out[map[i]!]! += values[i]!;
  return out;
}

/** target[i] *= small[map[i]]: multiply by a factor over a subset (broadcast). */
export function multiplyBroadcast(target: Float64Array, map: Int32Array, small: Float64Array): void {
  for (let i = 0; i < target.length; i++) target[i]! *= small[map[i]!]!;
}

/** target[i] += scale * small[map[i]]. */
export function addBroadcast(target: Float64Array, map: Int32Array, small: Float64Array, scale = 1): void {
  for (let i = 0; i < target.length; i++) target[i]! += scale * small[map[i]!]!;
}

export function sum(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i]!;
  return s;
}

/** Scale in place so the values sum to `total` (all-zero stays all-zero). */
export function normalizeTo(values: Float64Array, total: number): void {
  const s = sum(values);
  if (s <= 0) return;
  const f = total / s;
  for (let i = 0; i < values.length; i++) values[i]! *= f;
}

/**
 * Re-express a table over `attrs` from one coding of the attributes to another (e.g. original
 * codes -> compressed codes), summing cells that merge. `codeMaps[k]` maps attribute attrs[k]'s
 * source codes to target codes.
 */
export function recodeTable(
  table: ArrayLike<number>,
  sourceDims: readonly number[],
  targetDims: readonly number[],
  codeMaps: readonly Int32Array[],
): Float64Array {
  const n = sourceDims.length;
  // contrib[k][code] = target offset of attribute k's code; the odometer keeps a running sum.
  let s = 1;
  const contrib: Int32Array[] = new Array(n);
  for (let k = n - 1; k >= 0; k--) {
    contrib[k] = codeMaps[k]!.map((c) => c * s);
    s *= targetDims[k]!;
  }
  const out = new Float64Array(s);
  const ctr = new Int32Array(n);
  const part = new Int32Array(n + 1); // part[k] = Σ_{j<k} contrib[j][ctr[j]]
  for (let k = 0; k < n; k++) part[k + 1] = part[k]! + contrib[k]![0]!;
  for (let i = 0; i < table.length; i++) {
    const v = table[i]!;
    if (v !== 0) out[part[n]!]! += v;
    let k = n - 1;
    for (; k >= 0; k--) {
      if (++ctr[k]! < sourceDims[k]!) break;
      ctr[k] = 0;
    }
    if (k < 0) break;
    for (let j = k; j < n; j++) part[j + 1] = part[j]! + contrib[j]![ctr[j]!]!;
  }
  return out;
}
