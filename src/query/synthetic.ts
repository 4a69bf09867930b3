import { createHash } from 'node:crypto';
import type { Caller } from '../auth/tokens.js';
import type { ColumnDeclaration, DatasetDeclaration, DomainDeclaration } from '../domain/declaration.js';
import type { RandomSource } from '../dp/random.js';
import { badInput, ErrorCode, MeshError } from '../errors.js';
import { chargeOrReuse, completeRelease, failRelease, waitForRelease } from '../governance/ledger.js';
import { PolicyCache, type EffectivePolicy } from '../governance/policy.js';
import { log } from '../log.js';
import { qualified, quoteIdent, type DomainDatabase } from '../storage/database.js';
import { codeCount, decodeNumeric, defaultFitDelta, describe, fit, numericBinning, numericCodeSql, planFit, sample, shapeOf, type Domain, type NumericBinning, type SynthModel } from '../synth/index.js';
import { boundingOf } from './plan.js';
import type { PrivacyRequest } from './types.js';

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
 * The contribution-bounded rows, coded, materialised once per fit into a narrow scratch table: every
 * marginal is then a GROUP BY over the same bounded sample (consistent), and the window over the
 * wide table runs once instead of once per marginal.
 */
async function materialise(db: DomainDatabase, ds: DatasetDeclaration, cols: SynthColumn[], id: string): Promise<string> {
  const table = `_cdm_synth_${id.replace(/[^a-z0-9]/g, '')}`;
  const params: unknown[] = [];
  const codes = cols.map((c, i) => `${codeSql(c, params)} AS c${i}`).join(', ');
  const notNull = cols.map((c) => `${quoteIdent(c.column.sql)} IS NOT NULL`).join(' AND ') || 'TRUE';
  const bounding = boundingOf(ds, false);
  let source = `SELECT ${codes} FROM ${qualified(db, ds.table)} WHERE ${notNull}`;
  if (bounding.unit) {
    params.push(bounding.maxRows);
    source = `SELECT ${cols.map((_, i) => `c${i}`).join(', ')} FROM (SELECT ${codes}, row_number() OVER (PARTITION BY ${quoteIdent(bounding.unit.sql)} ORDER BY random()) AS _cdm_rn
              FROM ${qualified(db, ds.table)} WHERE ${notNull}) b WHERE _cdm_rn <= $${params.length}`;
  }
  await db.exec(`DROP TABLE IF EXISTS ${qualified(db, table)}; CREATE UNLOGGED TABLE ${qualified(db, table)} (${cols.map((_, i) => `c${i} integer`).join(', ')})`);
  await db.query(`INSERT INTO ${qualified(db, table)} SELECT * FROM (${source}) s WHERE ${cols.map((_, i) => `c${i} IS NOT NULL`).join(' AND ') || 'TRUE'}`, params);
  return table;
}

/** The oracle: exact contingency tables over the bounded rows, row-major (last column fastest). */
function tableOracle(db: DomainDatabase, table: string, cols: SynthColumn[]) {
  const index = new Map(cols.map((c, i) => [c.column.name, i]));
  return async (names: string[]): Promise<Float64Array> => {
    const idx = names.map((n) => index.get(n)!);
    const keys = idx.map((i) => `c${i}`);
    const sql = `SELECT ${keys.length ? keys.join(', ') + ', ' : ''}count(*)::float8 AS n FROM ${qualified(db, table)} ${keys.length ? 'GROUP BY ' + keys.join(', ') : ''}`;
    const sizes = idx.map((i) => cols[i]!.size);
    const out = new Float64Array(sizes.reduce((a, b) => a * b, 1));
    for (const r of await db.query<Record<string, number>>(sql)) {
      let cell = 0;
      for (let k = 0; k < keys.length; k++) cell = cell * sizes[k]! + Number(r[keys[k]!]);
      out[cell] = Number(r.n);
    }
    return out;
  };
}

/**
 * Sampling is post-processing of a DP model, so it may be seeded for repeatability. This source is
 * for that only (SHA-256 in counter mode over the model id and the caller's seed); no noise is
 * ever drawn from it.
 */
