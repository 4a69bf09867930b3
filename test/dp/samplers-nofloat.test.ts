// Guards against floating-point sampling sneaking into privacy code (Mironov 2012): at run time
// every Math function is replaced by one that throws while noise is drawn, and a source scan
// rejects Math.random anywhere in src/dp, any Math.* in the sampling files, and randomness from
// node:crypto outside the one injectable source (src/dp/random.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { discreteGaussianMechanism, discreteLaplaceMechanism } from '../../src/dp/mechanisms.js';
import { seededRandom, systemRandom } from '../../src/dp/random.js';
import { fromNumber, rational } from '../../src/dp/rational.js';
import {
  sampleBernoulli,
  sampleBernoulliExp,
  sampleDiscreteGaussian,
  sampleDiscreteLaplace,
} from '../../src/dp/samplers.js';
import { permuteAndFlip } from '../../src/dp/selection.js';

// dist/test/dp/<this file>.js -> repository root
const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const dpDir = join(root, 'src', 'dp');

/** Runs fn with every function on Math replaced by one that throws; restores them afterwards. */
function withMathTrapped<T>(fn: () => T): { result?: T; calls: string[] } {
  const math = Math as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  const calls: string[] = [];
  for (const name of Object.getOwnPropertyNames(Math)) {
    if (typeof math[name] !== 'function') continue;
    saved.set(name, math[name]);
    math[name] = () => {
      calls.push(name);
      throw new Error(`Math.${name} was called while drawing noise`);
    };
  }
  try {
    return { result: fn(), calls };
  } catch (e) {
    return { calls: calls.length ? calls : [`(other error: ${(e as Error).message})`] };
  } finally {
    for (const [name, f] of saved) math[name] = f;
  }
}

test('no Math function (random, log, exp, floor, ...) runs while any sampler or mechanism draws noise', () => {
  // Mechanisms are configured outside the trap: their set-up computes error bars with doubles,
  // which is analysis of public parameters, not sampling.
  const laplace = discreteLaplaceMechanism({ sensitivity: 3, epsilon: 0.3 });
  const gaussian = discreteGaussianMechanism({ sensitivity: 2, rho: 0.01 });
  const { calls } = withMathTrapped(() => {
    for (const rng of [seededRandom('trap'), systemRandom]) {
      // Enough draws to refill the 4 KiB byte pools inside the trap too.
      for (let i = 0; i < 2000; i++) {
        sampleBernoulli(rational(1, 3), rng);
        sampleBernoulli(fromNumber(0.1), rng);
        sampleBernoulliExp(rational(7, 3), rng);
        sampleDiscreteLaplace(rational(7, 3), rng);
        sampleDiscreteLaplace(rational(1_000_000), rng);
        sampleDiscreteLaplace(fromNumber(0.01), rng);
        sampleDiscreteGaussian(rational(7, 3), rng);
        sampleDiscreteGaussian(rational(10n ** 12n), rng);
        laplace.addNoise(1000n, rng);
        gaussian.addNoise(-5n, rng);
      }
      for (let i = 0; i < 200; i++) permuteAndFlip([1n, 5n, 3n, 5n, -2n], 0.7, 1, rng);
    }
    // Default source and seeded-source construction too.
    sampleDiscreteGaussian(rational(5));
    laplace.addNoise(0n);
    permuteAndFlip([0n, 1n], 1, 1);
  });
  assert.deepEqual(calls, [], `Math functions used while sampling: ${[...new Set(calls)].join(', ')}`);
});

test('the trap itself works (a float sampler would be caught)', () => {
  const floatLaplace = () => {
    const u = Math.random() - 0.5;
    return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  };
  assert.deepEqual(withMathTrapped(floatLaplace).calls, ['random']);
});

