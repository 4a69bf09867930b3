import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Caller } from '../../src/auth/tokens.js';
import { compose, emptyState, epsilonSpent, withinCap } from '../../src/dp/accountant.js';
import type { Cap, PrivacyCost } from '../../src/dp/cost.js';
import { demoDomain } from '../../src/domain/registry.js';
import { committerFor } from '../../src/governance/committer.js';
import { chargeOrReuse, completeRelease, failRelease, type ChargeOutcome, type ChargeRequest } from '../../src/governance/ledger.js';
import { verifyDomain } from '../../src/governance/verify.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import { pgliteGovernance } from '../helpers/governance.js';
import { PG_URL, requirePostgres } from '../helpers/mesh.js';

/**
 * The group commit of charges and completions (src/governance/committer.ts): requests evaluated
 * together in one batch see each other's writes and get the same outcomes and refusals as one by
 * one; a batch that loses the race to another writer is re-read and re-evaluated (and then sees
 * that writer's change); two replicas racing on one global cap never overspend it.
 */
const census = demoDomain('census'); // declaration: 10 per principal at delta 1e-6, global cap per dataset
const analyst = (id: string): Caller => ({ id, roles: ['analyst'] });
const pure = (epsilon: number): PrivacyCost => ({ kind: 'pure', epsilon });

function request(caller: Caller, epsilon: number, opts: { planKey?: string; principalCap?: Cap; globalCap?: Cap } = {}): ChargeRequest {
  return {
    caller, dataset: 'adults', aggregate: 'count', planKey: opts.planKey ?? randomUUID(), costs: [pure(epsilon)], epsilon, delta: 0, mechanism: 'test', query: {},
    principalCap: opts.principalCap ?? census.policy.defaultBudget, globalCap: opts.globalCap ?? census.policy.globalCap,
  };
}

const outcomeOf = (p: Promise<ChargeOutcome>) =>
  p.then(
    (o) => o.kind,
    (e: { extensions?: Record<string, unknown> }) => ({ code: e.extensions?.code, ...e.extensions }),
  );

