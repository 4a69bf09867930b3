import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import type { PrivacyCost } from '../../src/dp/cost.js';
import { demoDomain } from '../../src/domain/registry.js';
import { chargeOrReuse, completeRelease } from '../../src/governance/ledger.js';
import { GovernanceService } from '../../src/governance/service.js';
import { fromRoot } from '../../src/paths.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';
import { PG_URL, requirePostgres } from '../helpers/mesh.js';

/**
 * Governance integrity through `cdm audit verify` and `cdm audit head` on a real PostgreSQL: every
 * budget is recomputed from the ledger and compared with the stored rows and with the last state
 * the hash chain vouches for; a signed head anchors the chain outside the database. Each tampering
 * (tail cut, entry edited, budget row reset, ledger entry deleted, head forged) fails with a
 * message that says what differs.
 */
const justice = demoDomain('justice');
const secret = randomBytes(32).toString('base64url');
const dir = mkdtempSync(join(tmpdir(), 'cdm-heads-'));
const schemas: DomainDatabase[] = [];

/** A fresh schema with a few charged and completed releases, two principals, an epoch change. */
async function fresh(): Promise<{ db: DomainDatabase; suffix: string }> {
  const suffix = `_i${randomBytes(4).toString('hex')}`;
  const db = await openDomainDatabase(justice, { url: PG_URL, schema: `${justice.databaseSchema}${suffix}` });
  schemas.push(db);
  await migrate(db);
  const gov = new GovernanceService(justice, db);
  await gov.setBudget('root', 'ann', { epsilon: 3, delta: 1e-6 });
  for (let i = 0; i < 6; i++) {
    const caller = { id: i % 2 ? 'ann' : 'ben', roles: ['analyst'] };
    if (i === 3) await gov.grantBudget('root', 'ann', 1); // a new epoch for ann at her next charge
    const costs: PrivacyCost[] = i % 3 === 0 ? [{ kind: 'discreteGaussian', sigma: 8, sensitivity: 1 }] : [{ kind: 'discreteLaplace', scale: 10, sensitivity: 1 }];
    const out = await chargeOrReuse(db, {
      caller, dataset: 'defendants', aggregate: 'count', planKey: randomUUID(), costs, epsilon: 0.1, delta: 0, mechanism: 'test', query: { i },
      principalCap: justice.policy.defaultBudget, globalCap: justice.policy.globalCap,
    });
    assert.equal(out.kind, 'charged');
    if (out.kind === 'charged') await completeRelease(db, out.releaseId, caller.id, { value: i });
  }
  return { db, suffix };
}

const cdm = (suffix: string, ...args: string[]) =>
  spawnSync(process.execPath, [fromRoot('dist', 'src', 'cli', 'main.js'), 'audit', ...args, '--domains', 'justice'], {
    env: { ...process.env, DATABASE_URL: PG_URL, CDM_SCHEMA_SUFFIX: suffix, CDM_AUDIT_KEY: secret },
    encoding: 'utf8',
  });

