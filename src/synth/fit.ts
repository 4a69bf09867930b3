/**
 * Fitting: spend one zCDP budget rho on noisy marginals, then estimate a junction-tree model from
 * them (post-processing). Both methods start the same way:
 *
 *   1. measure every one-way marginal (discrete Gaussian noise) and compress values whose noisy
 *      count is below 3σ into one code (MST's trick; it shrinks every later table).
 *
 * method 'mst' (McKenna, Miklau, Sheldon 2021), a third of rho per step:
 *   2. choose a maximum spanning tree of pairs, each edge by the exponential mechanism on how badly the
 *      independent model gets that pair's 2-way marginal wrong; 3. measure those 2-way marginals.
 *
 * method 'aim' (default; McKenna et al. 2022, "AIM"), see aim.ts:
 *   2'. rounds that privately pick the 2- or 3-way marginal the current model gets most wrong
 *      beyond the noise its measurement would carry, measure it, and re-estimate.
 *
 * Finally the model is estimated from all measurements (estimate.ts, Private-PGM-style mirror
 * descent). The steps and their noise follow a plan fixed before any data is read (plan.ts), which
 * is what the accountant charged; a ledger refuses anything beyond it.
 */
import { currentRandom, type RandomSource } from '../dp/random.js';
import { fitSchedule, planFit, type FitSchedule, type FitShape } from './plan.js';
import { exponentialMechanism, utilitiesOf, utilitySensitivity } from './select.js';
import { codeMap, compressColumn, compressedSize, multiplicity, type ColumnCompression } from './compress.js';
import { estimate, expandPotentials, type Estimate, type Measurement } from './estimate.js';
import { Projector, TreeModel } from './inference.js';
import { MODEL_FORMAT, type PrivacyReport, type PrivacyStep, type SynthModel } from './model.js';
import { addNoise, type GaussianScale } from './noise.js';
import { cellCount, IndexMaps, recodeTable } from './tensor.js';
import type { Domain, MarginalOracle } from './types.js';
import { aimRounds } from './aim.js';

export interface FitOptions {
  /** Budget as zCDP rho, or as (epsilon, delta): the largest rho the accountant proves at (epsilon, delta) (plan.ts). */
  rho?: number;
  epsilon?: number;
  delta?: number;
  /** Max rows one privacy unit contributes to the oracle's counts (l1 = l2 sensitivity). */
  contributionBound?: number;
  /** Source of all noise and selection randomness. */
  rng?: RandomSource;
  /** 'aim' (default): adaptive 2-/3-way rounds. 'mst': maximum spanning tree of pairs. */
  method?: 'mst' | 'aim';
  /** Share of rho for the one-way measurements (default: 'aim' 0.4, 'mst' 1/3). */
  oneWayShare?: number;
  /** 'mst': share of rho for the spanning-tree selection (default 1/3). */
  treeSelectionShare?: number;
  /** 'aim': number of 2-/3-way measurements (default 20). */
  adaptiveRounds?: number;
  /** 'aim': cliques picked per scoring of the model (default 2; 1 is AIM proper, slower). */
  picksPerRound?: number;
  /** 'aim': largest junction tree (total cells) the model may grow to (default 20,000). */
  maxModelCells?: number;
  /** 'aim': warm-started mirror-descent iterations after each round (default 50). */
  roundIterations?: number;
  /** Maximum mirror-descent iterations of the final estimation (it also stops at the noise floor). */
  iterations?: number;
  /** Receives progress messages (timings, model sizes); they reveal nothing beyond DP outputs. */
  log?: (message: string) => void;
}

/** Charges each step and refuses to overspend. */
export class Ledger {
  readonly steps: PrivacyStep[] = [];
  private spent = 0;
  constructor(readonly rho: number) {}

  get remaining(): number {
    return this.rho - this.spent;
  }

  charge(step: PrivacyStep): void {
    if (this.spent + step.rho > this.rho * (1 + 1e-9)) throw new Error(`privacy budget exceeded: ${this.spent + step.rho} > ${this.rho}`);
    this.spent += step.rho;
    this.steps.push(step);
  }
}

