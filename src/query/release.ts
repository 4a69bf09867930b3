import { permuteAndFlip } from '../dp/selection.js';
import type { IntegerMechanism } from '../dp/mechanisms.js';
import type { Measurement, Plan } from './plan.js';

/**
 * Turns the exact aggregates from the database into the DP answer: noise from the plan's
 * mechanisms, then post-processing only (free). Error bars describe the noise, never the data.
 */
export interface DpValue {
  value: number;
  standardError: number;
  low: number;
  high: number;
  confidence: number;
  /** VALUE: error bars in the answer's units; RANK: in rows of rank around the quantile. */
  errorScale: 'VALUE' | 'RANK';
}
export type Answer = { kind: 'scalar'; value: DpValue } | { kind: 'histogram'; buckets: { key: string[]; count: DpValue }[] };

export type RawStatistics = Record<string, string>[];

const Z95 = 1.959963984540054;

export function releaseAnswer(plan: Plan, rows: RawStatistics, confidence = 0.95): Answer {
  if (plan.aggregate === 'histogram') return { kind: 'histogram', buckets: histogramBuckets(plan, rows, confidence) };
  if (plan.aggregate === 'quantile') return { kind: 'scalar', value: quantileValue(plan, rows, confidence) };
  const row = rows[0] ?? {};
  const noisy = Object.fromEntries(plan.measurements.map((m) => [m.name, noised(m, row[m.name])])) as Record<string, bigint>;
  const g = plan.grid?.g ?? 1;
  switch (plan.aggregate) {
    case 'count':
    case 'countDistinct':
    case 'sum': {
      const m = plan.measurements[0]!;
      const scale = plan.aggregate === 'sum' ? g : 1;
      return { kind: 'scalar', value: exactInterval(Number(noisy[m.name]!) * scale, m.mechanism, scale, confidence) };
    }
    case 'mean':
      return { kind: 'scalar', value: meanValue(plan, noisy) };
    case 'variance':
    case 'stddev':
      return { kind: 'scalar', value: varianceValue(plan, noisy, plan.aggregate === 'stddev') };
  }
}

function noised(m: Measurement, exact: string | undefined): bigint {
  return m.mechanism.addNoise(BigInt(exact ?? '0'));
}

/** Count and sum: the noise's own exact interval from the discrete distribution. */
function exactInterval(value: number, mech: IntegerMechanism, granularity: number, confidence: number): DpValue {
  const w = mech.halfWidth(confidence, granularity);
  return { value, standardError: mech.standardError(granularity), low: value - w, high: value + w, confidence, errorScale: 'VALUE' };
}

const mechOf = (plan: Plan, name: string) => plan.measurements.find((m) => m.name === name)!.mechanism;

/**
 * mean = mid + centredSum / count. Standard error by the delta method on the two independent
 * noises, evaluated at the noisy values (post-processing); the interval is normal-approximate.
 */
function meanValue(plan: Plan, noisy: Record<string, bigint>): DpValue {
  const { g, lo, hi, mid } = plan.grid!;
  const n = Math.max(1, Number(noisy.count!));
  const s = Number(noisy.centredSum!);
  const offset = clamp(s / n, Number(lo - mid), Number(hi - mid));
  const value = (Number(mid) + offset) * g;
  const varS = mechOf(plan, 'centredSum').variance;
  const varN = mechOf(plan, 'count').variance;
  const se = (Math.sqrt(varS + offset * offset * varN) / n) * g;
  return normalInterval(value, se, Number(lo) * g, Number(hi) * g);
}

