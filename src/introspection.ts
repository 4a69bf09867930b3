import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { execute, Kind, type OperationDefinitionNode } from 'graphql';

/**
 * Introspection is the catalog (SPEC section 6): the gateway answers an operation that only
 * introspects (`__schema`, `__type`, `__typename` at the root) itself, with graphql-js against its
 * API schema, instead of handing it to the query planner. The planner's own model of the
 * introspection types lags graphql-js (it refuses `isOneOf`, which GraphiQL asks for), and planning
 * a catalog read wastes work. Limits were checked at the HTTP front and validation passed already.
 */
const META = new Set(['__schema', '__type', '__typename']);

function onlyIntrospects(op: OperationDefinitionNode): boolean {
  return op.operation === 'query' && op.selectionSet.selections.every((s) => s.kind === Kind.FIELD && META.has(s.name.value));
}

export function localIntrospectionPlugin<C extends BaseContext>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async responseForOperation(rc) {
          if (!rc.operation || !onlyIntrospects(rc.operation)) return null;
          const result = await execute({
            schema: rc.schema,
            document: rc.document,
            operationName: rc.operationName,
            variableValues: rc.request.variables,
          });
          return { http: rc.response.http, body: { kind: 'single', singleResult: result } };
        },
      };
    },
  };
}
