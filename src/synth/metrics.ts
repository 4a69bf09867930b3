/**
 * Quality metrics on integer-coded tables: the MST/AIM papers' workload error, the average total
 * variation distance between normalised k-way marginals of real and synthetic data.
 */
import type { CodedTable } from './oracle.js';

/** All k-subsets of 0..d-1, in lexicographic order. */
export function subsets(d: number, k: number): number[][] {
  const out: number[][] = [];
  const cur: number[] = [];
  const rec = (start: number): void => {
    if (cur.length === k) return void out.push([...cur]);
    for (let i = start; i < d; i++) {
      cur.push(i);
      rec(i + 1);
      cur.pop();
    }
  };
  rec(0);
  return out;
}

function counts(t: CodedTable, attrs: number[], sizes: readonly number[]): Float64Array {
  const out = new Float64Array(attrs.reduce((p, a) => p * sizes[a]!, 1));
  const cols = attrs.map((a) => t.codes[a]!);
  for (let r = 0; r < t.rows; r++) {
    let cell = 0;
    for (let j = 0; j < cols.length; j++) cell = cell * sizes[attrs[j]!]! + cols[j]![r]!;
    out[cell]!++;
  }
  return out;
}

/** Total variation distance between the normalised marginals over attrs. */
export function marginalTvd(real: CodedTable, synth: CodedTable, attrs: number[], sizes: readonly number[]): number {
  const x = counts(real, attrs, sizes);
  const y = counts(synth, attrs, sizes);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]! / real.rows - y[i]! / synth.rows);
  return s / 2;
}

/** Average TVD over all k-way marginals. */
export function averageTvd(real: CodedTable, synth: CodedTable, sizes: readonly number[], k: number): number {
  const all = subsets(sizes.length, k);
  return all.reduce((s, attrs) => s + marginalTvd(real, synth, attrs, sizes), 0) / all.length;
}
