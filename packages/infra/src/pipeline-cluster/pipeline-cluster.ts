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
import { SecureBucket } from '../aws/secure-bucket.ts';
import { taskReleaseContainer, taskReleaseStatement } from '../aws/task-release.ts';
import type { EnvironmentName } from '../environments.ts';
import { resolvePipelineArgs, type PipelineClusterArgs, type ResolvedPipelineArgs, type ResolvedPool } from './pipeline-args.ts';
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
function arnSuffixOf(suffix: pulumi.Output<string>, arn: pulumi.Output<string>, kind: 'loadbalancer' | 'targetgroup'): pulumi.Output<string> {
  return pulumi.all([suffix, arn]).apply(([s, a]) => {
    if (typeof s === 'string' && s !== '') return s;
    const i = a.indexOf(`:${kind}/`);
    return i < 0 ? a : kind === 'loadbalancer' ? a.slice(i + kind.length + 2) : a.slice(i + 1);
  });
}

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
    const p = a.preset;
    const provider = new aws.Provider(`${name}-aws`, { region: a.region as aws.Region }, { parent: this });
    const o = { parent: this, provider };
    const tags = { ...args.tags, [TAG_CLUSTER]: a.cluster };

    // --- network ----------------------------------------------------------------------
    const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: a.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { ...tags, Name: a.cluster } }, o);
    const zones = aws.getAvailabilityZonesOutput({ state: 'available' }, o).names;
    const octets = a.vpcCidr.split('.');
    const subnetCidr = (index: number): string => `${octets[0]}.${octets[1]}.${index * 16}.0/20`;
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags }, o);
    const publicRt = new aws.ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, routes: [{ cidrBlock: '0.0.0.0/0', gatewayId: igw.id }], tags: { ...tags, Name: `${a.cluster}-public` } }, o);
    const publicSubnets: aws.ec2.Subnet[] = [];
    const privateSubnets: aws.ec2.Subnet[] = [];
    const nats: aws.ec2.NatGateway[] = [];
    for (let i = 0; i < p.azCount; i++) {
      const az = zones.apply((z) => z[i] as string);
      const pub = new aws.ec2.Subnet(`${name}-public-${i}`, { vpcId: vpc.id, cidrBlock: subnetCidr(i), availabilityZone: az, mapPublicIpOnLaunch: false, tags: { ...tags, Name: `${a.cluster}-public-${i}` } }, o);
      new aws.ec2.RouteTableAssociation(`${name}-public-${i}`, { subnetId: pub.id, routeTableId: publicRt.id }, o);
      publicSubnets.push(pub);
      if (i === 0 || p.natPerZone) {
        const eip = new aws.ec2.Eip(`${name}-nat-${i}`, { domain: 'vpc', tags }, o);
        nats.push(new aws.ec2.NatGateway(`${name}-nat-${i}`, { allocationId: eip.id, subnetId: pub.id, tags }, { ...o, dependsOn: [igw] }));
      }
      const nat = nats[p.natPerZone ? i : 0] as aws.ec2.NatGateway;
      const privRt = new aws.ec2.RouteTable(`${name}-private-${i}`, { vpcId: vpc.id, routes: [{ cidrBlock: '0.0.0.0/0', natGatewayId: nat.id }], tags: { ...tags, Name: `${a.cluster}-private-${i}` } }, o);
      const priv = new aws.ec2.Subnet(`${name}-private-${i}`, { vpcId: vpc.id, cidrBlock: subnetCidr(8 + i), availabilityZone: az, tags: { ...tags, Name: `${a.cluster}-private-${i}` } }, o);
      new aws.ec2.RouteTableAssociation(`${name}-private-${i}`, { subnetId: priv.id, routeTableId: privRt.id }, o);
      privateSubnets.push(priv);
    }
    const privateIds = privateSubnets.map((s) => s.id);
    this.vpcId = vpc.id;

    // --- security groups: one per tier, each open only to the tier in front of it ------
    const sg = (id: string, description: string, ingress: aws.types.input.ec2.SecurityGroupIngress[], egress?: aws.types.input.ec2.SecurityGroupEgress[]): aws.ec2.SecurityGroup =>
      new aws.ec2.SecurityGroup(`${name}-${id}`, {
        vpcId: vpc.id, name: `${a.cluster}-${id}`, description, ingress,
        egress: egress ?? [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'], description: 'AWS APIs, images, peers' }], tags,
      }, o);
    const lbPorts = args.certificateArn !== undefined ? [80, 443] : [80];
    const lbCidrs = a.apiAllowedCidrs ?? (a.publicApi ? ['0.0.0.0/0'] : [a.vpcCidr]);
    const albSg = sg('alb', `API load balancer of ${a.cluster}`, lbPorts.map((port) => ({ protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: lbCidrs, description: 'API clients' })),
      [{ protocol: 'tcp', fromPort: a.apiPort, toPort: a.apiPort, cidrBlocks: [a.vpcCidr], description: 'to the API tasks' }]);
    const apiSg = sg('api', `API tasks of ${a.cluster}: only from the load balancer`, [{ protocol: 'tcp', fromPort: a.apiPort, toPort: a.apiPort, securityGroups: [albSg.id], description: 'from the API load balancer' }]);
    const agentSg = sg('agents', `Agent instances of ${a.cluster}: no inbound`, []);
    const proxySg = sg('db-proxy', `Database proxy of ${a.cluster}: only from the API and agents`, [{ protocol: 'tcp', fromPort: POSTGRES_PORT, toPort: POSTGRES_PORT, securityGroups: [apiSg.id, agentSg.id], description: 'PostgreSQL from services' }]);
    const dbSg = sg('db', `Database of ${a.cluster}: only from its proxy`, [{ protocol: 'tcp', fromPort: POSTGRES_PORT, toPort: POSTGRES_PORT, securityGroups: [proxySg.id], description: 'PostgreSQL from the proxy' }], []);

    // --- storage -------------------------------------------------------------------------
    const bucket = new SecureBucket(`${name}-data`, {
      bucketPrefix: `${a.cluster}-data`, versioned: a.environment !== 'dev', keep: p.deletionProtection, forceDestroy: !p.deletionProtection,
      lifecycleRules: a.environment !== 'dev' ? [{ id: 'expire-old-versions', prefix: '', noncurrentExpireDays: 30 }] : [], tags,
    }, o);
    this.bucketName = bucket.name;

    // --- secrets: every one in Secrets Manager -----------------------------------------
    const secretOf = (id: string, value: pulumi.Input<string>): aws.secretsmanager.Secret => {
      const secret = new aws.secretsmanager.Secret(`${name}-secret-${id}`, { name: `${a.cluster}/${id}`, recoveryWindowInDays: p.secretRecoveryDays, tags }, o);
      new aws.secretsmanager.SecretVersion(`${name}-secret-${id}`, { secretId: secret.id, secretString: pulumi.secret(value) }, o);
      return secret;
    };
    const injected: Record<string, pulumi.Output<string>> = {};
    for (const [envName, value] of Object.entries(args.secrets ?? {})) injected[envName] = secretOf(envName.toLowerCase().replace(/_/g, '-'), value).arn;
    for (const [envName, arn] of Object.entries(a.secretArns)) injected[envName] = pulumi.output(arn);
    const registry = args.registryCredentials !== undefined ? secretOf('registry-credentials', args.registryCredentials) : undefined;

    // --- task database: RDS PostgreSQL + RDS Proxy ---------------------------------------
    const dbSubnets = new aws.rds.SubnetGroup(`${name}-db`, { name: `${a.cluster}-db`, subnetIds: privateIds, tags }, o);
    const dbParams = new aws.rds.ParameterGroup(`${name}-db`, {
      name: `${a.cluster}-postgres16`, family: 'postgres16',
      parameters: [{ name: 'rds.force_ssl', value: '1' }, { name: 'log_min_duration_statement', value: '1000' }], tags,
    }, o);
    const db = new aws.rds.Instance(`${name}-db`, {
      identifier: `${a.cluster}-postgres`, engine: 'postgres', engineVersion: '16', instanceClass: a.dbInstanceClass,
      allocatedStorage: 20, maxAllocatedStorage: 200, storageType: 'gp3', storageEncrypted: true,
      dbName: DB_NAME, username: DB_USER,
      // RDS generates and rotates the password in Secrets Manager: it is never in config or state.
      manageMasterUserPassword: true,
      dbSubnetGroupName: dbSubnets.name, parameterGroupName: dbParams.name, vpcSecurityGroupIds: [dbSg.id],
      publiclyAccessible: false, multiAz: p.dbMultiAz,
      backupRetentionPeriod: a.dbBackupRetentionDays, backupWindow: '03:00-04:00', maintenanceWindow: 'sun:04:30-sun:05:30',
      copyTagsToSnapshot: true, deleteAutomatedBackups: !p.deletionProtection,
      skipFinalSnapshot: !p.dbFinalSnapshot, ...(p.dbFinalSnapshot ? { finalSnapshotIdentifier: `${a.cluster}-postgres-final` } : {}),
      deletionProtection: p.deletionProtection, autoMinorVersionUpgrade: true,
      performanceInsightsEnabled: a.environment === 'production',
      enabledCloudwatchLogsExports: ['postgresql'],
      tags,
    }, p.deletionProtection ? { ...o, protect: true } : o);
    const dbSecretArn = db.masterUserSecrets.apply((s) => s?.[0]?.secretArn ?? '');
    this.databaseSecretArn = dbSecretArn;
    this.databaseEndpoint = db.address;
    const proxyRole = new aws.iam.Role(`${name}-db-proxy`, { name: `${a.cluster}-db-proxy`, assumeRolePolicy: serviceTrustPolicy('rds.amazonaws.com'), tags }, o);
    new aws.iam.RolePolicy(`${name}-db-proxy`, {
      role: proxyRole.id,
      policy: policyJson([
        { Sid: 'ReadDatabaseSecret', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: dbSecretArn },
        { Sid: 'DecryptDatabaseSecret', Effect: 'Allow', Action: 'kms:Decrypt', Resource: '*', Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${a.region}.amazonaws.com` } } },
      ]),
    }, o);
    const proxy = new aws.rds.Proxy(`${name}-db-proxy`, {
      name: `${a.cluster}-proxy`, engineFamily: 'POSTGRESQL', requireTls: true, roleArn: proxyRole.arn,
      vpcSubnetIds: privateIds, vpcSecurityGroupIds: [proxySg.id], idleClientTimeout: 1800, debugLogging: false,
      auths: [{ authScheme: 'SECRETS', iamAuth: 'DISABLED', secretArn: dbSecretArn, clientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' }],
      tags,
    }, o);
    new aws.rds.ProxyDefaultTargetGroup(`${name}-db-proxy`, { dbProxyName: proxy.name, connectionPoolConfig: { maxConnectionsPercent: 90, connectionBorrowTimeout: 120 } }, o);
    new aws.rds.ProxyTarget(`${name}-db-proxy`, { dbProxyName: proxy.name, targetGroupName: 'default', dbInstanceIdentifier: db.identifier }, o);
    this.databaseProxyEndpoint = proxy.endpoint;
    injected.PGPASSWORD = pulumi.interpolate`${dbSecretArn}:password::`;


    // --- logs --------------------------------------------------------------------------
    const logGroup = (service: string): aws.cloudwatch.LogGroup =>
      new aws.cloudwatch.LogGroup(`${name}-logs-${service}`, { name: `/synkti/${a.cluster}/${service}`, retentionInDays: a.logRetentionDays, tags }, o);
    new aws.cloudwatch.LogGroup(`${name}-logs-postgres`, { name: `/aws/rds/instance/${a.cluster}-postgres/postgresql`, retentionInDays: a.logRetentionDays, tags }, o);

    // --- identity --------------------------------------------------------------------------
    const ecsTrust = serviceTrustPolicy('ecs-tasks.amazonaws.com');
    const executionRole = new aws.iam.Role(`${name}-execution`, { name: `${a.cluster}-execution`, assumeRolePolicy: ecsTrust, tags }, o);
    new aws.iam.RolePolicyAttachment(`${name}-execution`, { role: executionRole.name, policyArn: ECS_TASK_EXECUTION_POLICY_ARN }, o);
    const readable = [...Object.values(injected).map((arn) => arn.apply((x) => x.replace(/:password::$/, ''))), ...(registry ? [registry.arn] : [])];
    new aws.iam.RolePolicy(`${name}-execution-secrets`, {
      role: executionRole.id,
      policy: policyJson([{ Sid: 'ReadInjectedSecrets', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'ssm:GetParameters'], Resource: readable }]),
    }, o);
    const taskRole = new aws.iam.Role(`${name}-task`, { name: `${a.cluster}-task`, assumeRolePolicy: ecsTrust, tags }, o);
    new aws.iam.RolePolicy(`${name}-task`, {
      role: taskRole.id,
      policy: policyJson([
        { Sid: 'DataObjects', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], Resource: pulumi.interpolate`${bucket.arn}/*` },
        { Sid: 'ListData', Effect: 'Allow', Action: 's3:ListBucket', Resource: bucket.arn },
        // The queue-depth metric: PutMetricData has no resource ARN, so the namespace is the condition.
        { Sid: 'PublishPipelineMetrics', Effect: 'Allow', Action: 'cloudwatch:PutMetricData', Resource: '*', Condition: { StringEquals: { 'cloudwatch:namespace': PIPELINE_QUEUE_METRIC.namespace } } },
        ...(args.release !== undefined ? [taskReleaseStatement(args.release)] : []),
      ]),
    }, o);
    const instanceRole = new aws.iam.Role(`${name}-instance`, { name: `${a.cluster}-instance`, assumeRolePolicy: serviceTrustPolicy('ec2.amazonaws.com'), tags }, o);
    new aws.iam.RolePolicyAttachment(`${name}-instance-ecs`, { role: instanceRole.name, policyArn: ECS_INSTANCE_POLICY_ARN }, o);
    new aws.iam.RolePolicyAttachment(`${name}-instance-ssm`, { role: instanceRole.name, policyArn: SSM_MANAGED_POLICY_ARN }, o);
    const instanceProfile = new aws.iam.InstanceProfile(`${name}-instance`, { name: `${a.cluster}-instance`, role: instanceRole.name, tags }, o);

    // --- ECS cluster, capacity providers per pool -------------------------------------------
    const ecsCluster = new aws.ecs.Cluster(`${name}-cluster`, { name: a.cluster, settings: [{ name: 'containerInsights', value: 'enabled' }], tags }, o);
    this.ecsClusterArn = ecsCluster.arn;
    // The code: the release on the stock Node.js image (ADR 0008), the given image, or (neither) the cluster's ECR repository's.
    const release = args.release !== undefined ? taskReleaseContainer(args.release, a.region) : undefined;
    const repo = release === undefined && args.image === undefined
      ? new aws.ecr.Repository(`${name}-image`, {
        name: a.cluster, imageTagMutability: 'IMMUTABLE', imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [{ encryptionType: 'AES256' }], forceDelete: !p.deletionProtection, tags,
      }, o)
      : undefined;
    const image = release !== undefined ? pulumi.output(release.image) : args.image !== undefined ? pulumi.output(args.image) : pulumi.interpolate`${repo!.repositoryUrl}:latest`;
    const capacityProviders: aws.ecs.CapacityProvider[] = [];
    const poolParts = a.pools.map((pool) => {
      const poolTags = { ...tags, [TAG_ROLE]: `agent-${pool.name}` };
      const userData = [
        '#!/bin/bash',
        `echo ECS_CLUSTER=${a.cluster} >> /etc/ecs/ecs.config`,
        // On a spot notice ECS drains the instance: agents get SIGTERM and release their tasks.
        'echo ECS_ENABLE_SPOT_INSTANCE_DRAINING=true >> /etc/ecs/ecs.config',
        ...(pool.gpus > 0 ? ['echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config'] : []),
        '',
      ].join('\n');
      const lt = new aws.ec2.LaunchTemplate(`${name}-${pool.name}`, {
        namePrefix: `${a.cluster}-${pool.name}-`, imageId: pool.gpus > 0 ? ECS_GPU_AMI : ECS_AMI, instanceType: pool.instanceTypes[0],
        iamInstanceProfile: { arn: instanceProfile.arn }, vpcSecurityGroupIds: [agentSg.id],
        metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 2, instanceMetadataTags: 'enabled' },
        blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: pool.gpus > 0 ? 200 : 100, deleteOnTermination: 'true' } }],
        userData: Buffer.from(userData, 'utf8').toString('base64'),
        tagSpecifications: ['instance', 'volume', 'network-interface'].map((resourceType) => ({ resourceType, tags: poolTags })),
        updateDefaultVersion: true, tags: poolTags,
      }, o);
      const asg = new aws.autoscaling.Group(`${name}-${pool.name}`, {
        name: `${a.cluster}-${pool.name}`, minSize: 0, maxSize: pool.maxInstances, vpcZoneIdentifiers: privateIds,
        // Managed termination protection: ECS decides which instances may go (none running tasks).
        protectFromScaleIn: true,
        enabledMetrics: ['GroupInServiceInstances', 'GroupDesiredCapacity'],
        ...(pool.spot
          ? {
            capacityRebalance: true,
            mixedInstancesPolicy: {
              instancesDistribution: { onDemandBaseCapacity: pool.onDemandBase, onDemandPercentageAboveBaseCapacity: 0, spotAllocationStrategy: 'price-capacity-optimized' },
              launchTemplate: { launchTemplateSpecification: { launchTemplateId: lt.id, version: '$Latest' }, overrides: pool.instanceTypes.map((instanceType) => ({ instanceType })) },
            },
          }
          : pool.instanceTypes.length > 1
            ? {
              mixedInstancesPolicy: {
                instancesDistribution: { onDemandBaseCapacity: 0, onDemandPercentageAboveBaseCapacity: 100, onDemandAllocationStrategy: 'prioritized' },
                launchTemplate: { launchTemplateSpecification: { launchTemplateId: lt.id, version: '$Latest' }, overrides: pool.instanceTypes.map((instanceType) => ({ instanceType })) },
              },
            }
            : { launchTemplate: { id: lt.id, version: '$Latest' } }),
        tags: [...Object.entries(poolTags).map(([key, value]) => ({ key, value, propagateAtLaunch: true })), { key: 'AmazonECSManaged', value: 'true', propagateAtLaunch: true }],
      }, { ...o, ignoreChanges: ['desiredCapacity'] });
      const cp = new aws.ecs.CapacityProvider(`${name}-${pool.name}`, {
        name: `${a.cluster}-${pool.name}`,
        autoScalingGroupProvider: {
          autoScalingGroupArn: asg.arn, managedTerminationProtection: 'ENABLED',
          managedScaling: { status: 'ENABLED', targetCapacity: 100, minimumScalingStepSize: 1, maximumScalingStepSize: 4 },
        },
        tags,
      }, o);
      capacityProviders.push(cp);
      return { pool, asg, cp };
    });
    const clusterProviders = new aws.ecs.ClusterCapacityProviders(`${name}-capacity`, {
      clusterName: ecsCluster.name, capacityProviders: ['FARGATE', ...capacityProviders.map((c) => c.name)],
      defaultCapacityProviderStrategies: [{ capacityProvider: 'FARGATE', weight: 1, base: 0 }],
    }, o);

    // --- container definitions: plain config in environment, secrets by reference ----------
    const baseEnv = pulumi.all([proxy.endpoint, bucket.name]).apply(([pgHost, bucketName]) => ({
      ...a.env,
      AWS_REGION: a.region, SYNKTI_CLUSTER: a.cluster, SYNKTI_BUCKET: bucketName, SYNKTI_METRIC_NAMESPACE: PIPELINE_QUEUE_METRIC.namespace,
      PGHOST: pgHost, PGPORT: String(POSTGRES_PORT), PGDATABASE: DB_NAME, PGUSER: DB_USER, PGSSLMODE: 'require',
      // What `synkti agent|api` open by default. No password in the URL: node-postgres reads PGPASSWORD (a secret).
      SYNKTI_PIPELINE_DB: `postgres://${DB_USER}@${pgHost}:${POSTGRES_PORT}/${DB_NAME}?sslmode=require`,
      // The rest of PIPELINE_AGENT_ENV (SYNKTI_POOL is per service): what `synkti agent` with no flags reads.
      SYNKTI_PIPELINES: a.pipelineModules.join(','),
    }));
    const secretsList = pulumi.all(injected).apply((m) => Object.entries(m).sort(([x], [y]) => x.localeCompare(y)).map(([envName, valueFrom]) => ({ name: envName, valueFrom })));
    const containerDefs = (service: string, group: aws.cloudwatch.LogGroup, command: string[], extra: { env?: Record<string, string>; ports?: number[]; gpus?: number; cpu: number; memory: number }) =>
      pulumi.all([image, baseEnv, secretsList, group.name, registry?.arn]).apply(([img, env, secrets, logName, registryArn]) => JSON.stringify([{
        name: service, image: img, essential: true, cpu: extra.cpu, memory: extra.memory,
        // The entrypoint hands argv[2..] to the release's CLI: argv[1] is the CLI's name.
        ...(release !== undefined ? { entryPoint: release.entryPoint, command: ['synkti', ...command] } : { command }),
        environment: Object.entries({ ...env, ...extra.env }).sort(([x], [y]) => x.localeCompare(y)).map(([k, v]) => ({ name: k, value: v })),
        secrets,
        ...(registryArn ? { repositoryCredentials: { credentialsParameter: registryArn } } : {}),
        ...(extra.ports ? { portMappings: extra.ports.map((containerPort) => ({ containerPort, protocol: 'tcp' })) } : {}),
        ...(extra.gpus ? { resourceRequirements: [{ type: 'GPU', value: String(extra.gpus) }] } : {}),
        // Agents release their tasks on SIGTERM; give them time before SIGKILL.
        stopTimeout: 120,
        logConfiguration: { logDriver: 'awslogs', options: { 'awslogs-group': logName, 'awslogs-region': a.region, 'awslogs-stream-prefix': service } },
      }]));

    // --- API on Fargate behind the load balancer --------------------------------------------
    const apiLogs = logGroup('api');
    const alb = new aws.lb.LoadBalancer(`${name}-api`, {
      name: `${a.cluster}-api`.slice(0, 32), loadBalancerType: 'application', internal: !a.publicApi,
      subnets: (a.publicApi ? publicSubnets : privateSubnets).map((s) => s.id), securityGroups: [albSg.id],
      dropInvalidHeaderFields: true, enableDeletionProtection: p.deletionProtection, tags,
    }, o);
    const apiTg = new aws.lb.TargetGroup(`${name}-api`, {
      name: `${a.cluster}-api`.slice(0, 32), port: a.apiPort, protocol: 'HTTP', targetType: 'ip', vpcId: vpc.id, deregistrationDelay: 30,
      healthCheck: { path: a.apiHealthPath, matcher: '200', interval: 15, healthyThreshold: 2, unhealthyThreshold: 3 }, tags,
    }, o);
    if (args.certificateArn !== undefined) {
      new aws.lb.Listener(`${name}-api-https`, { loadBalancerArn: alb.arn, port: 443, protocol: 'HTTPS', sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06', certificateArn: args.certificateArn, defaultActions: [{ type: 'forward', targetGroupArn: apiTg.arn }], tags }, o);
      new aws.lb.Listener(`${name}-api-http`, { loadBalancerArn: alb.arn, port: 80, protocol: 'HTTP', defaultActions: [{ type: 'redirect', redirect: { port: '443', protocol: 'HTTPS', statusCode: 'HTTP_301' } }], tags }, o);
    } else {
      new aws.lb.Listener(`${name}-api-http`, { loadBalancerArn: alb.arn, port: 80, protocol: 'HTTP', defaultActions: [{ type: 'forward', targetGroupArn: apiTg.arn }], tags }, o);
    }
    this.apiUrl = pulumi.interpolate`${args.certificateArn !== undefined ? 'https' : 'http'}://${alb.dnsName}`;
    const apiTask = new aws.ecs.TaskDefinition(`${name}-api`, {
      family: `${a.cluster}-api`, requiresCompatibilities: ['FARGATE'], networkMode: 'awsvpc', cpu: '1024', memory: '2048',
      executionRoleArn: executionRole.arn, taskRoleArn: taskRole.arn, runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'X86_64' },
      containerDefinitions: containerDefs('api', apiLogs, a.apiCommand, { ports: [a.apiPort], cpu: 1024, memory: 2048 }), tags,
    }, o);
    const apiService = new aws.ecs.Service(`${name}-api`, {
      name: `${a.cluster}-api`, cluster: ecsCluster.arn, taskDefinition: apiTask.arn, desiredCount: a.apiDesiredCount,
      capacityProviderStrategies: [{ capacityProvider: 'FARGATE', weight: 1, base: 1 }],
      networkConfiguration: { subnets: privateIds, securityGroups: [apiSg.id], assignPublicIp: false },
      loadBalancers: [{ targetGroupArn: apiTg.arn, containerName: 'api', containerPort: a.apiPort }],
      deploymentCircuitBreaker: { enable: true, rollback: true }, healthCheckGracePeriodSeconds: 60, propagateTags: 'SERVICE', tags,
    }, { ...o, dependsOn: [clusterProviders] });
    this.apiServiceArn = apiService.id;

    // --- agent pools as ECS services on their capacity providers ----------------------------
    const agentLogGroups: aws.cloudwatch.LogGroup[] = [];
    const poolServiceNames: Record<string, pulumi.Output<string>> = {};
    const poolServices: Array<{ pool: ResolvedPool; service: aws.ecs.Service; asg: aws.autoscaling.Group }> = [];
    for (const { pool, asg, cp } of poolParts) {
      const logs = logGroup(`agent-${pool.name}`);
      agentLogGroups.push(logs);
      const command = a.agentCommand.map((part) => part.replaceAll('{pool}', pool.name));
      const task = new aws.ecs.TaskDefinition(`${name}-${pool.name}`, {
        family: `${a.cluster}-${pool.name}`, requiresCompatibilities: ['EC2'], networkMode: 'bridge',
        executionRoleArn: executionRole.arn, taskRoleArn: taskRole.arn,
        containerDefinitions: containerDefs(`agent-${pool.name}`, logs, command, { env: { SYNKTI_POOL: pool.name }, gpus: pool.gpus, cpu: pool.taskCpu, memory: pool.taskMemory }), tags,
      }, o);
      const service = new aws.ecs.Service(`${name}-${pool.name}`, {
        name: `${a.cluster}-${pool.name}`, cluster: ecsCluster.arn, taskDefinition: task.arn, desiredCount: pool.desired,
        capacityProviderStrategies: [{ capacityProvider: cp.name, weight: 1, base: 0 }],
        orderedPlacementStrategies: [{ type: 'binpack', field: pool.gpus > 0 ? 'memory' : 'cpu' }],
        deploymentMinimumHealthyPercent: 50, deploymentMaximumPercent: 100, propagateTags: 'SERVICE', tags,
      }, { ...o, dependsOn: [clusterProviders], ...(pool.scaleOnQueue ? { ignoreChanges: ['desiredCount'] } : {}) });
      poolServiceNames[pool.name] = service.name;
      poolServices.push({ pool, service, asg });
      if (!pool.scaleOnQueue) continue;
      const queueDims = [{ name: PIPELINE_QUEUE_METRIC.dimensions.cluster, value: a.cluster }, { name: PIPELINE_QUEUE_METRIC.dimensions.pool, value: pool.name }];
      const target = new aws.appautoscaling.Target(`${name}-${pool.name}`, {
        serviceNamespace: 'ecs', scalableDimension: 'ecs:service:DesiredCount',
        resourceId: pulumi.interpolate`service/${ecsCluster.name}/${service.name}`, minCapacity: pool.min, maxCapacity: pool.max,
      }, o);
      new aws.appautoscaling.Policy(`${name}-${pool.name}-queue`, {
        name: `${a.cluster}-${pool.name}-open-tasks-per-agent`, policyType: 'TargetTrackingScaling',
        serviceNamespace: target.serviceNamespace, scalableDimension: target.scalableDimension, resourceId: target.resourceId,
        targetTrackingScalingPolicyConfiguration: {
          targetValue: pool.targetReadyPerAgent, scaleInCooldown: 300, scaleOutCooldown: 60,
          customizedMetricSpecification: {
            metrics: [
              { id: 'ready', returnData: false, metricStat: { stat: 'Average', metric: { namespace: PIPELINE_QUEUE_METRIC.namespace, metricName: PIPELINE_QUEUE_METRIC.metricName, dimensions: queueDims } } },
              { id: 'claimed', returnData: false, metricStat: { stat: 'Average', metric: { namespace: PIPELINE_QUEUE_METRIC.namespace, metricName: PIPELINE_QUEUE_METRIC.claimedMetricName, dimensions: queueDims } } },
              { id: 'running', returnData: false, metricStat: { stat: 'Average', metric: { namespace: 'ECS/ContainerInsights', metricName: 'RunningTaskCount', dimensions: [{ name: 'ClusterName', value: ecsCluster.name }, { name: 'ServiceName', value: service.name }] } } },
              // In-flight tasks count: a queue whose tasks are all running must not scale in.
              // With no agent running, the whole backlog counts: scaling starts from zero.
              { id: 'perAgent', expression: 'IF(running > 0, (ready + claimed) / running, ready + claimed)', label: 'open tasks (ready + claimed) per running agent', returnData: true },
            ],
          },
        },
      }, o);
    }
    this.poolServiceNames = poolServiceNames;

    // --- metric filters over our own log lines --------------------------------------------
    for (const f of LOG_METRIC_FILTERS) {
      const metric = emittedMetric(f.metric);
      const groups = f.services === 'api' ? [apiLogs] : f.services === 'agents' ? agentLogGroups : [apiLogs, ...agentLogGroups];
      groups.forEach((g, i) => new aws.cloudwatch.LogMetricFilter(`${name}-${f.metric}-${i}`, {
        name: `${metric.metricName}`, logGroupName: g.name, pattern: f.pattern,
        metricTransformation: { name: metric.metricName, namespace: metric.namespace, value: '1', defaultValue: '0' },
      }, o));
    }

    // --- alarms → SNS ------------------------------------------------------------------------
    const topic = new aws.sns.Topic(`${name}-alerts`, { name: `${a.cluster}-alerts`, kmsMasterKeyId: 'alias/aws/sns', tags }, o);
    a.alertEmails.forEach((email, i) => new aws.sns.TopicSubscription(`${name}-alerts-${i}`, { topic: topic.arn, protocol: 'email', endpoint: email }, o));
    this.alertsTopicArn = topic.arn;
    const lbDim = arnSuffixOf(alb.arnSuffix, alb.arn, 'loadbalancer');
    const tgDim = arnSuffixOf(apiTg.arnSuffix, apiTg.arn, 'targetgroup');
    const gpuPool = poolServices.find((s) => s.pool.scaleOnQueue);
    const alarm = (id: keyof typeof PIPELINE_ALARMS, spec: { dims: Dims; stat: string; comparison: string; threshold: number; periods: number; period?: number; missing?: string; description: string }): void => {
      const metric = emittedMetric(PIPELINE_ALARMS[id]);
      new aws.cloudwatch.MetricAlarm(`${name}-${id}`, {
        name: `${a.cluster}-${id}`, alarmDescription: spec.description,
        namespace: metric.namespace, metricName: metric.metricName, dimensions: spec.dims, statistic: spec.stat,
        period: spec.period ?? 300, evaluationPeriods: spec.periods, threshold: spec.threshold, comparisonOperator: spec.comparison,
        treatMissingData: spec.missing ?? 'notBreaching', alarmActions: [topic.arn], okActions: [topic.arn], tags,
      }, o);
    };
    alarm('api-5xx', { dims: { LoadBalancer: lbDim }, stat: 'Sum', comparison: 'GreaterThanThreshold', threshold: 10, periods: 1, description: 'API returned more than 10 server errors in 5 minutes' });
    alarm('api-unhealthy-targets', { dims: { TargetGroup: tgDim, LoadBalancer: lbDim }, stat: 'Maximum', comparison: 'GreaterThanThreshold', threshold: 0, periods: 3, period: 60, description: 'an API task fails its health check' });
    alarm('api-not-running', { dims: { ClusterName: ecsCluster.name, ServiceName: apiService.name }, stat: 'Minimum', comparison: 'LessThanThreshold', threshold: 1, periods: 3, period: 60, missing: 'breaching', description: 'no API task is running' });
    alarm('db-cpu', { dims: { DBInstanceIdentifier: db.identifier }, stat: 'Average', comparison: 'GreaterThanThreshold', threshold: 80, periods: 3, description: 'task database CPU above 80% for 15 minutes' });
    alarm('db-storage-low', { dims: { DBInstanceIdentifier: db.identifier }, stat: 'Minimum', comparison: 'LessThanThreshold', threshold: 2 * 1024 ** 3, periods: 1, description: 'task database has less than 2 GiB free' });
    alarm('tasks-failed', { dims: {}, stat: 'Sum', comparison: 'GreaterThanThreshold', threshold: 0, periods: 1, description: 'a pipeline task failed for good (retries exhausted or permanent error)' });
    alarm('claim-errors', { dims: {}, stat: 'Sum', comparison: 'GreaterThanThreshold', threshold: 5, periods: 2, description: 'agents cannot claim tasks (task database failing?)' });
    if (gpuPool) {
      // Fires while nothing publishes the queue depth: the GPU pool would not scale (docs/field-notes.md).
      alarm('queue-metric-missing', {
        dims: { [PIPELINE_QUEUE_METRIC.dimensions.cluster]: a.cluster, [PIPELINE_QUEUE_METRIC.dimensions.pool]: gpuPool.pool.name },
        stat: 'SampleCount', comparison: 'LessThanThreshold', threshold: 1, periods: 3, period: 300, missing: 'breaching',
        description: `nothing publishes ${PIPELINE_QUEUE_METRIC.namespace} ${PIPELINE_QUEUE_METRIC.metricName}: the ${gpuPool.pool.name} pool cannot scale`,
      });
    }

    // --- dashboard -----------------------------------------------------------------------------
    const dashboardName = a.cluster;
    const widget = (title: string, metrics: unknown[][], x: number, y: number) => ({ type: 'metric', x, y, width: 12, height: 6, properties: { title, region: a.region, view: 'timeSeries', stat: 'Average', period: 300, metrics } });
    const m = (id: string, ...dims: string[]): string[] => { const e = emittedMetric(id); return [e.namespace, e.metricName, ...dims]; };
    const body = pulumi.all([lbDim, tgDim, ecsCluster.name, apiService.name, db.identifier, proxy.name, pulumi.all(poolServices.map((s) => s.service.name)), pulumi.all(poolServices.map((s) => s.asg.name))])
      .apply(([lb, tg, clusterName, apiName, dbId, proxyName, serviceNames, asgNames]) => JSON.stringify({
        widgets: [
          widget('API requests and 5XX', [m('apiRequests', 'LoadBalancer', lb), m('api5xx', 'LoadBalancer', lb)], 0, 0),
          widget('API latency and unhealthy targets', [m('apiLatency', 'LoadBalancer', lb), m('apiUnhealthy', 'TargetGroup', tg, 'LoadBalancer', lb)], 12, 0),
          widget('Ready and claimed tasks per pool', a.pools.flatMap((pl) => [m('readyTasks', 'Cluster', a.cluster, 'Pool', pl.name), m('claimedTasks', 'Cluster', a.cluster, 'Pool', pl.name)]), 0, 6),
          widget('Running tasks', [apiName, ...serviceNames].map((s) => m('runningTasks', 'ClusterName', clusterName, 'ServiceName', s)), 12, 6),
          widget('Service CPU', [apiName, ...serviceNames].map((s) => m('serviceCpu', 'ClusterName', clusterName, 'ServiceName', s)), 0, 12),
          widget('Pool instances', asgNames.map((g) => m('poolInstances', 'AutoScalingGroupName', g)), 12, 12),
          widget('Task outcomes', [m('taskFailedForGood'), m('taskRetries'), m('claimErrors'), m('heartbeatErrors')], 0, 18),
          widget('Task database', [m('dbCpu', 'DBInstanceIdentifier', dbId), m('dbConnections', 'DBInstanceIdentifier', dbId), m('proxyClientConnections', 'ProxyName', proxyName)], 12, 18),
        ],
      }));
    new aws.cloudwatch.Dashboard(`${name}-dashboard`, { dashboardName, dashboardBody: body }, o);
    this.dashboardUrl = pulumi.output(`https://${a.region}.console.aws.amazon.com/cloudwatch/home?region=${a.region}#dashboards:name=${dashboardName}`);
    this.secretArns = pulumi.all(injected);
    this.registerOutputs({
      vpcId: this.vpcId, ecsClusterArn: this.ecsClusterArn, apiServiceArn: this.apiServiceArn, apiUrl: this.apiUrl,
      databaseEndpoint: this.databaseEndpoint, databaseProxyEndpoint: this.databaseProxyEndpoint,
      dashboardUrl: this.dashboardUrl, alertsTopicArn: this.alertsTopicArn,
    });
  }
}
