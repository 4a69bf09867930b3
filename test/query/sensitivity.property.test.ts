import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateDomain, type ColumnDeclaration, type DatasetDeclaration } from '../../src/domain/declaration.js';
import { statementsFor, quoteIdent, type SqlTarget } from '../../src/core/dialect/postgres.js';
import { buildPlan, type AggregateKind, type AggregateSpec, type Plan, type QuerySpec } from '../../src/core/plan.js';
import { and, cmp, isIn, not, or, TRUE, type Predicate } from '../../src/core/predicate.js';
import { RelationBuilder } from '../../src/core/relation.js';
import { openDomainDatabase, type DomainDatabase } from '../../src/storage/database.js';

/**
 * The neighbouring-dataset property of the plan IR, over random PLANS (issue 10): for a random
 * query (filters with AND/OR/NOT, a join with a public table, a join with another sensitive
 * dataset on the privacy unit, grouping with public keys or DP key selection, one to three
 * aggregates of any kind), a random dataset D and a person P with 1 to many rows in each
 * sensitive table, every statistic the plan's own statements compute moves between D and D + P by
 * at most the sensitivity the planner derived by chaining stability maps (l1 and l2 over all
 * groups; for quantiles, each group's utility by at most its sensitivity, in at most maxGroups
 * groups). Both the per-query window and the load-time rank (the production bounding path) are
 * exercised.
 *
 * Coupling: production windows keep each unit's rows in `random()` order (or by the load-time
 * rank). The stability argument holds for ANY order decided by the unit's own rows, so this test
 * fixes the order to a hash of the row (SqlTarget.rowOrder): every other unit makes exactly the
 * same choices with and without P, whatever join order the planner picks, and the difference is
 * P's bounded contribution. The load-time rank path is covered as in production (random ranks
 * that are a permutation per unit, or merely distinct and >= 1, the verified invariant), with
 * units lighter and heavier than the bound and filters correlated within units; with ranks 1..n
 * the rank path counts exactly what the window counts (min(m, matching rows) per unit), and two
 * wrong light/heavy splits (MUTANTS) must be caught.
 *
 * Meaningful: the same plans with bounding removed (the relation not bounded, sensitivity of a
 * row-level dataset) exceed their declared bounds in some generated case (checked at the end).
 */
type Value = string | number | null;
type Row = Record<string, Value>;

const PERSON = 'zperson';
const unitId = (i: number) => `u${String(i).padStart(3, '0')}`;

