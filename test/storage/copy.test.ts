import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { toCsv } from '../../src/seed/csv.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';

/** Seeding's COPY path (PGlite): every value comes back exactly as loaded, NULL and empty text apart. */
let db: DomainDatabase;
before(async () => {
  db = await openDomainDatabase(demoDomain('census'), { dataDir: 'memory://' });
  await db.exec(`CREATE TABLE ${qualified(db, 'copied')} (t text, n double precision, i integer)`);
});
after(async () => db.close());

test('COPY from CSV text keeps quotes, commas, line breaks, backslashes, empty text and NULL apart', async () => {
  const texts = ['plain', 'a,b', 'say "hi"', 'two\nlines', 'cr\r\nlf', '\\.', 'back\\slash', '', ' padded ', 'ünïcödé ✓', 'NULL', '"'];
  const rows = [...texts.map((t, k) => ({ t, n: k / 3, i: k })), { t: null, n: null, i: null }, { t: 'tiny', n: 1e-7, i: -5 }];
  assert.ok(db.copyCsv, 'PGlite loads with COPY');
  await db.copyCsv!(qualified(db, 'copied'), ['"t"', '"n"', '"i"'], toCsv(rows, ['t', 'n', 'i']));
  const back = await db.query<{ t: string | null; n: number | null; i: number | null }>(`SELECT t, n, i FROM ${qualified(db, 'copied')}`);
  assert.deepEqual(back, rows);
});
