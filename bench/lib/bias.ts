import type { Plan } from '../../src/core/plan.js';
import { releaseTable } from '../../src/core/release.js';
import { domainDataSource } from '../../src/query/datasource.js';
import { exactResults } from '../../src/query/execute.js';
import { planAggregate } from '../../src/query/plan.js';
import type { DomainDatabase } from '../../src/storage/database.js';
import { health } from './datasets.js';
import { aggregateRequest, rawStatement, visits, type Agg } from './queries.js';

/**
 * Bounding bias: what contribution bounding and clamping alone do to an answer, without noise.
 * The bounded side is the engine's own path (planAggregate, then exactResults runs the plan's
 * statements from the dialect's statementsFor on the domain's data source, then releaseTable)
 * with the noise taken out; nothing here writes a second bounding. The plain side is the plain SQL
 * aggregate of section 1. Both are exact, so their difference is bias, not noise.
 */
export interface Bias {
  /** (bounded - plain) / plain; for a histogram, over the sum of its buckets. */
  relative: number;
  /** A histogram's bucket furthest from its plain count, relatively (scalars: = relative). */
  worstBucket: number;
  bounded: number;
  plain: number;
}

const SEP = '\u0000';

/** Identity noise (each statistic's mechanism answers its exact value) and quantile selections
 * at an epsilon so large that permute-and-flip always accepts a best grid point. */
function noiseless(plan: Plan): Plan {
  return {
    ...plan,
    statistics: plan.statistics.map((s) => ({ ...s, mechanism: Object.assign(Object.create(s.mechanism) as typeof s.mechanism, { addNoise: (x: bigint) => x }) })),
    quantiles: plan.quantiles.map((q) => ({ ...q, epsilon: 1e9 })),
  };
}

/** The noise-free bounded answer, by bucket ('' for a scalar). */
async function boundedExact(db: DomainDatabase, a: Agg, epsilon: number): Promise<Map<string, number>> {
  const data = domainDataSource(db);
  await data.prepare([visits()]);
  const plan = planAggregate(health(), visits(), aggregateRequest(a, epsilon), { [visits().name]: data.version(visits()) });
  const table = releaseTable(noiseless(plan), await exactResults(data, plan));
  return new Map(table.rows.map((r) => [r.key.join(SEP), r.values[0]!.value]));
}

async function plainExact(db: DomainDatabase, a: Agg): Promise<Map<string, number>> {
  const st = rawStatement(db, a);
  const rows = await db.query<Record<string, string | number | null>>(st.sql, st.params);
  if (a !== 'histogram') return new Map([['', Number(Object.values(rows[0]!)[0])]]);
  return new Map(rows.filter((r) => r.k0 != null && r.k1 != null).map((r) => [`${r.k0}${SEP}${r.k1}`, Number(r.n)]));
}

export async function boundingBias(db: DomainDatabase, a: Agg, epsilon: number): Promise<Bias> {
  const [bounded, plain] = [await boundedExact(db, a, epsilon), await plainExact(db, a)];
  const sum = (m: Map<string, number>) => [...m.values()].reduce((s, v) => s + v, 0);
  const rel = (b: number, p: number) => (p === 0 ? (b === 0 ? 0 : Infinity) : (b - p) / p);
  const buckets = [...plain].map(([k, p]) => rel(bounded.get(k) ?? 0, p));
  const worstBucket = buckets.reduce((w, r) => (Math.abs(r) > Math.abs(w) ? r : w), 0);
  return { relative: rel(sum(bounded), sum(plain)), worstBucket, bounded: sum(bounded), plain: sum(plain) };
}
