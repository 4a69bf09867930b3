import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { demoDomain } from '../../src/domain/registry.js';
import { QueryEngine } from '../../src/query/engine.js';
import { postgresDataSource } from '../../src/query/datasource.js';
import { seedDomain } from '../../src/seed/seed.js';
import { migrate } from '../../src/storage/migrate.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { PG_URL, requirePostgres } from '../helpers/mesh.js';

/**
 * Data apart from state (issue 10): a domain whose dataset rows live in a separate PostgreSQL
 * DATABASE from its ledger, releases and audit (here: state in embedded PGlite). Answers read the
 * data database; charges, releases and audit go to the state database only.
 */
const census = demoDomain('census');
const dbName = `cdm_data_${randomBytes(4).toString('hex')}`;
const dataUrl = PG_URL.replace(/\/[^/]*$/, `/${dbName}`);
let state: DomainDatabase;
let dataDb: DomainDatabase;

before(async () => {
  await requirePostgres();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  dataDb = await openDomainDatabase(census, { url: dataUrl, schema: 'warehouse' });
  await seedDomain(dataDb, census);
  state = await openDomainDatabase(census, { dataDir: 'memory://' });
  await migrate(state);
});
after(async () => {
  await state?.close();
  await dataDb?.close();
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

test('a dataset in another PostgreSQL database answers; the charge and release stay in the state database', async () => {
  const engine = new QueryEngine(census, state, postgresDataSource(dataUrl, 'warehouse'));
  try {
    const caller = { id: 'ana', roles: ['analyst'] };
    const r = await engine.run(caller, 'adults', { aggregate: 'count', privacy: { epsilon: 1 } });
    assert.equal(r.cached, false);
    assert.ok(r.answer.kind === 'scalar' && Math.abs(r.answer.value.value - 30162) < 100, 'the count reads the data database');
    const [release] = await state.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${state.schema}"."release" WHERE status = 'done'`);
    assert.equal(release!.n, 1, 'the release is recorded in the state database');
    const [inData] = await dataDb.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'warehouse' AND table_name = 'release'`);
    assert.equal(inData!.n, 0, 'no state tables in the data database');
    // The state database has no copy of the rows.
    const [copy] = await state.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'adults'`, [state.schema]);
    assert.equal(copy!.n, 0);
    const again = await engine.run(caller, 'adults', { aggregate: 'count', privacy: { epsilon: 1 } });
    assert.equal(again.releaseId, r.releaseId);
    assert.equal(again.cached, true);
  } finally {
    await engine.data.close();
  }
});
