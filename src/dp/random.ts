/**
 * The one source of randomness for all privacy code.
 *
 * Everything that draws noise asks `currentRandom()` (or takes a RandomSource argument) for uniform
 * integers; nothing else in src/dp may call node:crypto's random functions or Math.random. That
 * keeps two promises checkable: production randomness is the OS CSPRNG, and tests can make draws
 * reproducible by installing a seeded source, which production refuses to create or install.
 *
 * Uniform integers are made by rejection sampling on the fewest random bits that can cover the
 * range, so every value in [0, n) is exactly equally likely (no modulo bias, no floats).
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';

export interface RandomSource {
  /** A uniform integer in [0, n), n >= 1. */
  uniformBelow(n: bigint): bigint;
}

const POOL_BYTES = 4096;
const TWO_32 = 1n << 32n;

/**
 * Number of bits needed to write m, for 0 <= m < 2^32, by halving with shifts (a branchy clz32;
 * Math.* is kept out of this file so a source scan can rule out float maths in sampling code).
 */
function bitsFor(m: number): number {
  let x = m >>> 0;
  let k = 0;
  for (const step of [16, 8, 4, 2, 1]) {
    if (x >>> step !== 0) {
      k += step;
      x >>>= step;
    }
  }
  return k + x;
}

/**
 * Turns a stream of random bytes into uniform integers. Bits are consumed 32 at a time from a
 * buffered pool and handed out exactly as many as needed, so a coin flip costs one bit.
 */
class BitSource implements RandomSource {
  private pool: Buffer = Buffer.alloc(0);
  private offset = 0;
  private word = 0;
  private wordBits = 0;

  constructor(private readonly refill: () => Buffer) {}

  private nextWord(): number {
    if (this.offset + 4 > this.pool.length) {
      this.pool = this.refill();
      this.offset = 0;
    }
    const w = this.pool.readUInt32LE(this.offset);
    this.offset += 4;
    return w;
  }

  /** k uniform bits (1 <= k <= 32) as a non-negative number. */
  private takeBits(k: number): number {
    let out = 0;
    let need = k;
    while (need > 0) {
      if (this.wordBits === 0) {
        this.word = this.nextWord();
        this.wordBits = 32;
      }
      const take = need < this.wordBits ? need : this.wordBits;
      const chunk = take === 32 ? this.word : (this.word & ((1 << take) - 1)) >>> 0;
      this.word = take === 32 ? 0 : this.word >>> take;
      this.wordBits -= take;
      out = out * 2 ** take + chunk;
      need -= take;
    }
    return out;
  }

  uniformBelow(n: bigint): bigint {
    if (typeof n !== 'bigint' || n < 1n) throw new RangeError(`uniformBelow: need a bigint n >= 1, got ${n}`);
    if (n === 1n) return 0n;
    return n <= TWO_32 ? BigInt(this.smallBelow(Number(n))) : this.bigBelow(n);
  }

  /** Rejection sampling for n <= 2^32: draw bitsFor(n-1) bits until the value is below n (p >= 1/2 each). */
  private smallBelow(n: number): number {
    const k = bitsFor(n - 1);
    for (;;) {
      const v = this.takeBits(k);
      if (v < n) return v;
    }
  }

  /** Same for larger n, assembling the bits into a BigInt 32 at a time. */
  private bigBelow(n: bigint): bigint {
    const k = (n - 1n).toString(2).length;
    for (;;) {
      let v = 0n;
      let have = 0;
      while (have < k) {
        const take = k - have < 32 ? k - have : 32;
        v = (v << BigInt(take)) | BigInt(this.takeBits(take));
        have += take;
      }
      if (v < n) return v;
    }
  }
}

/** Production randomness: the OS CSPRNG through node:crypto, buffered 4 KiB at a time. */
export const systemRandom: RandomSource = new BitSource(() => randomBytes(POOL_BYTES));

/**
 * NODE_ENV read directly (not through src/config.ts): this runs inside every noise draw, where no
 * floating-point or library code may run (test/dp/samplers-nofloat.test.ts); config.ts documents it.
 */
const nodeEnv = () => process.env.NODE_ENV;

function assertNotProduction(what: string): void {
  if (nodeEnv() === 'production') throw new Error(`${what} is not available when NODE_ENV=production`);
}

/**
 * A deterministic source for tests and reproducible experiments: the AES-256-CTR keystream under
 * key SHA-256(seed). Refuses to exist (and to keep producing) when NODE_ENV=production, so a seeded
 * source can never end up drawing production noise.
 */
export function seededRandom(seed: string | number): RandomSource {
  assertNotProduction('seededRandom');
  const key = createHash('sha256').update(`confidential-mesh/seededRandom/v1/${typeof seed}:${String(seed)}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(POOL_BYTES);
  return new BitSource(() => {
    assertNotProduction('seededRandom');
    return cipher.update(zeros);
  });
}

let installed: RandomSource | null = null;

/** The source all privacy code uses by default: systemRandom unless a test installed another. */
export function currentRandom(): RandomSource {
  if (installed === null) return systemRandom;
  // Checked on every use, not only at install time, in case the environment changed since.
  if (nodeEnv() !== 'test') throw new Error('a test random source is installed outside NODE_ENV=test');
  return installed;
}

/** Installs (or with null, removes) the default source. Only possible when NODE_ENV=test. */
export function useRandomSourceForTests(src: RandomSource | null): void {
  if (nodeEnv() !== 'test') throw new Error('useRandomSourceForTests needs NODE_ENV=test');
  installed = src;
}
