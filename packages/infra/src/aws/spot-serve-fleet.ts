/**
 * `SpotServeFleet`: the long-lived AWS infrastructure of a serve cluster (reference:
 * p2p-fleet-infra.md), secure by default (docs/architecture.md invariant 8) and without the reference's
 * defects (docs/field-notes.md): no SSH or model port open to the world (SSM instead), a worker
 * role limited to its own cluster's instances (tag conditions) and its own buckets and
 * prefixes, IMDSv2 required with hop limit 2 and instance-metadata tags, encrypted volumes,
 * an on-demand launch template inside a mixed-instances group (a spot launch template
 * there is rejected by AWS), price-capacity-optimized spot across several GPU types and
 * zones with capacity rebalancing, and a load balancer that has listeners.
 *
 * Which instances exist right now is the runtime's job; this component makes what they
 * need: buckets, role, security group, launch template, Auto Scaling group, optional ALB.
 */
import * as aws from '@pulumi/aws';
import * as pulumi from '@pulumi/pulumi';
import { TAG_CLUSTER, TAG_PREFIX, TAG_ROLE, TAG_TARGET_GROUPS, deserializeCluster, validateCluster, type ClusterSpec } from '@synkti/core';
import { newSlotTags } from '@synkti/core/spot-ledger';
import { ENVIRONMENTS, environmentFromStack, environmentPreset, type EnvironmentName } from '../environments.ts';
import { checkCidrs, checkInstanceTypes, checkInt, checkProjectName, checkRegion, inputError, parseS3Uri } from '../validate.ts';
import { SSM_MANAGED_POLICY_ARN, policyJson, serviceTrustPolicy, type PolicyStatementInput } from './iam-policy.ts';
import { SynktiNetwork } from './network.ts';
import { SecureBucket } from './secure-bucket.ts';
import { checkDeregistrationDelay, targetGroupStatements, withTargetGroup } from './serve-load-balancer.ts';
import { withTransform, type ComponentParts, type Transform } from './transform.ts';
import { serveWorkerUserData, type ServeWorkerBootArgs } from './worker-user-data.ts';
import { ROUTER_HEALTH_PATH } from '@synkti/core/contracts';

const C = 'SpotServeFleet';

/** The router answers this path itself; the one definition is @synkti/core/contracts. */
export { ROUTER_HEALTH_PATH };

/** Prefix of the agent artifact (executable + checksum) in the models bucket. */
export const ARTIFACTS_PREFIX = 'artifacts/';
/** Prefix of model weights in the models bucket. */
export const MODELS_PREFIX = 'models/';

/** GPU types with similar memory, so spot can come from several pools. */
export const DEFAULT_EXTRA_GPU_TYPES = ['g5.xlarge', 'g6.xlarge', 'g4dn.2xlarge'] as const;

/** Deep Learning AMI (NVIDIA driver, Amazon Linux 2023), resolved by EC2 at launch. */
export const DEFAULT_GPU_IMAGE =
  'resolve:ssm:/aws/service/deeplearning/ami/x86_64/base-oss-nvidia-driver-gpu-amazon-linux-2023/latest/ami-id';

export interface ServeLoadBalancerArgs {
  /**
   * ACM certificate: the ALB then listens on 443 (TLS 1.2+) and redirects 80 to it.
   * Without one it listens on 80 only.
   * @default none
   */
  certificateArn?: pulumi.Input<string> | undefined;
  /** Who may reach the load balancer (80/443 only). @default ['0.0.0.0/0'] */
  allowedCidrBlocks?: string[] | undefined;
  /** An internal (VPC-only) load balancer. @default false */
  internal?: boolean | undefined;
  /**
   * Seconds the load balancer keeps a leaving node's open requests. A node leaves at its
   * spot notice (t=0), so this must end inside the notice (120 s − the cluster's drain
   * margin) and should cover the longest stream served. @default 90
   */
  deregistrationDelaySeconds?: number | undefined;
}

export type { ServeWorkerBootArgs };

