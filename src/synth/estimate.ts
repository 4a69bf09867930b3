/**
 * Private-PGM-style estimation: find the graphical model whose clique marginals best fit the noisy
 * measurements, i.e. minimise L(μ) = Σ_m Σ_cells (μ_m - y_m)² / (2 var_m) over the marginal
 * polytope of the junction tree. The solution is consistent (all marginals come from one
 * distribution) and non-negative by construction, which is exactly what turns noisy, mutually
 * inconsistent marginals into something we can sample from; least squares weighted by 1/variance
 * is the maximum-likelihood fit under Gaussian noise.
 *
 * Solver: entropic mirror descent on the potentials θ (McKenna, Sheldon, Miklau 2019, Alg. 1)
 * with an Armijo line search, warm-startable from a previous fit. It stops once the loss stalls
 * at the noise floor (see EstimateOptions.tol): on Adult at epsilon 1, running it to full
 * convergence measurably fits the noise (worse marginals), while at epsilon 10 stopping early
 * leaves the fit visibly unconverged; a stall criterion in χ² units serves both.
 * Everything here is post-processing of the measurements: it costs no privacy.
 */
import type { TreeModel } from './inference.js';
import { addBroadcast, isSubset } from './tensor.js';
import type { Clique } from './types.js';

export interface Measurement {
  /** Sorted attribute indices (in the compressed domain the model is fitted on). */
  clique: number[];
  /** Noisy counts, row-major over `clique`. */
  y: Float64Array;
  /** Noise variance of each cell of y. */
  variance: Float64Array;
}

export interface EstimateOptions {
  /** Maximum mirror-descent iterations. */
  iters?: number;
  /**
   * Stop when the loss improved by less than `tol` per measured cell over the last 50
   * iterations. The loss is a χ²-type sum (≈ 1/2 per measured cell at the truth), so once it moves
   * by a small fraction of a unit per cell, further fitting only chases noise: this stops early
   * when the noise is large (small epsilon) and keeps going when the measurements are precise.
   */
  tol?: number;
  /** Potentials to start from (e.g. the previous round's fit, expanded to the new tree). */
  theta?: Float64Array[];
  /**
   * Initial step size, as a multiple of the safe 1/(L·N). A warm-started refit passes the step
   * size the previous fit ended with, instead of re-growing it from the safe value.
   */
  step?: number;
}

export interface Estimate {
  theta: Float64Array[];
  beliefs: Float64Array[];
  total: number;
  loss: number;
  iterations: number;
  /** Step size reached, as a multiple of 1/(L·N) (see EstimateOptions.step). */
  step: number;
}

/**
 * Minimum-variance unbiased estimate of the number of rows from every measurement's noisy sum
 * (each sum is an unbiased estimate of N with variance Σ var).
 */
export function estimateTotal(ms: readonly Measurement[]): number {
  let num = 0;
  let den = 0;
  for (const m of ms) {
    let s = 0;
    let v = 0;
    for (let i = 0; i < m.y.length; i++) [s, v] = [s + m.y[i]!, v + m.variance[i]!];
    num += s / v;
    den += 1 / v;
  }
  return den > 0 ? Math.max(1, num / den) : 1;
}

/**
 * The measurements inside one maximal clique, organised as a forest of distinct attribute sets
 * ("nodes"): each node's marginal is computed from its smallest measured superset rather than
 * from the whole clique, and gradients flow back the same way. With a 1-way, a 2-way and a 3-way
 * measurement nested in one clique, that is one pass over the clique instead of three each way.
 */
interface Node {
  attrs: number[];
  /** Index of the parent node in the clique's node list, or -1 for the clique itself. */
  parent: number;
  /** Map from the parent's table (or the clique's) to this node's table. */
  map: Int32Array;
  cells: number;
  /** Σ_m w_m and Σ_m w_m y_m per cell over the measurements on exactly these attributes. */
  w: Float64Array;
  wy: Float64Array;
  /** Σ_m Σ_cells w_m y_m² / 2: the loss's constant term. */
  c: number;
  /** The node covers its parent's attributes exactly (its map is the identity). */
  identity: boolean;
  /** Scratch buffers for the node's marginal and gradient, reused across iterations. */
  mu: Float64Array;
  grad: Float64Array;
}

interface Bound {
  clique: number;
  nodes: Node[]; // parents before children
  /**
   * The top nodes that need a pass over the clique (parent -1, not the clique itself) are served
   * by one fused pass: for clique cell i and top node t, fused[i*T + t] is the index of that
   * cell's image in the concatenated buffers muAll / gradAll (each top node's mu and grad are
   * views into them). Reading the belief once instead of T times, and writing each gradient cell
   * once, is what makes a clique holding several measured 3-ways cheap.
   */
  tops: number;
  fused: Int32Array;
  muAll: Float64Array;
  gradAll: Float64Array;
}

