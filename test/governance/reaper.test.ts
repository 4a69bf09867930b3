import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { demoDomain } from '../../src/domain/registry.js';
import { chargeOrReuse, type ChargeRequest } from '../../src/governance/ledger.js';
import { GovernanceService } from '../../src/governance/service.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';

/**
 * A process that dies between the charge and the completion leaves its release pending and, for a
 * synthetic fit, its scratch table behind. The next identical request must be answered (not wait
 * for a dead release), the charge must stay (it was spent), and the upkeep at start and on a timer
 * reaps what is stale and drops leaked scratch tables, sparing live ones.
 */
const census = demoDomain('census');
let db: DomainDatabase;
let gov: GovernanceService;

before(async () => {
  db = await openDomainDatabase(census, { dataDir: 'memory://' });
  await migrate(db);
  gov = new GovernanceService(census, db);
});
after(() => db.close());

const request = (planKey: string, aggregate = 'count'): ChargeRequest => ({
  caller: { id: 'zoe', roles: ['analyst'] }, dataset: 'adults', aggregate, planKey, costs: [{ kind: 'pure', epsilon: 0.1 }], epsilon: 0.1, delta: 0,
  mechanism: 'test', query: {}, principalCap: census.policy.defaultBudget, globalCap: census.policy.globalCap,
});
/** Simulates a crash `minutes` ago: the release was charged and never completed. */
const ageRelease = (id: string, minutes: number) =>
  db.query(`UPDATE ${qualified(db, 'release')} SET created_at = created_at - make_interval(mins => $2) WHERE id = $1`, [id, minutes]);
const statusOf = async (id: string) => (await db.query<{ status: string }>(`SELECT status FROM ${qualified(db, 'release')} WHERE id = $1`, [id]))[0]?.status;
const ledgerCount = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified(db, 'ledger_entry')}`))[0]!.n;

test('a dead pending release does not block the next identical request, and its charge stays', async () => {
  const key = randomUUID();
  const first = await chargeOrReuse(db, request(key));
  assert.equal(first.kind, 'charged');
  const fresh = await chargeOrReuse(db, request(key));
  assert.equal(fresh.kind, 'pending', 'a live release is waited for');
  await ageRelease((first as { releaseId: string }).releaseId, 10);
  const started = Date.now();
  const again = await chargeOrReuse(db, request(key));
  assert.equal(again.kind, 'charged', 'the dead release is reaped and the request answered afresh');
  assert.ok(Date.now() - started < 10_000);
  assert.equal(await ledgerCount(), 2, 'the dead release was charged and stays charged');
  const reaped = await db.query<{ detail: { releaseId: string } }>(`SELECT detail FROM ${qualified(db, 'audit_entry')} WHERE action = 'release.reaped'`);
  assert.deepEqual(reaped.map((r) => r.detail.releaseId), [(first as { releaseId: string }).releaseId]);
});

test('upkeep reaps stale releases (fits get longer), keeps fresh ones, and drops only leaked scratch tables', async () => {
  const stale = (await chargeOrReuse(db, request(randomUUID()))) as { releaseId: string };
  const live = (await chargeOrReuse(db, request(randomUUID()))) as { releaseId: string };
  const fit = (await chargeOrReuse(db, request(randomUUID(), 'synthetic'))) as { releaseId: string };
  await ageRelease(stale.releaseId, 10);
  await ageRelease(fit.releaseId, 10); // a fit may run for a while: 10 minutes is not dead yet
  const scratch = (id: string) => `_cdm_synth_${id.replace(/[^a-z0-9]/g, '')}`;
  for (const id of [stale.releaseId, fit.releaseId, randomUUID()]) await db.exec(`CREATE UNLOGGED TABLE ${qualified(db, scratch(id))} (c0 integer)`);

  assert.deepEqual(await gov.reapStale(), [stale.releaseId]);
  assert.equal(await statusOf(stale.releaseId), 'failed');
  assert.equal(await statusOf(live.releaseId), 'pending');
  assert.equal(await statusOf(fit.releaseId), 'pending');
  const dropped = await gov.dropLeakedScratch();
  assert.equal(dropped.length, 2, `dropped ${dropped}`);
  assert.ok(dropped.includes(`"public"."${scratch(stale.releaseId)}"`), `dropped ${dropped}`);
  const left = await db.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE tablename LIKE '\\_cdm\\_synth\\_%'`);
  assert.deepEqual(left.map((r) => r.name), [scratch(fit.releaseId)], 'the running fit keeps its table');

  // At start on embedded PGlite no other process can be answering: every pending release is dead.
  const stop = await gov.startMaintenance(60_000);
  stop();
  assert.equal(await statusOf(live.releaseId), 'failed');
  assert.equal(await statusOf(fit.releaseId), 'failed');
  assert.equal((await db.query(`SELECT 1 FROM pg_tables WHERE tablename LIKE '\\_cdm\\_synth\\_%'`)).length, 0);
});
