import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { buildPlan, type AggregateSpec, type Plan, type QuerySpec } from '../core/plan.js';
import { and, cmp, isIn, not, TRUE, type Predicate } from '../core/predicate.js';
import { RelationBuilder } from '../core/relation.js';
import { badInput } from '../errors.js';
import type { AggregateRequest, WhereInput } from './types.js';

/**
 * The GraphQL DP fields' requests compiled to the plan IR (src/core): one aggregate over a
 * dataset's rows, filtered by `where`, optionally grouped (`histogram`). All planning, sensitivity
 * and cost happen in the core; this file only translates arguments.
 */
export type { Plan } from '../core/plan.js';

export function specFromRequest(domain: DomainDeclaration, ds: DatasetDeclaration, req: AggregateRequest): QuerySpec {
  const predicate = whereToPredicate(req.where);
  const numeric = req.aggregate !== 'count' && req.aggregate !== 'countDistinct' && req.aggregate !== 'histogram';
  // An aggregate of one column reads the rows that have it: bounding then spends a unit's row
  // budget on rows that count (SQL's AVG ignores NULLs the same way).
  const present: Predicate = numeric && req.column ? not({ op: 'isNull', column: req.column }) : TRUE;
  if (numeric && !req.column) throw badInput(`${req.aggregate} needs a numeric column.`, { field: 'column' });
  let rel = RelationBuilder.from(ds);
  const filter = and(predicate, present);
  rel = rel.filter(filter);
  const aggregate: AggregateSpec = req.aggregate === 'histogram' ? { kind: 'count' } : { kind: req.aggregate, column: req.column ?? undefined, q: req.q ?? undefined };
  if (req.aggregate === 'histogram' && (!req.by || req.by.length === 0)) throw badInput('A histogram groups by 1 to 3 categorical columns.', { field: 'by' });
  if (req.aggregate !== 'histogram' && req.by?.length) throw badInput('Only histograms take `by`.', { field: 'by' });
  return { domain, relation: rel.relation, groupBy: req.aggregate === 'histogram' ? req.by! : undefined, aggregates: [aggregate], privacy: req.privacy };
}

export function planAggregate(domain: DomainDeclaration, ds: DatasetDeclaration, req: AggregateRequest, dataVersions?: Record<string, string>): Plan {
  if (req.aggregate === 'histogram') {
    for (const b of req.by ?? []) {
      const c = ds.columns.find((x) => x.name === b);
      if (!c || c.type !== 'categorical') throw badInput(`"${b}" is not a categorical column of ${ds.name}.`, { field: 'by' });
    }
  }
  return buildPlan({ ...specFromRequest(domain, ds, req), dataVersions });
}

/** The typed `where` input (per column: eq, in, gte, lte, all ANDed) as a predicate. */
export function whereToPredicate(where: WhereInput | null | undefined): Predicate {
  if (where == null) return TRUE;
  if (typeof where !== 'object') throw badInput('where must be an object.', { field: 'where' });
  const parts: Predicate[] = [];
  for (const column of Object.keys(where)) {
    const f = where[column];
    if (f == null) continue;
    if (f.eq != null) parts.push(isIn(column, [f.eq]));
    if (f.in != null) {
      if (!Array.isArray(f.in)) throw badInput(`where.${column}.in must be a list.`, { field: `where.${column}.in` });
      parts.push(isIn(column, f.in));
    }
    if (f.gte != null) parts.push(cmp(column, '>=', f.gte));
    if (f.lte != null) parts.push(cmp(column, '<=', f.lte));
  }
  return and(...parts);
}
