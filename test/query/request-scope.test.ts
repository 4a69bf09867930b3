import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Caller } from '../../src/auth/tokens.js';
import { demoDomain } from '../../src/domain/registry.js';
import { MeshError } from '../../src/errors.js';
import { QueryEngine } from '../../src/query/engine.js';
import { MemoCache } from '../../src/query/lifecycle.js';
import type { AggregateRequest } from '../../src/query/types.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';
import { migrate } from '../../src/storage/migrate.js';

/**
 * The fixed cost of an answer (issue 17): a request plans each field once (the operation-level
 * check's plans serve the resolvers), and a memoised answer is served from memory without a
 * database read, while authorisation, revocation and the policy still apply to it.
 */
const census = demoDomain('census');
const COUNT: AggregateRequest = { aggregate: 'count', where: { age: { gte: 30 } }, privacy: { epsilon: 0.1 } };

describe('request scope and in-process memo', { timeout: 120_000 }, () => {
  let db: DomainDatabase;
  let engine: QueryEngine;
  const reads: string[] = [];
  let prepares = 0;
  before(async () => {
    db = await openDomainDatabase(census, { dataDir: 'memory://' });
    await migrate(db);
    await seedDomain(db, census);
    engine = new QueryEngine(census, db);
    const query = db.query.bind(db);
    db.query = (sql, params) => (reads.push(sql), query(sql, params)) as never;
    const prepare = engine.data.prepare.bind(engine.data);
    engine.data.prepare = (datasets) => (prepares++, prepare(datasets));
  });
  after(async () => db.close());

  /** One GraphQL request: a new Caller object (as the subgraph's context makes), preflight, then the resolver. */
  const request = async (req: AggregateRequest, caller: Caller = { id: 'ana', roles: ['analyst'] }) => {
    await engine.preflight(caller, [{ dataset: 'adults', request: req }]);
    return engine.run(caller, 'adults', req);
  };
  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      return e instanceof MeshError ? e.extensions.code : String(e);
    }
    return 'answered';
  };

  test('a request plans its field once; a memoised answer then reads no database at all', async () => {
    prepares = 0;
    const first = await request(COUNT);
    assert.equal(first.cached, false);
    assert.equal(prepares, 2, 'planned once by the preflight (the resolver reuses the plan); the data step prepares once more');
    reads.length = 0;
    prepares = 0;
    const again = await request(COUNT);
    assert.equal(again.cached, true);
    assert.equal(again.releaseId, first.releaseId);
    assert.deepEqual(again.answer, first.answer);
    assert.deepEqual(reads, [], 'no database read for a memo hit');
    assert.equal(prepares, 1, 'planned once for the whole request');
  });

  test('a new plan is read once, by its charge; an operation of several new plans reads releases and budgets once before', async () => {
    // The charge's own snapshot (src/governance/committer.ts) reads the release and the budgets
    // under the audit head: for ONE new release it is the only read (the operation-level check
    // would repeat it).
    const isChargeSnapshot = (sql: string) => sql.includes("'head', (SELECT json_build_object");
    const releaseReads = () => reads.filter((sql) => /FROM "public"."release" WHERE plan_key/.test(sql) && !isChargeSnapshot(sql));
    reads.length = 0;
    const r = await request({ ...COUNT, where: { age: { gte: 31 } } });
    assert.equal(r.cached, false);
    assert.deepEqual(releaseReads(), [], 'no memo read apart from the charge');
    assert.equal(reads.filter(isChargeSnapshot).length, 1, 'one snapshot read by the charge');
    // Two new plans: the operation-level check reads both releases in one query, with the budgets.
    reads.length = 0;
    const caller: Caller = { id: 'ana', roles: ['analyst'] };
    const a: AggregateRequest = { ...COUNT, where: { age: { gte: 32 } } };
    const b: AggregateRequest = { ...COUNT, where: { age: { gte: 33 } } };
    await engine.preflight(caller, [{ dataset: 'adults', request: a }, { dataset: 'adults', request: b }]);
    assert.equal(releaseReads().length, 1, `one memo read for the operation: ${releaseReads().join(' | ')}`);
    assert.ok(reads.some((sql) => /principal_budget/.test(sql)), 'the budgets are read with it');
    const [ra, rb] = [await engine.run(caller, 'adults', a), await engine.run(caller, 'adults', b)];
    assert.equal(ra.cached || rb.cached, false);
    assert.equal(releaseReads().length, 1, 'the lifecycle does not read them again');
  });

  test("the policy's maxConcurrentOperations bounds a principal's operations computing new releases, before any charge", async () => {
    await engine.governance.setPolicy('root', 'principal:olga', { maxConcurrentOperations: 1 });
    engine.policies.invalidate();
    const olga: Caller = { id: 'olga', roles: ['analyst'] };
    const item = (gte: number) => [{ dataset: 'adults', request: { ...COUNT, where: { age: { gte } } } as AggregateRequest }];
    const first = await engine.preflight(olga, item(40));
    assert.equal(typeof first, 'function', 'an operation with a new release holds a slot');
    const entries = async () => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM "public"."ledger_entry" WHERE principal_id = 'olga'`))[0]!.n);
    const spentBefore = await entries();
    assert.equal(await refusal(engine.preflight({ ...olga }, item(41))), 'RATE_LIMITED', 'a second one at once is refused');
    assert.equal(await refusal(engine.preflight({ id: 'pia', roles: ['analyst'] }, item(41))), 'answered', 'other principals have their own slots');
    first!();
    const second = await engine.preflight({ ...olga }, item(41));
    assert.equal(typeof second, 'function', 'the slot is free once the first operation ended');
    second!();
    await engine.run(olga, 'adults', item(42)[0]!.request);
    assert.equal(await engine.preflight({ ...olga }, item(42)), undefined, 'a memoised answer takes no slot');
    assert.equal(await entries(), spentBefore + 1, 'only the answered release was charged; the refusal charged nothing');
  });

  test('revocation and the policy apply to memo hits too', async () => {
    await request(COUNT);
    await engine.governance.revoke('root', 'ana', false);
    engine.policies.invalidate();
    assert.equal(await refusal(request(COUNT)), 'FORBIDDEN', 'a revoked caller gets no memoised answer');
    await engine.governance.revoke('root', 'ana', true);
    engine.policies.invalidate();
    assert.equal((await request(COUNT)).cached, true);
    await engine.governance.setPolicy('root', 'principal:ana', { allowedAggregates: ['sum'] });
    engine.policies.invalidate();
    assert.equal(await refusal(request(COUNT)), 'POLICY_VIOLATION', 'the policy applies to memoised answers');
    assert.equal(await refusal(request(COUNT, { id: 'bob', roles: [] })), 'FORBIDDEN', 'and so does authorisation');
    assert.equal((await request(COUNT, { id: 'bob', roles: ['analyst'] })).cached, true, 'others still get the memoised answer');
  });
});

describe('MemoCache', () => {
  const memo = (n: number) => ({ id: `r${n}`, result: { value: 'x'.repeat(n) } });

  test('evicts the least recently used entry beyond its entry bound', () => {
    const c = new MemoCache(1e9, 2);
    c.set('a', memo(1));
    c.set('b', memo(2));
    assert.equal(c.get('a')?.id, 'r1'); // a is now the most recently used
    c.set('c', memo(3));
    assert.equal(c.get('b'), undefined);
    assert.equal(c.get('a')?.id, 'r1');
    assert.equal(c.get('c')?.id, 'r3');
  });

  test('is bounded by the size of the results it holds, and skips a result larger than the bound', () => {
    const c = new MemoCache(10_000, 1000);
    c.set('big', memo(20_000));
    assert.equal(c.get('big'), undefined);
    for (let i = 0; i < 10; i++) c.set(`k${i}`, memo(1000));
    const kept = Array.from({ length: 10 }, (_, i) => c.get(`k${i}`)).filter(Boolean).length;
    assert.ok(kept >= 1 && kept <= 4, `about 2 KB each under a 10 KB bound: ${kept} kept`);
    assert.ok(c.get('k9'), 'the newest is kept');
  });
});
