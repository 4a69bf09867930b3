/**
 * Fitting: spend one zCDP budget rho on noisy marginals, then estimate a junction-tree model from
 * them (post-processing). Both methods start the same way:
 *
 *   1. measure every one-way marginal (discrete Gaussian noise) and compress values whose noisy
 *      count is below 3σ into one code (MST's trick; it shrinks every later table).
 *
 * method 'mst' (McKenna, Miklau, Sheldon 2021), a third of rho per step:
 *   2. choose a maximum spanning tree of pairs, each edge by permute-and-flip on how badly the
 *      independent model gets that pair's 2-way marginal wrong; 3. measure those 2-way marginals.
 *
 * method 'aim' (default; McKenna et al. 2022, "AIM"), see aim.ts:
 *   2'. rounds that privately pick the 2- or 3-way marginal the current model gets most wrong
 *      beyond the noise its measurement would carry, measure it, and re-estimate.
 *
 * Finally the model is estimated from all measurements (estimate.ts, Private-PGM-style mirror
 * descent). Every step charges a ledger that refuses to exceed rho, and the whole budget is spent.
 */
import { currentRandom, type RandomSource } from '../dp/random.js';
import { permuteAndFlip } from '../dp/selection.js';
import { rhoFromEpsilonDelta, selectionEpsilon, selectionRho } from './budget.js';
import { codeMap, compressColumn, compressedSize, multiplicity, type ColumnCompression } from './compress.js';
import { estimate, expandPotentials, type Estimate, type Measurement } from './estimate.js';
import { Projector, TreeModel } from './inference.js';
import { MODEL_FORMAT, type PrivacyReport, type PrivacyStep, type SynthModel } from './model.js';
import { addNoise, gaussianScale, type GaussianScale } from './noise.js';
import { cellCount, IndexMaps, recodeTable } from './tensor.js';
import type { Domain, MarginalOracle } from './types.js';
import { aimRounds } from './aim.js';

export interface FitOptions {
  /** Budget as zCDP rho, or as (epsilon, delta) converted with the tight CKS bound. */
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

  /** Noisy measurement of the marginal over attrs, spending rho. */
  async measure(attrs: readonly number[], rho: number): Promise<Measurement> {
    const scale = gaussianScale(rho, this.sensitivity);
    this.chargeMeasure(attrs, scale);
    const y = addNoise(await this.exact(attrs), scale, this.rng);
    const m: Measurement = { clique: [...attrs], y, variance: new Float64Array(y.length).fill(scale.variance) };
    this.measurements.push(m);
    return m;
  }

  chargeMeasure(attrs: readonly number[], scale: GaussianScale): void {
    this.ledger.charge({ kind: 'measure', columns: this.names(attrs), cells: cellCount(attrs, this.sizes), sigma: Math.sqrt(scale.variance), sensitivity: this.sensitivity, rho: scale.rho });
  }

  /** Permute-and-flip over candidate scores (sensitivity 1 per contribution), spending rho. */
  select(labels: string[][], scores: number[], rho: number): number {
    return this.selectWeighted(labels, scores, rho, 1);
  }

  /**
   * Permute-and-flip where each score is a weight (<= maxWeight) times a sensitivity-1 quantity,
   * so the utility's sensitivity is maxWeight per contribution.
   */
  selectWeighted(labels: string[][], scores: number[], rho: number, maxWeight: number): number {
    // Utilities must be integers: scale by 8 and floor. For |a - b| <= 8Δ, |floor a - floor b| <= 8Δ,
    // so the sensitivity scales exactly with the resolution.
    const resolution = 8;
    const epsilon = selectionEpsilon(rho) * (1 - 1e-12);
    const sensitivity = maxWeight * this.sensitivity;
    const utilities = scores.map((s) => BigInt(Math.floor(Math.max(-1e15, s) * resolution)));
    const idx = permuteAndFlip(utilities, epsilon, resolution * sensitivity, this.rng);
    this.ledger.charge({ kind: 'select', chosen: labels[idx]!, candidates: scores.length, epsilon, sensitivity, rho: selectionRho(epsilon) });
    return idx;
  }
}

