import type { ApolloServerPlugin } from '@apollo/server';
import {
  getArgumentValues,
  GraphQLError,
  getNamedType,
  getVariableValues,
  isObjectType,
  Kind,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLObjectType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import type { OperationItem } from '../query/engine.js';
import type { AggregateKind, PrivacyRequest } from '../query/types.js';
import { sqlOperationItem } from '../sql/run.js';
import { syntheticPageRows } from '../query/synthetic.js';
import type { SubgraphContext } from './context.js';
import { names } from './naming.js';
import { DP_FIELDS, requestFromArgs } from './resolvers.js';

/**
 * Operation-level budget check (SPEC section 4): before any field runs, every DP field of the
 * operation (aliases, fragments and repeated fields included) is planned from its arguments, and
 * the whole operation is refused (BUDGET_EXHAUSTED, with its cost and what is left) when its total
 * does not fit. The gateway sends all of a domain's fields in one subgraph request, so the check
 * here sees the operation's whole spend in this domain, where the budget lives.
 */
export function operationCostPlugin(domain: DomainDeclaration): ApolloServerPlugin<SubgraphContext> {
  const datasetByType = new Map(domain.datasets.map((ds) => [names(domain).dataset(ds).type, ds]));
  return {
    async requestDidStart() {
      // An operation computing new releases holds one of its principal's slots until its response.
      let endOperation: (() => void) | undefined;
      return {
        async didResolveOperation(rc) {
          if (domain.sensitivity !== 'sensitive' || !rc.operation) return;
          try {
            const items = dpFieldsOf(rc.schema, rc.document, rc.operation, rc.request.variables ?? {}, datasetByType, domain);
            if (items.length > 0) endOperation = await rc.contextValue.engine.preflight(rc.contextValue.caller, items);
          } catch (e) {
            // A refusal is an answer, not a server failure: HTTP 200, so the gateway passes the
            // error and its code through instead of reporting a failed subgraph.
            if (e instanceof GraphQLError) Object.assign(e.extensions, { http: { status: 200 } });
            throw e;
          }
        },
        async willSendResponse() {
          endOperation?.();
        },
      };
    },
  };
}

export function dpFieldsOf(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  rawVariables: Record<string, unknown>,
  datasetByType: Map<string, DatasetDeclaration>,
  domain: DomainDeclaration,
): OperationItem[] {
  const domainType = names(domain).domainType;
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], rawVariables);
  // Invalid variables fail validation later with a proper error; there is nothing to charge.
  if (coerced.errors) return [];
  const variables = coerced.coerced;
  const fragments = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : undefined;
  const items: OperationItem[] = [];
  const walk = (type: GraphQLObjectType, set: SelectionSetNode, seen: ReadonlySet<string>) => {
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const def = type.getFields()[sel.name.value];
        if (!def) continue;
        const ds = datasetByType.get(type.name);
        if (type.name === domainType && sel.name.value === 'sql') {
          const args = getArgumentValues(def, sel, variables) as { query: string; privacy?: PrivacyRequest; explain?: boolean };
          // One statement is one plan (one release); EXPLAIN spends nothing.
          if (!args.explain) items.push(sqlOperationItem({ domain }, args.query, args.privacy));
        } else if (ds && sel.name.value === 'synthetic') {
          const args = getArgumentValues(def, sel, variables) as { privacy?: PrivacyRequest; rows?: number; first?: number };
          items.push({ dataset: ds.name, synthetic: args.privacy ?? null, rows: syntheticPageRows(args) });
        } else if (ds && DP_FIELDS.includes(sel.name.value as AggregateKind)) {
          const args = getArgumentValues(def, sel, variables);
          items.push({ dataset: ds.name, request: requestFromArgs(ds, sel.name.value as AggregateKind, args) });
        }
        const next = getNamedType(def.type);
        if (sel.selectionSet && isObjectType(next)) walk(next, sel.selectionSet, seen);
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        const t = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : type;
        if (isObjectType(t)) walk(t, sel.selectionSet, seen);
      } else if (!seen.has(sel.name.value)) {
        const f = fragments.get(sel.name.value);
        const t = f && schema.getType(f.typeCondition.name.value);
        if (f && isObjectType(t)) walk(t, f.selectionSet, new Set([...seen, sel.name.value]));
      }
    }
  };
  if (root) walk(root, operation.selectionSet, new Set());
  return items;
}
