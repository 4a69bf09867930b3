/**
 * Fast floats for post-processing. Sampling rows from a fitted model touches ~10^6 random numbers;
 * drawing each from the exact RandomSource (BigInt rejection sampling) would cost seconds. Sampling
 * is post-processing, so its randomness needs no cryptographic strength: we draw a 128-bit seed
 * from the injected RandomSource (so a seeded source still makes every row reproducible, and the
 * production source keeps it unpredictable) and expand it with xoshiro128**.
 *
 * Seekable streams: `keyedRandom(key, row, stream)` is a generator of its own for each (key, row,
 * stream), its state a bijective mix of the row index and the stream into the 128-bit key, so row
 * r of a sample is drawn without drawing the rows before it (a page costs what the page holds).
 */
import type { RandomSource } from '../dp/random.js';

export interface FastRandom {
  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number;
  /** Uniform integer in [0, n). */
  below(n: number): number;
}

/** A 128-bit key for seekable streams. */
export type StreamKey = Uint32Array;

/** Four 32-bit words drawn from the source. */
export function streamKey(src: RandomSource): StreamKey {
  return Uint32Array.from({ length: 4 }, () => Number(src.uniformBelow(1n << 32n)));
}

export function fastRandom(src: RandomSource): FastRandom {
  return xoshiro(streamKey(src));
}

/** The generator of row `row` (an integer in [0, 2^53)) and stream `stream` under `key`. */
export function keyedRandom(key: StreamKey, row: number, stream = 0): FastRandom {
  const lo = row >>> 0;
  const hi = Math.floor(row / 4294967296) >>> 0;
  // mix32 is a bijection of 32-bit words: distinct rows (for one stream) give distinct states.
  let h = mix32(lo ^ mix32(hi ^ mix32((stream + 0x9e3779b9) >>> 0)));
  const s = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    h = mix32((h + 0x9e3779b9) >>> 0);
    s[i] = mix32(key[i]! ^ h);
  }
  return xoshiro(s);
}

/** xoshiro128** from a 128-bit state (copied; the all-zero state is a fixed point and avoided). */
function xoshiro(state: Uint32Array): FastRandom {
  const s = Uint32Array.from(state);
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  };
  const next = (): number => ((nextU32() >>> 5) * 67108864 + (nextU32() >>> 6)) / 9007199254740992;
  return { next, below: (n) => Math.floor(next() * n) };
}

/** A 32-bit integer hash with full avalanche (lowbias32, C. Wellons' hash prospector). */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
