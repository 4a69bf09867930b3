/**
 * Fast floats for post-processing. Sampling rows from a fitted model touches ~10^6 random numbers;
 * drawing each from the exact RandomSource (BigInt rejection sampling) would cost seconds. Sampling
 * is post-processing, so its randomness needs no cryptographic strength: we draw a 128-bit seed
 * from the injected RandomSource (so a seeded source still makes every row reproducible, and the
 * production source keeps it unpredictable) and expand it with xoshiro128**.
 */
import type { RandomSource } from '../dp/random.js';

export interface FastRandom {
  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number;
  /** Uniform integer in [0, n). */
  below(n: number): number;
}

export function fastRandom(src: RandomSource): FastRandom {
  const s = new Uint32Array(4);
  for (let i = 0; i < 4; i++) s[i] = Number(src.uniformBelow(1n << 32n));
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1; // the all-zero state is a fixed point
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

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Fisher-Yates shuffle in place. */
export function shuffle(a: Int32Array, rnd: FastRandom): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rnd.below(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}
