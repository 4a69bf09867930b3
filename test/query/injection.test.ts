import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { demoDomain } from '../../src/domain/registry.js';
import { MeshError } from '../../src/errors.js';
import { planAggregate } from '../../src/query/plan.js';
import { statementFor } from '../helpers/plan.js';
import type { AggregateRequest } from '../../src/query/types.js';
import { seedDomain } from '../../src/seed/seed.js';
import { openDomainDatabase, qualified, type DomainDatabase } from '../../src/storage/database.js';

/** Hostile strings in every string argument: refused with BAD_USER_INPUT, or bound as parameters. */
const census = demoDomain('census');
const adults = census.datasets[0]!;
const HOSTILE = [`age; DROP TABLE adults; --`, `"age"`, `age) OR (1=1`, `' OR '1'='1`, `x'); DELETE FROM adults; --`, '\u0000', 'a'.repeat(5000)];

describe('SQL injection', { timeout: 60_000 }, () => {
  let db: DomainDatabase;
  before(async () => {
    db = await openDomainDatabase(census, { dataDir: 'memory://' });
    await seedDomain(db, census);
  });
  after(async () => db.close());

  const refused = (req: AggregateRequest) =>
    assert.throws(() => planAggregate(census, adults, req), (e: unknown) => e instanceof MeshError && e.extensions.code === 'BAD_USER_INPUT');

  test('hostile column names, grouping columns and filter keys are refused before any SQL', () => {
    for (const h of HOSTILE) {
      refused({ aggregate: 'sum', column: h });
      refused({ aggregate: 'quantile', column: h, q: 0.5 });
      refused({ aggregate: 'histogram', by: [h] });
      refused({ aggregate: 'count', where: { [h]: { eq: 1 } } });
      refused({ aggregate: 'count', where: { sex: { eq: h } } }); // not in the public list
      refused({ aggregate: 'count', where: { age: { eq: h as never } } }); // not a number
    }
  });

  test('hostile values on a column without a public list travel as parameters and match nothing', async () => {
    for (const h of HOSTILE.filter((x) => x.length <= 200 && x !== '\u0000')) {
      const plan = planAggregate(census, adults, { aggregate: 'count', where: { nativeCountry: { in: [h, 'Nowhere'] } }, privacy: { epsilon: 1 } });
      const stmt = statementFor(db, plan);
      assert.ok(!stmt.sql.includes(h), 'the value is not in the SQL text');
      const [row] = await db.query<Record<string, string>>(stmt.sql, stmt.params);
      assert.equal(row![plan.statistics[0]!.id], '0');
    }
    const [n] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${qualified(db, 'adults')}`);
    assert.equal(n!.n, 30162, 'the table is intact');
  });
});
