/**
 * `SpotBatchFleet`: the AWS infrastructure of a batch (queue) fleet (reference:
 * queue-training-infra.md), without the reference's defects (docs/field-notes.md):
 * - autoscaling on backlog per worker that the coordinator publishes (namespace
 *   `Synkti/Batch`), not on a metric nothing publishes;
 * - scale to zero only when visible + delayed + in-flight tasks are all zero (the
 *   reference scaled to zero on "visible = 0" while every task was in flight), and a
 *   scale-from-zero rule (target tracking cannot scale out from zero tasks);
 * - a coordinator *role* (no long-lived access keys), least-privilege worker and
 *   coordinator policies, secrets from Secrets Manager/SSM (never plain environment);
 * - lifecycle rules for the prefixes the code writes: `runs/` (checkpoints, cancel
 *   markers: `checkpointKeyOf`, `cancelKeyOf`) and `queue-payloads/` (message bodies over
 *   the SQS size limit), not the reference's `checkpoints/` and `logs/` that nothing wrote.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { TAG_CLUSTER, parseDuration } from '@synkti/core';
import {
  BATCH_PREFIXES,
  BATCH_WORKER_ENV,
  MAX_STATE_POOLS,
  batchQueueNames,
  statePoolNameProblem,
  type BatchWorkerEnvName,
} from '@synkti/core/contracts';
import { environmentFromStack, environmentPreset, type EnvironmentName } from '../environments.ts';
import { checkInt, checkLogRetention, checkProjectName, checkRegion, inputError, isIpv4Cidr } from '../validate.ts';
import { ECS_TASK_EXECUTION_POLICY_ARN, policyJson, serviceTrustPolicy } from './iam-policy.ts';
import { SynktiNetwork, type SynktiNetworkSource, type SynktiNetworkTransform } from './network.ts';
import { SecureBucket, type LifecycleRuleSpec } from './secure-bucket.ts';
import { taskReleaseContainer, taskReleaseStatement, warnWithoutRelease, type TaskReleaseArgs } from './task-release.ts';
import { withTransform, type ComponentParts, type Transform } from './transform.ts';

const C = 'SpotBatchFleet';

/** CloudWatch namespace of the coordinator's metrics (what the autoscaling reads). */
export const BATCH_METRIC_NAMESPACE = 'Synkti/Batch';
/** Coordinator metric: (visible + delayed + in-flight tasks) / live workers; = backlog when there are none. */
export const BATCH_METRIC_BACKLOG_PER_WORKER = 'BacklogPerWorker';
/** Coordinator metric: visible + delayed + in-flight tasks. */
export const BATCH_METRIC_BACKLOG = 'Backlog';
/** The one dimension of those metrics: the fleet's cluster name (`<project>-<environment>`). */
export const BATCH_METRIC_DIMENSION = 'Cluster';

/** Prefix of run objects: checkpoints, cancel markers (batch contract). */
export const RUNS_PREFIX = BATCH_PREFIXES.runs;
/** Prefix of offloaded message bodies (batch contract; tasks/queue DEFAULT_PAYLOAD_PREFIX). */
export const QUEUE_PAYLOADS_PREFIX = BATCH_PREFIXES.queuePayloads;
/** Prefix of state pools: read-only inputs workers fetch and cache (batch contract). */
export const STATE_POOLS_PREFIX = BATCH_PREFIXES.statePools;
/** What workers score unless `objective` says otherwise (the builtin `synkti demo` uses). */
export const DEFAULT_BATCH_OBJECTIVE = 'rosenbrock';
/** Dead letters are kept the SQS maximum. */
export const DLQ_RETENTION_SECONDS = 1_209_600;

type DurationInput = string | number;

export interface BatchRedisArgs {
  /** @default 'cache.t4g.small' */
  nodeType?: string | undefined;
  /** Nodes (more than one adds a replica with automatic failover). @default 1 */
  numNodes?: number | undefined;
  /** AUTH token (pass a Pulumi secret, e.g. `config.requireSecret(...)`); TLS and at-rest encryption are always on. */
  authToken: pulumi.Input<string>;
}

