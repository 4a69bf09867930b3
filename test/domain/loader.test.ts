import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { loadDomainFile, loadDomainsDir } from '../../src/domain/loader.js';
import { demoDomains } from '../../src/domain/registry.js';
import { fromRoot } from '../../src/paths.js';

/** Domains are data: JSON, YAML and JS/TS declarations go through one schema; errors name file and field. */
const census = JSON.parse(readFileSync(fromRoot('domains', '20-census.json'), 'utf8'));
const withDir = async (fn: (dir: string) => Promise<void>) => {
  const dir = mkdtempSync(join(tmpdir(), 'cdm-decl-'));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

test('the same declaration loads identically from JSON, YAML, JS and TypeScript', () =>
  withDir(async (dir) => {
    const renamed = (name: string) => ({ ...census, name });
    writeFileSync(join(dir, 'a.json'), JSON.stringify(renamed('a')));
    writeFileSync(join(dir, 'b.yaml'), YAML.stringify(renamed('b')));
    writeFileSync(join(dir, 'c.mjs'), `export default ${JSON.stringify(renamed('c'))};`);
    writeFileSync(join(dir, 'd.ts'), `import type { DomainDeclarationInput } from '../x.js';\nconst d: DomainDeclarationInput = ${JSON.stringify(renamed('d'))};\nexport default d;`);
    const { domains, errors } = await loadDomainsDir([dir]);
    assert.deepEqual(errors, []);
    assert.deepEqual(domains.map((d) => d.name), ['a', 'b', 'c', 'd']);
    const demo = demoDomains().find((d) => d.name === 'census')!;
    for (const d of domains) {
      assert.deepEqual({ ...d, name: 'census', databaseSchema: demo.databaseSchema, datasets: d.datasets.map((x) => ({ ...x, source: null })) }, { ...demo, datasets: demo.datasets.map((x) => ({ ...x, source: null })) });
      // A relative CSV path is relative to the declaration file.
      assert.equal((d.datasets[0]!.source as { file: string }).file, join(dir, '..', 'data', 'adult', 'adult.csv.gz'));
    }
  }));

test('errors name the file and the field; one bad file does not stop the others', () =>
  withDir(async (dir) => {
    const bad = structuredClone(census);
    bad.name = 'bad';
    bad.datasets[0].columns[0].bounds = [90, 17];
    writeFileSync(join(dir, '1-bad.json'), JSON.stringify(bad));
    writeFileSync(join(dir, '2-broken.yaml'), 'name: [unclosed');
    writeFileSync(join(dir, '3-good.json'), JSON.stringify(census));
    writeFileSync(join(dir, '4-twice.json'), JSON.stringify(census));
    writeFileSync(join(dir, '5-empty.mjs'), 'export const a = 1; export const b = 2;');
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const { domains, errors } = await loadDomainsDir([dir]);
    assert.deepEqual(domains.map((d) => d.name), ['census']);
    const messages = errors.map((e) => e.message);
    assert.equal(messages.length, 4, messages.join('\n'));
    assert.match(messages[0]!, /1-bad\.json: Invalid domain declaration "bad":\n\s+datasets\.0\.columns\.0\.bounds: lower bound must be below upper bound/);
    assert.match(messages[1]!, /2-broken\.yaml: not valid YAML/);
    assert.match(messages[2]!, /4-twice\.json: domain "census" is declared twice/);
    assert.match(messages[3]!, /5-empty\.mjs: the module must export the declaration as its default export/);
    await assert.rejects(loadDomainFile(join(dir, 'notes.txt')), /notes\.txt: unsupported file type/);
  }));

test('the demo declarations live in domains/ and load in port order', () => {
  assert.deepEqual(demoDomains().map((d) => d.name), ['reference', 'census', 'health', 'justice']);
});
