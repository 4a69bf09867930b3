import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateDomain, type ColumnDeclaration, type DatasetDeclaration, type DomainDeclaration } from '../../src/domain/declaration.js';
import { demoDomain } from '../../src/domain/registry.js';
import { l2SensitivityOf, planAggregate, sensitivityOf, type Plan } from '../../src/query/plan.js';
import { statementFor } from '../../src/query/sql.js';
import type { AggregateRequest } from '../../src/query/types.js';
import { openDomainDatabase, qualified, quoteIdent, type DomainDatabase } from '../../src/storage/database.js';

/**
 * Issue 3, "Done when": adding one person's rows changes no statistic the engine computes in SQL by
 * more than the sensitivity its plan declares, on random many-rows-per-person datasets.
 *
 * For each generated case: a dataset D (random units, random numbers of rows, random values with
 * NULLs and values far outside the public bounds, rows interleaved in the heap) and a person P
 * with 1 to many rows. Every plan's own statement (statementFor) runs on D, then P's rows are
 * appended and it runs again on D + P. The statistics it returns (count, distinct units, sum,
 * centred sum and sum of squares, histogram counts, quantile bin counts) must differ by at most
 * the declared sensitivity (l1; for histograms also l2; for quantiles the utility's sensitivity).
 *
 * Valid comparison: each privacy unit's rows are chosen by `ORDER BY random()`. PGlite is one
 * session, so `SELECT setseed(s)` before each statement fixes the random draws, and random() is
 * drawn in the order rows reach the window: the heap order for row windows (P's rows are appended
 * last), and the (unit, key) order of the grouped rows for histogram windows once hash aggregation
 * is off (P's unit id sorts last; a hash table's iteration order changes when P's groups are added,
 * which would reshuffle every unit's draws). So every other unit gets the same draws with and
 * without P, and the difference is exactly P's bounded contribution. That coupling is CHECKED,
 * not assumed: each row carries a unique tag in an integer column, and the engine's quantile
 * statement over that column (one bin per tag) shows exactly which rows were selected, so the test
 * asserts that every other unit keeps the same rows and that every unit contributes
 * min(its rows, maxRowsPerUnit). The difference must also be a contribution P can actually make
 * (exactly min(n, m) rows; histogram counts exactly min(c, perGroup) on at most maxGroups of P's
 * keys; bin counts within P's own), which would fail if other units' choices moved.
 *
 * Meaningful: the same statements without the window (the plan of the same request on the dataset
 * declared row-level, i.e. bounding removed, clamping kept) are run on the same data, and the test
 * asserts that for some generated case their difference exceeds each declared bound.
 *
 * Generated values exclude NaN, +-Infinity and floats whose grid value is beyond bigint (here
 * |v| > 1e12): the `::bigint` cast in gridValue (src/query/sql.ts) runs before the clamp and throws
 * on them, a bug reported separately; add them once it is fixed. Float values within 1e-6 of a
 * rounding tie on the release grid are excluded too, so this file can compute P's grid values
 * exactly (PostgreSQL rounds ties of numeric and float8 differently).
 */

type Value = string | number | null;
type Row = Record<string, Value>;

interface Scenario {
  label: string;
  domain: DomainDeclaration;
  dataset: DatasetDeclaration;
  /** Integer column whose values the test assigns as unique row tags (bounds span <= 1024 bins). */
  tag: string;
  requests: AggregateRequest[];
  maxUnits: number;
  maxUnitRows: number;
  maxPersonRows: number;
  numRuns: number;
}

const PERSON = 'zperson'; // sorts after every generated unit id (u000, u001, ...) in any collation
const unitId = (i: number) => `u${String(i).padStart(3, '0')}`;

const health = demoDomain('health');
const visits = health.datasets.find((d) => d.name === 'visits')!;

/** A small declaration of our own: negative and asymmetric bounds, a coarse float grid, a
 * categorical column without a public list (DP key selection), and perGroup > 1. */
