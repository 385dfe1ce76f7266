/**
 * `PipelineClusterArgs`, the dev/staging/production presets, and their resolution. Every
 * check happens here, before any resource registers.
 */
import type * as aws from '@pulumi/aws';
import type * as pulumi from '@pulumi/pulumi';
import type { SynktiNetworkTransform } from '../aws/network.ts';
import type { Transform } from '../aws/transform.ts';
import { ENVIRONMENTS, environmentFromStack, type EnvironmentName } from '../environments.ts';
import type { TaskReleaseArgs } from '../aws/task-release.ts';
import { checkCidrs, checkInstanceTypes, checkInt, checkLogRetention, checkProjectName, checkRegion, inputError } from '../validate.ts';

const C = 'PipelineCluster';

export interface AgentPoolArgs {
  /** Pool name: the `pool` the pipeline stages name (PipelineAgent `pool`). */
  name: string;
  /** Instance types, preferred first; more than one lets spot come from several pools. */
  instanceTypes: string[];
  /** GPUs per agent task (0 = CPU pool). @default 0 */
  gpusPerTask?: number | undefined;
  /** CPU units / memory MiB per agent task. */
  taskCpu: number;
  taskMemory: number;
  /** Agent tasks at first deploy (autoscaling owns the count afterwards when `scaleOnQueue`). */
  desiredTasks: number;
  /** Bounds of the pool's task count. @default desiredTasks */
  minTasks?: number | undefined;
  maxTasks?: number | undefined;
  /** Instances the Auto Scaling group may have (the capacity provider scales inside). @default maxTasks */
  maxInstances?: number | undefined;
  /** Spot above `onDemandBase` (agents release their tasks on a spot notice). @default false */
  spot?: boolean | undefined;
  /** On-demand instances kept when `spot`. @default 0 */
  onDemandBase?: number | undefined;
  /** Scale the agent count from this pool's ReadyTasks + ClaimedTasks metrics. @default false */
  scaleOnQueue?: boolean | undefined;
  /** Open (ready + claimed) tasks per running agent the scaling aims at. @default 2 */
  targetReadyPerAgent?: number | undefined;
}

