/** Small statistics helpers for the benchmark (no dependencies). */

/** Quantile by linear interpolation between order statistics (R type 7); NaN for no data. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return s[lo]! + (h - lo) * (s[hi]! - s[lo]!);
}

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  min: number;
  max: number;
}

export function summarize(xs: readonly number[]): Summary {
  const n = xs.length;
  return {
    n,
    p50: quantile(xs, 0.5),
    p95: quantile(xs, 0.95),
    mean: n ? xs.reduce((a, b) => a + b, 0) / n : NaN,
    min: n ? Math.min(...xs) : NaN,
    max: n ? Math.max(...xs) : NaN,
  };
}

export const now = (): number => performance.now();

/** Runs fn and returns its result with the elapsed wall time in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = now();
  const r = await fn();
  return [r, now() - t0];
}

/** A number for a table: a few significant digits, no exponent for ordinary magnitudes. */
export function fmt(x: number, digits = 3): string {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 10 ** digits) return Math.round(x).toLocaleString('en');
  if (a < 1e-4) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

export const fmtMs = (x: number) => fmt(x, x >= 100 ? 4 : 3);
export const mb = (bytes: number) => bytes / (1024 * 1024);
