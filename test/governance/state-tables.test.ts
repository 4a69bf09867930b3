import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeclarationError, validateDomain } from '../../src/domain/declaration.js';
import { demoDeclarationInput } from '../../src/domain/registry.js';
import { STATE_TABLES } from '../../src/governance/state-tables.js';
import { fromRoot } from '../../src/paths.js';

/**
 * A dataset lives in the same schema as the node's own state, and seeding drops and recreates its
 * table: a dataset named `release` would drop the release table. The declaration refuses it.
 */
const census = demoDeclarationInput('census');
const withTable = (table: string) => ({ ...census, datasets: census.datasets.map((ds, i) => (i === 0 ? { ...ds, table } : ds)) });

test('a dataset table named like a state table is refused at declaration time, naming the field', () => {
  for (const table of ['release', 'ledger_entry', 'audit_entry', 'principal_budget', 'policy', '_prisma_migrations', '_cdm_seed', '_cdm_synth_x']) {
    assert.throws(() => validateDomain(withTable(table)), (e: Error) => e instanceof DeclarationError && /datasets\.0\.table: .*state tables/.test(e.message), table);
  }
  assert.doesNotThrow(() => validateDomain(withTable('releases_2024')));
});

test('the list covers every table the migrations create', () => {
  const dir = fromRoot('prisma', 'migrations');
  const created = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => [...readFileSync(join(dir, e.name, 'migration.sql'), 'utf8').matchAll(/CREATE TABLE "([^"]+)"/g)].map((m) => m[1]!));
  assert.ok(created.length >= 9);
  for (const table of created) assert.ok(STATE_TABLES.includes(table), `${table} is created by a migration but not in STATE_TABLES`);
});
