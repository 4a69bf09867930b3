import { createHash } from 'node:crypto';
import type { Caller } from '../auth/tokens.js';
import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import { badInput, ErrorCode, MeshError } from '../errors.js';
import { PolicyCache, type EffectivePolicy } from '../governance/policy.js';
import { log } from '../log.js';
import { quoteIdent, type DomainDatabase } from '../storage/database.js';
import { codeCount, defaultFitDelta, describe, fit, numericBinning, numericCodeSql, planFit, rhoFromEpsilonDelta, sampleRange, shapeOf, valueOf, type Domain, type NumericBinning, type SynthModel } from '../synth/index.js';
import { keyedRandom, type StreamKey } from '../synth/rng.js';
import { relationStatement } from '../core/dialect/postgres.js';
import { not, and } from '../core/predicate.js';
import { RelationBuilder, type Relation } from '../core/relation.js';
import { analyse } from '../core/stability.js';
import { checkPolicy, ReleaseLifecycle } from './lifecycle.js';
import { domainDataSource, type DataSource } from './datasource.js';
import type { PrivacyRequest } from './types.js';
import { validatePrivacyInput } from '../core/privacy-input.js';

/**
 * DP synthetic data for a sensitive dataset (SPEC section 5): the public discretisation of its
 * columns, a marginal oracle that is a GROUP BY over contribution-bounded rows (so fitting never
 * loads the table into Node), one charge per (dataset, epsilon, delta) fit, a stored model that is
 * reused after restart, and free, seedable sampling back to rows with the dataset's columns.
 */

/** A synthesised column: its public codes and how codes map back to values. */
interface SynthColumn {
  column: ColumnDeclaration;
  size: number;
  categories?: string[];
  binning?: NumericBinning;
}

export const MAX_SYNTHETIC_ROWS = 1_000_000;
const METHOD = 'aim';
/** Scratch tables of fits in progress (dropped after each fit; leftovers are dropped at start). */
export const SCRATCH_PREFIX = '_cdm_synth_';

/**
 * Columns that can be synthesised from public information only: categorical with a public list,
 * numeric on public bounds and the column's declared binning (src/synth/columns.ts).
 * Identifiers, free text and categories without a public list are left out (returned as null).
 */
export function synthColumns(ds: DatasetDeclaration): SynthColumn[] {
  const out: SynthColumn[] = [];
  for (const c of ds.columns) {
    if (c.name === ds.privacyUnit) continue;
    if (c.type === 'categorical' && c.categories) out.push({ column: c, size: c.categories.length, categories: c.categories });
    if (c.type === 'integer' || c.type === 'float') {
      const binning = numericBinning(c);
      out.push({ column: c, size: codeCount(binning), binning });
    }
  }
  return out;
}

/** SQL for a column's code, the same coding as src/synth/columns.ts codeOf. */
function codeSql(s: SynthColumn, params: unknown[]): string {
  const col = quoteIdent(s.column.sql);
  if (s.categories) {
    params.push(s.categories);
    return `(array_position($${params.length}::text[], ${col}::text) - 1)`;
  }
  return numericCodeSql(col, s.binning!, params);
}

/**
 * The rows a fit reads, as a plan-IR relation: the dataset's rows that have every synthesised
 * column, bounded to the declared rows per unit. Its stability map gives the fit's contribution
 * bound (the marginals' sensitivity), so the fit's privacy follows from the same core as any query.
 */
export function fitRelation(ds: DatasetDeclaration, cols: SynthColumn[]): { relation: Relation; rowsPerUnit: number } {
  const present = and(...cols.map((c) => not({ op: 'isNull', column: c.column.name })));
  const unbounded = RelationBuilder.from(ds).filter(present);
  const maxRows = ds.privacyUnit === 'row' ? 1 : ds.contribution.maxRowsPerUnit;
  const { relation, schema } = analyse(unbounded.bound(maxRows).relation);
  return { relation, rowsPerUnit: schema.contribution.rows };
}

/**
 * The contribution-bounded rows, coded, materialised once per fit into a narrow scratch table: every
 * marginal is then a GROUP BY over the same bounded sample (consistent), and the bounding runs once
 * instead of once per marginal.
 */
