import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeclarationError, validateDomain } from '../../src/domain/declaration.js';
import { demoDomains } from '../../src/domain/registry.js';
import { readFileSync } from 'node:fs';
import { fromRoot } from '../../src/paths.js';

const census = JSON.parse(readFileSync(fromRoot('domains', '20-census.json'), 'utf8'));

test('the demo declarations validate', () => {
  const domains = demoDomains();
  assert.deepEqual(domains.map((d) => d.name), ['reference', 'census', 'health', 'justice']);
  assert.ok(domains.some((d) => d.sensitivity === 'open'));
  assert.ok(domains.some((d) => d.sensitivity === 'sensitive' && d.datasets.some((ds) => ds.privacyUnit !== 'row')));
});

test('a bad declaration is refused with an error naming every bad field', () => {
  const bad = structuredClone(census) as any;
  bad.datasets[0].columns[0].bounds = [90, 17];
  bad.datasets[0].privacyUnit = 'personId';
  bad.datasets[0].columns[1].bounds = [0, 1];
  assert.throws(
    () => validateDomain(bad),
    (e: Error) =>
      e instanceof DeclarationError &&
      /"census"/.test(e.message) &&
      /datasets\.0\.columns\.0\.bounds: lower bound must be below upper bound/.test(e.message) &&
      /datasets\.0\.privacyUnit: "personId" is not a declared column/.test(e.message) &&
      /datasets\.0\.columns\.1\.bounds: only numeric columns have bounds/.test(e.message),
  );
});

test('numeric columns need public bounds; identifiers must be safe', () => {
  const bad = structuredClone(census) as any;
  delete bad.datasets[0].columns[0].bounds;
  bad.datasets[0].table = 'adults; DROP TABLE x';
  assert.throws(() => validateDomain(bad), /columns\.0\.bounds: a numeric column needs public bounds/);
  assert.throws(() => validateDomain(bad), /datasets\.0\.table: must be a lower-case SQL identifier/);
});
