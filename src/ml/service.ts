import { createHash } from 'node:crypto';
import type { Caller } from '../auth/tokens.js';
import type { DatasetDeclaration } from '../domain/declaration.js';
import { buildTrainingPlan, type ModelKind, type TrainingMethod, type TrainingPlan } from '../core/regression.js';
import type { PrivacyRequest } from '../core/privacy.js';
import { emptyState, epsilonSpent, withinCap } from '../dp/accountant.js';
import { badInput, ErrorCode, MeshError } from '../errors.js';
import { addCosts, principalBudget } from '../governance/ledger.js';
import { checkPolicy } from '../query/lifecycle.js';
import type { QueryEngine } from '../query/engine.js';
import { log } from '../log.js';
import { enumValue } from '../subgraph/naming.js';
import { fitExact, predictRows, specOf, type StoredModel } from './model.js';
import { trainOnData } from './train.js';

/**
 * Model training as a release (issue 14): a request is validated and priced from the public
 * declaration (src/core/regression.ts), charged once through the domain's release lifecycle,
 * trained in the database (src/ml/train.ts), stored in trained_model and memoised under its plan
 * key, so the same request costs nothing the second time, for anyone. Models trained from an
 * already fitted synthetic model are post-processing: free, and stored the same way.
 */
export interface TrainArgs {
  dataset: string;
  kind: 'LINEAR' | 'LOGISTIC';
  target: string;
  positiveClass?: string | null;
  threshold?: number | null;
  features: string[];
  l2?: number | null;
  privacy?: PrivacyRequest | null;
  method?: 'AUTO' | 'SSP' | 'SSP_NEWTON' | null;
  source?: 'DIRECT' | 'SYNTHETIC_MODEL' | null;
  syntheticModel?: string | null;
  syntheticRows?: number | null;
}

export interface ModelInfo {
  id: string;
  dataset: string;
  kind: 'LINEAR' | 'LOGISTIC';
  source: 'DIRECT' | 'SYNTHETIC_MODEL';
  method: string;
  target: string;
  positiveClass: string | null;
  threshold: number | null;
  features: string[];
  intercept: number;
  coefficients: { name: string; value: number }[];
  epsilon: number;
  delta: number;
  epsilonCharged: number;
  cached: boolean;
  releaseId: string | null;
  estimatedRows: number | null;
  estimatedR2: number | null;
  createdAt: string | null;
}

export interface TrainingStatus {
  id: string;
  dataset: string;
  kind: string;
  stage: string;
  step: number;
  steps: number;
  startedAt: string;
}

const METHODS: Record<string, TrainingMethod | 'auto'> = { AUTO: 'auto', SSP: 'ssp', SSP_NEWTON: 'sspNewton' };
const DEFAULT_SYNTHETIC_ROWS = 30_000;
const MAX_SYNTHETIC_ROWS = 200_000;

const services = new WeakMap<QueryEngine, MlService>();
/** One service per domain engine (it shares the engine's lifecycle, policies and data source). */
export function mlService(engine: QueryEngine): MlService {
  let s = services.get(engine);
  if (!s) services.set(engine, (s = new MlService(engine)));
  return s;
}

export class MlService {
  private readonly running = new Map<string, TrainingStatus>();
  constructor(private readonly engine: QueryEngine) {}

  private get db() {
    return this.engine.db;
  }

  /** Dataset by name or enum value (ADULTS). */
  private dataset(name: string): DatasetDeclaration {
    const ds = this.engine.domain.datasets.find((d) => d.name === name || enumValue(d.name) === name);
    if (!ds) throw badInput(`No dataset "${name}" in ${this.engine.domain.name}.`, { field: 'dataset' });
    return ds;
  }

  /** Column by declared name or enum value (HOURS_PER_WEEK). */
  private column(ds: DatasetDeclaration, name: string): string {
    return ds.columns.find((c) => c.name === name || enumValue(c.name) === name)?.name ?? name;
  }

  /** Validates and prices a training request, and checks the caller's policy: no data read, nothing charged. */
  async prepare(caller: Caller, args: TrainArgs): Promise<{ plan: TrainingPlan; policy: Awaited<ReturnType<QueryEngine['policyFor']>> }> {
    const ds = this.dataset(args.dataset);
    if (!['LINEAR', 'LOGISTIC'].includes(args.kind)) throw badInput('kind must be LINEAR or LOGISTIC.', { field: 'kind' });
    const plan = buildTrainingPlan({
      domain: this.engine.domain,
      dataset: ds,
      kind: args.kind.toLowerCase() as ModelKind,
      target: this.column(ds, args.target),
      positiveClass: args.positiveClass,
      threshold: args.threshold,
      features: (args.features ?? []).map((f) => this.column(ds, f)),
      l2: args.l2,
      privacy: args.privacy,
      method: METHODS[args.method ?? 'AUTO'] ?? 'auto',
    });
    const policy = await this.engine.policyFor(caller);
    checkPolicy(this.engine.domain, policy, 'train', plan.epsilon);
    return { plan, policy };
  }