before(requirePostgres);
after(async () => {
  for (const db of schemas) {
    await db.query(`DROP SCHEMA IF EXISTS "${db.schema}" CASCADE`);
    await db.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('cdm audit verify and head', { timeout: 180_000 }, () => {
  test('intact: ok, every budget matches the ledger, and the chain extends its signed head (file or string)', async () => {
    const { suffix } = await fresh();
    const ok = cdm(suffix, 'verify');
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /justice: ok \(\d+ entries, 3 budgets match the ledger\)/);
    const head = cdm(suffix, 'head');
    assert.equal(head.status, 0, head.stderr);
    const file = join(dir, `${suffix}.jws`);
    writeFileSync(file, head.stdout);
    const anchored = cdm(suffix, 'verify', '--head', file);
    assert.equal(anchored.status, 0, anchored.stdout);
    assert.match(anchored.stdout, /extends the head at entry \d+/);
    assert.equal(cdm(suffix, 'verify', '--head', head.stdout.trim()).status, 0);
  });

  test('cutting the tail: the ledger and the budgets no longer match the chain; with the head, truncation is named', async () => {
    const { db, suffix } = await fresh();
    const head = cdm(suffix, 'head').stdout;
    const t = qualified(db, 'audit_entry');
    await db.query(`DELETE FROM ${t} WHERE seq > (SELECT max(seq) - 4 FROM ${t})`);
    const cut = cdm(suffix, 'verify');
    assert.equal(cut.status, 1);
    assert.match(cut.stdout, /charged in the ledger but the audit log has no release\.charge/);
    assert.match(cut.stdout, /differs from the last state the audit chain vouches for/);
    const anchored = cdm(suffix, 'verify', '--head', head);
    assert.equal(anchored.status, 1);
    assert.match(anchored.stdout, /the anchored head is entry \d+ .* but the log ends at entry \d+: the log was truncated/);
  });

  test('cutting only entries that touch no budget is caught by the anchored head', async () => {
    const { db, suffix } = await fresh();
    const head = cdm(suffix, 'head').stdout;
    await db.query(`DELETE FROM ${qualified(db, 'audit_entry')} WHERE seq = (SELECT max(seq) FROM ${qualified(db, 'audit_entry')}) AND action = 'release.complete'`);
    assert.equal(cdm(suffix, 'verify').status, 0, 'a release.complete entry holds no budget state');
    const anchored = cdm(suffix, 'verify', '--head', head);
    assert.equal(anchored.status, 1);
    assert.match(anchored.stdout, /the log was truncated/);
  });

  test('editing an entry breaks its hash; resetting a budget row breaks the ledger replay', async () => {
    const { db, suffix } = await fresh();
    await db.query(`UPDATE ${qualified(db, 'principal_budget')} SET spent = '{}'::jsonb WHERE principal_id = 'ben'`);
    const reset = cdm(suffix, 'verify');
    assert.equal(reset.status, 1);
    assert.match(reset.stdout, /principal:ben: the stored budget \(epsilon 0, 0 releases in epoch 1\) does not match the ledger \(epsilon [\d.]+, 3 releases\)/);
    const t = qualified(db, 'audit_entry');
    await db.query(`UPDATE ${t} SET detail = jsonb_set(detail, '{epsilon}', '0.01') WHERE seq = (SELECT min(seq) + 3 FROM ${t})`);
    const edited = cdm(suffix, 'verify');
    assert.equal(edited.status, 1);
    assert.match(edited.stdout, /justice: BROKEN at entry \d+: content does not match its hash/);
  });

  test('a deleted ledger entry, a renumbered entry and a forged head are each named', async () => {
    const { db, suffix } = await fresh();
    const other = spawnSync(process.execPath, [fromRoot('dist', 'src', 'cli', 'main.js'), 'audit', 'head', '--domains', 'justice'], {
      env: { ...process.env, DATABASE_URL: PG_URL, CDM_SCHEMA_SUFFIX: suffix, CDM_AUDIT_KEY: 'another key' },
      encoding: 'utf8',
    });
    await db.query(`DELETE FROM ${qualified(db, 'ledger_entry')} WHERE id = (SELECT id FROM ${qualified(db, 'ledger_entry')} ORDER BY created_at LIMIT 1)`);
    const deleted = cdm(suffix, 'verify');
    assert.equal(deleted.status, 1);
    assert.match(deleted.stdout, /missing from the ledger \(a ledger entry was deleted\)/);
    const t = qualified(db, 'audit_entry');
    await db.query(`UPDATE ${t} SET seq = seq + 1000 WHERE seq = (SELECT max(seq) FROM ${t})`);
    assert.match(cdm(suffix, 'verify').stdout, /sequence number \d+ does not follow \d+/);
    const forged = cdm(suffix, 'verify', '--head', other.stdout);
    assert.equal(forged.status, 1);
    assert.match(forged.stdout, /signature does not verify/);
  });
});