export interface PipelineClusterArgs {
  /** Resource namespace; the cluster is `<projectName>-<environment>`. @default 'synkti' */
  projectName?: string | undefined;
  /** dev / staging / production preset (reference `environment`). @default from the stack name */
  environment?: EnvironmentName | undefined;
  /** AWS region (reference `aws:region`). @default 'us-east-1' */
  region?: string | undefined;
  /** VPC CIDR block. @default '10.30.0.0/16' */
  vpcCidr?: string | undefined;
  /**
   * Container image of the API and the agents (an image whose entry point is `synkti`).
   * @default with `release`: Docker's Node.js 20 image running the release (ADR 0008); with neither, `<ECR repository>:latest`
   */
  image?: string | undefined;
  /**
   * The packed release the tasks run (ADR 0008): a stock Node.js 20 image whose entrypoint
   * fetches `artifacts/synkti-<version>.tgz` from `bucket` and runs it only if its SHA-256
   * matches. No ECR repository is made. Not with `image`.
   * @default none
   */
  release?: TaskReleaseArgs | undefined;
  /**
   * Pipeline modules in the image (`definePipeline` results), passed as `--pipeline` to the
   * API and every agent. A working cluster needs at least one.
   * @default []
   */
  pipelineModules?: string[] | undefined;
  /**
   * API command (arguments of the image's `synkti` entry point).
   * @default ['api', '--host', '0.0.0.0', '--port', '<apiPort>', '--metrics-cluster', '<cluster>', ...'--pipeline' modules]
   * (0.0.0.0 inside the task's own network namespace: only the load balancer's group reaches it)
   */
  apiCommand?: string[] | undefined;
  /**
   * Agent command; `{pool}` is replaced by the pool name. The default has no flags: the
   * agent reads SYNKTI_POOL, SYNKTI_PIPELINES, SYNKTI_PIPELINE_DB, SYNKTI_BUCKET and
   * SYNKTI_CLUSTER, which this component injects (PIPELINE_AGENT_ENV in @synkti/core/contracts).
   * @default ['agent']
   */
  agentCommand?: string[] | undefined;
  /** API port and health path (`synkti api` serves GET /health). @default 8080, '/health' */
  apiPort?: number | undefined;
  apiHealthPath?: string | undefined;
  /** API tasks (Fargate). @default preset (1 / 1 / 2) */
  apiDesiredCount?: number | undefined;
  /** Internet-facing API load balancer (else internal, reachable from the VPC and `apiAllowedCidrBlocks`). @default false */
  publicApi?: boolean | undefined;
  /** Who may reach the API load balancer (80/443). @default public: ['0.0.0.0/0']; internal: the VPC */
  apiAllowedCidrBlocks?: string[] | undefined;
  /** ACM certificate: HTTPS on 443 and 80 redirects. @default none (HTTP 80) */
  certificateArn?: pulumi.Input<string> | undefined;
  /** Agent pools. @default exec (r7iz.2xlarge), snark (c7a.4xlarge), gpu (g6e.xlarge, scaled on queue depth) */
  pools?: AgentPoolArgs[] | undefined;
  /**
   * Secret values (pass Pulumi secrets: `config.requireSecret`), by environment variable
   * name: each becomes a Secrets Manager secret injected with ECS `secrets` (valueFrom),
   * never plain environment (reference: brokerPrivateKey, rpcUrl, orderStreamUrl).
   * @default {}
   */
  secrets?: Record<string, pulumi.Input<string>> | undefined;
  /** Existing Secrets Manager / SSM ARNs, by variable name, injected the same way. @default {} */
  secretArns?: Record<string, string> | undefined;
  /** Private registry credentials JSON `{"username","password"}` (reference `dockerToken`), kept in Secrets Manager. @default none */
  registryCredentials?: pulumi.Input<string> | undefined;
  /** Plain (non-secret) environment for every container; names that look secret are refused. @default {} */
  environmentVariables?: Record<string, string> | undefined;
  /** Email addresses subscribed to the alarm topic. @default [] */
  alertEmails?: string[] | undefined;
  /** Database instance class (reference db.t4g.micro). @default preset */
  dbInstanceClass?: string | undefined;
  /** Days of automated database backups (point-in-time restore). @default preset (1 / 7 / 14) */
  dbBackupRetentionDays?: number | undefined;
  /** Log retention, days. @default preset (7 / 30 / 90) */
  logRetentionDays?: number | undefined;
  /** Tags added to every resource. @default {} */
  tags?: Record<string, string> | undefined;
  /** Adjust the args of child resources before they are made (see aws/transform.ts). @default {} */
  transform?: PipelineClusterTransform | undefined;
}

/** Hooks for the cluster's child resources (see aws/transform.ts): each gets the args the component built. */
export interface PipelineClusterTransform extends SynktiNetworkTransform {
  securityGroup?: Transform<aws.ec2.SecurityGroupArgs> | undefined;
  role?: Transform<aws.iam.RoleArgs> | undefined;
  database?: Transform<aws.rds.InstanceArgs> | undefined;
  logGroup?: Transform<aws.cloudwatch.LogGroupArgs> | undefined;
  cluster?: Transform<aws.ecs.ClusterArgs> | undefined;
  launchTemplate?: Transform<aws.ec2.LaunchTemplateArgs> | undefined;
  autoScalingGroup?: Transform<aws.autoscaling.GroupArgs> | undefined;
  loadBalancer?: Transform<aws.lb.LoadBalancerArgs> | undefined;
  targetGroup?: Transform<aws.lb.TargetGroupArgs> | undefined;
  taskDefinition?: Transform<aws.ecs.TaskDefinitionArgs> | undefined;
  service?: Transform<aws.ecs.ServiceArgs> | undefined;
  alarm?: Transform<aws.cloudwatch.MetricAlarmArgs> | undefined;
}

export interface PipelinePreset {
  azCount: number;
  /** NAT gateways: one per zone in production. */
  natPerZone: boolean;
  apiDesiredCount: number;
  dbInstanceClass: string;
  dbMultiAz: boolean;
  dbBackupRetentionDays: number;
  /** Final snapshot on destroy. */
  dbFinalSnapshot: boolean;
  logRetentionDays: number;
  deletionProtection: boolean;
  /** GPU pool bounds and on-demand base. */
  gpuMin: number;
  gpuMax: number;
  gpuDesired: number;
  gpuOnDemandBase: number;
  secretRecoveryDays: number;
}

