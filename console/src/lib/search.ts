import type { Dataset, Domain } from '../api/mesh.js';

/**
 * Catalog search over domains, datasets and columns (name, title, description, unit): a dataset
 * matches when every word appears somewhere in it (its domain and columns included); the columns
 * that matched a word are listed with it.
 */
export interface Hit {
  domain: Domain;
  dataset?: Dataset;
  columns: string[];
}
const text = (...fields: (string | null | undefined)[]) => fields.filter(Boolean).join(' ').toLowerCase();

export function searchCatalog(domains: Domain[], query: string): Hit[] {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const hits: Hit[] = [];
  for (const d of domains) {
    const domainText = text(d.name, d.info.title, d.info.description, d.info.owner);
    for (const ds of d.datasets) {
      const cols = ds.info.columns.map((c) => ({ name: c.name, hay: text(c.name, c.description, c.unit, c.type) }));
      const hay = [domainText, text(ds.info.name, ds.info.title, ds.info.description), ...cols.map((c) => c.hay)].join(' ');
      if (!words.every((w) => hay.includes(w))) continue;
      hits.push({ domain: d, dataset: ds, columns: words.length ? cols.filter((c) => words.some((w) => c.hay.includes(w))).map((c) => c.name) : [] });
    }
    if (d.datasets.length === 0 && words.every((w) => domainText.includes(w))) hits.push({ domain: d, columns: [] });
  }
  return hits;
}
