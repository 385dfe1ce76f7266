/**
 * From a parsed AWS request to the IAM authorizations AWS would make for it: each an
 * action, a resource ARN and the request's condition context (the keys AWS fills in for
 * that action and resource: request tags and tag keys, the resource's current tags,
 * ec2:CreateAction, iam:PassedToService, s3:prefix...).
 *
 * Where AWS authorizes one call several times, so does this: RunInstances is checked once
 * per resource type it touches (instance, volume, network interface, subnet, security
 * groups, image, key pair, launch template), plus ec2:CreateTags with
 * ec2:CreateAction=RunInstances for each resource type it tags at launch, plus iam:PassRole
 * of the instance profile's role. iam-simulate evaluates one action on one resource at a
 * time, so this is the conservative form of EC2's multi-resource authorization: each
 * resource must be allowed on its own, with the context keys that apply to it.
 *
 * Each check lists the context key patterns it derived completely (`derived`): a key the
 * policies reference but outside those patterns was not supplied, and the check is counted
 * as checked with partial context.
 */
import { queryList, queryTags, type AwsRequest } from './iam-request.ts';

export type ContextValue = string | string[];

export interface AuthorizationCheck {
  action: string;
  resource: string;
  context: Record<string, ContextValue>;
  /** Context key patterns (exact, or ending in `/*`) this check derived completely. */
  derived: string[];
  /** Actions AWS never denies on identity policies (sts:GetCallerIdentity). */
  alwaysAllowed?: boolean | undefined;
  /** The resource's own policy, where one takes part (a KMS key policy). */
  resourcePolicy?: { Version: string; Statement: Array<Record<string, unknown>> } | undefined;
}

/**
 * The key policy KMS gives a key created without one: the account may delegate use of the
 * key through IAM policies. KMS always consults the key policy, so a check of kms:* needs one;
 * the emulator assumes this default (it does not read keys' own policies).
 */
