/**
 * The security rules of docs/architecture.md invariant 8 and docs/field-notes.md, as checks over the resources
 * a stack registers (from the mocks or from a Pulumi preview/export). Each rule looks at
 * resource inputs only, so it works before anything exists in a cloud account.
 */
import { isWorldCidr } from '../validate.ts';

export interface AuditResource {
  type: string;
  name: string;
  /** Physical id or URN, when known (links sub-resources such as bucket encryption to their bucket). */
  id?: string | undefined;
  inputs: Record<string, unknown>;
  /** Outputs known so far (ARNs); optional. */
  state?: Record<string, unknown> | undefined;
  protect?: boolean | undefined;
  retainOnDelete?: boolean | undefined;
}

export type Severity = 'error' | 'warning';

export interface Finding {
  rule: string;
  severity: Severity;
  /** `type::name` of the offending resource. */
  resource: string;
  message: string;
  fix: string;
}

export interface AuditRule {
  id: string;
  severity: Severity;
  description: string;
  check(resources: readonly AuditResource[]): Finding[];
}

const T = {
  sg: 'aws:ec2/securityGroup:SecurityGroup',
  sgRule: 'aws:ec2/securityGroupRule:SecurityGroupRule',
  sgIngress: 'aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule',
  lt: 'aws:ec2/launchTemplate:LaunchTemplate',
  instance: 'aws:ec2/instance:Instance',
  volume: 'aws:ebs/volume:Volume',
  bucket: 'aws:s3/bucket:Bucket',
  bucketV2: 'aws:s3/bucketV2:BucketV2',
  sse: 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration',
  sseV2: 'aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2',
  pab: 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock',
  bucketPolicy: 'aws:s3/bucketPolicy:BucketPolicy',
  bucketAcl: 'aws:s3/bucketAcl:BucketAcl',
  asg: 'aws:autoscaling/group:Group',
  lb: 'aws:lb/loadBalancer:LoadBalancer',
  alb: 'aws:alb/loadBalancer:LoadBalancer',
  listener: 'aws:lb/listener:Listener',
  albListener: 'aws:alb/listener:Listener',
  taskDef: 'aws:ecs/taskDefinition:TaskDefinition',
  accessKey: 'aws:iam/accessKey:AccessKey',
  rolePolicy: 'aws:iam/rolePolicy:RolePolicy',
  policy: 'aws:iam/policy:Policy',
  userPolicy: 'aws:iam/userPolicy:UserPolicy',
  groupPolicy: 'aws:iam/groupPolicy:GroupPolicy',
  role: 'aws:iam/role:Role',
  attachment: 'aws:iam/rolePolicyAttachment:RolePolicyAttachment',
  userAttachment: 'aws:iam/userPolicyAttachment:UserPolicyAttachment',
  queue: 'aws:sqs/queue:Queue',
  ecr: 'aws:ecr/repository:Repository',
  logGroup: 'aws:cloudwatch/logGroup:LogGroup',
} as const;

const ref = (r: AuditResource): string => `${r.type}::${r.name}`;
const asArray = <X>(v: X | X[] | undefined | null): X[] => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? v as Record<string, unknown> : {});
const truthy = (v: unknown): boolean => v === true || v === 'true';

/** Whether a tcp/all rule's port range covers `port`. */
function covers(protocol: unknown, from: unknown, to: unknown, port: number): boolean {
  const p = String(protocol ?? '').toLowerCase();
  if (p === '-1' || p === 'all') return true;
  if (p !== 'tcp' && p !== '6') return false;
  return Number(from) <= port && port <= Number(to);
}

interface IngressView {
  owner: AuditResource;
  groupId: string | undefined;
  protocol: unknown;
  from: unknown;
  to: unknown;
  cidrs: string[];
}

