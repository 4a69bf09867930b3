/**
 * Exact marginal inference in a junction-tree graphical model p(x) ∝ exp(Σ_C θ_C(x_C)).
 *
 * Sum-product runs in linear space (exp once per cell, then products and sums), not log space:
 * the estimator calls it thousands of times and exp/log per message cell would dominate. Each
 * potential is shifted by its maximum before exp and every message is rescaled to max 1, so
 * nothing overflows; cells that underflow to 0 have probability < e^-700 relative to the mode.
 */
import { buildJunctionTree, containingClique, type JunctionTree } from './junctionTree.js';
import { cellCount, IndexMaps, intersect, marginalize, marginalizeDirect, multiplyBroadcast, normalizeTo, productDirect, union } from './tensor.js';
import type { Clique } from './types.js';

export class TreeModel {
  readonly jt: JunctionTree;
  readonly maps: IndexMaps;
  readonly cliqueCells: number[];
  readonly sepCells: number[];
  /** cliqueToSep[i]: clique i -> separator with its parent. */
  private readonly cliqueToSep: Int32Array[];
  /** parentToSep[i]: parent of clique i -> the same separator. */
  private readonly parentToSep: Int32Array[];

  /** `maps` may be shared between models over the same sizes: refits reuse the same maps. */
  constructor(
    readonly sizes: readonly number[],
    measured: readonly Clique[],
    maps?: IndexMaps,
  ) {
    this.jt = buildJunctionTree(sizes, measured);
    this.maps = maps ?? new IndexMaps(sizes);
    this.cliqueCells = this.jt.cliques.map((c) => cellCount(c, sizes));
    this.sepCells = this.jt.separators.map((s) => cellCount(s, sizes));
    this.cliqueToSep = this.jt.cliques.map((c, i) => this.maps.get(c, this.jt.separators[i]!));
    this.parentToSep = this.jt.cliques.map((_, i) => {
      const p = this.jt.parent[i]!;
      return p < 0 ? new Int32Array(0) : this.maps.get(this.jt.cliques[p]!, this.jt.separators[i]!);
    });
  }

  /** Total cells of the maximal cliques. */
  get size(): number {
    return this.cliqueCells.reduce((a, b) => a + b, 0);
  }

  zeroPotentials(): Float64Array[] {
    return this.cliqueCells.map((n) => new Float64Array(n));
  }

  /**
   * Calibrated clique marginals, each scaled to sum to `total`. `out` (arrays of the clique
   * sizes) is reused for the result when given, to spare the allocator in long optimisations.
   */
  propagate(theta: readonly Float64Array[], total: number, out?: Float64Array[]): Float64Array[] {
    const { order, parent } = this.jt;
    const up = theta.map((t, i) => expShifted(t, out?.[i]));
    const msgUp: Float64Array[] = new Array(up.length);
    const scale = new Float64Array(up.length);
    for (let k = order.length - 1; k > 0; k--) {
      const i = order[k]!;
      const m = marginalize(up[i]!, this.cliqueToSep[i]!, this.sepCells[i]!);
      scale[i] = 1 / max(m);
      for (let s = 0; s < m.length; s++) m[s]! *= scale[i]!;
      msgUp[i] = m;
      // Messages are at most 1, so products only shrink; rescale in the rare case they get tiny.
      const mx = multiplyBroadcastMax(up[parent[i]!]!, this.parentToSep[i]!, m);
      if (mx > 0 && mx < 1e-200) for (let c = 0; c < up[parent[i]!]!.length; c++) up[parent[i]!]![c]! /= mx;
    }
    normalizeTo(up[order[0]!]!, total);
    for (let k = 1; k < order.length; k++) {
      const i = order[k]!;
      // Message parent -> i = (parent belief on the separator) / (message i -> parent), times the
      // factor that undoes the message's scaling, so i's belief sums to `total` with no extra
      // pass. Where the upward message is 0, i's belief is 0 anyway, so 0 is the right value.
      const down = marginalize(up[parent[i]!]!, this.parentToSep[i]!, this.sepCells[i]!);
      const mu = msgUp[i]!;
      const f = scale[i]!;
      for (let s = 0; s < down.length; s++) down[s] = mu[s]! > 0 ? (f * down[s]!) / mu[s]! : 0;
      multiplyBroadcast(up[i]!, this.cliqueToSep[i]!, down);
    }
    return up;
  }