function bind(model: TreeModel, ms: readonly Measurement[]): Bound[] {
  const byClique = new Map<number, Measurement[]>();
  for (const m of ms) {
    const k = model.cliqueFor(m.clique);
    if (k < 0) throw new Error(`measurement on ${m.clique.join(',')} is not inside the model`);
    byClique.set(k, [...(byClique.get(k) ?? []), m]);
  }
  return [...byClique].map(([k, list]) => fuse(model, k, nodesFor(model, model.jt.cliques[k]!, list)));
}

function fuse(model: TreeModel, clique: number, nodes: Node[]): Bound {
  const tops = nodes.filter((n) => n.parent < 0 && !n.identity);
  const total = tops.reduce((s, n) => s + n.cells, 0);
  const muAll = new Float64Array(total);
  const gradAll = new Float64Array(total);
  const len = model.cliqueCells[clique]!;
  const T = tops.length;
  const fused = new Int32Array(len * T);
  let offset = 0;
  tops.forEach((n, t) => {
    for (let i = 0; i < len; i++) fused[i * T + t] = offset + n.map[i]!;
    n.mu = muAll.subarray(offset, offset + n.cells);
    n.grad = gradAll.subarray(offset, offset + n.cells);
    offset += n.cells;
  });
  return { clique, nodes, tops: T, fused, muAll, gradAll };
}

function nodesFor(model: TreeModel, clique: number[], list: Measurement[]): Node[] {
  const sets = new Map<string, Measurement[]>();
  for (const m of list) sets.set(m.clique.join(','), [...(sets.get(m.clique.join(',')) ?? []), m]);
  const distinct = [...sets.values()].sort((a, b) => b[0]!.clique.length - a[0]!.clique.length);
  const nodes: Node[] = [];
  for (const group of distinct) {
    const attrs = group[0]!.clique;
    let parent = -1;
    nodes.forEach((n, i) => {
      if (isSubset(attrs, n.attrs) && (parent < 0 || n.cells < nodes[parent]!.cells)) parent = i;
    });
    const cells = group[0]!.y.length;
    const w = new Float64Array(cells);
    const wy = new Float64Array(cells);
    let c = 0;
    for (const m of group) {
      for (let i = 0; i < cells; i++) {
        const wi = 1 / m.variance[i]!;
        w[i]! += wi;
        wy[i]! += wi * m.y[i]!;
        c += 0.5 * wi * m.y[i]! * m.y[i]!;
      }
    }
    const from = parent < 0 ? clique : nodes[parent]!.attrs;
    const identity = from.length === attrs.length;
    nodes.push({ attrs, parent, map: model.maps.get(from, attrs), cells, w, wy, c, identity, mu: new Float64Array(cells), grad: new Float64Array(cells) });
  }
  return nodes;
}

/** Loss and its gradient with respect to each clique marginal. */
function lossAndGradient(model: TreeModel, bound: Bound[], beliefs: Float64Array[]): { loss: number; grad: Float64Array[] } {
  const grad = model.zeroPotentials();
  let loss = 0;
  for (const b of bound) {
    const { nodes, tops: T, fused, muAll, gradAll } = b;
    const belief = beliefs[b.clique]!;
    const G = grad[b.clique]!;
    // Marginals top-down: the top nodes in one fused pass, then nested nodes from their parent.
    if (T > 0) {
      muAll.fill(0);
      for (let i = 0, base = 0; i < belief.length; i++, base += T) {
        const v = belief[i]!;
        for (let t = 0; t < T; t++) muAll[fused[base + t]!]! += v;
      }
    }
    for (const n of nodes) {
      if (n.parent >= 0) marginalizeInto(nodes[n.parent]!.mu, n.map, n.mu);
      else if (n.identity) n.mu = belief;
    }
    // Gradients bottom-up: nested nodes push into their parent's, identity nodes write the
    // clique's gradient directly, top nodes are gathered in one fused pass below.
    gradAll.fill(0);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i]!;
      const mu = n.mu;
      const g = n.identity && n.parent < 0 ? G : n.grad;
      loss += n.c;
      for (let j = 0; j < mu.length; j++) {
        const m = mu[j]!;
        loss += m * (0.5 * n.w[j]! * m - n.wy[j]!);
        g[j]! += n.w[j]! * m - n.wy[j]!;
      }
      if (n.parent < 0) continue;
      const target = nodes[n.parent]!.identity && nodes[n.parent]!.parent < 0 ? G : nodes[n.parent]!.grad;
      if (n.identity) for (let j = 0; j < g.length; j++) target[j]! += g[j]!;
      else addBroadcast(target, n.map, g);
      g.fill(0);
    }
    if (T > 0) {
      for (let i = 0, base = 0; i < G.length; i++, base += T) {
        let acc = G[i]!;
        for (let t = 0; t < T; t++) acc += gradAll[fused[base + t]!]!;
        G[i] = acc;
      }
    }
  }
  return { loss, grad };
}

