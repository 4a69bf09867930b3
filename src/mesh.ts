import { spawn, type ChildProcess } from 'node:child_process';
import { startGateway, type GatewayHandle } from '../gateway/server.js';
import { authConfigFromEnv, createVerifier, type Verifier } from './auth/tokens.js';
import { readSupergraph, DEFAULT_SUBGRAPH_PORT } from './compose.js';
import type { DomainDeclaration } from './domain/declaration.js';
import { fromRoot } from './paths.js';
import { databaseOptionsFromEnv, type DatabaseOptions } from './storage/database.js';
import { startSubgraph, type SubgraphHandle } from './subgraph/server.js';
import { pgWireOptionsFromEnv, startPgWire, type PgWireHandle } from './pgwire/server.js';

/**
 * Starts a whole mesh: every domain's subgraph (as child processes, one per domain, like production;
 * or in this process, for tests) and the gateway in front of them.
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
  /** PostgreSQL wire protocol port (0: a free one); omitted: not served. */
  pgwirePort?: number;
}

export interface Mesh {
  gateway: GatewayHandle;
  subgraphs: Record<string, string>;
  inProcess: SubgraphHandle[];
  pgwire?: PgWireHandle;
  close(): Promise<void>;
}

export async function startMesh(opts: MeshOptions): Promise<Mesh> {
  const verifier = opts.verifier ?? createVerifier(authConfigFromEnv());
  const log = opts.log ?? (() => undefined);
  const handles: SubgraphHandle[] = [];
  const children: ChildProcess[] = [];
  const urls: Record<string, string> = {};
  try {
    if (opts.inProcess) {
      for (const [i, d] of opts.domains.entries()) {
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
      }
    } else {
      await Promise.all(
        opts.domains.map(async (d, i) => {
          const port = (opts.subgraphPortBase || DEFAULT_SUBGRAPH_PORT) + i;
          const child = spawn(process.execPath, [fromRoot('dist', 'src', 'cli', 'main.js'), 'subgraph', d.name, '--port', String(port), ...(opts.seed ? [] : ['--no-seed'])], {
            stdio: ['ignore', 'inherit', 'inherit'],
            env: process.env,
          });
          children.push(child);
          const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
          await waitHealthy(url, child, d.name);
          urls[d.name] = `${url}/graphql`;
          log(`subgraph ${d.name} on ${url}/graphql (pid ${child.pid})`);
        }),
      );
    }
    const gateway = await startGateway({ port: opts.gatewayPort, host: opts.host, supergraphSdl: readSupergraph(), subgraphUrls: urls, verifier });
    log(`gateway on ${gateway.url}/graphql`);
    // SQL driver: the PostgreSQL wire protocol in front of the gateway (src/pgwire).
    const pgwire = opts.pgwirePort === undefined ? undefined
      : await startPgWire({ port: opts.pgwirePort, host: opts.host, gatewayUrl: `${gateway.url}/graphql`, domains: opts.domains, verifier, ...pgWireOptionsFromEnv() });
    if (pgwire) log(`PostgreSQL wire protocol on ${pgwire.url}`);
    return {
      gateway,
      subgraphs: urls,
      inProcess: handles,
      pgwire,
      async close() {
        await pgwire?.close();
        await gateway.close();
        await Promise.all(handles.map((h) => h.close()));
        await Promise.all(children.map(stopChild));
      },
    };
  } catch (e) {
    await Promise.all(handles.map((h) => h.close().catch(() => undefined)));
    await Promise.all(children.map(stopChild));
    throw e;
  }
}

async function waitHealthy(url: string, child: ChildProcess, name: string, timeoutMs = 180_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`subgraph ${name} exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`subgraph ${name} did not become healthy within ${timeoutMs / 1000}s`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}