  /** Index of the smallest maximal clique containing attrs, or -1. */
  cliqueFor(attrs: Clique): number {
    return containingClique(this.jt, attrs);
  }

  /** Marginal over any attribute set (see Projector). */
  project(beliefs: readonly Float64Array[], attrs: Clique, maxCells = 4_000_000): Float64Array | null {
    return new Projector(this, beliefs).project(attrs, maxCells);
  }
}

function expShifted(theta: Float64Array, reuse?: Float64Array): Float64Array {
  let mx = -Infinity;
  for (let i = 0; i < theta.length; i++) if (theta[i]! > mx) mx = theta[i]!;
  const out = reuse ?? new Float64Array(theta.length);
  for (let i = 0; i < theta.length; i++) out[i] = Math.exp(theta[i]! - mx);
  return out;
}

function max(v: Float64Array): number {
  let mx = 0;
  for (let i = 0; i < v.length; i++) if (v[i]! > mx) mx = v[i]!;
  return mx;
}

/** target[i] *= small[map[i]], returning the new maximum (fused to save a pass). */
function multiplyBroadcastMax(target: Float64Array, map: Int32Array, small: Float64Array): number {
  let mx = 0;
  for (let i = 0; i < target.length; i++) {
    const v = target[i]! * small[map[i]!]!;
    target[i] = v;
    if (v > mx) mx = v;
  }
  return mx;
}

/** A table with its attribute list, for the elimination below. */
interface Table {
  attrs: number[];
  values: Float64Array;
}

/**
 * Answers marginal queries on one fitted model, caching each clique's marginals onto attribute
 * subsets (selection asks for hundreds of overlapping 2- and 3-way marginals per round).
 */
export class Projector {
  private readonly cache = new Map<string, Float64Array>();
  constructor(
    readonly model: TreeModel,
    readonly beliefs: readonly Float64Array[],
  ) {}

  /** Marginal of clique v's belief onto attrs ⊆ clique v. */
  cliqueMarginal(v: number, attrs: number[]): Float64Array {
    const key = `${v}|${attrs.join(',')}`;
    let m = this.cache.get(key);
    if (!m) {
      m = marginalizeDirect(this.beliefs[v]!, this.model.jt.cliques[v]!, attrs, this.model.sizes);
      this.cache.set(key, m);
    }
    return m;
  }

  /** Marginal over any attribute set (null if an intermediate table would exceed maxCells). */
  project(attrs: Clique, maxCells = 4_000_000): Float64Array | null {
    const direct = this.model.cliqueFor(attrs);
    if (direct >= 0) return this.cliqueMarginal(direct, [...attrs]);
    return projectAcrossTree(this, attrs, maxCells);
  }
}

/**
 * The joint over a connected set T' of cliques is Π_{v∈T'} b_v / Π_{edges of T'} μ_sep. To get
 * the marginal over `attrs`, take a minimal T' covering them and eliminate it towards a root: each
 * node reduces its belief to what it passes on (its separators and the query attributes it
 * holds), divides by the separator marginal towards the root, multiplies its children's messages,
 * and sums out what neither the root side nor the query needs. Messages carry the query attributes
 * found below them, so the cost depends on the root: we try every node of T' symbolically and run
 * the cheapest plan.
 */
function projectAcrossTree(proj: Projector, attrs: Clique, maxCells: number): Float64Array | null {
  const { model } = proj;
  const { jt, sizes } = model;
  const nodes = minimalCover(jt, attrs, sizes);
  let best: Plan | null = null;
  for (const r of nodes) {
    const plan = planFrom(jt, nodes, r, attrs, sizes);
    if (!best || plan.cost < best.cost) best = plan;
  }
  if (!best || best.maxCells > maxCells) return null;
  return runPlan(proj, best, attrs);
}

interface Plan {
  /** Nodes, root first, parents before children. */
  order: number[];
  parent: Map<number, number>;
  children: Map<number, number[]>;
  cost: number;
  maxCells: number;
}

