#!/usr/bin/env node
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { authConfigFromEnv, createVerifier, loadOrCreateDevSecret, maxLifetimeFromEnv, mintDevToken } from '../auth/tokens.js';
import { config } from '../config.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { loadDomainFile, loadDomainsDir } from '../domain/loader.js';
import { demoDomains, findDomain } from '../domain/registry.js';
import { checkSources } from '../seed/check.js';
import { lifecycle, notifyParent } from './lifecycle.js';
import { registerTrainCommand } from '../ml/cli.js';

process.env.APOLLO_TELEMETRY_DISABLED = '1';

/**
 * The heavy modules (Apollo, Prisma, PGlite) load only in the commands that use them, so that
 * `cdm token` or `cdm domain check` answer at once even on a loaded machine.
 */
const mesh = () => import('../mesh.js');
const storage = async () => ({ ...(await import('../storage/database.js')), ...(await import('../storage/migrate.js')) });

const int = (v: string) => {
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port number');
  return n;
};
const selectDomains = (list?: string) => runtimeDomains(list, (l) => console.error(l));

/** The declarations of CDM_DOMAINS_DIR (or domains/), optionally narrowed; bad files are reported and skipped. */
async function runtimeDomains(list: string | undefined, log: (line: string) => void): Promise<DomainDeclaration[]> {
  const { domains, errors } = await loadDomainsDir();
  for (const e of errors) log(`skipped a declaration: ${e.message}`);
  if (!list) return domains;
  return list.split(',').map((s) => findDomain(domains, s.trim()));
}

const program = new Command('cdm').description('confidential-mesh: a federated, differentially private data mesh');

