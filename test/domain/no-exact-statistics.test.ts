import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomains } from '../../src/domain/registry.js';

/**
 * Issue 11, leaks: no exact statistic of a sensitive dataset (e.g. its row count, "30,162
 * adults") may appear in what clients read: descriptions become the catalog and introspection.
 * Public facts from documentation (top-codes, bounds) are fine; a number that could only come
 * from the data is not. This scans every description of the sensitive demo domains for counts.
 */
const COUNT_LIKE = /\b\d{1,3}(,\d{3})+\b|\b\d{4,}\s+(rows|adults|people|persons|patients|visits|defendants|records)\b/i;

test('sensitive demo declarations state no exact count in any description', () => {
  for (const d of demoDomains().filter((x) => x.sensitivity === 'sensitive')) {
    const texts = [d.description, ...d.datasets.flatMap((ds) => [ds.description, ...ds.columns.map((c) => c.description)])];
    for (const t of texts) {
      const m = COUNT_LIKE.exec(t.replace(/top-code[sd]? (at )?\d{1,3}(,\d{3})*/gi, ''));
      assert.equal(m, null, `${d.name}: "${t}" states ${m?.[0]}`);
    }
  }
});
