/** Number formatting for DP answers: enough digits to read, no false precision. */
export function fmt(v: number | null | undefined, digits = 3): string {
  if (v == null || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e9)) return v.toExponential(2);
  return Number(v.toPrecision(Math.max(digits, Math.ceil(Math.log10(a + 1)) + 1))).toLocaleString('en-US', { maximumFractionDigits: 4 });
}
export const eps = (v: number | null | undefined) => (v == null ? '—' : `ε ${fmt(v, 3)}`);
export function bounds(c: { lowerBound?: number | null; upperBound?: number | null; categories?: readonly string[] | null; type: string }): string {
  if (c.lowerBound != null || c.upperBound != null) return `[${fmt(c.lowerBound)}, ${fmt(c.upperBound)}]`;
  if (c.categories) return c.categories.join(', ');
  if (c.type === 'categorical') return 'no public list (DP key selection)';
  return '—';
}