async function materialise(data: DataSource, ds: DatasetDeclaration, cols: SynthColumn[], id: string): Promise<string> {
  const target = data.target();
  const table = target.scratch(scratchName(id));
  const { relation } = fitRelation(ds, cols);
  const bounded = relationStatement(relation, target);
  const params = [...bounded.params];
  const codes = cols.map((c, i) => `${codeSql(c, params)} AS c${i}`).join(', ');
  await data.query(`DROP TABLE IF EXISTS ${table}`);
  await data.query(`CREATE UNLOGGED TABLE ${table} (${cols.map((_, i) => `c${i} integer`).join(', ')})`);
  await data.query(`INSERT INTO ${table} SELECT * FROM (SELECT ${codes} FROM (${bounded.sql}) b) s WHERE ${cols.map((_, i) => `c${i} IS NOT NULL`).join(' AND ') || 'TRUE'}`, params);
  return table;
}

const scratchName = (releaseId: string) => `${SCRATCH_PREFIX}${releaseId.replace(/[^a-z0-9]/g, '')}`;

/**
 * Drops the scratch tables of fits that are not running any more (a process that died mid-fit
 * leaves its table behind): every scratch table of this DataSource but those of the `live` releases.
 */
export async function dropLeakedScratchTables(data: DataSource, live: readonly string[]): Promise<string[]> {
  const target = data.target();
  const keep = new Set(live.map((id) => target.scratch(scratchName(id))));
  const rows = await data.query<{ schema: string; name: string }>(
    `SELECT schemaname AS schema, tablename AS name FROM pg_tables WHERE tablename LIKE $1`,
    [`${SCRATCH_PREFIX.replace(/_/g, '\\_')}%`],
  );
  // Only the tables this DataSource would name (its own schema), never another domain's.
  const leaked = rows.map((r) => target.scratch(r.name)).filter((t, i) => t === `"${rows[i]!.schema}"."${rows[i]!.name}"` && !keep.has(t));
  for (const table of leaked) await data.query(`DROP TABLE IF EXISTS ${table}`);
  return leaked;
}

/** The oracle: exact contingency tables over the bounded rows, row-major (last column fastest). */
function tableOracle(data: DataSource, table: string, cols: SynthColumn[]) {
  const index = new Map(cols.map((c, i) => [c.column.name, i]));
  return async (names: string[]): Promise<Float64Array> => {
    const idx = names.map((n) => index.get(n)!);
    const keys = idx.map((i) => `c${i}`);
    const sql = `SELECT ${keys.length ? keys.join(', ') + ', ' : ''}count(*)::float8 AS n FROM ${table} ${keys.length ? 'GROUP BY ' + keys.join(', ') : ''}`;
    const sizes = idx.map((i) => cols[i]!.size);
    const out = new Float64Array(sizes.reduce((a, b) => a * b, 1));
    for (const r of await data.query<Record<string, number>>(sql)) {
      let cell = 0;
      for (let k = 0; k < keys.length; k++) cell = cell * sizes[k]! + Number(r[keys[k]!]);
      out[cell] = Number(r.n);
    }
    return out;
  };
}

/**
 * Sampling is post-processing of a DP model, so it may be seeded for repeatability: the sample's
 * key is SHA-256 of the model id and the caller's seed (no noise is ever drawn from it). Row r's
 * codes come from stream 0 of keyedRandom(key, r), its value inside column i's bin from stream
 * 1 + i, so any row is drawn alone (src/synth/sample.ts, sampleRange).
 */
export function samplingKey(modelId: string, seed: number): StreamKey {
  const digest = createHash('sha256').update(`${modelId}:${seed}`).digest();
  return Uint32Array.from({ length: 4 }, (_, i) => digest.readUInt32BE(4 * i));
}

export interface SyntheticModelInfo {
  id: string;
  dataset: string;
  epsilon: number;
  delta: number;
  rho: number;
  method: string;
  cached: boolean;
  releaseId: string;
  estimatedRows: number;
  measurements: number;
  createdAt?: string;
}

export interface SyntheticRequest {
  rows: number;
  seed?: number | null;
  privacy?: PrivacyRequest | null;
}

export class SyntheticService {
  private readonly models = new Map<string, SynthModel>();
  private readonly data: DataSource;
  private readonly lifecycle: ReleaseLifecycle;
  constructor(
    private readonly domain: DomainDeclaration,
    private readonly db: DomainDatabase,
    /** The caller's effective policy after the revocation check (the engine's, cached per request). */
    private readonly policyFor: (caller: Caller) => Promise<EffectivePolicy> = (caller) => new PolicyCache(db.prisma, domain, 0).forCaller(caller),
    lifecycle?: ReleaseLifecycle,
    data?: DataSource,
  ) {
    this.lifecycle = lifecycle ?? new ReleaseLifecycle(domain, db);
    this.data = data ?? domainDataSource(db);
  }

