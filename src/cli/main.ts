#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { authConfigFromEnv, createVerifier, loadOrCreateDevSecret, maxLifetimeFromEnv, mintDevToken } from '../auth/tokens.js';
import { compose, writeComposition } from '../compose.js';
import { demoDomain, demoDomains } from '../domain/registry.js';
import { existsSync, readFileSync } from 'node:fs';
import { GENESIS, verifyAudit } from '../governance/audit.js';
import { HeadError, headKey, readHead, signHead } from '../governance/head.js';
import { verifyDomain } from '../governance/verify.js';
import { startMesh } from '../mesh.js';
import { seedDomain } from '../seed/seed.js';
import { databaseOptionsFromEnv, openDomainDatabase } from '../storage/database.js';
import { migrate } from '../storage/migrate.js';
import { registerTrainCommand } from '../ml/cli.js';
import { startSubgraph } from '../subgraph/server.js';

process.env.APOLLO_TELEMETRY_DISABLED = '1';

const int = (v: string) => {
  const n = Number.parseInt(v, 10);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('not a port number');
  return n;
};
const selectDomains = (list?: string) => (list ? list.split(',').map((s) => demoDomain(s.trim())) : demoDomains());

const program = new Command('cdm').description('confidential-mesh: a federated, differentially private data mesh');

program
  .command('start')
  .description('migrate, seed and start every demo subgraph (one process each) and the gateway')
  .option('--port <port>', 'gateway port', int, Number(process.env.GATEWAY_PORT ?? 4000))
  .option('--subgraph-port <port>', 'port of the first subgraph', int, Number(process.env.SUBGRAPH_PORT ?? 4001))
  .option('--domains <names>', 'comma-separated domains (default: all demo domains)')
  .option('--no-seed', 'do not load demo data')
  .action(async (o: { port: number; subgraphPort: number; domains?: string; seed: boolean }) => {
    const started = Date.now();
    const mesh = await startMesh({
      domains: selectDomains(o.domains),
      gatewayPort: o.port,
      subgraphPortBase: o.subgraphPort,
      inProcess: false,
      seed: o.seed,
      log: (l) => console.log(l),
    });
    console.log(`\nconfidential-mesh is up in ${((Date.now() - started) / 1000).toFixed(1)}s: ${mesh.gateway.url}/graphql`);
    console.log(`mint a token with: npm run cdm -- token --sub alice --role analyst`);
    const stop = async () => {
      await mesh.close();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('subgraph <domain>')
  .description('start one domain subgraph (replicas may share one PostgreSQL)')
  .option('--port <port>', 'port', int, 4001)
  .option('--no-seed', 'do not load demo data')
  .action(async (name: string, o: { port: number; seed: boolean }) => {
    const domain = demoDomain(name);
    const h = await startSubgraph(domain, { port: o.port, verifier: createVerifier(authConfigFromEnv()), seed: o.seed, database: databaseOptionsFromEnv(domain) });
    const stop = async () => {
      await h.close();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

program
  .command('compose')
  .description('write each subgraph SDL and the composed supergraph under schema/')
  .action(() => {
    for (const f of writeComposition(compose(demoDomains()))) console.log(`wrote ${f}`);
  });

program
  .command('seed')
  .description('migrate and load the demo data (idempotent)')
  .option('--domains <names>', 'comma-separated domains')
  .option('--rows <dataset=n...>', 'override generated row counts, e.g. visits=1000000', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--force', 'reload even if unchanged')
  .action(async (o: { domains?: string; rows: string[]; force?: boolean }) => {
    const rows = Object.fromEntries(o.rows.map((r) => {
      const [k, v] = r.split('=');
      return [k!, Number(v)];
    }));
    for (const d of selectDomains(o.domains)) {
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
  .option('--sub <id>', 'principal charged when asking the engine directly', `cli:${process.env.USER ?? 'local'}`)
  .action(async (query: string, o: { domain: string; epsilon?: number; delta?: number; explain?: boolean; gateway?: string; token?: string; sub: string }) => {
    const { cliSql } = await import('../sql/cli.js');
    console.log(await cliSql(query, o));
  });

// DP model training (src/ml): `cdm train ...` through the gateway.
registerTrainCommand(program);

const audit = program.command('audit').description('audit log tools');
/** The key audit heads are signed with: CDM_AUDIT_KEY, else the node's development secret. */
const auditHeadKey = () => headKey(process.env.CDM_AUDIT_KEY ? new TextEncoder().encode(process.env.CDM_AUDIT_KEY) : loadOrCreateDevSecret());
const sensitiveDomains = (list?: string) => selectDomains(list).filter((x) => x.sensitivity === 'sensitive');
async function withDomainDb<T>(d: ReturnType<typeof demoDomain>, fn: (db: Awaited<ReturnType<typeof openDomainDatabase>>) => Promise<T>): Promise<T> {
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
    const headText = o.head === undefined ? undefined : existsSync(o.head) ? readFileSync(o.head, 'utf8') : o.head;
    let ok = true;
    for (const d of sensitiveDomains(o.domains)) {
      const lines = await withDomainDb(d, async (db) => {
        let head;
        if (headText !== undefined) {
          try {
            head = await readHead(headText, d.name, auditHeadKey());
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
    for (const d of sensitiveDomains(o.domains)) {
      const chain = await withDomainDb(d, (db) => verifyAudit(db));
      if (!chain.ok) throw new Error(`${d.name}: the audit chain is broken at entry ${chain.brokenAt} (${chain.reason}); not signing it`);
      const head = chain.head ?? { seq: '0', hash: GENESIS };
      console.log(await signHead({ domain: d.name, seq: head.seq, hash: head.hash, at: new Date().toISOString() }, auditHeadKey()));
    }
  });

program.parseAsync().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
