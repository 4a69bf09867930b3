import type { ReleasedTable, DpValue } from '../core/release.js';

/**
 * The typed GraphQL fields' view of a released table: one value (count, sum, ...) or one count
 * per bucket (histogram). Post-processing only.
 */
export type { DpValue } from '../core/release.js';
export type Answer = { kind: 'scalar'; value: DpValue } | { kind: 'histogram'; buckets: { key: string[]; count: DpValue }[] };

export function answerOf(table: ReleasedTable): Answer {
  if (table.groupBy.length > 0) return { kind: 'histogram', buckets: table.rows.map((r) => ({ key: r.key, count: r.values[0]! })) };
  return { kind: 'scalar', value: table.rows[0]!.values[0]! };
}