export function samplingSource(modelId: string, seed: number): RandomSource {
  let counter = 0;
  let pool = Buffer.alloc(0);
  const bytes = (n: number) => {
    while (pool.length < n) pool = Buffer.concat([pool, createHash('sha256').update(`${modelId}:${seed}:${counter++}`).digest()]);
    const out = pool.subarray(0, n);
    pool = pool.subarray(n);
    return out;
  };
  return {
    uniformBelow(n: bigint): bigint {
      if (n <= 1n) return 0n;
      const len = Math.ceil(n.toString(2).length / 8) + 1;
      const limit = (1n << BigInt(8 * len)) - ((1n << BigInt(8 * len)) % n);
      for (;;) {
        const v = BigInt('0x' + bytes(len).toString('hex'));
        if (v < limit) return v % n;
      }
    },
  };
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
  constructor(
    private readonly domain: DomainDeclaration,
    private readonly db: DomainDatabase,
    /** The caller's effective policy after the revocation check (the engine's, cached per request). */
    private readonly policyFor: (caller: Caller) => Promise<EffectivePolicy> = (caller) => new PolicyCache(db.prisma, domain, 0).forCaller(caller),
  ) {}

  /** What a fit would cost, from its arguments alone (also used by the operation-level check). */
  async plan(caller: Caller, ds: DatasetDeclaration, privacy: PrivacyRequest | null | undefined) {
    const policy = await this.policyFor(caller);
    const epsilon = privacy?.epsilon ?? Math.min(1, policy.maxEpsilonPerQuery);
    const delta = privacy?.delta ?? defaultFitDelta(policy.totalDelta);
    if (privacy?.accuracy || (privacy?.mechanism && privacy.mechanism !== 'GAUSSIAN'))
      throw badInput('Synthetic data takes epsilon and delta (it uses discrete Gaussian noise under zCDP).', { field: 'privacy' });
    if (!(epsilon > 0 && epsilon <= 100)) throw badInput('epsilon must be in (0, 100].', { field: 'privacy.epsilon' });
    if (!(delta > 0 && delta < 1e-3)) throw badInput('Synthetic data needs delta in (0, 0.001).', { field: 'privacy.delta' });
    if (epsilon > policy.maxEpsilonPerQuery)
      throw new MeshError(ErrorCode.POLICY_VIOLATION, `epsilon ${epsilon} exceeds the per-query maximum ${policy.maxEpsilonPerQuery} of ${this.domain.name}.`);
    if (policy.allowedAggregates && !policy.allowedAggregates.includes('synthetic'))
      throw new MeshError(ErrorCode.POLICY_VIOLATION, `The policy of ${this.domain.name} does not allow synthetic data for you.`);
    const cols = synthColumns(ds);
    if (cols.length === 0) throw badInput(`${ds.name} has no column with public bounds or categories to synthesise.`);
    // The fit's plan (every measurement's sigma, every selection's cost), proved at (epsilon, delta).
    const contributionBound = boundingOf(ds, false).maxRows;
    const domain = cols.map((c) => ({ name: c.column.name, size: c.size }));
    const { rho, costs } = planFit(epsilon, delta, shapeOf(domain, { method: METHOD, contributionBound }));
    const key = JSON.stringify({ d: this.domain.name, ds: ds.name, a: 'synthetic', m: METHOD, e: epsilon, dl: delta, b: contributionBound, v: 2 });
    return { policy, cols, epsilon, delta, rho, key, costs };
  }

  /** The fitted model for (dataset, epsilon, delta): reused if it exists, else fitted and charged once. */
  async model(caller: Caller, ds: DatasetDeclaration, privacy: PrivacyRequest | null | undefined): Promise<{ info: SyntheticModelInfo; model: SynthModel }> {
    const { policy, cols, epsilon, delta, rho, key: planKey, costs } = await this.plan(caller, ds, privacy);
    const outcome = await chargeOrReuse(this.db, {
      caller,
      dataset: ds.name,
      aggregate: 'synthetic',
      planKey,
      costs,
      epsilon,
      delta,
      mechanism: `${METHOD} (discrete Gaussian measurements, exponential-mechanism selections)`,
      query: { dataset: ds.name, aggregate: 'synthetic', epsilon, delta, method: METHOD },
      principalCap: { epsilon: policy.totalEpsilon, delta: policy.totalDelta },
      globalCap: this.domain.policy.globalCap,
    });
    if (outcome.kind !== 'charged') {
      const releaseId = outcome.kind === 'cached' ? outcome.release.id : (await waitForRelease(this.db, outcome.releaseId, 300_000))?.id;
      if (!releaseId) throw new MeshError(ErrorCode.INTERNAL_SERVER_ERROR, 'The same model is being fitted and did not finish; retry.');
      const model = await this.load(releaseId);
      return { info: infoOf(releaseId, ds.name, epsilon, delta, model, true), model };
    }
    let scratch: string | undefined;
    try {
      const started = Date.now();
      scratch = await materialise(this.db, ds, cols, outcome.releaseId);
      const model = await fit(tableOracle(this.db, scratch, cols), cols.map((c) => ({ name: c.column.name, size: c.size })) as Domain, {
        rho,
        contributionBound: boundingOf(ds, false).maxRows,
        method: METHOD,
        log: (message) => log.info({ domain: this.domain.name, dataset: ds.name, releaseId: outcome.releaseId }, `synthetic fit: ${message}`),
      });
      await this.db.prisma.syntheticModel.create({ data: { id: outcome.releaseId, dataset: ds.name, epsilon, delta, releaseId: outcome.releaseId, model: model as never } });
      const info = infoOf(outcome.releaseId, ds.name, epsilon, delta, model, false);
      await completeRelease(this.db, outcome.releaseId, caller.id, { modelId: info.id, estimatedRows: info.estimatedRows, rho: info.rho, measurements: info.measurements });
      log.info({ domain: this.domain.name, dataset: ds.name, ms: Date.now() - started }, 'synthetic model fitted');
      this.models.set(outcome.releaseId, model);
      return { info, model };
    } catch (e) {
      await failRelease(this.db, outcome.releaseId, caller.id);
      throw e;
    } finally {
      if (scratch) await this.db.exec(`DROP TABLE IF EXISTS ${qualified(this.db, scratch)}`).catch(() => undefined);
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
   * A synthetic sample, column by column (compact: codes decoded per column, so a million rows do
   * not become a million objects): free, and identical for the same (model, rows, seed).
   */
  sampleColumns(ds: DatasetDeclaration, modelId: string, model: SynthModel, n: number, seed: number) {
    if (!Number.isInteger(n) || n < 1 || n > MAX_SYNTHETIC_ROWS) throw badInput(`rows must be between 1 and ${MAX_SYNTHETIC_ROWS}.`, { field: 'rows' });
    if (!Number.isInteger(seed)) throw badInput('seed must be an integer.', { field: 'seed' });
    const cols = synthColumns(ds);
    const table = sample(model, n, samplingSource(modelId, seed));
    const values = new Map<string, ArrayLike<string | number>>();
    cols.forEach((c, i) => {
      const codes = table.codes[i]!;
      if (c.categories) return values.set(c.column.name, Array.from(codes, (k) => c.categories![k]!));
      const decoded = decodeNumeric(codes, c.binning!, samplingSource(modelId, seed * 7919 + i + 1));
      const g = c.column.granularity;
      values.set(c.column.name, g && !c.binning!.integer ? Array.from(decoded, (v) => Number((Math.round(v / g) * g).toFixed(12))) : decoded);
    });
    const columns = ds.columns.filter((c) => c.name !== ds.privacyUnit).map((c) => c.name);
    return { columns, n, value: (row: number, column: string) => values.get(column)?.[row] ?? null };
  }

  /** Rows [offset, offset + count) of a sample, as objects keyed by column name. */
  rows(ds: DatasetDeclaration, modelId: string, model: SynthModel, n: number, seed: number, offset = 0, count = n) {
    const s = this.sampleColumns(ds, modelId, model, n, seed);
    const out: Record<string, string | number | null>[] = [];
    for (let r = offset; r < Math.min(n, offset + count); r++) out.push(Object.fromEntries(s.columns.map((c) => [c, s.value(r, c)])));
    return out;
  }
}

function infoOf(id: string, dataset: string, epsilon: number, delta: number, model: SynthModel, cached: boolean): SyntheticModelInfo {
  const d = describe(model);
  return { id, dataset, epsilon, delta, rho: d.rho, method: d.method, cached, releaseId: id, estimatedRows: Math.round(d.estimatedRows), measurements: d.measurements.length };
}