/** Every ingress rule: inline on groups and as separate rule resources. */
function ingressRules(resources: readonly AuditResource[]): IngressView[] {
  const out: IngressView[] = [];
  for (const r of resources) {
    if (r.type === T.sg) {
      for (const rule of asArray(r.inputs.ingress as unknown[])) {
        const x = rec(rule);
        out.push({ owner: r, groupId: r.id, protocol: x.protocol, from: x.fromPort, to: x.toPort, cidrs: [...asArray(x.cidrBlocks as string[]), ...asArray(x.ipv6CidrBlocks as string[])] });
      }
    } else if (r.type === T.sgRule && r.inputs.type === 'ingress') {
      out.push({ owner: r, groupId: r.inputs.securityGroupId as string | undefined, protocol: r.inputs.protocol, from: r.inputs.fromPort, to: r.inputs.toPort, cidrs: [...asArray(r.inputs.cidrBlocks as string[]), ...asArray(r.inputs.ipv6CidrBlocks as string[])] });
    } else if (r.type === T.sgIngress) {
      out.push({ owner: r, groupId: r.inputs.securityGroupId as string | undefined, protocol: r.inputs.ipProtocol, from: r.inputs.fromPort, to: r.inputs.toPort, cidrs: [r.inputs.cidrIpv4, r.inputs.cidrIpv6].filter((c): c is string => typeof c === 'string') });
    }
  }
  return out;
}

/** What `pulumi preview --json` shows for a value known only after deployment. */
/**
 * The plain `environment` entries of an ECS task definition's containers. Pulumi hands
 * `containerDefinitions` over as a JSON string; an unparsable one yields none (the
 * preview would fail on it anyway).
 */
export function containerEnvironment(taskDefinition: AuditResource): unknown[] {
  let defs: unknown = taskDefinition.inputs.containerDefinitions;
  if (typeof defs === 'string') {
    try {
      defs = JSON.parse(defs);
    } catch {
      return [];
    }
  }
  return (Array.isArray(defs) ? defs : []).flatMap((d) => {
    const environment = (d !== null && typeof d === 'object' ? (d as Record<string, unknown>).environment : undefined);
    return Array.isArray(environment) ? environment : [];
  });
}

export const PULUMI_UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

function loadBalancerGroupIds(resources: readonly AuditResource[]): Set<string> {
  const ids = new Set<string>();
  for (const r of resources) if (r.type === T.lb || r.type === T.alb) for (const id of asArray(r.inputs.securityGroups as string[])) ids.add(id);
  return ids;
}

interface Statement { Effect?: string; Action?: string | string[]; NotAction?: unknown; Resource?: string | string[]; Condition?: unknown; Principal?: unknown; Sid?: string }

function parsePolicy(value: unknown): Statement[] {
  let doc: unknown = value;
  if (typeof value === 'string') {
    try {
      doc = JSON.parse(value);
    } catch {
      return [];
    }
  }
  return asArray(rec(doc).Statement as Statement | Statement[]);
}

/** Identity policies of a stack, with the resource each came from. */
function identityPolicies(resources: readonly AuditResource[]): Array<{ owner: AuditResource; statements: Statement[] }> {
  const out: Array<{ owner: AuditResource; statements: Statement[] }> = [];
  for (const r of resources) {
    if (r.type === T.rolePolicy || r.type === T.policy || r.type === T.userPolicy || r.type === T.groupPolicy) out.push({ owner: r, statements: parsePolicy(r.inputs.policy) });
    if (r.type === T.role) for (const inline of asArray(r.inputs.inlinePolicies as unknown[])) out.push({ owner: r, statements: parsePolicy(rec(inline).policy) });
  }
  return out;
}

const BROAD_MANAGED = /:policy\/(AdministratorAccess|PowerUserAccess|IAMFullAccess|AmazonEC2FullAccess|AmazonS3FullAccess|AmazonSQSFullAccess|AmazonECS_FullAccess)$/;
const SECRET_NAME = /(SECRET|PASSWORD|PASSWD|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY|CREDENTIAL)/i;

function bucketKeys(r: AuditResource): Set<string> {
  return new Set([r.id, r.name, r.inputs.bucket, r.state?.bucket, r.state?.id].filter((v): v is string => typeof v === 'string' && v !== ''));
}

function forBucket(resources: readonly AuditResource[], types: string[], bucket: AuditResource): AuditResource[] {
  const keys = bucketKeys(bucket);
  return resources.filter((r) => types.includes(r.type) && typeof r.inputs.bucket === 'string' && keys.has(r.inputs.bucket));
}

