/**
 * DP regression benchmark (issue 14). Writes bench/ML-REPORT.md and prints it.
 *
 *   node dist/bench/ml.js                 full run (census accuracy x 5 seeds; timing 30k + health visits)
 *   node dist/bench/ml.js --quick         epsilon 1, 1 seed, no scale run
 *   options: --eps 0.1,1  --seeds 3  --visits 200000  --no-scale  --no-linear  --methods ssp,sspNewton  --out FILE
 *
 * Accuracy protocol: the census (UCI Adult, 30,162 rows) loaded into an in-memory PGlite by the
 * product's own seeding; a fixed fold column (hash of the row's load position, 20 % test) is added
 * and declared, and the TRAINING RELATION filters fold <> 0 in the plan IR, so the test rows never
 * enter a training statement. Each private fit runs the product's plan -> SQL -> noise path
 * (src/core/regression.ts, src/ml/train.ts); the non-private baselines fit the same encoding on the
 * same training rows in memory. The test rows are read by the benchmark only, to score.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { validateDomain, type DomainDeclaration } from '../src/domain/declaration.js';
import { demoDomain } from '../src/domain/registry.js';
import { buildTrainingPlan, type ModelKind, type TrainingMethod } from '../src/core/regression.js';
import { cmp } from '../src/core/predicate.js';
import { domainDataSource } from '../src/query/datasource.js';
import { seedDomain } from '../src/seed/seed.js';
import { migrate } from '../src/storage/migrate.js';
import { openDomainDatabase, type DomainDatabase } from '../src/storage/database.js';
import { fitExact, predictRow, specOf, type StoredModel } from '../src/ml/model.js';
import { trainOnData } from '../src/ml/train.js';
import { SyntheticService } from '../src/query/synthetic.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DELTA = 1e-6;
const LOGISTIC_FEATURES = ['age', 'educationNum', 'hoursPerWeek', 'capitalGain', 'capitalLoss', 'workclass', 'maritalStatus', 'occupation', 'relationship', 'race', 'sex'];
const LINEAR_FEATURES = ['age', 'educationNum', 'workclass', 'maritalStatus', 'occupation', 'relationship', 'race', 'sex', 'income'];

interface Args {
  eps: number[];
  seeds: number;
  visits: number;
  scale: boolean;
  linear: boolean;
  synthetic: number;
  methods: ('ssp' | 'sspNewton')[];
  out: string;
}
function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const get = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
  return {
    eps: get('--eps')?.split(',').map(Number) ?? (quick ? [1] : [0.1, 0.5, 1, 5]),
    seeds: Number(get('--seeds') ?? (quick ? 1 : 5)),
    visits: Number(get('--visits') ?? 1_000_000),
    scale: !quick && !argv.includes('--no-scale'),
    linear: !argv.includes('--no-linear'),
    synthetic: Number(get('--synthetic-runs') ?? (quick ? 0 : 2)),
    methods: (get('--methods')?.split(',') as Args['methods'] | undefined) ?? ['ssp', 'sspNewton'],
    out: get('--out') ?? join(root, 'bench', 'ML-REPORT.md'),
  };
}

/** The census declaration plus the benchmark's fold column (0 = test). */
function censusWithFold(): DomainDeclaration {
  const base = demoDomain('census');
  const adults = base.datasets[0]!;
  return validateDomain({
    ...base,
    datasets: [{ ...adults, columns: [...adults.columns, { name: 'fold', sql: 'fold', type: 'integer', bounds: [0, 4], description: 'Benchmark fold (0 = held-out test rows).' }] }],
  } as never);
}

