import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { barChartSvg, type BarChart } from './svg.js';

/** The report's model: sections of tables (each with its chart), notes and goals. */
export type Cell = string | number;

export interface Table {
  /** File name of its chart: charts/<id>.svg */
  id: string;
  caption: string;
  columns: string[];
  rows: Cell[][];
  chart: BarChart;
}

export interface Goal {
  goal: string;
  measured: string;
  met: boolean;
}

export interface Section {
  number: number;
  title: string;
  /** Paragraphs before the tables (method, exact commands). */
  intro: string[];
  tables: Table[];
  /** Paragraphs after the tables (interpretation). */
  notes: string[];
  goals: Goal[];
  seconds: number;
  /** 1-minute load average when the section started (the machine is shared). */
  load?: number;
  error?: string;
}

export interface ReportHeader {
  title: string;
  date: string;
  machine: [string, string][];
  commands: string[];
  mode: string;
  totalSeconds: number;
  loadBefore: number[];
  loadAfter: number[];
}

const cell = (c: Cell) => (typeof c === 'number' ? String(c) : c.replace(/\|/g, '\\|').replace(/\n/g, ' '));

export function renderTable(t: Table): string {
  const lines = [`| ${t.columns.map(cell).join(' | ')} |`, `|${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of t.rows) lines.push(`| ${r.map(cell).join(' | ')} |`);
  return lines.join('\n');
}

export function writeReport(outDir: string, header: ReportHeader, sections: Section[]): string {
  mkdirSync(join(outDir, 'charts'), { recursive: true });
  const md: string[] = [];
  md.push(`# ${header.title}`, '');
  md.push(`Generated ${header.date} by \`${header.commands[0]}\` (${header.mode}); the whole run took ${header.totalSeconds.toFixed(0)} s. Every number below comes from that run.`, '');
  md.push('## Machine', '');
  for (const [k, v] of header.machine) md.push(`- **${k}**: ${v}`);
  md.push(`- **load average** (1, 5, 15 min) at the start: ${header.loadBefore.map((x) => x.toFixed(2)).join(', ')}; at the end: ${header.loadAfter.map((x) => x.toFixed(2)).join(', ')} (the machine is shared: other work competes for the cores, which widens the spread of every timing)`);
  md.push('', '## Commands', '');
  md.push('```sh', ...header.commands, '```', '');
  md.push('## Goals', '');
  const goals = sections.flatMap((s) => s.goals.map((g) => ({ ...g, section: s.number })));
  for (const g of goals) md.push(`- ${g.met ? '**MET**' : '**NOT MET**'} (section ${g.section}): ${g.goal}. Measured: ${g.measured}.`);
  const failed = sections.filter((s) => s.error);
  for (const s of failed) md.push(`- **NOT MEASURED** (section ${s.number}): the section failed: ${s.error}`);
  md.push('');
  for (const s of sections) {
    md.push(`## ${s.number}. ${s.title}`, '');
    if (s.error) md.push(`**Section failed:** ${s.error}`, '');
    for (const p of s.intro) md.push(p, '');
    for (const t of s.tables) {
      md.push(`**${t.caption}**`, '', renderTable(t), '', `![${t.caption}](charts/${t.id}.svg)`, '');
      writeFileSync(join(outDir, 'charts', `${t.id}.svg`), barChartSvg(t.chart));
    }
    for (const p of s.notes) md.push(p, '');
    md.push(`_Section ${s.number} took ${s.seconds.toFixed(1)} s${s.load !== undefined ? `; 1-minute load average when it started: ${s.load.toFixed(2)} on ${availableParallelism()} cores` : ''}._`, '');
  }
  const path = join(outDir, 'REPORT.md');
  writeFileSync(path, md.join('\n'));
  return path;
}