export interface SpotBatchFleetArgs {
  /** Resource namespace (reference `project_name`). @default 'synkti' */
  projectName?: string | undefined;
  /** dev / staging / production preset (reference `environment`). @default from the stack name */
  environment?: EnvironmentName | undefined;
  /** AWS region; the component uses its own provider for it (reference `aws_region`). @default 'us-east-1' */
  region?: string | undefined;
  /** CPU units per task, 1024 = 1 vCPU (reference `worker_cpu`). @default preset */
  workerCpu?: number | undefined;
  /** Memory MiB per task (reference `worker_memory`). @default preset */
  workerMemory?: number | undefined;
  /** Tasks at first deploy (reference `worker_desired_count`). @default preset */
  workerDesiredCount?: number | undefined;
  /** Autoscaling bounds (reference `worker_min_count` / `worker_max_count`). @default preset */
  workerMinCount?: number | undefined;
  workerMaxCount?: number | undefined;
  /** Fargate Spot (reference `enable_spot_instances`). @default preset */
  enableSpot?: boolean | undefined;
  /** Share of tasks above the base on Fargate Spot, 0..100 (reference `spot_percentage`). @default preset */
  spotPercentage?: number | undefined;
  /** Tasks always on on-demand Fargate. @default preset */
  onDemandBase?: number | undefined;
  /** Task lease (reference `sqs_visibility_timeout`), 30 s..12 h. @default preset */
  visibilityTimeout?: DurationInput | undefined;
  /** Task/result retention (reference `sqs_message_retention`), 60 s..14 days. @default preset */
  messageRetention?: DurationInput | undefined;
  /** Deliveries before the dead-letter queue (reference `max_receive_count`). @default preset */
  maxReceiveCount?: number | undefined;
  /**
   * Worker image (reference `worker_image`).
   * @default with `release`: Docker's Node.js 20 image running the release (ADR 0008); with neither, `<ECR repository>:<imageTag>`
   */
  image?: pulumi.Input<string> | undefined;
  /**
   * The packed release the workers run (ADR 0008): a stock Node.js 20 image whose entrypoint
   * fetches `artifacts/synkti-<version>.tgz` from `bucket` and runs it only if its SHA-256
   * matches; `command` must then start with `synkti`. No ECR repository is made. Not with `image`.
   * @default none
   */
  release?: TaskReleaseArgs | undefined;
  /** @default 'latest' */
  imageTag?: string | undefined;
  /**
   * Container command. With no flags the worker reads everything from the variables this
   * component injects (BATCH_WORKER_ENV in @synkti/core/contracts).
   * @default ['synkti', 'batch', 'worker']
   */
  command?: string[] | undefined;
  /**
   * The objective workers score (SYNKTI_OBJECTIVE): a builtin name or a module path in the image.
   * @default 'rosenbrock'
   */
  objective?: string | undefined;
  /**
   * State pools every worker fetches before its first task (SYNKTI_STATE_POOLS): names of
   * pools uploaded with `synkti batch pool upload NAME DIR` to this fleet's bucket under
   * `state-pools/`; each file is checked against its SHA-256, and the objective reads pool
   * NAME at `$SYNKTI_STATE_POOLS_DIR/NAME/`. A missing pool stops the worker before any task.
   * @default none
   */
  statePools?: string[] | undefined;
  /** Plain (non-secret) environment of the workers. Names that look secret are refused. @default {} */
  environmentVariables?: Record<string, string> | undefined;
  /** Secret environment: name → Secrets Manager or SSM parameter ARN (fetched by ECS, never in the task definition). @default {} */
  secrets?: Record<string, string> | undefined;
  /** CIDR of the VPC made when no `subnetIds` are given (reference `vpc_cidr`). @default '10.0.0.0/16' */
  vpcCidr?: string | undefined;
  /** Zones of that VPC (reference `az_count`). @default preset */
  azCount?: number | undefined;
  /** Private task subnets behind a NAT gateway (reference `enable_nat_gateway`). @default preset */
  natGateway?: boolean | undefined;
  /** Use an existing VPC instead (both or neither). */
  vpcId?: pulumi.Input<string> | undefined;
  subnetIds?: pulumi.Input<string>[] | undefined;
  /** Give tasks a public IP (existing subnets without NAT). @default true when no NAT */
  assignPublicIp?: boolean | undefined;
  /** Target backlog per worker for target tracking. @default 2 */
  backlogPerWorkerTarget?: number | undefined;
  /**
   * Where target tracking reads backlog per worker: 'coordinator' = the `Synkti/Batch`
   * `BacklogPerWorker` metric the coordinator publishes; 'queue' = metric math over what
   * AWS publishes itself (SQS visible + in-flight + delayed, divided by Container Insights'
   * RunningTaskCount), for coordinators that do not publish.
   * @default 'coordinator'
   */
  backlogSource?: 'coordinator' | 'queue' | undefined;
  /** Scale to zero after the queue has been empty (in flight included) this long. @default '5 minutes' */
  scaleToZeroAfter?: DurationInput | undefined;
  /**
   * Principals allowed to assume the coordinator role (no access keys are ever made).
   * @default this account (`arn:aws:iam::<account>:root`: its IAM users/roles allowed sts:AssumeRole on it)
   */
  coordinatorPrincipals?: pulumi.Input<string>[] | undefined;
  /** Optional Redis (reference `enable_redis`). @default none */
  redis?: BatchRedisArgs | undefined;
  /** CloudWatch Logs retention, days (reference `log_retention_days`). @default preset */
  logRetentionDays?: number | undefined;
  /** SNS topic for the dead-letter alarm. @default none (the alarm still shows in the console) */
  alarmTopicArn?: pulumi.Input<string> | undefined;
  /** Tags added to every resource (reference `additional_tags`). @default {} */
  tags?: Record<string, string> | undefined;
  /** Adjust the args of child resources before they are made (see transform.ts). @default {} */
  transform?: SpotBatchFleetTransform | undefined;
}

const SECRET_NAME_RE = /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY|CREDENTIAL)/i;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_ARN_RE = /^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:\d{12}:(secret:|parameter\/).+$/;
/** Fargate CPU → allowed memory (MiB). */
const FARGATE_SIZES: Record<number, [number, number, number]> = {
  256: [512, 2048, 1024],
  512: [1024, 4096, 1024],
  1024: [2048, 8192, 1024],
  2048: [4096, 16384, 1024],
  4096: [8192, 30720, 1024],
  8192: [16384, 61440, 4096],
  16384: [32768, 122880, 8192],
};

function seconds(field: string, value: DurationInput, min: number, max: number): number {
  let ms: number;
  try {
    ms = parseDuration(value, field);
  } catch {
    throw inputError(C, field, `"${String(value)}" is not a duration`, 'write e.g. "10 minutes" or a number of milliseconds');
  }
  const s = Math.round(ms / 1000);
  if (s < min || s > max) throw inputError(C, field, `must be ${min}..${max} seconds (got ${s})`, `pick a value within the SQS limits`);
  return s;
}

interface ResolvedBatchArgs {
  project: string;
  environment: EnvironmentName;
  cluster: string;
  region: string;
  cpu: number;
  memory: number;
  desired: number;
  min: number;
  max: number;
  spot: boolean;
  spotPercentage: number;
  onDemandBase: number;
  visibilitySeconds: number;
  retentionSeconds: number;
  maxReceiveCount: number;
  command: string[];
  objective: string;
  statePools: string[];
  env: Record<string, string>;
  secrets: Record<string, string>;
  vpcCidr: string;
  azCount: number;
  nat: boolean;
  backlogTarget: number;
  backlogSource: 'coordinator' | 'queue';
  scaleToZeroMinutes: number;
  logRetentionDays: number;
  versioning: boolean;
  deletionProtection: boolean;
  runRetentionDays: number | undefined;
}

/** `statePools`: pool names (the contract's rule), no duplicates, at most MAX_STATE_POOLS. */
function checkStatePools(names: readonly string[]): string[] {
  if (!Array.isArray(names)) throw inputError(C, 'statePools', 'is not a list of pool names', "pass e.g. statePools: ['rosenbrock-data']");
  if (names.length > MAX_STATE_POOLS)
    throw inputError(
      C,
      'statePools',
      `has ${names.length} pools (at most ${MAX_STATE_POOLS})`,
      'put the inputs a worker needs into fewer pools',
    );
  names.forEach((name, i) => {
    const problem = typeof name === 'string' ? statePoolNameProblem(name) : 'is not a string';
    if (problem !== undefined)
      throw inputError(
        C,
        `statePools[${i}]`,
        `(${String(name).slice(0, 100)}): ${problem}`,
        'use 1-63 lower-case letters, digits, ".", "_" and "-", starting with a letter or digit: the name given to `synkti batch pool upload`',
      );
    if (names.indexOf(name) !== i) throw inputError(C, `statePools[${i}]`, `("${name}") is listed twice`, 'list each pool once');
  });
  return [...names];
}

