import type { IntegerMechanism } from '../dp/mechanisms.js';
import { permuteAndFlip } from '../dp/selection.js';
import type { Grid, Output, Plan, QuantileMeasurement, Statistic } from './plan.js';

/**
 * From the database's exact per-group aggregates to the released table: noise from each
 * statistic's mechanism, then post-processing only (free): estimators such as mean = mid + S/n,
 * HAVING/ORDER BY/LIMIT in the front ends. Error bars describe the noise, never the data.
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
export interface ReleasedTable {
  kind: 'table';
  groupBy: string[];
  columns: { label: string; aggregate: string; column: string | null }[];
  rows: { key: string[]; values: DpValue[] }[];
}
/** Exact results by statement id: rows with k0.. (group keys) and the statement's columns. */
export type RawResults = Record<string, Record<string, string | null>[]>;

const Z95 = 1.959963984540054;
const SEP = '\u0000';

export function releaseTable(plan: Plan, raw: RawResults, confidence = 0.95): ReleasedTable {
  const keyOf = (r: Record<string, string | null>) => plan.groupBy.map((_, i) => r[`k${i}`] ?? '').join(SEP);
  const exact = new Map((raw.stats ?? []).map((r) => [keyOf(r), r]));
  const noisy = new Map<string, Map<string, bigint>>();
  const noise = (key: string, s: Statistic): bigint => {
    let row = noisy.get(key);
    if (!row) noisy.set(key, (row = new Map()));
    if (!row.has(s.id)) row.set(s.id, s.mechanism.addNoise(BigInt(exact.get(key)?.[s.id] ?? '0')));
    return row.get(s.id)!;
  };
  let keys: string[];
  if (plan.keys === 'none') keys = [''];
  else if (plan.keys === 'public') keys = cartesian(plan.groupBy.map((c) => c.categories!)).map((k) => k.join(SEP));
  else keys = selectKeys(plan, [...exact.keys()].sort(), noise);

  const bins = new Map(plan.quantiles.map((q) => [q.id, binsByGroup(raw[q.id] ?? [], q, keyOf)]));
  const rows = keys.map((key) => ({
    key: plan.groupBy.length ? key.split(SEP) : [],
    values: plan.outputs.map((o) => outputValue(plan, o, (id) => noise(key, stat(plan, id)), bins.get(o.uses.quantile ?? '')?.get(key), confidence)),
  }));
  return {
    kind: 'table',
    groupBy: plan.groupBy.map((c) => c.name),
    columns: plan.outputs.map((o) => ({ label: o.label, aggregate: o.aggregate, column: o.column?.name ?? null })),
    rows,
  };
}

const stat = (plan: Plan, id: string) => plan.statistics.find((s) => s.id === id)!;

/** DP key selection: a key is released when its noisy count clears the threshold. */
function selectKeys(plan: Plan, candidates: string[], noise: (key: string, s: Statistic) => bigint): string[] {
  const counter = plan.statistics.find((s) => s.kind === 'count' && !s.column)!;
  return candidates.filter((k) => Number(noise(k, counter)) >= plan.keySelection!.threshold);
}

function outputValue(plan: Plan, o: Output, noisy: (id: string) => bigint, bins: bigint[] | undefined, confidence: number): DpValue {
  const mech = (id: string) => stat(plan, id).mechanism;
  switch (o.aggregate) {
    case 'count':
      return exactInterval(Number(noisy(o.uses.count!)), mech(o.uses.count!), 1, confidence);
    case 'countDistinct':
      return exactInterval(Number(noisy(o.uses.units!)), mech(o.uses.units!), 1, confidence);
    case 'sum': {
      const g = stat(plan, o.uses.sum!).grid!.g;
      return exactInterval(Number(noisy(o.uses.sum!)) * g, mech(o.uses.sum!), g, confidence);
    }
    case 'mean':
      return meanValue(stat(plan, o.uses.centredSum!).grid!, noisy(o.uses.count!), noisy(o.uses.centredSum!), mech(o.uses.count!), mech(o.uses.centredSum!));
    case 'variance':
    case 'stddev':
      return varianceValue(stat(plan, o.uses.centredSum!).grid!, [noisy(o.uses.count!), noisy(o.uses.centredSum!), noisy(o.uses.sumSquares!)], [mech(o.uses.count!), mech(o.uses.centredSum!), mech(o.uses.sumSquares!)], o.aggregate === 'stddev');
    case 'quantile': {
      const q = plan.quantiles.find((x) => x.id === o.uses.quantile)!;
      return quantileValue(q, bins ?? new Array<bigint>(q.bins).fill(0n), confidence);
    }
  }
}

