import { GraphQLError, Kind, type ASTVisitor, type SelectionSetNode, type ValidationContext } from 'graphql';

/**
 * Query shape limits (SPEC section 6): depth and alias count are bounded before execution, so a
 * single request cannot fan out without limit. The privacy cost of an operation is checked
 * separately by the accountant.
 */
export const LIMITS = { maxDepth: 12, maxAliases: 100, maxFields: 500 };

export function queryLimitsRule(limits = LIMITS) {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(node) {
      let aliases = 0;
      let fields = 0;
      const fragments = new Map(context.getDocument().definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [(d as { name: { value: string } }).name.value, d as { selectionSet: SelectionSetNode }]));
      const walk = (set: SelectionSetNode, depth: number, seen: Set<string>): number => {
        let max = depth;
        for (const s of set.selections) {
          if (s.kind === Kind.FIELD) {
            fields++;
            if (s.alias) aliases++;
            if (s.selectionSet) max = Math.max(max, walk(s.selectionSet, depth + 1, seen));
          } else if (s.kind === Kind.INLINE_FRAGMENT) {
            max = Math.max(max, walk(s.selectionSet, depth, seen));
          } else if (s.kind === Kind.FRAGMENT_SPREAD && !seen.has(s.name.value)) {
            const f = fragments.get(s.name.value);
            if (f) max = Math.max(max, walk(f.selectionSet, depth, new Set([...seen, s.name.value])));
          }
        }
        return max;
      };
      const depth = walk(node.selectionSet, 1, new Set());
      const code = { extensions: { code: 'QUERY_TOO_COMPLEX' } };
      if (depth > limits.maxDepth) context.reportError(new GraphQLError(`Query depth ${depth} exceeds ${limits.maxDepth}.`, code));
      if (aliases > limits.maxAliases) context.reportError(new GraphQLError(`${aliases} aliases exceed ${limits.maxAliases}.`, code));
      if (fields > limits.maxFields) context.reportError(new GraphQLError(`${fields} fields exceed ${limits.maxFields}.`, code));
    },
  });
}