export function resolveBatchArgs(args: SpotBatchFleetArgs, stack: string): ResolvedBatchArgs {
  const project = checkProjectName(C, 'projectName', args.projectName ?? 'synkti');
  const environment = args.environment ?? environmentFromStack(stack);
  const p = environmentPreset(environment);
  const region = checkRegion(C, 'region', args.region ?? 'us-east-1');
  if (args.image !== undefined && args.release !== undefined)
    throw inputError(
      C,
      'release',
      'is given with image',
      'give one: release (the stock Node.js image runs it) or image (your own worker image)',
    );
  if (args.release !== undefined && args.command !== undefined && args.command[0] !== 'synkti') {
    throw inputError(
      C,
      'command',
      `starts with "${args.command[0] ?? ''}" but with release it is the CLI as typed`,
      "start it with synkti, e.g. ['synkti', 'batch', 'worker']",
    );
  }
  const cpu = args.workerCpu ?? p.workerCpu;
  const sizes = FARGATE_SIZES[cpu];
  if (!sizes) throw inputError(C, 'workerCpu', `${cpu} is not a Fargate CPU size`, `use one of ${Object.keys(FARGATE_SIZES).join(', ')}`);
  const memory = args.workerMemory ?? p.workerMemory;
  if (!Number.isInteger(memory) || memory < sizes[0] || memory > sizes[1] || (memory - sizes[0]) % sizes[2] !== 0) {
    throw inputError(
      C,
      'workerMemory',
      `${memory} MiB does not fit ${cpu} CPU units on Fargate`,
      `use ${sizes[0]}..${sizes[1]} MiB in steps of ${sizes[2]}`,
    );
  }
  const min = checkInt(C, 'workerMinCount', args.workerMinCount ?? p.workerMinCount, 0, 5000);
  const max = checkInt(C, 'workerMaxCount', args.workerMaxCount ?? p.workerMaxCount, 1, 5000);
  if (max < min) throw inputError(C, 'workerMaxCount', `(${max}) is below workerMinCount (${min})`, 'raise workerMaxCount');
  const desired = checkInt(C, 'workerDesiredCount', args.workerDesiredCount ?? Math.min(p.workerDesiredCount, max), min, max);
  const spot = args.enableSpot ?? p.enableSpot;
  const spotPercentage = checkInt(C, 'spotPercentage', args.spotPercentage ?? p.spotPercentage, 0, 100);
  const onDemandBase = checkInt(C, 'onDemandBase', args.onDemandBase ?? p.onDemandBase, 0, 100_000);
  const visibilitySeconds =
    args.visibilityTimeout === undefined ? p.visibilityTimeoutSeconds : seconds('visibilityTimeout', args.visibilityTimeout, 30, 43_200);
  const retentionSeconds =
    args.messageRetention === undefined ? p.messageRetentionSeconds : seconds('messageRetention', args.messageRetention, 60, 1_209_600);
  const maxReceiveCount = checkInt(C, 'maxReceiveCount', args.maxReceiveCount ?? p.maxReceiveCount, 1, 1000);
  const env = { ...args.environmentVariables };
  for (const name of Object.keys(env)) {
    if (!ENV_NAME_RE.test(name))
      throw inputError(C, `environmentVariables.${name}`, 'is not a valid variable name', 'use letters, digits and _');
    if (SECRET_NAME_RE.test(name))
      throw inputError(
        C,
        `environmentVariables.${name}`,
        'looks like a secret in plain text',
        `put it in Secrets Manager or SSM and pass secrets: { ${name}: '<arn>' }`,
      );
  }
  const secrets = { ...args.secrets };
  for (const [name, arn] of Object.entries(secrets)) {
    if (!ENV_NAME_RE.test(name)) throw inputError(C, `secrets.${name}`, 'is not a valid variable name', 'use letters, digits and _');
    if (!SECRET_ARN_RE.test(arn))
      throw inputError(
        C,
        `secrets.${name}`,
        `"${arn}" is not a Secrets Manager or SSM parameter ARN`,
        'pass the ARN of the secret (arn:aws:secretsmanager:... or arn:aws:ssm:...:parameter/...)',
      );
  }
  const vpcCidr = args.vpcCidr ?? '10.0.0.0/16';
  if (!isIpv4Cidr(vpcCidr) || Number(vpcCidr.split('/')[1]) > 20)
    throw inputError(C, 'vpcCidr', `"${vpcCidr}" is not an IPv4 CIDR of /20 or larger`, 'use e.g. 10.0.0.0/16');
  if ((args.vpcId === undefined) !== (args.subnetIds === undefined))
    throw inputError(C, 'vpcId/subnetIds', 'must be given together', 'pass both to use an existing VPC, or neither to create one');
  if (args.subnetIds !== undefined && args.subnetIds.length < 2)
    throw inputError(C, 'subnetIds', `has ${args.subnetIds.length} subnet(s)`, 'give subnets in at least two zones');
  const backlogTarget = args.backlogPerWorkerTarget ?? 2;
  if (!(backlogTarget > 0 && backlogTarget <= 10_000))
    throw inputError(C, 'backlogPerWorkerTarget', `must be > 0 (got ${String(backlogTarget)})`, 'use e.g. 2 tasks waiting per worker');
  const backlogSource = args.backlogSource ?? 'coordinator';
  if (backlogSource !== 'coordinator' && backlogSource !== 'queue')
    throw inputError(
      C,
      'backlogSource',
      `"${String(backlogSource)}" is not coordinator or queue`,
      "use 'coordinator' (the coordinator publishes Synkti/Batch) or 'queue'",
    );
  const scaleToZeroMinutes = Math.max(1, Math.round(seconds('scaleToZeroAfter', args.scaleToZeroAfter ?? '5 minutes', 60, 86_400) / 60));
  const statePools = checkStatePools(args.statePools ?? []);
  if (args.redis) {
    checkInt(C, 'redis.numNodes', args.redis.numNodes ?? 1, 1, 6);
    if (args.redis.authToken === undefined || args.redis.authToken === '')
      throw inputError(C, 'redis.authToken', 'is missing', 'pass a secret AUTH token (config.requireSecret)');
  }
  return {
    project,
    environment,
    cluster: `${project}-${environment}`,
    region,
    cpu,
    memory,
    desired,
    min,
    max,
    spot,
    spotPercentage,
    onDemandBase,
    visibilitySeconds,
    retentionSeconds,
    maxReceiveCount,
    command: args.command ?? ['synkti', 'batch', 'worker'],
    objective: args.objective ?? DEFAULT_BATCH_OBJECTIVE,
    statePools,
    env,
    secrets,
    vpcCidr,
    azCount: checkInt(C, 'azCount', args.azCount ?? p.azCount, 2, 6),
    nat: args.natGateway ?? p.natGateway,
    backlogTarget,
    backlogSource,
    scaleToZeroMinutes,
    logRetentionDays: checkLogRetention(C, 'logRetentionDays', args.logRetentionDays ?? p.logRetentionDays),
    versioning: p.versioning,
    deletionProtection: p.deletionProtection,
    runRetentionDays: p.runRetentionDays,
  };
}

