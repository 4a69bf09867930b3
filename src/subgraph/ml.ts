import { GraphQLJSONObject } from 'graphql-scalars';
import type { DomainDeclaration } from '../domain/declaration.js';
import { mlService, type TrainArgs } from '../ml/service.js';
import type { SubgraphContext } from './context.js';
import { names } from './naming.js';

/**
 * The GraphQL surface of DP model training (src/ml), for sensitive domains: a training mutation,
 * and on the domain type the models, one model, free predictions, trainings in progress and a
 * cost preview. Shared value types are @shareable (every sensitive subgraph defines them alike).
 */
const d = (text: string) => JSON.stringify(text);

export const ML_SHARED_SDL = `${d('A JSON object (a row of column values for predict).')}
scalar JSONObject

${d('Kind of regression model.')}
enum ModelKind {
  ${d('Least squares on a numeric target (ridge).')}
  LINEAR
  ${d('Logistic regression on a binary target (a class of a categorical column, or a numeric threshold).')}
  LOGISTIC
}

${d('Where a model is trained.')}
enum TrainingSource {
  ${d('In the domain, on the real rows: one DP release, charged once (memoised).')}
  DIRECT
  ${d('From an already fitted DP synthetic model: post-processing, free.')}
  SYNTHETIC_MODEL
}

${d('Training mechanism.')}
enum TrainingMethod {
  ${d('SSP for linear models and LAPLACE; SSP_NEWTON for logistic models with GAUSSIAN (measured most accurate: bench/ML-REPORT.md).')}
  AUTO
  ${d('Noisy sufficient statistics (X^T X, X^T y) in one measurement; logistic by its quadratic approximation.')}
  SSP
  ${d('Logistic only: SSP, then Newton steps on noisy gradient sums computed in the database (Gaussian).')}
  SSP_NEWTON
}

${d('One coefficient of a model, on the encoding: numeric features scaled to [-1, 1] on their public bounds (linear targets too); categorical features as 0/1 indicators of each level but the first.')}
type ModelCoefficient @shareable {
  ${d('Encoded column: "(intercept)", a numeric feature, or "feature=level".')}
  name: String!
  ${d('Coefficient.')}
  value: Float!
}

${d('A trained DP regression model. Its coefficients are public (the release); predictions from it are free.')}
type TrainedModel @shareable {
  ${d('Model id (the release id for DIRECT models).')}
  id: ID!
  ${d('Dataset trained on.')}
  dataset: String!
  ${d('LINEAR or LOGISTIC.')}
  kind: ModelKind!
  ${d('DIRECT or SYNTHETIC_MODEL.')}
  source: TrainingSource!
  ${d('Mechanism and method.')}
  method: String!
  ${d('Target column.')}
  target: String!
  ${d('LOGISTIC on a categorical target: the class predicted as 1.')}
  positiveClass: String
  ${d('LOGISTIC on a numeric target: 1 when target > threshold.')}
  threshold: Float
  ${d('Feature columns, in encoding order.')}
  features: [String!]!
  ${d('Intercept (on the encoding).')}
  intercept: Float!
  ${d('Every coefficient by encoded column, the intercept first.')}
  coefficients: [ModelCoefficient!]!
  ${d('Privacy of the model (for SYNTHETIC_MODEL: that of the synthetic model it comes from).')}
  epsilon: Float!
  ${d('Delta of the model.')}
  delta: Float!
  ${d('Epsilon this call charged you: 0 when memoised, listed or from a synthetic model.')}
  epsilonCharged: Float!
  ${d('True when no new release was made by this call.')}
  cached: Boolean!
  ${d('Release that paid for it (null for SYNTHETIC_MODEL).')}
  releaseId: ID
  ${d('DP estimate of the training rows (free, from the release).')}
  estimatedRows: Int
  ${d('Linear models: training R^2 estimated from the released statistics (free; noisy).')}
  estimatedR2: Float
  ${d('When it was stored (UTC, ISO 8601).')}
  createdAt: String
}

${d('A training in progress in this subgraph.')}
type TrainingStatus @shareable {
  ${d('Release id of the training.')}
  id: ID!
  ${d('Dataset.')}
  dataset: String!
  ${d('linear or logistic.')}
  kind: String!
  ${d('What runs now.')}
  stage: String!
  ${d('Measurement being taken (1-based).')}
  step: Int!
  ${d('Measurements in all.')}
  steps: Int!
  ${d('Start (UTC, ISO 8601).')}
  startedAt: String!
}

${d('One measurement of a training.')}
type TrainingMeasurement @shareable {
  ${d('Measurement id (gram, moments, step1..).')}
  name: String!
  ${d('What it measures.')}
  statistic: String!
  ${d('l1 sensitivity in grid units.')}
  l1Sensitivity: Float!
  ${d('l2 sensitivity in grid units.')}
  l2Sensitivity: Float!
  ${d('Noise distribution.')}
  mechanism: String!
  ${d('Noise scale (Laplace t or Gaussian sigma) in grid units.')}
  scale: Float!
}

${d('What a training would cost (nothing is run or charged).')}
type TrainingEstimate @shareable {
  ${d('Epsilon asked.')}
  epsilon: Float!
  ${d('Delta asked.')}
  delta: Float!
  ${d('Epsilon the accountant would charge (0 when the same training is already released).')}
  epsilonCharged: Float!
  ${d('Whether it fits your remaining budget.')}
  fitsBudget: Boolean!
  ${d('Your epsilon left afterwards.')}
  remainingAfter: Float
  ${d('Mechanism.')}
  mechanism: String!
  ${d('Method chosen (ssp or sspNewton).')}
  method: String!
  ${d('Rows one privacy unit contributes (the stability of the training relation).')}
  rowsPerUnit: Int
  ${d('Encoded columns, the intercept included.')}
  encodedColumns: Int
  ${d('True when the same training is released already (free).')}
  cached: Boolean!
  ${d('Its measurements.')}
  measurements: [TrainingMeasurement!]!
}`;

