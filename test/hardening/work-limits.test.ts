import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { getIntrospectionQuery, parse } from 'graphql';
import { exceededLimit, LIMITS } from '../../src/limits.js';
import { startTestMesh, type TestMesh } from '../helpers/mesh.js';
import { spendState } from './state.js';

/**
 * Attack class: work limits on documents. Every check is linear in the document's size, the code
 * clients get is QUERY_TOO_COMPLEX, and standard introspection queries are never refused.
 */

/** 1 KB that expands to 2^levels fields: each fragment spreads the next one twice. */
function doublingBomb(levels: number): string {
  let doc = `query{...F0}`;
  for (let i = 0; i < levels; i++) doc += `fragment F${i} on Query{__typename${i < levels - 1 ? ` ...F${i + 1} ...F${i + 1}` : ''}}`;
  return doc;
}

/** n fragments, each spreading the next (no nesting of fields). */
function chain(n: number): string {
  let doc = `query Chain { ...C0 }\n`;
  for (let i = 0; i < n; i++) doc += `fragment C${i} on Query { __typename ${i < n - 1 ? `...C${i + 1}` : ''} }\n`;
  return doc;
}

const graphiql = getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true, oneOf: true });
const codegen = getIntrospectionQuery({ descriptions: true, directiveIsRepeatable: true, schemaDescription: true, specifiedByUrl: true });
/** Apollo rover's `graph introspect` shape: deprecated args and input fields, 7 ofType levels. */
const roverStyle = `query GraphIntrospectQuery {
  __schema { queryType { name } mutationType { name } subscriptionType { name } types { ...FullType } directives { name description locations args { ...InputValue } } }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }`;

describe('document limits (pure)', () => {
  test('a doubling bomb is refused from the fragment summaries, and a 3,000-fragment chain does not overflow', () => {
    const bomb = doublingBomb(60);
    assert.match(exceededLimit(parse(bomb), { ...LIMITS, maxFragmentNesting: 1000 })!, /more than a billion fields/);
    assert.match(exceededLimit(parse(chain(3000)))!, /fragments nested/);
    // With no nesting limit the chain is walked iteratively to the end (no RangeError).
    assert.equal(exceededLimit(parse(chain(3000)), { ...LIMITS, maxFragmentNesting: Infinity, maxFields: Infinity }), undefined);
  });

  test('expanded counts: spreads count every time they are used, fields in inline fragments count', () => {
    const doc = parse(`query { a: x ...F ...F ... on Query { b: y } } fragment F on Query { c: z d: w }`);
    // a, b, and c, d twice.
    assert.equal(exceededLimit(doc, { ...LIMITS, maxAliases: 6 }), undefined);
    assert.match(exceededLimit(doc, { ...LIMITS, maxAliases: 5 })!, /6 aliases/);
    assert.match(exceededLimit(parse(`{ a { b { c { d } } } }`), { ...LIMITS, maxDepth: 3 })!, /depth 4/);
  });

  test('standard introspection queries fit; cyclic deep introspection does not', () => {
    for (const q of [graphiql, codegen, roverStyle, getIntrospectionQuery()]) assert.equal(exceededLimit(parse(q)), undefined);
    let deep = 'name';
    for (let i = 0; i < 20; i++) deep = `fields { type { ${deep} } }`;
    assert.match(exceededLimit(parse(`{ __schema { types { ${deep} } } }`))!, /introspection depth/);
  });
});