export interface SpotServeFleetArgs {
  /** Namespace of every resource and the SynktiCluster tag value (reference `project_name`). @default 'synkti' */
  projectName?: string | undefined;
  /** AWS region; the component uses its own provider for it (reference `aws_region`). @default 'us-east-1' */
  region?: string | undefined;
  /**
   * dev / staging / production preset (on-demand base, checkpoint expiry, load-balancer
   * deletion protection). @default from the stack name when it names one, else none (the reference defaults)
   */
  environment?: EnvironmentName | undefined;
  /** Instances the Auto Scaling group keeps (reference `worker_count`). @default 0 */
  workerCount?: number | undefined;
  /** Upper bound of the group, leaving room for capacity rebalancing. @default max(1, 2 × workerCount) */
  maxWorkerCount?: number | undefined;
  /** First (preferred) GPU type (reference `worker_instance_type`). @default 'g4dn.xlarge' */
  workerInstanceType?: string | undefined;
  /** More GPU types for the mixed-instances policy (at least 2 types in all). @default g5.xlarge, g6.xlarge, g4dn.2xlarge */
  extraInstanceTypes?: string[] | undefined;
  /** On-demand instances the group always keeps (the rest is spot). @default preset (dev 0, staging 1, production 2), else 1 */
  onDemandBaseCapacity?: number | undefined;
  /** Percent on-demand above the base. @default 0 */
  onDemandPercentageAboveBase?: number | undefined;
  /**
   * CIDR blocks allowed to reach the router port directly (reference `allowed_cidr_blocks`,
   * whose default 0.0.0.0/0 is NOT kept). Model and agent ports are never opened to them.
   * @default [] (private: reach the routers through the load balancer or from the VPC peers)
   */
  allowedCidrBlocks?: string[] | undefined;
  /**
   * SSH, off by default (use SSM Session Manager). An escape hatch only:
   * `synkti infra audit` fails on SSH from the world.
   * @default []
   */
  sshCidrBlocks?: string[] | undefined;
  /**
   * What the launch template's boot script installs: the same script `synkti bootstrap`'s
   * and `synkti worker launch`'s workers boot with (`renderWorkerUserData` of
   * @synkti/cloud), fetching `artifacts/synkti-agent-<agentVersion>.tgz` and the Node.js
   * tarball from the models bucket (owner: this account) and refusing either on a SHA-256
   * mismatch. Required when the group keeps workers (workerCount > 0) unless `userData` is given.
   * @default none (the launch template has no user data)
   */
  boot?: ServeWorkerBootArgs | undefined;
  /** Model weights: `s3://bucket/prefix` or a key prefix in the models bucket (reference `model_s3_path`). @default '' */
  modelS3Path?: string | undefined;
  /**
   * The launch template's user data verbatim (e.g. the agent's cluster config for images
   * with the agent baked in). When absent and `boot` is set, the rendered boot script is used.
   * @default none
   */
  userData?: pulumi.Input<string> | undefined;
  /**
   * The agent's cluster config (`serializeCluster(spec)`), carried by the boot script to
   * /etc/synkti/cluster.json. Its cluster name must be `projectName`, its provider aws and
   * its region `region`.
   * @default a one-pool cluster: `{ name: projectName, provider: 'aws', region, pools: { worker: { count: workerCount } } }`
   */
  clusterConfig?: string | undefined;
  /** SSM SecureString parameter with the cluster secret (created out of band). @default `/synkti/<project>/cluster-secret` */
  clusterSecretParameterName?: string | undefined;
  /**
   * ARN of the customer-managed KMS key that encrypts that SecureString
   * (`arn:aws:kms:<region>:<account>:key/<id>`, not an alias: IAM authorizes Decrypt against
   * the key ARN). The worker role then gets `kms:Decrypt` on exactly that key, and only
   * through SSM in the fleet's region (`kms:ViaService`).
   * @default none (the AWS-managed aws/ssm key, which needs no grant)
   */
  clusterSecretKmsKeyArn?: pulumi.Input<string> | undefined;
  /** VPC of the fleet. @default the default VPC */
  vpcId?: pulumi.Input<string> | undefined;
  /** Subnets (in different zones) of the group and load balancer. @default the default VPC's default subnets */
  subnetIds?: pulumi.Input<string>[] | undefined;
  /** AMI (or `resolve:ssm:` parameter). @default Deep Learning AMI, NVIDIA driver, AL2023 */
  imageId?: pulumi.Input<string> | undefined;
  /** Root device of that AMI. @default '/dev/xvda' */
  rootDeviceName?: string | undefined;
  /** Root volume size in GiB (encrypted gp3). @default 200 */
  rootVolumeGiB?: number | undefined;
  /** Ports (docs/architecture.md). @default 8000 / 8080 / 7946 */
  workloadPort?: number | undefined;
  routerPort?: number | undefined;
  agentPort?: number | undefined;
  /**
   * The agents keep the fleet's size themselves: a worker launches its replacement at a spot
   * notice (and a lost peer's), and an on-demand fallback its spot successor
   * (serveWorkerPolicyStatements: RunInstances tag-scoped to this cluster, in the fleet's VPC,
   * with the worker profile and group; TerminateInstances of this cluster; PassRole of the
   * worker role to EC2). Refused together with workerCount > 0: the Auto Scaling group then
   * replaces lost workers, and both would launch one.
   * @default true when workerCount is 0 (fleets started by `synkti bootstrap`, `synkti up` or `synkti scale`), else false
   */
  agentReplacement?: boolean | undefined;
  /** Load balancer in front of the routers. @default none */
  loadBalancer?: ServeLoadBalancerArgs | undefined;
  /** Checkpoint objects expire after this many days. @default preset (3 / 7 / 14), else 7 */
  checkpointExpireDays?: number | undefined;
  /** Tags added to every resource. @default {} */
  tags?: Record<string, string> | undefined;
  /** Adjust the args of child resources before they are made (see transform.ts). @default {} */
  transform?: SpotServeFleetTransform | undefined;
}

interface ResolvedServeArgs {
  environment: EnvironmentName | undefined;
  deletionProtection: boolean;
  project: string;
  region: string;
  workerCount: number;
  maxWorkerCount: number;
  instanceTypes: string[];
  onDemandBase: number;
  onDemandAbove: number;
  allowedCidrs: string[];
  sshCidrs: string[];
  boot: ServeWorkerBootArgs | undefined;
  model: { bucket: string | undefined; key: string } | undefined;
  /** The cluster the boot script carries (given, or the one-pool default). */
  spec: ClusterSpec;
  /** SynktiRole of the group's instances: the spec's only pool, else 'worker'. */
  role: string;
  secretParameter: string;
  secretKmsKeyArn: pulumi.Input<string> | undefined;
  rootDeviceName: string;
  rootVolumeGiB: number;
  ports: { workload: number; router: number; agent: number };
  agentReplacement: boolean;
  loadBalancer: (ServeLoadBalancerArgs & { allowedCidrBlocks: string[]; deregistrationDelaySeconds: number }) | undefined;
  checkpointExpireDays: number;
}

