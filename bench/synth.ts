/**
 * Quality benchmark of the DP synthesizer on the discretised Adult data of the MST/AIM papers
 * (data/adult-mst). Writes bench/SYNTH-REPORT.md and prints it.
 *
 *   node dist/bench/synth.js            epsilon 0.1, 1, 10 x 5 seeds
 *   node dist/bench/synth.js --quick    epsilon 1 x 1 seed
 *   options: --method mst|aim, --eps 1,10, --seeds 3, --no-ml, --census-seeds 3, --no-census, --out FILE
 *
 * Two protocols per (epsilon, seed):
 *   - marginal error: fit on all 48,842 rows, sample 48,842, average TVD over ALL 1-, 2- and 3-way
 *     marginals. Same protocol as the reference MST figures in data/adult-mst/README.md.
 *   - ML efficacy: hold out 20 % of rows (fixed split) before fitting, fit on the other 80 %,
 *     train logistic regression (income>50K from one-hot features) on synthetic rows and on the
 *     real 80 %, test both on the held-out real rows.
 * Then per-column measures: 1-way TVD of every adult-mst column, and on the census demo domain
 * (real values, coded by its declaration) numeric means / medians, special-value shares,
 * categorical 1-way TVD, for 'aim' next to 'mst' (bench/synth-columns.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { seededRandom } from '../src/dp/random.js';
import { averageTvd, marginalTvd } from '../src/synth/metrics.js';
import { censusReport, censusRun, loadCensus, type ColumnRun } from './synth-columns.js';
import { describe, fit, memoryOracle, sample, type CodedTable, type Domain, type FitOptions } from '../src/synth/index.js';
import { fastRandom } from '../src/synth/rng.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REFERENCE: Record<string, [number, number, number, number]> = {
  '0.1': [0.0534, 0.1486, 0.2535, 38.6],
  '1': [0.0087, 0.0522, 0.1134, 40.4],
  '10': [0.0013, 0.0413, 0.1002, 42.0],
};
const DELTA = 1e-9;

interface Args {
  eps: number[];
  seeds: number;
  method: 'mst' | 'aim';
  ml: boolean;
  censusSeeds: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    eps: get('--eps')?.split(',').map(Number) ?? (quick ? [1] : [0.1, 1, 10]),
    seeds: Number(get('--seeds') ?? (quick ? 1 : 5)),
    method: (get('--method') as 'mst' | 'aim' | undefined) ?? 'aim',
    ml: !argv.includes('--no-ml'),
    censusSeeds: argv.includes('--no-census') ? 0 : Number(get('--census-seeds') ?? (quick ? 1 : 3)),
    out: get('--out') ?? join(root, 'bench', 'SYNTH-REPORT.md'),
  };
}

function loadAdult(): { domain: Domain; data: CodedTable } {
  const dir = join(root, 'data', 'adult-mst');
  const sizes = JSON.parse(readFileSync(join(dir, 'adult-domain.json'), 'utf8')) as Record<string, number>;
  const lines = gunzipSync(readFileSync(join(dir, 'adult.csv.gz'))).toString('utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const domain = header.map((name) => ({ name, size: sizes[name]! }));
  const rows = lines.length - 1;
  const codes = header.map(() => new Int32Array(rows));
  for (let r = 0; r < rows; r++) {
    const f = lines[r + 1]!.split(',');
    for (let k = 0; k < f.length; k++) codes[k]![r] = Number(f[k]);
  }
  return { domain, data: { codes, rows } };
}

function subsetRows(t: CodedTable, rows: Int32Array): CodedTable {
  return { codes: t.codes.map((c) => Int32Array.from(rows, (r) => c[r]!)), rows: rows.length };
}

/** Fixed 80/20 split (seeded shuffle), so every run tests on the same held-out rows. */
function split(t: CodedTable): { train: CodedTable; test: CodedTable } {
  const rnd = fastRandom(seededRandom('adult-holdout'));
  const idx = Int32Array.from({ length: t.rows }, (_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = rnd.below(i + 1);
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  const cut = Math.floor(t.rows * 0.8);
  return { train: subsetRows(t, idx.subarray(0, cut)), test: subsetRows(t, idx.subarray(cut)) };
}

// ---------- logistic regression on one-hot features (full-batch gradient descent with Adam) ----------

interface Logistic {
  weights: Float64Array;
  offsets: number[];
  features: number[];
}

function trainLogistic(t: CodedTable, sizes: number[], target: number, epochs = 150): Logistic {
  const features = sizes.map((_, k) => k).filter((k) => k !== target);
  const offsets: number[] = [];
  let dim = 1; // bias first
  for (const k of features) [offsets[k], dim] = [dim, dim + sizes[k]!];
  const w = new Float64Array(dim);
  const m = new Float64Array(dim);
  const v = new Float64Array(dim);
  const grad = new Float64Array(dim);
  const lr = 0.05;
  const l2 = 1e-4;
  for (let e = 1; e <= epochs; e++) {
    grad.fill(0);
    for (let r = 0; r < t.rows; r++) {
      let z = w[0]!;
      for (const k of features) z += w[offsets[k]! + t.codes[k]![r]!]!;
      const g = 1 / (1 + Math.exp(-z)) - t.codes[target]![r]!;
      grad[0]! += g;
      for (const k of features) grad[offsets[k]! + t.codes[k]![r]!]! += g;
    }
    for (let i = 0; i < dim; i++) {
      const g = grad[i]! / t.rows + l2 * w[i]!;
      m[i] = 0.9 * m[i]! + 0.1 * g;
      v[i] = 0.999 * v[i]! + 0.001 * g * g;
      w[i]! -= (lr * (m[i]! / (1 - 0.9 ** e))) / (Math.sqrt(v[i]! / (1 - 0.999 ** e)) + 1e-8);
    }
  }
  return { weights: w, offsets, features };
}

function evaluate(model: Logistic, t: CodedTable, target: number): { accuracy: number; auc: number } {
  const scores = new Float64Array(t.rows);
  let correct = 0;
  for (let r = 0; r < t.rows; r++) {
    let z = model.weights[0]!;
    for (const k of model.features) z += model.weights[model.offsets[k]! + t.codes[k]![r]!]!;
    scores[r] = z;
    if ((z > 0 ? 1 : 0) === t.codes[target]![r]) correct++;
  }
  return { accuracy: correct / t.rows, auc: auc(scores, t.codes[target]!) };
}

/** Area under the ROC curve (Mann-Whitney, ties counted half). */
function auc(scores: Float64Array, labels: ArrayLike<number>): number {
  const idx = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]!);
  let rankSumPos = 0;
  let pos = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j < idx.length && scores[idx[j]!] === scores[idx[i]!]) j++;
    const rank = (i + j + 1) / 2;
    for (let k = i; k < j; k++) if (labels[idx[k]!] === 1) [rankSumPos, pos] = [rankSumPos + rank, pos + 1];
    i = j;
  }
  const neg = idx.length - pos;
  return pos === 0 || neg === 0 ? 0.5 : (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

// ---------- runs ----------

interface Run {
  eps: number;
  seed: number;
  tvd: [number, number, number];
  /** 1-way TVD of each column */
  columns: number[];
  fitSeconds: number;
  cpuSeconds: number;
  mlAccuracy?: number;
  mlAuc?: number;
  rhoSpent: number;
  rho: number;
  heapMB: number;
}

async function timedFit(domain: Domain, data: CodedTable, opts: FitOptions): Promise<{ model: Awaited<ReturnType<typeof fit>>; seconds: number; cpuSeconds: number; heapMB: number }> {
  let peakHeap = process.memoryUsage().heapUsed;
  const oracle = memoryOracle(domain, data);
  // The fit never yields to the event loop for long, so a sampling timer cannot run; sample the
  // heap at every oracle call and every progress message (after each estimation and scoring).
  const probe = (): void => void (peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed));
  const sampled = async (cols: string[]) => {
    probe();
    return oracle(cols);
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const model = await fit(sampled, domain, { ...opts, log: probe });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  return { model, seconds, cpuSeconds, heapMB: peakHeap / 2 ** 20 };
}

async function runOne(args: Args, eps: number, seed: number, domain: Domain, all: CodedTable, train: CodedTable, test: CodedTable): Promise<Run> {
  const sizes = domain.map((c) => c.size);
  const opts: FitOptions = { epsilon: eps, delta: DELTA, method: args.method, rng: seededRandom(`fit-${eps}-${seed}`) };
  const { model, seconds, cpuSeconds, heapMB } = await timedFit(domain, all, opts);
  const synth = sample(model, all.rows, seededRandom(`sample-${eps}-${seed}`));
  const synthTable: CodedTable = { codes: synth.codes, rows: all.rows };
  const tvd = [1, 2, 3].map((k) => averageTvd(all, synthTable, sizes, k)) as [number, number, number];
  const d = describe(model);
  const columns = sizes.map((_, k) => marginalTvd(all, synthTable, [k], sizes));
  const run: Run = { eps, seed, tvd, columns, fitSeconds: seconds, cpuSeconds, rhoSpent: d.rhoSpent, rho: d.rho, heapMB };
  if (args.ml) {
    const target = domain.findIndex((c) => c.name === 'income>50K');
    const mlFit = await fit(memoryOracle(domain, train), domain, { ...opts, rng: seededRandom(`fit80-${eps}-${seed}`) });
    const s = sample(mlFit, train.rows, seededRandom(`sample80-${eps}-${seed}`));
    const r = evaluate(trainLogistic({ codes: s.codes, rows: train.rows }, sizes, target), test, target);
    [run.mlAccuracy, run.mlAuc] = [r.accuracy, r.auc];
  }
  console.error(`eps ${eps} seed ${seed}: tvd ${tvd.map((x) => x.toFixed(4)).join(' / ')}, fit ${seconds.toFixed(2)} s (cpu ${cpuSeconds.toFixed(2)} s)` + (run.mlAuc !== undefined ? `, ML acc ${run.mlAccuracy!.toFixed(4)} auc ${run.mlAuc.toFixed(4)}` : ''));
  return run;
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]): number => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));
const fmt = (xs: number[], digits = 4): string => (xs.length > 1 ? `${mean(xs).toFixed(digits)} ± ${sd(xs).toFixed(digits)}` : mean(xs).toFixed(digits));

