/** Small synthetic populations for the synthesizer tests. */
import { seededRandom } from '../../src/dp/random.js';
import { fastRandom, type FastRandom } from '../../src/synth/rng.js';
import type { CodedTable } from '../../src/synth/oracle.js';
import type { Domain } from '../../src/synth/types.js';

export const SMALL_DOMAIN: Domain = [
  { name: 'a', size: 6 },
  { name: 'b', size: 6 },
  { name: 'c', size: 4 },
  { name: 'd', size: 3 },
  { name: 'e', size: 5 },
];

/**
 * Rows with strong structure: b copies a 85 % of the time, d depends on c, e on (a, d); a and c
 * are skewed. Drawn from a seeded stream so every test run sees the same data.
 */
export function dependentRows(rows: number, seed: string): CodedTable {
  const rnd = fastRandom(seededRandom(seed));
  const codes = SMALL_DOMAIN.map(() => new Int32Array(rows));
  const pick = (w: number[]): number => weighted(rnd, w);
  for (let r = 0; r < rows; r++) {
    const a = pick([5, 4, 3, 2, 1, 1]);
    const b = rnd.next() < 0.85 ? a : rnd.below(6);
    const c = pick([4, 3, 2, 1]);
    const d = rnd.next() < 0.8 ? c % 3 : rnd.below(3);
    const e = rnd.next() < 0.7 ? (a + d) % 5 : rnd.below(5);
    [a, b, c, d, e].forEach((v, k) => (codes[k]![r] = v));
  }
  return { codes, rows };
}

function weighted(rnd: FastRandom, w: number[]): number {
  const total = w.reduce((s, x) => s + x, 0);
  let u = rnd.next() * total;
  for (let i = 0; i < w.length; i++) if ((u -= w[i]!) < 0) return i;
  return w.length - 1;
}

/** Rows of a table as strings, for exact-match counting. */
export function rowKeys(t: CodedTable): string[] {
  return Array.from({ length: t.rows }, (_, r) => t.codes.map((c) => c[r]).join(','));
}
