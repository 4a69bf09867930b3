import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { GatewayHandle } from '../gateway/server.js';
import { authConfigFromEnv, createVerifier, type Verifier } from './auth/tokens.js';
import { config } from './config.js';
import type { DomainDeclaration } from './domain/declaration.js';
import { fromRoot } from './paths.js';
import { databaseOptionsFromEnv, type DatabaseOptions } from './storage/database.js';
import { ensurePgliteTemplate, TEMPLATE_FILE } from './storage/pglite-template.js';
import type { SubgraphHandle } from './subgraph/server.js';
import type { PgWireHandle } from './pgwire/server.js';

/**
 * Starts a whole mesh: every domain's subgraph (as child processes, one per domain, like production;
 * or in this process, for tests) and the gateway in front of them. The supergraph is composed here,
 * from the domains that actually started, so the gateway routes only to running subgraphs and a new
 * declaration needs no separate compose step. One domain that fails to start is reported and left
 * out; it never stops the others.
 */
export interface MeshOptions {
  domains: DomainDeclaration[];
  gatewayPort: number;
  /** Port of the first subgraph; the others follow. 0: pick free ports (in-process only). */
  subgraphPortBase: number;
  inProcess: boolean;
  seed: boolean;
  host?: string;
  verifier?: Verifier;
  /** In-process only: database options per domain (default: from the environment). */
  database?: (d: DomainDeclaration) => DatabaseOptions;
  log?: (line: string) => void;
  /** Child processes only: extra environment (e.g. CDM_DOMAINS_DIR for the children to find declarations). */
  env?: NodeJS.ProcessEnv;
  /** PostgreSQL wire protocol port (0: a free one); omitted: not served. */
  pgwirePort?: number;
}

export interface Mesh {
  gateway: GatewayHandle;
  subgraphs: Record<string, string>;
  inProcess: SubgraphHandle[];
  /** Domains that failed to start, with the reason. */
  failed: Record<string, string>;
  pgwire?: PgWireHandle;
  close(): Promise<void>;
}

