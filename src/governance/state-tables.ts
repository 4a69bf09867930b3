/**
 * The tables a domain's node keeps its own state in (prisma/schema.prisma, Prisma's migration log,
 * the seeder's and the synthetic fits' `_cdm_*` tables). A dataset's table lives in the same schema,
 * and seeding drops and recreates it: a dataset named like one of these would destroy the state.
 * test/governance/state-tables.test.ts checks the list against the migrations.
 */
export const STATE_TABLES: readonly string[] = [
  'principal',
  'principal_budget',
  'global_budget',
  'budget_epoch',
  'ledger_entry',
  'release',
  'audit_entry',
  'audit_head',
  'policy',
  'synthetic_model',
  'trained_model',
  '_prisma_migrations',
];
const RESERVED_PREFIXES = ['_cdm', '_prisma'];

export const isStateTable = (table: string): boolean => STATE_TABLES.includes(table) || RESERVED_PREFIXES.some((p) => table.startsWith(p));
