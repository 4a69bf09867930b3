import { z } from 'zod';

/**
 * Every environment variable the product reads, in one typed place (issue 10 item 7). Modules call
 * `config()` (or `configFrom(env)` in tests) instead of reading `process.env`, so the README's
 * table (section "Configuration") and the code cannot drift: a variable is added here or nowhere.
 * A bad value fails at start with the variable's name, never as a NaN deep inside.
 */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');

export const ConfigSchema = z.object({
  /** Gateway port of `cdm start`. */
  GATEWAY_PORT: port.default(4000),
  /** Port of the first subgraph of `cdm start` (the others follow). */
  SUBGRAPH_PORT: port.default(4001),
  /** postgres://... to keep every domain in a PostgreSQL server (one schema per domain); else PGlite. */
  DATABASE_URL: z.string().optional(),
  /** PGlite data directory (one sub-directory per domain), or memory://. Also holds the dev JWT secret. */
  CDM_DATA_DIR: z.string().optional(),
  /** Suffix appended to each domain's PostgreSQL schema (isolates test runs). */
  CDM_SCHEMA_SUFFIX: z.string().default(''),
  /** Connections per domain pool on PostgreSQL. */
  CDM_PG_POOL: positiveInt.default(10),
  /** Folder(s) of domain declarations (*.json, *.yaml, *.yml, *.js, *.ts), ':'-separated; default domains/ of the repo. */
  CDM_DOMAINS_DIR: z.string().optional(),
  /** Seconds a subgraph may go without progress (seeding prints progress) before start gives up. */
  CDM_HEALTH_TIMEOUT_S: positiveInt.default(180),
  /** Seconds a gateway /health waits for each subgraph's /health. */
  CDM_HEALTH_PROBE_TIMEOUT_S: positiveInt.default(2),
  /** Log level: trace, debug, info, warn, error, fatal or silent. */
  CDM_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).optional(),
  /** 1: no progress lines while seeding. */
  CDM_QUIET: flag.default(false),
  /** HS256 development secret (else generated in CDM_DATA_DIR/dev-jwt-secret). */
  CDM_JWT_SECRET: z.string().optional(),
  /** JWKS URL for production tokens (RS256/ES256). */
  CDM_JWKS_URL: z.string().url().optional(),
  /** Required `iss` claim. */
  CDM_JWT_ISSUER: z.string().optional(),
  /** Required `aud` claim. */
  CDM_JWT_AUDIENCE: z.string().optional(),
  /** Milliseconds a domain's policies are cached. */
  CDM_POLICY_TTL_MS: z.coerce.number().int().min(0).default(1000),
  /** DP releases computed at once per subgraph. */
  CDM_CONCURRENT_RELEASES: positiveInt.default(4),
  /** Megabytes of done releases a subgraph keeps in memory (memo hits without a database read). */
  CDM_MEMO_CACHE_MB: positiveInt.default(64),
  /** Milliseconds a release may stay pending before it is presumed dead and reaped (fits and training: 15 times). */
  CDM_RELEASE_TIMEOUT_MS: positiveInt.default(120_000),
  /** Milliseconds between two rounds of governance upkeep (reaper, leaked scratch tables). */
  CDM_REAPER_INTERVAL_MS: positiveInt.default(30_000),
  /** Key signing audit heads (`cdm audit head`); else derived from the development JWT secret. */
  CDM_AUDIT_KEY: z.string().min(1).optional(),
  /** Set to 1 by `cdm start` for its subgraph children: report progress over IPC, exit with the parent. */
  CDM_SUPERVISED: flag.default(false),
  /** PostgreSQL wire protocol port of `cdm start` and `cdm pgwire` (src/pgwire). */
  PGWIRE_PORT: port.default(5433),
  /** PEM key and certificate files: the wire server then offers TLS (and accepts tokens off loopback). */
  PGWIRE_TLS_KEY: z.string().optional(),
  PGWIRE_TLS_CERT: z.string().optional(),
  /** Wire limits: statement timeout (ms), result rows, connections per principal. */
  PGWIRE_STATEMENT_TIMEOUT_MS: positiveInt.default(30_000),
  PGWIRE_MAX_ROWS: positiveInt.default(10_000),
  PGWIRE_MAX_CONNECTIONS_PER_PRINCIPAL: positiveInt.default(8),
  /** Default of the policy's maxRowsPerOperation: rows one operation may produce (synthetic pages, export rows, public buckets). */
  CDM_MAX_SYNTHETIC_ROWS_PER_OPERATION: positiveInt.default(1_000_000),
  /** Default of the policy's maxConcurrentExports: CSV exports one principal may stream at once from a subgraph. */
  CDM_MAX_CONCURRENT_EXPORTS: positiveInt.default(2),
  /** Default of the policy's maxConcurrentOperations: operations computing new DP releases one principal runs at once per subgraph. */
  CDM_MAX_CONCURRENT_OPERATIONS: positiveInt.default(16),
  /** Longest accepted token lifetime: seconds or a duration such as 12h / 7d / 30m (default 24h). */
  CDM_MAX_TOKEN_LIFETIME: z.string().optional(),
  /** Query planner bound at the gateway (candidate plans evaluated per operation). */
  CDM_MAX_EVALUATED_PLANS: positiveInt.default(64),
  /** Idle keep-alive of every HTTP server (ms), above the gateway client's idle timeout. */
  CDM_KEEPALIVE_TIMEOUT_MS: positiveInt.default(65_000),
  /** Gateway URL and bearer token the CLI's `cdm sql` / `cdm train` use. */
  CDM_GATEWAY: z.string().default('http://localhost:4000/graphql'),
  CDM_TOKEN: z.string().optional(),
  /** Login name: the principal `cdm sql` charges when it asks an engine directly (cli:<USER>). */
  USER: z.string().optional(),
  /** production refuses the test-only seeded noise source. */
  NODE_ENV: z.string().optional(),
  /** Set to 1 by the CLI: Apollo's usage reporting would try to reach the internet. */
  APOLLO_TELEMETRY_DISABLED: z.string().optional(),
});

export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {}

/** Parses an environment; throws a ConfigError naming every bad variable. */
export function configFrom(env: NodeJS.ProcessEnv): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid environment:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

let cached: { env: NodeJS.ProcessEnv; snapshot: string; config: Config } | undefined;
/** The process's configuration (re-read when process.env changed, e.g. in tests). */
export function config(): Config {
  const snapshot = JSON.stringify(Object.keys(ConfigSchema.shape).map((k) => process.env[k]));
  if (!cached || cached.snapshot !== snapshot) cached = { env: process.env, snapshot, config: configFrom(process.env) };
  return cached.config;
}

/**
 * NODE_ENV alone, without parsing the rest: the samplers check it, and nothing they call may run
 * float maths (test/dp/samplers-nofloat.test.ts traps every Math function; zod uses some).
 */
export const nodeEnv = (): string | undefined => process.env.NODE_ENV;

/** Names of every variable, for the README test. */
export const configVariables = () => Object.keys(ConfigSchema.shape);
