import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createVerifier, mintDevToken } from '../../src/auth/tokens.js';
import { validateDomain, type DomainDeclaration } from '../../src/domain/declaration.js';
import { startMesh, type Mesh } from '../../src/mesh.js';
import { prepareDomain } from '../../src/seed/prepare.js';
import { RANK_COLUMN, verifiedRank } from '../../src/seed/seed.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { PG_URL, requirePostgres } from '../helpers/mesh.js';

/**
 * Existing data (issue 12): a dataset points at a table and a view the domain team already has in
 * its own PostgreSQL schema. Queries work before any preparation (per-query bounding);
 * `cdm domain prepare` adds the rank in place (no copy), and its trigger keeps the invariant for
 * rows inserted later.
 */
const schema = `cdm_shop_t${randomBytes(4).toString('hex')}`;
const secret = randomBytes(32);
let client: pg.Client;
let domain: DomainDeclaration;
const ROWS_PER_CUSTOMER = [1, 3, 7, 12, 30];

before(async () => {
  await requirePostgres();
  client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`CREATE TABLE ${schema}.orders (order_no serial PRIMARY KEY, customer text NOT NULL, category text, amount numeric)`);
  let n = 0;
  for (const [i, k] of ROWS_PER_CUSTOMER.entries())
    for (let j = 0; j < k; j++) await client.query(`INSERT INTO ${schema}.orders (customer, category, amount) VALUES ($1, $2, $3)`, [`c${i}`, j % 2 ? 'books' : 'games', 10 + (n++ % 50)]);
  await client.query(`CREATE VIEW ${schema}.books AS SELECT customer, amount FROM ${schema}.orders WHERE category = 'books'`);
  const columns = [
    { name: 'customer', type: 'id', description: 'The customer (privacy unit).' },
    { name: 'amount', type: 'float', bounds: [0, 100], description: 'Order total.' },
  ];
  domain = validateDomain({
    name: 'shop',
    title: 'Shop',
    description: 'Orders of a shop, from the team\'s own tables.',
    owner: { team: 'Shop', contact: 'shop@example.org' },
    sensitivity: 'sensitive',
    databaseSchema: schema,
    policy: { defaultBudget: { epsilon: 10, delta: 1e-6 }, globalCap: { epsilon: 10, delta: 1e-6 }, maxEpsilonPerQuery: 1, defaultEpsilon: 1, defaultDelta: 0 },
    datasets: [
      {
        name: 'orders', title: 'Orders', table: 'orders', description: 'One row per order.', privacyUnit: 'customer',
        contribution: { maxRowsPerUnit: 5, maxGroupsPerUnit: 1 }, source: { kind: 'table' },
        columns: [...columns, { name: 'category', type: 'categorical', categories: ['books', 'games'], description: 'Category.' }],
      },
      {
        name: 'books', title: 'Book orders', table: 'books', description: 'Book orders (a view).', privacyUnit: 'customer',
        contribution: { maxRowsPerUnit: 5, maxGroupsPerUnit: 1 }, source: { kind: 'table' }, columns,
      },
    ],
  });
});
after(async () => {
  await client?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client?.end();
});

async function withMesh<T>(fn: (q: (query: string) => Promise<any>) => Promise<T>): Promise<T> {
  const mesh: Mesh = await startMesh({
    domains: [domain], gatewayPort: 0, subgraphPortBase: 0, inProcess: true, seed: true,
    verifier: createVerifier({ secret }), database: () => ({ url: PG_URL, schema }),
  });
  try {
    const token = await mintDevToken(secret, { sub: `a${randomBytes(3).toString('hex')}`, roles: ['analyst'] });
    return await fn(async (query) => {
      const res = await fetch(`${mesh.gateway.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
      const body = (await res.json()) as { data?: any; errors?: unknown };
      assert.equal(body.errors, undefined, JSON.stringify(body.errors));
      return body.data;
    });
  } finally {
    await mesh.close();
  }
}

const bounded = ROWS_PER_CUSTOMER.reduce((s, k) => s + Math.min(k, 5), 0);

test('an existing table and view answer DP queries through the gateway before any preparation', async () => {
  await withMesh(async (q) => {
    const d = await q('{ shop { orders { count(privacy: { epsilon: 1 }) { value } } books { count(privacy: { epsilon: 1 }) { value } } } }');
    // Sensitivity 5 at epsilon 1: beyond 100 with probability < e^-19.
    assert.ok(Math.abs(d.shop.orders.count.value - bounded) < 100, `count ${d.shop.orders.count.value}`);
    assert.equal(typeof d.shop.books.count.value, 'number');
  });
  const [{ n }] = (await client.query(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = $1 AND column_name = $2`, [schema, RANK_COLUMN])).rows;
  assert.equal(n, 0, 'starting never alters the team\'s tables');
});

test('cdm domain prepare ranks the table in place; the trigger keeps the invariant for new rows; the view keeps the per-query path', async () => {
  let db: DomainDatabase | undefined;
  try {
    db = await openDomainDatabase(domain, { url: PG_URL, schema });
    const rowsBefore = (await client.query(`SELECT 1 FROM ${schema}.orders`)).rowCount;
    const results = await prepareDomain(db, domain);
    assert.deepEqual(results.map((r) => [r.dataset, r.action]), [['orders', 'ranked'], ['books', 'view']]);
    assert.equal((await client.query(`SELECT 1 FROM ${schema}.orders`)).rowCount, rowsBefore, 'no row added or removed');
    assert.equal(await verifiedRank(db, 'orders', 'customer'), true);
    assert.equal(await verifiedRank(db, 'books', 'customer'), false);
    assert.deepEqual((await prepareDomain(db, domain)).map((r) => r.action), ['already-ranked', 'view']);
    // New rows, for existing and new customers, are ranked by the trigger: every customer's ranks
    // stay exactly 1..n (a permutation), so `rank <= m` keeps min(n, m) rows.
    for (let i = 0; i < 40; i++) await client.query(`INSERT INTO ${schema}.orders (customer, category, amount) VALUES ($1, 'books', 1)`, [`c${i % 7}`]);
    const perUnit = (await client.query(`SELECT customer, count(*)::int AS n, min(${RANK_COLUMN}) AS lo, max(${RANK_COLUMN}) AS hi, count(DISTINCT ${RANK_COLUMN})::int AS d FROM ${schema}.orders GROUP BY customer`)).rows;
    for (const u of perUnit) assert.deepEqual([u.lo, u.hi, u.d], [1, u.n, u.n], `customer ${u.customer}`);
    // A row inserted with a rank of its own is re-ranked by the trigger: never a duplicate.
    await client.query(`INSERT INTO ${schema}.orders (customer, ${RANK_COLUMN}) VALUES ('c4', 1)`);
    const [c4] = (await client.query(`SELECT count(*)::int AS n, count(DISTINCT ${RANK_COLUMN})::int AS d, max(${RANK_COLUMN}) AS hi FROM ${schema}.orders WHERE customer = 'c4'`)).rows;
    assert.deepEqual([c4.d, c4.hi], [c4.n, c4.n]);
  } finally {
    await db?.close();
  }
  await withMesh(async (q) => {
    const d = await q('{ shop { orders { count(privacy: { epsilon: 1 }) { value } } } }');
    const total = (await client.query(`SELECT sum(LEAST(n, 5))::int AS s FROM (SELECT count(*) AS n FROM ${schema}.orders GROUP BY customer) x`)).rows[0].s;
    assert.ok(Math.abs(d.shop.orders.count.value - total) < 100);
  });
});
