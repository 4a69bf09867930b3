import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomains } from '../../src/domain/registry.js';
import { dpSqlText } from '../../src/pgwire/dataset.js';
import { WireError } from '../../src/pgwire/errors.js';
import { routeAll, type Route } from '../../src/pgwire/route.js';

/** Routing on PostgreSQL's own parse tree, and the text DP SQL receives. */
const domains = demoDomains();
const route = (sql: string, searchPath = 'public') => routeAll(sql, domains, searchPath);
const dataset = (sql: string, values: (string | null)[] = [], types: number[] = [], searchPath = 'public') => {
  const [r] = route(sql, searchPath);
  assert.equal(r!.kind, 'dataset');
  return dpSqlText(r as Extract<Route, { kind: 'dataset' }>, { values, types });
};

test('a schema-qualified dataset becomes the domain-local name; parameters become literals', () => {
  assert.equal(dataset('SELECT COUNT(*) FROM census.adults'), 'SELECT COUNT(*) FROM adults');
  assert.equal(dataset('select avg(age) from  "census" . "adults"  where sex = $1 and age >= $2', ['Fe\'male', '30'], [25, 23]), "select avg(age) from  adults  where sex = 'Fe''male' and age >= 30");
  // A number bound as text stays a string: the column decides, not the look of the value.
  assert.equal(dataset('SELECT COUNT(*) FROM census.adults WHERE income = $1', ['50'], [25]), "SELECT COUNT(*) FROM adults WHERE income = '50'");
  assert.equal(dataset('SELECT COUNT(*) FROM adults', [], [], 'census, public'), 'SELECT COUNT(*) FROM adults');
  assert.equal(dataset('EXPLAIN SELECT COUNT(*) FROM census.adults'), 'SELECT COUNT(*) FROM adults');
});

test('a NULL parameter is refused before anything runs', () => {
  assert.throws(() => dataset('SELECT COUNT(*) FROM census.adults WHERE sex = $1', [null], [25]), (e: WireError) => e.code === '22004');
});

test('catalog, settings and transaction control stay off the data path', () => {
  assert.deepEqual(route("SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname OPERATOR(pg_catalog.~) '^(census)$' COLLATE pg_catalog.default").map((r) => r.kind), ['catalog']);
  assert.deepEqual(route('SET cdm.epsilon = 0.5; SHOW cdm.error_bars; BEGIN; COMMIT; RESET ALL'), [
    { kind: 'set', name: 'cdm.epsilon', value: '0.5' },
    { kind: 'show', name: 'cdm.error_bars' },
    { kind: 'noop', tag: 'BEGIN' },
    { kind: 'noop', tag: 'COMMIT' },
    { kind: 'reset', name: null },
  ]);
  assert.deepEqual(route(''), [{ kind: 'empty' }]);
  // Not a dataset: a table named like one in a schema that is no domain.
  assert.equal(route('SELECT * FROM public.adults')[0]!.kind, 'catalog');
});

test('a sensitive domain gets the whole statement, every dataset name made domain-local; DP SQL decides', () => {
  assert.equal(dataset('SELECT COUNT(*) FROM health.visits v JOIN health.clinics c ON v.clinicId = c.id WHERE c.region = $1', ['north'], [25]), "SELECT COUNT(*) FROM visits v JOIN clinics c ON v.clinicId = c.id WHERE c.region = 'north'");
  assert.equal(dataset('WITH t AS (SELECT sex FROM census.adults) SELECT COUNT(*) FROM t'), 'WITH t AS (SELECT sex FROM adults) SELECT COUNT(*) FROM t');
});

test('across domains, or open data beyond a plain read: refused with 0A000 before anything runs', () => {
  for (const sql of [
    'SELECT COUNT(*) FROM census.adults a JOIN reference.clinics c ON true',
    'SELECT COUNT(*) FROM (SELECT * FROM reference.clinics) t',
    'SELECT id FROM reference.clinics UNION SELECT id FROM reference.clinics',
    'SELECT id FROM reference.clinics WHERE beds IN (SELECT beds FROM reference.clinics)',
  ])
    assert.throws(() => route(sql), (e: WireError) => e.code === '0A000', sql);
});

test('syntax errors are 42601 with the parser\'s message', () => {
  assert.throws(() => route('SELEC 1'), (e: WireError) => e.code === '42601' && /syntax error at or near "SELEC"/.test(e.message));
});
