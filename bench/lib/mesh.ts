import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startGateway } from '../../gateway/server.js';
import { createVerifier, mintDevToken } from '../../src/auth/tokens.js';
import { compose, readSupergraph } from '../../src/compose.js';
import { demoDomain } from '../../src/domain/registry.js';
import { fromRoot } from '../../src/paths.js';
import type { DatabaseOptions } from '../../src/storage/database.js';
import { startSubgraph, type SubgraphHandle } from '../../src/subgraph/server.js';
import type { BenchContext } from './context.js';
import { health } from './datasets.js';

/** Processes, ports, tokens and GraphQL calls for the benchmark. */

export const CLI = fromRoot('dist', 'src', 'cli', 'main.js');
const HIVE_SCRIPT = fromRoot('dist', 'bench', 'hive-gateway.js');
export const cliDisplay = 'node dist/src/cli/main.js';

export function token(ctx: BenchContext, sub: string, roles: string[] = ['analyst']): Promise<string> {
  return mintDevToken(ctx.secret, { sub, roles, expiresIn: '12h' });
}

export interface GqlResult {
  data?: any;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** Requests retried because a kept-alive connection had been closed under them (reported). */
export const retries = { count: 0 };

const staleSocket = (e: unknown) => {
  const code = (e as { cause?: { code?: string } })?.cause?.code;
  return e instanceof TypeError && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE');
};

export async function gql(url: string, query: string, variables: Record<string, unknown> | undefined, bearer: string): Promise<GqlResult> {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ query, variables }),
  };
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    // A keep-alive socket the server closed while this process was busy: the request never
    // reached the server, so sending it again is safe.
    if (!staleSocket(e)) throw e;
    retries.count++;
    res = await fetch(url, init);
  }
  const text = await res.text();
  try {
    return JSON.parse(text) as GqlResult;
  } catch {
    throw new Error(`HTTP ${res.status} from ${url}: ${text.slice(0, 200)}`);
  }
}

/** The GraphQL result's data, or an error naming the first GraphQL error. */
export async function gqlData(url: string, query: string, variables: Record<string, unknown> | undefined, bearer: string): Promise<any> {
  const r = await gql(url, query, variables, bearer);
  if (r.errors?.length) throw new Error(`GraphQL error from ${url}: ${r.errors[0]!.message} (${String(r.errors[0]!.extensions?.code ?? '')})`);
  return r.data;
}

/** A huge budget, global cap, per-query maximum and rate limit for the benchmark principal. */
export async function adminSetup(ctx: BenchContext, url: string, principal: string): Promise<void> {
  const admin = await token(ctx, 'bench-admin', ['admin']);
  await gqlData(
    url,
    `mutation Setup($p: ID!, $scope: String!) {
      healthSetBudget(principal: $p, epsilon: 1000, delta: 0.00001) { epsilon }
      healthSetGlobalCap(dataset: VISITS, epsilon: 1000, delta: 0.0001) { epsilon }
      healthSetPolicy(scope: $scope, policy: { maxEpsilonPerQuery: 100, rateLimitPerMinute: 10000000 }) { scope }
    }`,
    { p: principal, scope: `principal:${principal}` },
    admin,
  );
}

/** The health subgraph and a gateway in this process (requests are sequential in section 1). */
export interface InProcessMesh {
  subgraph: SubgraphHandle;
  gatewayUrl: string;
  subgraphUrl: string;
  close(): Promise<void>;
}

