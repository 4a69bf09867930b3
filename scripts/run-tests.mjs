#!/usr/bin/env node
// Runs the compiled test files with node's own test runner, prints the spec report live, and ends
// with one line "N passed, N failed" that CI reads. A run that executed no test fails.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';

const root = resolve(import.meta.dirname, '..');
const filters = process.argv.slice(2);
function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}
const files = findTests(join(root, 'dist', 'test'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const summaryDir = mkdtempSync(join(tmpdir(), 'cdm-test-'));
const summaryFile = join(summaryDir, 'summary.json');
const result = spawnSync(
  process.execPath,
  [
    '--experimental-wasm-modules',
    '--test',
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? '2'}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'summary-reporter.mjs')}`,
    `--test-reporter-destination=${summaryFile}`,
    ...files,
  ],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test', APOLLO_TELEMETRY_DISABLED: '1' } },
);
let summary = { passed: 0, failed: 1, failures: ['test runner produced no summary'] };
try {
  summary = JSON.parse(readFileSync(summaryFile, 'utf8').trim().split('\n').pop());
} catch {
  /* keep the failing default */
}
rmSync(summaryDir, { recursive: true, force: true });
if (summary.failures?.length) console.log('\nfailed tests:\n  ' + summary.failures.join('\n  '));
const nothingRan = summary.passed + summary.failed === 0;
if (nothingRan) console.log('no test was executed');
console.log(`${summary.passed} passed, ${summary.failed} failed`);
process.exit(summary.failed > 0 || nothingRan || result.status !== 0 ? 1 : 0);
