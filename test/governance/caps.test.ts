import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Caller } from '../../src/auth/tokens.js';
import type { PrivacyCost } from '../../src/dp/cost.js';
import { demoDomain } from '../../src/domain/registry.js';
import { chargeOrReuse, type ChargeRequest } from '../../src/governance/ledger.js';
import { effectivePolicy } from '../../src/governance/policy.js';
import { GovernanceService } from '../../src/governance/service.js';
import { verifyDomain } from '../../src/governance/verify.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';

/**
 * Budget and policy semantics (issue 11): a principal's cap is the most specific policy, resolved
 * at every charge (not copied into the budget row at the first one); admins' explicit caps win;
 * grants add to the cap the principal has now (role policies included); a cap change mid-stream
 * closes the filter's epoch and composes epochs, and lowering delta never makes `spent` infinite.
 * Charges go through the real ledger on an in-memory PGlite (no data is read by a charge).
 */
const census = demoDomain('census'); // declaration default: epsilon 10, delta 1e-6 per principal
const ROOT = 'root';
let db: DomainDatabase;
let gov: GovernanceService;

before(async () => {
  db = await openDomainDatabase(census, { dataDir: 'memory://' });
  await migrate(db);
  gov = new GovernanceService(census, db);
});
after(async () => {
  await db.close();
});

const analyst = (id: string): Caller => ({ id, roles: ['analyst'] });
const pure = (epsilon: number): PrivacyCost => ({ kind: 'pure', epsilon });

/** One charge as the engine makes it: the cap it passes is the caller's effective policy. */
async function charge(caller: Caller, costs: PrivacyCost[], dataset = 'adults') {
  const policy = await effectivePolicy(db.prisma, census, caller);
  const eps = costs.reduce((a, c) => a + ('epsilon' in c ? (c.epsilon as number) : 0), 0);
  const req: ChargeRequest = {
    caller, dataset, aggregate: 'count', planKey: randomUUID(), costs, epsilon: eps, delta: 0, mechanism: 'test', query: {},
    principalCap: { epsilon: policy.totalEpsilon, delta: policy.totalDelta }, globalCap: census.policy.globalCap,
  };
  return chargeOrReuse(db, req);
}

const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return (e as { extensions?: { code?: string } }).extensions?.code ?? (e as Error).message;
  }
  return 'not refused';
};

describe('caps follow the policies at charge time', () => {
  test('a domain policy change reaches a principal who was already charged', async () => {
    const alice = analyst('alice');
    assert.equal((await charge(alice, [pure(0.4)])).kind, 'charged');
    assert.equal((await gov.budgetOf(alice)).epsilon, 10);
    await gov.setPolicy(ROOT, 'domain', { totalEpsilon: 0.5 });
    const b = await gov.budgetOf(alice);
    assert.equal(b.epsilon, 0.5);
    assert.ok(Math.abs(b.epsilonSpent - 0.4) < 1e-9, `spent ${b.epsilonSpent}`);
    assert.equal(await refusal(charge(alice, [pure(0.2)])), 'BUDGET_EXHAUSTED', 'the lowered domain cap is enforced');
    assert.equal((await charge(alice, [pure(0.1)])).kind, 'charged');
    await gov.setPolicy(ROOT, 'domain', {});
  });

  test('most specific wins: principal explicit > role > domain; later domain changes spare explicit caps', async () => {
    await gov.setPolicy(ROOT, 'role:analyst', { totalEpsilon: 3 });
    await gov.setBudget(ROOT, 'bob', { epsilon: 4, delta: 1e-6 });
    const carol = analyst('carol');
    const bob = analyst('bob');
    await charge(carol, [pure(0.1)]);
    await charge(bob, [pure(0.1)]);
    await gov.setPolicy(ROOT, 'domain', { totalEpsilon: 1 });
    assert.equal((await gov.budgetOf(carol)).epsilon, 3, 'role policy above the domain policy');
    assert.equal((await gov.budgetOf(bob)).epsilon, 4, 'explicit admin cap above the role policy');
    assert.equal((await gov.budgetOf({ id: 'dave', roles: [] })).epsilon, 1, 'no role: the domain policy');
    await gov.setPolicy(ROOT, 'role:analyst', { totalEpsilon: 2 });
    assert.equal((await gov.budgetOf(carol)).epsilon, 2, 'a role policy change reaches an already charged principal');
    assert.equal((await gov.budgetOfPrincipal('carol')).epsilon, 2, 'the admin view uses the roles the principal presented');
    await gov.setPolicy(ROOT, 'domain', {});
  });

  test('GrantBudget adds to the cap the principal has now, role policies included', async () => {
    await gov.setPolicy(ROOT, 'role:analyst', { totalEpsilon: 3 });
    await charge(analyst('erin'), [pure(0.1)]);
    await gov.grantBudget(ROOT, 'erin', 1);
    assert.equal((await gov.budgetOf(analyst('erin'))).epsilon, 4);
    await gov.grantBudget(ROOT, 'erin', 0.5);
    assert.equal((await gov.budgetOfPrincipal('erin')).epsilon, 4.5);
    await gov.setPolicy(ROOT, 'role:analyst', {});
  });

  test('allowedAggregates may name synthetic data, DP SQL and training; typos are refused', async () => {
    const view = await gov.setPolicy(ROOT, 'role:analyst', { allowedAggregates: ['count', 'synthetic', 'sql', 'train'] });
    assert.deepEqual(view.allowedAggregates, ['count', 'synthetic', 'sql', 'train']);
    const policy = await effectivePolicy(db.prisma, census, analyst('frank'));
    assert.ok(policy.allowedAggregates?.includes('synthetic'));
    assert.equal(await refusal(gov.setPolicy(ROOT, 'role:analyst', { allowedAggregates: ['synthetics'] })), 'BAD_USER_INPUT');
    await gov.setPolicy(ROOT, 'role:analyst', {});
  });
});