export const PIPELINE_PRESETS: Readonly<Record<EnvironmentName, PipelinePreset>> = {
  dev: {
    azCount: 2,
    natPerZone: false,
    apiDesiredCount: 1,
    dbInstanceClass: 'db.t4g.micro',
    dbMultiAz: false,
    dbBackupRetentionDays: 1,
    dbFinalSnapshot: false,
    logRetentionDays: 7,
    deletionProtection: false,
    gpuMin: 0,
    gpuMax: 2,
    gpuDesired: 0,
    gpuOnDemandBase: 0,
    secretRecoveryDays: 7,
  },
  staging: {
    azCount: 2,
    natPerZone: false,
    apiDesiredCount: 1,
    dbInstanceClass: 'db.t4g.small',
    dbMultiAz: false,
    dbBackupRetentionDays: 7,
    dbFinalSnapshot: true,
    logRetentionDays: 30,
    deletionProtection: false,
    gpuMin: 0,
    gpuMax: 4,
    gpuDesired: 1,
    gpuOnDemandBase: 0,
    secretRecoveryDays: 7,
  },
  production: {
    azCount: 3,
    natPerZone: true,
    apiDesiredCount: 2,
    dbInstanceClass: 'db.m7g.large',
    dbMultiAz: true,
    dbBackupRetentionDays: 14,
    dbFinalSnapshot: true,
    logRetentionDays: 90,
    deletionProtection: true,
    gpuMin: 1,
    gpuMax: 16,
    gpuDesired: 8,
    gpuOnDemandBase: 1,
    secretRecoveryDays: 30,
  },
};

/** The reference's pools (prover-cluster.md "Instance Types"), bounds from the preset. */
export function defaultPools(p: PipelinePreset): AgentPoolArgs[] {
  return [
    // r7iz.2xlarge runs 4 exec agents (8 vCPU / 64 GiB); siblings with the same shape.
    {
      name: 'exec',
      instanceTypes: ['r7iz.2xlarge', 'r7i.2xlarge', 'r6i.2xlarge'],
      taskCpu: 1920,
      taskMemory: 14_336,
      desiredTasks: 4,
      maxInstances: 2,
    },
    {
      name: 'snark',
      instanceTypes: ['c7a.4xlarge', 'c7i.4xlarge', 'c6a.4xlarge'],
      taskCpu: 15_360,
      taskMemory: 28_672,
      desiredTasks: 1,
      maxInstances: 2,
    },
    {
      name: 'gpu',
      instanceTypes: ['g6e.xlarge', 'g6e.2xlarge'],
      gpusPerTask: 1,
      taskCpu: 3_584,
      taskMemory: 28_672,
      desiredTasks: p.gpuDesired,
      minTasks: p.gpuMin,
      maxTasks: p.gpuMax,
      spot: true,
      onDemandBase: p.gpuOnDemandBase,
      scaleOnQueue: true,
      targetReadyPerAgent: 2,
    },
  ];
}

export interface ResolvedPool {
  name: string;
  instanceTypes: string[];
  gpus: number;
  taskCpu: number;
  taskMemory: number;
  desired: number;
  min: number;
  max: number;
  maxInstances: number;
  spot: boolean;
  onDemandBase: number;
  scaleOnQueue: boolean;
  targetReadyPerAgent: number;
}

export interface ResolvedPipelineArgs {
  environment: EnvironmentName;
  preset: PipelinePreset;
  project: string;
  cluster: string;
  region: string;
  vpcCidr: string;
  apiPort: number;
  apiHealthPath: string;
  apiDesiredCount: number;
  apiCommand: string[];
  agentCommand: string[];
  /** Module paths in the image, injected as SYNKTI_PIPELINES. */
  pipelineModules: string[];
  publicApi: boolean;
  apiAllowedCidrs: string[] | undefined;
  pools: ResolvedPool[];
  secretNames: string[];
  secretArns: Record<string, string>;
  env: Record<string, string>;
  alertEmails: string[];
  dbInstanceClass: string;
  dbBackupRetentionDays: number;
  logRetentionDays: number;
}

