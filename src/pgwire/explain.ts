import type { DomainDeclaration } from '../domain/declaration.js';
import { itemPrivacy, parseDpSql } from '../query/dpsql.js';
import { enumValue, names } from '../subgraph/naming.js';
import type { DatasetContext } from './dataset.js';
import { Oid } from './protocol.js';
import type { WireResult } from './results.js';

/**
 * EXPLAIN of a DP query: what each release would spend and its expected error, from the domain's
 * `estimate` field (no data read, nothing charged). DP SQL's own parser (the same one the `sql`
 * field runs) turns the query into its releases, so the plan is the one `sql` would execute.
 */
interface Estimate {
  epsilon: number;
  delta: number;
  mechanism: string;
  standardError: number | null;
  halfWidth95: number | null;
  epsilonCharged: number;
  fitsBudget: boolean;
  remainingAfter: number;
  note: string;
}

export async function explainDp(domain: DomainDeclaration, sql: string, ctx: DatasetContext): Promise<WireResult> {
  const plan = parseDpSql(domain, sql);
  const privacy = itemPrivacy(domain, ctx.privacy, plan.items.length);
  const n = names(domain).dataset(plan.dataset);
  const vars: string[] = ['$p: PrivacyInput', `$w: ${n.where}`];
  const fields = plan.items.map((it, i) => {
    const r = it.request;
    const col = r.column ? `column: ${enumValue(r.column)}, ` : '';
    const q = r.q !== undefined ? `q: ${r.q}, ` : '';
    const by = r.by?.length ? `by: [${r.by.map(enumValue).join(', ')}], ` : '';
    return `e${i}: estimate(aggregate: ${r.aggregate}, ${col}${q}${by}where: $w, privacy: $p) { epsilon delta mechanism standardError halfWidth95 epsilonCharged fitsBudget remainingAfter note }`;
  });
  const where = plan.items[0]?.request.where ?? {};
  const data = await ctx.gql<Record<string, Record<string, Record<string, Estimate>>>>(
    `query PgWireExplain(${vars.join(', ')}) { ${domain.name} { ${plan.dataset.name} { ${fields.join(' ')} } } }`,
    { p: privacy, w: where },
    ctx.token,
    ctx.timeoutMs,
  );
  const est = data[domain.name]![plan.dataset.name]!;
  const lines = plan.items.map((it, i) => {
    const e = est[`e${i}`]!;
    const error = e.standardError === null ? 'error depends on the data' : `standard error ${fmt(e.standardError)}${e.halfWidth95 === null ? '' : `, 95% half-width ${fmt(e.halfWidth95)}`}`;
    return `${it.label}: ${it.request.aggregate} over ${domain.name}.${plan.dataset.table}; epsilon ${fmt(e.epsilon)} (charged ${fmt(e.epsilonCharged)}), delta ${e.delta}, ${e.mechanism}; ${error}; ${e.fitsBudget ? 'fits your budget' : 'does NOT fit your budget'} (remaining after: ${fmt(e.remainingAfter)}). ${e.note}`;
  });
  const total = plan.items.reduce((a, _, i) => a + est[`e${i}`]!.epsilonCharged, 0);
  lines.push(`total: ${plan.items.length} DP release(s), epsilon ${fmt(total)} charged if run now (nothing was run or charged by EXPLAIN)`);
  return { fields: [{ name: 'QUERY PLAN', oid: Oid.text }], rows: lines.map((l) => [l]), releaseIds: [] };
}

const fmt = (x: number) => String(Number(x.toPrecision(4)));