program
  .command('start')
  .description('load the domain declarations, migrate, seed and start each subgraph (one process each) and the gateway')
  .option('--port <port>', 'gateway port (env GATEWAY_PORT)', int, config().GATEWAY_PORT)
  .option('--subgraph-port <port>', 'port of the first subgraph; the others follow (env SUBGRAPH_PORT)', int, config().SUBGRAPH_PORT)
  .option('--domains <names>', 'comma-separated domains (default: every declaration in CDM_DOMAINS_DIR or domains/)')
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--no-seed', 'do not load data from the declared sources')
  .option('--exit-with-parent', 'stop when the parent process dies (npm start sets it)')
  .option('--pgwire-port <port>', 'PostgreSQL wire protocol port (env PGWIRE_PORT)', int, config().PGWIRE_PORT)
  .option('--no-pgwire', 'do not serve the PostgreSQL wire protocol')
  .action(async (o: { port: number; subgraphPort: number; domains?: string; host: string; seed: boolean; exitWithParent?: boolean; pgwire: boolean; pgwirePort: number }) => {
    const started = Date.now();
    const say = (l: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${l}`);
    const life = lifecycle({ watchParent: o.exitWithParent === true, log: say });
    const domains = await runtimeDomains(o.domains, say);
    say(`starting ${domains.map((d) => d.name).join(', ')} (pid ${process.pid})`);
    const { startMesh } = await mesh();
    const running = await startMesh({ domains, gatewayPort: o.port, subgraphPortBase: o.subgraphPort, host: o.host, inProcess: false, seed: o.seed, log: say, pgwirePort: o.pgwire ? o.pgwirePort : undefined });
    life.onStop(() => running.close());
    const failed = Object.keys(running.failed);
    console.log(`\nconfidential-mesh is up in ${((Date.now() - started) / 1000).toFixed(1)}s: ${running.gateway.url}/graphql${failed.length ? ` (NOT started: ${failed.join(', ')})` : ''}`);
    console.log(`health: ${running.gateway.url}/health, metrics: ${running.gateway.url}/metrics`);
    console.log(`mint a token with: npm run -s cdm -- token --sub alice --role analyst`);
  });

program
  .command('pgwire')
  .description('serve the PostgreSQL wire protocol in front of a running gateway (user = principal, password = token)')
  .option('--port <port>', 'port (env PGWIRE_PORT)', int, config().PGWIRE_PORT)
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--gateway <url>', 'gateway GraphQL endpoint', `http://127.0.0.1:${config().GATEWAY_PORT}/graphql`)
  .option('--domains <names>', 'comma-separated domains (default: every declaration)')
  .action(async (o: { port: number; host: string; gateway: string; domains?: string }) => {
    const say = (l: string) => console.log(l);
    const life = lifecycle({ watchParent: false, log: say });
    const domains = await runtimeDomains(o.domains, say);
    const { startPgWire, pgWireOptionsFromEnv } = await import('../pgwire/server.js');
    const h = await startPgWire({ port: o.port, host: o.host, gatewayUrl: o.gateway, domains, verifier: createVerifier(authConfigFromEnv()), ...pgWireOptionsFromEnv() });
    life.onStop(() => h.close());
    say(`PostgreSQL wire protocol on ${h.url} (gateway ${o.gateway})`);
  });

program
  .command('subgraph <domain>')
  .description('start one domain subgraph (replicas may share one PostgreSQL)')
  .option('--port <port>', 'port', int, 4001)
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--no-seed', 'do not load data from the declared sources')
  .action(async (name: string, o: { port: number; host: string; seed: boolean }) => {
    // Started by `cdm start`: exit with it, whatever way it dies (src/cli/lifecycle.ts).
    const life = lifecycle({ watchParent: config().CDM_SUPERVISED, log: (l) => console.error(`subgraph ${name}: ${l}`) });
    console.error(`subgraph ${name}: loading its declaration`);
    const domain = findDomain(await runtimeDomains(undefined, (l) => console.error(l)), name);
    // Each step with the seconds since this process started (module loading included).
    const onStep = (s: string) => {
      console.error(`subgraph ${name}: [${(performance.now() / 1000).toFixed(1)}s] ${s}`);
      notifyParent({ type: 'progress', step: s });
    };
    const { startSubgraph } = await import('../subgraph/server.js');
    const { databaseOptionsFromEnv } = await storage();
    const h = await startSubgraph(domain, { port: o.port, host: o.host, verifier: createVerifier(authConfigFromEnv()), seed: o.seed, database: databaseOptionsFromEnv(domain), onStep }).catch(async (e: Error) => {
      // The reason goes to the supervising `cdm start` too, which names it in its report.
      await notifyParent({ type: 'failed', message: e.message });
      throw e;
    });
    life.onStop(() => h.close());
    await notifyParent({ type: 'ready', url: h.url });
  });

const domainCmd = program.command('domain').description('domain declarations: check, list, prepare existing data');
domainCmd
  .command('check <files...>')
  .description('validate declaration files (and the header of each CSV source) without starting anything')
  .action(async (files: string[]) => {
    let ok = true;
    for (const file of files) {
      try {
        const d = await loadDomainFile(resolve(file));
        const lines = await checkSources(d).catch((e: Error) => {
          throw new Error(`${file}: ${e.message}`);
        });
        for (const line of lines) console.log(`${file}: ${line}`);
        console.log(`${file}: ok, domain "${d.name}" (${d.sensitivity}) with ${d.datasets.map((x) => `${x.name} [${x.source.kind}]`).join(', ')}`);
      } catch (e) {
        ok = false;
        console.error((e as Error).message);
      }
    }
    process.exitCode = ok ? 0 : 1;
  });
domainCmd
  .command('list')
  .description('list the declared domains (CDM_DOMAINS_DIR or domains/) in port order')
  .action(async () => {
    const domains = await runtimeDomains(undefined, (l) => console.error(l));
    for (const [i, d] of domains.entries()) console.log(`${String(config().SUBGRAPH_PORT + i).padEnd(6)} ${d.name.padEnd(16)} ${d.sensitivity.padEnd(10)} ${d.datasets.map((x) => x.name).join(', ')}`);
  });
domainCmd
  .command('prepare <domain>')
  .description("add what bounding needs to a domain's existing tables (per-unit rank, its invariant and a trigger), in place")
  .option('--refresh', 're-draw the ranks of every row (e.g. after rows changed unit)')
  .action(async (name: string, o: { refresh?: boolean }) => {
    const d = findDomain(await runtimeDomains(undefined, (l) => console.error(l)), name);
    const { openDomainDatabase, databaseOptionsFromEnv, migrate } = await storage();
    const { prepareDomain } = await import('../seed/prepare.js');
    const db = await openDomainDatabase(d, databaseOptionsFromEnv(d));
    try {
      await migrate(db);
      const results = await prepareDomain(db, d, { refresh: o.refresh });
      if (results.length === 0) console.log(`${d.name}: no dataset has source kind "table"; nothing to prepare`);
      for (const r of results) console.log(`${d.name}.${r.dataset}: ${r.action}: ${r.message}`);
    } finally {
      await db.close();
    }
  });

program
  .command('compose')
  .description('write the demo domains\' subgraph SDL and supergraph under schema/ (the published contract; `cdm start` composes at run time)')
  .action(async () => {
    const { compose, writeComposition } = await import('../compose.js');
    for (const f of writeComposition(compose(demoDomains()))) console.log(`wrote ${f}`);
  });

program
  .command('seed')
  .description('migrate and load each dataset from its declared source (idempotent)')
  .option('--domains <names>', 'comma-separated domains')
  .option('--rows <dataset=n...>', 'override generated row counts, e.g. visits=1000000', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--force', 'reload even if unchanged')
  .action(async (o: { domains?: string; rows: string[]; force?: boolean }) => {
    const rows = Object.fromEntries(o.rows.map((r) => {
      const [k, v] = r.split('=');
      return [k!, Number(v)];
    }));
    const { openDomainDatabase, databaseOptionsFromEnv, migrate } = await storage();
    const { seedDomain } = await import('../seed/seed.js');
    for (const d of await selectDomains(o.domains)) {
      const db = await openDomainDatabase(d, databaseOptionsFromEnv(d));
      try {
        await migrate(db);
        for (const r of await seedDomain(db, d, { rows, force: o.force })) console.log(`${d.name}.${r.dataset}: ${r.rows} rows${r.skipped ? ' (unchanged)' : ''}`);
      } finally {
        await db.close();
      }
    }
  });

program
  .command('token')
  .description('mint a development token (HS256, local dev secret)')
  .requiredOption('--sub <id>', 'subject (principal id)')
  .option('--role <role...>', 'analyst, admin or admin:<domain>', ['analyst'])
  .option('--expires <duration>', 'lifetime, e.g. 12h (at most CDM_MAX_TOKEN_LIFETIME, default 24h)', '12h')
  .action(async (o: { sub: string; role: string[]; expires: string }) => {
    console.log(await mintDevToken(loadOrCreateDevSecret(), { sub: o.sub, roles: o.role, expiresIn: o.expires, maxLifetimeSeconds: maxLifetimeFromEnv() }));
  });

// DP SQL from the shell (src/sql): through the gateway with a token, or straight to the domain's engine.
program
  .command('sql <query>')
  .description('run a DP SQL statement and print its table with error bars (or its plan with --explain)')
  .requiredOption('--domain <name>', 'sensitive domain to ask')
  .option('--epsilon <e>', 'epsilon of the whole statement', Number)
  .option('--delta <d>', 'delta of the whole statement', Number)
  .option('--explain', 'print the plan, sensitivities and cost without running or spending')
  .option('--gateway <url>', 'gateway GraphQL URL (default: straight to the domain engine)')
  .option('--token <jwt>', 'bearer token for the gateway (default $CDM_TOKEN)')
  .option('--sub <id>', 'principal charged when asking the engine directly', `cli:${config().USER ?? 'local'}`)
  .action(async (query: string, o: { domain: string; epsilon?: number; delta?: number; explain?: boolean; gateway?: string; token?: string; sub: string }) => {
    const { cliSql } = await import('../sql/cli.js');
    console.log(await cliSql(query, o));
  });

// DP model training (src/ml): `cdm train ...` through the gateway.
registerTrainCommand(program);

const audit = program.command('audit').description('audit log tools');
/** The key audit heads are signed with: CDM_AUDIT_KEY, else the node's development secret. */
const auditHeadKey = async () => {
  const key = config().CDM_AUDIT_KEY;
  return (await import('../governance/head.js')).headKey(key ? new TextEncoder().encode(key) : loadOrCreateDevSecret());
};
const sensitiveDomains = async (list?: string) => (await selectDomains(list)).filter((x) => x.sensitivity === 'sensitive');
type Db = Awaited<ReturnType<Awaited<ReturnType<typeof storage>>['openDomainDatabase']>>;
async function withDomainDb<T>(d: DomainDeclaration, fn: (db: Db) => Promise<T>): Promise<T> {
  const { openDomainDatabase, databaseOptionsFromEnv } = await storage();
  const db = await openDomainDatabase(d, databaseOptionsFromEnv(d));
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}
audit
  .command('verify')
  .description('check each domain\'s audit chain, recompute every budget from the ledger and compare; exit 1 on any difference')
  .option('--domains <names>', 'comma-separated domains')
  .option('--head <file|string>', 'signed heads printed earlier by `cdm audit head` (a file or the text): the chain must still extend them')
  .action(async (o: { domains?: string; head?: string }) => {
    const { readHead, HeadError } = await import('../governance/head.js');
    const { verifyDomain } = await import('../governance/verify.js');
    const headText = o.head === undefined ? undefined : existsSync(o.head) ? readFileSync(o.head, 'utf8') : o.head;
    let ok = true;
    for (const d of await sensitiveDomains(o.domains)) {
      const lines = await withDomainDb(d, async (db) => {
        let head;
        if (headText !== undefined) {
          try {
            head = await readHead(headText, d.name, await auditHeadKey());
          } catch (e) {
            if (!(e instanceof HeadError)) throw e;
            return [`${d.name}: BROKEN: ${e.message}`];
          }
        }
        const r = await verifyDomain(db, { head });
        if (r.ok) return [`${d.name}: ok (${r.entries} entries, ${r.budgets} budgets match the ledger${head ? `, extends the head at entry ${head.seq}` : ''})`];
        return r.problems.map((p) => `${d.name}: BROKEN${p.startsWith('audit chain BROKEN') ? p.slice('audit chain BROKEN'.length) : `: ${p}`}`);
      });
      ok &&= !lines.some((l) => l.includes('BROKEN'));
      for (const l of lines) console.log(l);
    }
    process.exitCode = ok ? 0 : 1;
  });
audit
  .command('head')
  .description('print each domain\'s signed audit head (one per line): keep it outside the database, check it with `verify --head`')
  .option('--domains <names>', 'comma-separated domains')
  .action(async (o: { domains?: string }) => {
    const { GENESIS, verifyAudit } = await import('../governance/audit.js');
    const { signHead } = await import('../governance/head.js');
    for (const d of await sensitiveDomains(o.domains)) {
      const chain = await withDomainDb(d, (db) => verifyAudit(db));
      if (!chain.ok) throw new Error(`${d.name}: the audit chain is broken at entry ${chain.brokenAt} (${chain.reason}); not signing it`);
      const head = chain.head ?? { seq: '0', hash: GENESIS };
      console.log(await signHead({ domain: d.name, seq: head.seq, hash: head.hash, at: new Date().toISOString() }, await auditHeadKey()));
    }
  });

program.parseAsync().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