/** out[map[i]] += values[i], into a zeroed reusable buffer. */
function marginalizeInto(values: Float64Array, map: Int32Array, out: Float64Array): void {
  out.fill(0);
  for (let i = 0; i < values.length; i++) out[map[i]!]! += values[i]!;
}

function dot(a: Float64Array[], b: Float64Array[], c: Float64Array[]): number {
  // <a, b - c>
  let s = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]!;
    const y = b[k]!;
    const z = c[k]!;
    for (let i = 0; i < x.length; i++) s += x[i]! * (y[i]! - z[i]!);
  }
  return s;
}

function step(theta: Float64Array[], grad: Float64Array[], alpha: number, reuse?: Float64Array[]): Float64Array[] {
  return theta.map((t, k) => {
    const g = grad[k]!;
    const out = reuse?.[k] ?? new Float64Array(t.length);
    for (let i = 0; i < t.length; i++) out[i] = t[i]! - alpha * g[i]!;
    return out;
  });
}

/** Fit the model's potentials to the measurements. */
export function estimate(model: TreeModel, ms: readonly Measurement[], opts: EstimateOptions = {}): Estimate {
  const iters = opts.iters ?? 1000;
  const tol = opts.tol ?? 0.01;
  const window = 50;
  const total = estimateTotal(ms);
  const bound = bind(model, ms);
  const cells = ms.reduce((s, m) => s + m.y.length, 0);
  let theta = opts.theta ?? model.zeroPotentials();
  let beliefs = model.propagate(theta, total);
  let { loss, grad } = lossAndGradient(model, bound, beliefs);
  // The gradient is Lipschitz with constant max_cell Σ_m weight; on the polytope scaled to
  // `total` the entropic mirror map is (1/total)-strongly convex, so 1/(L·total) is a safe start.
  const lipschitz = bound.reduce((s, b) => s + b.nodes.reduce((t, n) => t + Math.max(...n.w), 0), 0);
  const unit = 1 / (lipschitz * total);
  let alpha = (opts.step ?? 2) * unit;
  // Private-PGM's schedule: grow the step by 1% after an accepted step, halve it after a rejected one.
  const growth = 1.01;
  const history: number[] = [loss];
  let t = 0;
  // Buffers of the last rejected (or superseded) iterate, reused by the next trial step.
  let spareTheta: Float64Array[] | undefined;
  let spareBeliefs: Float64Array[] | undefined;
  for (; t < iters; t++) {
    const theta2 = step(theta, grad, alpha, spareTheta);
    const beliefs2 = model.propagate(theta2, total, spareBeliefs);
    const next = lossAndGradient(model, bound, beliefs2);
    // Armijo: accept when the decrease is at least half the first-order prediction.
    if (loss - next.loss >= 0.5 * alpha * dot(grad, beliefs, beliefs2)) {
      [spareTheta, spareBeliefs] = [theta === opts.theta ? undefined : theta, beliefs];
      [theta, beliefs, loss, grad] = [theta2, beliefs2, next.loss, next.grad];
      alpha *= growth;
    } else {
      [spareTheta, spareBeliefs] = [theta2, beliefs2];
      alpha *= 0.5;
    }
    history.push(loss);
    if (t >= window && history[t - window]! - loss <= tol * cells) break;
  }
  return { theta, beliefs, total, loss, iterations: t, step: alpha / unit };
}

/**
 * Re-express potentials of an earlier model on a new one (each old clique's potential is added to
 * a new clique containing it), so a refit after adding measurements starts from the old solution.
 */
export function expandPotentials(from: TreeModel, theta: readonly Float64Array[], to: TreeModel): Float64Array[] {
  const out = to.zeroPotentials();
  from.jt.cliques.forEach((c: Clique, k) => {
    const target = to.cliqueFor(c);
    if (target < 0) return; // the new triangulation split this clique: start it from zero
    addBroadcast(out[target]!, to.maps.get(to.jt.cliques[target]!, c), theta[k]!);
  });
  return out;
}