export async function startMesh(opts: MeshOptions): Promise<Mesh> {
  const verifier = opts.verifier ?? createVerifier(authConfigFromEnv());
  const log = opts.log ?? (() => undefined);
  const handles: SubgraphHandle[] = [];
  const children: ChildProcess[] = [];
  const urls: Record<string, string> = {};
  const failed: Record<string, string> = {};
  const stopAll = async () => {
    await Promise.all(handles.map((h) => h.close().catch(() => undefined)));
    await Promise.all(children.map(stopChild));
  };
  // New embedded databases (and the wire protocol's catalog) start from an empty cluster made once,
  // here, before the subgraphs start: not initdb in every process (src/storage/pglite-template.ts).
  const embedded = opts.domains.some((d) => !(opts.database?.(d) ?? databaseOptionsFromEnv(d)).url) || opts.pgwirePort !== undefined;
  if (embedded && !existsSync(TEMPLATE_FILE)) {
    log('creating the empty PGlite cluster every new embedded database starts from (once per PGlite version)');
    await ensurePgliteTemplate();
  }
  const pending = new Set(opts.domains.map((d) => d.name));
  const since = Date.now();
  const ticker = setInterval(() => log(`waiting for ${[...pending].join(', ')} (${Math.round((Date.now() - since) / 1000)}s)`), 10_000);
  // The gateway's, composition's and in-process subgraphs' modules load while child subgraphs start.
  const modules = async () => ({
    ...(await import('../gateway/server.js')),
    ...(await import('./compose.js')),
    ...(await import('./subgraph/server.js')),
    ...(await import('./pgwire/server.js')),
  });
  let loading: ReturnType<typeof modules> | undefined;
  try {
    const starting = Promise.all(
      opts.domains.map(async (d, i) => {
        try {
          if (opts.inProcess) {
            const { startSubgraph } = await (loading ??= modules());
            const h = await startSubgraph(d, {
              port: opts.subgraphPortBase === 0 ? 0 : opts.subgraphPortBase + i,
              host: opts.host,
              verifier,
              seed: opts.seed,
              database: opts.database?.(d) ?? databaseOptionsFromEnv(d),
            });
            handles.push(h);
            urls[d.name] = `${h.url}/graphql`;
            log(`subgraph ${d.name} on ${h.url}/graphql (${h.db.kind})`);
          } else {
            const port = (opts.subgraphPortBase || config().SUBGRAPH_PORT) + i;
            const child = spawnSubgraph(d, port, opts);
            children.push(child);
            const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
            // A subgraph that failed or stalled is stopped, not left holding its port.
            await waitReady(url, child, d.name).catch(async (e) => {
              await stopChild(child);
              throw e;
            });
            urls[d.name] = `${url}/graphql`;
            log(`subgraph ${d.name} on ${url}/graphql (pid ${child.pid})`);
          }
        } catch (e) {
          failed[d.name] = (e as Error).message;
          log(`subgraph ${d.name} FAILED, left out of the mesh: ${(e as Error).message}`);
        } finally {
          pending.delete(d.name);
        }
      }),
    ).finally(() => clearInterval(ticker));
    // While the subgraphs start, the supergraph of every domain (cached across starts; recomposed
    // below only if a domain failed), rather than after the last subgraph is ready.
    await new Promise((r) => setImmediate(r));
    const { startGateway, startPgWire, pgWireOptionsFromEnv, supergraphOf } = await (loading ??= modules());
    let everyDomain: string | undefined;
    try {
      everyDomain = supergraphOf(opts.domains);
    } catch {
      // Composed below from the domains that started (the error is reported there if it stays).
    }
    await starting;
    const started = opts.domains.filter((d) => urls[d.name]);
    // In-process meshes (tests, benchmarks) want every domain: a failure there is an error.
    if (opts.inProcess && Object.keys(failed).length) throw new Error(`subgraphs failed: ${Object.entries(failed).map(([n, m]) => `${n}: ${m}`).join('; ')}`);
    if (started.length === 0) throw new Error(`no domain started (${Object.entries(failed).map(([n, m]) => `${n}: ${m}`).join('; ') || 'none declared'})`);
    const all = started.length === opts.domains.length;
    if (!all || !everyDomain) log(`composing the supergraph of ${started.map((d) => d.name).join(', ')}`);
    const supergraphSdl = all && everyDomain ? everyDomain : supergraphOf(started);
    const gateway = await startGateway({ port: opts.gatewayPort, host: opts.host, supergraphSdl, subgraphUrls: urls, verifier });
    log(`gateway on ${gateway.url}/graphql`);
    // SQL driver: the PostgreSQL wire protocol in front of the gateway (src/pgwire).
    const pgwire = opts.pgwirePort === undefined ? undefined
      : await startPgWire({ port: opts.pgwirePort, host: opts.host, gatewayUrl: `${gateway.url}/graphql`, domains: started, verifier, ...pgWireOptionsFromEnv() });
    if (pgwire) log(`PostgreSQL wire protocol on ${pgwire.url}`);
    return {
      gateway,
      subgraphs: urls,
      inProcess: handles,
      failed,
      pgwire,
      async close() {
        await pgwire?.close();
        await gateway.close();
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * A subgraph child process. The IPC channel is how it knows its parent is alive: it exits on
 * 'disconnect', which the kernel delivers even when the parent is SIGKILLed (src/cli/lifecycle.ts).
 */
function spawnSubgraph(d: DomainDeclaration, port: number, opts: MeshOptions): ChildProcess {
  const args = ['subgraph', d.name, '--port', String(port), ...(opts.host ? ['--host', opts.host] : []), ...(opts.seed ? [] : ['--no-seed'])];
  return spawn(process.execPath, [...process.execArgv, fromRoot('dist', 'src', 'cli', 'main.js'), ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...opts.env, CDM_SUPERVISED: '1' },
  });
}

/**
 * Waits for a child's /health. The timeout is an IDLE timeout (CDM_HEALTH_TIMEOUT_S): every progress
 * message the child sends (seeding reports progress) restarts it, so the wait scales with the work
 * instead of failing a large or slow load; a silent stall still fails.
 */
async function waitReady(url: string, child: ChildProcess, name: string): Promise<void> {
  const idleMs = config().CDM_HEALTH_TIMEOUT_S * 1000;
  let lastProgress = Date.now();
  let ready = false;
  let failure: string | undefined;
  const onMessage = (m: unknown) => {
    lastProgress = Date.now();
    const msg = m as { type?: string; message?: string };
    if (msg?.type === 'ready') ready = true;
    if (msg?.type === 'failed') failure = msg.message;
  };
  child.on('message', onMessage);
  try {
    while (Date.now() - lastProgress < idleMs) {
      if (failure) throw new Error(failure);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`subgraph ${name} exited (${child.exitCode ?? child.signalCode}) before becoming healthy`);
      if (ready || (await healthy(url))) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`subgraph ${name} made no progress for ${idleMs / 1000}s (CDM_HEALTH_TIMEOUT_S) and is not healthy`);
  } finally {
    child.off('message', onMessage);
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}
