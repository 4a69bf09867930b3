import type { Command } from 'commander';

/**
 * `cdm train`: trains (or previews with --estimate) a DP regression model through the gateway,
 * as any client would: the caller's token, the domain's mutation, the charge on the caller.
 */
interface TrainOptions {
  gateway: string;
  token?: string;
  domain: string;
  dataset: string;
  kind: string;
  target: string;
  positiveClass?: string;
  threshold?: string;
  features: string;
  epsilon?: string;
  delta?: string;
  mechanism?: string;
  l2?: string;
  method: string;
  syntheticModel?: string;
  estimate?: boolean;
}

const MODEL_FIELDS = 'id kind source method target positiveClass threshold features coefficients { name value } epsilon delta epsilonCharged cached estimatedRows estimatedR2';
const ESTIMATE_FIELDS = 'epsilon delta epsilonCharged fitsBudget remainingAfter mechanism method rowsPerUnit encodedColumns cached measurements { name statistic l2Sensitivity mechanism scale }';

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a DP linear or logistic regression model in a sensitive domain (through the gateway)')
    .requiredOption('--domain <name>', 'sensitive domain, e.g. census')
    .requiredOption('--dataset <name>', 'dataset, e.g. adults')
    .requiredOption('--kind <kind>', 'linear or logistic')
    .requiredOption('--target <column>', 'target column')
    .requiredOption('--features <columns>', 'comma-separated feature columns')
    .option('--positive-class <class>', 'logistic, categorical target: the class predicted as 1')
    .option('--threshold <value>', 'logistic, numeric target: 1 when target > threshold')
    .option('--epsilon <eps>', 'epsilon to spend')
    .option('--delta <delta>', 'delta (Gaussian)')
    .option('--mechanism <m>', 'GAUSSIAN (default) or LAPLACE')
    .option('--l2 <penalty>', 'ridge penalty (default 1e-4)')
    .option('--method <m>', 'AUTO, SSP or SSP_NEWTON', 'AUTO')
    .option('--synthetic-model <id>', 'train for free from this fitted synthetic model instead')
    .option('--estimate', 'only preview the cost (nothing is run or charged)')
    .option('--gateway <url>', 'gateway GraphQL endpoint', process.env.CDM_GATEWAY ?? 'http://localhost:4000/graphql')
    .option('--token <jwt>', 'bearer token (default: $CDM_TOKEN)')
    .action(async (o: TrainOptions) => {
      const token = o.token ?? process.env.CDM_TOKEN;
      if (!token) throw new Error('a token is required: --token or CDM_TOKEN (mint one with `cdm token --sub you`)');
      const result = await runTraining(o, token);
      console.log(JSON.stringify(result, null, 2));
    });
}

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

export async function runTraining(o: TrainOptions, token: string): Promise<unknown> {
  const privacy = o.epsilon || o.delta || o.mechanism ? { epsilon: num(o.epsilon), delta: num(o.delta), mechanism: o.mechanism?.toUpperCase() } : null;
  const args = {
    kind: o.kind.toUpperCase(),
    target: o.target,
    positiveClass: o.positiveClass ?? null,
    threshold: num(o.threshold) ?? null,
    features: o.features.split(',').map((f) => f.trim()).filter(Boolean),
    l2: num(o.l2) ?? null,
    privacy: o.syntheticModel ? null : privacy,
    method: o.method.toUpperCase(),
    source: o.syntheticModel ? 'SYNTHETIC_MODEL' : 'DIRECT',
    syntheticModel: o.syntheticModel ?? null,
  };
  const dataset = o.dataset.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
  const params = '$kind: ModelKind!, $target: String!, $positiveClass: String, $threshold: Float, $features: [String!]!, $l2: Float, $privacy: PrivacyInput, $method: TrainingMethod, $source: TrainingSource, $syntheticModel: ID';
  const call = `(dataset: ${dataset}, kind: $kind, target: $target, positiveClass: $positiveClass, threshold: $threshold, features: $features, l2: $l2, privacy: $privacy, method: $method, source: $source, syntheticModel: $syntheticModel)`;
  const query = o.estimate
    ? `query Estimate(${params}) { ${o.domain} { estimateTraining${call} { ${ESTIMATE_FIELDS} } } }`
    : `mutation Train(${params}) { ${o.domain}TrainModel${call} { ${MODEL_FIELDS} } }`;
  const res = await fetch(o.gateway, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables: args }),
  });
  const body = (await res.json()) as { data?: Record<string, any>; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('\n'));
  return o.estimate ? body.data![o.domain].estimateTraining : body.data![`${o.domain}TrainModel`];
}