export function defaultKeyPolicy(account: string): NonNullable<AuthorizationCheck['resourcePolicy']> {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Enable IAM User Permissions',
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${account}:root` },
        Action: 'kms:*',
        Resource: '*',
      },
    ],
  };
}

/** Lookups the derivation needs from the emulated account (made as the administrator). */
export interface ResourceLookup {
  /** Current tags of EC2 resources by id (instances, volumes, subnets, ...). */
  ec2Tags(ids: string[]): Promise<Map<string, Record<string, string>>>;
  /** ARN of the role an instance profile (name or ARN) carries, and the profile's ARN. */
  instanceProfile(nameOrArn: string): Promise<{ arn: string; roleArn: string | undefined } | undefined>;
  /** VPC id of a subnet. */
  subnetVpc(subnetId: string): Promise<string | undefined>;
  /** Current tags of ELBv2 resources by ARN. */
  elbTags(arns: string[]): Promise<Map<string, Record<string, string>>>;
  /**
   * The customer KMS key (ARN; an alias ARN when the parameter names an alias) a
   * SecureString parameter is encrypted with; undefined for the AWS-managed aws/ssm key,
   * plain parameters, and parameters that do not exist.
   */
  ssmParameterKey(name: string): Promise<string | undefined>;
}

export interface DerivationContext {
  account: string;
  /** Global keys of the principal (aws:PrincipalArn, aws:userid, ec2:SourceInstanceARN...). */
  principalContext: Record<string, ContextValue>;
  lookup: ResourceLookup;
  now?: Date | undefined;
}

/** Global keys every check carries; absent ones (aws:SourceIp, aws:SourceVpc) are not derived. */
const GLOBAL_DERIVED = [
  'aws:RequestedRegion',
  'aws:SecureTransport',
  'aws:PrincipalArn',
  'aws:PrincipalAccount',
  'aws:PrincipalType',
  'aws:userid',
  'aws:CurrentTime',
  'aws:EpochTime',
  'aws:ViaAWSService',
  'aws:CalledVia',
  'aws:CalledViaFirst',
  'aws:CalledViaLast',
  'aws:PrincipalIsAWSService',
  'aws:PrincipalServiceName',
  'aws:ResourceAccount',
  'ec2:SourceInstanceARN',
  'ec2:RoleDelivery',
];

/** The IAM prefix of each SigV4 service name where they differ. */
const IAM_PREFIX: Record<string, string> = { monitoring: 'cloudwatch' };

function tagContext(tags: Record<string, string> | undefined, ...prefixes: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(tags ?? {})) for (const p of prefixes) out[`${p}/${k}`] = v;
  return out;
}

function requestTagContext(tags: Array<{ key: string; value: string | undefined }>): Record<string, ContextValue> {
  const out: Record<string, ContextValue> = {};
  for (const t of tags) out[`aws:RequestTag/${t.key}`] = t.value ?? '';
  // No tags in the request: the key is absent (a Null condition sees that), not an empty list.
  if (tags.length > 0) out['aws:TagKeys'] = tags.map((t) => t.key);
  return out;
}

/** EC2 ARN of a resource id, by its prefix; undefined when the type is not known. */
export function ec2Arn(region: string, account: string, id: string): string | undefined {
  const types: Array<[string, string, boolean]> = [
    ['i-', 'instance', true],
    ['vol-', 'volume', true],
    ['eni-', 'network-interface', true],
    ['sg-', 'security-group', true],
    ['subnet-', 'subnet', true],
    ['vpc-', 'vpc', true],
    ['ami-', 'image', false],
    ['snap-', 'snapshot', false],
    ['lt-', 'launch-template', true],
    ['sir-', 'spot-instances-request', true],
    ['eipalloc-', 'elastic-ip', true],
    ['igw-', 'internet-gateway', true],
    ['rtb-', 'route-table', true],
    ['key-', 'key-pair', true],
  ];
  for (const [prefix, type, owned] of types)
    if (id.startsWith(prefix)) return `arn:aws:ec2:${region}:${owned ? account : ''}:${type}/${id}`;
  return undefined;
}

function globalContext(req: AwsRequest, d: DerivationContext): Record<string, ContextValue> {
  const now = d.now ?? new Date();
  return {
    'aws:RequestedRegion': req.region,
    // The real endpoints are HTTPS; the emulator's loopback hop is not what a policy is about.
    'aws:SecureTransport': 'true',
    'aws:CurrentTime': now.toISOString(),
    'aws:EpochTime': String(Math.floor(now.getTime() / 1000)),
    'aws:ViaAWSService': 'false',
    ...d.principalContext,
  };
}

/** Every authorization AWS makes for `req`. */
export async function authorizationChecks(req: AwsRequest, d: DerivationContext): Promise<AuthorizationCheck[]> {
  const g = globalContext(req, d);
  const prefix = IAM_PREFIX[req.service] ?? req.service;
  const check = (
    action: string,
    resource: string,
    context: Record<string, ContextValue> = {},
    derived: string[] = [],
  ): AuthorizationCheck => ({
    action,
    resource,
    context: { ...g, ...context },
    derived: [...GLOBAL_DERIVED, ...derived],
  });
  switch (req.protocol) {
    case 's3':
      return s3Checks(req, d, check);
    case 'query':
    case 'json':
    case 'cbor':
      break;
  }
  const op = req.operation;
  if (!op) return [check(`${prefix}:Unknown`, '*')];
  switch (req.service) {
    case 'ec2':
      return ec2Checks(req, d, check);
    case 'sts':
      if (op === 'GetCallerIdentity' || op === 'GetSessionToken') return [{ ...check(`sts:${op}`, '*'), alwaysAllowed: true }];
      return [check(`sts:${op}`, req.params.RoleArn ?? '*')];
    case 'iam': {
      const p = req.params;
      const resource = p.RoleName
        ? `arn:aws:iam::${d.account}:role/${p.RoleName}`
        : p.InstanceProfileName
          ? `arn:aws:iam::${d.account}:instance-profile/${p.InstanceProfileName}`
          : p.UserName
            ? `arn:aws:iam::${d.account}:user/${p.UserName}`
            : (p.PolicyArn ?? '*');
      return [check(`iam:${op}`, resource)];
    }
    case 'ssm':
      return ssmChecks(req, d, check);
    case 'sqs': {
      const url = String(req.json?.QueueUrl ?? req.params.QueueUrl ?? '');
      const m = /\/(\d{12})\/([^/?]+)$/.exec(url);
      const name = m ? m[2] : String(req.json?.QueueName ?? req.params.QueueName ?? '');
      const resource = name ? `arn:aws:sqs:${req.region}:${m?.[1] ?? d.account}:${name}` : '*';
      return [check(`sqs:${op}`, resource)];
    }
    case 'elasticloadbalancing':
      return elbChecks(req, d, check);
    case 'monitoring': {
      const namespace = req.params.Namespace ?? (typeof req.json?.Namespace === 'string' ? req.json.Namespace : undefined);
      // CBOR bodies are not decoded: the namespace is then not derived.
      return [
        check(
          `cloudwatch:${op}`,
          '*',
          namespace ? { 'cloudwatch:namespace': namespace } : {},
          req.protocol === 'cbor' ? [] : ['cloudwatch:namespace'],
        ),
      ];
    }
    case 'ecs': {
      const cluster = typeof req.json?.cluster === 'string' ? req.json.cluster : undefined;
      const clusterArn =
        cluster === undefined
          ? undefined
          : cluster.startsWith('arn:')
            ? cluster
            : `arn:aws:ecs:${req.region}:${d.account}:cluster/${cluster}`;
      return [check(`ecs:${op}`, clusterArn ?? '*', clusterArn ? { 'ecs:cluster': clusterArn } : {}, clusterArn ? ['ecs:cluster'] : [])];
    }
    default:
      return [check(`${prefix}:${op}`, '*')];
  }
}

type CheckFn = (action: string, resource: string, context?: Record<string, ContextValue>, derived?: string[]) => AuthorizationCheck;

const TAG_DERIVED = ['aws:ResourceTag/*', 'ec2:ResourceTag/*', 'ec2:Region'];

async function ec2Checks(req: AwsRequest, d: DerivationContext, check: CheckFn): Promise<AuthorizationCheck[]> {
  const p = req.params;
  const op = req.operation;
  const action = `ec2:${op}`;
  const arnOf = (id: string): string => ec2Arn(req.region, d.account, id) ?? '*';
  const existing = async (ids: string[], extra: Record<string, ContextValue>, extraDerived: string[]): Promise<AuthorizationCheck[]> => {
    const tags = await d.lookup.ec2Tags(ids);
    return ids.map((id) =>
      check(action, arnOf(id), { 'ec2:Region': req.region, ...tagContext(tags.get(id), 'aws:ResourceTag', 'ec2:ResourceTag'), ...extra }, [
        ...TAG_DERIVED,
        ...extraDerived,
      ]),
    );
  };
  switch (op) {
    case 'RunInstances':
      return runInstancesChecks(req, d, check);
    case 'CreateTags':
    case 'DeleteTags': {
      const tags = queryTags(p, 'Tag');
      // DeleteTags may name keys only; aws:RequestTag then has no values to compare.
      return existing(queryList(p, 'ResourceId'), requestTagContext(tags), ['aws:RequestTag/*', 'aws:TagKeys', 'ec2:CreateAction']);
    }
    case 'TerminateInstances':
    case 'StopInstances':
    case 'StartInstances':
    case 'RebootInstances':
      return existing(queryList(p, 'InstanceId'), {}, []);
    case 'ModifyInstanceAttribute':
    case 'ModifyInstanceMetadataOptions':
      return existing(p.InstanceId ? [p.InstanceId] : [], {}, []);
    default:
      // Describe*, Get* and the rest: EC2 has no resource-level permissions for them.
      return [check(action, '*', { 'ec2:Region': req.region }, ['ec2:Region'])];
  }
}

async function runInstancesChecks(req: AwsRequest, d: DerivationContext, check: CheckFn): Promise<AuthorizationCheck[]> {
  const p = req.params;
  const { region } = req;
  const acct = d.account;
  const specs = new Map<string, Array<{ key: string; value: string | undefined }>>();
  for (let i = 1; i <= 100; i++) {
    const type = p[`TagSpecification.${i}.ResourceType`];
    if (type === undefined) break;
    specs.set(type, [...(specs.get(type) ?? []), ...queryTags(p, `TagSpecification.${i}.Tag`)]);
  }
  const profileRef = p['IamInstanceProfile.Arn'] ?? p['IamInstanceProfile.Name'];
  const profile = profileRef ? await d.lookup.instanceProfile(profileRef) : undefined;
  const subnetId = p.SubnetId ?? p['NetworkInterface.1.SubnetId'];
  const vpcId = subnetId ? await d.lookup.subnetVpc(subnetId) : undefined;
  const groupIds = [...queryList(p, 'SecurityGroupId'), ...queryList(p, 'NetworkInterface.1.SecurityGroupId')];
  const existingIds = [...(subnetId ? [subnetId] : []), ...groupIds, ...(p.ImageId ? [p.ImageId] : [])];
  const existingTags = existingIds.length > 0 ? await d.lookup.ec2Tags(existingIds) : new Map<string, Record<string, string>>();
  const instanceType = p.InstanceType;
  const market = p['InstanceMarketOptions.MarketType'] === 'spot' ? 'spot' : 'on-demand';
  const launchTemplate = p['LaunchTemplate.LaunchTemplateId'];
  const common: Record<string, ContextValue> = {
    'ec2:Region': region,
    ...(launchTemplate
      ? { 'ec2:LaunchTemplate': `arn:aws:ec2:${region}:${acct}:launch-template/${launchTemplate}`, 'ec2:IsLaunchTemplateResource': 'false' }
      : {}),
  };
  const commonDerived = ['ec2:Region', 'ec2:LaunchTemplate', 'ec2:IsLaunchTemplateResource'];
  const created = (type: string, extra: Record<string, ContextValue>, extraDerived: string[]): AuthorizationCheck => {
    const tags = specs.get(type) ?? [];
    return check('ec2:RunInstances', `arn:aws:ec2:${region}:${acct}:${type}/*`, { ...common, ...requestTagContext(tags), ...extra }, [
      ...commonDerived,
      'aws:RequestTag/*',
      'aws:TagKeys',
      ...extraDerived,
    ]);
  };
  const existing = (
    id: string | undefined,
    type: string,
    extra: Record<string, ContextValue> = {},
    extraDerived: string[] = [],
  ): AuthorizationCheck => {
    const arn = id
      ? (ec2Arn(region, acct, id) ?? `arn:aws:ec2:${region}:${acct}:${type}/*`)
      : `arn:aws:ec2:${region}:${type === 'image' ? '' : acct}:${type}/*`;
    const tags = id ? existingTags.get(id) : undefined;
    // Without an id (the default subnet or group), the resource's tags are not known.
    return check('ec2:RunInstances', arn, { ...common, ...tagContext(tags, 'aws:ResourceTag', 'ec2:ResourceTag'), ...extra }, [
      ...commonDerived,
      ...(id ? ['aws:ResourceTag/*', 'ec2:ResourceTag/*'] : []),
      ...extraDerived,
    ]);
  };
  const vpcContext: Record<string, ContextValue> = vpcId ? { 'ec2:Vpc': `arn:aws:ec2:${region}:${acct}:vpc/${vpcId}` } : {};
  const vpcDerived = vpcId ? ['ec2:Vpc'] : [];
  const instanceContext: Record<string, ContextValue> = {
    ...(instanceType ? { 'ec2:InstanceType': instanceType } : {}),
    'ec2:InstanceMarketType': market,
    ...(profile ? { 'ec2:InstanceProfile': profile.arn } : {}),
    ...(p['MetadataOptions.HttpTokens'] ? { 'ec2:MetadataHttpTokens': p['MetadataOptions.HttpTokens'] } : {}),
    ...(p['MetadataOptions.HttpPutResponseHopLimit']
      ? { 'ec2:MetadataHttpPutResponseHopLimit': p['MetadataOptions.HttpPutResponseHopLimit'] }
      : {}),
    ...(p['MetadataOptions.HttpEndpoint'] ? { 'ec2:MetadataHttpEndpoint': p['MetadataOptions.HttpEndpoint'] } : {}),
    ...(subnetId ? { 'ec2:Subnet': `arn:aws:ec2:${region}:${acct}:subnet/${subnetId}` } : {}),
    ...(p.ImageId ? { 'ec2:ImageID': p.ImageId } : {}),
  };
  const instanceDerived = [
    'ec2:InstanceMarketType',
    'ec2:InstanceProfile',
    'ec2:MetadataHttpTokens',
    'ec2:MetadataHttpPutResponseHopLimit',
    'ec2:MetadataHttpEndpoint',
    ...(instanceType ? ['ec2:InstanceType'] : []),
    ...(subnetId ? ['ec2:Subnet'] : []),
    'ec2:ImageID',
  ];
  const checks: AuthorizationCheck[] = [
    created('instance', instanceContext, instanceDerived),
    created('volume', {}, []),
    created(
      'network-interface',
      { ...vpcContext, ...(subnetId ? { 'ec2:Subnet': `arn:aws:ec2:${region}:${acct}:subnet/${subnetId}` } : {}) },
      [...vpcDerived, ...(subnetId ? ['ec2:Subnet'] : [])],
    ),
    existing(subnetId, 'subnet', vpcContext, vpcDerived),
    ...(groupIds.length > 0
      ? groupIds.map((id) => existing(id, 'security-group', vpcContext, vpcDerived))
      : [existing(undefined, 'security-group')]),
    existing(p.ImageId, 'image'),
  ];
  // A spot launch also creates a spot instance request (tagged with the instance's spec when given).
  if (market === 'spot') checks.push(created('spot-instances-request', {}, []));
  if (p.KeyName) checks.push(check('ec2:RunInstances', `arn:aws:ec2:${region}:${acct}:key-pair/${p.KeyName}`, common, commonDerived));
  if (launchTemplate)
    checks.push(check('ec2:RunInstances', `arn:aws:ec2:${region}:${acct}:launch-template/${launchTemplate}`, common, commonDerived));
  // Tags at launch: ec2:CreateTags on each tagged resource type, with ec2:CreateAction.
  for (const [type, tags] of specs) {
    checks.push(
      check(
        'ec2:CreateTags',
        `arn:aws:ec2:${region}:${acct}:${type}/*`,
        { ...common, 'ec2:CreateAction': 'RunInstances', ...requestTagContext(tags) },
        [...commonDerived, 'ec2:CreateAction', 'aws:RequestTag/*', 'aws:TagKeys', 'aws:ResourceTag/*', 'ec2:ResourceTag/*'],
      ),
    );
  }
  if (profileRef) {
    // Passing the profile's role to EC2. An unknown profile fails in EC2 itself; check its name as the role.
    const roleArn = profile?.roleArn ?? `arn:aws:iam::${acct}:role/${profileRef.replace(/^.*instance-profile\//, '')}`;
    checks.push(
      check('iam:PassRole', roleArn, { 'iam:PassedToService': 'ec2.amazonaws.com' }, ['iam:PassedToService', 'iam:AssociatedResourceArn']),
    );
  }
  return checks;
}

async function ssmChecks(req: AwsRequest, d: DerivationContext, check: CheckFn): Promise<AuthorizationCheck[]> {
  const op = req.operation;
  const arn = (name: string): string =>
    name.startsWith('arn:') ? name : `arn:aws:ssm:${req.region}:${d.account}:parameter${name.startsWith('/') ? '' : '/'}${name}`;
  const j = req.json ?? {};
  const names =
    typeof j.Name === 'string'
      ? [j.Name]
      : Array.isArray(j.Names)
        ? (j.Names as unknown[]).filter((n): n is string => typeof n === 'string')
        : typeof j.Path === 'string'
          ? [j.Path]
          : [];
  if (names.length === 0) return [check(`ssm:${op}`, '*')];
  const checks = names.map((name) => check(`ssm:${op}`, arn(name)));
  if (j.WithDecryption === true && /^GetParameters?$/.test(op)) {
    // SSM decrypts a customer-key SecureString with the caller's own permission: kms:Decrypt
    // on that key, made by SSM on the caller's behalf (kms:ViaService, aws:ViaAWSService).
    for (const name of names) {
      const key = await d.lookup.ssmParameterKey(name);
      if (!key) continue;
      checks.push({
        ...check(
          'kms:Decrypt',
          key,
          {
            'kms:ViaService': `ssm.${req.region}.amazonaws.com`,
            'kms:CallerAccount': d.account,
            'aws:ViaAWSService': 'true',
            'kms:EncryptionContext:PARAMETER_ARN': arn(name),
            'kms:EncryptionContextKeys': ['PARAMETER_ARN'],
          },
          ['kms:ViaService', 'kms:CallerAccount', 'kms:EncryptionContext:*', 'kms:EncryptionContextKeys'],
        ),
        resourcePolicy: defaultKeyPolicy(d.account),
      });
    }
  }
  return checks;
}

async function elbChecks(req: AwsRequest, d: DerivationContext, check: CheckFn): Promise<AuthorizationCheck[]> {
  const p = req.params;
  const action = `elasticloadbalancing:${req.operation}`;
  const arns = [p.TargetGroupArn, p.LoadBalancerArn, p.ListenerArn, p.RuleArn, ...queryList(p, 'ResourceArns.member')].filter(
    (a): a is string => typeof a === 'string' && a !== '',
  );
  if (arns.length === 0 || req.operation.startsWith('Describe')) return [check(action, '*')];
  const tags = await d.lookup.elbTags(arns);
  const requestTags = queryTags(p, 'Tags.member');
  const tagKeys = queryList(p, 'TagKeys.member');
  const request =
    req.operation === 'AddTags' ? requestTagContext(requestTags) : req.operation === 'RemoveTags' ? { 'aws:TagKeys': tagKeys } : {};
  return arns.map((arn) =>
    check(action, arn, { ...tagContext(tags.get(arn), 'aws:ResourceTag', 'elasticloadbalancing:ResourceTag'), ...request }, [
      'aws:ResourceTag/*',
      'elasticloadbalancing:ResourceTag/*',
      'aws:RequestTag/*',
      'aws:TagKeys',
    ]),
  );
}

/** S3 REST: the IAM action of each operation (method + sub-resource), per AWS's S3 action table. */
function s3Checks(req: AwsRequest, d: DerivationContext, check: CheckFn): AuthorizationCheck[] {
  const s3 = req.s3!;
  const q = s3.query;
  const m = req.method;
  const s3Context: Record<string, ContextValue> = {
    's3:authType': q.has('X-Amz-Credential') ? 'REST-QUERY-STRING' : 'REST-HEADER',
    's3:signatureversion': 'AWS4-HMAC-SHA256',
    's3:ResourceAccount': d.account,
  };
  const s3Derived = ['s3:authType', 's3:signatureversion', 's3:ResourceAccount'];
  const c = (action: string, resource: string, extra: Record<string, ContextValue> = {}, extraDerived: string[] = []): AuthorizationCheck =>
    check(action, resource, { ...s3Context, ...extra }, [...s3Derived, ...extraDerived]);
  if (!s3.bucket) return [c('s3:ListAllMyBuckets', '*')];
  const bucketArn = `arn:aws:s3:::${s3.bucket}`;
  if (s3.key === undefined) {
    const sub = (name: string): boolean => q.has(name);
    const getPut = (get: string, put: string, del?: string): string => (m === 'GET' ? get : m === 'DELETE' && del ? del : put);
    let action: string;
    const extra: Record<string, ContextValue> = {};
    const extraDerived: string[] = [];
    if (sub('policy')) action = getPut('s3:GetBucketPolicy', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy');
    else if (sub('encryption'))
      action = getPut('s3:GetEncryptionConfiguration', 's3:PutEncryptionConfiguration', 's3:PutEncryptionConfiguration');
    else if (sub('publicAccessBlock'))
      action = getPut('s3:GetBucketPublicAccessBlock', 's3:PutBucketPublicAccessBlock', 's3:PutBucketPublicAccessBlock');
    else if (sub('versioning')) action = getPut('s3:GetBucketVersioning', 's3:PutBucketVersioning');
    else if (sub('tagging')) action = getPut('s3:GetBucketTagging', 's3:PutBucketTagging', 's3:PutBucketTagging');
    else if (sub('lifecycle'))
      action = getPut('s3:GetLifecycleConfiguration', 's3:PutLifecycleConfiguration', 's3:PutLifecycleConfiguration');
    else if (sub('ownershipControls'))
      action = getPut('s3:GetBucketOwnershipControls', 's3:PutBucketOwnershipControls', 's3:PutBucketOwnershipControls');
    else if (sub('acl')) action = getPut('s3:GetBucketAcl', 's3:PutBucketAcl');
    else if (sub('cors')) action = getPut('s3:GetBucketCORS', 's3:PutBucketCORS', 's3:PutBucketCORS');
    else if (sub('location')) action = 's3:GetBucketLocation';
    else if (sub('versions')) action = 's3:ListBucketVersions';
    else if (sub('uploads')) action = 's3:ListBucketMultipartUploads';
    else if (sub('delete') && m === 'POST') {
      // DeleteObjects: s3:DeleteObject on each key in the (small, buffered) XML body.
      const keys = [...(req.body?.toString('utf8') ?? '').matchAll(/<Key>([^<]*)<\/Key>/g)].map((k) => decodeXml(k[1] ?? ''));
      return (keys.length > 0 ? keys : ['*']).map((key) => c('s3:DeleteObject', `${bucketArn}/${key}`));
    } else if (m === 'PUT') action = 's3:CreateBucket';
    else if (m === 'DELETE') action = 's3:DeleteBucket';
    else {
      // GET (ListObjects/V2) and HEAD (HeadBucket) are both s3:ListBucket.
      action = 's3:ListBucket';
      if (m === 'GET') {
        for (const [param, key] of [
          ['prefix', 's3:prefix'],
          ['delimiter', 's3:delimiter'],
          ['max-keys', 's3:max-keys'],
        ] as const) {
          const value = q.get(param);
          if (value !== null) extra[key] = value;
        }
        extraDerived.push('s3:prefix', 's3:delimiter', 's3:max-keys');
      }
    }
    return [c(action, bucketArn, extra, extraDerived)];
  }
  const objectArn = `${bucketArn}/${s3.key}`;
  const version = q.get('versionId');
  const copySource = s3.headers['x-amz-copy-source'];
  const sse = s3.headers['x-amz-server-side-encryption'];
  const putContext: Record<string, ContextValue> = {
    ...(sse ? { 's3:x-amz-server-side-encryption': sse } : {}),
    ...(s3.headers['x-amz-acl'] ? { 's3:x-amz-acl': s3.headers['x-amz-acl'] } : {}),
  };
  const putDerived = ['s3:x-amz-server-side-encryption', 's3:x-amz-acl'];
  const copyChecks = (): AuthorizationCheck[] => {
    if (!copySource) return [];
    let source = copySource.replace(/^\//, '').split('?')[0] ?? '';
    try {
      source = decodeURIComponent(source);
    } catch {
      // kept as written
    }
    return [c('s3:GetObject', `arn:aws:s3:::${source}`)];
  };
  switch (m) {
    case 'GET':
    case 'HEAD':
      if (q.has('tagging')) return [c(version ? 's3:GetObjectVersionTagging' : 's3:GetObjectTagging', objectArn)];
      if (q.has('acl')) return [c(version ? 's3:GetObjectVersionAcl' : 's3:GetObjectAcl', objectArn)];
      if (q.has('uploadId')) return [c('s3:ListMultipartUploadParts', objectArn)];
      if (q.has('attributes')) return [c(version ? 's3:GetObjectVersionAttributes' : 's3:GetObjectAttributes', objectArn)];
      return [c(version ? 's3:GetObjectVersion' : 's3:GetObject', objectArn)];
    case 'PUT':
      if (q.has('tagging')) return [c(version ? 's3:PutObjectVersionTagging' : 's3:PutObjectTagging', objectArn)];
      if (q.has('acl')) return [c(version ? 's3:PutObjectVersionAcl' : 's3:PutObjectAcl', objectArn)];
      // PutObject, UploadPart, CopyObject, UploadPartCopy.
      return [c('s3:PutObject', objectArn, putContext, putDerived), ...copyChecks()];
    case 'POST':
      // CreateMultipartUpload (?uploads) and CompleteMultipartUpload (?uploadId) are s3:PutObject.
      return [c('s3:PutObject', objectArn, putContext, putDerived)];
    case 'DELETE':
      if (q.has('uploadId')) return [c('s3:AbortMultipartUpload', objectArn)];
      if (q.has('tagging')) return [c(version ? 's3:DeleteObjectVersionTagging' : 's3:DeleteObjectTagging', objectArn)];
      return [c(version ? 's3:DeleteObjectVersion' : 's3:DeleteObject', objectArn)];
    default:
      return [c(`s3:${m}`, objectArn)];
  }
}

function decodeXml(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/**
 * Condition keys the policies reference for `action` that `check` did not derive (so the
 * check ran with partial context). Statement Action patterns use `*` and `?`.
 */
export function missingContextKeys(
  check: AuthorizationCheck,
  statements: ReadonlyArray<{
    Action?: string | string[];
    Resource?: string | string[];
    Condition?: Record<string, Record<string, unknown>>;
  }>,
): string[] {
  const missing = new Set<string>();
  const covered = (key: string): boolean =>
    check.derived.some((pattern) =>
      pattern.endsWith('/*')
        ? key.toLowerCase().startsWith(pattern.slice(0, -1).toLowerCase())
        : key.toLowerCase() === pattern.toLowerCase(),
    );
  for (const s of statements) {
    const actions = [s.Action ?? []].flat();
    if (!actions.some((a) => globMatch(a, check.action))) continue;
    // Only statements about this resource (NotAction/NotResource statements are not looked at).
    const resources = [s.Resource ?? []].flat();
    if (!resources.some((r) => globMatch(r, check.resource) || globMatch(check.resource, r))) continue;
    for (const block of Object.values(s.Condition ?? {})) {
      for (const key of Object.keys(block)) if (!covered(key)) missing.add(key);
    }
  }
  return [...missing].sort();
}

function globMatch(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return re.test(value);
}
