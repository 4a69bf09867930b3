import { postgresDataSource } from '../query/datasource.js';
import type { Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { Verifier } from '../auth/tokens.js';
import type { DomainDeclaration } from '../domain/declaration.js';
import { formatClientError } from '../errors.js';
import { createHttpServer, listen } from '../http.js';
import { MAX_TOKENS, requestInputsPlugin } from '../limits.js';
import { QueryEngine } from '../query/engine.js';
import { seedDomain } from '../seed/seed.js';
import { openDomainDatabase, type DatabaseOptions, type DomainDatabase } from '../storage/database.js';
import { migrate } from '../storage/migrate.js';
import type { SubgraphContext } from './context.js';
import { exportRoute } from './export.js';
import { operationCostPlugin } from './operation-cost.js';
import { buildDomainSchema } from './schema.js';
import { metricsRoute, observabilityPlugin } from '../observability/metrics.js';

/**
 * One domain's subgraph: its database (migrated, optionally seeded), its schema, and an HTTP server
 * that verifies every caller itself (zero trust: a request straight to a subgraph needs a token).
 */
export interface SubgraphHandle {
  domain: DomainDeclaration;
  url: string;
  db: DomainDatabase;
  server: Server;
  close(): Promise<void>;
}

export interface SubgraphOptions {
  port: number;
  host?: string;
  verifier: Verifier;
  database: DatabaseOptions;
  /** Where the datasets' rows live when not in the state database (another PostgreSQL database). */
  data?: { url: string; schema: string };
  seed?: boolean;
  /** Reports each start-up step (cdm start prints them and counts them as progress). */
  onStep?: (step: string) => void;
}

export async function startSubgraph(domain: DomainDeclaration, opts: SubgraphOptions): Promise<SubgraphHandle> {
  const step = opts.onStep ?? (() => undefined);
  step(`opening the ${opts.database.url ? 'PostgreSQL' : 'PGlite'} database`);
  const db = await openDomainDatabase(domain, opts.database);
  try {
    step('migrating');
    await migrate(db);
    if (opts.seed) {
      step('loading data');
      await seedDomain(db, domain);
    }
    step('building the schema');
    const engine = new QueryEngine(domain, db, opts.data ? postgresDataSource(opts.data.url, opts.data.schema) : undefined);
    // Governance upkeep: reap releases left pending by a dead process, drop leaked scratch tables.
    step('reaping releases left pending');
    const stopMaintenance = await engine.governance.startMaintenance();
    const apollo = new ApolloServer<SubgraphContext>({
      schema: buildDomainSchema(domain),
      formatError: (formatted, error) => formatClientError(formatted, error) as typeof formatted,
      includeStacktraceInErrorResponses: false,
      stopOnTerminationSignals: false,
      parseOptions: { maxTokens: MAX_TOKENS },
      // No inline traces: per-field timings of a sensitive domain are nobody's business.
      plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), requestInputsPlugin(), operationCostPlugin(domain), observabilityPlugin(domain.name)],
    });
    await apollo.start();
    step('listening');
    const server = createHttpServer<SubgraphContext>({
      apollo,
      context: async (req) => ({ caller: await opts.verifier(req.headers.authorization), domain, db, engine, loaders: new Map() }),
      routes: [exportRoute(domain, engine, opts.verifier), metricsRoute()],
      health: async () => {
        await db.query('SELECT 1');
        return { status: 'pass', domain: domain.name, database: db.kind };
      },
    });
    const url = await listen(server, opts.port, opts.host);
    return {
      domain,
      url,
      db,
      server,
      async close() {
        stopMaintenance();
        await new Promise<void>((r) => server.close(() => r()));
        server.closeAllConnections?.();
        await apollo.stop();
        await engine.data.close();
        await db.close();
      },
    };
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
}
