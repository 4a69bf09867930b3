import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { canQuery } from '../../src/auth/authorise.js';
import { createVerifier, mintDevToken } from '../../src/auth/tokens.js';
import { demoDomains } from '../../src/domain/registry.js';
import { startTestMesh, type TestMesh } from '../helpers/mesh.js';
import { spendState } from './state.js';

/**
 * Attack class: authorisation. A token that verifies but carries no role allowed by the domain's
 * policy gets no data by any path (typed DP fields, DP SQL, synthetic rows, CSV export, estimates,
 * open rows) and is refused with FORBIDDEN before anything is charged or recorded.
 */
describe('authorisation: one point, every data path', { timeout: 300_000 }, () => {
  let m: TestMesh;
  let gatewayBase: string;
  before(async () => {
    m = await startTestMesh('pglite');
    gatewayBase = m.mesh.gateway.url;
  });
  after(async () => m?.close());

  const paths: [string, string][] = [
    ['DP count', '{ census { adults { count(privacy: { epsilon: 0.1 }) { value } } } }'],
    ['DP histogram', '{ census { adults { histogram(by: [SEX], privacy: { epsilon: 0.1 }) { key } } } }'],
    ['DP SQL', '{ census { sql(query: "SELECT COUNT(*) FROM adults", privacy: { epsilon: 0.1 }) { rows { values { value } } } } }'],
    ['synthetic rows', '{ census { adults { synthetic(rows: 5, first: 5, privacy: { epsilon: 0.5 }) { totalCount } } } }'],
    ['estimate', '{ census { adults { estimate(aggregate: count, privacy: { epsilon: 0.1 }) { epsilon } } } }'],
    ['synthetic models', '{ census { syntheticModels { id } } }'],
    ['open rows', '{ reference { clinics { rows(first: 1) { totalCount } } } }'],
  ];

  for (const [label, roles] of [['no role', []], ['an unknown role', ['auditor']], ['only a role of no domain', ['viewer']]] as [string, string[]][]) {
    test(`a token with ${label} is FORBIDDEN on every data path, nothing charged`, async () => {
      const token = await m.token(`nobody-${roles.join('-') || 'none'}`, roles);
      const before = await spendState(m);
      for (const [what, q] of paths) {
        const r = await m.gql(q, {}, token);
        assert.equal(r.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', `${what}: ${JSON.stringify(r.body)}`);
        assert.equal(r.status, 200, what);
      }
      const csv = await fetch(`${gatewayBase}/export/census/adults.csv?rows=10&epsilon=0.5`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(csv.status, 403);
      assert.equal(((await csv.json()) as any).errors[0].extensions.code, 'FORBIDDEN');
      // Straight to the subgraph: the same point refuses.
      const direct = await m.gql(paths[0]![1], {}, token, m.mesh.subgraphs.census);
      assert.equal(direct.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
      assert.equal(await spendState(m), before, 'a refused request charged or recorded something');
    });
  }

  test('a token whose roles claim is an empty list gets no data', async () => {
    const secretless = await m.token('empty-roles', []);
    const r = await m.gql(paths[0]![1], {}, secretless);
    assert.equal(r.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  });

  test('the catalog and me stay readable without a query role; analysts and domain admins query', async () => {
    const token = await m.token('catalog-only', []);
    const cat = await m.gql('{ me { id roles } census { info { name } } }', {}, token);
    assert.equal(cat.body.errors, undefined);
    assert.deepEqual(cat.body.data.me.roles, []);
    const analyst = await m.gql(paths[0]![1], {}, await m.token('ann', ['analyst']));
    assert.equal(analyst.body.errors, undefined);
    const domainAdmin = await m.gql(paths[0]![1], {}, await m.token('dan', ['admin:census']));
    assert.equal(domainAdmin.body.errors, undefined);
    const otherAdmin = await m.gql(paths[0]![1], {}, await m.token('oscar', ['admin:health']));
    assert.equal(otherAdmin.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
  });
});

describe('authorisation: a domain opens itself to other roles by declaration', () => {
  const [census] = demoDomains();
  test('policy.queryRoles replaces the default analyst role', () => {
    const open = { ...census!, policy: { ...census!.policy, queryRoles: ['researcher'] } };
    assert.equal(canQuery({ id: 'r', roles: ['researcher'] }, open), true);
    assert.equal(canQuery({ id: 'a', roles: ['analyst'] }, open), false);
    assert.equal(canQuery({ id: 'a', roles: ['analyst'] }, census!), true);
    assert.equal(canQuery({ id: 'x', roles: [] }, census!), false);
    assert.equal(canQuery({ id: 'x', roles: ['admin'] }, open), true);
  });

  test('a declared role survives token verification (roles are not limited to the built-in names)', async () => {
    const secret = randomBytes(32);
    const caller = await createVerifier({ secret })(`Bearer ${await mintDevToken(secret, { sub: 'r', roles: ['researcher'] })}`);
    assert.deepEqual(caller.roles, ['researcher']);
    const forged = await new SignJWT({ roles: ['Bad Role!'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('x').setIssuedAt().setExpirationTime('1h').sign(secret);
    assert.deepEqual((await createVerifier({ secret })(`Bearer ${forged}`)).roles, []);
  });
});
