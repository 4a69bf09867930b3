import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { chainEntry, entryColumns, GENESIS, verifyAudit } from '../../src/governance/audit.js';
import { GovernanceService } from '../../src/governance/service.js';
import { openDomainDatabase, qualified } from '../../src/storage/database.js';
import { loadMigrations, migrate } from '../../src/storage/migrate.js';

/**
 * Upgrading a node whose budget rows hold caps copied at the first charge: caps an admin set (an
 * audited admin.setBudget / admin.grantBudget / admin.setGlobalCap) stay theirs, as explicit
 * policies; copied defaults are dropped so those principals follow the policies again; running
 * filters keep the cap they were opened with.
 */
test('migration 0002 (governance epochs) keeps admin-set caps explicit and lets copied defaults follow the policies', async () => {
  const census = demoDomain('census');
  const db = await openDomainDatabase(census, { dataDir: 'memory://' });
  try {
    const all = loadMigrations();
    const mine = all.findIndex((m) => m.name.endsWith('_governance_epochs'));
    await migrate(db, all.slice(0, mine));
    const spent = JSON.stringify({ version: 1, releases: 1, gdp: 0.1, zcdp: 0.01, basicEpsilon: 0.5, basicOnly: true, approxDelta: 0, counts: { discreteLaplace: 0, discreteGaussian: 0, pure: 1, zcdp: 0, approx: 0 } });
    await db.exec(`
      INSERT INTO principal (id, roles) VALUES ('set', '{analyst}'), ('copied', '{analyst}');
      INSERT INTO principal_budget (principal_id, epsilon, delta, spent, updated_at) VALUES ('set', 3, 1e-7, '${spent}', now()), ('copied', 10, 1e-6, '${spent}', now());
      INSERT INTO global_budget (dataset, epsilon, delta, spent, updated_at) VALUES ('adults', 50, 1e-5, '{}', now());
      INSERT INTO audit_entry (actor, action, detail, prev_hash, hash) VALUES ('root', 'admin.setBudget', '{"principal": "set", "epsilon": 3, "delta": 1e-7}', '0', 'h1');`);
    await migrate(db, all);
    const policies = await db.query<{ scope: string; total_epsilon: number; total_delta: number }>(`SELECT scope, total_epsilon, total_delta FROM ${qualified(db, 'policy')}`);
    assert.deepEqual(policies, [{ scope: 'principal:set', total_epsilon: 3, total_delta: 1e-7 }]);
    const rows = await db.query<{ principal_id: string; epoch_epsilon: number; epoch_delta: number }>(
      `SELECT principal_id, epoch_epsilon, epoch_delta FROM ${qualified(db, 'principal_budget')} ORDER BY principal_id`,
    );
    assert.deepEqual(rows, [{ principal_id: 'copied', epoch_epsilon: 10, epoch_delta: 1e-6 }, { principal_id: 'set', epoch_epsilon: 3, epoch_delta: 1e-7 }]);
    const [g] = await db.query<{ epsilon: number | null; epoch_epsilon: number }>(`SELECT epsilon, epoch_epsilon FROM ${qualified(db, 'global_budget')}`);
    assert.deepEqual(g, { epsilon: null, epoch_epsilon: 50 });

    const gov = new GovernanceService(census, db);
    assert.equal((await gov.budgetOfPrincipal('set')).epsilon, 3);
    await gov.setPolicy('root', 'domain', { totalEpsilon: 7 });
    const copied = await gov.budgetOfPrincipal('copied');
    assert.equal(copied.epsilon, 7, 'the copied default no longer pins the cap');
    assert.equal(copied.epsilonSpent, 0.5, 'what was spent is kept');
  } finally {
    await db.close();
  }
});

test('migration 0004 (audit head) starts the head at the last entry of an existing chain, and appends extend it', async () => {
  const census = demoDomain('census');
  const db = await openDomainDatabase(census, { dataDir: 'memory://' });
  try {
    const all = loadMigrations();
    const mine = all.findIndex((m) => m.name.endsWith('_audit_head_group_commit'));
    await migrate(db, all.slice(0, mine));
    // A chain written before the head table existed: two linked v2 entries.
    let head = { seq: '0', hash: GENESIS };
    for (const note of ['a', 'b']) {
      const e = chainEntry(head, { actor: 'root', action: 'admin.note', detail: { note } });
      const c = entryColumns(e);
      await db.query(
        `INSERT INTO ${qualified(db, 'audit_entry')} (seq, at, actor, action, detail, state, version, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [c.seq, c.at, c.actor, c.action, JSON.stringify(c.detail), JSON.stringify(c.state), c.version, c.prevHash, c.hash],
      );
      head = { seq: e.seq, hash: e.hash };
    }
    await migrate(db, all);
    const [stored] = await db.query<{ seq: string; hash: string }>(`SELECT seq::text AS seq, hash FROM ${qualified(db, 'audit_head')}`);
    assert.deepEqual(stored, head);
    await new GovernanceService(census, db).setPolicy('root', 'domain', { totalEpsilon: 7 });
    const chain = await verifyAudit(db);
    assert.equal(chain.ok, true, JSON.stringify(chain));
    assert.equal(chain.entries, 3);
  } finally {
    await db.close();
  }
});