// ------------------------------------------------------------------------------------------------
// Source scan
// ------------------------------------------------------------------------------------------------

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** Source without comments (block and line), so documentation may name what code must not use. */
function code(path: string): string {
  return readFileSync(path, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/**
 * Body of the function or method `name` (its definition, not an interface signature): from the
 * name through the brace that closes its body, matching parentheses and braces.
 */
function bodyOf(source: string, name: string): string {
  const re = new RegExp(`\\b${name}\\s*\\(`, 'g');
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    let i = m.index + m[0].length;
    for (let depth = 1; depth > 0; i++) {
      if (source[i] === '(') depth++;
      else if (source[i] === ')') depth--;
    }
    const rest = source.slice(i);
    const brace = rest.indexOf('{');
    const semi = rest.indexOf(';');
    if (brace < 0 || (semi >= 0 && semi < brace)) continue; // a signature without a body
    let depth = 0;
    for (let j = i + brace; j < source.length; j++) {
      if (source[j] === '{') depth++;
      else if (source[j] === '}' && --depth === 0) return source.slice(m.index, j + 1);
    }
  }
  throw new Error(`no definition of ${name} found`);
}

const FLOAT_MATH = /\bMath\s*\.\s*(random|log|log1p|log2|log10|exp|expm1|pow|sqrt|cbrt|floor|ceil|round|trunc|fround|sin|cos|tan|atan|atan2|hypot|sign|abs|min|max)\b/;

test('source scan: no Math.random anywhere in src/dp', () => {
  const offenders = tsFiles(dpDir).filter((f) => /\bMath\s*\.\s*random\b|\bMath\s*\[\s*['"`]random/.test(code(f)));
  assert.deepEqual(offenders.map((f) => relative(root, f)), []);
});

test('source scan: the sampling files use no Math.* at all', () => {
  for (const file of ['random.ts', 'rational.ts', 'samplers.ts']) {
    const src = code(join(dpDir, file));
    const m = src.match(/\bMath\s*\.\s*\w+/);
    assert.equal(m, null, `src/dp/${file} uses ${m?.[0]}`);
  }
});

test('source scan: noise-drawing functions in mechanisms and selection use no float maths', () => {
  const mechanisms = code(join(dpDir, 'mechanisms.ts'));
  const selection = code(join(dpDir, 'selection.ts'));
  for (const [src, name] of [
    [mechanisms, 'addNoise'],
    [selection, 'permuteAndFlip'],
    [selection, 'gap'],
  ] as const) {
    const body = bodyOf(src, name);
    assert.doesNotMatch(body, FLOAT_MATH, `${name} uses float maths`);
    assert.doesNotMatch(body, /parseFloat|\* *Math|Number\s*\(\s*\w+\s*\)\s*\/|\.toFixed/, `${name} looks like float arithmetic`);
  }
  // The noise itself comes only from the exact samplers.
  assert.match(bodyOf(selection, 'permuteAndFlip'), /sampleBernoulliExp\(/);
  assert.match(mechanisms, /sampleDiscreteLaplace\(exact, rng\)/);
  assert.match(mechanisms, /sampleDiscreteGaussian\(exact, rng\)/);
});

test('source scan: randomness comes from src/dp/random.ts only', () => {
  const RANDOMNESS = /\b(randomBytes|randomInt|randomFill|randomFillSync|getRandomValues|randomUUID|webcrypto|pseudoRandomBytes)\b/;
  const offenders = tsFiles(dpDir)
    .filter((f) => !f.endsWith(join('dp', 'random.ts')))
    .filter((f) => RANDOMNESS.test(code(f)));
  assert.deepEqual(offenders.map((f) => relative(root, f)), []);
  // And the sampling files take randomness only as a RandomSource, never from node:crypto directly.
  for (const file of ['samplers.ts', 'mechanisms.ts', 'selection.ts']) {
    assert.doesNotMatch(code(join(dpDir, file)), /from\s+['"](node:)?crypto['"]/, `src/dp/${file} imports node:crypto`);
  }
});