const KMS_KEY_ARN_RE = /^arn:aws[-a-z]*:kms:([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):key\/[A-Za-z0-9-]+$/;
const KMS_KEY_ARN_HINT =
  'pass the key ARN (arn:aws:kms:<region>:<account>:key/<key-id>, see `aws kms describe-key --key-id <alias> --query KeyMetadata.Arn`): IAM authorizes kms:Decrypt against the key ARN, never an alias';

/** The customer KMS key of the cluster secret: a key ARN in the fleet's region (aliases refused). */
export function checkKmsKeyArn(component: string, field: string, value: string, region: string): string {
  const match = KMS_KEY_ARN_RE.exec(value);
  if (!match) {
    const what = /(^alias\/)|(:alias\/)/.test(value) ? 'is an alias' : 'is not a KMS key ARN';
    throw inputError(component, field, `"${value}" ${what}`, KMS_KEY_ARN_HINT);
  }
  if (match[1] !== region) {
    throw inputError(
      component,
      field,
      `"${value}" is in region ${match[1] ?? '?'}, not the fleet's ${region}`,
      "an SSM parameter is encrypted with a key of its own region: pass that key's ARN",
    );
  }
  return value;
}

/** Validates and fills in defaults; throws E_INFRA_INPUT naming the field. */
export function resolveServeArgs(args: SpotServeFleetArgs, stack = ''): ResolvedServeArgs {
  const project = checkProjectName(C, 'projectName', args.projectName ?? 'synkti');
  if (args.environment !== undefined && !(ENVIRONMENTS as readonly string[]).includes(args.environment)) {
    throw inputError(
      C,
      'environment',
      `"${String(args.environment)}" is not one of ${ENVIRONMENTS.join(', ')}`,
      'use dev, staging or production',
    );
  }
  let environment = args.environment;
  if (environment === undefined) {
    try {
      environment = environmentFromStack(stack);
    } catch {
      environment = undefined; // a serve stack may be named anything: reference defaults then
    }
  }
  const preset = environment && environmentPreset(environment);
  const region = checkRegion(C, 'region', args.region ?? 'us-east-1');
  const workerCount = checkInt(C, 'workerCount', args.workerCount ?? 0, 0, 1000);
  const maxWorkerCount = checkInt(C, 'maxWorkerCount', args.maxWorkerCount ?? Math.max(1, workerCount * 2), 1, 2000);
  if (maxWorkerCount < workerCount)
    throw inputError(
      C,
      'maxWorkerCount',
      `(${maxWorkerCount}) is below workerCount (${workerCount})`,
      'raise maxWorkerCount: capacity rebalancing needs room above the worker count',
    );
  const instanceTypes = checkInstanceTypes(
    C,
    'workerInstanceType/extraInstanceTypes',
    [args.workerInstanceType ?? 'g4dn.xlarge', ...(args.extraInstanceTypes ?? DEFAULT_EXTRA_GPU_TYPES)],
    2,
  );
  const onDemandBase = checkInt(C, 'onDemandBaseCapacity', args.onDemandBaseCapacity ?? preset?.serveOnDemandBase ?? 1, 0, 1000);
  const onDemandAbove = checkInt(C, 'onDemandPercentageAboveBase', args.onDemandPercentageAboveBase ?? 0, 0, 100);
  const allowedCidrs = checkCidrs(C, 'allowedCidrBlocks', args.allowedCidrBlocks ?? []);
  const sshCidrs = checkCidrs(C, 'sshCidrBlocks', args.sshCidrBlocks ?? []);
  if (workerCount > 0 && args.userData === undefined && args.boot === undefined) {
    throw inputError(
      C,
      'boot',
      'is missing while workerCount > 0',
      "pass boot: { agentVersion, agentSha256, nodeVersion, nodeSha256 } (what `synkti bootstrap` uploaded and reported) so the group's workers boot a verified agent, or userData",
    );
  }
  const agentReplacement = args.agentReplacement ?? workerCount === 0;
  if (agentReplacement && workerCount > 0) {
    throw inputError(
      C,
      'agentReplacement',
      `is true while the Auto Scaling group keeps workerCount ${workerCount}`,
      'both would launch a replacement for each lost worker: set workerCount: 0 and let the agents keep the fleet (synkti bootstrap --workers N / synkti scale), or agentReplacement: false',
    );
  }
  const modelPath = args.modelS3Path ?? '';
  let model: ResolvedServeArgs['model'];
  if (modelPath.startsWith('s3://')) {
    const parsed = parseS3Uri(C, 'modelS3Path', modelPath);
    model = parsed && { bucket: parsed.bucket, key: parsed.key };
  } else if (modelPath !== '') {
    if (modelPath.startsWith('/') || modelPath.includes('..'))
      throw inputError(
        C,
        'modelS3Path',
        `"${modelPath}" is not a key prefix`,
        'write s3://bucket/prefix or a prefix such as models/qwen2.5-7b/',
      );
    model = { bucket: undefined, key: modelPath };
  }
  let spec: ClusterSpec;
  if (args.clusterConfig !== undefined) {
    try {
      spec = deserializeCluster(args.clusterConfig);
    } catch (error) {
      throw inputError(
        C,
        'clusterConfig',
        `is not a Synkti cluster config (${(error as Error).message})`,
        'pass serializeCluster(spec) of the cluster these workers join',
      );
    }
    if (spec.name !== project)
      throw inputError(
        C,
        'clusterConfig',
        `names cluster "${spec.name}", not projectName "${project}"`,
        "the SynktiCluster tag and the agent's cluster must be the same name",
      );
    if (spec.provider !== 'aws')
      throw inputError(C, 'clusterConfig', `is for provider "${spec.provider}"`, "workers on EC2 need a config with provider 'aws'");
    if (spec.region !== region)
      throw inputError(
        C,
        'clusterConfig',
        `is for region ${spec.region}, not the fleet's ${region}`,
        "the agents list and launch instances in their config's region: make the two the same",
      );
    if (args.userData !== undefined)
      throw inputError(
        C,
        'clusterConfig',
        'and userData are both set',
        'pass one: userData replaces the boot script that carries clusterConfig',
      );
  } else {
    spec = validateCluster({ name: project, provider: 'aws', region, pools: { worker: { count: workerCount } } }, C);
  }
  const pools = Object.keys(spec.pools);
  const role = pools.length === 1 ? pools[0]! : 'worker';
  const secretParameter = args.clusterSecretParameterName ?? `/synkti/${project}/cluster-secret`;
  if (args.boot !== undefined) {
    if (args.userData !== undefined)
      throw inputError(C, 'boot', 'and userData are both set', 'pass one: userData replaces the boot script');
    // Rendered once now, with a bucket name of the real one's length, so a bad value or a
    // script over 16 KB is refused before anything registers (the real one needs the account).
    serveWorkerUserData({
      spec,
      region,
      bucket: `${project}-models-000000000000`,
      account: '000000000000',
      secretParameter,
      boot: args.boot,
      modelS3Uri: undefined,
    });
  }
  const ports = {
    workload: checkInt(C, 'workloadPort', args.workloadPort ?? 8000, 1, 65535),
    router: checkInt(C, 'routerPort', args.routerPort ?? 8080, 1, 65535),
    agent: checkInt(C, 'agentPort', args.agentPort ?? 7946, 1, 65535),
  };
  if (new Set(Object.values(ports)).size !== 3)
    throw inputError(C, 'workloadPort/routerPort/agentPort', 'must be three different ports', 'give each service its own port');
  if ([ports.workload, ports.router, ports.agent].includes(22))
    throw inputError(C, 'workloadPort/routerPort/agentPort', 'may not be 22', 'SSH is not a Synkti port');
  const loadBalancer = args.loadBalancer && {
    ...args.loadBalancer,
    allowedCidrBlocks: checkCidrs(C, 'loadBalancer.allowedCidrBlocks', args.loadBalancer.allowedCidrBlocks ?? ['0.0.0.0/0']),
    deregistrationDelaySeconds: checkDeregistrationDelay(C, args.loadBalancer.deregistrationDelaySeconds, spec.timeouts.drainMarginMs),
  };
  if (loadBalancer && spec.serve.loadBalancer?.targetType === 'ip') {
    throw inputError(
      C,
      'clusterConfig',
      "has serve.loadBalancer.targetType 'ip', but the fleet's target group names instances",
      "leave targetType out (instance) when SpotServeFleet makes the load balancer; 'ip' is for groups of your own",
    );
  }
  if (args.subnetIds !== undefined && args.subnetIds.length < 2) {
    throw inputError(
      C,
      'subnetIds',
      `has ${args.subnetIds.length} subnet(s)`,
      'give at least two subnets in different zones (preemptions are correlated within a zone)',
    );
  }
  return {
    environment,
    deletionProtection: preset?.deletionProtection ?? false,
    project,
    region,
    workerCount,
    maxWorkerCount,
    instanceTypes,
    onDemandBase,
    onDemandAbove,
    allowedCidrs,
    sshCidrs,
    boot: args.boot,
    model,
    spec,
    role,
    secretParameter,
    // A plain string is checked now; an output (a key made in the same stack) when it resolves.
    secretKmsKeyArn:
      typeof args.clusterSecretKmsKeyArn === 'string'
        ? checkKmsKeyArn(C, 'clusterSecretKmsKeyArn', args.clusterSecretKmsKeyArn, region)
        : args.clusterSecretKmsKeyArn === undefined
          ? undefined
          : pulumi.output(args.clusterSecretKmsKeyArn).apply((arn) => checkKmsKeyArn(C, 'clusterSecretKmsKeyArn', arn, region)),
    rootDeviceName: args.rootDeviceName ?? '/dev/xvda',
    rootVolumeGiB: checkInt(C, 'rootVolumeGiB', args.rootVolumeGiB ?? 200, 8, 16384),
    ports,
    agentReplacement,
    loadBalancer,
    checkpointExpireDays: checkInt(C, 'checkpointExpireDays', args.checkpointExpireDays ?? preset?.serveCheckpointExpireDays ?? 7, 1, 3650),
  };
}

const AMI_ID_RE = /^ami-[0-9a-f]{8,17}$/;

/** What a worker needs to launch its own replacement like itself (see serveWorkerPolicyStatements). */
export interface ServeWorkerReplacementArgs {
  /** The worker role: the only role a worker may pass, and only to EC2. */
  roleArn: pulumi.Input<string>;
  /** The worker instance profile: a launch must use exactly it (`ec2:InstanceProfile`). */
  instanceProfileArn: pulumi.Input<string>;
  /** The worker security group: the only group a launch may use. */
  securityGroupId: pulumi.Input<string>;
  /** The fleet's VPC: subnets and network interfaces of a launch must be in it (`ec2:Vpc`). */
  vpcId: pulumi.Input<string>;
  /**
   * A literal AMI id narrows launches to that image.
   * @default any image in the fleet's region (the AMI may be a `resolve:ssm:` alias that moves)
   */
  imageId?: string | undefined;
}

/** Inputs of the worker role's policy: plain strings, or outputs of the same stack. */
export interface ServeWorkerPolicyArgs {
  /** The cluster (SynktiCluster tag value). */
  cluster: string;
  region: string;
  account: pulumi.Input<string>;
  modelsBucketArn: pulumi.Input<string>;
  checkpointsBucketArn: pulumi.Input<string>;
  /** SSM parameter of the cluster secret (with or without the leading slash). */
  secretParameter: string;
  /** Customer KMS key of that parameter. @default none (aws/ssm needs no grant) */
  secretKmsKeyArn?: pulumi.Input<string> | undefined;
  /** Model weights in another bucket (read-only). @default none */
  externalModel?: { bucket: string; key: string } | undefined;
  /** Launch, terminate and pass-role grants for agent replacement. @default none */
  replacement?: ServeWorkerReplacementArgs | undefined;
}

/**
 * The worker role's statements, as data (the component, its tests and the IAM checker
 * read the same list). Every write is tied to this cluster's tag; the only `*` resource is
 * DescribeInstances/DescribeTags, which have no resource-level permissions (region-bound).
 *
 * Untag is always granted: an agent leaving the fleet deletes its own SynktiCluster and
 * SynktiRole tags. With `replacement`, RunInstances is authorized per resource type:
 * instance and volume only when tagged for this cluster at launch with Synkti* keys only
 * (the instance also only with the worker profile), subnet and network interface only in
 * the fleet's VPC, exactly the worker security group, the fleet's image (or region's
 * images), and the spot request a spot launch creates; CreateTags only as part of
 * RunInstances; TerminateInstances only on this cluster's instances; PassRole of the
 * worker role to EC2 only.
 */
export function serveWorkerPolicyStatements(p: ServeWorkerPolicyArgs): PolicyStatementInput[] {
  const ec2 = (type: string, id: pulumi.Input<string> = '*'): pulumi.Output<string> =>
    pulumi.interpolate`arn:aws:ec2:${p.region}:${p.account}:${type}/${id}`;
  const instanceArn = ec2('instance');
  const volumeArn = ec2('volume');
  const ownCluster = { StringEquals: { [`aws:ResourceTag/${TAG_CLUSTER}`]: p.cluster } };
  const synktiKeysOnly = { 'ForAllValues:StringLike': { 'aws:TagKeys': [`${TAG_PREFIX}*`] } };
  const statements: PolicyStatementInput[] = [
    // DescribeInstances has no resource-level permissions: limit it to the fleet's region.
    {
      Sid: 'DiscoverPeers',
      Effect: 'Allow',
      Action: ['ec2:DescribeInstances', 'ec2:DescribeTags'],
      Resource: '*',
      Condition: { StringEquals: { 'aws:RequestedRegion': p.region } },
    },
    {
      Sid: 'TagOwnClusterInstances',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: instanceArn,
      // Synkti keys only, and never the cluster key: a worker cannot move instances between clusters.
      Condition: { ...ownCluster, ...synktiKeysOnly, 'ForAllValues:StringNotEquals': { 'aws:TagKeys': [TAG_CLUSTER] } },
    },
    {
      // Leaving the fleet removes SynktiCluster and SynktiRole. Null: a DeleteTags naming no
      // key would delete every tag (and ForAllValues over no keys is true).
      Sid: 'UntagOwnClusterInstances',
      Effect: 'Allow',
      Action: 'ec2:DeleteTags',
      Resource: instanceArn,
      Condition: { ...ownCluster, ...synktiKeysOnly, Null: { 'aws:TagKeys': 'false' } },
    },
    {
      Sid: 'ReadModelsAndArtifacts',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: [pulumi.interpolate`${p.modelsBucketArn}/${MODELS_PREFIX}*`, pulumi.interpolate`${p.modelsBucketArn}/${ARTIFACTS_PREFIX}*`],
    },
    {
      Sid: 'ListModelsAndArtifacts',
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: p.modelsBucketArn,
      Condition: { StringLike: { 's3:prefix': [`${MODELS_PREFIX}*`, `${ARTIFACTS_PREFIX}*`] } },
    },
    {
      Sid: 'Checkpoints',
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      Resource: pulumi.interpolate`${p.checkpointsBucketArn}/*`,
    },
    { Sid: 'ListCheckpoints', Effect: 'Allow', Action: 's3:ListBucket', Resource: p.checkpointsBucketArn },
    {
      Sid: 'ClusterSecret',
      Effect: 'Allow',
      Action: 'ssm:GetParameter',
      Resource: pulumi.interpolate`arn:aws:ssm:${p.region}:${p.account}:parameter${p.secretParameter.startsWith('/') ? '' : '/'}${p.secretParameter}`,
    },
  ];
  if (p.secretKmsKeyArn !== undefined) {
    // A customer key (aws/ssm needs no grant): Decrypt of that key only, and only on SSM's behalf.
    statements.push({
      Sid: 'DecryptClusterSecret',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: p.secretKmsKeyArn,
      Condition: { StringEquals: { 'kms:ViaService': `ssm.${p.region}.amazonaws.com` } },
    });
  }
  if (p.externalModel !== undefined) {
    statements.push({
      Sid: 'ReadExternalModel',
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: `arn:aws:s3:::${p.externalModel.bucket}/${p.externalModel.key}*`,
    });
  }
  const r = p.replacement;
  if (r !== undefined) {
    // A replacement must carry this cluster's tag from the first instant (tags at launch).
    const taggedForCluster = { StringEquals: { [`aws:RequestTag/${TAG_CLUSTER}`]: p.cluster }, ...synktiKeysOnly };
    const image =
      r.imageId !== undefined
        ? pulumi.interpolate`arn:aws:ec2:${p.region}::image/${r.imageId}`
        : pulumi.interpolate`arn:aws:ec2:${p.region}::image/*`;
    statements.push(
      {
        Sid: 'TerminateOwnClusterInstances',
        Effect: 'Allow',
        Action: 'ec2:TerminateInstances',
        Resource: instanceArn,
        Condition: ownCluster,
      },
      {
        Sid: 'LaunchOwnClusterInstances',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: instanceArn,
        Condition: { ...taggedForCluster, ArnEquals: { 'ec2:InstanceProfile': r.instanceProfileArn } },
      },
      { Sid: 'LaunchOwnClusterVolumes', Effect: 'Allow', Action: 'ec2:RunInstances', Resource: volumeArn, Condition: taggedForCluster },
      // The agent's launch does not tag its network interface: it is bound by the VPC instead.
      {
        Sid: 'LaunchInFleetVpc',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: [ec2('subnet'), ec2('network-interface')],
        Condition: { ArnEquals: { 'ec2:Vpc': ec2('vpc', r.vpcId) } },
      },
      {
        Sid: 'LaunchWithFleetResources',
        Effect: 'Allow',
        Action: 'ec2:RunInstances',
        Resource: [ec2('security-group', r.securityGroupId), image, ec2('spot-instances-request')],
      },
      {
        Sid: 'TagAtLaunch',
        Effect: 'Allow',
        Action: 'ec2:CreateTags',
        Resource: [instanceArn, volumeArn],
        Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' }, ...synktiKeysOnly },
      },
      {
        Sid: 'PassWorkerRole',
        Effect: 'Allow',
        Action: 'iam:PassRole',
        Resource: r.roleArn,
        Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
      },
    );
  }
  return statements;
}

function ingressFromCidrs(port: number, cidrs: string[], description: string): aws.types.input.ec2.SecurityGroupIngress[] {
  return cidrs.length === 0 ? [] : [{ protocol: 'tcp', fromPort: port, toPort: port, cidrBlocks: cidrs, description }];
}

/** Hooks for the fleet's child resources (see transform.ts): each gets the args this component built. */
export interface SpotServeFleetTransform {
  role?: Transform<aws.iam.RoleArgs> | undefined;
  securityGroup?: Transform<aws.ec2.SecurityGroupArgs> | undefined;
  launchTemplate?: Transform<aws.ec2.LaunchTemplateArgs> | undefined;
  autoScalingGroup?: Transform<aws.autoscaling.GroupArgs> | undefined;
  loadBalancer?: Transform<aws.lb.LoadBalancerArgs> | undefined;
  targetGroup?: Transform<aws.lb.TargetGroupArgs> | undefined;
}

/** What every part of the fleet is built from. */
type ServeParts = ComponentParts<ResolvedServeArgs, SpotServeFleetArgs, SpotServeFleetTransform> & { account: pulumi.Output<string> };

interface ServeStorage {
  models: SecureBucket;
  checkpoints: SecureBucket;
}
interface ServeIdentity {
  role: aws.iam.Role;
  profile: aws.iam.InstanceProfile;
}
interface ServeSecurityGroups {
  worker: aws.ec2.SecurityGroup;
  alb: aws.ec2.SecurityGroup | undefined;
}

export class SpotServeFleet extends pulumi.ComponentResource {
  /** Instance profile of the workers (reference output `worker_instance_profile_name`). */
  readonly workerInstanceProfileName: pulumi.Output<string>;
  readonly workerRoleArn: pulumi.Output<string>;
  /** Permanent bucket of model weights and agent artifacts (reference output `models_bucket_name`). */
  readonly modelsBucketName: pulumi.Output<string>;
  readonly checkpointsBucketName: pulumi.Output<string>;
  /** `s3://<models bucket>/artifacts/`: where the agent executable and its checksum go. */
  readonly artifactsLocation: pulumi.Output<string>;
  /** Security group of the workers (reference output `worker_sg_id`). */
  readonly workerSecurityGroupId: pulumi.Output<string>;
  readonly launchTemplateId: pulumi.Output<string>;
  /** The group whose instances are the workers (reference output `worker_instance_ids`: list them by tag, they change). */
  readonly autoScalingGroupName: pulumi.Output<string>;
  /** DNS name of the load balancer, when there is one. */
  readonly loadBalancerDnsName: pulumi.Output<string | undefined>;
  /** The routers' target group, when there is a load balancer (put it in serve.loadBalancer.targetGroupArns of nodes launched outside this stack). */
  readonly targetGroupArn: pulumi.Output<string | undefined>;
  readonly clusterName: string;
  readonly environment: EnvironmentName | undefined;

  constructor(name: string, args: SpotServeFleetArgs = {}, opts: pulumi.ComponentResourceOptions = {}) {
    // Validated before anything registers: a refused input leaves no half-made stack.
    const a = resolveServeArgs(args, pulumi.getStack());
    super('synkti:aws:SpotServeFleet', name, {}, opts);
    this.clusterName = a.project;
    this.environment = a.environment;
    const provider = new aws.Provider(`${name}-aws`, { region: a.region as aws.Region }, { parent: this });
    const o = { parent: this, provider };
    const tags = { ...args.tags, [TAG_CLUSTER]: a.project };
    const parts: ServeParts = { name, a, args, o, tags, account: aws.getCallerIdentityOutput({}, o).accountId, t: args.transform ?? {} };

    // The default VPC (or the given one): workers reach each other on private addresses.
    const network = new SynktiNetwork(
      name,
      { source: { kind: 'default', vpcId: args.vpcId, subnetIds: args.subnetIds }, label: a.project, tags },
      o,
    );
    const storage = createStorage(parts);
    const identity = createIdentity(parts);
    const groups = createSecurityGroups(parts, network);
    // After the group: launches may use exactly this group.
    createWorkerPolicy(parts, storage, identity, groups, network);
    // Before the template: its ARN rides in the launch tags and the agents' config.
    const targetGroup = a.loadBalancer ? createTargetGroup(parts, network, identity) : undefined;
    const template = createLaunchTemplate(parts, { storage, identity, groups, network, targetGroup });
    const loadBalancer =
      a.loadBalancer && groups.alb && targetGroup ? createLoadBalancer(parts, a.loadBalancer, network, groups.alb, targetGroup) : undefined;
    const group = createWorkerGroup(parts, network, template, targetGroup);

    this.modelsBucketName = storage.models.name;
    this.checkpointsBucketName = storage.checkpoints.name;
    this.artifactsLocation = pulumi.interpolate`s3://${storage.models.name}/${ARTIFACTS_PREFIX}`;
    this.workerInstanceProfileName = identity.profile.name;
    this.workerRoleArn = identity.role.arn;
    this.workerSecurityGroupId = groups.worker.id;
    this.targetGroupArn = targetGroup ? targetGroup.arn : pulumi.output(undefined);
    this.launchTemplateId = template.id;
    this.loadBalancerDnsName = loadBalancer ? loadBalancer.dnsName : pulumi.output(undefined);
    this.autoScalingGroupName = group.name;

    this.registerOutputs({
      workerInstanceProfileName: this.workerInstanceProfileName,
      workerRoleArn: this.workerRoleArn,
      modelsBucketName: this.modelsBucketName,
      checkpointsBucketName: this.checkpointsBucketName,
      artifactsLocation: this.artifactsLocation,
      workerSecurityGroupId: this.workerSecurityGroupId,
      launchTemplateId: this.launchTemplateId,
      autoScalingGroupName: this.autoScalingGroupName,
      loadBalancerDnsName: this.loadBalancerDnsName,
      targetGroupArn: this.targetGroupArn,
    });
  }
}

/** Model weights and agent artifacts (kept), and checkpoints (expire). */
function createStorage({ name, a, o, tags, account }: ServeParts): ServeStorage {
  // Account id in the name: nobody else can own a bucket by this name in front of us.
  const models = new SecureBucket(
    `${name}-models`,
    {
      bucket: pulumi.interpolate`${a.project}-models-${account}`,
      versioned: true,
      keep: true,
      lifecycleRules: [{ id: 'expire-old-versions', prefix: '', noncurrentExpireDays: 30 }],
      tags,
    },
    o,
  );
  const checkpoints = new SecureBucket(
    `${name}-checkpoints`,
    {
      bucketPrefix: `${a.project}-checkpoints`,
      forceDestroy: true,
      lifecycleRules: [{ id: 'expire-checkpoints', prefix: '', expireDays: a.checkpointExpireDays }],
      tags,
    },
    o,
  );
  return { models, checkpoints };
}

/** The workers' role and instance profile (SSM instead of SSH). */
function createIdentity({ name, a, o, tags, t }: ServeParts): ServeIdentity {
  const role = withTransform(
    aws.iam.Role,
    `${name}-worker`,
    {
      name: `${a.project}-worker`,
      assumeRolePolicy: serviceTrustPolicy('ec2.amazonaws.com'),
      tags,
    },
    o,
    t.role,
  );
  const profile = new aws.iam.InstanceProfile(`${name}-worker`, { name: `${a.project}-worker`, role: role.name, tags }, o);
  new aws.iam.RolePolicyAttachment(`${name}-worker-ssm`, { role: role.name, policyArn: SSM_MANAGED_POLICY_ARN }, o);
  return { role, profile };
}

/** The workers' group (router from allowed sources, peers on every Synkti port, no SSH) and the load balancer's. */
function createSecurityGroups({ name, a, o, tags, t }: ServeParts, network: SynktiNetwork): ServeSecurityGroups {
  let alb: aws.ec2.SecurityGroup | undefined;
  if (a.loadBalancer) {
    const lbPorts = a.loadBalancer.certificateArn !== undefined ? [80, 443] : [80];
    const allowed = a.loadBalancer.allowedCidrBlocks;
    alb = withTransform(
      aws.ec2.SecurityGroup,
      `${name}-alb`,
      {
        name: `${a.project}-alb`,
        description: `Load balancer of ${a.project}: HTTP(S) in, router port out`,
        vpcId: network.vpcId,
        ingress: lbPorts.map((port) => ({
          protocol: 'tcp',
          fromPort: port,
          toPort: port,
          cidrBlocks: allowed,
          description: `HTTP${port === 443 ? 'S' : ''} from clients`,
        })),
        egress: [
          { protocol: 'tcp', fromPort: a.ports.router, toPort: a.ports.router, cidrBlocks: ['0.0.0.0/0'], description: 'to the routers' },
        ],
        tags,
      },
      o,
      t.securityGroup,
    );
  }
  const worker = withTransform(
    aws.ec2.SecurityGroup,
    `${name}-worker`,
    {
      name: `${a.project}-worker`,
      description: `Workers of ${a.project}: router from allowed sources, peers on every Synkti port, no SSH`,
      vpcId: network.vpcId,
      ingress: [
        ...ingressFromCidrs(a.ports.router, a.allowedCidrs, 'router from allowed CIDR blocks'),
        ...(alb
          ? [
              {
                protocol: 'tcp',
                fromPort: a.ports.router,
                toPort: a.ports.router,
                securityGroups: [alb.id],
                description: 'router from the load balancer',
              },
            ]
          : []),
        { protocol: 'tcp', fromPort: a.ports.router, toPort: a.ports.router, self: true, description: 'router from peers' },
        { protocol: 'tcp', fromPort: a.ports.workload, toPort: a.ports.workload, self: true, description: 'model server from peers' },
        { protocol: 'tcp', fromPort: a.ports.agent, toPort: a.ports.agent, self: true, description: 'agent API and gossip from peers' },
        ...ingressFromCidrs(22, a.sshCidrs, 'SSH (escape hatch; prefer SSM)'),
      ],
      egress: [{ protocol: '-1', fromPort: 0, toPort: 0, cidrBlocks: ['0.0.0.0/0'], description: 'AWS APIs, S3, model downloads' }],
      tags,
    },
    o,
    t.securityGroup,
  );
  return { worker, alb };
}

/** The worker role's policy: its own cluster's instances, buckets and prefixes (serveWorkerPolicyStatements). */
function createWorkerPolicy(
  { name, a, args, o, account }: ServeParts,
  storage: ServeStorage,
  identity: ServeIdentity,
  groups: ServeSecurityGroups,
  network: SynktiNetwork,
): void {
  const statements: PolicyStatementInput[] = serveWorkerPolicyStatements({
    cluster: a.project,
    region: a.region,
    account,
    modelsBucketArn: storage.models.arn,
    checkpointsBucketArn: storage.checkpoints.arn,
    secretParameter: a.secretParameter,
    secretKmsKeyArn: a.secretKmsKeyArn,
    externalModel: a.model?.bucket !== undefined ? { bucket: a.model.bucket, key: a.model.key } : undefined,
    replacement: a.agentReplacement
      ? {
          roleArn: identity.role.arn,
          instanceProfileArn: identity.profile.arn,
          securityGroupId: groups.worker.id,
          vpcId: network.vpcId,
          imageId: typeof args.imageId === 'string' && AMI_ID_RE.test(args.imageId) ? args.imageId : undefined,
        }
      : undefined,
  });
  new aws.iam.RolePolicy(`${name}-worker`, { role: identity.role.id, policy: policyJson(statements) }, o);
}

/** The routers' target group, and the worker's right to leave (and a replacement's to join) exactly it. */
function createTargetGroup({ name, a, o, tags, t }: ServeParts, network: SynktiNetwork, identity: ServeIdentity): aws.lb.TargetGroup {
  const targetGroup = withTransform(
    aws.lb.TargetGroup,
    `${name}-routers`,
    {
      namePrefix: 'synkti',
      port: a.ports.router,
      protocol: 'HTTP',
      vpcId: network.vpcId,
      targetType: 'instance',
      // Inside the notice: a node leaves at t=0 and its in-flight streams finish meanwhile.
      deregistrationDelay: a.loadBalancer?.deregistrationDelaySeconds,
      healthCheck: {
        path: ROUTER_HEALTH_PATH,
        port: 'traffic-port',
        matcher: '200',
        interval: 5,
        timeout: 2,
        healthyThreshold: 2,
        unhealthyThreshold: 2,
      },
      tags,
    },
    o,
    t.targetGroup,
  );
  new aws.iam.RolePolicy(
    `${name}-worker-load-balancer`,
    { role: identity.role.id, policy: policyJson(targetGroupStatements(targetGroup.arn, a.project)) },
    o,
  );
  return targetGroup;
}

/** The boot script: the user's, or bootstrap's for this bucket and account (checked at resolve time). */
function workerUserData(
  { a, args, account }: ServeParts,
  storage: ServeStorage,
  network: SynktiNetwork,
  targetGroup: aws.lb.TargetGroup | undefined,
  lookup: pulumi.InvokeOptions,
): pulumi.Input<string> | undefined {
  if (args.userData !== undefined) return pulumi.output(args.userData).apply((text) => Buffer.from(text, 'utf8').toString('base64'));
  if (a.boot === undefined) return undefined;
  const boot = a.boot;
  const models = storage.models;
  const modelUri =
    a.model &&
    (a.model.bucket !== undefined
      ? pulumi.output(`s3://${a.model.bucket}/${a.model.key}`)
      : pulumi.interpolate`s3://${models.name}/${a.model.key}`);
  // The group's subnets with their zones ride in the cluster config: a worker's own
  // replacements (Replacer, SpotReturn) can then go to any of the group's zones.
  const subnets = pulumi
    .output(network.workloadSubnetIds)
    .apply((ids) =>
      pulumi.all(ids.map((id) => aws.ec2.getSubnetOutput({ id }, lookup).availabilityZone.apply((zone) => ({ subnetId: id, zone })))),
    );
  return pulumi.all([models.name, account, modelUri, targetGroup?.arn, subnets]).apply(([bucket, acct, uri, targetGroupArn, zoned]) =>
    Buffer.from(
      serveWorkerUserData({
        spec: withTargetGroup({ ...a.spec, aws: { subnets: zoned } }, targetGroupArn),
        region: a.region,
        bucket,
        account: acct,
        secretParameter: a.secretParameter,
        boot,
        modelS3Uri: uri,
      }),
      'utf8',
    ).toString('base64'),
  );
}

/** The on-demand launch template the group's mixed-instances policy launches from (IMDSv2, encrypted root). */
function createLaunchTemplate(
  parts: ServeParts,
  d: {
    storage: ServeStorage;
    identity: ServeIdentity;
    groups: ServeSecurityGroups;
    network: SynktiNetwork;
    targetGroup: aws.lb.TargetGroup | undefined;
  },
): aws.ec2.LaunchTemplate {
  const { name, a, args, o, tags, t } = parts;
  const userData = workerUserData(parts, d.storage, d.network, d.targetGroup, o);
  const launchTags = { ...tags, [TAG_ROLE]: a.role, ...(d.targetGroup ? { [TAG_TARGET_GROUPS]: d.targetGroup.arn } : {}) };
  // Every instance the group launches starts a slot: a spot one carries one move of credit
  // (SynktiSlotCredit), as `synkti up` tags its spot launches. The template is shared with
  // the group's on-demand launches, which read the tag as they would read no tag.
  const pool = a.spec.pools[a.role];
  const slotTags = newSlotTags({ lifecycle: a.onDemandAbove < 100 ? 'spot' : 'on-demand', spotHedge: pool?.spotHedge });
  return withTransform(
    aws.ec2.LaunchTemplate,
    `${name}-worker`,
    {
      namePrefix: `${a.project}-worker-`,
      imageId: args.imageId ?? DEFAULT_GPU_IMAGE,
      // No instanceMarketOptions: the group's mixed-instances policy decides spot vs on-demand.
      iamInstanceProfile: { arn: d.identity.profile.arn },
      vpcSecurityGroupIds: [d.groups.worker.id],
      metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 2, instanceMetadataTags: 'enabled' },
      blockDeviceMappings: [
        {
          deviceName: a.rootDeviceName,
          ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: a.rootVolumeGiB, deleteOnTermination: 'true' },
        },
      ],
      ...(userData !== undefined ? { userData } : {}),
      tagSpecifications: ['instance', 'volume', 'network-interface'].map((resourceType) => ({
        resourceType,
        tags: resourceType === 'instance' ? { ...launchTags, ...slotTags } : launchTags,
      })),
      updateDefaultVersion: true,
      tags,
    },
    o,
    t.launchTemplate,
  );
}

