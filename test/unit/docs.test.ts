import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, configFrom, configVariables } from '../../src/config.js';
import { fromRoot } from '../../src/paths.js';

/** The README documents every environment variable, command and linked file the repo has. */
const README = readFileSync(fromRoot('README.md'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'generated') return [];
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('every environment variable is read through src/config.ts and listed in the README', () => {
  for (const v of configVariables()) assert.ok(README.includes(`\`${v}\``), `README lists ${v}`);
  const reads: string[] = [];
  for (const file of [...sources(fromRoot('src')), ...sources(fromRoot('gateway'))]) {
    if (file.endsWith(join('src', 'config.ts'))) continue;
    const text = readFileSync(file, 'utf8');
    // Reads (not assignments such as the CLI's APOLLO_TELEMETRY_DISABLED = '1'), by name or index.
    for (const m of text.matchAll(/process\.env(\.[A-Za-z_]+\b|\[)(?!\s*=[^=])/g)) reads.push(`${file}: ${m[0]}`);
  }
  assert.deepEqual(reads, []);
});

test('a bad variable stops with its name', () => {
  assert.throws(() => configFrom({ GATEWAY_PORT: 'eighty' }), (e: Error) => e instanceof ConfigError && /GATEWAY_PORT/.test(e.message));
  assert.throws(() => configFrom({ CDM_HEALTH_TIMEOUT_S: '0' }), /CDM_HEALTH_TIMEOUT_S/);
  assert.equal(configFrom({}).GATEWAY_PORT, 4000);
  assert.equal(configFrom({ CDM_QUIET: '1' }).CDM_QUIET, true);
});

test('every cdm command is documented, and every file the README links exists', () => {
  const help = (args: string[]) => spawnSync(process.execPath, [fromRoot('dist', 'src', 'cli', 'main.js'), ...args, '--help'], { encoding: 'utf8' }).stdout;
  // Command lines of a help text: name, and whether it takes options or arguments (else it may be a group).
  const commands = (text: string) => [...text.split('Commands:')[1]!.matchAll(/^ {2}([a-z]+)( [[<])?/gm)].filter((m) => m[1] !== 'help');
  const top = commands(help([]));
  assert.ok(top.some((m) => m[1] === 'start') && top.some((m) => m[1] === 'domain'));
  for (const [, cmd, takesArgs] of top) {
    const groupHelp = takesArgs ? '' : help([cmd!]);
    const subs = groupHelp.includes('Commands:') ? commands(groupHelp).map((m) => `${cmd} ${m[1]}`) : [cmd!];
    for (const full of subs) assert.ok(README.includes(`cdm ${full}`), `README documents \`cdm ${full}\``);
  }
  const links = [...README.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
  for (const link of links) assert.ok(existsSync(fromRoot(link)), `README links ${link}, which the repo ships`);
  assert.ok(!/\.\.\/shared\//.test(README), 'no link outside the repository');
});
