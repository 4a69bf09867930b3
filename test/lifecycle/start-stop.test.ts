import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRoot } from '../../src/paths.js';

/**
 * Issue 12: stopping `cdm start` by any means stops every child, even SIGKILL (children watch the
 * parent over IPC), also through `npm start` (which puts npm and a shell in between); `--domains`
 * starts only those subgraphs and the gateway routes only to them.
 */
const START_TIMEOUT_MS = 600_000;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 30_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`${what} within ${ms / 1000}s`);
}

interface Started {
  proc: ChildProcess;
  output: () => string;
  subgraphPids: number[];
  gateway: string;
  ports: number[];
}

/** Runs `command` until the mesh says it is up; returns the pids of the subgraph processes. */
async function start(command: string, args: string[], ports: number[], dataDir: string): Promise<Started> {
  const proc = spawn(command, args, {
    cwd: fromRoot(),
    env: { ...process.env, CDM_DATA_DIR: dataDir, CDM_LOG_LEVEL: 'warn', NODE_ENV: 'development' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  await eventually('the mesh is up', () => {
    if (proc.exitCode !== null) assert.fail(`start exited ${proc.exitCode}:\n${out}`);
    return /confidential-mesh is up/.test(out);
  }, START_TIMEOUT_MS);
  const subgraphPids = [...out.matchAll(/subgraph \w+ on \S+ \(pid (\d+)\)/g)].map((m) => Number(m[1]));
  return { proc, output: () => out, subgraphPids, gateway: `http://127.0.0.1:${ports[0]}`, ports };
}

async function assertAllGone(s: Started, extraPids: number[] = []) {
  for (const pid of [...s.subgraphPids, ...extraPids]) await eventually(`process ${pid} exited`, () => !alive(pid));
  for (const port of s.ports) await eventually(`port ${port} freed`, () => portFree(port));
}

test('cdm start --domains starts and routes only those; SIGKILL of the parent leaves no child and frees every port', { timeout: START_TIMEOUT_MS + 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cdm-life-'));
  const ports = [await freePort(), await freePort()];
  const s = await start(process.execPath, ['--experimental-wasm-modules', fromRoot('dist', 'src', 'cli', 'main.js'), 'start', '--domains', 'reference', '--port', String(ports[0]), '--subgraph-port', String(ports[1])], ports, dataDir);
  try {
    assert.equal(s.subgraphPids.length, 1, s.output());
    const health = (await (await fetch(`${s.gateway}/health`)).json()) as { status: string; subgraphs: Record<string, { status: string }> };
    assert.equal(health.status, 'pass');
    assert.deepEqual(Object.keys(health.subgraphs), ['reference'], 'the gateway knows only the started domain');
    // A field of a domain that was not started is not in the composed schema: a validation error,
    // never a request forwarded to a default port (INTERNAL_SERVER_ERROR).
    const res = await fetch(`${s.gateway}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ census { __typename } }' }) });
    const body = (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    assert.notEqual(body.errors?.[0]?.extensions?.code, 'INTERNAL_SERVER_ERROR');
    assert.match(JSON.stringify(body), /census|UNAUTHENTICATED|GRAPHQL_VALIDATION_FAILED/);
    s.proc.kill('SIGKILL');
    await assertAllGone(s);
  } finally {
    s.proc.kill('SIGKILL');
    for (const pid of s.subgraphPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('npm start: SIGKILL of npm itself stops the shell, cdm start and every subgraph', { timeout: START_TIMEOUT_MS + 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'cdm-life-'));
  const ports = [await freePort(), await freePort()];
  const s = await start('npm', ['start', '--', '--domains', 'reference', '--port', String(ports[0]), '--subgraph-port', String(ports[1])], ports, dataDir);
  try {
    const startPid = Number(/starting .*\(pid (\d+)\)/.exec(s.output())?.[1]);
    assert.ok(startPid > 0, s.output());
    s.proc.kill('SIGKILL');
    await assertAllGone(s, [startPid]);
  } finally {
    s.proc.kill('SIGKILL');
    for (const pid of s.subgraphPids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
});
