/**
 * Exact rational numbers on BigInt, for the privacy code.
 *
 * Why: the noise samplers must never round a probability (Mironov 2012 showed that floating-point
 * noise leaks through the bit pattern of its output). Every parameter that reaches a sampler is
 * therefore an exact fraction; the conversions from user-facing doubles live here and say which
 * direction they round, so callers can round the conservative way (more noise, never less).
 *
 * This file contains no floating-point maths except the documented, directed conversions to and
 * from IEEE doubles, which work on the bit pattern (no Math.* calls).
 */

/** A fraction num/den in lowest terms with den > 0. */
export interface Rational {
  num: bigint;
  den: bigint;
}

export const ZERO: Rational = { num: 0n, den: 1n };
export const ONE: Rational = { num: 1n, den: 1n };

export function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

/** Builds num/den in lowest terms with a positive denominator. */
function normalize(num: bigint, den: bigint): Rational {
  if (den === 0n) throw new RangeError('rational: zero denominator');
  if (den < 0n) [num, den] = [-num, -den];
  const g = gcd(num, den);
  return g === 1n ? { num, den } : { num: num / g, den: den / g };
}

/**
 * rational(7, 3) = 7/3. Numbers that are not integers are taken exactly (rational(0.5) = 1/2, and
 * rational(0.1) is the double nearest 0.1, a dyadic fraction), never rounded.
 */
export function rational(num: bigint | number, den: bigint | number = 1n): Rational {
  return div(toRational(num), toRational(den));
}

function toRational(x: bigint | number): Rational {
  if (typeof x === 'bigint') return { num: x, den: 1n };
  return fromNumber(x);
}

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);

/**
 * The exact value of a finite double, which is always a dyadic rational m * 2^e. Reads the IEEE-754
 * bit pattern directly so nothing is rounded.
 */
export function fromNumber(x: number): Rational {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw new RangeError(`fromNumber: not a finite number: ${x}`);
  f64[0] = x;
  const bits = u64[0]!;
  const negative = bits >> 63n === 1n;
  const biasedExp = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  // Normal numbers carry an implicit leading 1; subnormals use exponent 1 without it.
  const mantissa = biasedExp === 0 ? fraction : fraction | (1n << 52n);
  const exp = (biasedExp === 0 ? 1 : biasedExp) - 1075;
  const signed = negative ? -mantissa : mantissa;
  return exp >= 0 ? { num: signed << BigInt(exp), den: 1n } : normalize(signed, 1n << BigInt(-exp));
}

export function isRational(x: unknown): x is Rational {
  const r = x as Rational;
  return typeof r === 'object' && r !== null && typeof r.num === 'bigint' && typeof r.den === 'bigint' && r.den > 0n;
}

export function add(a: Rational, b: Rational): Rational {
  return normalize(a.num * b.den + b.num * a.den, a.den * b.den);
}

export function sub(a: Rational, b: Rational): Rational {
  return normalize(a.num * b.den - b.num * a.den, a.den * b.den);
}

export function mul(a: Rational, b: Rational): Rational {
  return normalize(a.num * b.num, a.den * b.den);
}

export function div(a: Rational, b: Rational): Rational {
  if (b.num === 0n) throw new RangeError('rational: division by zero');
  return normalize(a.num * b.den, a.den * b.num);
}

export function neg(a: Rational): Rational {
  return { num: -a.num, den: a.den };
}