describe('document limits through the gateway and the subgraphs', { timeout: 300_000 }, () => {
  let m: TestMesh;
  let analyst: string;
  before(async () => {
    m = await startTestMesh('pglite');
    analyst = await m.token('lim', ['analyst']);
  });
  after(async () => m?.close());

  test('a 1 KB fragment-doubling bomb is refused with QUERY_TOO_COMPLEX (gateway and subgraph)', { timeout: 20_000 }, async () => {
    // 2^24 expanded fields in 1 KB: the walker of the old rule would take minutes.
    const bomb = doublingBomb(24);
    assert.ok(bomb.length <= 1100, `${bomb.length} bytes`);
    for (const url of [m.url, m.mesh.subgraphs.census!]) {
      const r = await m.gql(bomb, {}, analyst, url);
      assert.equal(r.body.errors?.[0]?.extensions?.code, 'QUERY_TOO_COMPLEX', JSON.stringify(r.body).slice(0, 300));
      assert.equal(r.status, 400);
    }
  });

  test('a 3,000-fragment chain is refused with QUERY_TOO_COMPLEX, not a stack overflow', async () => {
    const r = await m.gql(chain(3000), {}, analyst);
    assert.equal(r.body.errors?.[0]?.extensions?.code, 'QUERY_TOO_COMPLEX');
  });

  test('depth, alias and field limits answer QUERY_TOO_COMPLEX as the README says', async () => {
    const aliases = Array.from({ length: LIMITS.maxAliases + 1 }, (_, i) => `a${i}: __typename`).join(' ');
    const fields = Array.from({ length: LIMITS.maxFields + 1 }, () => `__typename`).join(' ');
    // The limits run before graphql's own validation: shape alone decides, whatever the field names.
    const deep = `${'a { '.repeat(LIMITS.maxDepth)}b${' }'.repeat(LIMITS.maxDepth)}`;
    for (const q of [`{ ${aliases} }`, `{ ${fields} }`, `{ ${deep} }`]) {
      const r = await m.gql(q, {}, analyst);
      assert.equal(r.body.errors?.[0]?.extensions?.code, 'QUERY_TOO_COMPLEX', `${q.slice(0, 80)}: ${JSON.stringify(r.body).slice(0, 300)}`);
      assert.equal(r.status, 400);
    }
  });

  for (const [name, q] of [['GraphiQL (all options)', graphiql], ['graphql-codegen', codegen], ['rover-style', roverStyle]] as const) {
    test(`the ${name} introspection query passes at the gateway and at every subgraph`, async () => {
      for (const url of [m.url, ...Object.values(m.mesh.subgraphs)]) {
        const r = await m.gql(q, {}, analyst, url);
        assert.equal(r.body.errors, undefined, `${url}: ${JSON.stringify(r.body.errors)?.slice(0, 300)}`);
        assert.ok(r.body.data.__schema.types.length > 10);
      }
    });
  }

  test('abusive deep introspection is still refused', async () => {
    let deep = 'name';
    for (let i = 0; i < 6; i++) deep = `fields { type { ${deep} } }`;
    const r = await m.gql(`{ __schema { types { ${deep} } } }`, {}, analyst);
    assert.ok(r.body.errors?.length, 'deep introspection answered');
    assert.equal(r.status, 400);
    assert.equal(r.body.data ?? null, null);
  });

  test('an operationName naming no operation is a client error (400), not INTERNAL_SERVER_ERROR', async () => {
    for (const url of [m.url, m.mesh.subgraphs.census!]) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${analyst}` },
        body: JSON.stringify({ query: 'query A { __typename } query B { __typename }', operationName: 'Nope' }),
      });
      const body = (await res.json()) as any;
      assert.equal(res.status, 400, url);
      assert.notEqual(body.errors[0].extensions.code, 'INTERNAL_SERVER_ERROR');
      const several = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${analyst}` },
        body: JSON.stringify({ query: 'query A { __typename } query B { __typename }' }),
      });
      assert.equal(several.status, 400, url);
    }
  });

  test('a persisted-query hash mismatch is a client error (400, BAD_REQUEST)', async () => {
    const query = '{ __typename }';
    const wrong = createHash('sha256').update('something else').digest('hex');
    for (const url of [m.url, m.mesh.subgraphs.census!]) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${analyst}` },
        body: JSON.stringify({ query, extensions: { persistedQuery: { version: 1, sha256Hash: wrong } } }),
      });
      const body = (await res.json()) as any;
      assert.equal(res.status, 400);
      assert.equal(body.errors[0].extensions.code, 'BAD_REQUEST', JSON.stringify(body));
    }
  });

  describe('work limits on what an operation produces: seekable synthetic pages, the policy\'s limits', () => {
    const cursor = (n: number) => Buffer.from(`o:${n}`, 'utf8').toString('base64url');
    const FIT = 'privacy: { epsilon: 1, delta: 1e-9 }';
    const page = (rows: number, first: number, after?: number) => `synthetic(rows: ${rows}, first: ${first}, seed: 7${after == null ? '' : `, after: "${cursor(after)}"`}, ${FIT}) { edges { cursor node { age sex } } }`;

    test('a page costs what it holds: ten aliases of synthetic(rows: 1000000, first: 1) fit the default limit, and rows depend on the row index only', { timeout: 240_000 }, async () => {
      const token = await m.token('pager', ['analyst']);
      const aliases = Array.from({ length: 10 }, (_, i) => `p${i}: ${page(1_000_000, 1, 999_990 + i - 1)}`).join(' ');
      const r = await m.gql(`{ census { adults { ${aliases} } } }`, {}, token);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors)?.slice(0, 400));
      const far = Array.from({ length: 10 }, (_, i) => r.body.data.census.adults[`p${i}`].edges[0]);
      assert.deepEqual(far.map((e: any) => e.cursor), Array.from({ length: 10 }, (_, i) => cursor(999_990 + i)));
      // The same (model, seed) gives the same rows whatever the paging and whatever the sample's size.
      const big = await m.gql(`{ census { adults { a: ${page(1_000_000, 5, 500)} b: ${page(1_000_000, 2, 502)} c: ${page(600, 5, 500)} } } }`, {}, token);
      assert.equal(big.body.errors, undefined, JSON.stringify(big.body.errors)?.slice(0, 400));
      const { a, b, c } = big.body.data.census.adults;
      assert.deepEqual(a.edges.slice(2, 4), b.edges);
      assert.deepEqual(a.edges, c.edges);
    });

    test('the policy\'s maxRowsPerOperation bounds synthetic pages, public buckets and exports before anything runs; maxConcurrentExports bounds streaming exports', { timeout: 240_000 }, async () => {
      const admin = await m.token('root', ['admin']);
      const token = await m.token('frugal', ['analyst']);
      const set = await m.gql(`mutation { censusSetPolicy(scope: "principal:frugal", policy: { maxRowsPerOperation: 150, maxConcurrentExports: 1 }) { maxRowsPerOperation maxConcurrentExports } }`, {}, admin);
      assert.deepEqual(set.body.data?.censusSetPolicy, { maxRowsPerOperation: 150, maxConcurrentExports: 1 }, JSON.stringify(set.body.errors));
      const bad = await m.gql(`mutation { censusSetPolicy(scope: "principal:frugal", policy: { maxRowsPerOperation: 0 }) { scope } }`, {}, admin);
      assert.equal(bad.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
      const before = await spendState(m, 'census');
      const refused = [
        `{ census { adults { a: ${page(1000, 100)} b: ${page(1000, 100, 100)} } } }`,
        // 16 educations x 14 occupations: more public buckets than the policy's rows.
        `{ census { adults { histogram(by: [EDUCATION, OCCUPATION], privacy: { epsilon: 0.5 }) { key } } } }`,
      ];
      for (const q of refused) {
        const r = await m.gql(q, {}, token);
        assert.equal(r.body.errors?.[0]?.extensions?.code, 'QUERY_TOO_COMPLEX', `${q}: ${JSON.stringify(r.body).slice(0, 300)}`);
        assert.match(r.body.errors[0].message, /maxRowsPerOperation/);
      }
      const csv = (rows: number, signal?: AbortSignal) => fetch(`${m.mesh.gateway.url}/export/census/adults.csv?rows=${rows}&epsilon=1&delta=1e-9`, { headers: { authorization: `Bearer ${token}` }, signal });
      const tooMany = await csv(151);
      assert.equal(tooMany.status, 400);
      assert.equal(((await tooMany.json()) as any).errors[0].extensions.code, 'QUERY_TOO_COMPLEX');
      assert.equal(await spendState(m, 'census'), before, 'refusals charge nothing');
      // Within the limit: answered (the fit is charged once).
      const ok = await m.gql(`{ census { adults { ${page(1_000_000, 100, 5000)} } } }`, {}, token);
      assert.equal(ok.body.errors, undefined, JSON.stringify(ok.body.errors)?.slice(0, 300));
      assert.equal(ok.body.data.census.adults.synthetic.edges.length, 100);
      // One export at a time: the second, while the first is still streaming, is RATE_LIMITED.
      await m.gql(`mutation { censusSetPolicy(scope: "principal:frugal", policy: { maxRowsPerOperation: 1000000, maxConcurrentExports: 1 }) { scope } }`, {}, admin);
      const abort = new AbortController();
      const first = await csv(1_000_000, abort.signal);
      assert.equal(first.status, 200);
      // The first is held by backpressure (its body is not read); its slot is taken until it closes.
      const second = await csv(10);
      assert.equal(second.status, 429);
      assert.equal(((await second.json()) as any).errors[0].extensions.code, 'RATE_LIMITED');
      abort.abort();
      await first.body?.cancel().catch(() => undefined);
      let third: Response | undefined;
      for (let i = 0; i < 100 && third?.status !== 200; i++) {
        if (third) await third.body?.cancel();
        await new Promise((r) => setTimeout(r, 100));
        third = await csv(10);
      }
      assert.equal(third!.status, 200);
      assert.equal((await third!.text()).trim().split('\n').length, 11);
    });
  });
});