const ledger = validateDomain({
  name: 'ledger',
  title: 'Ledger',
  description: 'Card transactions and accounts, many rows per account (test declaration).',
  owner: { team: 'tests', contact: 'tests@example.org' },
  sensitivity: 'sensitive',
  policy: { defaultBudget: { epsilon: 10, delta: 1e-6 }, globalCap: { epsilon: 50, delta: 1e-5 }, maxEpsilonPerQuery: 2, defaultEpsilon: 0.5, defaultDelta: 1e-9 },
  datasets: [
    {
      name: 'transactions',
      title: 'Transactions',
      table: 'transactions',
      description: 'One row per card transaction; an account has any number of them.',
      privacyUnit: 'accountId',
      contribution: { maxRowsPerUnit: 7, maxGroupsPerUnit: 2 },
      source: { kind: 'generated', generator: 'visits', rows: 1, seed: 1 },
      columns: [
        { name: 'accountId', type: 'id', description: 'Account (the privacy unit).' },
        { name: 'amount', type: 'float', bounds: [-250.5, 100], granularity: 0.5, description: 'Signed amount.' },
        // Declared an attribute of the account although the data varies: the hint is never trusted for privacy.
        { name: 'temperature', type: 'integer', bounds: [-40, 60], perUnit: true, description: 'Outside temperature.' },
        { name: 'channel', type: 'categorical', categories: ['web', 'branch', 'phone'], description: 'Channel used.' },
        { name: 'merchant', type: 'categorical', description: 'Merchant, no public list.' },
      ],
    },
    {
      name: 'accounts',
      title: 'Accounts',
      table: 'accounts',
      description: 'Account records; an account may have several (one per product).',
      privacyUnit: 'accountId',
      contribution: { maxRowsPerUnit: 3, maxGroupsPerUnit: 2 },
      source: { kind: 'generated', generator: 'visits', rows: 1, seed: 1 },
      columns: [
        { name: 'accountId', type: 'id', description: 'Account (the privacy unit).' },
        { name: 'product', type: 'categorical', categories: ['gold', 'basic'], description: 'Product held.' },
        { name: 'balance', type: 'integer', bounds: [0, 500], description: 'Balance.' },
      ],
    },
    {
      name: 'branches',
      title: 'Branches',
      table: 'branches',
      description: 'Public reference table: regions served per channel.',
      privacyUnit: 'row',
      contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 },
      source: { kind: 'generated', generator: 'visits', rows: 1, seed: 1 },
      columns: [
        { name: 'channel', type: 'categorical', categories: ['web', 'branch', 'phone'], description: 'Channel.' },
        { name: 'region', type: 'categorical', categories: ['north', 'south'], description: 'Region.' },
        { name: 'fee', type: 'integer', bounds: [0, 9], description: 'Fee.' },
      ],
    },
  ],
});
const [transactions, accounts, branches] = ledger.datasets as [DatasetDeclaration, DatasetDeclaration, DatasetDeclaration];
/** Public table contents (fixed): channel 'web' appears twice, so the join multiplies rows by up to 2. */
const BRANCH_ROWS: Row[] = [
  { channel: 'web', region: 'north', fee: 1 },
  { channel: 'web', region: 'south', fee: 2 },
  { channel: 'branch', region: 'north', fee: 5 },
  { channel: 'phone', region: 'south', fee: 0 },
];
const MULTIPLICITY = 2;

// ---------- random plans ----------

type Shape = 'plain' | 'public' | 'unit';
const predicateArb: fc.Arbitrary<Predicate> = fc.letrec<{ p: Predicate }>((tie) => ({
  p: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(TRUE),
    fc.constantFrom<Predicate>(isIn('channel', ['web']), isIn('channel', ['web', 'phone']), cmp('amount', '>=', -10), cmp('temperature', '<', 20), { op: 'isNull', column: 'merchant' }, { op: 'like', column: 'merchant', pattern: 'k%' }),
    fc.tuple(tie('p'), tie('p')).map(([a, b]) => and(a, b)),
    fc.tuple(tie('p'), tie('p')).map(([a, b]) => or(a, b)),
    tie('p').map((a) => not(a)),
  ),
})).p;

const AGGS: AggregateKind[] = ['count', 'countDistinct', 'sum', 'mean', 'variance', 'stddev', 'quantile'];
function aggregateArb(shape: Shape): fc.Arbitrary<AggregateSpec> {
  const numeric = shape === 'unit' ? ['amount', 'temperature', 'accounts.balance'] : shape === 'public' ? ['amount', 'temperature', 'branches.fee'] : ['amount', 'temperature'];
  return fc.record({ kind: fc.constantFrom(...AGGS), column: fc.constantFrom(...numeric), q: fc.constantFrom(0.1, 0.5, 0.9) }).map((a) =>
    a.kind === 'count' || a.kind === 'countDistinct' ? { kind: a.kind } : a.kind === 'quantile' ? a : { kind: a.kind, column: a.column },
  );
}

interface PlanCase {
  shape: Shape;
  predicate: Predicate;
  groupBy: string[];
  aggregates: AggregateSpec[];
  gaussian: boolean;
}
const planCaseArb: fc.Arbitrary<PlanCase> = fc.constantFrom<Shape>('plain', 'public', 'unit').chain((shape) => {
  const groupable = shape === 'public' ? ['channel', 'merchant', 'branches.region'] : shape === 'unit' ? ['channel', 'accounts.product'] : ['channel', 'merchant'];
  return fc.record({
    shape: fc.constant(shape),
    predicate: predicateArb,
    groupBy: fc.subarray(groupable, { maxLength: 2 }),
    aggregates: fc.array(aggregateArb(shape), { minLength: 1, maxLength: 3 }),
    gaussian: fc.boolean(),
  });
});

