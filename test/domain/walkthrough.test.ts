import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromRoot } from '../../src/paths.js';

/**
 * The README's "Add your own domain" walkthrough, followed step by step with the blocks read from
 * the README itself: a JSON declaration and a CSV in a folder, `cdm domain check`, `npm start` with
 * CDM_DOMAINS_DIR, a token from `cdm token`, and the README's query through the gateway. No code
 * change, no compose step. A second folder holds a domain whose CSV header is misspelled: it is
 * reported and left out, and the good domain still starts.
 */
const README = readFileSync(fromRoot('README.md'), 'utf8');
function block(name: string): string {
  const m = new RegExp(`<!-- walkthrough:${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\`\`\``).exec(README);
  assert.ok(m, `README block walkthrough:${name}`);
  return m[1]!;
}
async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
/** Runs a README shell line (an `npm run -s cdm -- ...` command) from the repository root. */
function npmRun(line: string, env: NodeJS.ProcessEnv) {
  const args = line.trim().split(/\s+/);
  assert.equal(args[0], 'npm');
  return spawnSync('npm', args.slice(1), { cwd: fromRoot(), env, encoding: 'utf8' });
}

test('README walkthrough: a declaration file plus a CSV answers DP queries through the gateway', { timeout: 900_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cdm-walkthrough-'));
  const mine = join(dir, 'my-domains');
  const broken = join(dir, 'broken');
  mkdirSync(mine);
  mkdirSync(broken);
  const env = { ...process.env, CDM_DATA_DIR: join(dir, 'data'), CDM_JWT_SECRET: randomBytes(32).toString('hex'), CDM_LOG_LEVEL: 'warn', NODE_ENV: 'development' };
  // Steps 1 and 2: the CSV and the declaration, exactly as in the README.
  const csv = block('orders.csv');
  writeFileSync(join(mine, 'orders.csv'), csv);
  writeFileSync(join(mine, 'shop.json'), block('shop.json'));
  // A second domain with a misspelled header: the same declaration renamed, its CSV header typo'd.
  const other = JSON.parse(block('shop.json'));
  other.name = 'outlet';
  writeFileSync(join(broken, 'outlet.json'), JSON.stringify(other));
  writeFileSync(join(broken, 'orders.csv'), csv.replace('customer_id', 'custmer_id'));

  // Step 3: check.
  const checkLine = block('check').replace('my-domains', mine);
  const ok = npmRun(checkLine, env);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok, domain "shop"/);
  const bad = npmRun(checkLine.replace(join(mine, 'shop.json'), join(broken, 'outlet.json')), env);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /column "customer_id" is missing from the header \(did you mean "custmer_id"\?/);
  assert.match(bad.stderr, /header "custmer_id" is not a declared column \(did you mean "customer_id"\?\)/);

  // Step 4: start, the README's command (with both folders, and free ports).
  const startLine = block('start').split('\n')[0]!;
  assert.match(startLine, /^CDM_DOMAINS_DIR=my-domains npm start/);
  const [gatewayPort, subgraphPort] = [await freePort(), await freePort()];
  const proc = spawn('npm', ['start', '--', '--port', String(gatewayPort), '--subgraph-port', String(subgraphPort)], {
    cwd: fromRoot(),
    env: { ...env, CDM_DOMAINS_DIR: `${mine}:${broken}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  try {
    const until = Date.now() + 600_000;
    while (!/confidential-mesh is up/.test(out)) {
      assert.ok(proc.exitCode === null && Date.now() < until, `start did not come up:\n${out}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.match(out, /NOT started: outlet/, 'the broken domain is reported');
    assert.match(out, /subgraph outlet FAILED[^\n]*custmer_id/);

    // Step 5: a token and the README's query.
    const tokenLine = /TOKEN=\$\((.*)\)/.exec(block('query'))![1]!;
    const token = npmRun(tokenLine, env).stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'only the token is printed');
    const body = /-d '(.*)'/.exec(block('query'))![1]!;
    const res = await fetch(`http://127.0.0.1:${gatewayPort}/graphql`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-request-id': 'walkthrough-1' },
      body,
    });
    assert.equal(res.headers.get('x-request-id'), 'walkthrough-1');
    const json = (await res.json()) as { data?: { shop: { orders: { count: { value: number }; sum: { value: number } } } }; errors?: unknown };
    assert.equal(json.errors, undefined, JSON.stringify(json.errors));
    const rows = csv.trim().split('\n').length - 1;
    // Discrete noise at epsilon 1, sensitivity 5 (maxRowsPerUnit): beyond 100 with probability < e^-19.
    assert.ok(Math.abs(json.data!.shop.orders.count.value - rows) < 100, `count ${json.data!.shop.orders.count.value}`);
    assert.equal(typeof json.data!.shop.orders.sum.value, 'number');
    // The subgraph counted both releases and the epsilon they charged.
    const metrics = await (await fetch(`http://127.0.0.1:${subgraphPort}/metrics`)).text();
    assert.match(metrics, /cdm_dp_releases_total\{domain="shop",dataset="orders"\} 2/);
    assert.match(metrics, /cdm_dp_epsilon_charged_total\{domain="shop",dataset="orders"\} 2/);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
});