describe('a cap change mid-stream opens a new epoch', () => {
  test('the closed epoch keeps what it proved; the new filter composes on top (basic composition)', async () => {
    const gina = analyst('gina');
    await gov.setBudget(ROOT, 'gina', { epsilon: 2, delta: 1e-6 });
    for (let i = 0; i < 4; i++) await charge(gina, [{ kind: 'discreteGaussian', sigma: 10, sensitivity: 1 }]);
    const before = await gov.budgetOf(gina);
    assert.equal(before.epoch, 1);
    await gov.grantBudget(ROOT, 'gina', 1);
    const mid = await gov.budgetOf(gina);
    assert.equal(mid.epsilon, 3);
    assert.ok(Math.abs(mid.epsilonSpent - before.epsilonSpent) < 1e-12, 'closing an epoch costs nothing by itself');
    await charge(gina, [pure(0.25)]);
    const after = await gov.budgetOf(gina);
    assert.equal(after.epoch, 2);
    assert.ok(Math.abs(after.epsilonSpent - (before.epsilonSpent + 0.25)) < 1e-9, `${after.epsilonSpent} = ${before.epsilonSpent} + 0.25`);
    const [closed] = await db.query<{ epoch: number; spent_epsilon: number; releases: number }>(
      `SELECT epoch, spent_epsilon, releases FROM ${qualified(db, 'budget_epoch')} WHERE budget = 'principal:gina'`,
    );
    assert.deepEqual({ ...closed, spent_epsilon: Number(closed!.spent_epsilon.toFixed(12)) }, { epoch: 1, spent_epsilon: Number(before.epsilonSpent.toFixed(12)), releases: 4 });
    const report = await verifyDomain(db);
    assert.deepEqual(report.problems, [], 'the ledger replays to the stored epochs');
  });

  test('lowering delta never makes spent infinite (approximate-DP releases over the new delta share)', async () => {
    const hank = analyst('hank');
    await gov.setBudget(ROOT, 'hank', { epsilon: 5, delta: 1e-5 });
    await charge(hank, [{ kind: 'approx', epsilon: 0.3, delta: 5e-7 }]);
    await gov.setBudget(ROOT, 'hank', { epsilon: 5, delta: 1e-9 });
    const b = await gov.budgetOf(hank);
    assert.ok(Number.isFinite(b.epsilonSpent), `spent must stay finite, got ${b.epsilonSpent}`);
    assert.ok(Math.abs(b.epsilonSpent - 0.3) < 1e-9);
    assert.equal((await charge(hank, [pure(0.2)])).kind, 'charged', 'pure releases still fit the new cap');
    assert.ok(Math.abs((await gov.budgetOf(hank)).epsilonSpent - 0.5) < 1e-9);
  });

  test('an epoch that spent nothing is re-targeted, not closed', async () => {
    await gov.setBudget(ROOT, 'ivy', { epsilon: 1, delta: 1e-6 });
    await gov.setBudget(ROOT, 'ivy', { epsilon: 2, delta: 1e-7 });
    await charge(analyst('ivy'), [pure(0.1)]);
    assert.equal((await gov.budgetOf(analyst('ivy'))).epoch, 1);
  });
});