/** Lifecycle rules for the prefixes the batch code writes. */
export function batchLifecycleRules(a: {
  retentionSeconds: number;
  runRetentionDays: number | undefined;
  versioning: boolean;
}): LifecycleRuleSpec[] {
  // A body offloaded to S3 must outlive its message, including 14 days in the dead-letter queue.
  const payloadDays = Math.ceil(Math.max(a.retentionSeconds, DLQ_RETENTION_SECONDS) / 86_400) + 1;
  return [
    {
      id: 'runs',
      prefix: RUNS_PREFIX,
      ...(a.runRetentionDays !== undefined
        ? { expireDays: a.runRetentionDays }
        : { transitions: [{ days: 30, storageClass: 'STANDARD_IA' as const }] }),
      // Each generation overwrites the checkpoint: old versions are only a short safety net.
      ...(a.versioning ? { noncurrentExpireDays: 7 } : {}),
    },
    { id: 'queue-payloads', prefix: QUEUE_PAYLOADS_PREFIX, expireDays: payloadDays, ...(a.versioning ? { noncurrentExpireDays: 1 } : {}) },
  ];
}

/** Hooks for the fleet's child resources (see transform.ts): each gets the args this component built. */
export interface SpotBatchFleetTransform extends SynktiNetworkTransform {
  queue?: Transform<aws.sqs.QueueArgs> | undefined;
  securityGroup?: Transform<aws.ec2.SecurityGroupArgs> | undefined;
  role?: Transform<aws.iam.RoleArgs> | undefined;
  logGroup?: Transform<aws.cloudwatch.LogGroupArgs> | undefined;
  cluster?: Transform<aws.ecs.ClusterArgs> | undefined;
  taskDefinition?: Transform<aws.ecs.TaskDefinitionArgs> | undefined;
  service?: Transform<aws.ecs.ServiceArgs> | undefined;
  scalingPolicy?: Transform<aws.appautoscaling.PolicyArgs> | undefined;
  alarm?: Transform<aws.cloudwatch.MetricAlarmArgs> | undefined;
}

/** What every part of the fleet is built from. */
type BatchParts = ComponentParts<ResolvedBatchArgs, SpotBatchFleetArgs, SpotBatchFleetTransform> & { account: pulumi.Output<string> };

interface BatchQueues {
  tasks: aws.sqs.Queue;
  tasksDlq: aws.sqs.Queue;
  results: aws.sqs.Queue;
  resultsDlq: aws.sqs.Queue;
  arns: pulumi.Output<string>[];
}

interface BatchImage {
  release: ReturnType<typeof taskReleaseContainer> | undefined;
  repo: aws.ecr.Repository | undefined;
  image: pulumi.Input<string>;
}

interface BatchRoles {
  execution: aws.iam.Role;
  task: aws.iam.Role;
}

interface BatchWorkers {
  cluster: aws.ecs.Cluster;
  service: aws.ecs.Service;
}

export class SpotBatchFleet extends pulumi.ComponentResource {
  readonly environment: EnvironmentName;
  /** `<project>-<environment>`: ECS cluster name and the metrics' Cluster dimension. */
  readonly clusterName: string;
  readonly vpcId: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string[]>;
  readonly privateSubnetIds: pulumi.Output<string[]>;
  readonly ecsClusterName: pulumi.Output<string>;
  readonly ecsClusterArn: pulumi.Output<string>;
  readonly ecsServiceName: pulumi.Output<string>;
  /** The worker image's repository; '' with `release` or `image` (no repository is made). */
  readonly ecrRepositoryUrl: pulumi.Output<string>;
  readonly taskQueueUrl: pulumi.Output<string>;
  readonly taskQueueArn: pulumi.Output<string>;
  readonly resultQueueUrl: pulumi.Output<string>;
  readonly resultQueueArn: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  readonly bucketArn: pulumi.Output<string>;
  readonly redisEndpoint: pulumi.Output<string | undefined>;
  readonly redisPort: number;
  readonly taskRoleArn: pulumi.Output<string>;
  /** Role the coordinator assumes (replaces the reference's access-key outputs). */
  readonly coordinatorRoleArn: pulumi.Output<string>;
  /** Environment for running the coordinator (no credentials in it). */
  readonly coordinatorEnv: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: SpotBatchFleetArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    const a = resolveBatchArgs(args, pulumi.getStack());
    super('synkti:aws:SpotBatchFleet', name, {}, opts);
    this.environment = a.environment;
    this.clusterName = a.cluster;
    const provider = new aws.Provider(`${name}-aws`, { region: a.region as aws.Region }, { parent: this });
    const o = { parent: this, provider };
    const tags = { ...args.tags, [TAG_CLUSTER]: a.cluster, SynktiEnvironment: a.environment };
    const parts: BatchParts = { name, a, args, o, tags, account: aws.getCallerIdentityOutput({}, o).accountId, t: args.transform ?? {} };

    const network = createNetwork(parts);
    const tasksSg = createWorkerSecurityGroup(parts, network);
    const queues = createQueues(parts);
    const bucket = createStorage(parts);
    const image = createImage(parts);
    const logGroup = withTransform(
      aws.cloudwatch.LogGroup,
      `${name}-worker`,
      { name: `/ecs/${a.cluster}/worker`, retentionInDays: a.logRetentionDays, tags },
      o,
      parts.t.logGroup,
    );
    const roles = createIdentity(parts, queues, bucket);
    const workers = createWorkers(parts, { network, tasksSg, queues, bucket, image, logGroup, roles });
    createScaling(parts, queues, workers);
    createAlarms(parts, queues);
    const coordinatorRole = createCoordinatorRole(parts, queues, bucket);
    const redis = args.redis ? createRedis(parts, args.redis, network, tasksSg) : undefined;

    this.vpcId = network.vpcId;
    this.publicSubnetIds = pulumi.all(network.publicSubnetIds);
    this.privateSubnetIds = pulumi.all(network.privateSubnetIds);
    this.taskQueueUrl = queues.tasks.url;
    this.taskQueueArn = queues.tasks.arn;
    this.resultQueueUrl = queues.results.url;
    this.resultQueueArn = queues.results.arn;
    this.deadLetterQueueUrl = queues.tasksDlq.url;
    this.bucketName = bucket.name;
    this.bucketArn = bucket.arn;
    this.ecrRepositoryUrl = image.repo?.repositoryUrl ?? pulumi.output('');
    this.taskRoleArn = roles.task.arn;
    this.ecsClusterName = workers.cluster.name;
    this.ecsClusterArn = workers.cluster.arn;
    this.ecsServiceName = workers.service.name;
    this.coordinatorRoleArn = coordinatorRole.arn;
    this.redisPort = 6379;
    this.redisEndpoint = redis?.primaryEndpointAddress ?? pulumi.output(undefined);
    this.coordinatorEnv = coordinatorEnvOf(a, queues, bucket, coordinatorRole);

    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
      ecsClusterName: this.ecsClusterName,
      ecsClusterArn: this.ecsClusterArn,
      ecsServiceName: this.ecsServiceName,
      ecrRepositoryUrl: this.ecrRepositoryUrl,
      taskQueueUrl: this.taskQueueUrl,
      taskQueueArn: this.taskQueueArn,
      resultQueueUrl: this.resultQueueUrl,
      resultQueueArn: this.resultQueueArn,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      bucketName: this.bucketName,
      bucketArn: this.bucketArn,
      redisEndpoint: this.redisEndpoint,
      redisPort: this.redisPort,
      taskRoleArn: this.taskRoleArn,
      coordinatorRoleArn: this.coordinatorRoleArn,
      coordinatorEnv: this.coordinatorEnv,
    });
  }
}

