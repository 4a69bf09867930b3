import type { Caller } from '../auth/tokens.js';
import { buildPlan, type Plan } from '../core/plan.js';
import { datasetsOf } from '../core/relation.js';
import type { PrivacyRequest } from '../core/privacy.js';
import { explainPlan, type QueryEngine } from '../query/engine.js';
import { compileSql } from './compile.js';
import { answerTable, type SqlTable } from './post.js';

/**
 * One DP SQL statement end to end: compile (refusals happen here, before any charge), then ONE
 * release of the whole statement through the engine (policy, charge, memo, compute), then
 * post-processing. With `explain`, the plan and its preview instead, without spending.
 */
export const SQL_KIND = 'sql';

export interface SqlAnswer {
  query: string;
  dataset: string;
  datasets: string[];
  table: SqlTable | null;
  epsilon: number;
  delta: number;
  mechanism: string;
  cached: boolean;
  releaseId: string | null;
  explain: Awaited<ReturnType<QueryEngine['preview']>> | null;
  /** The plan's relation as JSON (datasets by name). */
  relation: string;
}

export async function runSql(engine: QueryEngine, caller: Caller, query: string, privacy: PrivacyRequest | null | undefined, explain = false): Promise<SqlAnswer> {
  const compiled = compileSql(engine.domain, query, privacy);
  const base = (plan: Plan) => ({ query: compiled.normalized, dataset: plan.dataset.name, datasets: plan.datasets, epsilon: plan.epsilon, delta: plan.delta, mechanism: plan.mechanism, relation: relationJson(plan.relation) });
  if (explain) {
    const plan = buildPlan(compiled.spec);
    return { ...base(plan), table: null, cached: false, releaseId: null, explain: await engine.preview(caller, plan) };
  }
  // Planned once per request (by the operation-level check, keyed by this statement as asked).
  const r = await engine.runSpec(caller, compiled.spec, SQL_KIND, sqlQuery(compiled.normalized, privacy));
  return { ...base(r.plan), table: answerTable(compiled, r.table, r.plan.groupBy), cached: r.cached, releaseId: r.releaseId, explain: null };
}

/** A statement as the ledger records it (and as it identifies its plan within a request). */
const sqlQuery = (normalized: string, privacy: PrivacyRequest | null | undefined) => ({ sql: normalized, privacy: privacy ?? undefined });

/** The statement's plan item for the operation-level preflight (throws the same refusals). */
export function sqlOperationItem(engine: { domain: QueryEngine['domain'] }, query: string, privacy: PrivacyRequest | null | undefined) {
  const compiled = compileSql(engine.domain, query, privacy);
  return { dataset: datasetsOf(compiled.spec.relation)[0]!.name, spec: compiled.spec, kind: SQL_KIND, query: sqlQuery(compiled.normalized, privacy) };
}

export { explainPlan };

/** A relation as readable JSON: datasets by name, everything else as planned. */
export function relationJson(r: unknown): string {
  return JSON.stringify(r, (k, v) => ((k === 'dataset' || k === 'table') && v && typeof v === 'object' ? (v as { name: string }).name : v));
}
