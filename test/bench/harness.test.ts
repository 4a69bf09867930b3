import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { fromRoot } from '../../src/paths.js';

/**
 * Keeps the benchmark harness from rotting: runs `node dist/bench/run.js --tiny` (every section at
 * toy sizes, on the PostgreSQL server; PGlite only in the full run, since creating a PGlite database
 * alone costs seconds of CPU) into a temporary directory and checks that the report has every
 * section, each with a table of numbers and its chart, and that no schema was left behind. Nothing
 * here is timed.
 */
const PG_URL = process.env.CDM_BENCH_PG_URL ?? process.env.CDM_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SECTIONS = [
  '1. DP aggregate vs raw SQL',
  '2. Stack overhead',
  '3. Accountant throughput and overspend',
  '4. Memory of the subgraph',
  '5. Accuracy',
  '6. Start-up',
];

function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fromRoot('dist', 'bench', 'run.js'), ...args], {
      cwd: fromRoot(),
      env: { ...process.env, APOLLO_TELEMETRY_DISABLED: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('the benchmark harness runs in tiny mode and writes a complete report', { timeout: 300_000 }, async () => {
  process.env.APOLLO_TELEMETRY_DISABLED = '1';
  const out = mkdtempSync(join(tmpdir(), 'cdm-bench-test-'));
  try {
    const { code, stderr } = await run(['--tiny', '--out', out]);
    assert.equal(code, 0, `bench exited with ${code}:\n${stderr.slice(-6000)}`);
    const md = readFileSync(join(out, 'REPORT.md'), 'utf8');
    assert.match(md, /^# confidential-mesh benchmark report/m);
    for (const k of ['OS', 'CPUs', 'memory', 'Node.js', 'PostgreSQL server']) assert.match(md, new RegExp(`^- \\*\\*${k}\\*\\*: \\S`, 'm'), `machine info: ${k}`);
    assert.match(md, /Generated \d{4}-\d\d-\d\dT/, 'date');
    assert.match(md, /```sh\nnode dist\/bench\/run\.js --tiny/, 'exact command');
    assert.match(md, /^## Goals/m);
    assert.doesNotMatch(md, /Section failed|NOT MEASURED/);

    const headings = [...md.matchAll(/^## (\d)\. .*$/gm)];
    assert.deepEqual(headings.map((h) => h[1]), ['1', '2', '3', '4', '5', '6']);
    for (const [i, title] of SECTIONS.entries()) {
      const start = md.indexOf(`## ${title}`);
      assert.ok(start >= 0, `section "${title}" is missing`);
      const next = i + 1 < SECTIONS.length ? md.indexOf(`## ${SECTIONS[i + 1]}`) : md.length;
      const body = md.slice(start, next);
      // Markdown tables (header, separator, data rows) whose data rows carry numbers.
      const lines = body.split('\n');
      const tables: string[][] = [];
      lines.forEach((l, j) => {
        if (!/^\|(-{3,}|-{3,}:)(\|-{3,}:?)*\|$/.test(l)) return;
        const rows: string[] = [];
        for (let k = j + 1; k < lines.length && lines[k]!.startsWith('|'); k++) rows.push(lines[k]!);
        tables.push(rows);
      });
      assert.ok(tables.length >= 1, `section "${title}" has no table`);
      for (const dataRows of tables) {
        assert.ok(dataRows.length >= 1, `section "${title}" has an empty table`);
        for (const row of dataRows) {
          const cells = row.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
          assert.ok(cells.some((c) => /^-?\d[\d,]*(\.\d+)?(e[-+]?\d+)?(x|%| s)?$/.test(c)), `section "${title}": a row without numbers: ${row}`);
          assert.ok(!cells.includes('n/a'), `section "${title}": a missing number: ${row}`);
        }
      }
      const charts = [...body.matchAll(/!\[[^\]]*\]\((charts\/[\w-]+\.svg)\)/g)].map((m) => m[1]!);
      assert.equal(charts.length, tables.length, `section "${title}": one chart per table`);
      for (const c of charts) {
        assert.ok(existsSync(join(out, c)), `missing ${c}`);
        const svg = readFileSync(join(out, c), 'utf8');
        assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
        assert.match(svg, /<rect [^>]*width="\d/);
        assert.match(svg, /<\/svg>\s*$/);
      }
    }
    // Nothing left behind in PostgreSQL: every schema of the run carries its unique suffix.
    const suffix = /schemas \*(_bench_[0-9a-f]+)\*/.exec(stderr)?.[1];
    assert.ok(suffix, 'the run names its schema suffix');
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_namespace WHERE strpos(nspname, $1) > 0', [suffix]);
      assert.equal(rows[0]!.n, 0, `schemas *${suffix}* were left behind`);
    } finally {
      await client.end();
    }
    // The goals the issue sets are stated with a verdict.
    const verdicts = md.split('\n').filter((l) => /^- \*\*(NOT )?MET\*\* \(section \d\): /.test(l));
    for (const g of ['1.0x', '1.15x', '8 ms p50', '90%', '1,000 charges/s', 'overspend 0', 'replicas', 'within 10%', '<= 8 s'])
      assert.ok(verdicts.some((l) => l.includes(g)), `goal ${g}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