/** The given VPC, or one made here: tasks in private subnets behind a NAT, else in public ones. */
function createNetwork({ name, a, args, o, tags, t }: BatchParts): SynktiNetwork {
  const source: SynktiNetworkSource =
    args.vpcId !== undefined && args.subnetIds !== undefined
      ? { kind: 'existing', vpcId: args.vpcId, subnetIds: args.subnetIds }
      : { kind: 'create', cidr: a.vpcCidr, azCount: a.azCount, nat: a.nat ? 'single' : 'none' };
  return new SynktiNetwork(name, { source, label: a.cluster, tags, sharedPrivateRouteTable: true, transform: t }, o);
}

/** Workers only call out (SQS, S3, ECR, logs over HTTPS): no ingress at all. */
function createWorkerSecurityGroup({ name, a, args, o, tags, t }: BatchParts, network: SynktiNetwork): aws.ec2.SecurityGroup {
  return withTransform(
    aws.ec2.SecurityGroup,
    `${name}-tasks`,
    {
      name: `${a.cluster}-tasks`,
      description: `Batch workers of ${a.cluster}: no ingress, HTTPS out`,
      vpcId: network.vpcId,
      ingress: [],
      egress: [
        { protocol: 'tcp', fromPort: 443, toPort: 443, cidrBlocks: ['0.0.0.0/0'], description: 'AWS APIs over HTTPS' },
        ...(args.redis
          ? [{ protocol: 'tcp', fromPort: 6379, toPort: 6379, cidrBlocks: [network.cidrBlock()], description: 'Redis in the VPC' }]
          : []),
      ],
      tags,
    },
    o,
    t.securityGroup,
  );
}

/**
 * Tasks and results, each with its own dead-letter queue named `<queue>-dlq`, as the Synkti
 * SQS driver expects. Names from the batch contract: the workers derive the same ones from
 * SYNKTI_CLUSTER and check the URLs against them.
 */
function createQueues({ name, a, o, tags, t }: BatchParts): BatchQueues {
  const queueNames = batchQueueNames(a.cluster);
  const queue = (queueName: string, visibility: number, retention: number, dlq?: aws.sqs.Queue): aws.sqs.Queue => {
    const suffix = queueName.slice(a.cluster.length + 1);
    return withTransform(
      aws.sqs.Queue,
      `${name}-${suffix}`,
      {
        name: `${a.cluster}-${suffix}`,
        visibilityTimeoutSeconds: visibility,
        messageRetentionSeconds: retention,
        receiveWaitTimeSeconds: 20,
        maxMessageSize: 262_144,
        sqsManagedSseEnabled: true,
        ...(dlq
          ? {
              redrivePolicy: dlq.arn.apply((deadLetterTargetArn) =>
                JSON.stringify({ deadLetterTargetArn, maxReceiveCount: a.maxReceiveCount }),
              ),
            }
          : {}),
        tags,
      },
      o,
      t.queue,
    );
  };
  const tasksDlq = queue(queueNames.tasksDeadLetter, a.visibilitySeconds, DLQ_RETENTION_SECONDS);
  const tasks = queue(queueNames.tasks, a.visibilitySeconds, a.retentionSeconds, tasksDlq);
  const resultsDlq = queue(queueNames.resultsDeadLetter, 30, DLQ_RETENTION_SECONDS);
  const results = queue(queueNames.results, 30, a.retentionSeconds, resultsDlq);
  return { tasks, tasksDlq, results, resultsDlq, arns: [tasks.arn, tasksDlq.arn, results.arn, resultsDlq.arn] };
}

/** Run objects and offloaded bodies, with lifecycle rules for exactly those prefixes. */
function createStorage({ name, a, account, o, tags }: BatchParts): SecureBucket {
  return new SecureBucket(
    `${name}-storage`,
    {
      bucket: pulumi.interpolate`${a.cluster}-batch-${account}`,
      versioned: a.versioning,
      keep: a.deletionProtection,
      forceDestroy: !a.deletionProtection,
      lifecycleRules: batchLifecycleRules({
        retentionSeconds: a.retentionSeconds,
        runRetentionDays: a.runRetentionDays,
        versioning: a.versioning,
      }),
      tags,
    },
    o,
  );
}

/** The code: the release on the stock Node.js image (ADR 0008), the given image, or (neither) this ECR repository's. */
function createImage({ name, a, args, o, tags }: BatchParts): BatchImage {
  const release = args.release !== undefined ? taskReleaseContainer(args.release, a.region) : undefined;
  const repo =
    release !== undefined || args.image !== undefined
      ? undefined
      : new aws.ecr.Repository(
          `${name}-worker`,
          {
            name: `${a.cluster}-worker`,
            imageTagMutability: 'MUTABLE',
            imageScanningConfiguration: { scanOnPush: true },
            encryptionConfigurations: [{ encryptionType: 'AES256' }],
            forceDelete: !a.deletionProtection,
            tags,
          },
          o,
        );
  if (repo)
    new aws.ecr.LifecyclePolicy(
      `${name}-worker`,
      {
        repository: repo.name,
        policy: JSON.stringify({
          rules: [
            {
              rulePriority: 1,
              description: 'keep the last 10 images',
              selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 10 },
              action: { type: 'expire' },
            },
          ],
        }),
      },
      o,
    );
  if (repo) warnWithoutRelease(C, name, args.imageTag ?? 'latest', repo);
  const image = release?.image ?? args.image ?? pulumi.interpolate`${repo!.repositoryUrl}:${args.imageTag ?? 'latest'}`;
  return { release, repo, image };
}