const ledger = validateDomain({
  name: 'ledger',
  title: 'Ledger',
  description: 'Card transactions, many per account (test declaration).',
  owner: { team: 'tests', contact: 'tests@example.org' },
  sensitivity: 'sensitive',
  policy: {
    defaultBudget: { epsilon: 10, delta: 1e-6 },
    globalCap: { epsilon: 50, delta: 1e-5 },
    maxEpsilonPerQuery: 2,
    defaultEpsilon: 0.5,
    defaultDelta: 1e-9,
  },
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
        { name: 'seq', type: 'integer', bounds: [1, 1000], description: 'Row tag assigned by the test.' },
        { name: 'amount', type: 'float', bounds: [-250.5, 100], granularity: 0.5, description: 'Signed amount.' },
        { name: 'temperature', type: 'integer', bounds: [-40, 60], description: 'Outside temperature.' },
        { name: 'channel', type: 'categorical', categories: ['web', 'branch', 'phone'], description: 'Channel used.' },
        { name: 'merchant', type: 'categorical', description: 'Merchant, no public list.' },
      ],
    },
  ],
});
const transactions = ledger.datasets[0]!;

const gaussian = { epsilon: 1, delta: 1e-6, mechanism: 'GAUSSIAN' } as const;
const scenarios: Scenario[] = [
  {
    label: 'health visits (maxRowsPerUnit 10, maxGroupsPerUnit 3)',
    domain: health,
    dataset: visits,
    tag: 'visitDay',
    maxUnits: 12,
    maxUnitRows: 20,
    maxPersonRows: 30,
    numRuns: 60,
    requests: [
      { aggregate: 'count' },
      { aggregate: 'count', where: { patientAge: { gte: 18 }, department: { in: ['cardiology', 'emergency', 'general'] } } },
      { aggregate: 'countDistinct' },
      { aggregate: 'sum', column: 'cost' },
      { aggregate: 'sum', column: 'lengthOfStay', where: { sex: { eq: 'Female' } } },
      { aggregate: 'mean', column: 'cost' },
      { aggregate: 'mean', column: 'patientAge', privacy: gaussian },
      { aggregate: 'variance', column: 'patientAge' },
      { aggregate: 'stddev', column: 'cost', where: { lengthOfStay: { lte: 3 } } },
      { aggregate: 'quantile', column: 'cost', q: 0.5 },
      { aggregate: 'quantile', column: 'patientAge', q: 0.9 },
      { aggregate: 'quantile', column: 'visitDay', q: 0.25 },
      { aggregate: 'histogram', by: ['department'] },
      { aggregate: 'histogram', by: ['department'], privacy: gaussian },
      { aggregate: 'histogram', by: ['department', 'sex'] },
      { aggregate: 'histogram', by: ['clinicId'], where: { patientAge: { lte: 65 } }, privacy: gaussian },
    ],
  },
  {
    label: 'own declaration (maxRowsPerUnit 7, maxGroupsPerUnit 2, negative bounds, key selection)',
    domain: ledger,
    dataset: transactions,
    tag: 'seq',
    maxUnits: 10,
    maxUnitRows: 14,
    maxPersonRows: 20,
    numRuns: 50,
    requests: [
      { aggregate: 'count' },
      { aggregate: 'countDistinct', where: { channel: { in: ['web', 'phone'] } } },
      { aggregate: 'sum', column: 'amount' },
      { aggregate: 'sum', column: 'temperature', where: { amount: { gte: -10 } } },
      { aggregate: 'mean', column: 'amount' },
      { aggregate: 'variance', column: 'temperature', privacy: gaussian },
      { aggregate: 'stddev', column: 'amount' },
      { aggregate: 'quantile', column: 'amount', q: 0.1 },
      { aggregate: 'quantile', column: 'seq', q: 0.5 },
      { aggregate: 'histogram', by: ['channel'] },
      { aggregate: 'histogram', by: ['channel'], privacy: gaussian },
      { aggregate: 'histogram', by: ['merchant'], privacy: { epsilon: 1, delta: 1e-6 } },
      { aggregate: 'histogram', by: ['channel', 'merchant'], privacy: { epsilon: 1, delta: 1e-6 } },
    ],
  },
];

// ---------- generated data ----------

const SPECIAL_INTS = [-2147483648, 2147483647];
const SPECIAL_FLOATS = [-1e12, 1e12];

/** No value within 1e-6 of a rounding tie on the column's release grid. */
function offTie(c: ColumnDeclaration, v: Value): boolean {
  if (typeof v !== 'number' || c.type !== 'float') return true;
  const x = v / (c.granularity ?? 1);
  return Math.abs(Math.abs(x - Math.floor(x)) - 0.5) > 1e-6;
}

/** Values of a categorical column: its public list, or a few keys when it has none. */
const listedOf = (c: ColumnDeclaration) => c.categories ?? ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];

