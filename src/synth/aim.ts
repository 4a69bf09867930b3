/**
 * AIM-style adaptive rounds (McKenna, Mullins, Sheldon, Miklau 2022, "AIM: An Adaptive and
 * Iterative Mechanism for Differentially Private Synthetic Data").
 *
 * Each round privately picks the 2- or 3-way marginal that the current model gets most wrong,
 * *net of the noise its measurement would carry*: score = w · (‖x − x̂‖₁ − √(2/π) σ · cells).
 * The expected-noise term is what keeps large sparse tables (age × fnlwgt, ...) out: measuring them
 * adds more noise than signal, which is where a plain maximum spanning tree loses accuracy. The
 * weight w = clique size mirrors AIM's workload weighting for the all-3-way workload (each attribute
 * of the candidate overlaps that many workload marginals), so 3-way cliques win ties over pairs.
 *
 * Candidates must keep the junction tree small (time and memory are linear in its cells), and the
 * cap grows with the budget spent, as in AIM, so early noisy rounds cannot lock in a big model.
 */
import type { FitContext, Fitted } from './fit.js';
import { l1Error, refit } from './fit.js';
import { modelSize } from './junctionTree.js';
import { cellCount, isSubset } from './tensor.js';
import type { TreeModel } from './inference.js';
import { subsets } from './metrics.js';

export interface AimOptions {
  maxModelCells: number;
  /** Warm-started mirror-descent iterations between rounds. */
  roundIterations?: number;
  /** Cliques picked per scoring of the model (1 = AIM). More is faster, slightly less adaptive. */
  picksPerRound?: number;
}

const NOISE_L1 = Math.sqrt(2 / Math.PI); // E|N(0, σ²)| / σ

interface Candidate {
  attrs: number[];
  weight: number;
}

function candidates(d: number): Candidate[] {
  return [...subsets(d, 2), ...(d >= 3 ? subsets(d, 3) : [])].map((attrs) => ({ attrs, weight: attrs.length }));
}

/** Candidates that fit the model-size cap and could possibly score above zero. */
function admissible(ctx: FitContext, model: TreeModel, cands: Candidate[], sigma: number, sizeCap: number, total: number): Candidate[] {
  const measured = ctx.measurements.map((m) => m.clique);
  const done = new Set(measured.map((c) => c.join(',')));
  const cliques = model.jt.cliques;
  const current = model.size;
  return cands.filter((c) => {
    if (done.has(c.attrs.join(','))) return false;
    // ‖x − x̂‖₁ <= 2N: a candidate whose expected noise alone exceeds that can never score > 0.
    if (NOISE_L1 * sigma * cellCount(c.attrs, ctx.sizes) >= 2 * total) return false;
    // Inside an existing clique: the model does not grow (and needs no junction tree rebuild).
    if (cliques.some((k) => isSubset(c.attrs, k))) return current <= sizeCap;
    return modelSize(ctx.sizes, [...measured, c.attrs]) <= sizeCap;
  });
}

/** Private scores of the admissible candidates under the current model. */
async function score(ctx: FitContext, fitted: Fitted, all: Candidate[], sigma: number, cap: number): Promise<{ cands: Candidate[]; scores: number[] }> {
  const cands: Candidate[] = [];
  const scores: number[] = [];
  for (const c of admissible(ctx, fitted.model, all, sigma, cap, fitted.est.total)) {
    const err = await l1Error(ctx, fitted, c.attrs);
    if (err === null) continue;
    cands.push(c);
    scores.push(c.weight * (err - NOISE_L1 * sigma * cellCount(c.attrs, ctx.sizes)));
  }
  return { cands, scores };
}

const overlapsStrongly = (a: number[], b: number[]): boolean => isSubset(a, b) || isSubset(b, a);

/**
 * The plan's rounds (ctx.schedule.steps) of selection + measurement, chosen `picksPerRound` at a
 * time from one scoring of the model (each further pick excludes candidates nested in, or
 * containing, one already picked this round, whose stale score would mostly reflect what that pick
 * will fix), then one warm-started refit. If no candidate is admissible any more, the remaining
 * measurements (same scale, as planned and charged) re-measure one-way marginals in turn and
 * their selections are skipped.
 */
export async function aimRounds(ctx: FitContext, fitted: Fitted, o: AimOptions): Promise<Fitted> {
  const all = candidates(ctx.domain.length);
  const rounds = ctx.schedule.steps;
  const scale = ctx.schedule.measure;
  const k = Math.max(1, o.picksPerRound ?? 1);
  const sigma = Math.sqrt(scale.variance);
  let made = 0;
  while (made < rounds) {
    const cap = o.maxModelCells * Math.min(1, (made + k) / rounds + 0.25);
    const t0 = performance.now();
    let { cands, scores } = await score(ctx, fitted, all, sigma, cap);
    ctx.log(`scored ${cands.length} candidates in ${(performance.now() - t0).toFixed(0)} ms`);
    const picks: number[][] = [];
    for (let j = 0; j < k && made < rounds && cands.length > 0; j++, made++) {
      const idx = ctx.selectWeighted(cands.map((c) => ctx.names(c.attrs)), scores, Math.max(...cands.map((c) => c.weight)));
      const chosen = cands[idx]!.attrs;
      picks.push(chosen);
      // Later picks of this round must still fit the cap with the earlier picks in the model.
      const measured = [...ctx.measurements.map((m) => m.clique), ...picks];
      const keep = cands.map((c) => !overlapsStrongly(c.attrs, chosen) && modelSize(ctx.sizes, [...measured, c.attrs]) <= cap);
      [cands, scores] = [cands.filter((_, i) => keep[i]), scores.filter((_, i) => keep[i])];
    }
    if (picks.length === 0) break;
    for (const p of picks) await ctx.measure(p, scale);
    fitted = refit(ctx, o.roundIterations ?? 100, fitted);
  }
  for (let a = 0; made < rounds; made++, a = (a + 1) % ctx.domain.length) await ctx.measure([a], scale);
  return fitted;
}