/** The execution role (pulls the image, reads the task secrets) and the workers' least-privilege task role. */
function createIdentity({ name, a, args, o, tags, t }: BatchParts, queues: BatchQueues, bucket: SecureBucket): BatchRoles {
  const ecsTrust = serviceTrustPolicy('ecs-tasks.amazonaws.com');
  const execution = withTransform(
    aws.iam.Role,
    `${name}-execution`,
    { name: `${a.cluster}-execution`, assumeRolePolicy: ecsTrust, tags },
    o,
    t.role,
  );
  new aws.iam.RolePolicyAttachment(`${name}-execution`, { role: execution.name, policyArn: ECS_TASK_EXECUTION_POLICY_ARN }, o);
  const secretArns = Object.values(a.secrets);
  if (secretArns.length > 0) {
    new aws.iam.RolePolicy(
      `${name}-execution-secrets`,
      {
        role: execution.id,
        policy: policyJson([
          { Sid: 'ReadTaskSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'ssm:GetParameters'], Resource: secretArns },
        ]),
      },
      o,
    );
  }
  const task = withTransform(aws.iam.Role, `${name}-task`, { name: `${a.cluster}-task`, assumeRolePolicy: ecsTrust, tags }, o, t.role);
  new aws.iam.RolePolicy(
    `${name}-task`,
    {
      role: task.id,
      policy: policyJson([
        {
          Sid: 'LeaseTasks',
          Effect: 'Allow',
          Action: [
            'sqs:ReceiveMessage',
            'sqs:DeleteMessage',
            'sqs:ChangeMessageVisibility',
            'sqs:ChangeMessageVisibilityBatch',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
          ],
          Resource: queues.tasks.arn,
        },
        // A task that fails for good goes to the dead-letter queue with its error (Synkti SQS driver).
        {
          Sid: 'DeadLetterTasks',
          Effect: 'Allow',
          Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
          Resource: queues.tasksDlq.arn,
        },
        {
          Sid: 'SendResults',
          Effect: 'Allow',
          Action: ['sqs:SendMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
          Resource: [queues.results.arn, queues.resultsDlq.arn],
        },
        {
          Sid: 'QueuePayloads',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject'],
          Resource: pulumi.interpolate`${bucket.arn}/${QUEUE_PAYLOADS_PREFIX}*`,
        },
        // State pools are read-only inputs for workers: the coordinator uploads them.
        {
          Sid: 'ReadStatePools',
          Effect: 'Allow',
          Action: 's3:GetObject',
          Resource: pulumi.interpolate`${bucket.arn}/${STATE_POOLS_PREFIX}*`,
        },
        ...(args.release !== undefined ? [taskReleaseStatement(args.release)] : []),
      ]),
    },
    o,
  );
  return { execution, task };
}

/** The ECS cluster, its Fargate (Spot) capacity, the worker task definition and its service. */
function createWorkers(
  { name, a, args, o, tags, t }: BatchParts,
  d: {
    network: SynktiNetwork;
    tasksSg: aws.ec2.SecurityGroup;
    queues: BatchQueues;
    bucket: SecureBucket;
    image: BatchImage;
    logGroup: aws.cloudwatch.LogGroup;
    roles: BatchRoles;
  },
): BatchWorkers {
  const cluster = withTransform(
    aws.ecs.Cluster,
    `${name}-cluster`,
    {
      name: a.cluster,
      // Container Insights publishes RunningTaskCount, which the scale-from-zero rule reads.
      settings: [{ name: 'containerInsights', value: 'enabled' }],
      tags,
    },
    o,
    t.cluster,
  );
  const strategy = a.spot
    ? [
        { capacityProvider: 'FARGATE', base: a.onDemandBase, weight: 100 - a.spotPercentage },
        { capacityProvider: 'FARGATE_SPOT', base: 0, weight: a.spotPercentage },
      ]
    : [{ capacityProvider: 'FARGATE', base: a.onDemandBase, weight: 100 }];
  const providers = new aws.ecs.ClusterCapacityProviders(
    `${name}-capacity`,
    {
      clusterName: cluster.name,
      capacityProviders: ['FARGATE', 'FARGATE_SPOT'],
      defaultCapacityProviderStrategies: strategy,
    },
    o,
  );
  const taskDefinition = withTransform(
    aws.ecs.TaskDefinition,
    `${name}-worker`,
    {
      family: `${a.cluster}-worker`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: String(a.cpu),
      memory: String(a.memory),
      executionRoleArn: d.roles.execution.arn,
      taskRoleArn: d.roles.task.arn,
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
      containerDefinitions: workerContainerDefinitions(a, d.image, d.queues, d.bucket, d.logGroup),
      tags,
    },
    o,
    t.taskDefinition,
  );
  const service = withTransform(
    aws.ecs.Service,
    `${name}-worker`,
    {
      name: `${a.cluster}-worker`,
      cluster: cluster.arn,
      taskDefinition: taskDefinition.arn,
      desiredCount: a.desired,
      capacityProviderStrategies: strategy,
      networkConfiguration: {
        subnets: d.network.workloadSubnetIds,
        securityGroups: [d.tasksSg.id],
        assignPublicIp: args.vpcId !== undefined ? (args.assignPublicIp ?? true) : d.network.workloadsArePublic,
      },
      deploymentCircuitBreaker: { enable: true, rollback: true },
      deploymentMinimumHealthyPercent: 50,
      deploymentMaximumPercent: 200,
      propagateTags: 'SERVICE',
      enableExecuteCommand: false,
      tags,
    },
    { ...o, dependsOn: [providers], ignoreChanges: ['desiredCount'] },
    t.service,
  );
  return { cluster, service };
}

/** The worker container: every variable of the batch contract, so `synkti batch worker` with no flags has what it needs. */
function workerContainerDefinitions(
  a: ResolvedBatchArgs,
  image: BatchImage,
  queues: BatchQueues,
  bucket: SecureBucket,
  logGroup: aws.cloudwatch.LogGroup,
): pulumi.Output<string> {
  // SYNKTI_STATE_POOLS only when the fleet names pools: unset, workers fetch none.
  const stackEnv: Record<Exclude<BatchWorkerEnvName, 'SYNKTI_STATE_POOLS'>, pulumi.Input<string>> & { SYNKTI_STATE_POOLS?: string } = {
    SYNKTI_CLUSTER: a.cluster,
    SYNKTI_TASK_QUEUE_URL: queues.tasks.url,
    SYNKTI_RESULT_QUEUE_URL: queues.results.url,
    SYNKTI_DEAD_LETTER_QUEUE_URL: queues.tasksDlq.url,
    SYNKTI_BUCKET: bucket.name,
    SYNKTI_RUNS_PREFIX: RUNS_PREFIX,
    SYNKTI_STATE_POOLS_PREFIX: STATE_POOLS_PREFIX,
    ...(a.statePools.length > 0 ? { SYNKTI_STATE_POOLS: a.statePools.join(',') } : {}),
    SYNKTI_OBJECTIVE: a.objective,
    AWS_REGION: a.region,
  };
  for (const key of Object.keys(stackEnv)) {
    if (!(key in BATCH_WORKER_ENV)) throw new Error(`SpotBatchFleet injects ${key}, which the batch contract does not declare`);
  }
  const containerEnv: Record<string, pulumi.Input<string>> = { ...a.env, ...stackEnv, SYNKTI_BACKEND: 'sqs' };
  const release = image.release;
  return pulumi.all([image.image, pulumi.output(containerEnv), logGroup.name]).apply(([img, env, group]) =>
    JSON.stringify([
      {
        name: 'worker',
        image: img,
        essential: true,
        // The entrypoint hands argv[2..] to the release's CLI (argv[1] is the command's `synkti`).
        ...(release !== undefined ? { entryPoint: release.entryPoint } : {}),
        command: a.command,
        environment: Object.entries(env)
          .sort(([x], [y]) => x.localeCompare(y))
          .map(([key, value]) => ({ name: key, value })),
        secrets: Object.entries(a.secrets).map(([key, valueFrom]) => ({ name: key, valueFrom })),
        logConfiguration: {
          logDriver: 'awslogs',
          options: { 'awslogs-group': group, 'awslogs-region': a.region, 'awslogs-stream-prefix': 'worker' },
        },
        // Fargate Spot gives SIGTERM two minutes before the stop: the worker hands its leases back.
        stopTimeout: 120,
        readonlyRootFilesystem: false,
      },
    ]),
  );
}

/** SQS publishes these itself: in-flight (NotVisible) and delayed tasks count as work. */
function workQueries(tasksQueue: aws.sqs.Queue) {
  return [
    { id: 'visible', metricName: 'ApproximateNumberOfMessagesVisible' },
    { id: 'inflight', metricName: 'ApproximateNumberOfMessagesNotVisible' },
    { id: 'delayed', metricName: 'ApproximateNumberOfMessagesDelayed' },
  ].map((m) => ({
    id: m.id,
    returnData: false,
    metric: { namespace: 'AWS/SQS', metricName: m.metricName, dimensions: { QueueName: tasksQueue.name }, period: 60, stat: 'Maximum' },
  }));
}

/**
 * Target tracking on backlog per worker, a scale-to-minimum rule when the queue is idle
 * (in flight included) and a scale-from-zero rule (target tracking cannot scale out from zero).
 */
function createScaling({ name, a, o, tags, t }: BatchParts, queues: BatchQueues, workers: BatchWorkers): void {
  const target = new aws.appautoscaling.Target(
    `${name}-worker`,
    {
      serviceNamespace: 'ecs',
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: pulumi.interpolate`service/${workers.cluster.name}/${workers.service.name}`,
      minCapacity: a.min,
      maxCapacity: a.max,
      tags,
    },
    o,
  );
  const scaling = { serviceNamespace: target.serviceNamespace, scalableDimension: target.scalableDimension, resourceId: target.resourceId };
  const work = workQueries(queues.tasks);
  const running = {
    id: 'running',
    returnData: false,
    metric: {
      namespace: 'ECS/ContainerInsights',
      metricName: 'RunningTaskCount',
      dimensions: { ClusterName: workers.cluster.name, ServiceName: workers.service.name },
      period: 60,
      stat: 'Maximum',
    },
  };
  const customizedMetricSpecification =
    a.backlogSource === 'coordinator'
      ? {
          namespace: BATCH_METRIC_NAMESPACE,
          metricName: BATCH_METRIC_BACKLOG_PER_WORKER,
          dimensions: [{ name: BATCH_METRIC_DIMENSION, value: a.cluster }],
          statistic: 'Average',
        }
      : {
          metrics: [
            ...[...work, running].map((q) => ({
              id: q.id,
              returnData: false,
              metricStat: {
                stat: 'Maximum',
                metric: {
                  namespace: q.metric.namespace,
                  metricName: q.metric.metricName,
                  dimensions: Object.entries(q.metric.dimensions).map(([dimName, value]) => ({ name: dimName, value })),
                },
              },
            })),
            {
              id: 'perworker',
              expression: 'IF(FILL(running, 0) > 0, (visible + inflight + delayed) / FILL(running, 1), visible + inflight + delayed)',
              label: 'backlog per worker',
              returnData: true,
            },
          ],
        };
  withTransform(
    aws.appautoscaling.Policy,
    `${name}-backlog`,
    {
      name: `${a.cluster}-backlog-per-worker`,
      policyType: 'TargetTrackingScaling',
      ...scaling,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: a.backlogTarget,
        scaleInCooldown: 300,
        scaleOutCooldown: 60,
        customizedMetricSpecification,
      },
    },
    o,
    t.scalingPolicy,
  );
  const toZero = withTransform(
    aws.appautoscaling.Policy,
    `${name}-scale-to-zero`,
    {
      name: `${a.cluster}-scale-to-min-when-idle`,
      policyType: 'StepScaling',
      ...scaling,
      stepScalingPolicyConfiguration: {
        adjustmentType: 'ExactCapacity',
        cooldown: 300,
        metricAggregationType: 'Maximum',
        stepAdjustments: [{ metricIntervalUpperBound: '0', scalingAdjustment: a.min }],
      },
    },
    o,
    t.scalingPolicy,
  );
  withTransform(
    aws.cloudwatch.MetricAlarm,
    `${name}-idle`,
    {
      name: `${a.cluster}-queue-idle`,
      alarmDescription: 'No task visible, delayed or in flight: scale the workers to the minimum',
      comparisonOperator: 'LessThanOrEqualToThreshold',
      threshold: 0,
      evaluationPeriods: a.scaleToZeroMinutes,
      datapointsToAlarm: a.scaleToZeroMinutes,
      // No data means no recent activity to prove idleness: never scale in on silence alone.
      treatMissingData: 'notBreaching',
      metricQueries: [
        ...work,
        { id: 'work', expression: 'visible + inflight + delayed', label: 'tasks visible, in flight or delayed', returnData: true },
      ],
      alarmActions: [toZero.arn],
      tags,
    },
    o,
    t.alarm,
  );
  const fromZero = withTransform(
    aws.appautoscaling.Policy,
    `${name}-scale-from-zero`,
    {
      name: `${a.cluster}-scale-from-zero`,
      policyType: 'StepScaling',
      ...scaling,
      stepScalingPolicyConfiguration: {
        adjustmentType: 'ExactCapacity',
        cooldown: 60,
        metricAggregationType: 'Maximum',
        stepAdjustments: [{ metricIntervalLowerBound: '0', scalingAdjustment: Math.max(1, a.min) }],
      },
    },
    o,
    t.scalingPolicy,
  );
  withTransform(
    aws.cloudwatch.MetricAlarm,
    `${name}-work-waiting`,
    {
      name: `${a.cluster}-work-waiting`,
      alarmDescription: 'Tasks are waiting and no worker runs: start one (target tracking cannot scale out from zero)',
      comparisonOperator: 'GreaterThanThreshold',
      threshold: 0,
      evaluationPeriods: 1,
      treatMissingData: 'notBreaching',
      metricQueries: [
        ...work,
        running,
        // Fires only while nothing runs, so its exact capacity is always a scale-out.
        {
          id: 'waiting',
          expression: 'IF((visible + delayed) > 0 AND FILL(running, 0) == 0, 1, 0)',
          label: 'work waiting with no worker',
          returnData: true,
        },
      ],
      alarmActions: [fromZero.arn],
      tags,
    },
    o,
    t.alarm,
  );
}

/** Tasks in the dead-letter queue: a person should look. */
function createAlarms({ name, a, args, o, tags, t }: BatchParts, queues: BatchQueues): void {
  withTransform(
    aws.cloudwatch.MetricAlarm,
    `${name}-dead-letters`,
    {
      name: `${a.cluster}-dead-letters`,
      alarmDescription: 'Tasks reached the dead-letter queue: inspect with `synkti batch dlq list`',
      comparisonOperator: 'GreaterThanThreshold',
      threshold: 0,
      evaluationPeriods: 1,
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: queues.tasksDlq.name },
      period: 300,
      statistic: 'Maximum',
      treatMissingData: 'notBreaching',
      ...(args.alarmTopicArn !== undefined ? { alarmActions: [args.alarmTopicArn] } : {}),
      tags,
    },
    o,
    t.alarm,
  );
}

