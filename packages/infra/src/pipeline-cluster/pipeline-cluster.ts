/**
 * `PipelineCluster` (shape **pipelines**; reference: prover-cluster.md) on AWS:
 * - a VPC with public subnets (load balancer, NAT) and private subnets (everything else);
 * - the pipeline API on Fargate behind an Application Load Balancer with listeners
 *   (internal unless `publicApi`);
 * - agent pools (CPU exec, big-CPU snark, GPU g6e) as ECS services on their own Auto
 *   Scaling groups through capacity providers (managed scaling: the service's task
 *   count drives the instances); spot where asked, through the group's mixed-instances
 *   policy with an on-demand launch template, and ECS spot draining so agents release
 *   their tasks on a notice;
 * - GPU pool autoscaling from the ReadyTasks + ClaimedTasks metrics that
 *   `synkti agent|api --metrics-cluster` publish (pipeline-metrics.ts), per running agent;
 * - PostgreSQL (RDS, encrypted, private, automated backups, password managed by RDS in
 *   Secrets Manager) behind RDS Proxy (TLS required); an S3 bucket (SecureBucket). No Redis:
 *   the reference's ElastiCache had no reader (the task queue, leases and requeuer live in
 *   PostgreSQL), so it was removed with its cost line;
 * - Secrets Manager for every secret, injected with ECS `secrets` (valueFrom), never as
 *   plain environment;
 * - a CloudWatch dashboard and SNS alarms on metrics our services and AWS really emit
 *   (EMITTED_METRICS), including metric filters over the agents' own log lines.
 *
 * Not built from the reference: the broker EC2 instance (a Boundless market client with a
 * SQLite file on one machine) and the separate "aux" requeuer service — Synkti's requeuer
 * runs inside every agent, one chosen by rendezvous hash (no control plane).
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { ECS_TASK_EXECUTION_POLICY_ARN, SSM_MANAGED_POLICY_ARN, policyJson, serviceTrustPolicy } from '../aws/iam-policy.ts';
import { SynktiNetwork } from '../aws/network.ts';
import { SecureBucket } from '../aws/secure-bucket.ts';
import { taskReleaseContainer, taskReleaseStatement, warnWithoutRelease } from '../aws/task-release.ts';
import { withTransform, type ComponentParts } from '../aws/transform.ts';
import type { EnvironmentName } from '../environments.ts';
import {
  resolvePipelineArgs,
  type PipelineClusterArgs,
  type PipelineClusterTransform,
  type ResolvedPipelineArgs,
  type ResolvedPool,
} from './pipeline-args.ts';
import { LOG_METRIC_FILTERS, PIPELINE_QUEUE_METRIC, emittedMetric } from './pipeline-metrics.ts';

export const ECS_INSTANCE_POLICY_ARN = 'arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role';
export const ECS_AMI = 'resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id';
export const ECS_GPU_AMI = 'resolve:ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/gpu/recommended/image_id';
export const POSTGRES_PORT = 5432;
export const DB_NAME = 'synkti';
export const DB_USER = 'synkti';

/** Alarm ids → what they watch (EMITTED_METRICS ids). Tested against the stack. */
export const PIPELINE_ALARMS = {
  'api-5xx': 'api5xx',
  'api-unhealthy-targets': 'apiUnhealthy',
  'api-not-running': 'runningTasks',
  'db-cpu': 'dbCpu',
  'db-storage-low': 'dbFreeStorage',
  'tasks-failed': 'taskFailedForGood',
  'claim-errors': 'claimErrors',
  'queue-metric-missing': 'readyTasks',
} as const;

type Dims = Record<string, pulumi.Input<string>>;

/** CloudWatch's dimension value for a load balancer or target group: its `arnSuffix`, else derived from the ARN. */
function arnSuffixOf(
  suffix: pulumi.Output<string>,
  arn: pulumi.Output<string>,
  kind: 'loadbalancer' | 'targetgroup',
): pulumi.Output<string> {
  return pulumi.all([suffix, arn]).apply(([s, a]) => {
    if (typeof s === 'string' && s !== '') return s;
    const i = a.indexOf(`:${kind}/`);
    return i < 0 ? a : kind === 'loadbalancer' ? a.slice(i + kind.length + 2) : a.slice(i + 1);
  });
}

/** What every part of the cluster is built from. */
type PipelineParts = ComponentParts<ResolvedPipelineArgs, PipelineClusterArgs, PipelineClusterTransform>;

interface PipelineSecurityGroups {
  alb: aws.ec2.SecurityGroup;
  api: aws.ec2.SecurityGroup;
  agents: aws.ec2.SecurityGroup;
  proxy: aws.ec2.SecurityGroup;
  db: aws.ec2.SecurityGroup;
}
interface PipelineSecrets {
  /** Secrets Manager ARN (or `<arn>:<json key>::`) per injected variable. */
  injected: Record<string, pulumi.Output<string>>;
  registry: aws.secretsmanager.Secret | undefined;
}
interface PipelineDatabase {
  db: aws.rds.Instance;
  proxy: aws.rds.Proxy;
  secretArn: pulumi.Output<string>;
}
interface PipelineRoles {
  execution: aws.iam.Role;
  task: aws.iam.Role;
  instanceProfile: aws.iam.InstanceProfile;
}
interface PoolCapacity {
  pool: ResolvedPool;
  asg: aws.autoscaling.Group;
  cp: aws.ecs.CapacityProvider;
}
interface PipelineCompute {
  cluster: aws.ecs.Cluster;
  providers: aws.ecs.ClusterCapacityProviders;
  pools: PoolCapacity[];
}
interface PipelineApi {
  alb: aws.lb.LoadBalancer;
  targetGroup: aws.lb.TargetGroup;
  service: aws.ecs.Service;
  logs: aws.cloudwatch.LogGroup;
  url: pulumi.Output<string>;
}
interface PoolService {
  pool: ResolvedPool;
  service: aws.ecs.Service;
  asg: aws.autoscaling.Group;
  logs: aws.cloudwatch.LogGroup;
}
type ContainerDefinitions = (
  service: string,
  group: aws.cloudwatch.LogGroup,
  command: string[],
  extra: { env?: Record<string, string>; ports?: number[]; gpus?: number; cpu: number; memory: number },
) => pulumi.Output<string>;

