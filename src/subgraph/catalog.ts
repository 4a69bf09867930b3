import type { DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';

/** The catalog as data (the same facts introspection shows as descriptions). */
export function domainInfo(domain: DomainDeclaration) {
  const p = domain.policy;
  return {
    name: domain.name,
    title: domain.title,
    description: domain.description,
    owner: domain.owner.team,
    contact: domain.owner.contact,
    sensitivity: domain.sensitivity,
    policySummary:
      domain.sensitivity === 'open'
        ? 'Open data: rows may be listed by any authenticated caller.'
        : `Differentially private answers only. Default budget per principal: epsilon ${p.defaultBudget.epsilon} at delta ${p.defaultBudget.delta}; ` +
          `global cap per dataset: epsilon ${p.globalCap.epsilon}; at most epsilon ${p.maxEpsilonPerQuery} per query (default ${p.defaultEpsilon}).`,
  };
}

export function catalogEntry(domain: DomainDeclaration, ds: DatasetDeclaration) {
  return {
    domain: domain.name,
    name: ds.name,
    title: ds.title,
    description: ds.description,
    sensitivity: domain.sensitivity,
    privacyUnit: ds.privacyUnit,
    maxRowsPerUnit: ds.contribution.maxRowsPerUnit,
    maxGroupsPerUnit: ds.contribution.maxGroupsPerUnit,
    columns: ds.columns.map((c) => ({
      name: c.name,
      type: c.type,
      description: c.description,
      unit: c.unit,
      lowerBound: c.bounds?.[0],
      upperBound: c.bounds?.[1],
      granularity: c.granularity ?? (c.type === 'integer' ? 1 : undefined),
      categories: c.categories ?? null,
      privacyUnit: ds.privacyUnit === c.name,
    })),
  };
}