function resolveBudget(o: FitOptions): { rho: number; epsilon?: number; delta?: number } {
  if (o.rho !== undefined) {
    if (!(o.rho > 0 && Number.isFinite(o.rho))) throw new RangeError('rho must be a positive number');
    return { rho: o.rho };
  }
  if (o.epsilon === undefined || o.delta === undefined) throw new RangeError('give rho, or epsilon and delta');
  return { rho: rhoFromEpsilonDelta(o.epsilon, o.delta), epsilon: o.epsilon, delta: o.delta };
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
async function measureOneWays(ctx: FitContext, rho: number): Promise<void> {
  const d = ctx.domain.length;
  const scale = gaussianScale(rho / d, ctx.sensitivity);
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
async function selectTree(ctx: FitContext, fitted: Fitted, rho: number): Promise<number[][]> {
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
    const idx = ctx.select(cands.map((p) => ctx.names(p)), cands.map((p) => score.get(p.join(','))!), rho / rounds);
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

/**
 * If the adaptive rounds stopped early (no admissible candidate left), spend what is left on a
 * second measurement of every one-way marginal, so the fit always uses its whole budget.
 */
async function spendRemainder(ctx: FitContext): Promise<void> {
  const left = ctx.ledger.remaining;
  if (left <= ctx.ledger.rho * 1e-9) return;
  const d = ctx.domain.length;
  for (let a = 0; a < d; a++) await ctx.measure([a], a === d - 1 ? ctx.ledger.remaining : left / d);
}

/** MST: a third each for one-ways, tree selection and tree measurement. */
async function runMst(ctx: FitContext, rho: number, o: FitOptions): Promise<Fitted> {
  const oneWay = o.oneWayShare ?? 1 / 3;
  const treeSel = o.treeSelectionShare ?? 1 / 3;
  await measureOneWays(ctx, rho * oneWay);
  const fitted = refit(ctx, 200);
  const edges = await selectTree(ctx, fitted, rho * treeSel);
  const measureRho = ctx.ledger.remaining;
  for (const e of edges) await ctx.measure(e, measureRho / edges.length);
  return refit(ctx, o.iterations ?? 1000);
}

/** AIM-style: one-ways, then adaptive rounds of 2-/3-way marginals. */
async function runAim(ctx: FitContext, rho: number, o: FitOptions): Promise<Fitted> {
  await measureOneWays(ctx, rho * (o.oneWayShare ?? 0.4));
  let fitted = refit(ctx, 200);
  fitted = await aimRounds(ctx, fitted, ctx.ledger.remaining, {
    rounds: o.adaptiveRounds ?? 20,
    maxModelCells: o.maxModelCells ?? 20_000,
    roundIterations: o.roundIterations ?? 50,
    picksPerRound: o.picksPerRound ?? 2,
  });
  await spendRemainder(ctx);
  return refit(ctx, o.iterations ?? 2000, fitted);
}

/** Fit a DP synthetic-data model. Spends exactly the given budget. */
export async function fit(oracle: MarginalOracle, domain: Domain, options: FitOptions = {}): Promise<SynthModel> {
  validateDomain(domain);
  const budget = resolveBudget(options);
  const method = options.method ?? 'aim';
  const contributionBound = options.contributionBound ?? 1;
  if (!Number.isInteger(contributionBound) || contributionBound < 1) throw new RangeError('contributionBound must be a positive integer');
  const ledger = new Ledger(budget.rho);
  const ctx = new FitContext(oracle, domain, ledger, options.rng ?? currentRandom(), contributionBound);
  if (options.log) ctx.log = options.log;
  let fitted: Fitted;
  if (domain.length === 1) {
    await measureOneWays(ctx, budget.rho);
    fitted = refit(ctx, options.iterations ?? 1000);
  } else {
    fitted = method === 'mst' ? await runMst(ctx, budget.rho, options) : await runAim(ctx, budget.rho, options);
  }
  const privacy: PrivacyReport = { rho: budget.rho, ...(budget.epsilon !== undefined ? { epsilon: budget.epsilon, delta: budget.delta } : {}), contributionBound, steps: ledger.steps };
  return toModel(ctx, fitted, method, privacy);
}