export class PipelineCluster extends pulumi.ComponentResource {
  readonly environment: EnvironmentName;
  /** `<project>-<environment>`. */
  readonly clusterName: string;
  readonly vpcId: pulumi.Output<string>;
  readonly ecsClusterArn: pulumi.Output<string>;
  readonly apiServiceArn: pulumi.Output<string>;
  /** `http(s)://<load balancer>`. */
  readonly apiUrl: pulumi.Output<string>;
  readonly databaseEndpoint: pulumi.Output<string>;
  readonly databaseProxyEndpoint: pulumi.Output<string>;
  /** Secret ARN of the database password (managed by RDS). */
  readonly databaseSecretArn: pulumi.Output<string>;
  readonly bucketName: pulumi.Output<string>;
  readonly dashboardUrl: pulumi.Output<string>;
  readonly alertsTopicArn: pulumi.Output<string>;
  /** ECS service name per pool. */
  readonly poolServiceNames: Readonly<Record<string, pulumi.Output<string>>>;
  /** Secrets Manager ARN per injected variable. */
  readonly secretArns: pulumi.Output<Record<string, string>>;
  readonly resolved: ResolvedPipelineArgs;

  constructor(name: string, args: PipelineClusterArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    const a = resolvePipelineArgs(args, pulumi.getStack());
    super('synkti:aws:PipelineCluster', name, {}, opts);
    this.resolved = a;
    this.environment = a.environment;
    this.clusterName = a.cluster;
    const provider = new aws.Provider(`${name}-aws`, { region: a.region as aws.Region }, { parent: this });
    const o = { parent: this, provider };
    const parts: PipelineParts = { name, a, args, o, tags: { ...args.tags, [TAG_CLUSTER]: a.cluster }, t: args.transform ?? {} };

    const network = new SynktiNetwork(
      name,
      {
        source: { kind: 'create', cidr: a.vpcCidr, azCount: a.preset.azCount, nat: a.preset.natPerZone ? 'perZone' : 'single' },
        label: a.cluster,
        tags: parts.tags,
        transform: parts.t,
      },
      o,
    );
    const groups = createSecurityGroups(parts, network);
    const bucket = createStorage(parts);
    const secrets = createSecrets(parts);
    const database = createDatabase(parts, network, groups, secrets);
    const roles = createIdentity(parts, bucket, secrets);
    const compute = createCompute(parts, network, groups, roles);
    const containerDefs = containerDefinitionsOf(parts, createImage(parts), database, bucket, secrets);
    const api = createApi(parts, network, groups, roles, compute, containerDefs);
    const pools = createPools(parts, roles, compute, containerDefs);
    createLogMetricFilters(
      parts,
      api.logs,
      pools.map((s) => s.logs),
    );
    const topic = createAlarms(parts, api, compute, database, pools);
    const dashboardName = createDashboard(parts, api, compute, database, pools);

    this.vpcId = network.vpcId;
    this.bucketName = bucket.name;
    this.databaseSecretArn = database.secretArn;
    this.databaseEndpoint = database.db.address;
    this.databaseProxyEndpoint = database.proxy.endpoint;
    this.ecsClusterArn = compute.cluster.arn;
    this.apiUrl = api.url;
    this.apiServiceArn = api.service.id;
    this.poolServiceNames = Object.fromEntries(pools.map((s) => [s.pool.name, s.service.name]));
    this.alertsTopicArn = topic.arn;
    this.dashboardUrl = pulumi.output(
      `https://${a.region}.console.aws.amazon.com/cloudwatch/home?region=${a.region}#dashboards:name=${dashboardName}`,
    );
    this.secretArns = pulumi.all(secrets.injected);
    this.registerOutputs({
      vpcId: this.vpcId,
      ecsClusterArn: this.ecsClusterArn,
      apiServiceArn: this.apiServiceArn,
      apiUrl: this.apiUrl,
      databaseEndpoint: this.databaseEndpoint,
      databaseProxyEndpoint: this.databaseProxyEndpoint,
      dashboardUrl: this.dashboardUrl,
      alertsTopicArn: this.alertsTopicArn,
    });
  }
}

/** One group per tier, each open only to the tier in front of it. */
function createSecurityGroups({ name, a, args, o, tags, t }: PipelineParts, network: SynktiNetwork): PipelineSecurityGroups {
  const sg = (
    id: string,
    description: string,
    ingress: aws.types.input.ec2.SecurityGroupIngress[],
    egress?: aws.types.input.ec2.SecurityGroupEgress[],
  ): aws.ec2.SecurityGroup =>
    withTransform(
      aws.ec2.SecurityGroup,
      `${name}-${id}`,
      {
        vpcId: network.vpcId,
        name: `${a.cluster}-${id}`,
        description,
        ingress,
        egress: egress ?? [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'], description: 'AWS APIs, images, peers' }],
        tags,
      },
      o,
      t.securityGroup,
    );
  const lbPorts = args.certificateArn !== undefined ? [80, 443] : [80];
  const lbCidrs = a.apiAllowedCidrs ?? (a.publicApi ? ['0.0.0.0/0'] : [a.vpcCidr]);
  const alb = sg(
    'alb',
    `API load balancer of ${a.cluster}`,
    lbPorts.map((port) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: lbCidrs, description: 'API clients' })),
    [{ protocol: 'tcp', fromPort: a.apiPort, toPort: a.apiPort, cidrBlocks: [a.vpcCidr], description: 'to the API tasks' }],
  );
  const api = sg('api', `API tasks of ${a.cluster}: only from the load balancer`, [
    { protocol: 'tcp', fromPort: a.apiPort, toPort: a.apiPort, securityGroups: [alb.id], description: 'from the API load balancer' },
  ]);
  const agents = sg('agents', `Agent instances of ${a.cluster}: no inbound`, []);
  const proxy = sg('db-proxy', `Database proxy of ${a.cluster}: only from the API and agents`, [
    {
      protocol: 'tcp',
      fromPort: POSTGRES_PORT,
      toPort: POSTGRES_PORT,
      securityGroups: [api.id, agents.id],
      description: 'PostgreSQL from services',
    },
  ]);
  const db = sg(
    'db',
    `Database of ${a.cluster}: only from its proxy`,
    [
      {
        protocol: 'tcp',
        fromPort: POSTGRES_PORT,
        toPort: POSTGRES_PORT,
        securityGroups: [proxy.id],
        description: 'PostgreSQL from the proxy',
      },
    ],
    [],
  );
  return { alb, api, agents, proxy, db };
}