describe('group commit on PGlite', () => {
  const ctx = pgliteGovernance(census);

  test('one batch of memo hits, a pending release, refusals and charges: each gets what it would alone', async () => {
    const done = await chargeOrReuse(ctx.db, request(analyst('amy'), 0.5, { planKey: 'done-plan' }));
    assert.equal(done.kind, 'charged');
    await completeRelease(ctx.db, (done as { releaseId: string }).releaseId, 'amy', { value: 42 });
    const pending = await chargeOrReuse(ctx.db, request(analyst('amy'), 0.5, { planKey: 'pending-plan' }));
    const failed = await chargeOrReuse(ctx.db, request(analyst('amy'), 0.5, { planKey: 'failed-plan' }));
    await failRelease(ctx.db, (failed as { releaseId: string }).releaseId, 'amy');
    await ctx.gov.revoke('root', 'rev', false);

    const c = committerFor(ctx.db);
    const before = { ...c.stats };
    // Submitted in one tick: one batch. bob's cap is 1: his third charge of 0.4 must be refused
    // because of the two before it IN THE SAME BATCH; the same plan twice is charged once.
    const bobCap = { epsilon: 1, delta: 1e-6 };
    const outcomes = await Promise.all([
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('carl'), 0.5, { planKey: 'done-plan' }))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('carl'), 0.5, { planKey: 'pending-plan' }))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('rev'), 0.1))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('bob'), 0.4, { principalCap: bobCap }))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('bob'), 0.4, { principalCap: bobCap }))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('bob'), 0.4, { principalCap: bobCap }))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('carl'), 0.5, { planKey: 'failed-plan' }))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('dan'), 0.3, { planKey: 'twice' }))),
      outcomeOf(chargeOrReuse(ctx.db, request(analyst('dan'), 0.3, { planKey: 'twice' }))),
    ]);
    assert.equal(c.stats.batches - before.batches, 1, 'all in one batch');
    assert.equal(c.stats.requests - before.requests, 9);
    assert.deepEqual(outcomes.slice(0, 3), ['cached', 'pending', { code: 'FORBIDDEN' }]);
    assert.deepEqual(outcomes.slice(3, 5), ['charged', 'charged']);
    const refused = outcomes[5] as Record<string, number | string>;
    assert.equal(refused.code, 'BUDGET_EXHAUSTED');
    assert.equal(refused.cap, 1);
    const twice = [pure(0.4), pure(0.4)].reduce(compose, emptyState());
    assert.equal(refused.spent, epsilonSpent(twice, bobCap.delta), 'refused on the state after the two charges before it');
    assert.equal(refused.wouldSpend, epsilonSpent(compose(twice, pure(0.4)), bobCap.delta));
    assert.equal(outcomes[6], 'charged', 'a failed release of the plan is charged afresh');
    assert.deepEqual(outcomes.slice(7), ['charged', 'pending'], 'the second request of a plan sees the first one pending');

    const ledger = await ctx.db.query<{ principal_id: string; n: number }>(`SELECT principal_id, count(*)::int AS n FROM ${qualified(ctx.db, 'ledger_entry')} GROUP BY principal_id ORDER BY principal_id`);
    assert.deepEqual(ledger.map((r) => [r.principal_id, r.n]), [['amy', 3], ['bob', 2], ['carl', 1], ['dan', 1]]);
    const report = await verifyDomain(ctx.db);
    assert.deepEqual(report.problems, []);
  });

  test('a batch that loses the race is re-read and re-evaluated: it sees the cap lowered meanwhile', async () => {
    const c = committerFor(ctx.db);
    const conflicts = c.stats.conflicts;
    c.beforeWrite = async (attempt) => {
      // Another writer commits between this batch's read and its write.
      if (attempt === 0) await ctx.gov.setBudget('root', 'erin', { epsilon: 0.2, delta: 1e-6 });
    };
    try {
      const outcome = await outcomeOf(chargeOrReuse(ctx.db, request(analyst('erin'), 0.5, { principalCap: { epsilon: 10, delta: 1e-6 } })));
      assert.equal((outcome as { code?: string }).code, 'BUDGET_EXHAUSTED', 'evaluated again on the new cap');
    } finally {
      c.beforeWrite = undefined;
    }
    assert.equal(c.stats.conflicts - conflicts, 1);
    const [n] = await ctx.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified(ctx.db, 'ledger_entry')} WHERE principal_id = 'erin'`);
    assert.equal(n!.n, 0, 'the lost batch wrote nothing');
    assert.deepEqual((await verifyDomain(ctx.db)).problems, []);
  });

  test('a completion is first written on the head this process last saw, and re-read when another writer moved it', async () => {
    const c = committerFor(ctx.db);
    const out = await chargeOrReuse(ctx.db, request(analyst('gus'), 0.1));
    assert.equal(out.kind, 'charged');
    const id = (out as { releaseId: string }).releaseId;
    await ctx.gov.setPolicy('root', 'role:third', { maxEpsilonPerQuery: 1 }); // moves the head
    const conflicts = c.stats.conflicts;
    await completeRelease(ctx.db, id, 'gus', { value: 7 });
    assert.equal(c.stats.conflicts - conflicts, 1, 'the blind attempt lost, the second one read');
    const [r] = await ctx.db.query<{ status: string }>(`SELECT status FROM ${qualified(ctx.db, 'release')} WHERE id = $1`, [id]);
    assert.equal(r!.status, 'done');
    const before = c.stats.conflicts;
    await failRelease(ctx.db, (await chargeOrReuse(ctx.db, request(analyst('gus'), 0.1)) as { releaseId: string }).releaseId, 'gus');
    assert.equal(c.stats.conflicts, before, 'nobody else wrote: the blind attempt commits');
    assert.deepEqual((await verifyDomain(ctx.db)).problems, []);
  });

  test('a batch that keeps losing holds the head lock from read to write and commits', async () => {
    const c = committerFor(ctx.db);
    const locked = c.stats.locked;
    let interference = 0;
    c.beforeWrite = async () => {
      // Only the optimistic attempts are interfered with (each loses); under the locking one no
      // writer can overtake the batch.
      if (c.stats.locked === locked) {
        interference++;
        await ctx.gov.setPolicy('root', 'role:other', { maxEpsilonPerQuery: interference });
      }
    };
    try {
      assert.equal((await chargeOrReuse(ctx.db, request(analyst('fay'), 0.1))).kind, 'charged');
      assert.equal(c.stats.locked - locked, 1);
    } finally {
      c.beforeWrite = undefined;
    }
    assert.ok(interference >= 3);
    assert.deepEqual((await verifyDomain(ctx.db)).problems, []);
  });
});

describe('two replicas, one PostgreSQL, 64 clients on one global cap', { timeout: 120_000 }, () => {
  const schema = `${census.databaseSchema}_g${randomBytes(4).toString('hex')}`;
  const replicas: DomainDatabase[] = [];
  before(async () => {
    await requirePostgres();
    for (let i = 0; i < 2; i++) replicas.push(await openDomainDatabase(census, { url: PG_URL, schema }));
    await migrate(replicas[0]!);
  });
  after(async () => {
    if (replicas[0] && !process.env.KEEP_SCHEMA) await replicas[0].query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    for (const r of replicas) await r.close();
  });

  test('overspend 0, the ledger equals the budget rows, and the chain verifies', async () => {
    const GLOBAL: Cap = { epsilon: 6, delta: 1e-6 };
    const CLIENTS = 64;
    // Each client charges 0.1 until refused: 64 x 0.1 per round, the global cap allows 60 in all.
    const perClient = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const db = replicas[i % 2]!;
        let charged = 0;
        for (;;) {
          const out = await outcomeOf(chargeOrReuse(db, request(analyst(`c${i}`), 0.1, { globalCap: GLOBAL })));
          if (out === 'charged') charged++;
          else {
            assert.equal((out as { code?: string }).code, 'BUDGET_EXHAUSTED', JSON.stringify(out));
            return charged;
          }
        }
      }),
    );
    const db = replicas[0]!;
    const ledger = await db.query<{ cost: PrivacyCost[] }>(`SELECT cost FROM ${qualified(db, 'ledger_entry')}`);
    assert.equal(ledger.length, perClient.reduce((a, b) => a + b, 0));
    const spent = epsilonSpent(ledger.flatMap((l) => l.cost).reduce(compose, emptyState()), GLOBAL.delta);
    assert.ok(withinCap(spent, GLOBAL.epsilon), `overspend: ${spent} > ${GLOBAL.epsilon}`);
    const report = await verifyDomain(db);
    assert.deepEqual(report.problems, []);
    assert.equal(report.ok, true);
  });
});
