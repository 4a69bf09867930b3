import { demoDomain } from '../domain/registry.js';
import { QueryEngine } from '../query/engine.js';
import { databaseOptionsFromEnv, openDomainDatabase } from '../storage/database.js';
import { migrate } from '../storage/migrate.js';
import { sqlReleaseOf } from '../subgraph/resolvers.js';
import { formatSqlRelease, type SqlReleaseView } from './format.js';
import { runSql } from './run.js';

/** `cdm sql`: the statement through the gateway (GraphQL, with a token) or on the domain's own engine. */
export interface CliSqlOptions {
  domain: string;
  epsilon?: number;
  delta?: number;
  explain?: boolean;
  gateway?: string;
  token?: string;
  sub: string;
}

const FIELDS = `query datasets epsilon delta mechanism cached releaseId
  table { columns { name type private } rows { cells { text number isNull errorScale confidenceInterval { low high } } } }
  explain { rowsPerUnit groupsPerUnit rowsPerGroup keys measurements { name statistic column l1Sensitivity l2Sensitivity mechanism scale standardError } epsilonCharged fitsBudget remainingAfter note }`;

export async function cliSql(query: string, o: CliSqlOptions): Promise<string> {
  const privacy = o.epsilon == null && o.delta == null ? undefined : { epsilon: o.epsilon, delta: o.delta };
  if (o.gateway) return formatSqlRelease(await viaGateway(query, privacy, o));
  const domain = demoDomain(o.domain);
  const db = await openDomainDatabase(domain, databaseOptionsFromEnv(domain));
  try {
    await migrate(db);
    const engine = new QueryEngine(domain, db);
    const answer = await runSql(engine, { id: o.sub, roles: ['analyst'] }, query, privacy, o.explain ?? false);
    return formatSqlRelease(sqlReleaseOf(answer) as SqlReleaseView);
  } finally {
    await db.close();
  }
}

async function viaGateway(query: string, privacy: { epsilon?: number; delta?: number } | undefined, o: CliSqlOptions): Promise<SqlReleaseView> {
  const token = o.token ?? process.env.CDM_TOKEN;
  if (!token) throw new Error('--gateway needs a token (--token or $CDM_TOKEN; `cdm token --sub <you>` mints a development one).');
  if (!/^[a-z][a-zA-Z0-9]*$/.test(o.domain)) throw new Error(`"${o.domain}" is not a domain name.`);
  const res = await fetch(o.gateway!, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: `query($q: String!, $p: PrivacyInput, $e: Boolean) { ${o.domain} { sql(query: $q, privacy: $p, explain: $e) { ${FIELDS} } } }`,
      variables: { q: query, p: privacy ?? null, e: o.explain ?? false },
    }),
  });
  const body = (await res.json()) as { data?: Record<string, { sql: SqlReleaseView }>; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('\n'));
  return body.data![o.domain]!.sql;
}
