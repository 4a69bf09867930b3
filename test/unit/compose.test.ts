import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compose, staleSchemaFiles } from '../../src/compose.js';
import { demoDomains } from '../../src/domain/registry.js';

test('the checked-in subgraph SDL and supergraph are up to date and compose without errors', () => {
  const c = compose(demoDomains());
  assert.match(c.supergraphSdl, /@join__graph\(name: "census"/);
  assert.deepEqual(staleSchemaFiles(c), [], 'schema/ is stale: run `npm run compose` and commit schema/');
});

test('each subgraph links Federation 2 and owns its root namespace', () => {
  const c = compose(demoDomains());
  for (const s of c.subgraphs) {
    assert.match(s.sdl, /specs\.apollo\.dev\/federation\/v2\.\d/);
    assert.match(s.sdl, new RegExp(`${s.name}: [A-Z][A-Za-z]+Domain!`));
  }
});
