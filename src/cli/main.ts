#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { authConfigFromEnv, createVerifier, loadOrCreateDevSecret, mintDevToken } from '../auth/tokens.js';
import { compose, writeComposition } from '../compose.js';
import { demoDomain, demoDomains } from '../domain/registry.js';
import { verifyAudit } from '../governance/audit.js';
import { startMesh } from '../mesh.js';
import { pgWireOptionsFromEnv, startPgWire } from '../pgwire/server.js';
import { seedDomain } from '../seed/seed.js';
import { databaseOptionsFromEnv, openDomainDatabase } from '../storage/database.js';
import { migrate } from '../storage/migrate.js';
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
  .option('--pgwire-port <port>', 'PostgreSQL wire protocol port', int, Number(process.env.PGWIRE_PORT ?? 5433))
  .option('--no-pgwire', 'do not serve the PostgreSQL wire protocol')
  .action(async (o: { port: number; subgraphPort: number; domains?: string; seed: boolean; pgwire: boolean; pgwirePort: number }) => {
    const started = Date.now();
    const mesh = await startMesh({
      domains: selectDomains(o.domains),
      gatewayPort: o.port,
      subgraphPortBase: o.subgraphPort,
      inProcess: false,
      seed: o.seed,
      pgwirePort: o.pgwire ? o.pgwirePort : undefined,
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
  .command('pgwire')
  .description('serve the PostgreSQL wire protocol in front of a running gateway (user = principal, password = token)')
  .option('--port <port>', 'port', int, Number(process.env.PGWIRE_PORT ?? 5433))
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--gateway <url>', 'gateway GraphQL endpoint', process.env.GATEWAY_URL ?? 'http://127.0.0.1:4000/graphql')
  .option('--domains <names>', 'comma-separated domains (default: all demo domains)')
  .action(async (o: { port: number; host: string; gateway: string; domains?: string }) => {
    const h = await startPgWire({ port: o.port, host: o.host, gatewayUrl: o.gateway, domains: selectDomains(o.domains), verifier: createVerifier(authConfigFromEnv()), ...pgWireOptionsFromEnv() });
    console.log(`PostgreSQL wire protocol on ${h.url} (gateway ${o.gateway})`);
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
  .option('--expires <duration>', 'lifetime, e.g. 12h, 7d', '12h')
  .action(async (o: { sub: string; role: string[]; expires: string }) => {
    console.log(await mintDevToken(loadOrCreateDevSecret(), { sub: o.sub, roles: o.role, expiresIn: o.expires }));
  });

const audit = program.command('audit').description('audit log tools');
audit
  .command('verify')
  .description('recompute the hash chain of each domain\'s audit log; exit 1 if any entry was edited or deleted')
  .option('--domains <names>', 'comma-separated domains')
  .action(async (o: { domains?: string }) => {
    let ok = true;
    for (const d of selectDomains(o.domains).filter((x) => x.sensitivity === 'sensitive')) {
      const db = await openDomainDatabase(d, databaseOptionsFromEnv(d));
      try {
        const r = await verifyAudit(db);
        ok &&= r.ok;
        console.log(r.ok ? `${d.name}: ok (${r.entries} entries)` : `${d.name}: BROKEN at entry ${r.brokenAt}: ${r.reason}`);
      } finally {
        await db.close();
      }
    }
    process.exitCode = ok ? 0 : 1;
  });

program.parseAsync().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