const ENV_NAME_RE = /^[A-Z_][A-Z0-9_]*$/;
const SECRET_NAME_RE = /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY|CREDENTIAL|RPC_URL|DATABASE_URL)/i;
const SECRET_ARN_RE = /^arn:aws[a-z-]*:(secretsmanager|ssm):[a-z0-9-]+:\d{12}:(secret:|parameter\/).+$/;
/** Variables PipelineCluster sets itself. */
export const RESERVED_ENV = [
  'PGHOST',
  'PGPORT',
  'PGDATABASE',
  'PGUSER',
  'PGPASSWORD',
  'PGSSLMODE',
  'SYNKTI_PIPELINE_DB',
  'SYNKTI_PIPELINES',
  'SYNKTI_CLUSTER',
  'SYNKTI_POOL',
  'SYNKTI_BUCKET',
  'SYNKTI_METRIC_NAMESPACE',
  'AWS_REGION',
] as const;

function resolvePool(p: AgentPoolArgs, i: number): ResolvedPool {
  const f = `pools[${i}]`;
  if (!/^[a-z][a-z0-9-]{0,15}$/.test(p.name))
    throw inputError(C, `${f}.name`, `"${p.name}" is not a pool name`, 'use 1-16 lower-case letters, digits and "-"');
  const instanceTypes = checkInstanceTypes(C, `${f}.instanceTypes`, p.instanceTypes, 1);
  const gpus = checkInt(C, `${f}.gpusPerTask`, p.gpusPerTask ?? 0, 0, 8);
  const desired = checkInt(C, `${f}.desiredTasks`, p.desiredTasks, 0, 1000);
  const min = checkInt(C, `${f}.minTasks`, p.minTasks ?? desired, 0, 1000);
  const max = checkInt(C, `${f}.maxTasks`, p.maxTasks ?? Math.max(desired, 1), 1, 1000);
  if (!(min <= desired && desired <= max))
    throw inputError(C, `${f}`, `needs minTasks ≤ desiredTasks ≤ maxTasks (got ${min} ≤ ${desired} ≤ ${max})`, 'fix the bounds');
  const spot = p.spot ?? false;
  const scaleOnQueue = p.scaleOnQueue ?? false;
  if (scaleOnQueue && max === min)
    throw inputError(C, `${f}.maxTasks`, `equals minTasks (${min}) with scaleOnQueue`, 'give the pool room to scale');
  return {
    name: p.name,
    instanceTypes,
    gpus,
    desired,
    min,
    max,
    taskCpu: checkInt(C, `${f}.taskCpu`, p.taskCpu, 128, 196_608),
    taskMemory: checkInt(C, `${f}.taskMemory`, p.taskMemory, 256, 1_572_864),
    maxInstances: checkInt(C, `${f}.maxInstances`, p.maxInstances ?? max, 1, 1000),
    spot,
    onDemandBase: checkInt(C, `${f}.onDemandBase`, p.onDemandBase ?? 0, 0, 1000),
    scaleOnQueue,
    targetReadyPerAgent: checkInt(C, `${f}.targetReadyPerAgent`, p.targetReadyPerAgent ?? 2, 1, 1000),
  };
}