/** The data bucket (chunks, artifacts): versioned outside dev. */
function createStorage({ name, a, o, tags }: PipelineParts): SecureBucket {
  const p = a.preset;
  return new SecureBucket(
    `${name}-data`,
    {
      bucketPrefix: `${a.cluster}-data`,
      versioned: a.environment !== 'dev',
      keep: p.deletionProtection,
      forceDestroy: !p.deletionProtection,
      lifecycleRules: a.environment !== 'dev' ? [{ id: 'expire-old-versions', prefix: '', noncurrentExpireDays: 30 }] : [],
      tags,
    },
    o,
  );
}

/** Every secret in Secrets Manager: the ones given as values are stored here, the ARNs are used as given. */
function createSecrets({ name, a, args, o, tags }: PipelineParts): PipelineSecrets {
  const secretOf = (id: string, value: pulumi.Input<string>): aws.secretsmanager.Secret => {
    const secret = new aws.secretsmanager.Secret(
      `${name}-secret-${id}`,
      { name: `${a.cluster}/${id}`, recoveryWindowInDays: a.preset.secretRecoveryDays, tags },
      o,
    );
    new aws.secretsmanager.SecretVersion(`${name}-secret-${id}`, { secretId: secret.id, secretString: pulumi.secret(value) }, o);
    return secret;
  };
  const injected: Record<string, pulumi.Output<string>> = {};
  for (const [envName, value] of Object.entries(args.secrets ?? {}))
    injected[envName] = secretOf(envName.toLowerCase().replace(/_/g, '-'), value).arn;
  for (const [envName, arn] of Object.entries(a.secretArns)) injected[envName] = pulumi.output(arn);
  const registry = args.registryCredentials !== undefined ? secretOf('registry-credentials', args.registryCredentials) : undefined;
  return { injected, registry };
}

