import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../src/dp/random.js';
import { binEdges, binIndex, describe, fastRandom, fit, marginalTvd, memoryOracle, rhoFromEpsilonDelta, sample, subsets, type CodedTable, type Domain, type SynthModel } from '../../src/synth/index.js';
import { sampleRange } from '../../src/synth/sample.js';
import { streamKey } from '../../src/synth/rng.js';
import { shapeOf } from '../../src/synth/fit.js';
import { planFit } from '../../src/synth/plan.js';
import { requestEpsilon } from '../../src/dp/accountant.js';
import { sampleInBin } from '../../src/synth/discretize.js';
import { dependentRows, rowKeys, SMALL_DOMAIN } from './helpers.js';

const DATA = dependentRows(4000, 'synth-test-data');

async function fitSmall(opts: Parameters<typeof fit>[2] = {}, data: CodedTable = DATA, domain: Domain = SMALL_DOMAIN): Promise<SynthModel> {
  return fit(memoryOracle(domain, data), domain, { rng: seededRandom('fit'), ...opts });
}

test('synthetic codes stay inside every declared domain size, rare values included', async () => {
  // A column with 40 declared values of which the data uses 3: most are compressed to one rare
  // code and must come back as valid original codes.
  const domain: Domain = [...SMALL_DOMAIN, { name: 'sparse', size: 40 }];
  const sparse = Int32Array.from({ length: DATA.rows }, (_, r) => [0, 7, 39][r % 3]!);
  const data: CodedTable = { codes: [...DATA.codes, sparse], rows: DATA.rows };
  for (const method of ['aim', 'mst'] as const) {
    const model = await fitSmall({ rho: 0.05, method }, data, domain);
    assert.ok(model.compression[5]!.rare.length > 30, 'sparse column compressed');
    const s = sample(model, 3000, seededRandom('bounds'));
    assert.deepEqual(s.columns, domain.map((c) => c.name));
    s.codes.forEach((col, k) => {
      assert.equal(col.length, 3000);
      for (const v of col) assert.ok(Number.isInteger(v) && v >= 0 && v < domain[k]!.size, `${domain[k]!.name}=${v}`);
    });
  }
});

test('bins: codes map back inside their bin and bounds, integers stay integers', () => {
  const edges = binEdges(18, 90, 8);
  assert.equal(edges.length, 9);
  assert.equal(edges[0], 18);
  assert.equal(edges[8], 90);
  assert.equal(binIndex(18, edges), 0);
  assert.equal(binIndex(90, edges), 7);
  assert.equal(binIndex(-5, edges), 0);
  assert.equal(binIndex(1e9, edges), 7);
  const rnd = fastRandom(seededRandom('bins'));
  for (let code = 0; code < 8; code++) {
    for (let i = 0; i < 200; i++) {
      const v = sampleInBin(code, edges, rnd);
      assert.ok(v >= edges[code]! && v <= edges[code + 1]!);
      const k = sampleInBin(code, edges, rnd, true);
      assert.ok(Number.isInteger(k) && k >= 18 && k <= 90);
      assert.equal(binIndex(k, edges), code, `integer ${k} lands back in bin ${code}`);
    }
  }
  // Narrow bins that hold no integer still return an integer within the public bounds.
  const narrow = binEdges(0, 2, 8);
  for (let code = 0; code < 8; code++) {
    const k = sampleInBin(code, narrow, rnd, true);
    assert.ok(Number.isInteger(k) && k >= 0 && k <= 2);
  }
  assert.throws(() => sampleInBin(8, edges, rnd), RangeError);
});