function valueArb(c: ColumnDeclaration): fc.Arbitrary<Value> {
  if (c.type === 'categorical') {
    return fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...listedOf(c)) },
      { weight: 1, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constant('not-listed') },
    );
  }
  if (c.type === 'integer') {
    const [lo, hi] = c.bounds!;
    const w = hi - lo;
    return fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: lo, max: hi }) },
      { weight: 3, arbitrary: fc.integer({ min: lo - 3 * w, max: hi + 3 * w }) },
      { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_INTS) },
      { weight: 1, arbitrary: fc.constant(null) },
    );
  }
  if (c.type === 'float') {
    const [lo, hi] = c.bounds!;
    const w = hi - lo;
    return fc
      .oneof(
        { weight: 6, arbitrary: fc.double({ min: lo, max: hi, noNaN: true }) },
        { weight: 3, arbitrary: fc.double({ min: lo - 3 * w, max: hi + 3 * w, noNaN: true }) },
        { weight: 1, arbitrary: fc.constantFrom(...SPECIAL_FLOATS) },
        { weight: 1, arbitrary: fc.constant(null) },
      )
      .filter((v) => offTie(c, v));
  }
  return fc.constant(null);
}

/** A heavy person (more than maxRowsPerUnit rows): every numeric value far beyond the bound whose
 * magnitude is larger, categorical values concentrated on two listed keys, so that without
 * bounding this person would move every statistic past its declared bound. */
function heavyValueArb(c: ColumnDeclaration): fc.Arbitrary<Value> {
  if (c.type === 'categorical') return fc.constantFrom(...listedOf(c).slice(0, 2));
  if (c.type !== 'integer' && c.type !== 'float') return valueArb(c);
  const [lo, hi] = c.bounds!;
  return fc.constant(Math.abs(lo) > Math.abs(hi) ? lo - 3 * (hi - lo) : hi + 3 * (hi - lo));
}

interface Case {
  units: { row: Row; pos: number }[][];
  person: Row[];
  seed: number;
}

function caseArb(s: Scenario): fc.Arbitrary<Case> {
  const free = s.dataset.columns.filter((c) => c.name !== s.dataset.privacyUnit && c.name !== s.tag);
  const rowOf = (arb: (c: ColumnDeclaration) => fc.Arbitrary<Value>) => fc.record(Object.fromEntries(free.map((c) => [c.sql, arb(c)])) as Record<string, fc.Arbitrary<Value>>);
  const m = s.dataset.contribution.maxRowsPerUnit;
  // size 'max': lengths spread over the whole range, so many units have more rows than m and the
  // random selection inside each unit matters (fast-check's default size keeps arrays short).
  const unitRows = fc.array(fc.record({ row: rowOf(valueArb), pos: fc.nat() }), { minLength: 1, maxLength: s.maxUnitRows, size: 'max' });
  return fc.record({
    units: fc.array(unitRows, { minLength: 0, maxLength: s.maxUnits, size: 'max' }),
    person: fc.oneof(
      fc.array(rowOf(valueArb), { minLength: 1, maxLength: s.maxPersonRows, size: 'max' }),
      fc.array(rowOf(heavyValueArb), { minLength: m + 1, maxLength: s.maxPersonRows, size: 'max' }),
    ),
    seed: fc.integer({ min: -1000, max: 1000 }).map((x) => x / 1000),
  });
}

// ---------- the engine's statistics ----------

/** Statistic components keyed by name: measurement names, `bin:i`, or histogram keys. */
type Stats = Map<string, bigint>;

function statsOf(plan: Plan, rows: Record<string, unknown>[]): Stats {
  const out: Stats = new Map();
  if (plan.aggregate === 'histogram') {
    for (const r of rows) out.set(plan.by.map((_, i) => String(r[`k${i}`])).join('\u0000'), BigInt(String(r.n)));
  } else if (plan.aggregate === 'quantile') {
    for (const r of rows) out.set(`bin:${Number(r.bin)}`, BigInt(String(r.n)));
  } else {
    for (const [k, v] of Object.entries(rows[0] ?? {})) out.set(k, BigInt(String(v)));
  }
  return out;
}

function diffOf(withP: Stats, without: Stats): Stats {
  const d: Stats = new Map();
  for (const k of new Set([...withP.keys(), ...without.keys()])) {
    const x = (withP.get(k) ?? 0n) - (without.get(k) ?? 0n);
    if (x !== 0n) d.set(k, x);
  }
  return d;
}

