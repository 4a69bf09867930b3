#!/usr/bin/env node
// Prints the README's markdown tables "epsilon after k releases: basic composition vs ours vs
// exact", from the compiled accountant (run `npm run build` first):
//   node scripts/accountant-table.mjs [delta]
import {
  analyticGaussianEpsilon,
  compose,
  emptyState,
  epsilonSpent,
  singleReleaseEpsilon,
  DELTA_SPLIT,
} from '../dist/src/dp/accountant.js';

const delta = Number(process.argv[2] ?? 1e-6);
const ks = [1, 10, 100, 1000];

function spentAfter(cost, k) {
  let s = emptyState();
  for (let i = 0; i < k; i++) s = compose(s, cost);
  return epsilonSpent(s, delta);
}

/**
 * Optimal composition of k eps-DP releases (Kairouz, Oh & Viswanath 2015): the k-fold randomised
 * response, whose privacy loss is eps (2 B - k) with B ~ Binomial(k, e^eps / (1 + e^eps)). For the
 * discrete Laplace with sensitivity 1 this IS the exact curve (its privacy loss is +-eps).
 */
function optimalPureEpsilon(eps, k) {
  const p = Math.exp(eps) / (1 + Math.exp(eps));
  const logPmf = [];
  let logC = 0;
  for (let i = 0; i <= k; i++) {
    if (i > 0) logC += Math.log(k - i + 1) - Math.log(i);
    logPmf.push(logC + i * Math.log(p) + (k - i) * Math.log1p(-p));
  }
  const deltaAt = (E) => {
    let sum = 0;
    for (let i = 0; i <= k; i++) {
      const loss = eps * (2 * i - k);
      if (loss > E) sum += Math.exp(logPmf[i]) * -Math.expm1(E - loss);
    }
    return sum;
  };
  if (deltaAt(0) <= delta) return 0;
  let lo = 0;
  let hi = k * eps;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (deltaAt(mid) > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

const f = (x) => (x >= 100 ? x.toFixed(1) : x >= 10 ? x.toFixed(2) : x.toFixed(4));
const pct = (ours, exact) => (exact > 0 ? `+${((ours / exact - 1) * 100).toFixed(1)}%` : '');

const out = [];
out.push(`### Epsilon after k releases at delta = ${delta}: discrete Gaussian, sensitivity 1`);
out.push('');
out.push('| sigma | k | basic composition | ours | exact | ours vs exact |');
out.push('|---:|---:|---:|---:|---:|---:|');
for (const sigma of [10, 50]) {
  for (const k of ks) {
    const basic = k * analyticGaussianEpsilon(sigma, 1, delta / k);
    const ours = spentAfter({ kind: 'discreteGaussian', sigma, sensitivity: 1 }, k);
    const exact = analyticGaussianEpsilon(sigma / Math.sqrt(k), 1, delta);
    out.push(`| ${sigma} | ${k} | ${f(basic)} | ${f(ours)} | ${f(exact)} | ${pct(ours, exact)} |`);
  }
}
out.push('');
out.push('basic = k x (the release\'s own exact epsilon at delta/k); exact = k Gaussians with sigma are one with');
out.push('sigma/sqrt(k) (Balle & Wang 2018, continuous Gaussian; the discrete one differs by < 5e-4 here).');
out.push('');
out.push(`### Epsilon after k releases at delta = ${delta}: discrete Laplace, sensitivity 1 (pure epsilon per release)`);
out.push('');
out.push('| epsilon per release | k | basic composition | ours | exact | ours vs exact |');
out.push('|---:|---:|---:|---:|---:|---:|');
for (const eps of [0.01, 0.1, 1]) {
  for (const k of ks) {
    const cost = { kind: 'discreteLaplace', scale: 1 / eps, sensitivity: 1 };
    const basic = k * singleReleaseEpsilon(cost, delta);
    const ours = spentAfter(cost, k);
    const exact = optimalPureEpsilon(eps, k);
    out.push(`| ${eps} | ${k} | ${f(basic)} | ${f(ours)} | ${f(exact)} | ${pct(ours, exact)} |`);
  }
}
out.push('');
out.push('exact = optimal composition of k randomised responses (Kairouz, Oh & Viswanath 2015), which is the');
out.push('discrete Laplace\'s own privacy loss at sensitivity 1.');
out.push('');
out.push(
  `"ours" stays valid when analysts choose each release and its parameters after seeing earlier answers ` +
    `(a privacy filter): sums of mu^2 (Gaussian DP), of rho (zCDP) and of epsilons, each with a fixed share of ` +
    `delta (approx releases ${DELTA_SPLIT.approx}, GDP ${DELTA_SPLIT.gdp}, zCDP ${DELTA_SPLIT.zcdp}); see src/dp/accountant.ts.`,
);
console.log(out.join('\n'));