/** The role the coordinator assumes: no access keys are ever made. */
function createCoordinatorRole(
  { name, a, args, o, tags, t, account }: BatchParts,
  queues: BatchQueues,
  bucket: SecureBucket,
): aws.iam.Role {
  const principals = args.coordinatorPrincipals ?? [pulumi.interpolate`arn:aws:iam::${account}:root`];
  const role = withTransform(
    aws.iam.Role,
    `${name}-coordinator`,
    {
      name: `${a.cluster}-coordinator`,
      assumeRolePolicy: policyJson([{ Effect: 'Allow', Principal: { AWS: principals }, Action: 'sts:AssumeRole' }]),
      maxSessionDuration: 43_200,
      tags,
    },
    o,
    t.role,
  );
  new aws.iam.RolePolicy(
    `${name}-coordinator`,
    {
      role: role.id,
      policy: policyJson([
        {
          Sid: 'Queues',
          Effect: 'Allow',
          Action: [
            'sqs:SendMessage',
            'sqs:ReceiveMessage',
            'sqs:DeleteMessage',
            'sqs:ChangeMessageVisibility',
            'sqs:ChangeMessageVisibilityBatch',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:PurgeQueue',
          ],
          Resource: queues.arns,
        },
        {
          Sid: 'RunObjects',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
          Resource: [pulumi.interpolate`${bucket.arn}/${RUNS_PREFIX}*`, pulumi.interpolate`${bucket.arn}/${QUEUE_PAYLOADS_PREFIX}*`],
        },
        {
          Sid: 'StatePools',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject'],
          Resource: pulumi.interpolate`${bucket.arn}/${STATE_POOLS_PREFIX}*`,
        },
        // Unconditional on this bucket: without s3:ListBucket, S3 answers a GET or HEAD of a missing key
        // (a new run's checkpoint, the cancel marker checked every generation) with 403, not 404, and
        // that check carries no s3:prefix, so a prefix condition denies it (seen on the emulated AWS).
        { Sid: 'ListRuns', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucket.arn },
        // PutMetricData has no resource-level permissions: limit it to the Synkti namespace.
        {
          Sid: 'PublishBacklog',
          Effect: 'Allow',
          Action: 'cloudwatch:PutMetricData',
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': BATCH_METRIC_NAMESPACE } },
        },
        {
          Sid: 'ScaleWorkers',
          Effect: 'Allow',
          Action: ['ecs:DescribeServices', 'ecs:UpdateService'],
          Resource: pulumi.interpolate`arn:aws:ecs:${a.region}:${account}:service/${a.cluster}/${a.cluster}-worker`,
        },
      ]),
    },
    o,
  );
  return role;
}

