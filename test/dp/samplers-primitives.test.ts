// Tests for the building blocks of the samplers: exact rationals and the single random source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  currentRandom,
  seededRandom,
  systemRandom,
  useRandomSourceForTests,
  type RandomSource,
} from '../../src/dp/random.js';
import {
  add,
  ceil,
  compare,
  div,
  floor,
  floorSqrt,
  fromNumber,
  isqrt,
  mul,
  rational,
  roundDyadic,
  sub,
  toNumber,
  toNumberDown,
  toNumberUp,
} from '../../src/dp/rational.js';
import { sampleDiscreteLaplace } from '../../src/dp/samplers.js';

// ------------------------------------------------------------------------------------------------
// Rationals
// ------------------------------------------------------------------------------------------------

test('rational() reduces, normalises the sign and takes non-integer numbers exactly', () => {
  assert.deepEqual(rational(6, 4), { num: 3n, den: 2n });
  assert.deepEqual(rational(3n, -9n), { num: -1n, den: 3n });
  assert.deepEqual(rational(0, 5), { num: 0n, den: 1n });
  assert.deepEqual(rational(7), { num: 7n, den: 1n });
  assert.deepEqual(rational(0.5), { num: 1n, den: 2n });
  assert.deepEqual(rational(1, 0.25), { num: 4n, den: 1n });
  assert.throws(() => rational(1, 0), RangeError);
});

test('fromNumber is the exact value of the double', () => {
  assert.deepEqual(fromNumber(0.1), { num: 3602879701896397n, den: 1n << 55n });
  assert.deepEqual(fromNumber(-2.5), { num: -5n, den: 2n });
  assert.deepEqual(fromNumber(0), { num: 0n, den: 1n });
  assert.deepEqual(fromNumber(-0), { num: 0n, den: 1n });
  assert.deepEqual(fromNumber(2 ** 60), { num: 1n << 60n, den: 1n });
  assert.deepEqual(fromNumber(Number.MIN_VALUE), { num: 1n, den: 1n << 1074n });
  assert.deepEqual(fromNumber(Number.MAX_VALUE), { num: ((1n << 53n) - 1n) << 971n, den: 1n });
  assert.throws(() => fromNumber(NaN), RangeError);
  assert.throws(() => fromNumber(Infinity), RangeError);
  // Round trip over many doubles, including subnormals.
  for (const x of [1 / 3, Math.PI, 1e-310, -7e300, 123456.789, 2 ** -1022, 5e-324 * 3, Number.MAX_VALUE, -Number.MIN_VALUE]) {
    assert.equal(toNumber(fromNumber(x)), x);
  }
  // Correct rounding of quotients that need more than 53 bits, including the sticky-bit case.
  // (expected values from Python's correctly rounded int/int division)
  assert.equal(toNumber(rational(10n ** 30n + 1n, 3n)), 3.333333333333333e29);
  assert.equal(toNumber(rational(10n ** 40n + 7n, 3n * 10n ** 20n + 1n)), 3.333333333333333e19);
  assert.ok(Math.abs(toNumber(rational(1n, 3n << 1050n)) / 2.763015e-317 - 1) < 1e-6, 'subnormal results stay close');
  assert.equal(toNumber(rational((1n << 60n) + 1n, 1n << 70n)), 2 ** -10);
  assert.equal(toNumber(rational((1n << 54n) + 3n, 1n)), 2 ** 54 + 4, 'ties round to even, above-half rounds up');
  assert.equal(toNumber(rational((1n << 54n) + 2n, 1n)), 2 ** 54, 'exact tie rounds to even');
});

test('arithmetic, comparison, floor and ceil are exact', () => {
  const a = rational(7, 3);
  const b = rational(-5, 4);
  assert.deepEqual(add(a, b), rational(13, 12));
  assert.deepEqual(sub(a, b), rational(43, 12));
  assert.deepEqual(mul(a, b), rational(-35, 12));
  assert.deepEqual(div(a, b), rational(-28, 15));
  assert.equal(compare(a, b), 1);
  assert.equal(compare(b, a), -1);
  assert.equal(compare(rational(2, 4), rational(1, 2)), 0);
  assert.equal(floor(a), 2n);
  assert.equal(ceil(a), 3n);
  assert.equal(floor(b), -2n);
  assert.equal(ceil(b), -1n);
  assert.equal(floor(rational(-4, 2)), -2n);
  // The doubles 0.1 and 0.2 add up to more than the double 0.3, exactly as 0.1 + 0.2 > 0.3 in JS.
  assert.equal(compare(add(fromNumber(0.1), fromNumber(0.2)), fromNumber(0.3)), 1);
  assert.equal(compare(add(fromNumber(0.1), fromNumber(0.2)), fromNumber(0.1 + 0.2)), -1);
});