export async function startInProcessHealth(ctx: BenchContext, database: DatabaseOptions): Promise<InProcessMesh> {
  const verifier = createVerifier({ secret: ctx.secret });
  const subgraph = await startSubgraph(health(), { port: 0, verifier, database, seed: false });
  try {
    const gw = await startGateway({ port: 0, supergraphSdl: readSupergraph(), subgraphUrls: { health: `${subgraph.url}/graphql` }, verifier });
    // PGlite runs in this process and blocks the event loop for seconds at 1M rows; a server closing
    // idle keep-alive sockets after its default 5 s would race the client reusing them.
    for (const server of [gw.server, subgraph.server]) server.keepAliveTimeout = 600_000;
    return {
      subgraph,
      gatewayUrl: `${gw.url}/graphql`,
      subgraphUrl: `${subgraph.url}/graphql`,
      async close() {
        await gw.close();
        await subgraph.close();
      },
    };
  } catch (e) {
    await subgraph.close().catch(() => undefined);
    throw e;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The first of `n` consecutive free ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let i = 0; i < n && ok; i++) ok = await portFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${n} consecutive free ports found`);
}

/** Environment for a child process: ours without anything that would point it elsewhere. */
export function childEnv(ctx: BenchContext, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['DATABASE_URL', 'CDM_SCHEMA_SUFFIX', 'CDM_DATA_DIR', 'CDM_JWT_SECRET', 'CDM_JWKS_URL', 'CDM_JWT_ISSUER', 'CDM_JWT_AUDIENCE', 'GATEWAY_PORT', 'SUBGRAPH_PORT', 'NODE_OPTIONS'])
    delete env[k];
  return { ...env, APOLLO_TELEMETRY_DISABLED: '1', CDM_QUIET: '1', CDM_JWT_SECRET: ctx.secretText, ...extra };
}

/**
 * A CLI child process in its own process group, so stopping it also stops the subgraph processes
 * `cdm start` spawns (on SIGTERM, Apollo Server's own signal handler re-raises the signal before
 * `cdm start` has stopped its children, which would otherwise be left running).
 */
export interface CliChild {
  proc: ChildProcess;
  pid: number;
  startedAt: number;
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

export function spawnCli(ctx: BenchContext, args: string[], env: NodeJS.ProcessEnv, opts: { nodeArgs?: string[]; ipc?: boolean; script?: string } = {}): CliChild {
  const startedAt = performance.now();
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.script ?? CLI, ...args], {
    env,
    cwd: fromRoot(),
    detached: true,
    stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`could not start ${args.join(' ')}`);
  const pid = proc.pid;
  ctx.children.add(proc);
  const lines: string[] = [];
  const keep = (b: Buffer) => {
    lines.push(...b.toString('utf8').split(/\r?\n|\r/).filter(Boolean));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let exitedFlag = false;
  proc.once('exit', () => {
    exitedFlag = true;
  });
  return {
    proc,
    pid,
    startedAt,
    output: () => lines.join('\n'),
    exited: () => exitedFlag,
    async stop() {
      await stopGroup(pid);
      ctx.children.delete(proc);
    },
  };
}

const groupAlive = (pgid: number) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function stopGroup(pgid: number, graceMs = 10_000): Promise<void> {
  if (!groupAlive(pgid)) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  const until = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < until) await sleep(50);
  if (groupAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      /* gone */
    }
    while (groupAlive(pgid)) await sleep(50);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls until `probe` resolves true; fails early if the child exits. */
export async function waitFor(what: string, probe: () => Promise<boolean>, child?: CliChild, timeoutMs = 180_000, intervalMs = 50): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    if (child?.exited()) throw new Error(`${what}: the process exited:\n${child.output().slice(-2000)}`);
    try {
      if (await probe()) return performance.now();
    } catch {
      /* not up yet */
    }
    await sleep(intervalMs);
  }
  throw new Error(`${what}: not ready after ${timeoutMs / 1000} s${child ? `:\n${child.output().slice(-2000)}` : ''}`);
}

/** The subgraph URLs a running gateway routes to, by domain (from its /health body). */
export async function gatewaySubgraphs(gatewayUrl: string): Promise<Record<string, string>> {
  const body = (await (await fetch(gatewayUrl.replace(/\/graphql$/, '/health'))).json()) as { subgraphs?: Record<string, { url: string }> };
  return Object.fromEntries(Object.entries(body.subgraphs ?? {}).map(([name, s]) => [name, s.url]));
}

/**
 * The supergraph of these running subgraphs, composed by the project (src/compose.ts), with each
 * subgraph's URL set to where it runs: what a second router needs to serve them unchanged.
 */
export function supergraphFor(subgraphs: Record<string, string>): string {
  let sdl = compose(Object.keys(subgraphs).map(demoDomain)).supergraphSdl;
  for (const [name, url] of Object.entries(subgraphs)) {
    const re = new RegExp(`(@join__graph\\(name: "${name}", url: ")[^"]*(")`);
    if (!re.test(sdl)) throw new Error(`the supergraph names no subgraph ${name}`);
    sdl = sdl.replace(re, `$1${url}$2`);
  }
  return sdl;
}

/** Hive Gateway (bench/hive-gateway.ts) in its own process, serving `supergraph` on a free port. */
export async function startHiveGateway(ctx: BenchContext, supergraphSdl: string, ready: (url: string) => Promise<boolean>): Promise<{ child: CliChild; url: string }> {
  const file = join(ctx.tmp, `supergraph-hive-${randomBytes(3).toString('hex')}.graphql`);
  writeFileSync(file, supergraphSdl);
  let url = '';
  const { child } = await spawnReady(ctx, 'Hive Gateway', async () => {
    const port = await freePorts(1);
    url = `http://127.0.0.1:${port}/graphql`;
    const target = url;
    return { args: [file, String(port)], env: childEnv(ctx, {}), opts: { script: HIVE_SCRIPT }, ready: () => ready(target) };
  });
  return { child, url };
}

export const healthy = (baseUrl: string) => async () => (await fetch(`${baseUrl}/health`)).ok;

/** The gateway answers `{ me { id } }` for this token's subject (a query that reaches a subgraph). */
export const meAnswers = (url: string, bearer: string, sub: string) => async () => {
  const r = await gql(url, '{ me { id } }', undefined, bearer);
  return r.data?.me?.id === sub;
};

/**
 * Runs `start` (pick free ports, spawn, wait until ready) again on other ports when another process
 * took one of them between the check and the child's listen (EADDRINUSE); the machine is shared.
 */
export async function retryOnPortClash<T>(start: (attempt: number) => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(attempt);
    } catch (e) {
      if (attempt >= tries || !/EADDRINUSE/.test((e as Error).message)) throw e;
    }
  }
}

/** Spawns a CLI child on ports from `ports()` and waits for `ready`; stops it if it never gets ready. */
export async function spawnReady(
  ctx: BenchContext,
  what: string,
  make: () => Promise<{ args: string[]; env: NodeJS.ProcessEnv; opts?: { nodeArgs?: string[]; ipc?: boolean; script?: string }; ready: () => Promise<boolean> }>,
  onRetry?: () => void,
): Promise<{ child: CliChild; readyAt: number }> {
  return retryOnPortClash(async (attempt) => {
    if (attempt > 1) onRetry?.();
    const m = await make();
    const child = spawnCli(ctx, m.args, m.env, m.opts);
    try {
      return { child, readyAt: await waitFor(what, m.ready, child, 300_000, 50) };
    } catch (e) {
      await child.stop();
      throw e;
    }
  });
}