/** Everything a fit needs while it runs: oracle access in compressed codes, noise, ledger. */
export class FitContext {
  compression: ColumnCompression[] = [];
  sizes: number[];
  /** Progress messages (FitOptions.log). */
  log: (message: string) => void = () => {};
  /** Index maps shared by every model of this fit (they depend only on the sizes). */
  maps?: IndexMaps;
  private readonly exactCache = new Map<string, Float64Array>();
  readonly measurements: Measurement[] = [];

  constructor(
    readonly oracle: MarginalOracle,
    readonly domain: Domain,
    readonly ledger: Ledger,
    readonly rng: RandomSource,
    readonly sensitivity: number,
    readonly schedule: FitSchedule,
  ) {
    this.sizes = domain.map((c) => c.size);
  }

  /** Switch to compressed codes; exact tables cached in the original codes are dropped. */
  setCompression(c: ColumnCompression[]): void {
    this.compression = c;
    this.sizes = c.map(compressedSize);
    this.exactCache.clear();
  }

  names(attrs: readonly number[]): string[] {
    return attrs.map((a) => this.domain[a]!.name);
  }

  /** Exact counts over attrs (sorted), in the current (compressed) coding. Never released as is. */
  async exact(attrs: readonly number[]): Promise<Float64Array> {
    const key = attrs.join(',');
    const hit = this.exactCache.get(key);
    if (hit) return hit;
    const raw = await this.oracle(this.names(attrs));
    const origDims = attrs.map((a) => this.domain[a]!.size);
    if (raw.length !== origDims.reduce((x, y) => x * y, 1)) throw new Error(`oracle returned ${raw.length} cells for ${this.names(attrs).join(',')}`);
    const table = this.compression.length === 0 ? Float64Array.from(raw) : recodeTable(raw, origDims, attrs.map((a) => this.sizes[a]!), attrs.map((a) => codeMap(this.compression[a]!)));
    this.exactCache.set(key, table);
    return table;
  }

  /** Noisy measurement of the marginal over attrs at a scale of the plan. */
  async measure(attrs: readonly number[], scale: GaussianScale): Promise<Measurement> {
    this.chargeMeasure(attrs, scale);
    const y = addNoise(await this.exact(attrs), scale, this.rng);
    const m: Measurement = { clique: [...attrs], y, variance: new Float64Array(y.length).fill(scale.variance) };
    this.measurements.push(m);
    return m;
  }

  chargeMeasure(attrs: readonly number[], scale: GaussianScale): void {
    this.ledger.charge({ kind: 'measure', columns: this.names(attrs), cells: cellCount(attrs, this.sizes), sigma: Math.sqrt(scale.variance), sensitivity: this.sensitivity, rho: scale.rho });
  }

  /** Exponential-mechanism selection over candidate scores (sensitivity 1 per contribution). */
  select(labels: string[][], scores: number[]): number {
    return this.selectWeighted(labels, scores, 1);
  }

  /**
   * Exponential mechanism at the plan's selection epsilon, where each score is a weight
   * (<= maxWeight, an integer) times a sensitivity-1 quantity: the score moves by at most
   * maxWeight * contributionBound, and the integer utilities by what the rounding allows
   * (utilitySensitivity, select.ts).
   */
  selectWeighted(labels: string[][], scores: number[], maxWeight: number): number {
    const epsilon = this.schedule.selectEpsilon;
    const sensitivity = utilitySensitivity(maxWeight * this.sensitivity);
    const idx = exponentialMechanism(utilitiesOf(scores), epsilon, sensitivity, this.rng);
    this.ledger.charge({ kind: 'select', chosen: labels[idx]!, candidates: scores.length, epsilon, sensitivity, rho: this.schedule.selectRho });
    return idx;
  }
}

/** The plan's public shape for these options. */
export function shapeOf(domain: Domain, o: FitOptions): FitShape {
  const method = o.method ?? 'aim';
  return {
    columns: domain.length,
    method,
    contributionBound: o.contributionBound ?? 1,
    ...(method === 'aim' ? { rounds: o.adaptiveRounds ?? 20 } : {}),
    ...(o.oneWayShare !== undefined ? { oneWayShare: o.oneWayShare } : {}),
    ...(method === 'mst' && o.treeSelectionShare !== undefined ? { selectionShare: o.treeSelectionShare } : {}),
  };
}