test('isqrt and floorSqrt are exact floors', () => {
  for (let n = 0n; n < 2000n; n++) {
    const r = isqrt(n);
    assert.ok(r * r <= n && (r + 1n) * (r + 1n) > n);
  }
  const big = (1n << 200n) + 12345n;
  const r = isqrt(big);
  assert.ok(r * r <= big && (r + 1n) * (r + 1n) > big);
  assert.equal(floorSqrt(rational(7, 3)), 1n);
  assert.equal(floorSqrt(rational(4)), 2n);
  assert.equal(floorSqrt(rational(399_999, 100)), 63n); // sqrt(3999.99) = 63.245...
  assert.equal(floorSqrt(rational(1, 10_000)), 0n);
  assert.equal(floorSqrt(rational(10n ** 12n)), 1_000_000n);
  assert.equal(floorSqrt(rational(10n ** 12n - 1n)), 999_999n);
});

test('roundDyadic rounds in the requested direction to 32 significant bits', () => {
  for (const x of [rational(10, 3), fromNumber(0.1), rational(1, 7), rational(1_000_000), fromNumber(1e-9), rational(10n ** 40n, 3n)]) {
    const up = roundDyadic(x, 32, 'up');
    const down = roundDyadic(x, 32, 'down');
    assert.ok(compare(up, x) >= 0 && compare(down, x) <= 0);
    // power-of-two denominators, bounded numerators, relative change <= 2^-31
    assert.equal(up.den & (up.den - 1n), 0n);
    assert.ok(up.num < 1n << 33n || up.den === 1n);
    const rel = toNumber(div(sub(up, down), x));
    assert.ok(rel <= 2 ** -31, `relative gap ${rel}`);
  }
  assert.deepEqual(roundDyadic(rational(10), 32, 'up'), rational(10), 'values that fit stay exact');
  assert.deepEqual(roundDyadic(rational(1, 2), 32, 'down'), rational(1, 2));
});

test('toNumberDown / toNumberUp bracket the rational', () => {
  for (const x of [rational(1, 3), rational(2, 3), rational(10n ** 30n + 1n, 7n), rational(-1, 3), rational(1, 10n ** 40n)]) {
    const lo = toNumberDown(x);
    const hi = toNumberUp(x);
    assert.ok(compare(fromNumber(lo), x) <= 0 && compare(fromNumber(hi), x) >= 0);
    assert.ok(hi - lo <= Math.abs(lo) * 2 ** -51);
  }
});

// ------------------------------------------------------------------------------------------------
// Random sources
// ------------------------------------------------------------------------------------------------

function assertUniform(rng: RandomSource, n: bigint, buckets: number, draws: number, label: string): void {
  const counts = new Array<number>(buckets).fill(0);
  for (let i = 0; i < draws; i++) {
    const v = rng.uniformBelow(n);
    assert.ok(v >= 0n && v < n, `${label}: ${v} out of range`);
    counts[Number((v * BigInt(buckets)) / n)]!++;
  }
  // Buckets of v*buckets/n have equal size up to one value; for the n used here that is exact or
  // negligible. Chi-square with df = buckets - 1 at the 1e-4 level (Wilson-Hilferty).
  const e = draws / buckets;
  const stat = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
  const df = buckets - 1;
  const a = 2 / (9 * df);
  const critical = df * (1 - a + 3.719 * Math.sqrt(a)) ** 3;
  assert.ok(stat < critical, `${label}: chi-square ${stat.toFixed(1)} >= ${critical.toFixed(1)}`);
}