  async train(caller: Caller, args: TrainArgs): Promise<ModelInfo> {
    if ((args.source ?? 'DIRECT') === 'SYNTHETIC_MODEL') return this.trainFromSynthetic(caller, args);
    if (args.syntheticModel != null || args.syntheticRows != null) throw badInput('syntheticModel and syntheticRows are for source: SYNTHETIC_MODEL.', { field: 'syntheticModel' });
    const { plan, policy } = await this.prepare(caller, args);
    const r = await this.engine.lifecycle.release(
      {
        caller,
        kind: 'train',
        dataset: plan.dataset.name,
        key: plan.key,
        costs: plan.costs,
        epsilon: plan.epsilon,
        delta: plan.delta,
        mechanism: plan.mechanism,
        query: { dataset: plan.dataset.name, aggregate: 'train', kind: plan.kind, method: plan.method, target: args.target, features: plan.encoding.features.map((f) => f.name), epsilon: plan.epsilon, delta: plan.delta },
        compute: (releaseId) => this.fitAndStore(plan, releaseId),
      },
      policy,
      undefined,
      600_000,
    );
    const model = await this.load((r.result as { modelId: string }).modelId);
    return infoOf(model, r.cached ? 0 : epsilonSpent(addCosts(emptyState(), plan.costs), plan.delta || policy.totalDelta), r.cached);
  }

  private async fitAndStore(plan: TrainingPlan, releaseId: string): Promise<{ modelId: string }> {
    const started = Date.now();
    const status: TrainingStatus = { id: releaseId, dataset: plan.dataset.name, kind: plan.kind, stage: 'starting', step: 0, steps: plan.measurements.length, startedAt: new Date().toISOString() };
    this.running.set(releaseId, status);
    try {
      const r = await trainOnData(plan, this.engine.data, (stage, step, steps) => {
        Object.assign(status, { stage, step, steps });
        log.info({ domain: plan.domain, dataset: plan.dataset.name, releaseId, step, steps }, `training: ${stage}`);
      });
      const model: StoredModel = {
        ...specOf(plan.dataset.name, plan.kind, plan.encoding),
        coefficients: r.coefficients,
        method: plan.mechanism,
        source: 'DIRECT',
        epsilon: plan.epsilon,
        delta: plan.delta,
        estimatedRows: r.estimatedRows,
        estimatedR2: r.estimatedR2,
        l2: plan.l2,
      };
      await this.store(releaseId, model, releaseId);
      log.info({ domain: plan.domain, dataset: plan.dataset.name, releaseId, ms: Date.now() - started }, 'model trained');
      return { modelId: releaseId };
    } finally {
      this.running.delete(releaseId);
    }
  }

  /**
   * Post-processing of an already fitted synthetic model (free): sample rows from it (seed 0, so
   * the same request gives the same model) and fit non-privately on them.
   */
  private async trainFromSynthetic(caller: Caller, args: TrainArgs): Promise<ModelInfo> {
    if (!args.syntheticModel) throw badInput('source SYNTHETIC_MODEL needs syntheticModel: the id of a fitted synthetic model (see syntheticModels).', { field: 'syntheticModel' });
    if (args.privacy) throw badInput('A model trained from a synthetic model spends nothing: omit privacy.', { field: 'privacy' });
    const rows = args.syntheticRows ?? DEFAULT_SYNTHETIC_ROWS;
    if (!Number.isInteger(rows) || rows < 100 || rows > MAX_SYNTHETIC_ROWS) throw badInput(`syntheticRows must be between 100 and ${MAX_SYNTHETIC_ROWS}.`, { field: 'syntheticRows' });
    const { plan } = await this.prepare(caller, { ...args, method: 'SSP' });
    const ds = plan.dataset;
    const info = (await this.engine.synthetic.list(ds.name)).find((m) => m.id === args.syntheticModel);
    if (!info) throw new MeshError(ErrorCode.NOT_FOUND, `No fitted synthetic model "${args.syntheticModel}" of ${ds.name}.`);
    const spec = specOf(ds.name, plan.kind, plan.encoding);
    const id = `syn-${createHash('sha256').update(JSON.stringify({ s: info.id, spec, rows, l2: plan.l2 })).digest('base64url').slice(0, 32)}`;
    const existing = await this.db.prisma.trainedModel.findUnique({ where: { id } });
    if (existing) return infoOf(toModel(existing), 0, true);
    // The fit exists (listed), so this is a memo hit: nothing is charged.
    const { model } = await this.engine.synthetic.model(caller, ds, { epsilon: info.epsilon, delta: info.delta });
    const sample = this.engine.synthetic.rows(ds, info.id, model, rows, 0);
    const fit = fitExact(spec, sample, plan.l2);
    const stored: StoredModel = { ...spec, coefficients: fit.coefficients, method: `non-private fit on ${rows} rows sampled from synthetic model ${info.id}`, source: 'SYNTHETIC_MODEL', epsilon: info.epsilon, delta: info.delta, estimatedRows: info.estimatedRows, estimatedR2: null, l2: plan.l2 };
    await this.store(id, stored, null);
    return infoOf({ ...stored, id, releaseId: null, createdAt: null }, 0, false);
  }