function report(args: Args, runs: Run[], baseline: { accuracy: number; auc: number; majority: number }, extra: string, names: string[], census: string[]): string {
  const lines: string[] = [];
  lines.push('# Synthetic data benchmark (data/adult-mst)', '');
  lines.push(`Generated by \`node dist/bench/synth.js ${process.argv.slice(2).join(' ')}\` on ${new Date().toISOString().slice(0, 10)}; method \`${args.method}\`, delta ${DELTA}, ${args.seeds} seed(s) per epsilon (mean ± sd).`, '');
  lines.push('## Marginal error (fit on all 48,842 rows, 48,842 synthetic rows; average TVD over all k-way marginals)', '');
  lines.push('| epsilon | 1-way | 2-way | 3-way | fit wall time (s) | fit CPU time (s) | reference MST 1/2/3-way, time |', '|---|---|---|---|---|---|---|');
  for (const eps of args.eps) {
    const rs = runs.filter((r) => r.eps === eps);
    const ref = REFERENCE[String(eps)];
    lines.push(`| ${eps} | ${fmt(rs.map((r) => r.tvd[0]))} | ${fmt(rs.map((r) => r.tvd[1]))} | ${fmt(rs.map((r) => r.tvd[2]))} | ${fmt(rs.map((r) => r.fitSeconds), 2)} | ${fmt(rs.map((r) => r.cpuSeconds), 2)} | ${ref ? `${ref[0]} / ${ref[1]} / ${ref[2]}, ${ref[3]} s` : '-'} |`);
  }
  if (args.ml) {
    lines.push('', '## ML efficacy (logistic regression for income>50K, tested on the 20 % held-out real rows)', '');
    lines.push(`Trained on the real 80 %: accuracy ${baseline.accuracy.toFixed(4)}, AUC ${baseline.auc.toFixed(4)}. Majority class: accuracy ${baseline.majority.toFixed(4)}.`, '');
    lines.push('| epsilon | accuracy (trained on synthetic) | AUC (trained on synthetic) |', '|---|---|---|');
    for (const eps of args.eps) {
      const rs = runs.filter((r) => r.eps === eps);
      lines.push(`| ${eps} | ${fmt(rs.map((r) => r.mlAccuracy!))} | ${fmt(rs.map((r) => r.mlAuc!))} |`);
    }
  }
  lines.push('', '## adult-mst, per column: 1-way TVD', '');
  lines.push(`| epsilon | ${names.join(' | ')} |`, `|---|${names.map(() => '---').join('|')}|`);
  for (const eps of args.eps) {
    const rs = runs.filter((r) => r.eps === eps);
    lines.push(`| ${eps} | ${names.map((_, k) => mean(rs.map((r) => r.columns[k]!)).toFixed(4)).join(' | ')} |`);
  }
  if (census.length > 0) lines.push('', ...census);
  lines.push('', '## Resources and privacy accounting', '');
  const rss = process.resourceUsage().maxRSS / 1024;
  lines.push(`Peak heap during a fit: ${Math.max(...runs.map((r) => r.heapMB)).toFixed(0)} MB; peak RSS of the whole benchmark process: ${rss.toFixed(0)} MB. Load average at the end: ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} cores (the machine is shared, so wall time includes waiting for a core; CPU time does not).`);
  lines.push(`Budget spent vs planned (max relative gap over runs; below the plan only when adaptive rounds ran out of candidates and skipped their selections): ${Math.max(...runs.map((r) => Math.abs(r.rhoSpent - r.rho) / r.rho)).toExponential(1)}.`);
  lines.push('', extra);
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const { domain, data } = loadAdult();
  const { train, test } = split(data);
  const sizes = domain.map((c) => c.size);
  const target = domain.findIndex((c) => c.name === 'income>50K');
  const real = evaluate(trainLogistic(train, sizes, target), test, target);
  const positives = Array.from(test.codes[target]!).filter((x) => x === 1).length / test.rows;
  const runs: Run[] = [];
  for (const eps of args.eps) for (let seed = 0; seed < args.seeds; seed++) runs.push(await runOne(args, eps, seed, domain, data, train, test));
  const quick = await fit(memoryOracle(domain, data), domain, { epsilon: 1, delta: DELTA, method: args.method, rng: seededRandom('describe') });
  const d = describe(quick);
  const extra = [
    'Model at epsilon 1 (one fit): ' + `rho ${d.rho.toFixed(5)} (the largest whose plan the accountant proves (1, ${DELTA})-DP, src/synth/plan.ts), ${d.measurements.length} measurements, ${d.selections.length} selections; cliques: ` + d.modelCliques.map((c) => `{${c.join(', ')}}`).join(' '),
  ].join('\n');
  const census: string[] = [];
  if (args.censusSeeds > 0) {
    const c = loadCensus(root);
    const crs: ColumnRun[] = [];
    for (const eps of args.eps)
      for (const method of ['aim', 'mst'] as const)
        for (let seed = 0; seed < args.censusSeeds; seed++) {
          crs.push(await censusRun(c, eps, DELTA, method, seed));
          console.error(`census eps ${eps} ${method} seed ${seed}: ${JSON.stringify(crs[crs.length - 1]!.numeric)}`);
        }
    if (args.eps.includes(1)) {
      const plain = loadCensus(root, true);
      for (let seed = 0; seed < args.censusSeeds; seed++) crs.push(await censusRun(plain, 1, DELTA, 'aim', seed, 'aim, plain bins'));
    }
    census.push(...censusReport(crs, c, DELTA));
  }
  const text = report(args, runs, { ...real, majority: Math.max(positives, 1 - positives) }, extra, domain.map((x) => x.name), census);
  writeFileSync(args.out, text);
  console.log(text);
}

await main();