function resolveBudget(o: FitOptions, shape: FitShape): { rho: number; epsilon?: number; delta?: number } {
  if (o.rho !== undefined) {
    if (!(o.rho > 0 && Number.isFinite(o.rho))) throw new RangeError('rho must be a positive number');
    return { rho: o.rho };
  }
  if (o.epsilon === undefined || o.delta === undefined) throw new RangeError('give rho, or epsilon and delta');
  return { rho: planFit(o.epsilon, o.delta, shape).rho, epsilon: o.epsilon, delta: o.delta };
}

function validateDomain(domain: Domain): void {
  if (domain.length < 1) throw new RangeError('empty domain');
  const seen = new Set<string>();
  for (const c of domain) {
    if (!Number.isInteger(c.size) || c.size < 1) throw new RangeError(`column ${c.name}: size must be a positive integer`);
    if (seen.has(c.name)) throw new RangeError(`duplicate column ${c.name}`);
    seen.add(c.name);
  }
}

/**
 * Step 1: one-way marginals on the original codes, then compress values below 3σ and re-express
 * each measurement on the compressed codes (a merged cell's noise variance is the sum of its
 * members').
 */
async function measureOneWays(ctx: FitContext): Promise<void> {
  const d = ctx.domain.length;
  const scale = ctx.schedule.oneWay;
  const noisy: Float64Array[] = [];
  for (let a = 0; a < d; a++) {
    ctx.chargeMeasure([a], scale);
    noisy.push(addNoise(await ctx.exact([a]), scale, ctx.rng));
  }
  const sigma = Math.sqrt(scale.variance);
  ctx.setCompression(noisy.map((y) => compressColumn(y, 3 * sigma)));
  for (let a = 0; a < d; a++) {
    const c = ctx.compression[a]!;
    const y = recodeTable(noisy[a]!, [ctx.domain[a]!.size], [ctx.sizes[a]!], [codeMap(c)]);
    const variance = multiplicity(c).map((k) => k * scale.variance);
    ctx.measurements.push({ clique: [a], y, variance });
  }
}

export interface Fitted {
  model: TreeModel;
  est: Estimate;
  /** Marginal queries on this fit, created on first use (caches clique marginals). */
  projector?: Projector;
}

/** Estimate a model over the given measurements, warm-started from a previous fit if any. */
export function refit(ctx: FitContext, iters: number, prev?: Fitted): Fitted {
  if (ctx.maps?.sizes !== ctx.sizes) ctx.maps = new IndexMaps(ctx.sizes);
  const model = new TreeModel(ctx.sizes, ctx.measurements.map((m) => m.clique), ctx.maps);
  const theta = prev ? expandPotentials(prev.model, prev.est.theta, model) : undefined;
  const t0 = performance.now();
  // A warm start also keeps the step size the previous fit had grown to.
  const est = estimate(model, ctx.measurements, { iters, ...(theta ? { theta } : {}), ...(prev ? { step: prev.est.step } : {}) });
  ctx.log(`estimated ${model.jt.cliques.length} cliques (${model.size} cells) from ${ctx.measurements.length} measurements: ${est.iterations} iterations, loss ${est.loss.toFixed(1)}, ${(performance.now() - t0).toFixed(0)} ms`);
  return { model, est };
}

/**
 * L1 distance between the exact marginal and the model's estimate of it (null when the model
 * cannot project onto attrs within its memory cap; callers then skip that candidate, a decision
 * that depends only on the model's structure, not on the data).
 */
export async function l1Error(ctx: FitContext, fitted: Fitted, attrs: number[]): Promise<number | null> {
  fitted.projector ??= new Projector(fitted.model, fitted.est.beliefs);
  const est = fitted.projector.project(attrs);
  if (!est) return null;
  const x = await ctx.exact(attrs);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.abs(x[i]! - est[i]!);
  return s;
}

/**
 * Step 2: Kruskal with a private choice per edge. Candidates are pairs joining two components;
 * the utility is the L1 error of the independent model on that pair (sensitivity 1 per row).
 */