test('uniformBelow is uniform for small, 32-bit-boundary and big ranges', () => {
  const rng = seededRandom('uniform');
  assertUniform(rng, 7n, 7, 70_000, 'n=7');
  assertUniform(rng, 2n, 2, 20_000, 'n=2');
  assertUniform(rng, 1000n, 1000, 100_000, 'n=1000');
  assertUniform(rng, 1n << 32n, 16, 32_000, 'n=2^32');
  assertUniform(rng, (1n << 32n) + 1n, 16, 32_000, 'n=2^32+1');
  assertUniform(rng, (1n << 40n) * 3n, 12, 24_000, 'n=3*2^40');
  assertUniform(rng, (1n << 100n) + 12345n, 10, 20_000, 'n=2^100+12345');
  assertUniform(systemRandom, 7n, 7, 70_000, 'system n=7');
  assertUniform(systemRandom, (1n << 64n) * 5n, 10, 20_000, 'system n=5*2^64');
  assert.equal(rng.uniformBelow(1n), 0n);
  assert.throws(() => rng.uniformBelow(0n), RangeError);
  assert.throws(() => rng.uniformBelow(-3n), RangeError);
  assert.throws(() => rng.uniformBelow(5 as unknown as bigint), RangeError);
});

test('uniformBelow(2^32) covers the whole range, including its top value', () => {
  const rng = seededRandom('top');
  let max = 0n;
  for (let i = 0; i < 5000; i++) {
    const v = rng.uniformBelow(1n << 32n);
    if (v > max) max = v;
  }
  assert.ok(max > (1n << 32n) - (1n << 22n), `max ${max}`);
});

test('seededRandom is deterministic per seed', () => {
  const take = (rng: RandomSource) => Array.from({ length: 50 }, () => rng.uniformBelow(1_000_003n));
  assert.deepEqual(take(seededRandom('a')), take(seededRandom('a')));
  assert.notDeepEqual(take(seededRandom('a')), take(seededRandom('b')));
  // More than one 4 KiB refill stays deterministic.
  const long = (rng: RandomSource) => Array.from({ length: 5000 }, () => rng.uniformBelow(1n << 40n)).slice(-10);
  assert.deepEqual(long(seededRandom(7)), long(seededRandom(7)));
});

function withNodeEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.NODE_ENV;
  if (value === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = value;
  try {
    return fn();
  } finally {
    process.env.NODE_ENV = saved;
  }
}

test('production cannot create or keep using a seeded source', () => {
  assert.throws(() => withNodeEnv('production', () => seededRandom(1)), /production/);
  const rng = seededRandom(1);
  // A source made before the switch stops at its next refill (every 4 KiB of keystream).
  assert.throws(() => withNodeEnv('production', () => {
    for (let i = 0; i < 2000; i++) rng.uniformBelow(1n << 64n);
  }), /production/);
});

test('only NODE_ENV=test can install a source, and currentRandom follows it', () => {
  assert.equal(process.env.NODE_ENV, 'test', 'scripts/run-tests.mjs runs tests with NODE_ENV=test');
  assert.equal(currentRandom(), systemRandom);
  const other = seededRandom(1);
  assert.throws(() => withNodeEnv('production', () => useRandomSourceForTests(other)), /NODE_ENV=test/);
  assert.throws(() => withNodeEnv(undefined, () => useRandomSourceForTests(null)), /NODE_ENV=test/);
  assert.throws(() => withNodeEnv('development', () => useRandomSourceForTests(null)), /NODE_ENV=test/);
  const seeded = seededRandom('installed');
  useRandomSourceForTests(seeded);
  try {
    assert.equal(currentRandom(), seeded);
    // Samplers use the installed source by default: same seed, same draws.
    const viaDefault = Array.from({ length: 20 }, () => sampleDiscreteLaplace(rational(5)));
    const again = seededRandom('installed');
    assert.deepEqual(viaDefault, Array.from({ length: 20 }, () => sampleDiscreteLaplace(rational(5), again)));
    // If the environment leaves "test" while a source is installed, drawing refuses.
    assert.throws(() => withNodeEnv('production', () => currentRandom()), /NODE_ENV=test/);
  } finally {
    useRandomSourceForTests(null);
  }
  assert.equal(currentRandom(), systemRandom);
});