/** variance = S2/n - (S1/n)^2 on the centred grid; stddev = sqrt(variance). */
function varianceValue(plan: Plan, noisy: Record<string, bigint>, stddev: boolean): DpValue {
  const { g, lo, hi } = plan.grid!;
  const n = Math.max(1, Number(noisy.count!));
  const s1 = Number(noisy.centredSum!);
  const s2 = Number(noisy.sumSquares!);
  const maxVar = (Number(hi - lo) / 2) ** 2;
  const varGrid = clamp(s2 / n - (s1 / n) ** 2, 0, maxVar);
  const d2 = 1 / n;
  const d1 = (-2 * s1) / (n * n);
  const dn = -s2 / (n * n) + (2 * s1 * s1) / (n * n * n);
  const seGrid = Math.sqrt(
    d2 * d2 * mechOf(plan, 'sumSquares').variance + d1 * d1 * mechOf(plan, 'centredSum').variance + dn * dn * mechOf(plan, 'count').variance,
  );
  if (!stddev) return normalInterval(varGrid * g * g, seGrid * g * g, 0, maxVar * g * g);
  const sd = Math.sqrt(varGrid);
  const seSd = sd > 0 ? seGrid / (2 * sd) : Math.sqrt(seGrid);
  return normalInterval(sd * g, seSd * g, 0, Math.sqrt(maxVar) * g);
}

function normalInterval(value: number, se: number, min: number, max: number): DpValue {
  return { value, standardError: se, low: Math.max(min, value - Z95 * se), high: Math.min(max, value + Z95 * se), confidence: 0.95, errorScale: 'VALUE' };
}

/**
 * Quantile by permute-and-flip over a fine histogram of the clamped values. Candidate i is the lower
 * edge of bin i; its utility is -|10000 * rank_i - Q * n| (integers). The error guarantee is on the
 * rank: with probability >= 1 - beta the chosen rank's distance to the target exceeds the best grid
 * point's by at most 2 Delta (ln B + ln(1/beta)) / (10000 eps) rows (McKenna & Sheldon 2020),
 * whatever the data, so it is free to publish.
 */
function quantileValue(plan: Plan, rows: RawStatistics, confidence: number): DpValue {
  const qp = plan.quantile!;
  const counts = new Array<bigint>(qp.bins).fill(0n);
  for (const r of rows) counts[Number(r.bin)] = BigInt(r.n!);
  const n = counts.reduce((a, b) => a + b, 0n);
  const Q = BigInt(qp.Q);
  const utilities: bigint[] = [];
  let rank = 0n;
  for (let i = 0; i < qp.bins; i++) {
    const d = 10000n * rank - Q * n;
    utilities.push(d < 0n ? d : -d);
    rank += counts[i]!;
  }
  const chosen = permuteAndFlip(utilities, qp.epsilon, qp.sensitivity);
  const grid = plan.grid!;
  const value = Number(grid.lo + BigInt(chosen) * qp.binWidth) * grid.g;
  const rankError = (beta: number) => (2 * qp.sensitivity * (Math.log(qp.bins) + Math.log(1 / beta))) / (10000 * qp.epsilon);
  const w = rankError(1 - confidence);
  return { value, standardError: rankError(1 - 0.6827), low: -w, high: w, confidence, errorScale: 'RANK' };
}

function histogramBuckets(plan: Plan, rows: RawStatistics, confidence: number) {
  const exact = new Map(rows.map((r) => [plan.by.map((_, i) => r[`k${i}`]).join('\u0000'), BigInt(r.n!)]));
  if (plan.keySelection) {
    // DP key selection: only keys whose noisy count clears the threshold are released.
    const { mechanism, threshold } = plan.keySelection;
    const out: { key: string[]; count: DpValue }[] = [];
    for (const [k, n] of [...exact.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const noisy = mechanism.addNoise(n);
      if (Number(noisy) >= threshold) out.push({ key: k.split('\u0000'), count: exactInterval(Number(noisy), mechanism, 1, confidence) });
    }
    return out;
  }
  const m = plan.measurements[0]!;
  return cartesian(plan.by.map((c) => c.categories!)).map((key) => {
    const noisy = m.mechanism.addNoise(exact.get(key.join('\u0000')) ?? 0n);
    return { key, count: exactInterval(Number(noisy), m.mechanism, 1, confidence) };
  });
}

function cartesian(lists: string[][]): string[][] {
  return lists.reduce<string[][]>((acc, list) => acc.flatMap((prefix) => list.map((v) => [...prefix, v])), [[]]);
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