/** The Application Load Balancer with its listeners (HTTPS with a certificate, 80 redirecting to it). */
function createLoadBalancer(
  { name, a, o, tags, t }: ServeParts,
  lbArgs: NonNullable<ResolvedServeArgs['loadBalancer']>,
  network: SynktiNetwork,
  albSg: aws.ec2.SecurityGroup,
  targetGroup: aws.lb.TargetGroup,
): aws.lb.LoadBalancer {
  const lb = withTransform(
    aws.lb.LoadBalancer,
    `${name}-alb`,
    {
      name: `${a.project}-alb`.slice(0, 32),
      loadBalancerType: 'application',
      internal: lbArgs.internal ?? false,
      securityGroups: [albSg.id],
      subnets: network.workloadSubnetIds,
      dropInvalidHeaderFields: true,
      enableDeletionProtection: a.deletionProtection,
      tags,
    },
    o,
    t.loadBalancer,
  );
  if (lbArgs.certificateArn !== undefined) {
    new aws.lb.Listener(
      `${name}-https`,
      {
        loadBalancerArn: lb.arn,
        port: 443,
        protocol: 'HTTPS',
        sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
        certificateArn: lbArgs.certificateArn,
        defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
        tags,
      },
      o,
    );
    new aws.lb.Listener(
      `${name}-http`,
      {
        loadBalancerArn: lb.arn,
        port: 80,
        protocol: 'HTTP',
        defaultActions: [{ type: 'redirect', redirect: { port: '443', protocol: 'HTTPS', statusCode: 'HTTP_301' } }],
        tags,
      },
      o,
    );
  } else {
    new aws.lb.Listener(
      `${name}-http`,
      {
        loadBalancerArn: lb.arn,
        port: 80,
        protocol: 'HTTP',
        defaultActions: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
        tags,
      },
      o,
    );
  }
  return lb;
}

