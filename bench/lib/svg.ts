/**
 * Hand-written SVG bar charts (horizontal bars, optionally stacked, with a legend and reference
 * lines). No dependencies: the report's charts are small static files next to REPORT.md.
 */
export interface BarRow {
  label: string;
  /** One value per series (stacked left to right); NaN or negative segments are drawn as 0. */
  values: number[];
  /** Text after the bar; default: the total. */
  note?: string;
}

export interface BarChart {
  title: string;
  unit: string;
  series: string[];
  rows: BarRow[];
  /** Vertical reference lines (goals), in the chart's unit. */
  lines?: { value: number; label: string }[];
}

const COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function niceMax(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

const short = (x: number) => {
  if (!Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 1e6) return `${Number((x / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((x / 1e3).toPrecision(3))}k`;
  return Number(x.toPrecision(3)).toString();
};

export function barChartSvg(c: BarChart): string {
  const rowH = 22;
  const labelW = Math.min(360, 12 + 6.6 * Math.max(8, ...c.rows.map((r) => r.label.length)));
  const plotW = 460;
  const noteW = 120;
  const width = Math.round(labelW + plotW + noteW);
  // Legend items flow left to right and wrap onto further lines when the chart is too narrow.
  const legend: { x: number; y: number; name: string; i: number }[] = [];
  if (c.series.length > 1) {
    let lx = 10;
    let ly = 30;
    c.series.forEach((name, i) => {
      const w = 28 + 6.6 * name.length;
      if (lx > 10 && lx + w > width - 10) {
        lx = 10;
        ly += 18;
      }
      legend.push({ x: lx, y: ly, name, i });
      lx += w;
    });
  }
  const legendH = legend.length ? legend[legend.length - 1]!.y - 30 + 22 : 0;
  const top = 34 + legendH + (c.lines?.length ? 16 : 0);
  const height = top + c.rows.length * rowH + 34;
  const clean = (v: number) => (Number.isFinite(v) && v > 0 ? v : 0);
  const totals = c.rows.map((r) => r.values.reduce((a, v) => a + clean(v), 0));
  const max = niceMax(Math.max(0, ...totals, ...(c.lines ?? []).map((l) => l.value)));
  const x = (v: number) => labelW + (plotW * v) / max;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="10" y="20" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  for (const l of legend) {
    out.push(`<rect x="${l.x}" y="${l.y}" width="12" height="12" fill="${COLORS[l.i % COLORS.length]}"/>`);
    out.push(`<text x="${l.x + 16}" y="${l.y + 10}">${esc(l.name)}</text>`);
  }
  // grid and axis
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const gx = x(v);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${top + c.rows.length * rowH}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${gx}" y="${top + c.rows.length * rowH + 14}" text-anchor="middle" fill="#555">${short(v)}</text>`);
  }
  out.push(`<text x="${labelW + plotW / 2}" y="${height - 4}" text-anchor="middle" fill="#333">${esc(c.unit)}</text>`);
  c.rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 6}" y="${y + 15}" text-anchor="end">${esc(r.label)}</text>`);
    let acc = 0;
    r.values.forEach((v, j) => {
      const w = (plotW * clean(v)) / max;
      if (w > 0) out.push(`<rect x="${x(acc).toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${COLORS[j % COLORS.length]}"><title>${esc(`${r.label} ${c.series[j] ?? ''}: ${short(v)} ${c.unit}`)}</title></rect>`);
      acc += clean(v);
    });
    out.push(`<text x="${(x(acc) + 4).toFixed(1)}" y="${y + 15}" fill="#333">${esc(r.note ?? short(totals[i]!))}</text>`);
  });
  for (const l of c.lines ?? []) {
    const lx = x(l.value);
    out.push(`<line x1="${lx}" y1="${top - 6}" x2="${lx}" y2="${top + c.rows.length * rowH}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5,3"/>`);
    out.push(`<text x="${lx + 3}" y="${top - 8}" fill="#d62728">${esc(l.label)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
