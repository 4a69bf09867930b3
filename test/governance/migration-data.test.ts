import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
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
