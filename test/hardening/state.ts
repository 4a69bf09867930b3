import type { TestMesh } from '../helpers/mesh.js';

/**
 * What a refused request must leave untouched: every sensitive domain's ledger, releases, budget
 * rows, principals and synthetic models (counts and the sum of what was charged).
 */
export async function spendState(m: TestMesh): Promise<string> {
  const parts: string[] = [];
  for (const h of m.mesh.inProcess) {
    if (h.domain.sensitivity !== 'sensitive') continue;
    const s = `"${h.db.schema}"`;
    const [row] = await h.db.query<Record<string, unknown>>(
      `SELECT (SELECT count(*) FROM ${s}."ledger_entry")::int AS ledger,
              (SELECT count(*) FROM ${s}."release")::int AS releases,
              (SELECT count(*) FROM ${s}."principal_budget")::int AS budgets,
              (SELECT count(*) FROM ${s}."principal")::int AS principals,
              (SELECT count(*) FROM ${s}."synthetic_model")::int AS models,
              (SELECT md5(coalesce(string_agg(principal_id || spent::text, ',' ORDER BY principal_id), '')) FROM ${s}."principal_budget") AS spent,
              (SELECT md5(coalesce(string_agg(spent::text, ',' ORDER BY 1), '')) FROM ${s}."global_budget") AS global`,
    );
    parts.push(`${h.domain.name}:${JSON.stringify(row)}`);
  }
  return parts.join(' ');
}
