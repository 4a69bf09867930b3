import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  gaussianGdpMu2,
  kernelSlack,
  kernelTau,
  logZcdpDeltaUpper,
  pureGdpMu2,
  shiftedCoordinates,
  thetaTail,
  zcdpGdpMu2,
  zcdpImpliesGdp,
} from '../../src/dp/accountant-gdp.js';
import { gaussianDelta, logGaussianDeltaUpper, normalCdf } from '../../src/dp/accountant-math.js';

test('thetaTail is the Poisson-summation error of the Gaussian theta function', () => {
  for (const t of [0.4, 0.7, 1]) {
    // sum_n exp(-(n - y)^2/(2t^2)) / (t sqrt(2 pi)) - 1 must stay within +- thetaTail(t), and reach it at y = 0.
    let worst = 0;
    for (const y of [0, 0.1, 0.25, 0.5]) {
      let s = 0;
      for (let n = -40; n <= 40; n++) s += Math.exp(-((n - y) ** 2) / (2 * t * t));
      worst = Math.max(worst, Math.abs(s / (t * Math.sqrt(2 * Math.PI)) - 1));
    }
    assert.ok(worst <= thetaTail(t) * (1 + 1e-9) + 1e-15, `t=${t}: ${worst} > ${thetaTail(t)}`);
    assert.ok(worst >= thetaTail(t) * 0.99 || worst < 1e-14, `t=${t}: the bound should be attained`);
  }
});

