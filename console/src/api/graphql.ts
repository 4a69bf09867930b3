import { initGraphQLTada } from 'gql.tada';
import type { introspection } from './graphql-env.d.ts';

/**
 * Typed documents: gql.tada infers result and variable types from schema/supergraph.graphql
 * (regenerate ./graphql-env.d.ts with `npm run console:types` after `npm run compose`).
 */
export const graphql = initGraphQLTada<{ introspection: introspection }>();
export type { FragmentOf, ResultOf, VariablesOf } from 'gql.tada';
export { readFragment } from 'gql.tada';
