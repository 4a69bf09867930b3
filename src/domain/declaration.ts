import { z } from 'zod';
import { isStateTable } from '../governance/state-tables.js';

/**
 * A domain is declared, not coded (SPEC section 3). This file is the declaration's type and its
 * validation: a platform team writes a `DomainDeclaration`, and the subgraph, its SDL, its catalog
 * and its DP query surface all follow from it. Validation runs at start and names the bad field.
 */

const identifier = z
  .string()
  .regex(/^[a-z][a-zA-Z0-9]{0,40}$/, 'must be a camelCase identifier (letters and digits, starting lower-case)');
const sqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier');
const text = z.string().trim().min(3, 'must describe the thing (at least 3 characters)').max(2000);

export const ColumnSchema = z
  .object({
    /** GraphQL name of the column (row field, enum value source). */
    name: identifier,
    /** Column in the database table; defaults to the snake_case of `name`. */
    sql: sqlIdentifier.optional(),
    /** Header in the source CSV, when loaded from one. */
    source: z.string().optional(),
    type: z.enum(['integer', 'float', 'categorical', 'text', 'id']),
    description: text,
    unit: z.string().max(40).optional(),
    /** PUBLIC bounds of a numeric column (from documentation, never from the data). */
    bounds: z.tuple([z.number(), z.number()]).optional(),
    /** PUBLIC category list of a categorical column. Absent: keys need DP key selection. */
    categories: z.array(z.string().min(1).max(200)).min(1).max(1000).optional(),
    /** Public granularity at which real values are released (numeric columns); default 1 for integers. */
    granularity: z.number().positive().optional(),
    /**
     * The column is an attribute of the privacy unit (the same value on all of a unit's rows, e.g.
     * a patient's age). A speed hint for bounding only (src/core/dialect/postgres.ts, rankedRows):
     * never trusted for privacy; if the data disagrees, filtered answers keep fewer rows.
     */
    perUnit: z.boolean().optional(),
    /**
     * PUBLIC binning of a numeric column for synthetic data (from documentation, never from the
     * data; see src/synth/columns.ts): point masses with their own code, and bin edges or a scale.
     */
    synthetic: z
      .object({
        specialValues: z.array(z.number()).max(20).optional(),
        binEdges: z.array(z.number()).min(1).max(1000).optional(),
        scale: z.enum(['linear', 'log']).optional(),
        bins: z.number().int().min(1).max(1000).optional(),
      })
      .strict()
      .optional(),
  })
  .superRefine((c, ctx) => {
    const numeric = c.type === 'integer' || c.type === 'float';
    if (numeric && c.bounds === undefined)
      ctx.addIssue({ code: 'custom', path: ['bounds'], message: 'a numeric column needs public bounds' });
    if (c.bounds && !(c.bounds[0] < c.bounds[1]))
      ctx.addIssue({ code: 'custom', path: ['bounds'], message: 'lower bound must be below upper bound' });
    if (!numeric && c.bounds)
      ctx.addIssue({ code: 'custom', path: ['bounds'], message: 'only numeric columns have bounds' });
    if (c.type !== 'categorical' && c.categories)
      ctx.addIssue({ code: 'custom', path: ['categories'], message: 'only categorical columns have categories' });
    if (c.categories && new Set(c.categories).size !== c.categories.length)
      ctx.addIssue({ code: 'custom', path: ['categories'], message: 'categories must be distinct' });
    if (c.type === 'integer' && c.bounds && !c.bounds.every(Number.isInteger))
      ctx.addIssue({ code: 'custom', path: ['bounds'], message: 'an integer column needs integer bounds' });
    if (c.synthetic && !(numeric && c.bounds)) ctx.addIssue({ code: 'custom', path: ['synthetic'], message: 'only numeric columns have a synthetic binning' });
    else if (c.synthetic) {
      const [lo, hi] = c.bounds!;
      const inside = (xs: number[] | undefined) => (xs ?? []).every((x) => x >= lo && x <= hi);
      const increasing = (xs: number[] | undefined) => (xs ?? []).every((x, i, a) => i === 0 || x > a[i - 1]!);
      if (!inside(c.synthetic.specialValues) || !increasing(c.synthetic.specialValues))
        ctx.addIssue({ code: 'custom', path: ['synthetic', 'specialValues'], message: 'must be increasing and within the bounds' });
      if (!inside(c.synthetic.binEdges) || !increasing(c.synthetic.binEdges))
        ctx.addIssue({ code: 'custom', path: ['synthetic', 'binEdges'], message: 'must be increasing and within the bounds' });
      if (c.synthetic.binEdges && (c.synthetic.scale || c.synthetic.bins))
        ctx.addIssue({ code: 'custom', path: ['synthetic'], message: 'give binEdges, or scale and bins, not both' });
    }
  });

const SourceSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('csv'),
    /**
     * CSV with a header row, plain or gzipped (detected from the content). A relative path is
     * relative to the declaration file's folder (src/domain/loader.ts resolves it at load).
     */
    file: z.string().min(1),
    /** Header columns of the file that are not declared and are skipped (anything else is an error). */
    ignore: z.array(z.string()).optional(),
  }),
  z.object({
    /**
     * Existing data: `table` names a table or view that already lives in the domain's own database
     * schema and is never copied or dropped. `cdm domain prepare` adds the load-time rank to a table
     * (src/seed/prepare.ts); without it, queries bound contributions per query.
     */
    kind: z.literal('table'),
  }),
  z.object({
    kind: z.literal('generated'),
    /** Name of a registered generator (src/seed/generators.ts). */
    generator: z.string().min(1),
    rows: z.number().int().positive(),
    seed: z.number().int(),
  }),
]);

