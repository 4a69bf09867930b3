import { statementsFor } from '../core/dialect/postgres.js';
import type { Plan } from '../core/plan.js';
import { releaseTable, type RawResults, type ReleasedTable } from '../core/release.js';
import type { DataSource } from './datasource.js';

/** The exact per-group aggregates of a plan's statements (never leave the process un-noised). */
export async function exactResults(data: DataSource, plan: Plan): Promise<RawResults> {
  await data.prepare(plan.schema.datasets);
  const raw: RawResults = {};
  for (const stmt of statementsFor(plan, data.target())) raw[stmt.id] = await data.query(stmt.sql, stmt.params);
  return raw;
}

/** Runs a plan on its data source and releases the noisy table (called only after the charge). */
export async function computeRelease(data: DataSource, plan: Plan): Promise<ReleasedTable> {
  return releaseTable(plan, await exactResults(data, plan));
}
