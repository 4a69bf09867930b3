import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { validateDomain, type DomainDeclarationInput } from '../../src/domain/declaration.js';
import { checkSources } from '../../src/seed/check.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, qualified } from '../../src/storage/database.js';

/** CSV loading: plain or gzipped, headers checked against the declaration, bad rows rejected and reported. */
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'cdm-csv-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const declaration = (file: string, ignore?: string[]): DomainDeclarationInput => ({
  name: 'shop',
  title: 'Shop',
  description: 'Orders of a shop.',
  owner: { team: 'Shop', contact: 'shop@example.org' },
  sensitivity: 'sensitive',
  policy: { defaultBudget: { epsilon: 1, delta: 1e-6 }, globalCap: { epsilon: 1, delta: 1e-6 }, maxEpsilonPerQuery: 1, defaultEpsilon: 1, defaultDelta: 0 },
  datasets: [
    {
      name: 'orders',
      title: 'Orders',
      table: 'orders',
      description: 'One row per order.',
      privacyUnit: 'customerId',
      contribution: { maxRowsPerUnit: 2, maxGroupsPerUnit: 1 },
      source: { kind: 'csv', file, ...(ignore ? { ignore } : {}) },
      columns: [
        { name: 'customerId', source: 'customer_id', type: 'id', description: 'The customer.' },
        { name: 'category', type: 'categorical', description: 'Category.', categories: ['books', 'games'] },
        { name: 'amount', type: 'float', bounds: [0, 100], description: 'Order total.' },
      ],
    },
  ],
});
const CSV = 'customer_id,category,amount,note\nc1,books,10,a\nc1,games,20.5,b\nc2,books,150,c\nc3,toys,5,d\nc3,books,abc,e\nc4,,,f\nc5,books\n';

async function load(name: string, content: Buffer | string, ignore = ['note']) {
  const file = join(dir, name);
  writeFileSync(file, content);
  const domain = validateDomain(declaration(file, ignore));
  const db = await openDomainDatabase(domain, { dataDir: 'memory://' });
  try {
    const [result] = await seedDomain(db, domain);
    const rows = await db.query<{ customer_id: string; category: string | null; amount: number | null }>(`SELECT customer_id, category, amount FROM ${qualified(db, 'orders')} ORDER BY customer_id, _cdm_rank`);
    return { result: result!, rows: rows.map((r) => [r.customer_id, r.category, r.amount]).sort() };
  } finally {
    await db.close();
  }
}

test('plain and gzipped CSV load the same rows; out-of-bounds, unknown categories and non-numbers are rejected and counted', async () => {
  const plain = await load('plain.csv', CSV);
  const gz = await load('packed.data', gzipSync(CSV));
  assert.deepEqual(plain.rows, gz.rows);
  assert.deepEqual(plain.rows, [['c1', 'books', 10], ['c1', 'games', 20.5], ['c4', null, null]].sort());
  assert.equal(plain.result.rows, 3);
  assert.equal(plain.result.rejected, 4);
  assert.deepEqual(plain.result.rejections, {
    'amount: out of bounds [0, 100]': 1,
    'category: not a declared category': 1,
    'amount: not a number': 1,
    'wrong number of fields (2, header has 4)': 1,
  });
});

test('a header that does not match the declaration is an error naming each column, with a guess', async () => {
  await assert.rejects(load('unknown.csv', CSV, []), /header "note" is not a declared column; declare it, or list it in source\.ignore/);
  await assert.rejects(
    load('typo.csv', CSV.replace('customer_id', 'customerid')),
    /column "customer_id" is missing from the header \(did you mean "customerid"\?.*header "customerid" is not a declared column \(did you mean "customer_id"\?\)/,
  );
  await assert.rejects(load('missing.csv', 'customer_id,amount,note\nc1,5,x\n'), /column "category" is missing from the header(?! \(did)/);
  const file = join(dir, 'check.csv');
  writeFileSync(file, CSV.replace('amount', 'amout'));
  await assert.rejects(checkSources(validateDomain(declaration(file, ['note']))), /datasets\.orders .*column "amount" is missing from the header \(did you mean "amout"\?/);
});
