import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startTestMesh, requirePostgres, type Backend, type TestMesh } from '../helpers/mesh.js';

/** End-to-end through the gateway over HTTP with real tokens, on one storage backend. */
export function meshSuite(backend: Backend) {
  describe(`mesh end to end (${backend})`, { timeout: 300_000 }, () => {
    let m: TestMesh;
    let analyst: string;
    let admin: string;
    before(async () => {
      if (backend === 'postgres') await requirePostgres();
      m = await startTestMesh(backend);
      analyst = await m.token('alice', ['analyst']);
      admin = await m.token('root', ['admin']);
    });
    after(async () => m?.close());

    test('no token, a forged token, or a direct subgraph call without token: UNAUTHENTICATED', async () => {
      const q = '{ census { info { name } } }';
      const none = await m.gql(q, {}, null);
      assert.equal(none.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      assert.equal(none.body.data ?? null, null);
      const forged = await new SignJWT({ roles: ['admin'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').setExpirationTime('1h').sign(new TextEncoder().encode('not-the-secret-not-the-secret-xx'));
      assert.equal((await m.gql(q, {}, forged)).body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      const direct = await m.gql(q, {}, null, m.mesh.subgraphs.census);
      assert.equal(direct.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
      const directForged = await m.gql(q, {}, forged, m.mesh.subgraphs.census);
      assert.equal(directForged.body.errors?.[0]?.extensions?.code, 'UNAUTHENTICATED');
    });

    test('health endpoints answer', async () => {
      const gw = await fetch(`${m.mesh.gateway.url}/health`);
      assert.equal(gw.status, 200);
      for (const url of Object.values(m.mesh.subgraphs)) {
        const res = await fetch(url.replace('/graphql', '/health'));
        assert.equal(res.status, 200);
        assert.equal(((await res.json()) as { status: string }).status, 'pass');
      }
    });

    test('introspection is the catalog: every dataset, its columns as described enum values with bounds and units', async () => {
      const r = await m.gql(`{ __schema { types { name kind description enumValues { name description } fields { name description args { name description } } } } }`, {}, analyst);
      assert.equal(r.body.errors, undefined);
      const types = new Map(r.body.data.__schema.types.map((t: any) => [t.name, t]));
      for (const name of ['CensusAdultsColumn', 'HealthVisitsColumn', 'JusticeDefendantsColumn', 'ReferenceClinicsColumn']) {
        const t: any = types.get(name);
        assert.ok(t, `${name} missing`);
        for (const v of t.enumValues) assert.ok(v.description && v.description.length > 10, `${name}.${v.name} has no description`);
      }
      const age = (types.get('CensusAdultsNumericColumn') as any).enumValues.find((v: any) => v.name === 'AGE');
      assert.match(age.description, /years/);
      assert.match(age.description, /\[17, 90\]/);
      const cost = (types.get('HealthVisitsNumericColumn') as any).enumValues.find((v: any) => v.name === 'COST');
      assert.match(cost.description, /USD/);
      // Every field and argument of our own types is described.
      for (const t of types.values() as Iterable<any>) {
        if (t.name.startsWith('__') || !t.fields) continue;
        for (const f of t.fields) {
          if (f.name.startsWith('_')) continue;
          assert.ok(f.description, `${t.name}.${f.name} has no description`);
          for (const a of f.args) assert.ok(a.description, `${t.name}.${f.name}(${a.name}) has no description`);
        }
      }
    });

    test('a sensitive dataset has no row field, row type or row argument', async () => {
      const r = await m.gql(`{ __schema { types { name fields { name type { name ofType { name ofType { name ofType { name } } } } } } } }`, {}, analyst);
      const types: any[] = r.body.data.__schema.types;
      for (const prefix of ['CensusAdults', 'HealthVisits', 'JusticeDefendants']) {
        assert.ok(!types.some((t) => t.name === `${prefix}Row` || t.name === `${prefix}Connection`), `${prefix} exposes a row type`);
        const surface = types.find((t) => t.name === prefix);
        assert.ok(surface);
        const fieldNames = surface.fields.map((f: any) => f.name);
        assert.ok(!fieldNames.includes('rows') && !fieldNames.includes('byKey'));
        const leaf = (t: any): string => (t.ofType ? leaf(t.ofType) : t.name);
        // DP numbers, DP buckets, cost previews, rows that are SYNTHETIC (sampled from a DP model),
        // and public metadata (the catalog entry, fitted models).
        for (const f of surface.fields)
          assert.ok(['DpNumber', 'DpBucket', 'CostEstimate', `${prefix}SyntheticConnection`, 'DatasetInfo', 'SyntheticModelInfo'].includes(leaf(f.type)), `${prefix}.${f.name} returns ${leaf(f.type)}`);
      }
    });

    test('catalog query as data', async () => {
      const r = await m.gql(`{ census { info { owner sensitivity } datasets { name privacyUnit columns { name type lowerBound upperBound categories } } } }`, {}, analyst);
      assert.equal(r.body.errors, undefined);
      const ds = r.body.data.census.datasets[0];
      assert.equal(ds.name, 'adults');
      assert.equal(ds.privacyUnit, 'row');
      const age = ds.columns.find((c: any) => c.name === 'age');
      assert.deepEqual([age.lowerBound, age.upperBound], [17, 90]);
      assert.equal(ds.columns.find((c: any) => c.name === 'nativeCountry').categories, null);
      assert.equal(r.body.data.census.info.sensitivity, 'sensitive');
    });

    test('a DP count over a sensitive dataset: noisy, with error bars, memoised at no cost', async () => {
      const q = `{ census { adults { count(where: { sex: { eq: "Female" } }, privacy: { epsilon: 0.5 }) {
        value standardError confidenceInterval { low high confidence } epsilon delta mechanism cached releaseId } } } }`;
      const first = await m.gql(q, {}, analyst);
      assert.equal(first.body.errors, undefined, JSON.stringify(first.body.errors));
      const c = first.body.data.census.adults.count;
      // 9,782 women in this file; discrete Laplace scale 2: |noise| > 40 has probability ~ 2e-9.
      assert.ok(Math.abs(c.value - 9782) < 40, `count ${c.value}`);
      assert.equal(c.epsilon, 0.5);
      assert.equal(c.mechanism, 'discreteLaplace');
      assert.equal(c.cached, false);
      assert.ok(c.standardError > 2 && c.standardError < 3.5);
      assert.ok(c.confidenceInterval.low < c.value && c.value < c.confidenceInterval.high);
      const again = await m.gql(q, {}, await m.token('bob'));
      const c2 = again.body.data.census.adults.count;
      assert.equal(c2.cached, true);
      assert.equal(c2.value, c.value);
      assert.equal(c2.releaseId, c.releaseId);
    });

    test('many rows per person: mean and histogram on health visits', async () => {
      const r = await m.gql(`{ health { visits {
          mean(column: COST, privacy: { epsilon: 1 }) { value confidenceInterval { low high } }
          histogram(by: [DEPARTMENT], privacy: { epsilon: 1 }) { key count { value } }
        } } }`, {}, analyst);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      const mean = r.body.data.health.visits.mean;
      assert.ok(mean.value > 200 && mean.value < 5000, `mean ${mean.value}`);
      const buckets = r.body.data.health.visits.histogram;
      assert.equal(buckets.length, 8, 'every public key, zeros included');
    });

    test('histogram keys without a public list go through DP key selection', async () => {
      const r = await m.gql(`{ census { adults { histogram(by: [NATIVE_COUNTRY], privacy: { epsilon: 1, delta: 1e-8 }) { key count { value } } } } }`, {}, await m.token('nina'));
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      const keys = r.body.data.census.adults.histogram.map((b: any) => b.key[0]);
      assert.ok(keys.includes('United-States') && keys.includes('Mexico'), keys.join());
      // One person from the Netherlands in the file: far below the threshold (~20 at these parameters).
      assert.ok(!keys.includes('Holand-Netherlands'));
      const noDelta = await m.gql(`{ census { adults { histogram(by: [NATIVE_COUNTRY], privacy: { epsilon: 1, delta: 0 }) { key } } } }`, {}, await m.token('nina'));
      assert.equal(noDelta.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    });

    test('open dataset rows page with cursors; entities resolve in batches', async () => {
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 5; page++) {
        const r: any = await m.gql(`query($after: String) { reference { clinics { rows(first: 15, after: $after) { totalCount edges { cursor node { id name region beds } } pageInfo { hasNextPage endCursor } } } } }`, { after }, analyst);
        assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
        const conn = r.body.data.reference.clinics.rows;
        assert.equal(conn.totalCount, 40);
        seen.push(...conn.edges.map((e: any) => e.node.id));
        if (!conn.pageInfo.hasNextPage) break;
        after = conn.pageInfo.endCursor;
      }
      assert.equal(seen.length, 40);
      assert.equal(new Set(seen).size, 40);
      const ent = await m.gql(`query($r: [_Any!]!) { _entities(representations: $r) { ... on ReferenceClinicsRow { id region } } }`, {
        r: [{ __typename: 'ReferenceClinicsRow', id: 'C002' }, { __typename: 'ReferenceClinicsRow', id: 'C001' }, { __typename: 'ReferenceClinicsRow', id: 'C999' }],
      }, analyst, m.mesh.subgraphs.reference);
      assert.equal(ent.body.errors, undefined, JSON.stringify(ent.body.errors));
      assert.deepEqual(ent.body.data._entities.map((e: any) => e?.id ?? null), ['C002', 'C001', null]);
    });

    test('open dataset rows filter with the core predicate checker: exact rows, clear refusals', async () => {
      const all: any = await m.gql(`{ reference { clinics { rows(first: 100) { edges { node { id region beds } } } } } }`, {}, analyst);
      const rows = all.body.data.reference.clinics.rows.edges.map((e: any) => e.node);
      const expected = rows.filter((r: any) => ['north', 'east'].includes(r.region) && r.beds >= 50).map((r: any) => r.id).sort();
      const q = `{ reference { clinics { rows(first: 100, where: { region: { in: ["north", "east"] }, beds: { gte: 50 } }) { totalCount edges { node { id } } } } } }`;
      const r: any = await m.gql(q, {}, analyst);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      assert.deepEqual(r.body.data.reference.clinics.rows.edges.map((e: any) => e.node.id).sort(), expected);
      assert.equal(r.body.data.reference.clinics.rows.totalCount, expected.length);
      const byId: any = await m.gql(`{ reference { clinics { rows(where: { id: { eq: "C002" } }) { edges { node { id } } } } } }`, {}, analyst);
      assert.deepEqual(byId.body.data.reference.clinics.rows.edges.map((e: any) => e.node.id), ['C002'], 'open rows filter on ids too');
      for (const bad of ['region: { eq: "nowhere" }', 'beds: { in: [] }', 'name: { eq: "a\\u0000b" }']) {
        const refused: any = await m.gql(`{ reference { clinics { rows(where: { ${bad} }) { totalCount } } } }`, {}, analyst);
        assert.equal(refused.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', `${bad}: ${JSON.stringify(refused.body.errors)}`);
      }
    });

    test('admin flows: analysts are FORBIDDEN, admins set a budget that me { censusBudget } then shows', async () => {
      const mutation = `mutation { censusSetBudget(principal: "carol", epsilon: 3, delta: 1e-6) { principal epsilon } }`;
      const denied = await m.gql(mutation, {}, analyst);
      assert.equal(denied.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
      const ok = await m.gql(mutation, {}, admin);
      assert.equal(ok.body.errors, undefined, JSON.stringify(ok.body.errors));
      assert.equal(ok.body.data.censusSetBudget.epsilon, 3);
      const carol = await m.token('carol');
      const me = await m.gql(`{ me { id censusBudget { epsilon epsilonSpent } healthBudget { epsilon } } }`, {}, carol);
      assert.equal(me.body.errors, undefined, JSON.stringify(me.body.errors));
      assert.equal(me.body.data.me.id, 'carol');
      assert.equal(me.body.data.me.censusBudget.epsilon, 3);
      assert.equal(me.body.data.me.healthBudget.epsilon, 10);
      const domainAdmin = await m.token('dana', ['admin:health']);
      const wrongDomain = await m.gql(mutation, {}, domainAdmin);
      assert.equal(wrongDomain.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
      const audit = await m.gql(`{ censusAuditLog(first: 5, action: "admin.setBudget") { actor action detail } }`, {}, admin);
      assert.equal(audit.body.data.censusAuditLog[0].actor, 'root');
    });

    test('a release that does not fit the budget is refused with BUDGET_EXHAUSTED and charges nothing', async () => {
      await m.gql(`mutation { justiceSetBudget(principal: "erin", epsilon: 0.3, delta: 1e-6) { epsilon } }`, {}, admin);
      const erin = await m.token('erin');
      const r = await m.gql(`{ justice { defendants { count(privacy: { epsilon: 0.5 }) { value } } } }`, {}, erin);
      assert.equal(r.body.errors?.[0]?.extensions?.code, 'BUDGET_EXHAUSTED');
      assert.equal(r.body.data ?? null, null);
      const b = await m.gql(`{ justice { budget { epsilonSpent releases } } }`, {}, erin);
      assert.equal(b.body.data.justice.budget.epsilonSpent, 0);
      assert.equal(b.body.data.justice.budget.releases, 0);
    });

    test('an operation of 50 aliased DP fields whose total exceeds the budget is refused whole, nothing charged', async () => {
      await m.gql(`mutation { healthSetBudget(principal: "gina", epsilon: 2, delta: 1e-6) { epsilon } }`, {}, admin);
      const gina = await m.token('gina');
      // 50 distinct plans (different filters) of epsilon 0.1 each, half through a fragment.
      const fields = Array.from({ length: 50 }, (_, i) =>
        i % 2 === 0 ? `a${i}: count(where: { patientAge: { gte: ${i} } }, privacy: { epsilon: 0.1 }) { value }` : `a${i}: sum(column: COST, where: { patientAge: { lte: ${i} } }, privacy: { epsilon: 0.1 }) { value }`,
      );
      const q = `query { health { visits { ${fields.slice(0, 25).join(' ')} ...more } } } fragment more on HealthVisits { ${fields.slice(25).join(' ')} }`;
      const r = await m.gql(q, {}, gina);
      assert.equal(r.body.errors?.[0]?.extensions?.code, 'BUDGET_EXHAUSTED', JSON.stringify(r.body.errors));
      assert.ok(r.body.errors![0]!.extensions!.operationCost > 2, 'the refusal says what it would cost');
      assert.equal(r.body.errors![0]!.extensions!.remaining, 2);
      assert.equal(r.body.data?.health ?? null, null);
      const b = await m.gql(`{ health { budget { epsilonSpent releases } } }`, {}, gina);
      assert.deepEqual(b.body.data.health.budget, { epsilonSpent: 0, releases: 0 });
      const ledger = await m.gql(`{ healthLedger(principal: "gina") { id } }`, {}, admin);
      assert.deepEqual(ledger.body.data.healthLedger, []);
      // The same 50 fields at a cost that fits are answered.
      const cheap = await m.gql(q.replaceAll('epsilon: 0.1', 'epsilon: 0.01'), {}, gina);
      assert.equal(cheap.body.errors, undefined, JSON.stringify(cheap.body.errors));
      assert.equal(Object.keys(cheap.body.data.health.visits).length, 50);
    });

    test('asking the same query 1,000 times returns the first release every time: the average gains nothing', async () => {
      const q = `{ justice { defendants { mean(column: PRIORS_COUNT, privacy: { epsilon: 0.2 }) { value releaseId cached } } } }`;
      const tokens = await Promise.all(['h1', 'h2', 'h3'].map((s) => m.token(s)));
      const first = (await m.gql(q, {}, tokens[0])).body.data.justice.defendants.mean;
      const values: number[] = [];
      for (let i = 0; i < 1000; i += 10) {
        const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => m.gql(q, {}, tokens[(i + j) % 3])));
        for (const r of batch) {
          const v = r.body.data.justice.defendants.mean;
          assert.equal(v.releaseId, first.releaseId);
          assert.equal(v.cached, true);
          values.push(v.value);
        }
      }
      assert.equal(values.length, 1000);
      // Every repeat is the identical release, so their mean is the first answer (up to float summation).
      assert.ok(Math.abs(values.reduce((a, b) => a + b, 0) / values.length - first.value) <= 1e-12 * Math.abs(first.value));
      const spent = await m.gql(`{ justice { budget { releases } } }`, {}, tokens[1]);
      assert.equal(spent.body.data.justice.budget.releases, 0, 'repeats are free for everyone');
    });

    test('admin governance: grant, policies per principal, global cap, revoke, ledger and releases', async () => {
      const ivan = await m.token('ivan');
      await m.gql(`mutation { censusSetBudget(principal: "ivan", epsilon: 1, delta: 1e-6) { epsilon } }`, {}, admin);
      const granted = await m.gql(`mutation { censusGrantBudget(principal: "ivan", epsilon: 0.5) { epsilon } }`, {}, admin);
      assert.equal(granted.body.data.censusGrantBudget.epsilon, 1.5);
      // A per-principal policy: only counts, at most epsilon 0.2 per query.
      const pol = await m.gql(`mutation { censusSetPolicy(scope: "principal:ivan", policy: { allowedAggregates: ["count"], maxEpsilonPerQuery: 0.2 }) { scope allowedAggregates } }`, {}, admin);
      assert.deepEqual(pol.body.data.censusSetPolicy.allowedAggregates, ['count']);
      const mean = await m.gql(`{ census { adults { mean(column: AGE, privacy: { epsilon: 0.1 }) { value } } } }`, {}, ivan);
      assert.equal(mean.body.errors?.[0]?.extensions?.code, 'POLICY_VIOLATION');
      const big = await m.gql(`{ census { adults { count(privacy: { epsilon: 0.3 }) { value } } } }`, {}, ivan);
      assert.equal(big.body.errors?.[0]?.extensions?.code, 'POLICY_VIOLATION');
      const ok = await m.gql(`{ census { adults { count(where: { age: { gte: 40 } }, privacy: { epsilon: 0.2 }) { value releaseId } } } }`, {}, ivan);
      assert.equal(ok.body.errors, undefined, JSON.stringify(ok.body.errors));
      const ledger = await m.gql(`{ censusLedger(principal: "ivan") { principal releaseId epsilon aggregate } censusReleases(first: 5) { id status resultHash } }`, {}, admin);
      assert.equal(ledger.body.data.censusLedger[0].releaseId, ok.body.data.census.adults.count.releaseId);
      assert.ok(ledger.body.data.censusReleases.some((r: any) => r.id === ok.body.data.census.adults.count.releaseId && r.status === 'done' && /^[0-9a-f]{64}$/.test(r.resultHash)));
      // Global cap: once it is tiny, nobody's release fits.
      const cap = await m.gql(`mutation { censusSetGlobalCap(dataset: ADULTS, epsilon: 0.0001, delta: 1e-6) { dataset epsilon } }`, {}, admin);
      assert.equal(cap.body.data.censusSetGlobalCap.epsilon, 0.0001);
      const capped = await m.gql(`{ census { adults { count(where: { age: { gte: 41 } }, privacy: { epsilon: 0.1 }) { value } } } }`, {}, await m.token('judy'));
      assert.equal(capped.body.errors?.[0]?.extensions?.code, 'BUDGET_EXHAUSTED');
      await m.gql(`mutation { censusSetGlobalCap(dataset: ADULTS, epsilon: 50, delta: 1e-5) { epsilon } }`, {}, admin);
      // Revoke, then restore.
      await m.gql(`mutation { censusRevoke(principal: "ivan") }`, {}, admin);
      const revoked = await m.gql(`{ census { adults { count(where: { age: { gte: 42 } }, privacy: { epsilon: 0.1 }) { value } } } }`, {}, ivan);
      assert.equal(revoked.body.errors?.[0]?.extensions?.code, 'FORBIDDEN');
      const revokedCached = await m.gql(`{ census { adults { count(where: { age: { gte: 40 } }, privacy: { epsilon: 0.2 }) { value } } } }`, {}, ivan);
      assert.equal(revokedCached.body.errors?.[0]?.extensions?.code, 'FORBIDDEN', 'not even a memoised answer');
      await m.gql(`mutation { censusRevoke(principal: "ivan", restore: true) }`, {}, admin);
      const back = await m.gql(`{ census { adults { count(where: { age: { gte: 42 } }, privacy: { epsilon: 0.1 }) { value } } } }`, {}, ivan);
      assert.equal(back.body.errors, undefined);
      const actions = await m.gql(`{ censusAuditLog(first: 50, actor: "root") { action } }`, {}, admin);
      const seen = new Set(actions.body.data.censusAuditLog.map((a: any) => a.action));
      for (const a of ['admin.setBudget', 'admin.grantBudget', 'admin.setPolicy', 'admin.setGlobalCap', 'admin.revoke', 'admin.restore']) assert.ok(seen.has(a), `${a} audited`);
    });

    test('synthetic data: charged once per fit, resampling free and repeatable, bounds kept, CSV through the gateway', async () => {
      const kim = await m.token('kim');
      const q = `query($seed: Int, $rows: Int!, $after: String) { census { adults { synthetic(rows: $rows, seed: $seed, first: 50, after: $after, privacy: { epsilon: 1, delta: 1e-9 }) {
        totalCount pageInfo { hasNextPage endCursor } model { id cached rho releaseId estimatedRows }
        edges { node { age workclass education educationNum sex capitalGain hoursPerWeek nativeCountry income } } } } } }`;
      const first = await m.gql(q, { seed: 1, rows: 200 }, kim);
      assert.equal(first.body.errors, undefined, JSON.stringify(first.body.errors));
      const s1 = first.body.data.census.adults.synthetic;
      assert.equal(s1.model.cached, false);
      assert.equal(s1.edges.length, 50);
      assert.equal(s1.totalCount, 200);
      assert.ok(Math.abs(s1.model.estimatedRows - 30162) < 1000);
      const census = (await import('../../src/domain/registry.js')).demoDomain('census').datasets[0]!;
      for (const { node } of s1.edges) {
        for (const c of census.columns) {
          const v = node[c.name];
          if (v === undefined) continue;
          if (c.categories) assert.ok(c.categories.includes(v), `${c.name}=${v}`);
          if (c.bounds) assert.ok(Number.isInteger(v) && v >= c.bounds[0] && v <= c.bounds[1], `${c.name}=${v}`);
        }
        assert.equal(node.nativeCountry, null, 'no public list: not synthesised');
      }
      const page2 = await m.gql(q, { seed: 1, rows: 200, after: s1.pageInfo.endCursor }, kim);
      assert.equal(page2.body.data.census.adults.synthetic.model.cached, true);
      const again = await m.gql(q, { seed: 1, rows: 200 }, await m.token('lee'));
      assert.deepEqual(again.body.data.census.adults.synthetic.edges, s1.edges, 'same seed, same rows, for anyone');
      const other = await m.gql(q, { seed: 2, rows: 1000 }, kim);
      assert.notDeepEqual(other.body.data.census.adults.synthetic.edges, s1.edges);
      const b = await m.gql(`{ census { budget { releases } syntheticModels(dataset: ADULTS) { id } } }`, {}, kim);
      assert.equal(b.body.data.census.budget.releases, 1, 'one charge for the fit, resampling free');
      assert.ok(b.body.data.census.syntheticModels.some((x: any) => x.id === s1.model.id));
      // CSV export on the gateway's origin, from the same model, free.
      const csv = await fetch(`${m.mesh.gateway.url}/export/census/adults.csv?rows=500&seed=3&epsilon=1&delta=1e-9`, { headers: { authorization: `Bearer ${kim}` } });
      assert.equal(csv.status, 200);
      assert.equal(csv.headers.get('x-cdm-cached'), 'true');
      const lines = (await csv.text()).trim().split('\n');
      assert.equal(lines.length, 501);
      assert.equal(lines[0], census.columns.map((c) => c.name).join(','));
      const noToken = await fetch(`${m.mesh.gateway.url}/export/census/adults.csv?rows=5`);
      assert.equal(noToken.status, 401);
      const direct = await fetch(`${m.mesh.subgraphs.census!.replace('/graphql', '')}/export/adults.csv?rows=5`);
      assert.equal(direct.status, 401, 'the subgraph verifies too');
      const b2 = await m.gql(`{ census { budget { releases } } }`, {}, kim);
      assert.equal(b2.body.data.census.budget.releases, 1);
      // A new service on the same database (as after a restart) reuses the stored model for free.
      const { SyntheticService } = await import('../../src/query/synthetic.js');
      const handle = m.mesh.inProcess.find((h) => h.domain.name === 'census')!;
      const fresh = await new SyntheticService(handle.domain, handle.db).model({ id: 'kim', roles: ['analyst'] }, census, { epsilon: 1, delta: 1e-9 });
      assert.equal(fresh.info.cached, true);
      assert.equal(fresh.info.id, s1.model.id);
    });

    test('DP SQL through the gateway: one statement one release, shared with the GraphQL field, joins, explain, refusals', async () => {
      const mo = await m.token('mo');
      const r = await m.gql(`query($q: String!) { health { sql(query: $q, privacy: { epsilon: 1 }) { dataset columns epsilon cached releaseId rows { key values { value epsilon releaseId } } table { columns { name type private } rows { cells { number text standardError confidenceInterval { low high } } } } } } }`,
        { q: "SELECT COUNT(*) AS visits, COUNT(DISTINCT patientId) AS patients, AVG(cost) FROM visits WHERE department = 'oncology'" }, mo);
      assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
      const res = r.body.data.health.sql;
      assert.deepEqual(res.columns, ['visits', 'patients', 'avg']);
      assert.equal(res.epsilon, 1);
      assert.equal(res.rows.length, 1);
      assert.equal(res.rows[0].values.length, 3);
      assert.ok(res.rows[0].values.every((v: any) => v.releaseId === res.releaseId), 'one release for the statement');
      assert.ok(res.rows[0].values[0].value > res.rows[0].values[1].value, 'more visits than patients');
      assert.deepEqual(res.table.columns.map((c: any) => c.type), ['INTEGER', 'INTEGER', 'FLOAT']);
      assert.ok(res.table.rows[0].cells.every((c: any) => c.standardError > 0 && c.confidenceInterval.low < c.confidenceInterval.high));
      // The same question as a GraphQL field and as SQL is one release.
      const f = await m.gql(`{ health { visits { count(where: { department: { eq: "oncology" } }) { releaseId cached } } } }`, {}, mo);
      const s = await m.gql(`{ health { sql(query: "SELECT COUNT(*) FROM visits WHERE department = 'oncology'") { releaseId cached } } }`, {}, mo);
      assert.equal(s.body.data.health.sql.releaseId, f.body.data.health.visits.count.releaseId);
      assert.equal(s.body.data.health.sql.cached, true);
      // A join with the public clinics table, grouped by a public column, with post-processing.
      const j = await m.gql(`{ health { sql(query: "SELECT c.region, AVG(v.cost) AS avg_cost FROM visits v JOIN clinics c ON v.clinicId = c.id GROUP BY c.region ORDER BY avg_cost DESC LIMIT 3", privacy: { epsilon: 1 }) { rows { key values { value } } table { columns { name type } } } } }`, {}, mo);
      assert.equal(j.body.errors, undefined, JSON.stringify(j.body.errors));
      assert.equal(j.body.data.health.sql.rows.length, 3);
      const avgs = j.body.data.health.sql.rows.map((x: any) => x.values[0].value);
      assert.deepEqual(avgs, [...avgs].sort((a: number, b: number) => b - a));
      // EXPLAIN spends nothing.
      const before = (await m.gql(`{ health { budget { releases } } }`, {}, mo)).body.data.health.budget.releases;
      const e = await m.gql(`{ health { sql(query: "SELECT SUM(p.cost) FROM visits v JOIN prescriptions p ON v.patientId = p.patientId", explain: true) { releaseId explain { datasets measurements { statistic l1Sensitivity mechanism } epsilonCharged } } } }`, {}, mo);
      assert.equal(e.body.errors, undefined, JSON.stringify(e.body.errors));
      assert.equal(e.body.data.health.sql.releaseId, null);
      assert.deepEqual(e.body.data.health.sql.explain.datasets, ['visits', 'prescriptions']);
      const b = await m.gql(`{ health { budget { releases } } }`, {}, mo);
      assert.equal(b.body.data.health.budget.releases, before);
      assert.equal(before, 3);
      // Several statements in one operation are checked up front as a whole: 6 x epsilon 2 > the cap of 10.
      const op = await m.token('sql-op');
      const many = Array.from({ length: 6 }, (_, i) => `q${i}: sql(query: "SELECT SUM(cost) FROM visits WHERE patientAge >= ${i}", privacy: { epsilon: 2 }) { releaseId }`).join(' ');
      const refused = await m.gql(`{ health { ${many} } }`, {}, op);
      assert.equal(refused.body.errors?.[0]?.extensions?.code, 'BUDGET_EXHAUSTED', JSON.stringify(refused.body));
      assert.equal((await m.gql(`{ health { budget { releases } } }`, {}, op)).body.data.health.budget.releases, 0);
      const bad = await m.gql(`{ health { sql(query: "SELECT COUNT(DISTINCT department) FROM visits") { columns } } }`, {}, mo);
      assert.equal(bad.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
      assert.match(bad.body.errors![0]!.message, /COUNT\(DISTINCT department\) cannot be bounded.*position 8/);
    });

    test('bad input gets a stable code and no data, and is not charged', async () => {
      const cases: [string, string][] = [
        [`{ census { adults { count(where: { sex: { eq: "Femal" } }) { value } } } }`, 'BAD_USER_INPUT'],
        [`{ census { adults { count(privacy: { epsilon: -1 }) { value } } } }`, 'BAD_USER_INPUT'],
        [`{ census { adults { quantile(column: AGE, q: 1.5) { value } } } }`, 'BAD_USER_INPUT'],
        [`{ census { adults { count(where: { sex: { eq: "x'); DROP TABLE adults; --" } }) { value } } } }`, 'BAD_USER_INPUT'],
        [`{ census { adults { count(privacy: { epsilon: 50 }) { value } } } }`, 'POLICY_VIOLATION'],
        [`{ census { adults { histogram(by: [NOPE]) { key } } } }`, 'GRAPHQL_VALIDATION_FAILED'],
      ];
      const frank = await m.token('frank');
      for (const [q, code] of cases) {
        const r = await m.gql(q, {}, frank);
        assert.equal(r.body.errors?.[0]?.extensions?.code, code, `${q}: ${JSON.stringify(r.body.errors)}`);
        assert.ok(!JSON.stringify(r.body).includes('stack'), 'no stack trace');
      }
      const b = await m.gql(`{ census { budget { releases } } }`, {}, frank);
      assert.equal(b.body.data.census.budget.releases, 0);
    });
  });
}