const abs = (x: bigint) => (x < 0n ? -x : x);
const l1 = (d: Stats) => [...d.values()].reduce((s, x) => s + abs(x), 0n);
const l2Squared = (d: Stats) => [...d.values()].reduce((s, x) => s + x * x, 0n);
const big = (n: number) => BigInt(Math.ceil(n));

/** Quantile utilities -|10000 rank_i - Q n| of every candidate, as release.ts computes them. */
function utilities(plan: Plan, stats: Stats): bigint[] {
  const qp = plan.quantile!;
  const counts = Array.from({ length: qp.bins }, (_, i) => stats.get(`bin:${i}`) ?? 0n);
  const n = counts.reduce((a, b) => a + b, 0n);
  const out: bigint[] = [];
  let rank = 0n;
  for (let i = 0; i < qp.bins; i++) {
    const d = 10000n * rank - BigInt(qp.Q) * n;
    out.push(d < 0n ? d : -d);
    rank += counts[i]!;
  }
  return out;
}

// ---------- what P can contribute, computed here from P's rows ----------

function passesFilters(plan: Plan, row: Row): boolean {
  return plan.filters.every((f) => {
    const v = row[f.column.sql];
    if (v === null || v === undefined) return false;
    switch (f.op) {
      case 'eq':
        return v === f.value;
      case 'in':
        return (f.value as (string | number)[]).includes(v);
      case 'gte':
        return (v as number) >= (f.value as number);
      case 'lte':
        return (v as number) <= (f.value as number);
    }
  });
}

/** The value on the integer release grid, clamped (SQL: gridValue in src/query/sql.ts). */
function gridValue(plan: Plan, v: number): bigint {
  const { g, lo, hi } = plan.grid!;
  const r = BigInt(Math.round(g === 1 ? v : v / g)); // no ties: offTie()
  return r < lo ? lo : r > hi ? hi : r;
}

