/**
 * Domain compression (MST): values whose noisy one-way count is below 3σ are merged into one
 * "rare" code before any pairwise measurement. Their counts are mostly noise anyway, and every
 * merged cell removes a whole row/column of noise cells from each 2- and 3-way measurement.
 * Decided from the noisy one-way answers only, so it costs nothing extra.
 */
export interface ColumnCompression {
  /** Original codes kept as their own compressed code (compressed code = index here). */
  kept: number[];
  /** Original codes merged into the last compressed code (empty: no rare code). */
  rare: number[];
  /**
   * How to split the rare code back into original codes when sampling: the noisy one-way counts
   * clipped at zero (uniform if all are zero). Post-processing of the one-way measurement.
   */
  rareWeights: number[];
}

export function compressColumn(noisy: Float64Array, threshold: number): ColumnCompression {
  const kept: number[] = [];
  const rare: number[] = [];
  noisy.forEach((y, code) => (y >= threshold ? kept : rare).push(code));
  const clipped = rare.map((c) => Math.max(0, noisy[c]!));
  const s = clipped.reduce((a, b) => a + b, 0);
  const rareWeights = s > 0 ? clipped.map((w) => w / s) : rare.map(() => 1 / rare.length);
  return { kept, rare, rareWeights };
}

export function compressedSize(c: ColumnCompression): number {
  return c.kept.length + (c.rare.length > 0 ? 1 : 0);
}

/** original code -> compressed code. */
export function codeMap(c: ColumnCompression): Int32Array {
  const m = new Int32Array(c.kept.length + c.rare.length);
  c.kept.forEach((orig, i) => (m[orig] = i));
  for (const orig of c.rare) m[orig] = c.kept.length;
  return m;
}

/** Number of original codes behind each compressed code. */
export function multiplicity(c: ColumnCompression): Float64Array {
  const out = new Float64Array(compressedSize(c)).fill(1);
  if (c.rare.length > 0) out[c.kept.length] = c.rare.length;
  return out;
}
