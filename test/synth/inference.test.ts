import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TreeModel, Projector } from '../../src/synth/inference.js';
import { buildJunctionTree } from '../../src/synth/junctionTree.js';
import { estimate } from '../../src/synth/estimate.js';
import { fastRandom } from '../../src/synth/rng.js';
import { seededRandom } from '../../src/dp/random.js';
import { cellCount, marginalizeDirect } from '../../src/synth/tensor.js';

/** Brute-force joint of exp(Σ θ_C) over all attributes, scaled to `total`. */
function bruteJoint(model: TreeModel, theta: Float64Array[], total: number): Float64Array {
  const all = model.sizes.map((_, i) => i);
  const joint = new Float64Array(cellCount(all, model.sizes));
  const codes = new Array<number>(all.length).fill(0);
  for (let cell = 0; cell < joint.length; cell++) {
    let rest = cell;
    for (let k = all.length - 1; k >= 0; k--) {
      codes[k] = rest % model.sizes[k]!;
      rest = Math.floor(rest / model.sizes[k]!);
    }
    let logp = 0;
    model.jt.cliques.forEach((c, i) => {
      let idx = 0;
      for (const a of c) idx = idx * model.sizes[a]! + codes[a]!;
      logp += theta[i]![idx]!;
    });
    joint[cell] = Math.exp(logp);
  }
  const s = joint.reduce((a, b) => a + b, 0);
  return joint.map((v) => (v * total) / s);
}

function randomModel(seed: string): { model: TreeModel; theta: Float64Array[] } {
  const sizes = [2, 3, 4, 2, 3, 2, 3];
  const model = new TreeModel(sizes, [[0, 1], [1, 2, 3], [3, 4], [4, 5], [2, 6], [0, 6]]);
  const rnd = fastRandom(seededRandom(seed));
  const theta = model.zeroPotentials().map((t) => t.map(() => 3 * (rnd.next() - 0.5)));
  return { model, theta };
}

test('junction tree: running intersection holds and every attribute is covered', () => {
  const sizes = [2, 3, 4, 2, 3, 2, 3, 5];
  const jt = buildJunctionTree(sizes, [[0, 1], [1, 2, 3], [3, 4], [4, 5], [2, 6], [0, 6]]);
  for (let a = 0; a < sizes.length; a++) {
    const holders = jt.cliques.map((c, i) => (c.includes(a) ? i : -1)).filter((i) => i >= 0);
    assert.ok(holders.length > 0, `attribute ${a} covered`);
    // Holders of a connected: exactly one holder has its parent outside the holder set.
    const tops = holders.filter((i) => jt.parent[i]! < 0 || !jt.cliques[jt.parent[i]!]!.includes(a));
    assert.equal(tops.length, 1, `holders of ${a} are connected`);
  }
});

test('belief propagation matches the brute-force joint on every clique', () => {
  const { model, theta } = randomModel('bp');
  const beliefs = model.propagate(theta, 1000);
  const joint = bruteJoint(model, theta, 1000);
  const all = model.sizes.map((_, i) => i);
  model.jt.cliques.forEach((c, i) => {
    const exact = marginalizeDirect(joint, all, c, model.sizes);
    exact.forEach((v, j) => assert.ok(Math.abs(v - beliefs[i]![j]!) < 1e-8, `clique ${c} cell ${j}`));
  });
});

test('marginals across cliques (variable elimination) match the brute-force joint', () => {
  const { model, theta } = randomModel('project');
  const beliefs = model.propagate(theta, 1);
  const joint = bruteJoint(model, theta, 1);
  const all = model.sizes.map((_, i) => i);
  const proj = new Projector(model, beliefs);
  for (const q of [[0, 5], [2, 5], [0, 4, 6], [1, 5, 6], [3, 6], [0, 2, 5]]) {
    const got = proj.project(q)!;
    const exact = marginalizeDirect(joint, all, q, model.sizes);
    exact.forEach((v, j) => assert.ok(Math.abs(v - got[j]!) < 1e-10, `query ${q} cell ${j}: ${v} vs ${got[j]}`));
  }
});

test('estimation recovers consistent marginals from exact measurements', () => {
  const { model, theta } = randomModel('fit');
  const truth = model.propagate(theta, 5000);
  const ms = model.jt.cliques.map((c, i) => ({ clique: c, y: truth[i]!, variance: new Float64Array(truth[i]!.length).fill(1) }));
  const est = estimate(model, ms, { iters: 3000, tol: 0 });
  model.jt.cliques.forEach((_, i) => {
    const l1 = truth[i]!.reduce((s, v, j) => s + Math.abs(v - est.beliefs[i]![j]!), 0);
    assert.ok(l1 / 5000 < 0.01, `clique ${i}: L1 ${l1}`);
  });
});