async function selectTree(ctx: FitContext, fitted: Fitted): Promise<number[][]> {
  const d = ctx.domain.length;
  const pairs: number[][] = [];
  for (let a = 0; a < d; a++) for (let b = a + 1; b < d; b++) pairs.push([a, b]);
  const score = new Map<string, number>();
  for (const p of pairs) score.set(p.join(','), (await l1Error(ctx, fitted, p)) ?? 0);
  const comp = Array.from({ length: d }, (_, i) => i);
  const find = (x: number): number => (comp[x] === x ? x : (comp[x] = find(comp[x]!)));
  const edges: number[][] = [];
  const rounds = d - 1;
  for (let r = 0; r < rounds; r++) {
    const cands = pairs.filter(([a, b]) => find(a!) !== find(b!));
    const idx = ctx.select(cands.map((p) => ctx.names(p)), cands.map((p) => score.get(p.join(','))!));
    const [a, b] = cands[idx]!;
    comp[find(a!)] = find(b!);
    edges.push(cands[idx]!);
  }
  return edges;
}

/** Normalised clique marginals for the stored model. */
function toModel(ctx: FitContext, fitted: Fitted, method: 'mst' | 'aim', privacy: PrivacyReport): SynthModel {
  const { jt } = fitted.model;
  const total = fitted.est.total;
  return {
    format: MODEL_FORMAT,
    version: 1,
    method,
    domain: ctx.domain.map((c) => ({ name: c.name, size: c.size })),
    compression: ctx.compression,
    cliques: jt.cliques,
    parent: jt.parent,
    separators: jt.separators,
    order: jt.order,
    marginals: fitted.est.beliefs.map((b) => Array.from(b, (v) => v / total)),
    estimatedRows: total,
    privacy,
  };
}

/** MST: one-ways, a spanning tree chosen edge by edge, its 2-way marginals. */
async function runMst(ctx: FitContext, o: FitOptions): Promise<Fitted> {
  await measureOneWays(ctx);
  const fitted = refit(ctx, 200);
  const edges = await selectTree(ctx, fitted);
  for (const e of edges) await ctx.measure(e, ctx.schedule.measure);
  return refit(ctx, o.iterations ?? 1000);
}

/** AIM-style: one-ways, then adaptive rounds of 2-/3-way marginals. */
async function runAim(ctx: FitContext, o: FitOptions): Promise<Fitted> {
  await measureOneWays(ctx);
  let fitted = refit(ctx, 200);
  fitted = await aimRounds(ctx, fitted, {
    maxModelCells: o.maxModelCells ?? 20_000,
    roundIterations: o.roundIterations ?? 50,
    picksPerRound: o.picksPerRound ?? 2,
  });
  return refit(ctx, o.iterations ?? 2000, fitted);
}

/** Sum of the zCDP costs of a schedule's steps (the fit's budget as it will be reported). */
const scheduleRho = (s: FitSchedule, d: number) => d * s.oneWay.rho + s.steps * (s.selectRho + s.measure.rho);

/** Fit a DP synthetic-data model. Spends at most its plan (exactly, unless rounds ran out of candidates). */
export async function fit(oracle: MarginalOracle, domain: Domain, options: FitOptions = {}): Promise<SynthModel> {
  validateDomain(domain);
  const method = options.method ?? 'aim';
  const contributionBound = options.contributionBound ?? 1;
  if (!Number.isInteger(contributionBound) || contributionBound < 1) throw new RangeError('contributionBound must be a positive integer');
  const shape = shapeOf(domain, options);
  const budget = resolveBudget(options, shape);
  const schedule = fitSchedule(budget.rho, shape);
  const ledger = new Ledger(scheduleRho(schedule, domain.length));
  const ctx = new FitContext(oracle, domain, ledger, options.rng ?? currentRandom(), contributionBound, schedule);
  if (options.log) ctx.log = options.log;
  let fitted: Fitted;
  if (domain.length === 1) {
    await measureOneWays(ctx);
    fitted = refit(ctx, options.iterations ?? 1000);
  } else {
    fitted = method === 'mst' ? await runMst(ctx, options) : await runAim(ctx, options);
  }
  const privacy: PrivacyReport = { rho: ledger.rho, ...(budget.epsilon !== undefined ? { epsilon: budget.epsilon, delta: budget.delta } : {}), contributionBound, steps: ledger.steps };
  return toModel(ctx, fitted, method, privacy);
}