function adjacentIn(jt: JunctionTree, nodes: Set<number>, v: number): number[] {
  const out: number[] = [];
  const p = jt.parent[v]!;
  if (p >= 0 && nodes.has(p)) out.push(p);
  for (const u of nodes) if (jt.parent[u] === v) out.push(u);
  return out;
}

/** Orient T' from root r and price the elimination (Σ and max of intermediate table sizes). */
function planFrom(jt: JunctionTree, nodes: Set<number>, r: number, attrs: Clique, sizes: readonly number[]): Plan {
  const query = new Set(attrs);
  const order = [r];
  const parent = new Map<number, number>([[r, -1]]);
  const children = new Map<number, number[]>();
  for (let q = 0; q < order.length; q++) {
    const v = order[q]!;
    const kids = adjacentIn(jt, nodes, v).filter((u) => !parent.has(u));
    for (const u of kids) parent.set(u, v);
    children.set(v, kids);
    order.push(...kids);
  }
  const carried = new Map<number, number[]>();
  let cost = 0;
  let maxCells = 0;
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k]!;
    const clique = jt.cliques[v]!;
    const p = parent.get(v)!;
    const kids = children.get(v)!;
    const mine = union(clique.filter((a) => query.has(a)), ...kids.map((c) => carried.get(c)!));
    carried.set(v, mine);
    const table = union(p >= 0 ? intersect(clique, jt.cliques[p]!) : [], ...kids.map((c) => intersect(clique, jt.cliques[c]!)), mine);
    const cells = cellCount(table, sizes);
    cost += cells;
    maxCells = Math.max(maxCells, cells);
  }
  return { order, parent, children, cost, maxCells };
}

function runPlan(proj: Projector, plan: Plan, attrs: Clique): Float64Array {
  const { jt, sizes } = proj.model;
  const query = new Set(attrs);
  const msgs = new Map<number, Table>();
  for (let k = plan.order.length - 1; k >= 0; k--) {
    const v = plan.order[k]!;
    const clique = jt.cliques[v]!;
    const p = plan.parent.get(v)!;
    const kids = plan.children.get(v)!;
    const sep = p >= 0 ? intersect(clique, jt.cliques[p]!) : [];
    const base = union(sep, ...kids.map((c) => intersect(clique, jt.cliques[c]!)), clique.filter((a) => query.has(a)));
    let table: Table = { attrs: base, values: proj.cliqueMarginal(v, base) };
    if (p >= 0) {
      const inv = Float64Array.from(proj.cliqueMarginal(v, sep), (x) => (x > 0 ? 1 / x : 0));
      table = productDirect(table.values, base, inv, sep, sizes);
    }
    for (const c of kids) {
      const msg = msgs.get(c)!;
      table = productDirect(table.values, table.attrs, msg.values, msg.attrs, sizes);
    }
    const keep = p < 0 ? [...attrs] : union(sep, table.attrs.filter((a) => query.has(a)));
    msgs.set(v, { attrs: keep, values: marginalizeDirect(table.values, table.attrs, keep, sizes) });
  }
  return msgs.get(plan.order[0]!)!.values;
}

/**
 * A minimal connected set of cliques covering attrs: start from the whole tree and repeatedly drop
 * a leaf that is not the last holder of a query attribute (largest leaves first, so the cover
 * prefers small cliques).
 */
function minimalCover(jt: JunctionTree, attrs: Clique, sizes: readonly number[]): Set<number> {
  const nodes = new Set(jt.order);
  const holders = (a: number): number => [...nodes].filter((v) => jt.cliques[v]!.includes(a)).length;
  for (;;) {
    const leaves = [...nodes].filter((v) => adjacentIn(jt, nodes, v).length <= 1 && nodes.size > 1);
    leaves.sort((x, y) => cellCount(jt.cliques[y]!, sizes) - cellCount(jt.cliques[x]!, sizes));
    const drop = leaves.find((v) => jt.cliques[v]!.every((a) => !attrs.includes(a) || holders(a) > 1));
    if (drop === undefined) return nodes;
    nodes.delete(drop);
  }
}