function specOf(c: PlanCase, bounded: boolean): QuerySpec {
  let rel = RelationBuilder.from(transactions).filter(c.predicate);
  if (c.shape === 'public') rel = rel.joinPublic(branches, 'channel', 'channel', MULTIPLICITY);
  if (c.shape === 'unit') rel = rel.joinOnUnit(RelationBuilder.from(accounts).bound(3));
  // Key selection answers COUNT(*) only: a grouping without a public list keeps one count.
  const selected = c.groupBy.includes('merchant');
  const aggregates = selected ? [{ kind: 'count' as const }] : c.aggregates;
  const privacy = selected || c.gaussian ? { epsilon: 1, delta: 1e-6, ...(c.gaussian && !selected && !aggregates.some((a) => a.kind === 'quantile') ? { mechanism: 'GAUSSIAN' as const } : {}) } : { epsilon: 1 };
  const spec: QuerySpec = { domain: ledger, relation: rel.relation, groupBy: c.groupBy, aggregates, privacy };
  if (bounded) return spec;
  // Bounding removed: a bound as large as any generated unit (so stability says nothing useful).
  const huge = c.groupBy.length ? rel.bound(10_000, { by: c.groupBy, maxGroups: 1000, perGroup: 10_000 }) : rel.bound(10_000);
  return { ...spec, relation: huge.relation };
}

// ---------- random data ----------

const listedOf = (c: ColumnDeclaration) => c.categories ?? ['k0', 'k1', 'k2', 'x9'];
function valueArb(c: ColumnDeclaration): fc.Arbitrary<Value> {
  if (c.type === 'categorical') return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...listedOf(c)) }, { weight: 1, arbitrary: fc.constant(null) });
  const [lo, hi] = c.bounds!;
  const w = hi - lo;
  const base = c.type === 'integer' ? fc.integer({ min: lo - 2 * w, max: hi + 2 * w }) : fc.double({ min: lo - 2 * w, max: hi + 2 * w, noNaN: true }).map((v) => Math.round(v * 8) / 8 + 0.01);
  return fc.oneof({ weight: 8, arbitrary: base }, { weight: 1, arbitrary: fc.constant(null) });
}
/** A heavy person: values at the extreme of the larger bound, concentrated keys. */
function heavyArb(c: ColumnDeclaration): fc.Arbitrary<Value> {
  if (c.type === 'categorical') return fc.constantFrom(...listedOf(c).slice(0, 2));
  const [lo, hi] = c.bounds!;
  return fc.constant(Math.abs(lo) > Math.abs(hi) ? lo - 3 * (hi - lo) : hi + 3 * (hi - lo));
}
const rowArb = (ds: DatasetDeclaration, arb: (c: ColumnDeclaration) => fc.Arbitrary<Value>) =>
  fc.record(Object.fromEntries(ds.columns.filter((c) => c.name !== ds.privacyUnit).map((c) => [c.sql, arb(c)])) as Record<string, fc.Arbitrary<Value>>);
/**
 * A unit's transactions: independent rows, or rows sharing every column but the amount (filters
 * on channel, temperature or merchant then match all of a unit's rows or none: filters correlated
 * within units), with fewer or more rows than maxRowsPerUnit (light and heavy units).
 */
const unitTxArb = (maxLength: number) =>
  fc.oneof(
    fc.array(rowArb(transactions, valueArb), { minLength: 1, maxLength, size: 'max' }),
    fc.tuple(rowArb(transactions, valueArb), fc.array(valueArb(transactions.columns.find((c) => c.name === 'amount')!), { minLength: 1, maxLength, size: 'max' })).map(([r, amounts]) => amounts.map((amount) => ({ ...r, amount }))),
  );

