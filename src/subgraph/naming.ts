import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';

/** Names of the generated GraphQL surface, in one place so SDL and resolvers agree. */
export const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
export const enumValue = (column: string) => column.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();

export const names = (domain: DomainDeclaration) => {
  const D = pascal(domain.name);
  return {
    domainType: `${D}Domain`,
    root: domain.name,
    datasetEnum: `${D}Dataset`,
    budgetField: `${domain.name}Budget`,
    admin: (verb: string) => `${domain.name}${verb}`,
    dataset: (ds: DatasetDeclaration) => {
      const P = `${D}${pascal(ds.name)}`;
      return {
        type: P,
        row: `${P}Row`,
        connection: `${P}Connection`,
        edge: `${P}Edge`,
        where: `${P}Where`,
        column: `${P}Column`,
        numeric: `${P}NumericColumn`,
        categorical: `${P}CategoricalColumn`,
        syntheticRow: `${P}SyntheticRow`,
        syntheticEdge: `${P}SyntheticEdge`,
        syntheticConnection: `${P}SyntheticConnection`,
      };
    },
  };
};

/** A column as the catalog shows it: type, unit, bounds or categories, privacy role. */
export function describeColumn(ds: DatasetDeclaration, c: ColumnDeclaration): string {
  const parts = [c.description];
  const facts: string[] = [c.type];
  if (c.unit) facts.push(`unit: ${c.unit}`);
  if (c.bounds) facts.push(`public bounds [${c.bounds[0]}, ${c.bounds[1]}]`);
  if (c.granularity) facts.push(`released at granularity ${c.granularity}`);
  if (c.type === 'categorical') facts.push(c.categories ? `public categories: ${c.categories.join(', ')}` : 'no public category list (DP key selection)');
  if (ds.privacyUnit === c.name) facts.push('privacy unit: never released');
  return `${parts.join(' ')} (${facts.join('; ')})`;
}