/** Count and sum: the noise's own exact interval from the discrete distribution. */
function exactInterval(value: number, mech: IntegerMechanism, granularity: number, confidence: number): DpValue {
  const w = mech.halfWidth(confidence, granularity);
  return { value, standardError: mech.standardError(granularity), low: value - w, high: value + w, confidence, errorScale: 'VALUE' };
}

/**
 * mean = mid + centredSum / count. Standard error by the delta method on the two independent
 * noises, evaluated at the noisy values (post-processing); the interval is normal-approximate.
 */
function meanValue(grid: Grid, count: bigint, centred: bigint, countMech: IntegerMechanism, sumMech: IntegerMechanism): DpValue {
  const { g, lo, hi, mid } = grid;
  const n = Math.max(1, Number(count));
  const offset = clamp(Number(centred) / n, Number(lo - mid), Number(hi - mid));
  const value = (Number(mid) + offset) * g;
  const se = (Math.sqrt(sumMech.variance + offset * offset * countMech.variance) / n) * g;
  return normalInterval(value, se, Number(lo) * g, Number(hi) * g);
}

/** variance = S2/n - (S1/n)^2 on the centred grid; stddev = sqrt(variance). */
function varianceValue(grid: Grid, [count, s1n, s2n]: bigint[], [cm, s1m, s2m]: IntegerMechanism[], stddev: boolean): DpValue {
  const { g, lo, hi } = grid;
  const n = Math.max(1, Number(count));
  const s1 = Number(s1n);
  const s2 = Number(s2n);
  const maxVar = (Number(hi - lo) / 2) ** 2;
  const varGrid = clamp(s2 / n - (s1 / n) ** 2, 0, maxVar);
  const d2 = 1 / n;
  const d1 = (-2 * s1) / (n * n);
  const dn = -s2 / (n * n) + (2 * s1 * s1) / (n * n * n);
  const seGrid = Math.sqrt(d2 * d2 * s2m!.variance + d1 * d1 * s1m!.variance + dn * dn * cm!.variance);
  if (!stddev) return normalInterval(varGrid * g * g, seGrid * g * g, 0, maxVar * g * g);
  const sd = Math.sqrt(varGrid);
  const seSd = sd > 0 ? seGrid / (2 * sd) : Math.sqrt(seGrid);
  return normalInterval(sd * g, seSd * g, 0, Math.sqrt(maxVar) * g);
}

function normalInterval(value: number, se: number, min: number, max: number): DpValue {
  return { value, standardError: se, low: Math.max(min, value - Z95 * se), high: Math.min(max, value + Z95 * se), confidence: 0.95, errorScale: 'VALUE' };
}

function binsByGroup(rows: Record<string, string | null>[], q: QuantileMeasurement, keyOf: (r: Record<string, string | null>) => string): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  for (const r of rows) {
    if (r.bin == null) continue; // rows without a value (counted 0 by the statement)
    const k = keyOf(r);
    let counts = out.get(k);
    if (!counts) out.set(k, (counts = new Array<bigint>(q.bins).fill(0n)));
    const bin = Number(r.bin);
    if (bin >= 0 && bin < q.bins) counts[bin] = BigInt(r.n ?? '0');
  }
  return out;
}

/**
 * Quantile by permute-and-flip over a fine histogram of the clamped values. Candidate i is the
 * lower edge of bin i; its utility is -|10000 * rank_i - Q * n| (integers). The error guarantee is
 * on the rank: with probability >= 1 - beta the chosen rank's distance to the target exceeds the
 * best grid point's by at most 2 Delta (ln B + ln(1/beta)) / (10000 eps) rows (McKenna & Sheldon
 * 2020), whatever the data, so it is free to publish.
 */
function quantileValue(q: QuantileMeasurement, counts: bigint[], confidence: number): DpValue {
  const n = counts.reduce((a, b) => a + b, 0n);
  const Q = BigInt(q.Q);
  const utilities: bigint[] = [];
  let rank = 0n;
  for (let i = 0; i < q.bins; i++) {
    const d = 10000n * rank - Q * n;
    utilities.push(d < 0n ? d : -d);
    rank += counts[i]!;
  }
  const chosen = permuteAndFlip(utilities, q.epsilon, q.sensitivity);
  const value = Number(q.grid.lo + BigInt(chosen) * q.binWidth) * q.grid.g;
  const rankError = (beta: number) => (2 * q.sensitivity * (Math.log(q.bins) + Math.log(1 / beta))) / (10000 * q.epsilon);
  const w = rankError(1 - confidence);
  return { value, standardError: rankError(1 - 0.6827), low: -w, high: w, confidence, errorScale: 'RANK' };
}

function cartesian(lists: string[][]): string[][] {
  return lists.reduce<string[][]>((acc, list) => acc.flatMap((prefix) => list.map((v) => [...prefix, v])), [[]]);
}
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