  /** What a fit would cost, from its arguments alone (also used by the operation-level check). */
  async plan(caller: Caller, ds: DatasetDeclaration, privacy: PrivacyRequest | null | undefined) {
    const policy = await this.policyFor(caller);
    validatePrivacyInput(privacy, { aggregate: 'synthetic', defaultDelta: this.domain.policy.defaultDelta, defaultEpsilon: Math.min(1, policy.maxEpsilonPerQuery) });
    const epsilon = privacy?.epsilon ?? Math.min(1, policy.maxEpsilonPerQuery);
    // Without a delta, a fit takes a small documented fraction of the cap's delta (src/synth/budget.ts).
    const delta = privacy?.delta ?? defaultFitDelta(policy.totalDelta);
    if (privacy?.accuracy || (privacy?.mechanism && privacy.mechanism !== 'GAUSSIAN'))
      throw badInput('Synthetic data takes epsilon and delta (it uses discrete Gaussian noise under zCDP).', { field: 'privacy' });
    if (!(typeof epsilon === 'number' && epsilon >= 1e-3 && epsilon <= 100)) throw badInput('epsilon must be in [0.001, 100] for synthetic data.', { field: 'privacy.epsilon' });
    if (!(typeof delta === 'number' && delta >= 1e-30 && delta < 1e-3)) throw badInput('Synthetic data needs delta in [1e-30, 0.001).', { field: 'privacy.delta' });
    checkPolicy(this.domain, policy, 'synthetic', epsilon);
    const cols = synthColumns(ds);
    if (cols.length === 0) throw badInput(`${ds.name} has no column with public bounds or categories to synthesise.`);
    const rho = rhoFromEpsilonDelta(epsilon, delta);
    if (!(rho <= 25)) throw badInput(`epsilon ${epsilon} at delta ${delta} is beyond what the accountant supports for a fit; ask less.`, { field: 'privacy.epsilon' });
    const { rowsPerUnit } = fitRelation(ds, cols);
    // The fit's plan: every measurement's sigma and every selection's cost, proved at (epsilon, delta),
    // with the contribution bound the relation's stability map gives.
    const shape = shapeOf(cols.map((c) => ({ name: c.column.name, size: c.size })), { method: METHOD, contributionBound: rowsPerUnit });
    const fitPlan = planFit(epsilon, delta, shape);
    const key = JSON.stringify({ d: this.domain.name, ds: ds.name, a: 'synthetic', m: METHOD, e: epsilon, dl: delta, b: rowsPerUnit, v: 3 });
    return { policy, cols, epsilon, delta, rho: fitPlan.rho, key, rowsPerUnit, costs: fitPlan.costs };
  }

  /** The fitted model for (dataset, epsilon, delta): reused if it exists, else fitted and charged once. */
  async model(caller: Caller, ds: DatasetDeclaration, privacy: PrivacyRequest | null | undefined): Promise<{ info: SyntheticModelInfo; model: SynthModel }> {
    const { policy, cols, epsilon, delta, rho, key, costs, rowsPerUnit } = await this.plan(caller, ds, privacy);
    const r = await this.lifecycle.release(
      {
        caller,
        kind: 'synthetic',
        dataset: ds.name,
        key,
        costs,
        epsilon,
        delta,
        mechanism: `${METHOD} (discrete Gaussian measurements, exponential-mechanism selections)`,
        query: { dataset: ds.name, aggregate: 'synthetic', epsilon, delta, method: METHOD },
        compute: (releaseId) => this.fitAndStore(ds, cols, rho, rowsPerUnit, releaseId, epsilon, delta),
      },
      policy,
      undefined,
      300_000,
    );
    const model = await this.load(r.releaseId);
    return { info: infoOf(r.releaseId, ds.name, epsilon, delta, model, r.cached), model };
  }

