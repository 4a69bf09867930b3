import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { demoDomain } from '../../src/domain/registry.js';
import { appendAudit, verifyAudit } from '../../src/governance/audit.js';
import { rawOf } from '../../src/governance/ledger.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { loadMigrations, migrate } from '../../src/storage/migrate.js';
import { PG_URL, requirePostgres, type Backend } from '../helpers/mesh.js';

/** Storage on one backend: migrations, idempotent seeding, the audit chain and its tamper check. */
export function storageSuite(backend: Backend) {
  describe(`storage (${backend})`, { timeout: 120_000 }, () => {
    const domain = demoDomain('justice');
    let db: DomainDatabase;
    before(async () => {
      if (backend === 'postgres') await requirePostgres();
      db = await openDomainDatabase(domain, backend === 'postgres' ? { url: PG_URL, schema: `cdm_test_${randomBytes(4).toString('hex')}` } : { dataDir: 'memory://' });
    });
    after(async () => {
      if (backend === 'postgres') await db.query(`DROP SCHEMA IF EXISTS "${db.schema}" CASCADE`);
      await db.close();
    });

    test('migrations apply once and are recorded in _prisma_migrations', async () => {
      const all = loadMigrations().map((m) => m.name);
      assert.ok(all.length >= 1 && all[0] === '0001_init');
      assert.deepEqual(await migrate(db), all);
      assert.deepEqual(await migrate(db), []);
      const rows = await db.query<{ migration_name: string }>(`SELECT migration_name FROM ${qualified(db, '_prisma_migrations')} ORDER BY migration_name`);
      assert.deepEqual(rows.map((r) => r.migration_name), all);
      assert.equal(await db.prisma.principal.count(), 0);
    });

    test('seeding loads the real rows once and is idempotent', async () => {
      const first = await seedDomain(db, domain);
      assert.deepEqual(first, [{ dataset: 'defendants', rows: 6167, skipped: false }]);
      const second = await seedDomain(db, domain);
      assert.deepEqual(second, [{ dataset: 'defendants', rows: 6167, skipped: true }]);
      const [n] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified(db, 'defendants')}`);
      assert.equal(n!.n, 6167);
    });

    test('the audit log is hash-chained: editing or deleting an entry is detected', async () => {
      for (let i = 0; i < 5; i++) {
        await db.prisma.$transaction((tx) => appendAudit(rawOf(tx), db.schema, { actor: 'tester', action: 'test.entry', detail: { i, eps: 0.1 * i } }));
      }
      assert.deepEqual(await verifyAudit(db), { ok: true, entries: 5 });
      const t = qualified(db, 'audit_entry');
      await db.query(`UPDATE ${t} SET detail = '{"i": 2, "eps": 0}'::jsonb WHERE seq = (SELECT min(seq) + 2 FROM ${t})`);
      const edited = await verifyAudit(db);
      assert.equal(edited.ok, false);
      assert.match(edited.reason!, /edited/);
      await db.query(`DELETE FROM ${t} WHERE seq = (SELECT min(seq) + 2 FROM ${t})`);
      const deleted = await verifyAudit(db);
      assert.equal(deleted.ok, false);
      assert.match(deleted.reason!, /deleted or edited/);
    });
  });
}
