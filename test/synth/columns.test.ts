import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateDomain } from '../../src/domain/declaration.js';
import { demoDeclarationInput } from '../../src/domain/registry.js';

const census = demoDeclarationInput('census');
import { seededRandom } from '../../src/dp/random.js';
import { codeCount, codeOf, codeSql, decodeNumeric, numericBinning, valueOf } from '../../src/synth/columns.js';
import { fastRandom } from '../../src/synth/rng.js';

const gain = validateDomain(census).datasets[0]!.columns.find((c) => c.name === 'capitalGain')!;

test('special values get their own codes and decode to exactly themselves; log bins hold the rest', () => {
  const b = numericBinning(gain);
  assert.deepEqual(b.specials, [0, 99999]);
  assert.equal(b.shape, 'logUniform');
  assert.equal(codeOf(0, b), 0);
  assert.equal(codeOf(99999, b), 1);
  assert.equal(codeOf(1, b), 2);
  assert.equal(codeOf(99998, b), codeCount(b) - 1);
  assert.equal(codeOf(1e9, b), codeCount(b) - 1, 'clamped into the last bin');
  const rnd = fastRandom(seededRandom('columns'));
  assert.equal(valueOf(0, b, rnd), 0);
  assert.equal(valueOf(1, b, rnd), 99999);
  for (let code = 2; code < codeCount(b); code++)
    for (let i = 0; i < 50; i++) {
      const v = valueOf(code, b, rnd);
      assert.ok(Number.isInteger(v) && v >= 1 && v <= 99998 && codeOf(v, b) === code, `code ${code}: ${v}`);
    }
});

test('inside a wide log bin values are drawn log-uniformly: the bin mean is not inflated toward its middle', () => {
  const b = numericBinning({ type: 'float', bounds: [0, 100000], synthetic: { specialValues: [0], scale: 'log', bins: 5 } });
  const code = codeCount(b) - 1;
  const [lo, hi] = [b.edges[b.edges.length - 2]!, b.edges[b.edges.length - 1]!];
  const xs = decodeNumeric(new Int32Array(20000).fill(code), b, seededRandom('log-bin'));
  const mean = xs.reduce((a, x) => a + x, 0) / xs.length;
  const logUniformMean = (hi - lo) / Math.log(hi / lo);
  assert.ok(Math.abs(mean / logUniformMean - 1) < 0.02, `${mean} vs ${logUniformMean}`);
  assert.ok(mean < (lo + hi) / 2 * 0.9, 'below the uniform mean');
});

test('without a declaration: one bin per integer up to 100 values, else 32 equal bins (as before)', () => {
  assert.equal(codeCount(numericBinning({ type: 'integer', bounds: [17, 90] })), 74);
  assert.equal(codeCount(numericBinning({ type: 'integer', bounds: [0, 5000] })), 32);
  const edges = numericBinning({ type: 'float', bounds: [0, 10], synthetic: { binEdges: [1, 2, 5] } }).edges;
  assert.deepEqual(edges, [0, 1, 2, 5, 10]);
});

test('the SQL coding is the in-memory coding (PGlite)', async () => {
  const { PGlite } = await import('@electric-sql/pglite');
  const db = new PGlite();
  try {
    const b = numericBinning(gain);
    const values = [0, 1, 2, 3, 114, 2174, 15024, 99998, 99999, -5, 1e7, 0.5, 99998.5];
    const params: unknown[] = [];
    const expr = codeSql('v', b, params);
    const rows = await db.query<{ code: number }>(
      `SELECT ${expr} AS code FROM unnest($${params.length + 1}::float8[]) WITH ORDINALITY AS t(v, i) ORDER BY i`,
      [...params, values],
    );
    assert.deepEqual(rows.rows.map((r) => r.code), values.map((v) => codeOf(v, b)));
  } finally {
    await db.close();
  }
});

test('the declaration refuses a binning outside the bounds or on a non-numeric column', () => {
  const bad = structuredClone(census) as any;
  bad.datasets[0].columns.find((c: any) => c.name === 'capitalLoss').synthetic = { specialValues: [-1] };
  assert.throws(() => validateDomain(bad), /specialValues/);
  const bad2 = structuredClone(census) as any;
  bad2.datasets[0].columns.find((c: any) => c.name === 'sex').synthetic = { scale: 'log' };
  assert.throws(() => validateDomain(bad2), /synthetic/);
});
