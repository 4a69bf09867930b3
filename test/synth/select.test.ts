import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../../src/dp/random.js';
import { emSelectionEpsilon, exponentialMechanism, RESOLUTION, utilitiesOf, utilitySensitivity } from '../../src/synth/select.js';
import { fastRandom } from '../../src/synth/rng.js';

/** The fit's score: L1 distance between exact counts and the model's estimate (fit.ts l1Error). */
const l1 = (x: number[], est: number[]) => x.reduce((s, xi, i) => s + Math.abs(xi - est[i]!), 0);

test('floor(8 * score) rounding: neighbours can differ by 8 Delta + 1, which is what is declared', () => {
  // A real score pair: one more row in cell 2, where the count is above the estimate, moves the
  // exact L1 error by exactly 1 (= Delta); the floating-point sums move it by more than 1.
  const est = [1.9892378992774074, 35.78553344529523, 17.630552671055145, 0.9743625648343301];
  const x = [3, 37, 19, 1];
  const y = [3, 37, 20, 1];
  assert.ok(l1(y, est) - l1(x, est) > 1, 'computed scores differ by more than the exact sensitivity');
  // Any excess, however small, can cross one more integer after scaling by 8 and flooring:
  const s = 1 / 8 - 2 ** -40;
  const delta = 3;
  const sNeighbour = s + delta + 2 ** -38;
  const [u, v] = utilitiesOf([s, sNeighbour]);
  assert.equal(Number(v! - u!), RESOLUTION * delta + 1);
  assert.equal(utilitySensitivity(delta), RESOLUTION * delta + 1);
  // And never more than 8 Delta + 1 while the float error stays below 1/16 per score.
  const rnd = fastRandom(seededRandom('floor-rounding'));
  for (let i = 0; i < 20000; i++) {
    const d = 1 + rnd.below(4);
    const a = (rnd.next() - 0.5) * 1e6;
    const b = a + (rnd.next() * 2 - 1) * d + (rnd.next() - 0.5) / 8.5;
    const [ua, ub] = utilitiesOf([a, b]);
    const diff = ua! > ub! ? ua! - ub! : ub! - ua!;
    assert.ok(diff <= BigInt(utilitySensitivity(d)), `${a} ${b} ${d}`);
  }
  assert.throws(() => utilitySensitivity(1.5), RangeError);
});

test('exponential mechanism: exact sampler follows exp(eps u / (2 Delta)), and costs eps^2/8 zCDP', () => {
  const utilities = [0n, 8n, 16n, 16n];
  const eps = 1;
  const sensitivity = 8;
  const weights = utilities.map((u) => Math.exp((eps * Number(u)) / (2 * sensitivity)));
  const total = weights.reduce((a, b) => a + b, 0);
  const rng = seededRandom('em-distribution');
  const n = 20000;
  const hits = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) hits[exponentialMechanism(utilities, eps, sensitivity, rng)]!++;
  hits.forEach((h, i) => {
    const p = weights[i]! / total;
    assert.ok(Math.abs(h / n - p) < 5 * Math.sqrt((p * (1 - p)) / n), `candidate ${i}: ${h / n} vs ${p}`);
  });
  for (const rho of [1e-5, 0.01, 1]) {
    const e = emSelectionEpsilon(rho);
    assert.ok((e * e) / 8 <= rho && (e * e) / 8 > rho * (1 - 1e-9));
  }
  assert.throws(() => exponentialMechanism([], 1, 1, rng), RangeError);
});
