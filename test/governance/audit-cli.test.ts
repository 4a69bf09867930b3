import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { demoDomain } from '../../src/domain/registry.js';
import { appendAudit } from '../../src/governance/audit.js';
import { rawOf } from '../../src/governance/ledger.js';
import { fromRoot } from '../../src/paths.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import { PG_URL, requirePostgres } from '../helpers/mesh.js';

/** `cdm audit verify` on a real database: ok on an intact chain, exit 1 naming the entry after tampering. */
const justice = demoDomain('justice');
const suffix = `_a${randomBytes(4).toString('hex')}`;
let db: DomainDatabase;

before(async () => {
  await requirePostgres();
  db = await openDomainDatabase(justice, { url: PG_URL, schema: `${justice.databaseSchema}${suffix}` });
  await migrate(db);
  for (let i = 0; i < 12; i++) {
    await db.prisma.$transaction((tx) => appendAudit(rawOf(tx), db.schema, { actor: `p${i % 3}`, action: 'admin.note', detail: { note: `n${i}`, epsilon: 0.1 } }));
  }
});
after(async () => {
  await db.query(`DROP SCHEMA IF EXISTS "${db.schema}" CASCADE`);
  await db.close();
});

const verify = () =>
  spawnSync(process.execPath, [fromRoot('dist', 'src', 'cli', 'main.js'), 'audit', 'verify', '--domains', 'justice'], {
    env: { ...process.env, DATABASE_URL: PG_URL, CDM_SCHEMA_SUFFIX: suffix },
    encoding: 'utf8',
  });

test('cdm audit verify: intact, then an edited entry, then a deleted one', async () => {
  const ok = verify();
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /justice: ok \(12 entries, /);
  const t = qualified(db, 'audit_entry');
  await db.query(`UPDATE ${t} SET detail = jsonb_set(detail, '{epsilon}', '0.01') WHERE seq = (SELECT min(seq) + 10 FROM ${t})`);
  const edited = verify();
  assert.equal(edited.status, 1);
  assert.match(edited.stdout, /justice: BROKEN at entry \d+: content does not match its hash/);
  await db.query(`DELETE FROM ${t} WHERE seq = (SELECT min(seq) + 3 FROM ${t})`);
  const deleted = verify();
  assert.equal(deleted.status, 1);
  assert.match(deleted.stdout, /justice: BROKEN at entry \d+: link to the previous entry is broken/);
});