/** Sum of the k smallest and of the k largest values: the range of any k-row selection's sum. */
function selectionRange(values: bigint[], k: number): [bigint, bigint] {
  const sorted = [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const sum = (xs: bigint[]) => xs.reduce((s, x) => s + x, 0n);
  return [sum(sorted.slice(0, k)), sum(sorted.slice(sorted.length - k))];
}

// ---------- the property ----------

const SQL_TYPE: Record<ColumnDeclaration['type'], string> = { id: 'text', text: 'text', categorical: 'text', integer: 'integer', float: 'double precision' };

describe('one person changes no SQL statistic beyond its declared sensitivity (fast-check)', { timeout: 300_000 }, () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(health, { dataDir: 'memory://' });
    // Histogram windows draw random() in the order grouped rows reach them: sorted (unit, key)
    // with group aggregation, but a hash table's order, which moves when P's groups are added,
    // with hash aggregation. Planner settings do not change any statement's result set.
    await db.exec('SET enable_hashagg = off');
  });
  after(async () => {
    await db?.close();
  });

  for (const s of scenarios) {
    test(s.label, async () => {
      const ds = s.dataset;
      const unit = ds.columns.find((c) => c.name === ds.privacyUnit)!;
      const tag = ds.columns.find((c) => c.name === s.tag)!;
      const m = ds.contribution.maxRowsPerUnit;
      const table = qualified(db, ds.table);
      // Bounding removed: the same requests on the dataset declared row-level (no window).
      const unbounded: DatasetDeclaration = { ...ds, privacyUnit: 'row', contribution: { maxRowsPerUnit: 1, maxGroupsPerUnit: 1 } };
      const plans = s.requests.map((req) => {
        const plan = planAggregate(s.domain, ds, req);
        const raw = planAggregate(s.domain, unbounded, req);
        assert.ok(plan.bounding.unit && !raw.bounding.unit);
        return { req, plan, raw };
      });
      const tagPlan = plans.find((p) => p.plan.aggregate === 'quantile' && p.plan.column?.name === s.tag)!.plan;
      assert.equal(tagPlan.quantile!.binWidth, 1n, 'the tag column has one bin per value');
      // Statistics whose declared bound the unbounded statements exceed in some case (the sanity check).
      const exceeded = new Set<string>();
      const expectedToExceed = new Set<string>();
      let cases = 0;

      const insert = async (rows: Row[]) => {
        if (rows.length === 0) return;
        const cols = ds.columns;
        const unnest = cols.map((c, i) => `$${i + 1}::${SQL_TYPE[c.type]}[]`).join(', ');
        await db.query(
          `INSERT INTO ${table} (${cols.map((c) => quoteIdent(c.sql)).join(', ')}) SELECT * FROM unnest(${unnest})`,
          cols.map((c) => rows.map((r) => r[c.sql] ?? null)),
        );
      };
      const measure = async (seed: number) => {
        const out: { bounded: Stats; raw: Stats }[] = [];
        for (const { plan, raw } of plans) {
          const stmt = statementFor(db, plan);
          await db.query('SELECT setseed($1)', [seed]);
          const bounded = statsOf(plan, await db.query<Record<string, unknown>>(stmt.sql, stmt.params));
          const rawStmt = statementFor(db, raw);
          out.push({ bounded, raw: statsOf(raw, await db.query<Record<string, unknown>>(rawStmt.sql, rawStmt.params)) });
        }
        return out;
      };

      await fc.assert(
        fc.asyncProperty(caseArb(s), async ({ units, person, seed }) => {
          cases++;
          // D: units' rows interleaved in the heap; every row tagged; then P's rows appended.
          const rowsOfD = units
            .flatMap((rows, u) => rows.map(({ row, pos }) => ({ row: { ...row, [unit.sql]: unitId(u) }, pos })))
            .sort((a, b) => a.pos - b.pos)
            .map(({ row }, i) => ({ ...row, [tag.sql]: i + 1 }));
          const rowsOfP = person.map((row, i) => ({ ...row, [unit.sql]: PERSON, [tag.sql]: rowsOfD.length + i + 1 }));
          assert.ok(rowsOfD.length + rowsOfP.length <= tag.bounds![1]);

          await db.exec(`DROP TABLE IF EXISTS ${table}; CREATE TABLE ${table} (${ds.columns.map((c) => `${quoteIdent(c.sql)} ${SQL_TYPE[c.type]}`).join(', ')})`);
          await insert(rowsOfD);
          const without = await measure(seed);
          await insert(rowsOfP);
          const withP = await measure(seed);

          plans.forEach(({ req, plan }, i) => {
            const what = JSON.stringify(req);
            const d = diffOf(withP[i]!.bounded, without[i]!.bounded);
            const rawD = diffOf(withP[i]!.raw, without[i]!.raw);
            const b = plan.bounding;

            if (plan === tagPlan) {
              // The coupling, checked: with the same seed every other unit keeps exactly the same
              // rows, and every unit (P included) contributes min(its rows, maxRowsPerUnit).
              for (let t = 1; t <= rowsOfD.length; t++) {
                const k = `bin:${t - 1}`;
                assert.equal(withP[i]!.bounded.get(k) ?? 0n, without[i]!.bounded.get(k) ?? 0n, `tag ${t}: another unit's selection moved when P was added`);
              }
              const perUnit = new Map<string, { rows: number; selected: bigint }>();
              for (const r of [...rowsOfD, ...rowsOfP]) {
                const e = perUnit.get(String(r[unit.sql])) ?? { rows: 0, selected: 0n };
                e.rows++;
                e.selected += withP[i]!.bounded.get(`bin:${Number(r[tag.sql]) - 1}`) ?? 0n;
                perUnit.set(String(r[unit.sql]), e);
              }
              for (const [u, e] of perUnit) assert.equal(e.selected, BigInt(Math.min(e.rows, m)), `unit ${u}: ${e.rows} rows, ${e.selected} selected`);
            }

            if (plan.aggregate === 'histogram') {
              // P's eligible rows per key, and the bounds the plan declares.
              const keysOfP = new Map<string, number>();
              for (const r of rowsOfP) {
                if (!passesFilters(plan, r)) continue;
                if (!plan.by.every((c) => (c.categories ? c.categories.includes(r[c.sql] as string) : r[c.sql] !== null))) continue;
                const k = plan.by.map((c) => String(r[c.sql])).join('\u0000');
                keysOfP.set(k, (keysOfP.get(k) ?? 0) + 1);
              }
              const l1Bound = plan.keySelection ? plan.keySelection.mechanism.sensitivity : sensitivityOf('groups', b);
              const l2Bound = l2SensitivityOf('groups', b);
              if (plan.measurements[0]) {
                const declared = plan.measurements[0].sensitivity;
                assert.equal(declared, plan.measurements[0].mechanism.kind === 'discreteGaussian' ? l2Bound : l1Bound);
              }
              assert.ok(l1(d) <= big(l1Bound), `${what}: l1 change ${l1(d)} > ${l1Bound}`);
              assert.ok(l2Squared(d) <= big(l2Bound) ** 2n, `${what}: l2 change sqrt(${l2Squared(d)}) > ${l2Bound}`);
              // And it is a change P can make: min(c, perGroup) on exactly min(#keys, maxGroups) of P's keys.
              for (const [k, x] of d) {
                assert.ok(keysOfP.has(k), `${what}: key ${JSON.stringify(k)} moved but P has no row there`);
                assert.equal(x, BigInt(Math.min(keysOfP.get(k)!, b.perGroup)), `${what}: key ${JSON.stringify(k)}`);
              }
              assert.equal(d.size, Math.min(keysOfP.size, b.maxGroups), `${what}: number of keys changed`);
              const name = plan.keySelection ? 'keySelection' : 'groups';
              expectedToExceed.add(`${name} l1`).add('groups l2');
              if (l1(rawD) > big(l1Bound)) exceeded.add(`${name} l1`);
              if (l2Squared(rawD) > big(l2Bound) ** 2n) exceeded.add('groups l2');
              return;
            }

            const col = plan.column;
            const eligible = rowsOfP.filter((r) => passesFilters(plan, r) && (!col || r[col.sql] !== null));
            const k = Math.min(eligible.length, m);

            if (plan.aggregate === 'quantile') {
              const binsOfP = new Map<string, bigint>();
              for (const r of eligible) {
                const bin = `bin:${(gridValue(plan, r[col!.sql] as number) - plan.grid!.lo) / plan.quantile!.binWidth}`;
                binsOfP.set(bin, (binsOfP.get(bin) ?? 0n) + 1n);
              }
              for (const [bin, x] of d) assert.ok(x > 0n && x <= (binsOfP.get(bin) ?? 0n), `${what}: ${bin} changed by ${x}`);
              assert.equal(l1(d), BigInt(k), `${what}: P adds min(n, m) rows to the bins`);
              const uWithout = utilities(plan, without[i]!.bounded);
              const uWith = utilities(plan, withP[i]!.bounded);
              const du = uWith.reduce((mx, u, j) => (abs(u - uWithout[j]!) > mx ? abs(u - uWithout[j]!) : mx), 0n);
              assert.ok(du <= big(plan.quantile!.sensitivity), `${what}: utility change ${du} > ${plan.quantile!.sensitivity}`);
              const uRawWithout = utilities(plan, without[i]!.raw);
              const uRaw = utilities(plan, withP[i]!.raw).map((u, j) => abs(u - uRawWithout[j]!));
              expectedToExceed.add('quantile utility');
              if (uRaw.some((x) => x > big(plan.quantile!.sensitivity))) exceeded.add('quantile utility');
              return;
            }

            const grid = plan.grid;
            const values = grid ? eligible.map((r) => gridValue(plan, r[col!.sql] as number)) : [];
            assert.ok(plan.measurements.length > 0);
            for (const meas of plan.measurements) {
              const x = d.get(meas.name) ?? 0n;
              assert.ok(abs(x) <= big(meas.sensitivity), `${what}: ${meas.name} changed by ${x} > ${meas.sensitivity}`);
              assert.equal(meas.sensitivity, sensitivityOf(meas.name, b, grid), `${what}: scalar l2 = l1`);
              // The change is a contribution P can make with k = min(n, m) of its rows.
              if (meas.name === 'count') assert.equal(x, BigInt(k), `${what}: count`);
              else if (meas.name === 'units') assert.equal(x, rowsOfP.some((r) => passesFilters(plan, r)) ? 1n : 0n, `${what}: units`);
              else {
                const per =
                  meas.name === 'sum' ? values : meas.name === 'centredSum' ? values.map((v) => v - grid!.mid) : values.map((v) => (v - grid!.mid) ** 2n);
                const [lo, hi] = selectionRange(per, k);
                assert.ok(lo <= x && x <= hi, `${what}: ${meas.name} changed by ${x}, outside [${lo}, ${hi}]`);
              }
              if (meas.name !== 'units') {
                expectedToExceed.add(meas.name);
                if (abs(rawD.get(meas.name) ?? 0n) > big(meas.sensitivity)) exceeded.add(meas.name);
              }
            }
          });
        }),
        { numRuns: s.numRuns },
      );

      // Sanity: without the window, one person moves every one of these beyond its declared bound
      // in some generated case, so the property above would fail if bounding were removed.
      assert.ok(cases >= s.numRuns);
      assert.deepEqual([...exceeded].sort(), [...expectedToExceed].sort(), 'statistics the unbounded statements never pushed past their bound');
    });
  }
});