interface DataCase {
  tx: Row[][];
  acc: Row[][];
  personTx: Row[];
  personAcc: Row[];
  seed: number;
  ranked: boolean;
  /** Ranks still unique and >= 1 per unit (the verified invariant) but not 1..n: e.g. after deletes. */
  rankGaps: boolean;
  /** The target claims every column NOT NULL (a capability; only a speed hint for bounding). */
  notNull: boolean;
}
const dataArb: fc.Arbitrary<DataCase> = fc.record({
  tx: fc.array(unitTxArb(12), { maxLength: 8, size: 'max' }),
  acc: fc.array(fc.array(rowArb(accounts, valueArb), { minLength: 1, maxLength: 5 }), { maxLength: 8 }),
  personTx: fc.oneof(unitTxArb(20), fc.array(rowArb(transactions, heavyArb), { minLength: 8, maxLength: 20 })),
  personAcc: fc.oneof(fc.array(rowArb(accounts, valueArb), { maxLength: 6 }), fc.array(rowArb(accounts, heavyArb), { minLength: 4, maxLength: 6 })),
  seed: fc.integer({ min: -1000, max: 1000 }).map((x) => x / 1000),
  ranked: fc.boolean(),
  rankGaps: fc.boolean(),
  notNull: fc.boolean(),
});

// ---------- measuring ----------

const SQL_TYPE: Record<ColumnDeclaration['type'], string> = { id: 'text', text: 'text', categorical: 'text', integer: 'integer', float: 'double precision' };
/** Per statistic (or quantile) id: values by group key (quantiles: by group key and bin). */
type Stats = Map<string, Map<string, bigint>>;

async function measure(db: DomainDatabase, plan: Plan, target: SqlTarget, seed: number, mutate = (sql: string) => sql): Promise<Stats> {
  const out: Stats = new Map();
  for (const stmt of statementsFor(plan, target)) {
    await db.query('SELECT setseed($1)', [seed]);
    const rows = await db.query<Record<string, string | null>>(mutate(stmt.sql), stmt.params);
    const key = (r: Record<string, string | null>) => plan.groupBy.map((_, i) => r[`k${i}`] ?? '').join('\u0000');
    if (stmt.id === 'stats') {
      for (const s of plan.statistics) out.set(s.id, new Map(rows.map((r) => [key(r), BigInt(r[s.id] ?? '0')])));
    } else {
      out.set(stmt.id, new Map(rows.map((r) => [`${key(r)}\u0001${r.bin}`, BigInt(r.n ?? '0')])));
    }
  }
  return out;
}

const abs = (x: bigint) => (x < 0n ? -x : x);
function diff(a: Map<string, bigint> = new Map(), b: Map<string, bigint> = new Map()): Map<string, bigint> {
  const d = new Map<string, bigint>();
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const x = (a.get(k) ?? 0n) - (b.get(k) ?? 0n);
    if (x !== 0n) d.set(k, x);
  }
  return d;
}

/** Utilities -|10000 rank_i - Q n| per group, as src/core/release.ts computes them. */
function utilities(plan: Plan, id: string, stats: Map<string, bigint>): Map<string, bigint[]> {
  const q = plan.quantiles.find((x) => x.id === id)!;
  const byGroup = new Map<string, bigint[]>();
  for (const [k, n] of stats) {
    const [g, bin] = k.split('\u0001') as [string, string];
    if (!byGroup.has(g)) byGroup.set(g, new Array<bigint>(q.bins).fill(0n));
    byGroup.get(g)![Number(bin)] = n;
  }
  const out = new Map<string, bigint[]>();
  for (const [g, counts] of byGroup) {
    const n = counts.reduce((a, b) => a + b, 0n);
    let rank = 0n;
    out.set(g, counts.map((c) => {
      const d = 10000n * rank - BigInt(q.Q) * n;
      rank += c;
      return d < 0n ? d : -d;
    }));
  }
  return out;
}