export const DatasetSchema = z
  .object({
    name: identifier,
    title: z.string().min(1).max(100),
    table: sqlIdentifier,
    description: text,
    /** Column naming the protected person, or "row" when one row is one person. */
    privacyUnit: z.string().min(1),
    /**
     * 'public': the rows themselves are public (e.g. reference data replicated into a sensitive
     * domain), so DP SQL may join a sensitive dataset to it on its declared `key`. Default: the
     * domain's sensitivity decides.
     */
    access: z.enum(['public']).optional(),
    contribution: z.object({
      maxRowsPerUnit: z.number().int().min(1).max(10_000),
      maxGroupsPerUnit: z.number().int().min(1).max(1_000),
    }),
    /** Primary key column (open datasets: cursor pagination and entity key). */
    key: identifier.optional(),
    source: SourceSchema,
    columns: z.array(ColumnSchema).min(1),
  })
  .superRefine((d, ctx) => {
    const names = d.columns.map((c) => c.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['columns'], message: `column "${dup}" is declared twice` });
    if (d.privacyUnit !== 'row' && !names.includes(d.privacyUnit))
      ctx.addIssue({ code: 'custom', path: ['privacyUnit'], message: `"${d.privacyUnit}" is not a declared column (or "row")` });
    if (d.key && !names.includes(d.key))
      ctx.addIssue({ code: 'custom', path: ['key'], message: `"${d.key}" is not a declared column` });
    if (isStateTable(d.table))
      ctx.addIssue({ code: 'custom', path: ['table'], message: `"${d.table}" is one of the node's own state tables; choose another table name` });
    if (d.access === 'public' && (d.privacyUnit !== 'row' || !d.key))
      ctx.addIssue({ code: 'custom', path: ['access'], message: 'a public dataset has privacyUnit "row" and a declared key' });
    if (d.privacyUnit === 'row' && d.contribution.maxRowsPerUnit !== 1)
      ctx.addIssue({ code: 'custom', path: ['contribution', 'maxRowsPerUnit'], message: 'must be 1 when the privacy unit is the row' });
  });

const CapSchema = z.object({ epsilon: z.number().positive().max(1000), delta: z.number().min(0).lt(1) });

export const DomainSchema = z
  .object({
    name: identifier,
    title: z.string().min(1).max(100),
    description: text,
    owner: z.object({ team: z.string().min(1), contact: z.string().min(3) }),
    sensitivity: z.enum(['open', 'sensitive']),
    /** PostgreSQL schema holding this domain's tables and state; default `cdm_<name>`. */
    databaseSchema: sqlIdentifier.optional(),
    policy: z.object({
      defaultBudget: CapSchema,
      globalCap: CapSchema,
      maxEpsilonPerQuery: z.number().positive(),
      defaultEpsilon: z.number().positive(),
      defaultDelta: z.number().min(0).lt(1),
      allowedAggregates: z.array(z.string()).optional(),
      rateLimitPerMinute: z.number().int().positive().optional(),
      /** Roles whose tokens may query this domain (besides its admins); default ["analyst"] (src/auth/authorise.ts). */
      queryRoles: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/)).min(1).optional(),
    }),
    datasets: z.array(DatasetSchema).min(1),
  })
  .superRefine((d, ctx) => {
    const names = d.datasets.map((x) => x.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) ctx.addIssue({ code: 'custom', path: ['datasets'], message: `dataset "${dup}" is declared twice` });
    if (d.policy.defaultEpsilon > d.policy.maxEpsilonPerQuery)
      ctx.addIssue({ code: 'custom', path: ['policy', 'defaultEpsilon'], message: 'exceeds maxEpsilonPerQuery' });
  });

export type DomainDeclarationInput = z.input<typeof DomainSchema>;
export type ColumnDeclaration = z.output<typeof ColumnSchema> & { sql: string };
export type DatasetDeclaration = Omit<z.output<typeof DatasetSchema>, 'columns'> & { columns: ColumnDeclaration[] };
export type DomainDeclaration = Omit<z.output<typeof DomainSchema>, 'datasets'> & {
  databaseSchema: string;
  datasets: DatasetDeclaration[];
};

export class DeclarationError extends Error {}

const snake = (s: string) => s.replace(/[A-Z]/g, (m) => '_' + m.toLowerCase());

/** Validates a declaration; throws a DeclarationError naming the domain and every bad field. */
export function validateDomain(input: unknown): DomainDeclaration {
  const parsed = DomainSchema.safeParse(input);
  if (!parsed.success) {
    const name = typeof (input as { name?: unknown })?.name === 'string' ? (input as { name: string }).name : '?';
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new DeclarationError(`Invalid domain declaration "${name}":\n${lines.join('\n')}`);
  }
  const d = parsed.data;
  return {
    ...d,
    databaseSchema: d.databaseSchema ?? `cdm_${snake(d.name)}`,
    datasets: d.datasets.map((ds) => ({
      ...ds,
      columns: ds.columns.map((c) => ({ ...c, sql: c.sql ?? snake(c.name) })),
    })),
  };
}

export const isNumeric = (c: ColumnDeclaration) => c.type === 'integer' || c.type === 'float';
export const isCategorical = (c: ColumnDeclaration) => c.type === 'categorical';
export const columnOf = (ds: DatasetDeclaration, name: string) => ds.columns.find((c) => c.name === name);
