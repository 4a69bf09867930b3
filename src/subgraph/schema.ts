import 'reflect-metadata';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { printSchemaWithDirectives } from '@graphql-tools/utils';
import { type GraphQLSchema, parse } from 'graphql';
import { buildSchemaSync, createResolversMap } from 'type-graphql';
import type { DomainDeclaration } from '../domain/declaration.js';
import { MeResolver, Principal } from './principal.js';
import { domainResolvers } from './resolvers.js';
import { domainSdl } from './sdl.js';
import { ML_SHARED_SDL, mlResolvers, mlSdl } from './ml.js';
import { FloatFilter, IntFilter, PolicyInput, PrivacyInput, SHARED_TYPES, StringFilter } from './types.js';

/**
 * A domain's subgraph schema = the shared vocabulary (type-graphql classes, compiled with decorator
 * metadata) + the surface generated from the declaration (sdl.ts), joined as Federation 2 SDL.
 * Per-dataset types are generated as SDL rather than as runtime-made classes: they exist only at
 * run time, from data, which is what SDL is for; type-graphql keeps the fixed types typed in TS.
 */
const FEDERATION_LINK =
  'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable"])';

let sharedCache: { sdl: string; resolvers: ReturnType<typeof createResolversMap> } | undefined;

function sharedPart() {
  if (!sharedCache) {
    const schema = buildSchemaSync({
      resolvers: [MeResolver],
      orphanedTypes: [...SHARED_TYPES, Principal, PrivacyInput, PolicyInput, IntFilter, FloatFilter, StringFilter],
      validate: false,
    });
    sharedCache = { sdl: printSchemaWithDirectives(schema), resolvers: createResolversMap(schema) };
  }
  return sharedCache;
}

export function subgraphSdlSource(domain: DomainDeclaration): string {
  const shared = sharedPart().sdl;
  const ml = domain.sensitivity === 'sensitive' ? `\n${ML_SHARED_SDL}\n\n${mlSdl(domain)}\n` : '';
  return `${FEDERATION_LINK}\n\n${shared}\n\n${AGGREGATE_ENUM}\n\n${GENERIC_INTERFACES}\n\n${domainSdl(domain)}${ml}`;
}

export function buildDomainSchema(domain: DomainDeclaration): GraphQLSchema {
  return buildSubgraphSchema({
    typeDefs: parse(subgraphSdlSource(domain)),
    resolvers: mergeResolvers(sharedPart().resolvers as Record<string, Record<string, unknown>>, domainResolvers(domain), mlResolvers(domain) as never) as never,
  });
}

/**
 * Generic interfaces every domain implements the same way, so that clients (the console, BI
 * bridges) are written once for every domain: `... on SensitiveDomain { sql(...) budget }`,
 * `... on SensitiveDataset { catalog syntheticModels }`. The per-dataset typed fields stay for
 * typed clients; these carry what is the same everywhere.
 */
const GENERIC_INTERFACES = `"A data domain of the mesh (every domain namespace implements it)."
interface DataDomain {
  "Owner, description, sensitivity and policy summary of the domain."
  info: DomainInfo!
  "Catalog of the domain's datasets: columns, types, bounds, privacy unit."
  datasets: [DatasetInfo!]!
}

"A sensitive domain: DP answers only, through DP SQL over any of its datasets, charged to the caller's budget."
interface SensitiveDomain implements DataDomain {
  "Owner, description, sensitivity and policy summary of the domain."
  info: DomainInfo!
  "Catalog of the domain's datasets: columns, types, bounds, privacy unit."
  datasets: [DatasetInfo!]!
  "Your privacy budget in this domain."
  budget: BudgetStatus!
  "DP SQL over the domain's datasets: one statement, one plan, one release (see the domain's own sql field)."
  sql("The statement." query: String!, "Privacy of the whole statement." privacy: PrivacyInput, "Plan and cost only, nothing spent." explain: Boolean = false): SqlRelease!
}

"A dataset surface of a domain (every dataset type implements it)."
interface Dataset {
  "The dataset's catalog entry."
  catalog: DatasetInfo!
}

"A sensitive dataset: typed DP fields, synthetic data and its fitted models."
interface SensitiveDataset implements Dataset {
  "The dataset's catalog entry."
  catalog: DatasetInfo!
  "Fitted DP synthetic-data models of this dataset."
  syntheticModels: [SyntheticModelInfo!]!
}

"An open dataset: rows may be listed."
interface OpenDataset implements Dataset {
  "The dataset's catalog entry."
  catalog: DatasetInfo!
}`;

const AGGREGATE_ENUM = `"DP aggregates a sensitive dataset answers."
enum Aggregate {
  "Rows (at most maxRowsPerUnit per unit). One measurement; sensitivity maxRowsPerUnit."
  count
  "Distinct privacy units. One measurement; sensitivity 1."
  countDistinct
  "Sum of a clamped numeric column. One measurement; sensitivity max(|lower|,|upper|) x maxRowsPerUnit."
  sum
  "Mean: two measurements (count, centred sum), epsilon split in two."
  mean
  "Variance: three measurements (count, centred sum, sum of squares), epsilon split in three."
  variance
  "Standard deviation: square root of the DP variance (same cost)."
  stddev
  "Quantile by permute-and-flip over a fine histogram; pure epsilon; error bounded in rank."
  quantile
  "Counts per key of 1-3 categorical columns; public keys all released, others by DP key selection."
  histogram
}`;

/** Merges resolver maps type by type (the generated map extends Query and Principal). */
function mergeResolvers(...maps: Record<string, Record<string, unknown>>[]) {
  const out: Record<string, Record<string, unknown>> = {};
  for (const m of maps) for (const [type, fields] of Object.entries(m)) out[type] = { ...(out[type] ?? {}), ...fields };
  return out;
}
