/**
 * Per-column quality of the synthesizer on the census demo domain (data/adult/adult.csv.gz coded
 * with the domain's own declaration, exactly as the product codes it: public categories, public
 * numeric bounds and the columns' declared `synthetic` binning). Used by bench/synth.ts.
 *
 * For every numeric column: relative error of the synthetic mean and median (median relative to
 * max(|real median|, 1), since several real medians are 0) and the share of each declared special
 * value; for every categorical column its 1-way TVD; and the average 2-/3-way TVD over all coded
 * columns. Runs 'aim' and 'mst' (this repository's implementations) on the same plan and seeds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { validateDomain, type ColumnDeclaration } from '../src/domain/declaration.js';
import { demoDeclarationInput } from '../src/domain/registry.js';

const census = demoDeclarationInput('census');
import { seededRandom } from '../src/dp/random.js';
import { codeCount, codeOf, decodeNumeric, numericBinning, type NumericBinning } from '../src/synth/columns.js';
import { averageTvd, marginalTvd } from '../src/synth/metrics.js';
import { fit, memoryOracle, sample, type CodedTable, type Domain } from '../src/synth/index.js';

interface Column {
  decl: ColumnDeclaration;
  size: number;
  binning?: NumericBinning;
}

export interface CensusData {
  columns: Column[];
  domain: Domain;
  data: CodedTable;
  /** real values of the numeric columns, by column index */
  values: Map<number, Float64Array>;
}

/** The census dataset coded by its declaration (or with `plain`, by bounds alone, as before issue 18). */
export function loadCensus(root: string, plain = false): CensusData {
  const ds = validateDomain(census).datasets[0]!;
  const columns: Column[] = [];
  for (const c of ds.columns) {
    if (c.type === 'categorical' && c.categories) columns.push({ decl: c, size: c.categories.length });
    if (c.type === 'integer' || c.type === 'float') {
      const binning = numericBinning(plain ? { ...c, synthetic: undefined } : c);
      columns.push({ decl: c, size: codeCount(binning), binning });
    }
  }
  const lines = gunzipSync(readFileSync(join(root, ds.source.kind === 'csv' ? ds.source.file : ''))).toString('utf8').trim().split('\n');
  const header = lines[0]!.split(',');
  const at = columns.map((c) => header.indexOf(c.decl.source ?? c.decl.name));
  const codes: number[][] = columns.map(() => []);
  const values: number[][] = columns.map(() => []);
  for (let r = 1; r < lines.length; r++) {
    const f = lines[r]!.split(',');
    const row = columns.map((c, k) => (c.binning ? codeOf(Number(f[at[k]!]), c.binning) : c.decl.categories!.indexOf(f[at[k]!]!)));
    if (row.some((x) => x < 0)) continue; // not in the public list: left out, as the product's SQL does
    row.forEach((x, k) => {
      codes[k]!.push(x);
      if (columns[k]!.binning) values[k]!.push(Number(f[at[k]!]));
    });
  }
  const rows = codes[0]!.length;
  return {
    columns,
    domain: columns.map((c) => ({ name: c.decl.name, size: c.size })),
    data: { codes: codes.map((c) => Int32Array.from(c)), rows },
    values: new Map(columns.flatMap((c, k) => (c.binning ? [[k, Float64Array.from(values[k]!)] as const] : []))),
  };
}

export interface ColumnRun {
  eps: number;
  method: string;
  seed: number;
  /** numeric column name -> relative errors */
  numeric: Record<string, { mean: number; median: number }>;
  /** "column = value" -> [real share, synthetic share] */
  specials: Record<string, [number, number]>;
  /** categorical column name -> 1-way TVD */
  oneWay: Record<string, number>;
  tvd: [number, number, number];
}