/** Every violated claim of the plan for this neighbour pair (empty: the plan's claims hold). */
function violations(plan: Plan, withP: Stats, without: Stats): string[] {
  const out: string[] = [];
  for (const s of plan.statistics) {
    const d = diff(withP.get(s.id), without.get(s.id));
    const l1 = [...d.values()].reduce((a, x) => a + abs(x), 0n);
    const l2sq = [...d.values()].reduce((a, x) => a + x * x, 0n);
    if (l1 > BigInt(s.sensitivity.l1)) out.push(`${s.id} ${s.kind}: l1 ${l1} > ${s.sensitivity.l1}`);
    if (l2sq > BigInt(s.sensitivity.l2) ** 2n) out.push(`${s.id} ${s.kind}: l2^2 ${l2sq} > ${s.sensitivity.l2}^2`);
    if (plan.keySelection && [...d.values()].some((x) => abs(x) > 1n)) out.push(`${s.id}: key selection needs at most 1 per key`);
  }
  for (const q of plan.quantiles) {
    const a = utilities(plan, q.id, withP.get(q.id) ?? new Map());
    const b = utilities(plan, q.id, without.get(q.id) ?? new Map());
    let changed = 0;
    for (const g of new Set([...a.keys(), ...b.keys()])) {
      const ua = a.get(g) ?? utilities(plan, q.id, new Map([[`${g}\u00010`, 0n]])).get(g)!;
      const ub = b.get(g) ?? utilities(plan, q.id, new Map([[`${g}\u00010`, 0n]])).get(g)!;
      const worst = ua.reduce((m, u, i) => (abs(u - ub[i]!) > m ? abs(u - ub[i]!) : m), 0n);
      if (worst > 0n) changed++;
      if (worst > BigInt(q.sensitivity)) out.push(`${q.id}: utility moved ${worst} > ${q.sensitivity} in group ${JSON.stringify(g)}`);
    }
    if (changed > (plan.contribution.groups?.maxGroups ?? 1)) out.push(`${q.id}: ${changed} groups changed > ${plan.contribution.groups?.maxGroups ?? 1}`);
  }
  return out;
}

/**
 * Wrong light/heavy splits of the load-time rank path (src/core/dialect/postgres.ts, rankedRows):
 * the heavy part re-emitting its units' light rows, or its running count ignoring them. Each lets
 * a heavy unit keep up to 2m rows; the property must catch both.
 */