test('a fit spends exactly its plan, as recomputed from every sigma and epsilon, and the plan is proved at the asked (epsilon, delta)', async () => {
  for (const method of ['aim', 'mst'] as const) {
    for (const contributionBound of [1, 3]) {
      const opts = { epsilon: 1, delta: 1e-6, method, contributionBound };
      const model = await fitSmall(opts);
      const plan = planFit(1, 1e-6, shapeOf(SMALL_DOMAIN, opts));
      assert.ok(requestEpsilon(plan.costs, 1e-6) <= 1);
      // The plan's budget is at least what the plain zCDP conversion allowed.
      assert.ok(plan.rho >= rhoFromEpsilonDelta(1, 1e-6) * 0.999, `${plan.rho}`);
      const rho = model.privacy.rho;
      assert.ok(Math.abs(rho - plan.rho) <= 1e-6 * plan.rho, `${rho} vs ${plan.rho}`);
      let spent = 0;
      const gaussians = plan.costs.filter((c) => c.kind === 'discreteGaussian').map((c) => (c.kind === 'discreteGaussian' ? c.sigma : 0));
      for (const s of model.privacy.steps) {
        // Exponential-mechanism selections are epsilon-bounded-range: epsilon^2/8-zCDP.
        const recomputed = s.kind === 'measure' ? (s.sensitivity * s.sensitivity) / (2 * s.sigma * s.sigma) : (s.epsilon * s.epsilon) / 8;
        assert.ok(Math.abs(recomputed - s.rho) <= 1e-9 * s.rho, `${s.kind} ${JSON.stringify(s)}`);
        if (s.kind === 'measure') assert.equal(s.sensitivity, contributionBound);
        if (s.kind === 'measure') assert.ok(gaussians.some((g) => g <= s.sigma * (1 + 1e-12)), 'every measurement is one the plan charged');
        if (s.kind === 'select') assert.equal(s.sensitivity, 8 * contributionBound * (method === 'aim' ? 3 : 1) + 1);
        spent += recomputed;
      }
      // Every planned measurement runs; selections are skipped only when no candidate is left.
      const d = describe(model);
      const skipped = plan.schedule.steps - d.selections.length;
      const expected = rho - skipped * plan.schedule.selectRho;
      assert.ok(skipped >= 0 && Math.abs(spent - expected) <= 1e-9 * rho, `${method}: spent ${spent} of ${rho}`);
      assert.ok(Math.abs(d.rhoSpent - spent) <= 1e-9 * rho);
      assert.equal(d.measurements.length + d.selections.length, model.privacy.steps.length);
      assert.ok(d.selections.length > 0 && d.measurements.some((m) => m.columns.length >= 2));
    }
  }
});

test('the contribution bound scales the noise', async () => {
  const one = await fitSmall({ rho: 0.1, method: 'mst' });
  const three = await fitSmall({ rho: 0.1, method: 'mst', contributionBound: 3 });
  const sigma = (m: SynthModel): number => (m.privacy.steps[0]!.kind === 'measure' ? m.privacy.steps[0]!.sigma : NaN);
  assert.ok(Math.abs(sigma(three) / sigma(one) - 3) < 1e-9);
});

test('resampling: same seed, same rows; different seeds, different rows; JSON round trip', async () => {
  const model = await fitSmall({ rho: 0.1 });
  const a = sample(model, 500, seededRandom('s1'));
  const b = sample(model, 500, seededRandom('s1'));
  const c = sample(model, 500, seededRandom('s2'));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.codes, c.codes);
  const stored: SynthModel = JSON.parse(JSON.stringify(model));
  assert.deepEqual(sample(stored, 500, seededRandom('s1')), a);
  // Fitting itself is reproducible with a seeded source.
  assert.deepEqual(await fitSmall({ rho: 0.1 }), model);
});

test('seekable sampling: row r depends on (model, key, r) only, so any page is drawn alone and equals the same rows of the whole sample', async () => {
  const model = await fitSmall({ rho: 0.1 });
  const whole = sample(model, 1000, seededRandom('seek'));
  // A smaller sample from the same source is a prefix of the larger one.
  const prefix = sample(model, 100, seededRandom('seek'));
  prefix.codes.forEach((col, k) => assert.deepEqual(col, whole.codes[k]!.slice(0, 100)));
  // Pages in any order and size give the same rows.
  const key = streamKey(seededRandom('seek'));
  for (const [offset, count] of [[0, 1], [999, 1], [400, 250], [37, 3]] as const) {
    const page = sampleRange(model, key, offset, count);
    page.codes.forEach((col, k) => assert.deepEqual(col, whole.codes[k]!.slice(offset, offset + count), `rows [${offset}, ${offset + count})`));
  }
  // A page far into a huge sample is drawn alone: its row is the same whatever came before it.
  const far = sampleRange(model, key, 999_999, 1);
  assert.deepEqual(far, sampleRange(model, key, 999_999, 1));
  assert.deepEqual(sampleRange(model, key, 999_998, 2).codes.map((c) => c[1]), far.codes.map((c) => c[0]));
});

