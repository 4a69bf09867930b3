/**
 * Junction trees over the measured cliques. Estimation, marginal queries and sampling all run on
 * the junction tree, so its size (sum of the cells of its maximal cliques) is what bounds time and
 * memory; `modelSize` lets the selection step refuse cliques that would blow it up (as AIM does).
 */
import { cellCount, intersect, isSubset } from './tensor.js';
import type { Clique } from './types.js';

export interface JunctionTree {
  /** Maximal cliques, each sorted ascending. */
  cliques: number[][];
  /** parent[i] is the neighbour towards the root, -1 for the root (clique order[0]). */
  parent: number[];
  /** Cliques in breadth-first order from the root: every parent comes before its children. */
  order: number[];
  /** separators[i] = cliques[i] ∩ cliques[parent[i]] ([] for the root, or between components). */
  separators: number[][];
}

/**
 * Greedy elimination order: repeatedly eliminate the attribute whose elimination clique has the
 * fewest cells (Private-PGM's heuristic). Returns the elimination cliques it creates. Adjacency is
 * kept as bitsets: selection calls this for hundreds of hypothetical models per round.
 */
function eliminationCliques(d: number, sizes: readonly number[], cliques: readonly Clique[]): number[][] {
  const W = (d + 31) >>> 5;
  const adj = new Uint32Array(d * W);
  const set = (a: number, b: number): void => void (adj[a * W + (b >>> 5)]! |= 1 << (b & 31));
  const has = (a: number, b: number): boolean => (adj[a * W + (b >>> 5)]! & (1 << (b & 31))) !== 0;
  for (const c of cliques) for (const a of c) for (const b of c) if (a !== b) set(a, b);
  const alive = new Uint8Array(d).fill(1);
  const out: number[][] = [];
  for (let step = 0; step < d; step++) {
    let best = -1;
    let bestCost = Infinity;
    for (let a = 0; a < d; a++) {
      if (!alive[a]) continue;
      let cost = sizes[a]!;
      for (let b = 0; b < d && cost < bestCost; b++) if (alive[b] && has(a, b)) cost *= sizes[b]!;
      if (cost < bestCost) [best, bestCost] = [a, cost];
    }
    const nbrs: number[] = [];
    for (let b = 0; b < d; b++) if (alive[b] && has(best, b)) nbrs.push(b);
    out.push([best, ...nbrs].sort((x, y) => x - y));
    for (const u of nbrs) for (const v of nbrs) if (u !== v) set(u, v);
    alive[best] = 0;
  }
  return out;
}

function maximalOnly(cliques: number[][]): number[][] {
  const sorted = [...cliques].sort((a, b) => b.length - a.length);
  const out: number[][] = [];
  for (const c of sorted) {
    if (!out.some((o) => isSubset(c, o))) out.push(c);
  }
  return out;
}

/**
 * Junction tree of the triangulated graph of `cliques` over all d attributes (attributes in no
 * clique become singleton cliques, joined with empty separators). A maximum spanning tree on
 * separator sizes of the maximal cliques of a chordal graph has the running-intersection property.
 */
export function buildJunctionTree(sizes: readonly number[], cliques: readonly Clique[]): JunctionTree {
  const d = sizes.length;
  const maxCliques = maximalOnly(eliminationCliques(d, sizes, cliques));
  // Root at the largest clique: sampling starts there, and it tends to be the hub of the model.
  maxCliques.sort((a, b) => cellCount(b, sizes) - cellCount(a, sizes) || a[0]! - b[0]!);
  const k = maxCliques.length;
  const parent = new Array<number>(k).fill(-1);
  const inTree = new Array<boolean>(k).fill(false);
  const order: number[] = [0];
  inTree[0] = true;
  // Prim's algorithm, maximising the separator size; ties keep the earliest (larger) clique.
  for (let step = 1; step < k; step++) {
    let best = -1;
    let bestFrom = -1;
    let bestW = -1;
    for (let j = 0; j < k; j++) {
      if (inTree[j]) continue;
      for (const i of order) {
        const w = intersect(maxCliques[j]!, maxCliques[i]!).length;
        if (w > bestW) [best, bestFrom, bestW] = [j, i, w];
      }
    }
    inTree[best] = true;
    parent[best] = bestFrom;
    order.push(best);
  }
  const separators = maxCliques.map((c, i) => (parent[i]! < 0 ? [] : intersect(c, maxCliques[parent[i]!]!)));
  return { cliques: maxCliques, parent, order: bfsOrder(parent), separators };
}

/** Parents-first order (Prim's insertion order already is one; recomputed for clarity). */
function bfsOrder(parent: number[]): number[] {
  const children = parent.map(() => [] as number[]);
  let root = 0;
  parent.forEach((p, i) => (p < 0 ? (root = i) : children[p]!.push(i)));
  const order = [root];
  for (let q = 0; q < order.length; q++) order.push(...children[order[q]!]!);
  return order;
}

/**
 * Total cells of the junction tree's maximal cliques: the model's memory and time footprint.
 * (Only the triangulation is needed, not the tree itself.)
 */
export function modelSize(sizes: readonly number[], cliques: readonly Clique[]): number {
  return maximalOnly(eliminationCliques(sizes.length, sizes, cliques)).reduce((s, c) => s + cellCount(c, sizes), 0);
}

/** Index of a maximal clique containing `attrs`, or -1. */
export function containingClique(jt: JunctionTree, attrs: Clique): number {
  let best = -1;
  for (let i = 0; i < jt.cliques.length; i++) {
    if (isSubset(attrs, jt.cliques[i]!) && (best < 0 || jt.cliques[i]!.length < jt.cliques[best]!.length)) best = i;
  }
  return best;
}
