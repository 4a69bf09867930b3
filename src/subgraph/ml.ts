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
  value: Float!
}

${d('A trained DP regression model. Its coefficients are public (the release); predictions from it are free.')}
type TrainedModel @shareable {
  id: ID!
  dataset: String!
  kind: ModelKind!
  source: TrainingSource!
  ${d('Mechanism and method.')}
  method: String!
  target: String!
  positiveClass: String
  threshold: Float
  features: [String!]!
  intercept: Float!
  coefficients: [ModelCoefficient!]!
  ${d('Privacy of the model (for SYNTHETIC_MODEL: that of the synthetic model it comes from).')}
  epsilon: Float!
  delta: Float!
  ${d('Epsilon this call charged you: 0 when memoised, listed or from a synthetic model.')}
  epsilonCharged: Float!
  ${d('True when no new release was made by this call.')}
  cached: Boolean!
  releaseId: ID
  ${d('DP estimate of the training rows (free, from the release).')}
  estimatedRows: Int
  ${d('Linear models: training R^2 estimated from the released statistics (free; noisy).')}
  estimatedR2: Float
  createdAt: String
}

${d('A training in progress in this subgraph.')}
type TrainingStatus @shareable {
  id: ID!
  dataset: String!
  kind: String!
  stage: String!
  step: Int!
  steps: Int!
  startedAt: String!
}

${d('One measurement of a training.')}
type TrainingMeasurement @shareable {
  name: String!
  statistic: String!
  l1Sensitivity: Float!
  l2Sensitivity: Float!
  mechanism: String!
  scale: Float!
}

${d('What a training would cost (nothing is run or charged).')}
type TrainingEstimate @shareable {
  epsilon: Float!
  delta: Float!
  ${d('Epsilon the accountant would charge (0 when the same training is already released).')}
  epsilonCharged: Float!
  fitsBudget: Boolean!
  remainingAfter: Float
  mechanism: String!
  method: String!
  rowsPerUnit: Int
  encodedColumns: Int
  cached: Boolean!
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
  model(id: ID!): TrainedModel
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
