#!/usr/bin/env node
// Prints the README's markdown tables "epsilon after k releases: basic composition vs ours vs
// exact", from the compiled accountant (run `npm run build` first):
//   node scripts/accountant-table.mjs [delta]
import {
  analyticGaussianEpsilon,
  askedAt,
  compose,
  composeAll,
  emptyState,
  epsilonSpent,
  routeEpsilons,
  singleReleaseEpsilon,
  DELTA_SPLIT,
} from '../dist/src/dp/accountant.js';
import { rhoForEpsilonDelta } from '../dist/src/dp/conversions.js';
import { discreteGaussianMechanism, discreteLaplaceMechanism } from '../dist/src/dp/mechanisms.js';
import { defaultFitDelta, planFit } from '../dist/src/synth/plan.js';

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
out.push(...scenarioTable());
out.push('');
out.push(
  `"ours" stays valid when analysts choose each release and its parameters after seeing earlier answers ` +
    `(a privacy filter): sums of mu^2 (Gaussian DP), of rho (zCDP) and of epsilons, each with a fixed share of ` +
    `delta (approx releases ${DELTA_SPLIT.approx}, basic ${DELTA_SPLIT.basic}, GDP ${DELTA_SPLIT.gdp}, zCDP ${DELTA_SPLIT.zcdp}); see src/dp/accountant.ts.`,
);
console.log(out.join('\n'));

// ---------------------------------------------------------------------------------------------
// Ledgers users build, under candidate delta splits (how DELTA_SPLIT was chosen).
// ---------------------------------------------------------------------------------------------

function scenarioTable() {
  const census = { columns: 14, method: 'aim', contributionBound: 1, rounds: 20 };
  const laplace = (eps) => askedAt([discreteLaplaceMechanism({ sensitivity: 1, epsilon: eps }).cost], { epsilon: eps, delta: 0 });
  const gaussCount = (eps, d) => askedAt([discreteGaussianMechanism({ sensitivity: 1, rho: rhoForEpsilonDelta(eps, d) }).cost], { epsilon: eps, delta: d });
  const fit = (eps, d) => planFit(eps, d, census).costs;
  const repeat = (k, costs) => Array.from({ length: k }, () => costs).flat();
  const fitDelta = defaultFitDelta(delta);
  const scenarios = [
    ['issue 18: counts 1.059, fit (1, 1e-7), count 0.5', [...repeat(3, laplace(0.353)), ...fit(1, 1e-7), ...laplace(0.5)], 2.559],
    [`3 fits (1, default ${fitDelta}) + 200 counts at 0.02`, [...repeat(3, fit(1, fitDelta)), ...repeat(200, laplace(0.02))], 7],
    [`3 fits + 100 Gaussian counts at (0.1, 1e-9)`, [...repeat(3, fit(1, fitDelta)), ...repeat(100, gaussCount(0.1, 1e-9))], 13],
    ['1000 counts at 0.01 (Laplace)', repeat(1000, laplace(0.01)), 10],
    ['1000 Gaussian releases, sigma 10 (not annotated)', repeat(1000, [{ kind: 'discreteGaussian', sigma: 10, sensitivity: 1 }]), analyticGaussianEpsilon(10 / Math.sqrt(1000), 1, delta)],
    ['100 Gaussian counts at (0.1, 1e-9)', repeat(100, gaussCount(0.1, 1e-9)), 10],
    ['Laplace 0.5 + Gaussian count (0.1, 1e-9)', [...laplace(0.5), ...gaussCount(0.1, 1e-9)], 0.6],
  ];
  const splits = [
    { approx: 0.1, basic: 0, gdp: 0.8, zcdp: 0.1 },
    { approx: 0.1, basic: 0.1, gdp: 0.7, zcdp: 0.1 },
    { approx: 0.1, basic: 0.2, gdp: 0.6, zcdp: 0.1 },
    { approx: 0.1, basic: 0.15, gdp: 0.7, zcdp: 0.05 },
    { approx: 0.1, basic: 0.3, gdp: 0.5, zcdp: 0.1 },
  ];
  const name = (sp) => `${sp.approx}/${sp.basic}/${sp.gdp}/${sp.zcdp}`;
  const out = [];
  out.push(`### Spent epsilon at delta = ${delta} for ledgers users build, by delta split (approx/basic/GDP/zCDP)`);
  out.push('');
  out.push(`| ledger | reference | ${splits.map(name).join(' | ')} |`);
  out.push(`|---|---:|${splits.map(() => '---:').join('|')}|`);
  for (const [label, costs, ref] of scenarios) {
    const state = composeAll(emptyState(), costs);
    const cells = splits.map((sp) => {
      const r = routeEpsilons(state, delta, sp);
      const best = Math.min(r.basic, r.gdp, r.zcdp);
      const route = best === r.basic ? 'basic' : best === r.gdp ? 'GDP' : 'zCDP';
      return `${f(best)} (${route})`;
    });
    out.push(`| ${label} | ${f(ref)} | ${cells.join(' | ')} |`);
  }
  out.push('');
  out.push(
    'reference: the plain sum of the epsilons asked (exact composition for the un-annotated Gaussians). ' +
      `In use: ${name(DELTA_SPLIT)}. Fits are planned by src/synth/plan.ts for the census domain (14 columns, 20 rounds).`,
  );
  return out;
}