async function loadCensus(): Promise<{ db: DomainDatabase; domain: DomainDeclaration; test: Record<string, unknown>[]; train: Record<string, unknown>[] }> {
  const plain = demoDomain('census');
  const db = await openDomainDatabase(plain, { dataDir: 'memory://' });
  await migrate(db);
  await seedDomain(db, plain);
  // A fixed split: a hash of the row's load position (the CSV order), 1 in 5 rows held out.
  await db.exec(`ALTER TABLE adults ADD COLUMN fold integer; UPDATE adults SET fold = abs(hashtext('adult-split-' || ctid::text)) % 5;`);
  const domain = censusWithFold();
  const cols = domain.datasets[0]!.columns.map((c) => `"${c.sql ?? c.name}" AS "${c.name}"`).join(', ');
  const test = await db.query<Record<string, unknown>>(`SELECT ${cols} FROM adults WHERE fold = 0`);
  const train = await db.query<Record<string, unknown>>(`SELECT ${cols} FROM adults WHERE fold <> 0`);
  return { db, domain, test, train };
}

function auc(scores: number[], labels: number[]): number {
  const idx = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rank = 0;
  let sumPos = 0;
  let pos = 0;
  for (let k = 0; k < idx.length; ) {
    let e = k;
    while (e + 1 < idx.length && scores[idx[e + 1]!] === scores[idx[k]!]) e++;
    const r = (rank + 1 + rank + e - k + 1) / 2;
    for (let t = k; t <= e; t++) if (labels[idx[t]!]) ((sumPos += r), pos++);
    rank += e - k + 1;
    k = e + 1;
  }
  const neg = idx.length - pos;
  return (sumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

function scoreLogistic(model: StoredModel, test: Record<string, unknown>[]) {
  const labels = test.map((r) => (r.income === '>50K' ? 1 : 0));
  const scores = test.map((r) => predictRow(model, r));
  const acc = scores.reduce((s, q, i) => s + ((q > 0.5 ? 1 : 0) === labels[i] ? 1 : 0), 0) / test.length;
  return { auc: auc(scores, labels), acc };
}
function scoreLinear(model: StoredModel, test: Record<string, unknown>[]) {
  const y = test.map((r) => Number(r.hoursPerWeek));
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const sse = test.reduce((s, r, i) => s + (predictRow(model, r) - y[i]!) ** 2, 0);
  const sst = y.reduce((s, v) => s + (v - mean) ** 2, 0);
  return { rmse: Math.sqrt(sse / y.length), r2: 1 - sse / sst };
}

function request(domain: DomainDeclaration, kind: ModelKind, epsilon: number, method: TrainingMethod | 'auto') {
  const ds = domain.datasets[0]!;
  return buildTrainingPlan({
    domain,
    dataset: ds,
    kind,
    target: kind === 'logistic' ? 'income' : 'hoursPerWeek',
    positiveClass: kind === 'logistic' ? '>50K' : null,
    features: kind === 'logistic' ? LOGISTIC_FEATURES : LINEAR_FEATURES,
    privacy: { epsilon, delta: DELTA },
    method,
    where: cmp('fold', '<>', 0),
  });
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const fmt = (xs: number[], d = 3) => `${mean(xs).toFixed(d)} ± ${sd(xs).toFixed(d)}`;

async function accuracy(args: Args, lines: string[]) {
  const { db, domain, test, train } = await loadCensus();
  const data = domainDataSource(db);
  const spec = (kind: ModelKind) => specOf('adults', kind, request(domain, kind, 1, 'ssp').encoding);
  const exactLog = fitExact(spec('logistic'), train, 1e-4);
  const baseLog = scoreLogistic({ ...spec('logistic'), coefficients: exactLog.coefficients } as StoredModel, test);
  const exactLin = fitExact(spec('linear'), train, 1e-4);
  const baseLin = scoreLinear({ ...spec('linear'), coefficients: exactLin.coefficients } as StoredModel, test);
  lines.push(`Census (UCI Adult) ${train.length} training rows, ${test.length} held-out test rows (fold = 0, excluded by the training relation's filter). Delta ${DELTA}. ${args.seeds} independent runs per cell (fresh system randomness: the product's exact samplers cannot be seeded outside tests); mean ± sd.`, '');
  lines.push('### Logistic regression: income > 50K', '');
  lines.push(`Features: ${LOGISTIC_FEATURES.join(', ')} (${spec('logistic').names.length} encoded columns with the intercept).`, '');
  lines.push('| epsilon | method | AUC | accuracy | AUC gap to non-private |', '| --- | --- | --- | --- | --- |');
  for (const eps of args.eps) {
    for (const method of args.methods) {
      const aucs: number[] = [];
      const accs: number[] = [];
      for (let s = 0; s < args.seeds; s++) {
        const plan = request(domain, 'logistic', eps, method);
        const r = await trainOnData(plan, data);
        const q = scoreLogistic({ ...specOf('adults', 'logistic', plan.encoding), coefficients: r.coefficients } as StoredModel, test);
        aucs.push(q.auc);
        accs.push(q.acc);
      }
      const auto = request(domain, 'logistic', eps, 'auto').method === method ? ' (auto)' : '';
      lines.push(`| ${eps} | ${method}${auto} | ${fmt(aucs)} | ${fmt(accs)} | ${(baseLog.auc - mean(aucs)).toFixed(3)} |`);
      console.error(`logistic eps ${eps} ${method}: AUC ${fmt(aucs)} acc ${fmt(accs)}`);
    }
  }
  if (args.synthetic > 0) await syntheticRows(args, db, spec('logistic'), test, baseLog.auc, lines);
  lines.push(`| ∞ | non-private (same encoding, ridge 1e-4, Newton) | ${baseLog.auc.toFixed(3)} | ${baseLog.acc.toFixed(3)} | 0 |`, '');
  if (!args.linear) return db.close();
  lines.push('### Linear regression: hoursPerWeek', '');
  lines.push(`Features: ${LINEAR_FEATURES.join(', ')}.`, '');
  lines.push('| epsilon | RMSE (hours) | R² (test) | R² estimated from the release (free) |', '| --- | --- | --- | --- |');
  for (const eps of args.eps) {
    const rmse: number[] = [];
    const r2: number[] = [];
    const est: number[] = [];
    for (let s = 0; s < args.seeds; s++) {
      const plan = request(domain, 'linear', eps, 'auto');
      const r = await trainOnData(plan, data);
      const q = scoreLinear({ ...specOf('adults', 'linear', plan.encoding), coefficients: r.coefficients } as StoredModel, test);
      rmse.push(q.rmse);
      r2.push(q.r2);
      est.push(r.estimatedR2 ?? NaN);
    }
    lines.push(`| ${eps} | ${fmt(rmse, 2)} | ${fmt(r2)} | ${fmt(est)} |`);
    console.error(`linear eps ${eps}: RMSE ${fmt(rmse, 2)} R2 ${fmt(r2)}`);
  }
  lines.push(`| ∞ | ${baseLin.rmse.toFixed(2)} | ${baseLin.r2.toFixed(3)} | |`, '');
  await db.close();
}

/**
 * source: SYNTHETIC_MODEL, on the training rows only: the product's synthetic fit (AIM-style, one
 * zCDP release) on a table holding the training fold, 24,000 rows sampled from it, and the same
 * non-private fit as the product's post-processing path. Each run's delta differs in the 9th digit
 * so that it is a fresh fit, not the memoised one.
 */
async function syntheticRows(args: Args, db: DomainDatabase, spec: ReturnType<typeof specOf>, test: Record<string, unknown>[], baseAuc: number, lines: string[]) {
  await db.exec('DROP TABLE IF EXISTS adults_train; CREATE TABLE adults_train AS SELECT * FROM adults WHERE fold <> 0;');
  const census = demoDomain('census');
  const domain = validateDomain({
    ...census,
    policy: { ...census.policy, maxEpsilonPerQuery: 10, defaultBudget: { epsilon: 1000, delta: 1e-3 }, globalCap: { epsilon: 1000, delta: 1e-2 } },
    datasets: [{ ...census.datasets[0]!, table: 'adults_train' }],
  } as never);
  const ds = domain.datasets[0]!;
  const svc = new SyntheticService(domain, db);
  for (const eps of args.eps) {
    const aucs: number[] = [];
    const accs: number[] = [];
    for (let s = 0; s < args.synthetic; s++) {
      const { info, model } = await svc.model({ id: 'bench', roles: ['analyst'] }, ds, { epsilon: eps, delta: DELTA * (1 + s * 1e-9) });
      const rows = svc.rows(ds, info.id, model, 24_000, s);
      const fit = fitExact(spec, rows, 1e-4);
      const q = scoreLogistic({ ...spec, coefficients: fit.coefficients } as StoredModel, test);
      aucs.push(q.auc);
      accs.push(q.acc);
    }
    lines.push(`| ${eps} | SYNTHETIC_MODEL (${args.synthetic} runs) | ${fmt(aucs)} | ${fmt(accs)} | ${(baseAuc - mean(aucs)).toFixed(3)} |`);
    console.error(`logistic eps ${eps} synthetic: AUC ${fmt(aucs)}`);
  }
}

/** Wall time and peak RSS of one training (the database is in-process PGlite: its memory counts). */
async function timed(db: DomainDatabase, plan: ReturnType<typeof buildTrainingPlan>) {
  global.gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const t = performance.now();
  await trainOnData(plan, domainDataSource(db));
  const ms = performance.now() - t;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { ms, before, peak };
}

async function scale(args: Args, lines: string[]) {
  lines.push('### Training time and memory', '');
  lines.push('In-process PGlite (WebAssembly PostgreSQL, single-threaded) on this machine; RSS includes the database.', '');
  lines.push('| data | rows | model | method | statements | time | RSS before | peak RSS |', '| --- | --- | --- | --- | --- | --- | --- | --- |');
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MB`;
  {
    const { db, domain } = await loadCensus();
    for (const method of ['ssp', 'sspNewton'] as const) {
      const plan = request(domain, 'logistic', 1, method);
      const r = await timed(db, plan);
      lines.push(`| census adults (train split) | 24k | logistic, ${plan.encoding.p} columns | ${method} | ${plan.measurements.length} | ${(r.ms / 1000).toFixed(2)} s | ${mb(r.before)} | ${mb(r.peak)} |`);
    }
    await db.close();
  }
  const health = demoDomain('health');
  const db = await openDomainDatabase(health, { dataDir: 'memory://' });
  await migrate(db);
  const t0 = performance.now();
  await seedDomain(db, health, { rows: { visits: args.visits } });
  console.error(`seeded ${args.visits} visits in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const visits = health.datasets.find((d) => d.name === 'visits')!;
  const base = { domain: health, dataset: visits, target: 'lengthOfStay', features: ['patientAge', 'sex', 'department', 'diagnosisGroup', 'cost'], privacy: { epsilon: 1, delta: DELTA } };
  for (const [kind, method] of [['linear', 'ssp'], ['logistic', 'sspNewton']] as const) {
    const plan = buildTrainingPlan({ ...base, kind, method, threshold: kind === 'logistic' ? 2 : null });
    const r = await timed(db, plan);
    lines.push(`| health visits (${plan.rowsPerUnit} rows per patient) | ${args.visits.toLocaleString('en-US')} | ${kind}, ${plan.encoding.p} columns | ${method} | ${plan.measurements.length} | ${(r.ms / 1000).toFixed(2)} s | ${mb(r.before)} | ${mb(r.peak)} |`);
    console.error(`visits ${kind}: ${(r.ms / 1000).toFixed(1)} s`);
  }
  lines.push('');
  await db.close();
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const lines = ['# DP machine learning benchmark', '', `Generated by \`npm run bench:ml\` on ${new Date().toISOString().slice(0, 10)}; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(1)} at start.`, ''];
  const anchors = ['Anchors (published, Adult, epsilon 1): objective perturbation AUC ≈ 0.88; logistic regression on AIM-synthetic marginals ≈ 0.875; non-private ≈ 0.90.', ''];
  // Written after each part, so a long scale run never loses the accuracy tables.
  const write = () => writeFileSync(args.out, [...lines, ...anchors].join('\n'));
  await accuracy(args, lines);
  write();
  if (args.scale) await scale(args, lines);
  write();
  console.log([...lines, ...anchors].join('\n'));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