const trainArgs = (datasetEnum: string) =>
  [
    `${d('Dataset to train on.')} dataset: ${datasetEnum}!`,
    `${d('LINEAR or LOGISTIC.')} kind: ModelKind!`,
    `${d('Target column (declared name, e.g. income).')} target: String!`,
    `${d('LOGISTIC on a categorical target: the class predicted as 1.')} positiveClass: String`,
    `${d('LOGISTIC on a numeric target: 1 when target > threshold.')} threshold: Float`,
    `${d('Feature columns: numeric with public bounds or categorical with a public list.')} features: [String!]!`,
    `${d('Ridge penalty (loss = mean loss + l2/2 |theta|^2 on the encoding). Default 1e-4.')} l2: Float`,
    `${d('Epsilon and delta of the training (default: the domain policy; GAUSSIAN unless LAPLACE is asked).')} privacy: PrivacyInput`,
    `${d('Mechanism.')} method: TrainingMethod = AUTO`,
    `${d('DIRECT (charged) or SYNTHETIC_MODEL (free).')} source: TrainingSource = DIRECT`,
    `${d('SYNTHETIC_MODEL: id of a fitted synthetic model (syntheticModels).')} syntheticModel: ID`,
    `${d('SYNTHETIC_MODEL: rows sampled to fit on (default 30000).')} syntheticRows: Int`,
  ].join(', ');

export function mlSdl(domain: DomainDeclaration): string {
  if (domain.sensitivity !== 'sensitive') return '';
  const n = names(domain);
  return `extend type ${n.domainType} {
  ${d('DP regression models trained in this domain (stored; anyone in the domain may reuse them).')}
  models(${d('Only this dataset.')} dataset: ${n.datasetEnum}): [TrainedModel!]!
  ${d('One model by id.')}
  model(${d('Model id.')} id: ID!): TrainedModel
  ${d('Predictions of a model for the given rows (objects of column values): P(positive) for LOGISTIC, the target for LINEAR. Free.')}
  predict(${d('Model id.')} model: ID!, ${d('Rows (at most 10,000).')} rows: [JSONObject!]!): [Float!]!
  ${d('Trainings running now in this subgraph, with their progress.')}
  trainingStatus: [TrainingStatus!]!
  ${d('Cost preview of a training: nothing is run or charged.')}
  estimateTraining(${trainArgs(n.datasetEnum)}): TrainingEstimate!
}

extend type Mutation {
  ${d(`Train a DP regression model on a ${domain.name} dataset inside the domain: one release, charged once; the same request again is free.`)}
  ${domain.name}TrainModel(${trainArgs(n.datasetEnum)}): TrainedModel!
}`;
}

export function mlResolvers(domain: DomainDeclaration) {
  if (domain.sensitivity !== 'sensitive') return {};
  const n = names(domain);
  const svc = (ctx: SubgraphContext) => mlService(ctx.engine);
  return {
    JSONObject: GraphQLJSONObject,
    [n.domainType]: {
      models: (_: unknown, a: { dataset?: string }, ctx: SubgraphContext) => svc(ctx).list(a.dataset),
      model: (_: unknown, a: { id: string }, ctx: SubgraphContext) => svc(ctx).get(a.id).catch((e: { extensions?: { code?: string } }) => (e.extensions?.code === 'NOT_FOUND' ? null : Promise.reject(e))),
      predict: (_: unknown, a: { model: string; rows: unknown }, ctx: SubgraphContext) => svc(ctx).predict(a.model, a.rows),
      trainingStatus: (_: unknown, __: unknown, ctx: SubgraphContext) => svc(ctx).status(),
      estimateTraining: (_: unknown, a: TrainArgs, ctx: SubgraphContext) => svc(ctx).estimate(ctx.caller, a),
    },
    Mutation: {
      [`${domain.name}TrainModel`]: (_: unknown, a: TrainArgs, ctx: SubgraphContext) => svc(ctx).train(ctx.caller, a),
    },
  };
}