const MUTANTS: { name: string; mutate: (sql: string) => string; caught: boolean }[] = [
  { name: 'heavy rows not restricted to rank > m', mutate: (sql) => sql.replace(/WHERE w\._cdm_rank > \$\d+::bigint/g, 'WHERE TRUE'), caught: false },
  {
    name: 'heavy running count blind to ranks <= m',
    mutate: (sql) => sql.replace(/t\.\*, count\(\*\) FILTER \(WHERE (.*?) OVER \(PARTITION BY (t\.\S+) ORDER BY t\._cdm_rank ROWS UNBOUNDED PRECEDING\)(.*?)WHERE w\._cdm_rank > (\$\d+::bigint)/gs, (_, f: string, u: string, mid: string, m: string) => `t.*, count(*) FILTER (WHERE t._cdm_rank > ${m} AND ${f} OVER (PARTITION BY ${u} ORDER BY t._cdm_rank ROWS UNBOUNDED PRECEDING)${mid}WHERE w._cdm_rank > ${m}`),
    caught: false,
  },
];

describe('one person moves no statistic of any plan beyond the sensitivity the IR derives (fast-check)', { timeout: 600_000 }, () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(ledger, { dataDir: 'memory://' });
    // Coupling: rows must reach each random() in scan order (P's last). Hash joins and hash
    // aggregation iterate in hash order, which moves when P's rows are added; nested loops and
    // sorted aggregation do not. Planner settings never change a statement's result set.
    await db.exec('SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_hashagg = off');
  });
  after(async () => db?.close());

  const table = (ds: DatasetDeclaration) => `${quoteIdent(db.schema)}.${quoteIdent(ds.table)}`;
  async function create(ds: DatasetDeclaration, ranked: boolean) {
    const rank = ranked && ds.privacyUnit !== 'row' ? ', _cdm_rank integer' : '';
    await db.exec(`DROP TABLE IF EXISTS ${table(ds)}; CREATE TABLE ${table(ds)} (${ds.columns.map((c) => `${quoteIdent(c.sql)} ${SQL_TYPE[c.type]}`).join(', ')}${rank})`);
  }
  async function insert(ds: DatasetDeclaration, rows: Row[], ranked: boolean) {
    if (rows.length === 0) return;
    const cols = ds.columns.map((c) => c.sql);
    const types = ds.columns.map((c) => SQL_TYPE[c.type]);
    if (ranked) {
      cols.push('_cdm_rank');
      types.push('integer');
    }
    const unnest = types.map((t, i) => `$${i + 1}::${t}[]`).join(', ');
    await db.query(`INSERT INTO ${table(ds)} (${cols.map(quoteIdent).join(', ')}) SELECT * FROM unnest(${unnest})`, cols.map((c) => rows.map((r) => r[c] ?? null)));
  }
  /**
   * Each unit's rows with a rank that is a permutation 1..n of them (what the loader guarantees),
   * or with gaps (distinct ranks >= 1, what the verified invariant alone guarantees).
   */
  function ranks(rows: Row[], unit: string, seed: number, gaps: boolean): Row[] {
    const byUnit = new Map<Value, Row[]>();
    for (const r of rows) byUnit.set(r[unit]!, [...(byUnit.get(r[unit]!) ?? []), r]);
    const out: Row[] = [];
    for (const list of byUnit.values()) {
      const order = list.map((_, i) => i).sort((a, b) => Math.sin(seed * 1000 + a * 7.3) - Math.sin(seed * 1000 + b * 7.3));
      let rank = 0;
      order.forEach((idx, pos) => out.push({ ...list[idx]!, _cdm_rank: (rank += gaps && Math.sin(seed * 1000 + pos * 3.1) > 0.3 ? 2 : 1) }));
    }
    return out;
  }

  /**
   * Exactness of the load-time rank path: with ranks 1..n per unit, every unit counts min(m,
   * matching rows), exactly as the per-query window: the total row count is the same on both paths.
   */
  async function sameCounts(plan: Plan, target: SqlTarget, seed: number) {
    const count = plan.statistics.find((s) => s.kind === 'count' && !s.column);
    // Without the heavy part the rank path trusts hints (perUnit, NOT NULL) the random data breaks.
    const light = statementsFor(plan, target).some((x) => x.sql.includes('_cdm_rank') && !x.sql.includes('= ANY(ARRAY('));
    if (!count || (light && !(plan.relation.op === 'bound' && plan.relation.input.op !== 'filter' && !plan.relation.by))) return;
    const total = (stats: Stats) => [...(stats.get(count.id)?.values() ?? [])].reduce((a, x) => a + x, 0n);
    const ranked = total(await measure(db, plan, target, seed));
    const windowed = total(await measure(db, plan, { ...target, ranked: () => false }, seed));
    assert.equal(ranked, windowed, 'the load-time rank keeps min(m, matching rows) per unit, as the window does');
  }

  const targetOf = (data: DataCase): SqlTarget => ({ table, scratch: (n) => n, ranked: (ds) => data.ranked && ds.privacyUnit !== 'row', notNull: () => data.notNull, rowOrder: (a) => `md5(${a}::text)` });

  /** Loads D (every unit but P) into fresh tables; the function returned adds P's rows. */
  async function load(data: DataCase): Promise<() => Promise<void>> {
    const rank = (rows: Row[]) => (data.ranked ? ranks(rows, 'account_id', data.seed, data.rankGaps) : rows);
    for (const ds of [transactions, accounts, branches]) await create(ds, data.ranked && ds.privacyUnit !== 'row');
    await insert(branches, BRANCH_ROWS, false);
    await insert(transactions, rank(data.tx.flatMap((rows, u) => rows.map((r) => ({ ...r, account_id: unitId(u) })))), data.ranked);
    await insert(accounts, rank(data.acc.flatMap((rows, u) => rows.map((r) => ({ ...r, account_id: unitId(u) })))), data.ranked);
    return async () => {
      await insert(transactions, rank(data.personTx.map((r) => ({ ...r, account_id: PERSON }))), data.ranked);
      await insert(accounts, rank(data.personAcc.map((r) => ({ ...r, account_id: PERSON }))), data.ranked);
    };
  }

  test('random plans, random neighbours: every statistic within its derived sensitivity; unbounded plans exceed it', async () => {
    const exceeded = new Set<string>();
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(planCaseArb, dataArb, async (pc, data) => {
        let plan: Plan;
        try {
          plan = buildPlan(specOf(pc, true));
        } catch {
          return; // refused plans are tested elsewhere (the planner's refusals are precise)
        }
        const loose = buildPlan({ ...specOf(pc, false), privacy: plan.delta > 0 ? { epsilon: 1, delta: 1e-6 } : { epsilon: 1 } });
        const target = targetOf(data);
        const addPerson = await load(data);
        const without = await measure(db, plan, target, data.seed);
        const looseWithout = await measure(db, loose, target, data.seed);
        if (data.ranked && !data.rankGaps) await sameCounts(plan, target, data.seed);
        await addPerson();
        const withP = await measure(db, plan, target, data.seed);
        const looseWith = await measure(db, loose, target, data.seed);
        if (data.ranked && !data.rankGaps) await sameCounts(plan, target, data.seed);
        checked++;
        const v = violations(plan, withP, without);
        assert.deepEqual(v, [], `plan ${JSON.stringify(pc)}, ranked=${data.ranked}`);
        // The same claims, made for the bounded plan, against the unbounded statements.
        for (const x of violations({ ...plan, statistics: plan.statistics.map((s) => ({ ...s, id: loose.statistics.find((l) => l.kind === s.kind && l.column?.name === s.column?.name)?.id ?? s.id })), quantiles: plan.quantiles.map((q, i) => ({ ...q, id: loose.quantiles[i]?.id ?? q.id, bins: loose.quantiles[i]?.bins ?? q.bins })) } as Plan, looseWith, looseWithout))
          exceeded.add(x.split(':')[0]!.split(' ')[1] ?? 'quantile');
      }),
      { numRuns: 150, seed: 20261130, endOnFailure: true },
    );
    assert.ok(checked >= 100, `only ${checked} plans were checked`);
    for (const kind of ['count', 'sum', 'centredSum', 'sumSquares']) assert.ok(exceeded.has(kind), `without bounding, ${kind} never exceeded its bound: the test would not see a broken bound (${[...exceeded].join(', ')})`);
  });

  test('the same check catches wrong light/heavy splits of the rank path (mutants)', async () => {
    const filters = [cmp('amount', '>=', -10), isIn('channel', ['web', 'phone']), not(isIn('channel', ['branch']))];
    const cases = fc.sample(fc.record({ predicate: fc.constantFrom(...filters), data: dataArb.map((d) => ({ ...d, ranked: true, rankGaps: false, notNull: false })) }), { numRuns: 60, seed: 11 });
    for (const { predicate, data } of cases) {
      const plan = buildPlan(specOf({ shape: 'plain', predicate, groupBy: [], aggregates: [{ kind: 'count' }, { kind: 'sum', column: 'amount' }], gaussian: false }, true));
      const target = targetOf(data);
      assert.ok(statementsFor(plan, target).every((x) => x.sql.includes('= ANY(ARRAY(')), 'a filter varying within units takes the heavy part');
      const addPerson = await load(data);
      const without = await Promise.all(MUTANTS.map((m) => measure(db, plan, target, data.seed, m.mutate)));
      await addPerson();
      for (const [i, m] of MUTANTS.entries()) if (violations(plan, await measure(db, plan, target, data.seed, m.mutate), without[i]!).length > 0) m.caught = true;
    }
    for (const m of MUTANTS) assert.ok(m.caught, `the ranked bound with ${m.name} never exceeded a bound: the test would not see a wrong light/heavy split`);
  });
});
