import { quoteIdent, statementsFor, type SqlTarget, type Statement } from '../../src/core/dialect/postgres.js';
import type { Plan } from '../../src/core/plan.js';
import { releaseTable, type RawResults } from '../../src/core/release.js';
import { answerOf, type Answer } from '../../src/query/release.js';
import type { DomainDatabase } from '../../src/storage/database.js';

/** The production dialect pointed at a test database, with the rank capability forced on or off. */
export function targetFor(db: DomainDatabase, ranked = false): SqlTarget {
  return {
    table: (ds) => `${quoteIdent(db.schema)}.${quoteIdent(ds.table)}`,
    scratch: (name) => `${quoteIdent(db.schema)}.${quoteIdent(name)}`,
    ranked: () => ranked,
  };
}

/** The statement of a plan's additive statistics (columns k0.. and one per statistic id). */
export function statementFor(db: DomainDatabase, plan: Plan, opts: { ranked?: boolean } = {}): Statement {
  return statementsFor(plan, targetFor(db, opts.ranked))[0]!;
}

/** Exact results of every statement of the plan. */
export async function exactOf(db: DomainDatabase, plan: Plan, opts: { ranked?: boolean } = {}): Promise<RawResults> {
  const raw: RawResults = {};
  for (const s of statementsFor(plan, targetFor(db, opts.ranked))) raw[s.id] = await db.query(s.sql, s.params);
  return raw;
}

/** The exact value of a plan's statistic of a given kind in an ungrouped plan. */
export function exactStat(raw: RawResults, plan: Plan, kind: string): string {
  const s = plan.statistics.find((x) => x.kind === kind)!;
  return String(raw.stats![0]![s.id]);
}

/** The released answer (noise added), as the typed fields see it. */
export async function answerOn(db: DomainDatabase, plan: Plan, opts: { ranked?: boolean } = {}): Promise<Answer> {
  return answerOf(releaseTable(plan, await exactOf(db, plan, opts)));
}