/** The task database: RDS PostgreSQL (password managed by RDS) behind RDS Proxy (TLS required). Adds PGPASSWORD to the injected secrets. */
function createDatabase(
  { name, a, o, tags, t }: PipelineParts,
  network: SynktiNetwork,
  groups: PipelineSecurityGroups,
  secrets: PipelineSecrets,
): PipelineDatabase {
  const p = a.preset;
  const dbSubnets = new aws.rds.SubnetGroup(`${name}-db`, { name: `${a.cluster}-db`, subnetIds: network.privateSubnetIds, tags }, o);
  const dbParams = new aws.rds.ParameterGroup(
    `${name}-db`,
    {
      name: `${a.cluster}-postgres16`,
      family: 'postgres16',
      parameters: [
        { name: 'rds.force_ssl', value: '1' },
        { name: 'log_min_duration_statement', value: '1000' },
      ],
      tags,
    },
    o,
  );
  const db = withTransform(
    aws.rds.Instance,
    `${name}-db`,
    {
      identifier: `${a.cluster}-postgres`,
      engine: 'postgres',
      engineVersion: '16',
      instanceClass: a.dbInstanceClass,
      allocatedStorage: 20,
      maxAllocatedStorage: 200,
      storageType: 'gp3',
      storageEncrypted: true,
      dbName: DB_NAME,
      username: DB_USER,
      // RDS generates and rotates the password in Secrets Manager: it is never in config or state.
      manageMasterUserPassword: true,
      dbSubnetGroupName: dbSubnets.name,
      parameterGroupName: dbParams.name,
      vpcSecurityGroupIds: [groups.db.id],
      publiclyAccessible: false,
      multiAz: p.dbMultiAz,
      backupRetentionPeriod: a.dbBackupRetentionDays,
      backupWindow: '03:00-04:00',
      maintenanceWindow: 'sun:04:30-sun:05:30',
      copyTagsToSnapshot: true,
      deleteAutomatedBackups: !p.deletionProtection,
      skipFinalSnapshot: !p.dbFinalSnapshot,
      ...(p.dbFinalSnapshot ? { finalSnapshotIdentifier: `${a.cluster}-postgres-final` } : {}),
      deletionProtection: p.deletionProtection,
      autoMinorVersionUpgrade: true,
      performanceInsightsEnabled: a.environment === 'production',
      enabledCloudwatchLogsExports: ['postgresql'],
      tags,
    },
    p.deletionProtection ? { ...o, protect: true } : o,
    t.database,
  );
  const secretArn = db.masterUserSecrets.apply((s) => s?.[0]?.secretArn ?? '');
  const proxyRole = withTransform(
    aws.iam.Role,
    `${name}-db-proxy`,
    { name: `${a.cluster}-db-proxy`, assumeRolePolicy: serviceTrustPolicy('rds.amazonaws.com'), tags },
    o,
    t.role,
  );
  new aws.iam.RolePolicy(
    `${name}-db-proxy`,
    {
      role: proxyRole.id,
      policy: policyJson([
        { Sid: 'ReadDatabaseSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretArn },
        {
          Sid: 'DecryptDatabaseSecret',
          Effect: 'Allow',
          Action: 'kms:Decrypt',
          Resource: '*',
          Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${a.region}.amazonaws.com` } },
        },
      ]),
    },
    o,
  );
  const proxy = new aws.rds.Proxy(
    `${name}-db-proxy`,
    {
      name: `${a.cluster}-proxy`,
      engineFamily: 'POSTGRESQL',
      requireTls: true,
      roleArn: proxyRole.arn,
      vpcSubnetIds: network.privateSubnetIds,
      vpcSecurityGroupIds: [groups.proxy.id],
      idleClientTimeout: 1800,
      debugLogging: false,
      auths: [{ authScheme: 'SECRETS', iamAuth: 'DISABLED', secretArn, clientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' }],
      tags,
    },
    o,
  );
  new aws.rds.ProxyDefaultTargetGroup(
    `${name}-db-proxy`,
    { dbProxyName: proxy.name, connectionPoolConfig: { maxConnectionsPercent: 90, connectionBorrowTimeout: 120 } },
    o,
  );
  new aws.rds.ProxyTarget(
    `${name}-db-proxy`,
    { dbProxyName: proxy.name, targetGroupName: 'default', dbInstanceIdentifier: db.identifier },
    o,
  );
  secrets.injected.PGPASSWORD = pulumi.interpolate`${secretArn}:password::`;
  new aws.cloudwatch.LogGroup(
    `${name}-logs-postgres`,
    { name: `/aws/rds/instance/${a.cluster}-postgres/postgresql`, retentionInDays: a.logRetentionDays, tags },
    o,
  );
  return { db, proxy, secretArn };
}

/** A service's log group: `/synkti/<cluster>/<service>`. */
function logGroupOf({ name, a, o, tags, t }: PipelineParts, service: string): aws.cloudwatch.LogGroup {
  return withTransform(
    aws.cloudwatch.LogGroup,
    `${name}-logs-${service}`,
    { name: `/synkti/${a.cluster}/${service}`, retentionInDays: a.logRetentionDays, tags },
    o,
    t.logGroup,
  );
}

/** The execution role (image, injected secrets), the services' task role and the agent instances' profile. */
function createIdentity({ name, a, args, o, tags, t }: PipelineParts, bucket: SecureBucket, secrets: PipelineSecrets): PipelineRoles {
  const ecsTrust = serviceTrustPolicy('ecs-tasks.amazonaws.com');
  const execution = withTransform(
    aws.iam.Role,
    `${name}-execution`,
    { name: `${a.cluster}-execution`, assumeRolePolicy: ecsTrust, tags },
    o,
    t.role,
  );
  new aws.iam.RolePolicyAttachment(`${name}-execution`, { role: execution.name, policyArn: ECS_TASK_EXECUTION_POLICY_ARN }, o);
  const readable = [
    ...Object.values(secrets.injected).map((arn) => arn.apply((x) => x.replace(/:password::$/, ''))),
    ...(secrets.registry ? [secrets.registry.arn] : []),
  ];
  new aws.iam.RolePolicy(
    `${name}-execution-secrets`,
    {
      role: execution.id,
      policy: policyJson([
        { Sid: 'ReadInjectedSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'ssm:GetParameters'], Resource: readable },
      ]),
    },
    o,
  );
  const task = withTransform(aws.iam.Role, `${name}-task`, { name: `${a.cluster}-task`, assumeRolePolicy: ecsTrust, tags }, o, t.role);
  new aws.iam.RolePolicy(
    `${name}-task`,
    {
      role: task.id,
      policy: policyJson([
        {
          Sid: 'DataObjects',
          Effect: 'Allow',
          Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
          Resource: pulumi.interpolate`${bucket.arn}/*`,
        },
        { Sid: 'ListData', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucket.arn },
        // The queue-depth metric: PutMetricData has no resource ARN, so the namespace is the condition.
        {
          Sid: 'PublishPipelineMetrics',
          Effect: 'Allow',
          Action: 'cloudwatch:PutMetricData',
          Resource: '*',
          Condition: { StringEquals: { 'cloudwatch:namespace': PIPELINE_QUEUE_METRIC.namespace } },
        },
        ...(args.release !== undefined ? [taskReleaseStatement(args.release)] : []),
      ]),
    },
    o,
  );
  const instanceRole = withTransform(
    aws.iam.Role,
    `${name}-instance`,
    { name: `${a.cluster}-instance`, assumeRolePolicy: serviceTrustPolicy('ec2.amazonaws.com'), tags },
    o,
    t.role,
  );
  new aws.iam.RolePolicyAttachment(`${name}-instance-ecs`, { role: instanceRole.name, policyArn: ECS_INSTANCE_POLICY_ARN }, o);
  new aws.iam.RolePolicyAttachment(`${name}-instance-ssm`, { role: instanceRole.name, policyArn: SSM_MANAGED_POLICY_ARN }, o);
  const instanceProfile = new aws.iam.InstanceProfile(
    `${name}-instance`,
    { name: `${a.cluster}-instance`, role: instanceRole.name, tags },
    o,
  );
  return { execution, task, instanceProfile };
}

/** The code: the release on the stock Node.js image (ADR 0008), the given image, or (neither) the cluster's ECR repository's. */
function createImage({ name, a, args, o, tags }: PipelineParts): {
  image: pulumi.Output<string>;
  release: ReturnType<typeof taskReleaseContainer> | undefined;
} {
  const release = args.release !== undefined ? taskReleaseContainer(args.release, a.region) : undefined;
  const repo =
    release === undefined && args.image === undefined
      ? new aws.ecr.Repository(
          `${name}-image`,
          {
            name: a.cluster,
            imageTagMutability: 'IMMUTABLE',
            imageScanningConfiguration: { scanOnPush: true },
            encryptionConfigurations: [{ encryptionType: 'AES256' }],
            forceDelete: !a.preset.deletionProtection,
            tags,
          },
          o,
        )
      : undefined;
  if (repo) warnWithoutRelease('PipelineCluster', name, 'latest', repo);
  const image =
    release !== undefined
      ? pulumi.output(release.image)
      : args.image !== undefined
        ? pulumi.output(args.image)
        : pulumi.interpolate`${repo!.repositoryUrl}:latest`;
  return { image, release };
}

/** The ECS cluster and, per pool, a launch template, an Auto Scaling group and its capacity provider. */
function createCompute(
  parts: PipelineParts,
  network: SynktiNetwork,
  groups: PipelineSecurityGroups,
  roles: PipelineRoles,
): PipelineCompute {
  const { name, a, o, tags, t } = parts;
  const cluster = withTransform(
    aws.ecs.Cluster,
    `${name}-cluster`,
    { name: a.cluster, settings: [{ name: 'containerInsights', value: 'enabled' }], tags },
    o,
    t.cluster,
  );
  const pools = a.pools.map((pool) => createPoolCapacity(parts, pool, network, groups, roles));
  const providers = new aws.ecs.ClusterCapacityProviders(
    `${name}-capacity`,
    {
      clusterName: cluster.name,
      capacityProviders: ['FARGATE', ...pools.map((c) => c.cp.name)],
      defaultCapacityProviderStrategies: [{ capacityProvider: 'FARGATE', weight: 1, base: 0 }],
    },
    o,
  );
  return { cluster, providers, pools };
}

function createPoolCapacity(
  { name, a, o, tags, t }: PipelineParts,
  pool: ResolvedPool,
  network: SynktiNetwork,
  groups: PipelineSecurityGroups,
  roles: PipelineRoles,
): PoolCapacity {
  const poolTags = { ...tags, [TAG_ROLE]: `agent-${pool.name}` };
  const userData = [
    '#!/bin/bash',
    `echo ECS_CLUSTER=${a.cluster} >> /etc/ecs/ecs.config`,
    // On a spot notice ECS drains the instance: agents get SIGTERM and release their tasks.
    'echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config',
    ...(pool.gpus > 0 ? ['echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config'] : []),
    '',
  ].join('\n');
  const lt = withTransform(
    aws.ec2.LaunchTemplate,
    `${name}-${pool.name}`,
    {
      namePrefix: `${a.cluster}-${pool.name}-`,
      imageId: pool.gpus > 0 ? ECS_GPU_AMI : ECS_AMI,
      instanceType: pool.instanceTypes[0],
      iamInstanceProfile: { arn: roles.instanceProfile.arn },
      vpcSecurityGroupIds: [groups.agents.id],
      metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 2, instanceMetadataTags: 'enabled' },
      blockDeviceMappings: [
        {
          deviceName: '/dev/xvda',
          ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: pool.gpus > 0 ? 200 : 100, deleteOnTermination: 'true' },
        },
      ],
      userData: Buffer.from(userData, 'utf8').toString('base64'),
      tagSpecifications: ['instance', 'volume', 'network-interface'].map((resourceType) => ({ resourceType, tags: poolTags })),
      updateDefaultVersion: true,
      tags: poolTags,
    },
    o,
    t.launchTemplate,
  );
  const templateOverrides = {
    launchTemplateSpecification: { launchTemplateId: lt.id, version: '$Latest' },
    overrides: pool.instanceTypes.map((instanceType) => ({ instanceType })),
  };
  const asg = withTransform(
    aws.autoscaling.Group,
    `${name}-${pool.name}`,
    {
      name: `${a.cluster}-${pool.name}`,
      minSize: 0,
      maxSize: pool.maxInstances,
      vpcZoneIdentifiers: network.privateSubnetIds,
      // Managed termination protection: ECS decides which instances may go (none running tasks).
      protectFromScaleIn: true,
      enabledMetrics: ['GroupInServiceInstances', 'GroupDesiredCapacity'],
      ...(pool.spot
        ? {
            capacityRebalance: true,
            mixedInstancesPolicy: {
              instancesDistribution: {
                onDemandBaseCapacity: pool.onDemandBase,
                onDemandPercentageAboveBaseCapacity: 0,
                spotAllocationStrategy: 'price-capacity-optimized',
              },
              launchTemplate: templateOverrides,
            },
          }
        : pool.instanceTypes.length > 1
          ? {
              mixedInstancesPolicy: {
                instancesDistribution: {
                  onDemandBaseCapacity: 0,
                  onDemandPercentageAboveBaseCapacity: 100,
                  onDemandAllocationStrategy: 'prioritized',
                },
                launchTemplate: templateOverrides,
              },
            }
          : { launchTemplate: { id: lt.id, version: '$Latest' } }),
      tags: [
        ...Object.entries(poolTags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })),
        { key: 'AmazonECSManaged', value: 'true', propagateAtLaunch: true },
      ],
    },
    { ...o, ignoreChanges: ['desiredCapacity'] },
    t.autoScalingGroup,
  );
  const cp = new aws.ecs.CapacityProvider(
    `${name}-${pool.name}`,
    {
      name: `${a.cluster}-${pool.name}`,
      autoScalingGroupProvider: {
        autoScalingGroupArn: asg.arn,
        managedTerminationProtection: 'ENABLED',
        managedScaling: { status: 'ENABLED', targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 4 },
      },
      tags,
    },
    o,
  );
  return { pool, asg, cp };
}

/** Container definitions: plain config in environment, secrets by reference. */
function containerDefinitionsOf(
  { a }: PipelineParts,
  code: ReturnType<typeof createImage>,
  database: PipelineDatabase,
  bucket: SecureBucket,
  secrets: PipelineSecrets,
): ContainerDefinitions {
  const baseEnv = pulumi.all([database.proxy.endpoint, bucket.name]).apply(([pgHost, bucketName]) => ({
    ...a.env,
    AWS_REGION: a.region,
    SYNKTI_CLUSTER: a.cluster,
    SYNKTI_BUCKET: bucketName,
    SYNKTI_METRIC_NAMESPACE: PIPELINE_QUEUE_METRIC.namespace,
    PGHOST: pgHost,
    PGPORT: String(POSTGRES_PORT),
    PGDATABASE: DB_NAME,
    PGUSER: DB_USER,
    PGSSLMODE: 'require',
    // What `synkti agent|api` open by default. No password in the URL: node-postgres reads PGPASSWORD (a secret).
    SYNKTI_PIPELINE_DB: `postgres://${DB_USER}@${pgHost}:${POSTGRES_PORT}/${DB_NAME}?sslmode=require`,
    // The rest of PIPELINE_AGENT_ENV (SYNKTI_POOL is per service): what `synkti agent` with no flags reads.
    SYNKTI_PIPELINES: a.pipelineModules.join(','),
  }));
  const secretsList = pulumi.all(secrets.injected).apply((m) =>
    Object.entries(m)
      .sort(([x], [y]) => x.localeCompare(y))
      .map(([envName, valueFrom]) => ({ name: envName, valueFrom })),
  );
  const release = code.release;
  return (service, group, command, extra) =>
    pulumi
      .all([code.image, baseEnv, secretsList, group.name, secrets.registry?.arn])
      .apply(([img, env, secretList, logName, registryArn]) =>
        JSON.stringify([
          {
            name: service,
            image: img,
            essential: true,
            cpu: extra.cpu,
            memory: extra.memory,
            // The entrypoint hands argv[2..] to the release's CLI: argv[1] is the CLI's name.
            ...(release !== undefined ? { entryPoint: release.entryPoint, command: ['synkti', ...command] } : { command }),
            environment: Object.entries({ ...env, ...extra.env })
              .sort(([x], [y]) => x.localeCompare(y))
              .map(([k, v]) => ({ name: k, value: v })),
            secrets: secretList,
            ...(registryArn ? { repositoryCredentials: { credentialsParameter: registryArn } } : {}),
            ...(extra.ports ? { portMappings: extra.ports.map((containerPort) => ({ containerPort, protocol: 'tcp' })) } : {}),
            ...(extra.gpus ? { resourceRequirements: [{ type: 'GPU', value: String(extra.gpus) }] } : {}),
            // Agents release their tasks on SIGTERM; give them time before SIGKILL.
            stopTimeout: 120,
            logConfiguration: {
              logDriver: 'awslogs',
              options: { 'awslogs-group': logName, 'awslogs-region': a.region, 'awslogs-stream-prefix': service },
            },
          },
        ]),
      );
}

/** The pipeline API on Fargate behind an Application Load Balancer (internal unless `publicApi`). */
function createApi(
  parts: PipelineParts,
  network: SynktiNetwork,
  groups: PipelineSecurityGroups,
  roles: PipelineRoles,
  compute: PipelineCompute,
  containerDefs: ContainerDefinitions,
): PipelineApi {
  const { name, a, args, o, tags, t } = parts;
  const logs = logGroupOf(parts, 'api');
  const alb = withTransform(
    aws.lb.LoadBalancer,
    `${name}-api`,
    {
      name: `${a.cluster}-api`.slice(0, 32),
      loadBalancerType: 'application',
      internal: !a.publicApi,
      subnets: a.publicApi ? network.publicSubnetIds : network.privateSubnetIds,
      securityGroups: [groups.alb.id],
      dropInvalidHeaderFields: true,
      enableDeletionProtection: a.preset.deletionProtection,
      tags,
    },
    o,
    t.loadBalancer,
  );
  const targetGroup = withTransform(
    aws.lb.TargetGroup,
    `${name}-api`,
    {
      name: `${a.cluster}-api`.slice(0, 32),
      port: a.apiPort,
      protocol: 'HTTP',
      targetType: 'ip',
      vpcId: network.vpcId,
      deregistrationDelay: 30,
      healthCheck: { path: a.apiHealthPath, matcher: '200', interval: 15, healthyThreshold: 2, unhealthyThreshold: 3 },
      tags,
    },
    o,
    t.targetGroup,
  );
  if (args.certificateArn !== undefined) {
    new aws.lb.Listener(
      `${name}-api-https`,
      {
        loadBalancerArn: alb.arn,
        port: 443,
        protocol: 'HTTPS',
        sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        certificateArn: args.certificateArn,
        defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
        tags,
      },
      o,
    );
    new aws.lb.Listener(
      `${name}-api-http`,
      {
        loadBalancerArn: alb.arn,
        port: 80,
        protocol: 'HTTP',
        defaultActions: [{ type: 'redirect', redirect: { port: '443', protocol: 'HTTPS', statusCode: 'HTTP_301' } }],
        tags,
      },
      o,
    );
  } else {
    new aws.lb.Listener(
      `${name}-api-http`,
      {
        loadBalancerArn: alb.arn,
        port: 80,
        protocol: 'HTTP',
        defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
        tags,
      },
      o,
    );
  }
  const task = withTransform(
    aws.ecs.TaskDefinition,
    `${name}-api`,
    {
      family: `${a.cluster}-api`,
      requiresCompatibilities: ['FARGATE'],
      networkMode: 'awsvpc',
      cpu: '1024',
      memory: '2048',
      executionRoleArn: roles.execution.arn,
      taskRoleArn: roles.task.arn,
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
      containerDefinitions: containerDefs('api', logs, a.apiCommand, { ports: [a.apiPort], cpu: 1024, memory: 2048 }),
      tags,
    },
    o,
    t.taskDefinition,
  );
  const service = withTransform(
    aws.ecs.Service,
    `${name}-api`,
    {
      name: `${a.cluster}-api`,
      cluster: compute.cluster.arn,
      taskDefinition: task.arn,
      desiredCount: a.apiDesiredCount,
      capacityProviderStrategies: [{ capacityProvider: 'FARGATE', weight: 1, base: 1 }],
      networkConfiguration: { subnets: network.privateSubnetIds, securityGroups: [groups.api.id], assignPublicIp: false },
      loadBalancers: [{ targetGroupArn: targetGroup.arn, containerName: 'api', containerPort: a.apiPort }],
      deploymentCircuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriodSeconds: 60,
      propagateTags: 'SERVICE',
      tags,
    },
    { ...o, dependsOn: [compute.providers] },
    t.service,
  );
  return {
    alb,
    targetGroup,
    service,
    logs,
    url: pulumi.interpolate`${args.certificateArn !== undefined ? 'https' : 'http'}://${alb.dnsName}`,
  };
}

/** Agent pools as ECS services on their capacity providers; queue-scaled pools track open tasks per running agent. */
function createPools(
  parts: PipelineParts,
  roles: PipelineRoles,
  compute: PipelineCompute,
  containerDefs: ContainerDefinitions,
): PoolService[] {
  const { name, a, o, tags, t } = parts;
  return compute.pools.map(({ pool, asg, cp }) => {
    const logs = logGroupOf(parts, `agent-${pool.name}`);
    const command = a.agentCommand.map((part) => part.replaceAll('{pool}', pool.name));
    const task = withTransform(
      aws.ecs.TaskDefinition,
      `${name}-${pool.name}`,
      {
        family: `${a.cluster}-${pool.name}`,
        requiresCompatibilities: ['EC2'],
        networkMode: 'bridge',
        executionRoleArn: roles.execution.arn,
        taskRoleArn: roles.task.arn,
        containerDefinitions: containerDefs(`agent-${pool.name}`, logs, command, {
          env: { SYNKTI_POOL: pool.name },
          gpus: pool.gpus,
          cpu: pool.taskCpu,
          memory: pool.taskMemory,
        }),
        tags,
      },
      o,
      t.taskDefinition,
    );
    const service = withTransform(
      aws.ecs.Service,
      `${name}-${pool.name}`,
      {
        name: `${a.cluster}-${pool.name}`,
        cluster: compute.cluster.arn,
        taskDefinition: task.arn,
        desiredCount: pool.desired,
        capacityProviderStrategies: [{ capacityProvider: cp.name, weight: 1, base: 0 }],
        orderedPlacementStrategies: [{ type: 'binpack', field: pool.gpus > 0 ? 'memory' : 'cpu' }],
        deploymentMinimumHealthyPercent: 50,
        deploymentMaximumPercent: 100,
        propagateTags: 'SERVICE',
        tags,
      },
      { ...o, dependsOn: [compute.providers], ...(pool.scaleOnQueue ? { ignoreChanges: ['desiredCount'] } : {}) },
      t.service,
    );
    if (pool.scaleOnQueue) createQueueScaling(parts, pool, compute.cluster, service);
    return { pool, service, asg, logs };
  });
}

/** Target tracking on (ready + claimed) tasks per running agent, from the metrics `synkti agent|api --metrics-cluster` publish. */
function createQueueScaling({ name, a, o }: PipelineParts, pool: ResolvedPool, cluster: aws.ecs.Cluster, service: aws.ecs.Service): void {
  const queueDims = [
    { name: PIPELINE_QUEUE_METRIC.dimensions.cluster, value: a.cluster },
    { name: PIPELINE_QUEUE_METRIC.dimensions.pool, value: pool.name },
  ];
  const target = new aws.appautoscaling.Target(
    `${name}-${pool.name}`,
    {
      serviceNamespace: 'ecs',
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: pulumi.interpolate`service/${cluster.name}/${service.name}`,
      minCapacity: pool.min,
      maxCapacity: pool.max,
    },
    o,
  );
  new aws.appautoscaling.Policy(
    `${name}-${pool.name}-queue`,
    {
      name: `${a.cluster}-${pool.name}-open-tasks-per-agent`,
      policyType: 'TargetTrackingScaling',
      serviceNamespace: target.serviceNamespace,
      scalableDimension: target.scalableDimension,
      resourceId: target.resourceId,
      targetTrackingScalingPolicyConfiguration: {
        targetValue: pool.targetReadyPerAgent,
        scaleInCooldown: 300,
        scaleOutCooldown: 60,
        customizedMetricSpecification: {
          metrics: [
            {
              id: 'ready',
              returnData: false,
              metricStat: {
                stat: 'Average',
                metric: { namespace: PIPELINE_QUEUE_METRIC.namespace, metricName: PIPELINE_QUEUE_METRIC.metricName, dimensions: queueDims },
              },
            },
            {
              id: 'claimed',
              returnData: false,
              metricStat: {
                stat: 'Average',
                metric: {
                  namespace: PIPELINE_QUEUE_METRIC.namespace,
                  metricName: PIPELINE_QUEUE_METRIC.claimedMetricName,
                  dimensions: queueDims,
                },
              },
            },
            {
              id: 'running',
              returnData: false,
              metricStat: {
                stat: 'Average',
                metric: {
                  namespace: 'ECS/ContainerInsights',
                  metricName: 'RunningTaskCount',
                  dimensions: [
                    { name: 'ClusterName', value: cluster.name },
                    { name: 'ServiceName', value: service.name },
                  ],
                },
              },
            },
            // In-flight tasks count: a queue whose tasks are all running must not scale in.
            // With no agent running, the whole backlog counts: scaling starts from zero.
            {
              id: 'perAgent',
              expression: 'IF(running > 0, (ready + claimed) / running, ready + claimed)',
              label: 'open tasks (ready + claimed) per running agent',
              returnData: true,
            },
          ],
        },
      },
    },
    o,
  );
}

/** Metric filters over our own services' log events. */
function createLogMetricFilters({ name, o }: PipelineParts, apiLogs: aws.cloudwatch.LogGroup, agentLogs: aws.cloudwatch.LogGroup[]): void {
  for (const f of LOG_METRIC_FILTERS) {
    const metric = emittedMetric(f.metric);
    const groups = f.services === 'api' ? [apiLogs] : f.services === 'agents' ? agentLogs : [apiLogs, ...agentLogs];
    groups.forEach(
      (g, i) =>
        new aws.cloudwatch.LogMetricFilter(
          `${name}-${f.metric}-${i}`,
          {
            name: `${metric.metricName}`,
            logGroupName: g.name,
            pattern: f.pattern,
            metricTransformation: { name: metric.metricName, namespace: metric.namespace, value: '1', defaultValue: '0' },
          },
          o,
        ),
    );
  }
}

/** Alarms on metrics our services and AWS really emit, to an SNS topic. */
function createAlarms(
  { name, a, o, tags, t }: PipelineParts,
  api: PipelineApi,
  compute: PipelineCompute,
  database: PipelineDatabase,
  pools: PoolService[],
): aws.sns.Topic {
  const topic = new aws.sns.Topic(`${name}-alerts`, { name: `${a.cluster}-alerts`, kmsMasterKeyId: 'alias/aws/sns', tags }, o);
  a.alertEmails.forEach(
    (email, i) => new aws.sns.TopicSubscription(`${name}-alerts-${i}`, { topic: topic.arn, protocol: 'email', endpoint: email }, o),
  );
  const lbDim = arnSuffixOf(api.alb.arnSuffix, api.alb.arn, 'loadbalancer');
  const tgDim = arnSuffixOf(api.targetGroup.arnSuffix, api.targetGroup.arn, 'targetgroup');
  const alarm = (
    id: keyof typeof PIPELINE_ALARMS,
    spec: {
      dims: Dims;
      stat: string;
      comparison: string;
      threshold: number;
      periods: number;
      period?: number;
      missing?: string;
      description: string;
    },
  ): void => {
    const metric = emittedMetric(PIPELINE_ALARMS[id]);
    withTransform(
      aws.cloudwatch.MetricAlarm,
      `${name}-${id}`,
      {
        name: `${a.cluster}-${id}`,
        alarmDescription: spec.description,
        namespace: metric.namespace,
        metricName: metric.metricName,
        dimensions: spec.dims,
        statistic: spec.stat,
        period: spec.period ?? 300,
        evaluationPeriods: spec.periods,
        threshold: spec.threshold,
        comparisonOperator: spec.comparison,
        treatMissingData: spec.missing ?? 'notBreaching',
        alarmActions: [topic.arn],
        okActions: [topic.arn],
        tags,
      },
      o,
      t.alarm,
    );
  };
  const db = database.db;
  alarm('api-5xx', {
    dims: { LoadBalancer: lbDim },
    stat: 'Sum',
    comparison: 'GreaterThanThreshold',
    threshold: 10,
    periods: 1,
    description: 'API returned more than 10 server errors in 5 minutes',
  });
  alarm('api-unhealthy-targets', {
    dims: { TargetGroup: tgDim, LoadBalancer: lbDim },
    stat: 'Maximum',
    comparison: 'GreaterThanThreshold',
    threshold: 0,
    periods: 3,
    period: 60,
    description: 'an API task fails its health check',
  });
  alarm('api-not-running', {
    dims: { ClusterName: compute.cluster.name, ServiceName: api.service.name },
    stat: 'Minimum',
    comparison: 'LessThanThreshold',
    threshold: 1,
    periods: 3,
    period: 60,
    missing: 'breaching',
    description: 'no API task is running',
  });
  alarm('db-cpu', {
    dims: { DBInstanceIdentifier: db.identifier },
    stat: 'Average',
    comparison: 'GreaterThanThreshold',
    threshold: 80,
    periods: 3,
    description: 'task database CPU above 80% for 15 minutes',
  });
  alarm('db-storage-low', {
    dims: { DBInstanceIdentifier: db.identifier },
    stat: 'Minimum',
    comparison: 'LessThanThreshold',
    threshold: 2 * 1024 ** 3,
    periods: 1,
    description: 'task database has less than 2 GiB free',
  });
  alarm('tasks-failed', {
    dims: {},
    stat: 'Sum',
    comparison: 'GreaterThanThreshold',
    threshold: 0,
    periods: 1,
    description: 'a pipeline task failed for good (retries exhausted or permanent error)',
  });
  alarm('claim-errors', {
    dims: {},
    stat: 'Sum',
    comparison: 'GreaterThanThreshold',
    threshold: 5,
    periods: 2,
    description: 'agents cannot claim tasks (task database failing?)',
  });
  const gpuPool = pools.find((s) => s.pool.scaleOnQueue);
  if (gpuPool) {
    // Fires while nothing publishes the queue depth: the GPU pool would not scale (docs/field-notes.md).
    alarm('queue-metric-missing', {
      dims: { [PIPELINE_QUEUE_METRIC.dimensions.cluster]: a.cluster, [PIPELINE_QUEUE_METRIC.dimensions.pool]: gpuPool.pool.name },
      stat: 'SampleCount',
      comparison: 'LessThanThreshold',
      threshold: 1,
      periods: 3,
      period: 300,
      missing: 'breaching',
      description: `nothing publishes ${PIPELINE_QUEUE_METRIC.namespace} ${PIPELINE_QUEUE_METRIC.metricName}: the ${gpuPool.pool.name} pool cannot scale`,
    });
  }
  return topic;
}

/** The CloudWatch dashboard; returns its name. */
function createDashboard(
  { name, a, o }: PipelineParts,
  api: PipelineApi,
  compute: PipelineCompute,
  database: PipelineDatabase,
  pools: PoolService[],
): string {
  const dashboardName = a.cluster;
  const lbDim = arnSuffixOf(api.alb.arnSuffix, api.alb.arn, 'loadbalancer');
  const tgDim = arnSuffixOf(api.targetGroup.arnSuffix, api.targetGroup.arn, 'targetgroup');
  const widget = (title: string, metrics: unknown[][], x: number, y: number) => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region: a.region, view: 'timeSeries', stat: 'Average', period: 300, metrics },
  });
  const m = (id: string, ...dims: string[]): string[] => {
    const e = emittedMetric(id);
    return [e.namespace, e.metricName, ...dims];
  };
  const body = pulumi
    .all([
      lbDim,
      tgDim,
      compute.cluster.name,
      api.service.name,
      database.db.identifier,
      database.proxy.name,
      pulumi.all(pools.map((s) => s.service.name)),
      pulumi.all(pools.map((s) => s.asg.name)),
    ])
    .apply(([lb, tg, clusterName, apiName, dbId, proxyName, serviceNames, asgNames]) =>
      JSON.stringify({
        widgets: [
          widget('API requests and 5XX', [m('apiRequests', 'LoadBalancer', lb), m('api5xx', 'LoadBalancer', lb)], 0, 0),
          widget(
            'API latency and unhealthy targets',
            [m('apiLatency', 'LoadBalancer', lb), m('apiUnhealthy', 'TargetGroup', tg, 'LoadBalancer', lb)],
            12,
            0,
          ),
          widget(
            'Ready and claimed tasks per pool',
            a.pools.flatMap((pl) => [
              m('readyTasks', 'Cluster', a.cluster, 'Pool', pl.name),
              m('claimedTasks', 'Cluster', a.cluster, 'Pool', pl.name),
            ]),
            0,
            6,
          ),
          widget(
            'Running tasks',
            [apiName, ...serviceNames].map((s) => m('runningTasks', 'ClusterName', clusterName, 'ServiceName', s)),
            12,
            6,
          ),
          widget(
            'Service CPU',
            [apiName, ...serviceNames].map((s) => m('serviceCpu', 'ClusterName', clusterName, 'ServiceName', s)),
            0,
            12,
          ),
          widget(
            'Pool instances',
            asgNames.map((g) => m('poolInstances', 'AutoScalingGroupName', g)),
            12,
            12,
          ),
          widget('Task outcomes', [m('taskFailedForGood'), m('taskRetries'), m('claimErrors'), m('heartbeatErrors')], 0, 18),
          widget(
            'Task database',
            [
              m('dbCpu', 'DBInstanceIdentifier', dbId),
              m('dbConnections', 'DBInstanceIdentifier', dbId),
              m('proxyClientConnections', 'ProxyName', proxyName),
            ],
            12,
            18,
          ),
        ],
      }),
    );
  new aws.cloudwatch.Dashboard(`${name}-dashboard`, { dashboardName, dashboardBody: body }, o);
  return dashboardName;
}