/** -1, 0 or 1 as a < b, a = b, a > b. */
export function compare(a: Rational, b: Rational): number {
  const d = a.num * b.den - b.num * a.den;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** Largest integer <= a (BigInt division truncates toward zero, so negatives need a step down). */
export function floor(a: Rational): bigint {
  const q = a.num / a.den;
  return a.num < 0n && q * a.den !== a.num ? q - 1n : q;
}

/** Smallest integer >= a. */
export function ceil(a: Rational): bigint {
  return -floor(neg(a));
}

/** floor(sqrt(n)) for n >= 0, by Newton's method on integers. */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new RangeError('isqrt: negative');
  if (n < 2n) return n;
  // Start above the root (2^ceil(bits/2)) so the iteration decreases monotonically to it.
  let x = 1n << BigInt((n.toString(2).length + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

/** floor(sqrt(a)) for a rational a >= 0: floor(sqrt(n/d)) = floor(isqrt(n*d)/d). */
export function floorSqrt(a: Rational): bigint {
  if (a.num < 0n) throw new RangeError('floorSqrt: negative');
  return isqrt(a.num * a.den) / a.den;
}

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * Rounds a > 0 to a dyadic rational m * 2^e with at most `bits` significant bits, upward (result >= a)
 * or downward (result <= a). Why: parameters derived from doubles (scale = sensitivity/epsilon) can
 * have ~1000-bit denominators; keeping ~32 significant bits bounds the BigInt sizes in the samplers
 * while changing the value by a relative 2^-31 at most, in the direction the caller picks.
 */
export function roundDyadic(a: Rational, bits: number, direction: 'up' | 'down'): Rational {
  if (a.num <= 0n) throw new RangeError('roundDyadic: needs a positive value');
  // Choose e so that a / 2^e lies in [2^(bits-1), 2^bits), then round that quotient to an integer.
  // bitLength(num) - bitLength(den) = L puts a in (2^(L-1), 2^(L+1)), so a / 2^(L-bits) is in
  // (2^(bits-1), 2^(bits+1)): one halving at most brings it into range.
  let e = bitLength(a.num) - bitLength(a.den) - bits;
  const scaled = (x: number): Rational => (x >= 0 ? div(a, { num: 1n << BigInt(x), den: 1n }) : mul(a, { num: 1n << BigInt(-x), den: 1n }));
  let q = scaled(e);
  if (q.num >= q.den << BigInt(bits)) q = scaled(++e);
  const m = direction === 'up' ? ceil(q) : floor(q);
  return e >= 0 ? { num: m << BigInt(e), den: 1n } : normalize(m, 1n << BigInt(-e));
}

/**
 * Nearest double to a (display and analysis only, never used for sampling). Correctly rounded for
 * results in the normal range; subnormal results may be off by one unit.
 */
export function toNumber(a: Rational): number {
  const limit = 1n << 53n;
  const absNum = a.num < 0n ? -a.num : a.num;
  // Both exact as doubles: IEEE division is correctly rounded.
  if (absNum < limit && a.den < limit) return Number(a.num) / Number(a.den);
  // Take a quotient of at least 64 bits, fold the remainder into a sticky low bit so Number()
  // rounds as if it saw every bit, then rescale by 2^-shift in steps that cannot overflow.
  const shift = 65 - (bitLength(absNum) - bitLength(a.den));
  const n = shift >= 0 ? absNum << BigInt(shift) : absNum;
  const d = shift >= 0 ? a.den : a.den << BigInt(-shift);
  const q = n / d;
  let v = Number(q * d === n ? q : q | 1n);
  for (let s = shift; s !== 0; ) {
    const step = s > 0 ? (s > 1000 ? 1000 : s) : s < -1000 ? -1000 : s;
    v *= 2 ** -step;
    s -= step;
  }
  return a.num < 0n ? -v : v;
}

/** Adjacent double toward -infinity (x finite). */
export function nextDown(x: number): number {
  if (x === 0) return -Number.MIN_VALUE;
  f64[0] = x;
  u64[0] = x > 0 ? u64[0]! - 1n : u64[0]! + 1n;
  return f64[0]!;
}

/** Largest double <= a: for reporting a quantity that must not be overstated (e.g. a noise scale). */
export function toNumberDown(a: Rational): number {
  let x = toNumber(a);
  while (compare(fromNumber(x), a) > 0) x = nextDown(x);
  return x;
}

/** Smallest double >= a. */
export function toNumberUp(a: Rational): number {
  return -toNumberDown(neg(a));
}

export function toString(a: Rational): string {
  return a.den === 1n ? `${a.num}` : `${a.num}/${a.den}`;
}