/** A population where most rows are unique, so copying a training row would show. */
function wideRows(rows: number, seed: string): { domain: Domain; data: CodedTable } {
  const domain: Domain = [6, 6, 5, 5, 4, 6, 5, 4].map((size, i) => ({ name: `x${i}`, size }));
  const rnd = fastRandom(seededRandom(seed));
  const codes = domain.map(() => new Int32Array(rows));
  for (let r = 0; r < rows; r++) {
    const x0 = rnd.below(6);
    const x2 = rnd.below(5);
    const row = [x0, rnd.next() < 0.7 ? x0 : rnd.below(6), x2, rnd.next() < 0.7 ? x2 : rnd.below(5), rnd.below(4), rnd.below(6), rnd.below(5), rnd.below(4)];
    row.forEach((v, k) => (codes[k]![r] = v));
  }
  return { domain, data: { codes, rows } };
}

function matchRate(synth: string[], real: Set<string>): number {
  return synth.filter((k) => real.has(k)).length / synth.length;
}

function meanClosestDistance(synth: CodedTable, real: CodedTable): number {
  let total = 0;
  for (let s = 0; s < synth.rows; s++) {
    let best = Infinity;
    for (let r = 0; r < real.rows && best > 0; r++) {
      let dist = 0;
      for (let k = 0; k < synth.codes.length; k++) if (synth.codes[k]![s] !== real.codes[k]![r]) dist++;
      if (dist < best) best = dist;
    }
    total += best;
  }
  return total / synth.rows;
}

test('privacy smoke test: synthetic rows do not copy training rows more than fresh population rows', async () => {
  const { domain, data } = wideRows(1600, 'dcr-population');
  const half = (from: number): CodedTable => ({ codes: data.codes.map((c) => Int32Array.from(c).slice(from, from + 800)), rows: 800 });
  const [train, holdout] = [half(0), half(800)];
  const model = await fit(memoryOracle(domain, train), domain, { epsilon: 1, delta: 1e-6, rng: seededRandom('dcr-fit') });
  const synth = sample(model, 800, seededRandom('dcr-sample'));
  const synthTable: CodedTable = { codes: synth.codes, rows: 800 };
  const keys = rowKeys(synthTable);
  const toTrain = matchRate(keys, new Set(rowKeys(train)));
  const toHoldout = matchRate(keys, new Set(rowKeys(holdout)));
  const se = Math.sqrt((toHoldout * (1 - toHoldout)) / 800) + 1 / 800;
  assert.ok(toTrain <= toHoldout + 3 * se, `exact matches: train ${toTrain} vs holdout ${toHoldout}`);
  const dcrTrain = meanClosestDistance(synthTable, train);
  const dcrHoldout = meanClosestDistance(synthTable, holdout);
  assert.ok(dcrTrain >= dcrHoldout - 0.1, `closest-record distance: train ${dcrTrain} vs holdout ${dcrHoldout}`);
  // The check has power: the training rows themselves (a generator that memorises) fail it.
  assert.ok(matchRate(rowKeys(train), new Set(rowKeys(train))) > toHoldout + 3 * se + 0.5);
});

test('the model learns: strong pairwise dependence is reproduced at a large budget', async () => {
  const data = dependentRows(20000, 'learning');
  const pairs = subsets(SMALL_DOMAIN.length, 2);
  const sizes = SMALL_DOMAIN.map((c) => c.size);
  for (const method of ['aim', 'mst'] as const) {
    const model = await fitSmall({ epsilon: 10, delta: 1e-6, method }, data);
    const s = sample(model, data.rows, seededRandom('learn'));
    const synth: CodedTable = { codes: s.codes, rows: data.rows };
    const ab = marginalTvd(data, synth, [0, 1], sizes);
    const avg = pairs.reduce((acc, p) => acc + marginalTvd(data, synth, p, sizes), 0) / pairs.length;
    assert.ok(ab < 0.05, `${method}: TVD(a,b) ${ab}`);
    assert.ok(avg < 0.05, `${method}: average 2-way TVD ${avg}`);
  }
  // For scale: independent columns (the product of the true one-way marginals) miss (a, b) badly.
  const shuffled: CodedTable = { codes: data.codes.map((c, k) => (k === 1 ? Int32Array.from(c).reverse() : c)), rows: data.rows };
  assert.ok(marginalTvd(data, shuffled, [0, 1], sizes) > 0.3);
});