  private async fitAndStore(ds: DatasetDeclaration, cols: SynthColumn[], rho: number, rowsPerUnit: number, releaseId: string, epsilon: number, delta: number) {
    let scratch: string | undefined;
    try {
      const started = Date.now();
      await this.data.prepare([ds]);
      scratch = await materialise(this.data, ds, cols, releaseId);
      const model = await fit(tableOracle(this.data, scratch, cols), cols.map((c) => ({ name: c.column.name, size: c.size })) as Domain, {
        rho,
        contributionBound: rowsPerUnit,
        method: METHOD,
        log: (message) => log.info({ domain: this.domain.name, dataset: ds.name, releaseId }, `synthetic fit: ${message}`),
      });
      await this.db.prisma.syntheticModel.create({ data: { id: releaseId, dataset: ds.name, epsilon, delta, releaseId, model: model as never } });
      const info = infoOf(releaseId, ds.name, epsilon, delta, model, false);
      log.info({ domain: this.domain.name, dataset: ds.name, ms: Date.now() - started }, 'synthetic model fitted');
      this.models.set(releaseId, model);
      return { modelId: info.id, estimatedRows: info.estimatedRows, rho: info.rho, measurements: info.measurements };
    } finally {
      if (scratch) await this.data.query(`DROP TABLE IF EXISTS ${scratch}`).catch(() => undefined);
    }
  }

  private async load(id: string): Promise<SynthModel> {
    let m = this.models.get(id);
    if (!m) {
      const row = await this.db.prisma.syntheticModel.findUnique({ where: { id } });
      if (!row) throw new MeshError(ErrorCode.NOT_FOUND, 'Synthetic model not found.');
      m = row.model as unknown as SynthModel;
      this.models.set(id, m);
    }
    return m;
  }

  async list(dataset?: string): Promise<SyntheticModelInfo[]> {
    const rows = await this.db.prisma.syntheticModel.findMany({ where: dataset ? { dataset } : {}, orderBy: { createdAt: 'desc' } });
    return rows.map((r) => ({ ...infoOf(r.id, r.dataset, r.epsilon, r.delta, r.model as unknown as SynthModel, true), createdAt: r.createdAt.toISOString() }));
  }

  /**
   * Rows [offset, offset + count) of the sample of (model, seed), column by column (codes decoded
   * per column, so a page of thousands does not become thousands of objects first): free, the same
   * whatever the paging, and its work is `count` rows, whatever the offset.
   */
  page(ds: DatasetDeclaration, modelId: string, model: SynthModel, seed: number, offset: number, count: number) {
    if (!Number.isInteger(seed)) throw badInput('seed must be an integer.', { field: 'seed' });
    const key = samplingKey(modelId, seed);
    const cols = synthColumns(ds);
    const table = sampleRange(model, key, offset, count);
    const values = new Map<string, ArrayLike<string | number>>();
    cols.forEach((c, i) => {
      const codes = table.codes[i]!;
      if (c.categories) return values.set(c.column.name, Array.from(codes, (k) => c.categories![k]!));
      const g = c.column.granularity;
      const round = g && !c.binning!.integer ? (v: number) => Number((Math.round(v / g) * g).toFixed(12)) : (v: number) => v;
      values.set(c.column.name, Array.from(codes, (k, j) => round(valueOf(k, c.binning!, keyedRandom(key, offset + j, 1 + i)))));
    });
    const columns = ds.columns.filter((c) => c.name !== ds.privacyUnit).map((c) => c.name);
    return { columns, count, value: (row: number, column: string) => values.get(column)?.[row] ?? null };
  }

  /** Rows [offset, offset + count) of a sample of n rows, as objects keyed by column name. */
  rows(ds: DatasetDeclaration, modelId: string, model: SynthModel, n: number, seed: number, offset = 0, count = n) {
    checkSampleSize(n);
    const p = this.page(ds, modelId, model, seed, offset, Math.max(0, Math.min(n, offset + count) - offset));
    return Array.from({ length: p.count }, (_, r) => Object.fromEntries(p.columns.map((c) => [c, p.value(r, c)])));
  }
}

/**
 * The rows a synthetic field generates, known from its arguments before it runs: its page, at most
 * `first` (the schema's default page is 100) of the sample's `rows`, since sampling is seekable.
 */
export function syntheticPageRows(args: { rows?: number | null; first?: number | null }): number {
  return Math.max(0, Math.min(args.first ?? 100, args.rows ?? 0));
}

/** A sample's size: 1 to MAX_SYNTHETIC_ROWS rows. */
export function checkSampleSize(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_SYNTHETIC_ROWS) throw badInput(`rows must be between 1 and ${MAX_SYNTHETIC_ROWS}.`, { field: 'rows' });
}

function infoOf(id: string, dataset: string, epsilon: number, delta: number, model: SynthModel, cached: boolean): SyntheticModelInfo {
  const d = describe(model);
  return { id, dataset, epsilon, delta, rho: d.rho, method: d.method, cached, releaseId: id, estimatedRows: Math.round(d.estimatedRows), measurements: d.measurements.length };
}
