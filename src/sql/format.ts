/**
 * Plain-text rendering of a DP SQL answer (the GraphQL `SqlRelease` shape) for the CLI: one row
 * per result row, each DP value as `value ± half-width` of its confidence interval, then what it
 * cost. EXPLAIN renders the plan's measurements instead.
 */
export interface SqlReleaseView {
  query: string;
  datasets: string[];
  epsilon: number;
  delta: number;
  mechanism: string;
  cached: boolean;
  releaseId?: string | null;
  table?: {
    columns: { name: string; type: string; private: boolean }[];
    rows: { cells: { text?: string | null; number?: number | null; isNull: boolean; confidenceInterval?: { low: number; high: number } | null; errorScale?: string | null }[] }[];
  } | null;
  explain?: {
    rowsPerUnit: number;
    groupsPerUnit?: number | null;
    rowsPerGroup?: number | null;
    keys: string;
    measurements: { name: string; statistic: string; column?: string | null; l1Sensitivity: number; l2Sensitivity: number; mechanism: string; scale: number; standardError?: number | null }[];
    epsilonCharged: number;
    fitsBudget: boolean;
    remainingAfter: number;
    note: string;
  } | null;
}

const num = (x: number) => (Number.isInteger(x) ? String(x) : Math.abs(x) >= 1000 ? x.toFixed(1) : x.toPrecision(4));

function cellText(c: NonNullable<SqlReleaseView['table']>['rows'][number]['cells'][number]): string {
  if (c.isNull) return 'NULL';
  if (c.number == null) return c.text ?? '';
  const ci = c.confidenceInterval;
  if (!ci) return num(c.number);
  if (c.errorScale === 'RANK') return `${num(c.number)} (±${num((ci.high - ci.low) / 2)} rows of rank)`;
  return `${num(c.number)} ± ${num((ci.high - ci.low) / 2)}`;
}

function grid(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((x, i) => x.padEnd(widths[i]!)).join(' | ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...rows.map(line)].join('\n');
}

export function formatSqlRelease(r: SqlReleaseView): string {
  const cost = `epsilon ${num(r.epsilon)}, delta ${r.delta}, ${r.mechanism}, datasets ${r.datasets.join(' + ')}`;
  if (r.explain) {
    const e = r.explain;
    const rows = e.measurements.map((m) => [m.name, m.statistic, m.column ?? '', num(m.l1Sensitivity), num(m.l2Sensitivity), m.mechanism, num(m.scale), m.standardError == null ? '' : num(m.standardError)]);
    return [
      `EXPLAIN ${r.query}`,
      `contribution per unit: ${e.rowsPerUnit} rows${e.groupsPerUnit ? `, ${e.groupsPerUnit} groups of at most ${e.rowsPerGroup} rows` : ''}; keys: ${e.keys}`,
      grid(['measurement', 'statistic', 'column', 'L1', 'L2', 'mechanism', 'scale', 'std error'], rows),
      `cost: ${cost}; charged at your delta cap: epsilon ${num(e.epsilonCharged)}; fits your budget: ${e.fitsBudget ? 'yes' : 'NO'}; left after: ${num(e.remainingAfter)}`,
      e.note,
    ].join('\n');
  }
  const t = r.table!;
  const out = [grid(t.columns.map((c) => c.name), t.rows.map((row) => row.cells.map(cellText)))];
  out.push(`(${t.rows.length} row${t.rows.length === 1 ? '' : 's'}; ± is the 95% noise interval)`);
  out.push(`${r.cached ? 'served from an earlier release at no cost' : 'released'}: ${r.releaseId}; ${cost}`);
  return out.join('\n');
}