export function resolvePipelineArgs(args: PipelineClusterArgs, stack = ''): ResolvedPipelineArgs {
  const project = checkProjectName(C, 'projectName', args.projectName ?? 'synkti');
  if (args.environment !== undefined && !(ENVIRONMENTS as readonly string[]).includes(args.environment)) {
    throw inputError(
      C,
      'environment',
      `"${String(args.environment)}" is not one of ${ENVIRONMENTS.join(', ')}`,
      'use dev, staging or production',
    );
  }
  const environment = args.environment ?? environmentFromStack(stack);
  const preset = PIPELINE_PRESETS[environment];
  const region = checkRegion(C, 'region', args.region ?? 'us-east-1');
  const vpcCidr = checkCidrs(C, 'vpcCidr', [args.vpcCidr ?? '10.30.0.0/16'])[0] as string;
  if (!vpcCidr.endsWith('/16')) throw inputError(C, 'vpcCidr', `"${vpcCidr}" is not a /16`, 'use a /16 block (subnets are carved as /20s)');
  const apiPort = checkInt(C, 'apiPort', args.apiPort ?? 8080, 1024, 65535);
  const apiHealthPath = args.apiHealthPath ?? '/health';
  if (!apiHealthPath.startsWith('/')) throw inputError(C, 'apiHealthPath', `"${apiHealthPath}" is not a path`, 'start it with /');
  const apiAllowed = args.apiAllowedCidrBlocks === undefined ? undefined : checkCidrs(C, 'apiAllowedCidrBlocks', args.apiAllowedCidrBlocks);
  const pools = (args.pools ?? defaultPools(preset)).map(resolvePool);
  if (pools.length === 0) throw inputError(C, 'pools', 'is empty', 'define at least one agent pool');
  if (new Set(pools.map((p) => p.name)).size !== pools.length) throw inputError(C, 'pools', 'repeats a pool name', 'name each pool once');

  const env = { ...args.environmentVariables };
  for (const name of Object.keys(env)) {
    if (!ENV_NAME_RE.test(name))
      throw inputError(C, `environmentVariables.${name}`, 'is not a valid variable name', 'use upper-case letters, digits and _');
    if (SECRET_NAME_RE.test(name))
      throw inputError(
        C,
        `environmentVariables.${name}`,
        'looks like a secret in plain text',
        `pass it in secrets: { ${name}: config.requireSecret('...') } (it goes to Secrets Manager)`,
      );
    if ((RESERVED_ENV as readonly string[]).includes(name))
      throw inputError(C, `environmentVariables.${name}`, 'is set by PipelineCluster', 'remove it');
  }
  const secretNames = Object.keys(args.secrets ?? {});
  const secretArns = { ...args.secretArns };
  for (const name of [...secretNames, ...Object.keys(secretArns)]) {
    if (!ENV_NAME_RE.test(name))
      throw inputError(C, `secrets.${name}`, 'is not a valid variable name', 'use upper-case letters, digits and _');
    if ((RESERVED_ENV as readonly string[]).includes(name))
      throw inputError(C, `secrets.${name}`, 'is set by PipelineCluster', 'remove it');
  }
  for (const [name, arn] of Object.entries(secretArns)) {
    if (!SECRET_ARN_RE.test(arn))
      throw inputError(
        C,
        `secretArns.${name}`,
        `"${arn}" is not a Secrets Manager or SSM parameter ARN`,
        'pass arn:aws:secretsmanager:... or arn:aws:ssm:...:parameter/...',
      );
    if (secretNames.includes(name)) throw inputError(C, `secretArns.${name}`, 'is also in secrets', 'give each variable one source');
  }
  if (args.image !== undefined && args.release !== undefined)
    throw inputError(
      C,
      'release',
      'is given with image',
      'give one: release (the stock Node.js image runs it) or image (your own image with synkti as its entry point)',
    );
  const modules = args.pipelineModules ?? [];
  for (const m of modules)
    if (m === '' || m.startsWith('-') || m.includes(','))
      throw inputError(
        C,
        'pipelineModules',
        `has "${m}", which is not a module path`,
        'give paths of modules in the image, e.g. /app/pipelines.js (no commas: agents read them as SYNKTI_PIPELINES, comma-separated)',
      );
  const moduleArgs = modules.flatMap((m) => ['--pipeline', m]);
  const alertEmails = args.alertEmails ?? [];
  for (const e of alertEmails)
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e))
      throw inputError(C, 'alertEmails', `"${e}" is not an email address`, 'write name@example.com');
  return {
    environment,
    preset,
    project,
    cluster: `${project}-${environment}`,
    region,
    vpcCidr,
    apiPort,
    apiHealthPath,
    apiDesiredCount: checkInt(C, 'apiDesiredCount', args.apiDesiredCount ?? preset.apiDesiredCount, 1, 100),
    apiCommand: args.apiCommand ?? [
      'api',
      '--host',
      '0.0.0.0',
      '--port',
      String(apiPort),
      '--metrics-cluster',
      `${project}-${environment}`,
      ...moduleArgs,
    ],
    // No flags: the agent reads its pool, modules, database and bucket from the variables this stack injects (PIPELINE_AGENT_ENV).
    agentCommand: args.agentCommand ?? ['agent'],
    pipelineModules: modules,
    publicApi: args.publicApi ?? false,
    apiAllowedCidrs: apiAllowed,
    pools,
    secretNames,
    secretArns,
    env,
    alertEmails,
    dbInstanceClass: args.dbInstanceClass ?? preset.dbInstanceClass,
    dbBackupRetentionDays: checkInt(C, 'dbBackupRetentionDays', args.dbBackupRetentionDays ?? preset.dbBackupRetentionDays, 1, 35),
    logRetentionDays: checkLogRetention(C, 'logRetentionDays', args.logRetentionDays ?? preset.logRetentionDays),
  };
}