/** pmf of the post-processed continuous Gaussian of the kernel lemma, by Simpson's rule. */
function kernelPmf(sigma: number, tau: number, x: number): number {
  const s = Math.sqrt(sigma * sigma - tau * tau);
  const w = (s * tau) / sigma;
  const c = (x * s * s) / (sigma * sigma);
  const theta = (y: number) => {
    let sum = 0;
    const k = Math.floor(y);
    for (let n = k - 30; n <= k + 30; n++) sum += Math.exp(-((n - y) ** 2) / (2 * tau * tau));
    return sum;
  };
  const f = (y: number) => (Math.exp(-(y * y) / (2 * s * s)) / (s * Math.sqrt(2 * Math.PI))) * (Math.exp(-((x - y) ** 2) / (2 * tau * tau)) / theta(y));
  const a = c - 14 * w;
  const steps = 4000;
  const h = (28 * w) / steps;
  let sum = f(a) + f(a + 28 * w);
  for (let i = 1; i < steps; i++) sum += (i % 2 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}

function discreteGaussianPmf(sigma: number, x: number): number {
  let z = 0;
  for (let n = -Math.ceil(40 * sigma); n <= Math.ceil(40 * sigma); n++) z += Math.exp(-(n * n) / (2 * sigma * sigma));
  return Math.exp(-(x * x) / (2 * sigma * sigma)) / z;
}

test('kernel lemma: the discrete Gaussian is a post-processed continuous one, pointwise within the slack', () => {
  // sigma = 2, tau = 0.5 makes the deviation visible (~5e-5); the proven slack must cover it.
  for (const [sigma, tau] of [
    [2, 0.5],
    [3, 0.7],
    [10, 0.65],
  ] as const) {
    const slack = kernelSlack(sigma, tau);
    assert.ok(Number.isFinite(slack) && slack < 1e-3, `slack ${slack}`);
    let worst = 0;
    for (const x of [0, 1, 2, 3, 5, 8, Math.round(3 * sigma)]) {
      const ratio = discreteGaussianPmf(sigma, x) / kernelPmf(sigma, tau, x);
      worst = Math.max(worst, Math.abs(Math.log(ratio)));
      assert.ok(Math.abs(Math.log(ratio)) <= slack + 1e-10, `sigma ${sigma} tau ${tau} x ${x}: log ratio ${Math.log(ratio)} > ${slack}`);
    }
    if (sigma === 2) assert.ok(worst > 1e-6, 'the check has teeth: the deviation is visible here');
  }
});

test('kernel tau for the product sigmas costs well under 1% of mu^2', () => {
  for (const sigma of [3, 10, 50, 1000]) {
    const tau = kernelTau(sigma, 1)!;
    assert.ok(tau !== undefined && tau < 1, `sigma ${sigma}: tau ${tau}`);
    const mu2 = gaussianGdpMu2(sigma, 1);
    assert.ok(mu2 >= 1 / (sigma * sigma), 'never below the continuous Gaussian');
    if (sigma >= 10) assert.ok(mu2 <= (1 / (sigma * sigma)) * 1.006, `sigma ${sigma}: ${mu2 * sigma * sigma}`);
    assert.ok(shiftedCoordinates(1) * kernelSlack(sigma, tau) <= 1e-4 * mu2, 'slack within kappa mu^2');
  }
  // l2 sensitivity sqrt(2) (two shifted coordinates) and a multi-unit sensitivity.
  assert.equal(shiftedCoordinates(Math.SQRT2), 2);
  assert.equal(shiftedCoordinates(3), 9);
  assert.ok(gaussianGdpMu2(30, 3) >= 9 / 900);
  // Tiny sigma: the kernel cannot apply, the zCDP route is used and is still valid.
  assert.equal(kernelTau(0.5, 1), undefined);
  assert.ok(gaussianGdpMu2(0.5, 1) >= (Math.PI / 2) * 4);
});

test('pure epsilon -> GDP: randomised response is exactly dominated, and no smaller mu works', () => {
  for (const eps of [1e-6, 0.01, 0.1, 1, 3, 10, 50]) {
    const mu = Math.sqrt(pureGdpMu2(eps));
    const p = 1 / (1 + Math.exp(eps)); // kink of f_{eps,0}
    assert.ok(1 - normalCdf(mu / 2) <= p * (1 + 1e-14), `eps ${eps}`);
    const smaller = mu * (1 - 1e-9);
    assert.ok(1 - normalCdf(smaller / 2) > p || eps > 30, `eps ${eps}: not tight`);
    // Profiles: delta_RR(e) = (e^eps - e^e)/(1 + e^eps) for 0 <= e < eps must sit below delta_mu(e).
    for (let e = 0; e < eps; e += eps / 17) {
      const rr = (Math.exp(eps) - Math.exp(e)) / (1 + Math.exp(eps));
      assert.ok(rr <= gaussianDelta(mu, e) * (1 + 1e-9) + 1e-300, `eps ${eps} at ${e}`);
    }
  }
  assert.ok(Math.abs(Math.sqrt(pureGdpMu2(0.001)) / 0.001 - Math.sqrt(Math.PI / 2)) < 1e-6);
});

test('zCDP -> GDP conversion is verified, and randomised response with the same rho sits below it', () => {
  for (const rho of [1e-4, 0.005, 0.5]) {
    const mu2 = zcdpGdpMu2(rho);
    const c = mu2 / (2 * rho);
    assert.ok(c >= Math.PI / 2 && c < 4, `rho ${rho}: c = ${c}`);
    assert.ok(zcdpImpliesGdp(rho, Math.sqrt(mu2)));
    // A concrete rho-zCDP mechanism: RR with eps tanh(eps/2) = rho (Steinke 2024, Thm 5).
    let lo = 0;
    let hi = 10;
    for (let i = 0; i < 200; i++) {
      const m = (lo + hi) / 2;
      if (m * Math.tanh(m / 2) < rho) lo = m;
      else hi = m;
    }
    const eps = lo;
    for (let e = 0; e < eps; e += eps / 23) {
      const rr = (Math.exp(eps) - Math.exp(e)) / (1 + Math.exp(eps));
      assert.ok(rr <= gaussianDelta(Math.sqrt(mu2), e), `rho ${rho} at ${e}`);
    }
    // And the zCDP profile bound itself, on a fine grid.
    for (let e = 0; e < 20 * Math.sqrt(rho) + 2; e += Math.sqrt(rho) / 50) {
      assert.ok(logZcdpDeltaUpper(rho, e) <= logGaussianDeltaUpper(Math.sqrt(mu2), e) + 1e-9);
    }
  }
});