const meanOf = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0) / xs.length;
function medianOf(xs: Float64Array): number {
  const s = Float64Array.from(xs).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
const share = (xs: Float64Array, v: number) => xs.reduce((a, x) => a + (x === v ? 1 : 0), 0) / xs.length;

/** One fit + sample of the census data and its per-column measures. */
export async function censusRun(c: CensusData, eps: number, delta: number, method: 'aim' | 'mst', seed: number, label: string = method): Promise<ColumnRun> {
  const model = await fit(memoryOracle(c.domain, c.data), c.domain, { epsilon: eps, delta, method, rng: seededRandom(`census-fit-${label}-${eps}-${seed}`) });
  const synth = sample(model, c.data.rows, seededRandom(`census-sample-${label}-${eps}-${seed}`));
  const table: CodedTable = { codes: synth.codes, rows: c.data.rows };
  const sizes = c.domain.map((d) => d.size);
  const run: ColumnRun = { eps, method: label, seed, numeric: {}, specials: {}, oneWay: {}, tvd: [1, 2, 3].map((k) => averageTvd(c.data, table, sizes, k)) as [number, number, number] };
  c.columns.forEach((col, k) => {
    const name = col.decl.name;
    if (!col.binning) return void (run.oneWay[name] = marginalTvd(c.data, table, [k], sizes));
    const real = c.values.get(k)!;
    const fake = decodeNumeric(synth.codes[k]!, col.binning, seededRandom(`census-decode-${label}-${eps}-${seed}-${k}`));
    const rm = meanOf(real);
    const rmed = medianOf(real);
    run.numeric[name] = { mean: Math.abs(meanOf(fake) - rm) / Math.abs(rm), median: Math.abs(medianOf(fake) - rmed) / Math.max(Math.abs(rmed), 1) };
    for (const v of col.decl.synthetic?.specialValues ?? []) run.specials[`${name} = ${v}`] = [share(real, v), share(fake, v)];
  });
  return run;
}

const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Markdown section of the census runs (averages over seeds). */
export function censusReport(runs: ColumnRun[], c: CensusData, delta: number): string[] {
  const groups = [...new Set(runs.map((r) => `${r.eps}|${r.method}`))].map((g) => {
    const [eps, method] = g.split('|');
    return { eps: Number(eps), method: method!, rs: runs.filter((r) => `${r.eps}|${r.method}` === g) };
  });
  const numeric = c.columns.filter((x) => x.binning).map((x) => x.decl.name);
  const categorical = c.columns.filter((x) => !x.binning).map((x) => x.decl.name);
  const specials = Object.keys(runs[0]!.specials);
  const seeds = Math.max(...groups.map((g) => g.rs.length));
  const out: string[] = [];
  out.push(`## Census domain, per column (data/adult, ${c.data.rows} rows coded by the domain's declaration; delta ${delta}; mean of ${seeds} seed(s))`, '');
  out.push('Same protocol as above (fit on all rows, sample as many). `aim` is the product\'s method, `mst` this repository\'s MST on the same plan; "aim, plain bins" codes numeric columns by their bounds alone (equal-width bins, no special values), as before issue 18.', '');
  out.push('### Numeric columns: relative error of the synthetic mean / median', '');
  out.push(`| epsilon | method | ${numeric.join(' | ')} |`, `|---|---|${numeric.map(() => '---').join('|')}|`);
  for (const g of groups) out.push(`| ${g.eps} | ${g.method} | ${numeric.map((n) => `${pct(avg(g.rs.map((r) => r.numeric[n]!.mean)))} / ${pct(avg(g.rs.map((r) => r.numeric[n]!.median)))}`).join(' | ')} |`);
  out.push('', 'Median error relative to max(|real median|, 1): the real medians of capitalGain and capitalLoss are 0.', '');
  out.push('### Special values: share of rows, real vs synthetic (percentage points off)', '');
  out.push(`| epsilon | method | ${specials.map((s) => `${s} (real ${pct(runs[0]!.specials[s]![0])})`).join(' | ')} |`, `|---|---|${specials.map(() => '---').join('|')}|`);
  for (const g of groups)
    out.push(`| ${g.eps} | ${g.method} | ${specials.map((s) => {
      const syn = avg(g.rs.map((r) => r.specials[s]?.[1] ?? NaN));
      return Number.isNaN(syn) ? '-' : `${pct(syn)} (${((syn - runs[0]!.specials[s]![0]) * 100).toFixed(2)} pt)`;
    }).join(' | ')} |`);
  out.push('', '### Categorical columns: 1-way TVD', '');
  out.push(`| epsilon | method | ${categorical.join(' | ')} |`, `|---|---|${categorical.map(() => '---').join('|')}|`);
  for (const g of groups) out.push(`| ${g.eps} | ${g.method} | ${categorical.map((n) => avg(g.rs.map((r) => r.oneWay[n]!)).toFixed(4)).join(' | ')} |`);
  out.push('', '### All coded columns: average k-way TVD', '');
  out.push('| epsilon | method | 1-way | 2-way | 3-way |', '|---|---|---|---|---|');
  for (const g of groups) out.push(`| ${g.eps} | ${g.method} | ${[0, 1, 2].map((k) => avg(g.rs.map((r) => r.tvd[k]!)).toFixed(4)).join(' | ')} |`);
  return out;
}