export const AUDIT_RULES: readonly AuditRule[] = [
  {
    id: 'ssh-open', severity: 'error', description: 'SSH (22) open to the world (use SSM Session Manager)',
    check: (resources) => ingressRules(resources)
      .filter((i) => covers(i.protocol, i.from, i.to, 22) && i.cidrs.some(isWorldCidr))
      .map((i) => ({ rule: 'ssh-open', severity: 'error', resource: ref(i.owner), message: `SSH (port 22) is open to ${i.cidrs.filter(isWorldCidr).join(', ')}`, fix: 'remove the rule (sshCidrBlocks: []) and connect with `aws ssm start-session`' })),
  },
  {
    id: 'world-ingress', severity: 'error', description: 'ingress from 0.0.0.0/0 or ::/0 on anything but 80/443 of a load balancer',
    check: (resources) => {
      const lbGroups = loadBalancerGroupIds(resources);
      // In a preview, group ids are not known yet: a web-only rule may belong to a load balancer.
      const unknownLbGroups = lbGroups.has(PULUMI_UNKNOWN);
      return ingressRules(resources)
        .filter((i) => i.cidrs.some(isWorldCidr))
        .filter((i) => !(String(i.protocol) === 'tcp' && Number(i.from) === 22 && Number(i.to) === 22)) // reported by ssh-open
        .flatMap((i): Finding[] => {
          const webOnly = String(i.protocol) === 'tcp' && Number(i.from) === Number(i.to) && (Number(i.from) === 80 || Number(i.from) === 443);
          if (webOnly && i.groupId !== undefined && lbGroups.has(i.groupId)) return [];
          const where = `ports ${String(i.from)}-${String(i.to)}/${String(i.protocol)} are open to the world`;
          if (webOnly && unknownLbGroups) {
            return [{ rule: 'world-ingress', severity: 'warning', resource: ref(i.owner), message: `${where}; cannot tell from a preview whether this group is a load balancer's`, fix: 'audit the stack export after the first deploy' }];
          }
          return [{ rule: 'world-ingress', severity: 'error', resource: ref(i.owner), message: where, fix: 'allow only known CIDR blocks, or put a load balancer (80/443 only) in front' }];
        });
    },
  },
  {
    id: 'imds-v1', severity: 'error', description: 'instances must require IMDSv2 tokens (hop limit ≥ 2 for containers)',
    check: (resources) => resources.flatMap((r): Finding[] => {
      if (r.type !== T.lt && r.type !== T.instance) return [];
      const m = rec(r.inputs.metadataOptions);
      const out: Finding[] = [];
      if (m.httpTokens !== 'required' && m.httpEndpoint !== 'disabled') {
        out.push({ rule: 'imds-v1', severity: 'error', resource: ref(r), message: `IMDSv1 allowed (httpTokens: ${String(m.httpTokens ?? 'optional')})`, fix: "set metadataOptions.httpTokens: 'required'" });
      }
      if (m.httpTokens === 'required' && m.httpPutResponseHopLimit !== undefined && Number(m.httpPutResponseHopLimit) < 2) {
        out.push({ rule: 'imds-v1', severity: 'warning', resource: ref(r), message: `hop limit ${String(m.httpPutResponseHopLimit)}: containers cannot get an IMDSv2 token`, fix: 'set metadataOptions.httpPutResponseHopLimit: 2' });
      }
      return out;
    }),
  },
  {
    id: 'unencrypted-volume', severity: 'error', description: 'EBS volumes must be encrypted',
    check: (resources) => resources.flatMap((r): Finding[] => {
      const bad = (what: string): Finding => ({ rule: 'unencrypted-volume', severity: 'error', resource: ref(r), message: `${what} is not encrypted`, fix: "set encrypted: 'true' (or turn on EBS encryption by default and say so here)" });
      if (r.type === T.lt) {
        return asArray(r.inputs.blockDeviceMappings as unknown[]).filter((b) => rec(b).ebs !== undefined && !truthy(rec(rec(b).ebs).encrypted)).map((b) => bad(`volume ${String(rec(b).deviceName)}`));
      }
      if (r.type === T.instance) return r.inputs.rootBlockDevice !== undefined && !truthy(rec(r.inputs.rootBlockDevice).encrypted) ? [bad('the root volume')] : [];
      if (r.type === T.volume) return truthy(r.inputs.encrypted) ? [] : [bad('the volume')];
      return [];
    }),
  },
  {
    id: 'bucket-encryption', severity: 'error', description: 'every bucket has default server-side encryption',
    check: (resources) => resources.filter((r) => r.type === T.bucket || r.type === T.bucketV2)
      .filter((b) => b.inputs.serverSideEncryptionConfiguration === undefined && forBucket(resources, [T.sse, T.sseV2], b).length === 0)
      .map((b) => ({ rule: 'bucket-encryption', severity: 'error', resource: ref(b), message: 'no default encryption configuration', fix: 'add a BucketServerSideEncryptionConfiguration (SecureBucket does)' })),
  },
  {
    id: 'bucket-public', severity: 'error', description: 'every bucket blocks public access; no public ACL or policy',
    check: (resources) => {
      const out: Finding[] = [];
      for (const b of resources.filter((r) => r.type === T.bucket || r.type === T.bucketV2)) {
        const blocks = forBucket(resources, [T.pab], b);
        const full = blocks.some((p) => ['blockPublicAcls', 'blockPublicPolicy', 'ignorePublicAcls', 'restrictPublicBuckets'].every((k) => p.inputs[k] === true));
        if (!full) out.push({ rule: 'bucket-public', severity: 'error', resource: ref(b), message: 'public access is not fully blocked', fix: 'add a BucketPublicAccessBlock with all four settings true' });
        if (typeof b.inputs.acl === 'string' && /public/.test(b.inputs.acl)) out.push({ rule: 'bucket-public', severity: 'error', resource: ref(b), message: `ACL ${b.inputs.acl}`, fix: 'remove the ACL (use BucketOwnerEnforced ownership)' });
      }
      for (const acl of resources.filter((r) => r.type === T.bucketAcl)) {
        if (typeof acl.inputs.acl === 'string' && /public/.test(acl.inputs.acl)) out.push({ rule: 'bucket-public', severity: 'error', resource: ref(acl), message: `ACL ${acl.inputs.acl}`, fix: 'remove the public ACL' });
      }
      for (const p of resources.filter((r) => r.type === T.bucketPolicy)) {
        for (const s of parsePolicy(p.inputs.policy)) {
          const principal = s.Principal;
          const anyone = principal === '*' || asArray(rec(principal).AWS as string | string[]).includes('*');
          if (s.Effect === 'Allow' && anyone && s.Condition === undefined) out.push({ rule: 'bucket-public', severity: 'error', resource: ref(p), message: `statement ${s.Sid ?? ''} allows anyone`, fix: 'name the principals, or add a condition' });
        }
      }
      return out;
    },
  },
  {
    id: 'iam-wildcard', severity: 'error', description: 'no "*" actions, and no "*" resources without a condition',
    check: (resources) => {
      const out: Finding[] = [];
      for (const { owner, statements } of identityPolicies(resources)) {
        for (const s of statements) {
          if (s.Effect !== 'Allow') continue;
          const label = s.Sid ? `statement ${s.Sid}` : 'a statement';
          const wildActions = asArray(s.Action).filter((a) => a.includes('*'));
          if (wildActions.length > 0) out.push({ rule: 'iam-wildcard', severity: 'error', resource: ref(owner), message: `${label} allows ${wildActions.join(', ')}`, fix: 'list the exact actions the code calls' });
          if (s.NotAction !== undefined) out.push({ rule: 'iam-wildcard', severity: 'error', resource: ref(owner), message: `${label} uses NotAction with Allow`, fix: 'list the allowed actions instead' });
          if (asArray(s.Resource).includes('*') && s.Condition === undefined) out.push({ rule: 'iam-wildcard', severity: 'error', resource: ref(owner), message: `${label} applies to every resource without a condition`, fix: 'scope it to ARNs, or add a condition (tag, region, namespace)' });
        }
      }
      for (const a of resources.filter((r) => r.type === T.attachment || r.type === T.userAttachment)) {
        if (typeof a.inputs.policyArn === 'string' && BROAD_MANAGED.test(a.inputs.policyArn)) {
          out.push({ rule: 'iam-wildcard', severity: 'error', resource: ref(a), message: `attaches ${a.inputs.policyArn}`, fix: 'attach a policy limited to what the role does' });
        }
      }
      return out;
    },
  },
  {
    id: 'long-lived-keys', severity: 'error', description: 'no IAM access keys: roles only',
    check: (resources) => resources.filter((r) => r.type === T.accessKey).map((r) => ({ rule: 'long-lived-keys', severity: 'error', resource: ref(r), message: 'creates a long-lived access key', fix: 'give the caller a role to assume (SpotBatchFleet.coordinatorRoleArn)' })),
  },
  {
    id: 'plain-secret-env', severity: 'error', description: 'no secrets in plain container environment',
    check: (resources) => resources.filter((r) => r.type === T.taskDef).flatMap((r): Finding[] => {
      return containerEnvironment(r)
        .map((e) => String(rec(e).name ?? ''))
        .filter((n) => SECRET_NAME.test(n))
        .map((n) => ({ rule: 'plain-secret-env', severity: 'error', resource: ref(r), message: `environment variable ${n} looks like a secret in plain text`, fix: 'pass it as an ECS secret (valueFrom Secrets Manager/SSM)' }));
    }),
  },
  {
    id: 'spot-template-in-mixed-group', severity: 'error', description: 'a mixed-instances group must use an on-demand launch template',
    check: (resources) => {
      const spotTemplates = new Map(resources.filter((r) => r.type === T.lt && r.inputs.instanceMarketOptions !== undefined).map((r) => [r.id ?? r.name, r]));
      return resources.filter((r) => r.type === T.asg).flatMap((g): Finding[] => {
        const spec = rec(rec(rec(g.inputs.mixedInstancesPolicy).launchTemplate).launchTemplateSpecification);
        const id = spec.launchTemplateId;
        return typeof id === 'string' && spotTemplates.has(id)
          ? [{ rule: 'spot-template-in-mixed-group', severity: 'error', resource: ref(g), message: `launch template ${id} sets instanceMarketOptions (AWS rejects it in a mixed-instances group)`, fix: 'remove instanceMarketOptions; the instancesDistribution decides spot' }]
          : [];
      });
    },
  },
  {
    id: 'lb-without-listener', severity: 'error', description: 'a load balancer has at least one listener',
    check: (resources) => {
      const listeners = resources.filter((r) => r.type === T.listener || r.type === T.albListener);
      const targets = new Set(listeners.map((l) => l.inputs.loadBalancerArn).filter((v): v is string => typeof v === 'string'));
      return resources.filter((r) => r.type === T.lb || r.type === T.alb).filter((lb) => {
        const keys = [lb.state?.arn, lb.id].filter((v): v is string => typeof v === 'string');
        return listeners.length === 0 || (keys.length > 0 && targets.size > 0 && !keys.some((k) => targets.has(k)) && [...targets].every((t) => t.startsWith('arn:')));
      }).map((lb) => ({ rule: 'lb-without-listener', severity: 'error', resource: ref(lb), message: 'no listener: it accepts no traffic', fix: 'add a listener (HTTPS with a certificate, or HTTP)' }));
    },
  },
  {
    id: 'queue-encryption', severity: 'warning', description: 'queues encrypt messages at rest',
    check: (resources) => resources.filter((r) => r.type === T.queue && !truthy(r.inputs.sqsManagedSseEnabled) && r.inputs.kmsMasterKeyId === undefined)
      .map((r) => ({ rule: 'queue-encryption', severity: 'warning', resource: ref(r), message: 'messages are not encrypted at rest', fix: 'set sqsManagedSseEnabled: true' })),
  },
  {
    id: 'ecr-scan', severity: 'warning', description: 'images are scanned on push',
    check: (resources) => resources.filter((r) => r.type === T.ecr && !truthy(rec(r.inputs.imageScanningConfiguration).scanOnPush))
      .map((r) => ({ rule: 'ecr-scan', severity: 'warning', resource: ref(r), message: 'no scan on push', fix: 'set imageScanningConfiguration.scanOnPush: true' })),
  },
  {
    id: 'log-retention', severity: 'warning', description: 'log groups expire',
    check: (resources) => resources.filter((r) => r.type === T.logGroup && (r.inputs.retentionInDays === undefined || Number(r.inputs.retentionInDays) === 0))
      .map((r) => ({ rule: 'log-retention', severity: 'warning', resource: ref(r), message: 'logs are kept forever', fix: 'set retentionInDays' })),
  },
];