  private async store(id: string, model: StoredModel, releaseId: string | null) {
    await this.db.prisma.trainedModel.create({ data: { id, dataset: model.dataset, kind: model.kind, source: model.source, releaseId, epsilon: model.epsilon, delta: model.delta, model: model as never } });
  }

  async load(id: string): Promise<StoredModel & { id: string; releaseId: string | null; createdAt: string | null }> {
    const row = typeof id === 'string' && id.length <= 100 ? await this.db.prisma.trainedModel.findUnique({ where: { id } }) : null;
    if (!row) throw new MeshError(ErrorCode.NOT_FOUND, `No model "${String(id).slice(0, 100)}" in ${this.engine.domain.name}.`);
    return toModel(row);
  }

  async get(id: string): Promise<ModelInfo> {
    return infoOf(await this.load(id), 0, true);
  }

  async list(dataset?: string | null): Promise<ModelInfo[]> {
    const name = dataset ? this.dataset(dataset).name : undefined;
    const rows = await this.db.prisma.trainedModel.findMany({ where: name ? { dataset: name } : {}, orderBy: { createdAt: 'desc' }, take: 500 });
    return rows.map((r) => infoOf(toModel(r), 0, true));
  }

  /** Free: the coefficients are public once released. */
  async predict(id: string, rows: unknown): Promise<number[]> {
    return predictRows(await this.load(id), rows);
  }

  status(): TrainingStatus[] {
    return [...this.running.values()];
  }

  /** What a training would cost, and whether it fits the caller's budget (nothing run or charged). */
  async estimate(caller: Caller, args: TrainArgs) {
    if ((args.source ?? 'DIRECT') === 'SYNTHETIC_MODEL') return { epsilon: 0, delta: 0, epsilonCharged: 0, fitsBudget: true, remainingAfter: null, mechanism: 'post-processing of a synthetic model', method: 'exact fit on synthetic rows', rowsPerUnit: null, encodedColumns: null, cached: false, measurements: [] };
    const { plan, policy } = await this.prepare(caller, args);
    const mine = await principalBudget(this.db, caller.id, { epsilon: policy.totalEpsilon, delta: policy.totalDelta });
    const cap = mine.cap;
    const cached = !!(await this.engine.lifecycle.memoised(plan.key));
    const after = mine.after(cached ? [] : plan.costs);
    return {
      epsilon: plan.epsilon,
      delta: plan.delta,
      epsilonCharged: cached ? 0 : epsilonSpent(addCosts(emptyState(), plan.costs), cap.delta),
      fitsBudget: cached || mine.fits(plan.costs),
      remainingAfter: Math.max(0, cap.epsilon - after),
      mechanism: plan.mechanism,
      method: plan.method,
      rowsPerUnit: plan.rowsPerUnit,
      encodedColumns: plan.encoding.p,
      cached,
      measurements: plan.measurements.map((m) => ({ name: m.id, statistic: m.kind, l1Sensitivity: m.sensitivity.l1, l2Sensitivity: m.sensitivity.l2, mechanism: m.mechanism.kind, scale: m.mechanism.scale })),
    };
  }
}

type Row = { id: string; releaseId: string | null; createdAt: Date; model: unknown };
const toModel = (r: Row) => ({ ...(r.model as StoredModel), id: r.id, releaseId: r.releaseId, createdAt: r.createdAt.toISOString() });

function infoOf(m: StoredModel & { id: string; releaseId: string | null; createdAt: string | null }, epsilonCharged: number, cached: boolean): ModelInfo {
  return {
    id: m.id,
    dataset: m.dataset,
    kind: m.kind === 'linear' ? 'LINEAR' : 'LOGISTIC',
    source: m.source,
    method: m.method,
    target: m.target.name,
    positiveClass: m.target.positiveClass ?? null,
    threshold: m.target.threshold ?? null,
    features: m.features.map((f) => f.name),
    intercept: m.coefficients[0]!,
    coefficients: m.names.map((name, i) => ({ name, value: m.coefficients[i]! })),
    epsilon: m.epsilon,
    delta: m.delta,
    epsilonCharged,
    cached,
    releaseId: m.releaseId,
    estimatedRows: m.estimatedRows ?? null,
    estimatedR2: m.estimatedR2 ?? null,
    createdAt: m.createdAt,
  };
}