/** Optional Redis: TLS and at-rest encryption always on, reachable only from the workers. */
function createRedis(
  { name, a, o, tags, t }: BatchParts,
  redis: BatchRedisArgs,
  network: SynktiNetwork,
  tasksSg: aws.ec2.SecurityGroup,
): aws.elasticache.ReplicationGroup {
  const nodes = redis.numNodes ?? 1;
  const redisSg = withTransform(
    aws.ec2.SecurityGroup,
    `${name}-redis`,
    {
      name: `${a.cluster}-redis`,
      description: `Redis of ${a.cluster}: only from its workers`,
      vpcId: network.vpcId,
      ingress: [{ protocol: 'tcp', fromPort: 6379, toPort: 6379, securityGroups: [tasksSg.id], description: 'from batch workers' }],
      egress: [],
      tags,
    },
    o,
    t.securityGroup,
  );
  const subnetGroup = new aws.elasticache.SubnetGroup(
    `${name}-redis`,
    { name: `${a.cluster}-redis`, subnetIds: network.workloadSubnetIds, tags },
    o,
  );
  return new aws.elasticache.ReplicationGroup(
    `${name}-redis`,
    {
      replicationGroupId: `${a.cluster}-redis`.slice(0, 40),
      description: `Redis of ${a.cluster}`,
      engine: 'redis',
      nodeType: redis.nodeType ?? 'cache.t4g.small',
      numCacheClusters: nodes,
      automaticFailoverEnabled: nodes > 1,
      multiAzEnabled: nodes > 1,
      port: 6379,
      subnetGroupName: subnetGroup.name,
      securityGroupIds: [redisSg.id],
      atRestEncryptionEnabled: true,
      transitEncryptionEnabled: true,
      authToken: pulumi.secret(redis.authToken),
      tags,
    },
    o,
  );
}

/** What the coordinator runs with: no credentials, the role it assumes instead. */
function coordinatorEnvOf(
  a: ResolvedBatchArgs,
  queues: BatchQueues,
  bucket: SecureBucket,
  role: aws.iam.Role,
): pulumi.Output<Record<string, string>> {
  return pulumi
    .all([queues.tasks.url, queues.results.url, bucket.name, role.arn])
    .apply(([tasksUrl, resultsUrl, bucketName, roleArn]): Record<string, string> => ({
      SYNKTI_BACKEND: 'sqs',
      SYNKTI_CLUSTER: a.cluster,
      SYNKTI_TASK_QUEUE_URL: tasksUrl,
      SYNKTI_RESULT_QUEUE_URL: resultsUrl,
      SYNKTI_BUCKET: bucketName,
      AWS_REGION: a.region,
      // Credentials come from assuming this role (profile role_arn or `aws sts assume-role`), never keys.
      SYNKTI_COORDINATOR_ROLE_ARN: roleArn,
    }));
}
