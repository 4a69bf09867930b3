import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { MeshError } from '../../src/errors.js';
import { parseDpSql } from '../../src/query/dpsql.js';

const census = demoDomain('census');
const health = demoDomain('health');

test('DP SQL rewrites a query into planned aggregate requests', () => {
  const p = parseDpSql(census, `SELECT COUNT(*) AS n, AVG(age), QUANTILE(hoursPerWeek, 0.9) FROM adults WHERE sex = 'Female' AND age BETWEEN 30 AND 40 AND race IN ('White', 'Black') AND educationNum > 12`);
  assert.equal(p.dataset.name, 'adults');
  assert.deepEqual(p.items.map((i) => [i.label, i.request.aggregate, i.request.column ?? null, i.request.q ?? null]), [
    ['n', 'count', null, null],
    ['avg_age', 'mean', 'age', null],
    ['quantile_hoursPerWeek', 'quantile', 'hoursPerWeek', 0.9],
  ]);
  assert.deepEqual(p.items[0]!.request.where, { sex: { eq: 'Female' }, age: { gte: 30, lte: 40 }, race: { in: ['White', 'Black'] }, educationNum: { gte: 13 } });
});

test('GROUP BY with COUNT(*) is a histogram; COUNT(DISTINCT unit) counts people', () => {
  const h = parseDpSql(census, 'select race, sex, count(*) from adults group by race, sex');
  assert.deepEqual(h.items.map((i) => i.request), [{ aggregate: 'histogram', by: ['race', 'sex'], where: {} }]);
  const u = parseDpSql(health, 'SELECT COUNT(DISTINCT patientId) AS patients FROM visits WHERE department = \'oncology\';');
  assert.equal(u.items[0]!.request.aggregate, 'countDistinct');
});

test('what cannot be bounded is refused with a precise BAD_USER_INPUT', () => {
  const cases: [string, RegExp][] = [
    ['SELECT age FROM adults', /neither aggregated nor in GROUP BY|select at least one aggregate/],
    ['SELECT COUNT(*) FROM adults JOIN x', /JOIN, ORDER BY, LIMIT/],
    ['SELECT SUM(age) FROM adults GROUP BY sex', /only COUNT\(\*\) is supported/],
    ['SELECT MAX(age) FROM adults', /MAX is not a supported aggregate/],
    ['SELECT COUNT(*) FROM adults WHERE age <> 3', /<> is not supported/],
    ['SELECT COUNT(*) FROM adults WHERE sex = \'F\' OR sex = \'M\'', /OR is not supported/],
    ['SELECT COUNT(*) FROM nope', /no dataset "nope"/],
    ['SELECT COUNT(age) FROM visits', /not a column of adults|COUNT\(DISTINCT/],
    ['SELECT COUNT(*) FROM adults; DROP TABLE adults', /unexpected input after the query/],
    ['SELECT COUNT(*) FROM adults WHERE age = 1 + 1', /unexpected character|unexpected input/],
    ["SELECT COUNT(*) FROM adults WHERE sex = 'x''); DROP TABLE adults; --'", /./],
  ];
  for (const [sql, re] of cases) {
    assert.throws(
      () => {
        const p = parseDpSql(sql.includes('visits') ? health : census, sql);
        // A syntactically fine query with a hostile value only reaches the planner as a parameter.
        if (p.items.length) throw new MeshError('BAD_USER_INPUT', 'planner would validate the value');
      },
      (e: unknown) => e instanceof MeshError && e.extensions.code === 'BAD_USER_INPUT' && re.test(e.message),
      sql,
    );
  }
});