/** The Auto Scaling group: price-capacity-optimized spot across the GPU types, capacity rebalancing. */
function createWorkerGroup(
  { name, a, o, t }: ServeParts,
  network: SynktiNetwork,
  template: aws.ec2.LaunchTemplate,
  targetGroup: aws.lb.TargetGroup | undefined,
): aws.autoscaling.Group {
  return withTransform(
    aws.autoscaling.Group,
    `${name}-workers`,
    {
      namePrefix: `${a.project}-worker-`,
      minSize: a.workerCount,
      maxSize: a.maxWorkerCount,
      desiredCapacity: a.workerCount,
      vpcZoneIdentifiers: network.workloadSubnetIds,
      capacityRebalance: true,
      healthCheckType: targetGroup ? 'ELB' : 'EC2',
      healthCheckGracePeriod: 600,
      ...(targetGroup ? { targetGroupArns: [targetGroup.arn] } : {}),
      mixedInstancesPolicy: {
        instancesDistribution: {
          onDemandBaseCapacity: a.onDemandBase,
          onDemandPercentageAboveBaseCapacity: a.onDemandAbove,
          spotAllocationStrategy: 'price-capacity-optimized',
          // No spotMaxPrice: a max price only raises interruptions (docs/field-notes.md).
        },
        launchTemplate: {
          launchTemplateSpecification: { launchTemplateId: template.id, version: '$Latest' },
          overrides: a.instanceTypes.map((instanceType) => ({ instanceType })),
        },
      },
      tags: [{ key: 'Name', value: `${a.project}-worker`, propagateAtLaunch: true }],
    },
    o,
    t.autoScalingGroup,
  );
}
