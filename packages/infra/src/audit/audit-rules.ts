/**
 * The security rules of docs/architecture.md invariant 8 and docs/field-notes.md, as checks over the resources
 * a stack registers (from the mocks or from a Pulumi preview/export). Each rule looks at
 * resource inputs only, so it works before anything exists in a cloud account.
 */
import { cidrSpace, describeSpace } from './cidr-space.ts';
import {
  broadManagedPolicy,
  conditionRestricts,
  isAllow,
  isWildcardAction,
  isWildcardResource,
  PULUMI_UNKNOWN,
  readPolicy,
  stringList,
  type Statement,
} from './iam-reasoning.ts';
import { plainSecretNames, userDataEnvironment } from './secret-env.ts';

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
  spotRequest: 'aws:ec2/spotInstanceRequest:SpotInstanceRequest',
  launchConfig: 'aws:ec2/launchConfiguration:LaunchConfiguration',
  lambda: 'aws:lambda/function:Function',
  batchJob: 'aws:batch/jobDefinition:JobDefinition',
  policyAttachment: 'aws:iam/policyAttachment:PolicyAttachment',
  groupAttachment: 'aws:iam/groupPolicyAttachment:GroupPolicyAttachment',
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
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
const truthy = (v: unknown): boolean => v === true || v === 'true';

/** Protocol as one name: tcp, udp, icmp, ... or 'all'. */
function protocolOf(protocol: unknown): string {
  const p = String(protocol ?? '').toLowerCase();
  if (p === '-1' || p === 'all') return 'all';
  return ({ '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6' } as Record<string, string>)[p] ?? p;
}

/** Whether rule `j` admits traffic of `protocol` to `port`. */
function admits(j: IngressView, protocol: string, port: number): boolean {
  const pj = protocolOf(j.protocol);
  if (pj === 'all') return true;
  if (pj !== protocol) return false;
  if (pj !== 'tcp' && pj !== 'udp') return true;
  const lo = Number(j.from);
  const hi = Number(j.to);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return true;
  return lo <= port && port <= hi;
}

/**
 * The security group a rule belongs to. Rules whose group is not known yet (a preview)
 * are judged together: a set split over groups that cannot be told apart must not pass.
 */
function groupKey(i: IngressView): string {
  if (i.groupId === PULUMI_UNKNOWN) return 'unknown';
  return i.groupId !== undefined ? `id:${i.groupId}` : `res:${ref(i.owner)}`;
}

interface WorldOpening {
  owner: AuditResource;
  groupId: string | undefined;
  protocol: string;
  /** The rule whose port the opening was found at. */
  rule: IngressView;
  /** Blocks of every rule of the group admitting that port (together they open the world). */
  cidrs: string[];
  space: string;
}

/**
 * Where a security group opens a port to the world, judging the union of every rule of
 * the group that admits that port (so 0.0.0.0/1 in one rule and 128.0.0.0/1 in another
 * is the world). The set of rules admitting a port only grows at a rule's lowest port,
 * so checking each rule's first port finds every opening.
 */
function worldOpenings(resources: readonly AuditResource[]): WorldOpening[] {
  const groups = new Map<string, IngressView[]>();
  for (const i of ingressRules(resources)) {
    const key = groupKey(i);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  const out: WorldOpening[] = [];
  for (const rules of groups.values()) {
    for (const rule of rules) {
      const protocol = protocolOf(rule.protocol);
      const port = Number.isFinite(Number(rule.from)) ? Number(rule.from) : 0;
      const together =
        protocol === 'all' ? rules.filter((j) => protocolOf(j.protocol) === 'all') : rules.filter((j) => admits(j, protocol, port));
      const cidrs = together.flatMap((j) => j.cidrs);
      const space = cidrSpace(cidrs);
      if (space.world || space.unparsable.length > 0)
        out.push({ owner: rule.owner, groupId: rule.groupId, protocol, rule, cidrs, space: describeSpace(space) });
    }
  }
  return out;
}

/** Whether the group opens SSH (tcp 22) to the world, judging all its rules together. */
function sshOpenings(resources: readonly AuditResource[]): Array<{ owner: AuditResource; cidrs: string[]; space: string }> {
  const groups = new Map<string, IngressView[]>();
  for (const i of ingressRules(resources)) {
    const key = groupKey(i);
    groups.set(key, [...(groups.get(key) ?? []), i]);
  }
  const out: Array<{ owner: AuditResource; cidrs: string[]; space: string }> = [];
  for (const rules of groups.values()) {
    const admitting = rules.filter((j) => admits(j, 'tcp', 22));
    const cidrs = admitting.flatMap((j) => j.cidrs);
    const space = cidrSpace(cidrs);
    if (admitting.length > 0 && (space.world || space.unparsable.length > 0))
      out.push({ owner: admitting[0]!.owner, cidrs, space: describeSpace(space) });
  }
  return out;
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
        out.push({
          owner: r,
          groupId: r.id,
          protocol: x.protocol,
          from: x.fromPort,
          to: x.toPort,
          cidrs: [...asArray(x.cidrBlocks as string[]), ...asArray(x.ipv6CidrBlocks as string[])].filter((c) => c !== PULUMI_UNKNOWN),
        });
      }
    } else if (r.type === T.sgRule && r.inputs.type === 'ingress') {
      out.push({
        owner: r,
        groupId: r.inputs.securityGroupId as string | undefined,
        protocol: r.inputs.protocol,
        from: r.inputs.fromPort,
        to: r.inputs.toPort,
        cidrs: [...asArray(r.inputs.cidrBlocks as string[]), ...asArray(r.inputs.ipv6CidrBlocks as string[])].filter(
          (c) => c !== PULUMI_UNKNOWN,
        ),
      });
    } else if (r.type === T.sgIngress) {
      out.push({
        owner: r,
        groupId: r.inputs.securityGroupId as string | undefined,
        protocol: r.inputs.ipProtocol,
        from: r.inputs.fromPort,
        to: r.inputs.toPort,
        cidrs: [r.inputs.cidrIpv4, r.inputs.cidrIpv6].filter((c): c is string => typeof c === 'string' && c !== PULUMI_UNKNOWN),
      });
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
    const environment = d !== null && typeof d === 'object' ? (d as Record<string, unknown>).environment : undefined;
    return Array.isArray(environment) ? environment : [];
  });
}

export { PULUMI_UNKNOWN };

function loadBalancerGroupIds(resources: readonly AuditResource[]): Set<string> {
  const ids = new Set<string>();
  for (const r of resources)
    if (r.type === T.lb || r.type === T.alb) for (const id of asArray(r.inputs.securityGroups as string[])) ids.add(id);
  return ids;
}

function parsePolicy(value: unknown): Statement[] {
  const read = readPolicy(value);
  return read.kind === 'statements' ? read.statements : [];
}

/** Identity policies of a stack, with the resource each came from. */
function identityPolicies(resources: readonly AuditResource[]): Array<{ owner: AuditResource; read: ReturnType<typeof readPolicy> }> {
  const out: Array<{ owner: AuditResource; read: ReturnType<typeof readPolicy> }> = [];
  for (const r of resources) {
    if (r.type === T.rolePolicy || r.type === T.policy || r.type === T.userPolicy || r.type === T.groupPolicy)
      out.push({ owner: r, read: readPolicy(r.inputs.policy) });
    if (r.type === T.role)
      for (const inline of asArray(r.inputs.inlinePolicies as unknown[]).slice(0, 100))
        out.push({ owner: r, read: readPolicy(rec(inline).policy) });
  }
  return out;
}

function bucketKeys(r: AuditResource): Set<string> {
  return new Set(
    [r.id, r.name, r.inputs.bucket, r.state?.bucket, r.state?.id].filter((v): v is string => typeof v === 'string' && v !== ''),
  );
}

function forBucket(resources: readonly AuditResource[], types: string[], bucket: AuditResource): AuditResource[] {
  const keys = bucketKeys(bucket);
  return resources.filter((r) => types.includes(r.type) && typeof r.inputs.bucket === 'string' && keys.has(r.inputs.bucket));
}

/** Resource types that launch instances (each must require IMDSv2 and encrypt its volumes). */
const LAUNCHING = new Set<string>([T.lt, T.instance, T.spotRequest, T.launchConfig]);

/** Whether `r` launches from a launch template registered in this stack. */
function templateInStack(resources: readonly AuditResource[], r: AuditResource): boolean {
  const spec = rec(r.inputs.launchTemplate);
  const keys = [spec.id, spec.name].filter((v): v is string => typeof v === 'string' && v !== '');
  if (keys.length === 0) return false;
  return resources.some(
    (t) => t.type === T.lt && [t.id, t.name, t.inputs.name, t.state?.id].some((k) => typeof k === 'string' && keys.includes(k)),
  );
}

/** Every managed-policy ARN a stack attaches, with the resource that attaches it. */
function managedPolicyAttachments(resources: readonly AuditResource[]): Array<{ owner: AuditResource; arn: unknown }> {
  const out: Array<{ owner: AuditResource; arn: unknown }> = [];
  for (const r of resources) {
    if (r.type === T.role) for (const arn of asArray(r.inputs.managedPolicyArns as unknown[]).slice(0, 100)) out.push({ owner: r, arn });
    if ([T.attachment, T.userAttachment, T.groupAttachment, T.policyAttachment].includes(r.type as never))
      out.push({ owner: r, arn: r.inputs.policyArn });
  }
  return out;
}

/** Every `name=value` a resource puts into a process environment in plain text. */
function plainEnvironment(r: AuditResource): Array<{ name: unknown; value: unknown }> {
  if (r.type === T.taskDef) return containerEnvironment(r).map((e) => ({ name: rec(e).name, value: rec(e).value }));
  if (r.type === T.batchJob)
    return containerEnvironment({ ...r, inputs: { containerDefinitions: wrapList(r.inputs.containerProperties) } }).map((e) => ({
      name: rec(e).name,
      value: rec(e).value,
    }));
  if (r.type === T.lambda)
    return Object.entries(rec(rec(r.inputs.environment).variables))
      .slice(0, 1000)
      .map(([name, value]) => ({ name, value }));
  if (LAUNCHING.has(r.type)) return [...userDataEnvironment(r.inputs.userData), ...userDataEnvironment(r.inputs.userDataBase64)];
  return [];
}

/** A Batch job's containerProperties (one container, as JSON text or an object) as a list of one. */
function wrapList(value: unknown): unknown[] {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return [];
    }
  }
  return v === undefined || v === null ? [] : [v];
}

function statementFindings(owner: AuditResource, s: Statement): Finding[] {
  if (!isAllow(s)) return [];
  const out: Finding[] = [];
  const label = typeof s.Sid === 'string' && s.Sid !== '' ? `statement ${s.Sid.slice(0, 64)}` : 'a statement';
  const finding = (message: string, fix: string): Finding => ({
    rule: 'iam-wildcard',
    severity: 'error',
    resource: ref(owner),
    message,
    fix,
  });
  const actions = stringList(s.Action);
  if (actions === undefined)
    out.push(
      finding(`${label} has an Action that is not a string or list of strings: cannot be judged`, 'list the exact actions as strings'),
    );
  else {
    const wild = actions.filter(isWildcardAction);
    if (wild.length > 0)
      out.push(
        finding(
          `${label} allows ${wild
            .slice(0, 5)
            .map((a) => a.slice(0, 64))
            .join(', ')} (a wildcard matches every action it can spell)`,
          'list the exact actions the code calls',
        ),
      );
  }
  if (s.NotAction !== undefined) out.push(finding(`${label} uses NotAction with Allow`, 'list the allowed actions instead'));
  if (s.NotResource !== undefined)
    out.push(finding(`${label} uses NotResource with Allow (every resource but a few)`, 'list the resources instead'));
  const resources = stringList(s.Resource);
  const wildResources = resources === undefined ? ['(unreadable Resource)'] : resources.filter(isWildcardResource);
  if (wildResources.length > 0 && !conditionRestricts(s.Condition)) {
    const why = s.Condition === undefined ? 'without a condition' : 'with a condition that cannot restrict it';
    out.push(
      finding(
        `${label} applies to ${wildResources
          .slice(0, 5)
          .map((r) => r.slice(0, 80))
          .join(', ')} (every resource of its kind) ${why}`,
        'scope it to ARNs, or add a condition that restricts (tag, region, namespace)',
      ),
    );
  }
  return out;
}

export const AUDIT_RULES: readonly AuditRule[] = [
  {
    id: 'ssh-open',
    severity: 'error',
    description: 'SSH (22) open to the world, judged by the address space all rules of a group open together (use SSM Session Manager)',
    check: (resources) =>
      sshOpenings(resources).map((o) => ({
        rule: 'ssh-open',
        severity: 'error',
        resource: ref(o.owner),
        message: `SSH (port 22) is open to ${o.cidrs.slice(0, 8).join(', ')}${o.cidrs.some((c) => c === '0.0.0.0/0' || c === '::/0') ? '' : ` (${o.space})`}`,
        fix: 'remove the rule (sshCidrBlocks: []) and connect with `aws ssm start-session`',
      })),
  },
  {
    id: 'world-ingress',
    severity: 'error',
    description:
      'ingress from the world (any CIDR set opening at least a /8 of public IPv4 or a /16 of public IPv6) on anything but 80/443 of a load balancer',
    check: (resources) => {
      const lbGroups = loadBalancerGroupIds(resources);
      // In a preview, group ids are not known yet: a web-only rule may belong to a load balancer.
      const unknownLbGroups = lbGroups.has(PULUMI_UNKNOWN);
      const seen = new Set<string>();
      return worldOpenings(resources)
        .filter((o) => !(o.protocol === 'tcp' && Number(o.rule.from) === 22 && Number(o.rule.to) === 22)) // reported by ssh-open
        .flatMap((o): Finding[] => {
          const i = o.rule;
          const key = `${ref(i.owner)}|${String(i.protocol)}|${String(i.from)}|${String(i.to)}`;
          if (seen.has(key)) return [];
          seen.add(key);
          const webOnly = o.protocol === 'tcp' && Number(i.from) === Number(i.to) && (Number(i.from) === 80 || Number(i.from) === 443);
          if (webOnly && i.groupId !== undefined && lbGroups.has(i.groupId)) return [];
          const alone = cidrSpace(i.cidrs);
          const via =
            alone.unparsable.length > 0
              ? ` (${describeSpace(alone)})`
              : alone.world
                ? ''
                : ` (with the group's other rules: ${o.cidrs.slice(0, 8).join(', ')}: ${o.space})`;
          const where = `ports ${String(i.from)}-${String(i.to)}/${String(i.protocol)} are open to the world${via}`;
          if (webOnly && unknownLbGroups) {
            return [
              {
                rule: 'world-ingress',
                severity: 'warning',
                resource: ref(i.owner),
                message: `${where}; cannot tell from a preview whether this group is a load balancer's`,
                fix: 'audit the stack export after the first deploy',
              },
            ];
          }
          return [
            {
              rule: 'world-ingress',
              severity: 'error',
              resource: ref(i.owner),
              message: where,
              fix: 'allow only known CIDR blocks, or put a load balancer (80/443 only) in front',
            },
          ];
        });
    },
  },
  {
    id: 'imds-v1',
    severity: 'error',
    description:
      'every instance-launching resource (instance, spot instance request, launch template, launch configuration) requires IMDSv2 tokens (hop limit ≥ 2 for containers)',
    check: (resources) =>
      resources.flatMap((r): Finding[] => {
        if (!LAUNCHING.has(r.type)) return [];
        // An instance launched from a template of this stack, setting nothing itself, gets the template's options (judged there).
        if (r.inputs.metadataOptions === undefined && (r.type === T.instance || r.type === T.spotRequest) && templateInStack(resources, r))
          return [];
        const m = rec(r.inputs.metadataOptions);
        const tokens = String(m.httpTokens ?? 'optional').toLowerCase();
        const out: Finding[] = [];
        if (tokens !== 'required' && String(m.httpEndpoint ?? '').toLowerCase() !== 'disabled') {
          out.push({
            rule: 'imds-v1',
            severity: 'error',
            resource: ref(r),
            message: `IMDSv1 allowed (httpTokens: ${String(m.httpTokens ?? 'optional')})`,
            fix: "set metadataOptions.httpTokens: 'required'",
          });
        }
        if (tokens === 'required' && m.httpPutResponseHopLimit !== undefined && Number(m.httpPutResponseHopLimit) < 2) {
          out.push({
            rule: 'imds-v1',
            severity: 'warning',
            resource: ref(r),
            message: `hop limit ${String(m.httpPutResponseHopLimit)}: containers cannot get an IMDSv2 token`,
            fix: 'set metadataOptions.httpPutResponseHopLimit: 2',
          });
        }
        return out;
      }),
  },
  {
    id: 'unencrypted-volume',
    severity: 'error',
    description:
      'every EBS volume form is encrypted: launch template blockDeviceMappings, rootBlockDevice and ebsBlockDevices of instances, spot instance requests and launch configurations, aws:ebs/volume',
    check: (resources) =>
      resources.flatMap((r): Finding[] => {
        const bad = (what: string): Finding => ({
          rule: 'unencrypted-volume',
          severity: 'error',
          resource: ref(r),
          message: `${what} is not encrypted`,
          fix: "set encrypted: 'true' (or turn on EBS encryption by default and say so here)",
        });
        if (r.type === T.lt) {
          return asArray(r.inputs.blockDeviceMappings as unknown[])
            .filter((b) => rec(b).ebs !== undefined && !truthy(rec(rec(b).ebs).encrypted))
            .slice(0, 50)
            .map((b) => bad(`volume ${String(rec(b).deviceName).slice(0, 64)}`));
        }
        if (r.type === T.instance || r.type === T.spotRequest || r.type === T.launchConfig) {
          const out: Finding[] = [];
          if (r.inputs.rootBlockDevice !== undefined && !truthy(rec(r.inputs.rootBlockDevice).encrypted)) out.push(bad('the root volume'));
          for (const b of asArray(r.inputs.ebsBlockDevices as unknown[]).slice(0, 50)) {
            if (!truthy(rec(b).encrypted)) out.push(bad(`volume ${String(rec(b).deviceName).slice(0, 64)}`));
          }
          return out;
        }
        if (r.type === T.volume) return truthy(r.inputs.encrypted) ? [] : [bad('the volume')];
        return [];
      }),
  },
  {
    id: 'bucket-encryption',
    severity: 'error',
    description: 'every bucket has default server-side encryption',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.bucket || r.type === T.bucketV2)
        .filter((b) => b.inputs.serverSideEncryptionConfiguration === undefined && forBucket(resources, [T.sse, T.sseV2], b).length === 0)
        .map((b) => ({
          rule: 'bucket-encryption',
          severity: 'error',
          resource: ref(b),
          message: 'no default encryption configuration',
          fix: 'add a BucketServerSideEncryptionConfiguration (SecureBucket does)',
        })),
  },
  {
    id: 'bucket-public',
    severity: 'error',
    description: 'every bucket blocks public access; no public ACL or policy',
    check: (resources) => {
      const out: Finding[] = [];
      for (const b of resources.filter((r) => r.type === T.bucket || r.type === T.bucketV2)) {
        const blocks = forBucket(resources, [T.pab], b);
        const full = blocks.some((p) =>
          ['blockPublicAcls', 'blockPublicPolicy', 'ignorePublicAcls', 'restrictPublicBuckets'].every((k) => p.inputs[k] === true),
        );
        if (!full)
          out.push({
            rule: 'bucket-public',
            severity: 'error',
            resource: ref(b),
            message: 'public access is not fully blocked',
            fix: 'add a BucketPublicAccessBlock with all four settings true',
          });
        if (typeof b.inputs.acl === 'string' && /public/.test(b.inputs.acl))
          out.push({
            rule: 'bucket-public',
            severity: 'error',
            resource: ref(b),
            message: `ACL ${b.inputs.acl}`,
            fix: 'remove the ACL (use BucketOwnerEnforced ownership)',
          });
      }
      for (const acl of resources.filter((r) => r.type === T.bucketAcl)) {
        if (typeof acl.inputs.acl === 'string' && /public/.test(acl.inputs.acl))
          out.push({
            rule: 'bucket-public',
            severity: 'error',
            resource: ref(acl),
            message: `ACL ${acl.inputs.acl}`,
            fix: 'remove the public ACL',
          });
      }
      for (const p of resources.filter((r) => r.type === T.bucketPolicy)) {
        for (const s of parsePolicy(p.inputs.policy)) {
          const principal = s.Principal;
          const anyone = principal === '*' || asArray(rec(principal).AWS as string | string[]).includes('*');
          if (isAllow(s) && anyone && !conditionRestricts(s.Condition))
            out.push({
              rule: 'bucket-public',
              severity: 'error',
              resource: ref(p),
              message: `statement ${typeof s.Sid === 'string' ? s.Sid.slice(0, 64) : ''} allows anyone`,
              fix: 'name the principals, or add a condition that restricts',
            });
        }
      }
      return out;
    },
  },
  {
    id: 'iam-wildcard',
    severity: 'error',
    description: 'no "*" actions, and no "*" resources without a condition',
    check: (resources) => {
      const out: Finding[] = [];
      for (const { owner, read } of identityPolicies(resources)) {
        if (read.kind === 'unreadable')
          out.push({
            rule: 'iam-wildcard',
            severity: 'error',
            resource: ref(owner),
            message: `the policy cannot be read (${read.why}): it cannot be judged`,
            fix: 'give the policy as a JSON document with a Statement list',
          });
        if (read.kind === 'statements') for (const s of read.statements) out.push(...statementFindings(owner, s));
        if (out.length > 500) break;
      }
      return out;
    },
  },
  {
    id: 'iam-broad-managed-policy',
    severity: 'error',
    description:
      'no AWS managed administrator or service-wide policy (AdministratorAccess, PowerUserAccess, IAMFullAccess, *FullAccess, ...) through managedPolicyArns or any policy attachment',
    check: (resources) =>
      managedPolicyAttachments(resources).flatMap(({ owner, arn }): Finding[] => {
        const name = broadManagedPolicy(arn);
        return name === undefined
          ? []
          : [
              {
                rule: 'iam-broad-managed-policy',
                severity: 'error',
                resource: ref(owner),
                message: `attaches ${name} (${String(arn).slice(0, 120)})`,
                fix: 'attach a policy limited to what the role does',
              },
            ];
      }),
  },
  {
    id: 'long-lived-keys',
    severity: 'error',
    description: 'no IAM access keys: roles only',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.accessKey)
        .map((r) => ({
          rule: 'long-lived-keys',
          severity: 'error',
          resource: ref(r),
          message: 'creates a long-lived access key',
          fix: 'give the caller a role to assume (SpotBatchFleet.coordinatorRoleArn)',
        })),
  },
  {
    id: 'plain-secret-env',
    severity: 'error',
    description:
      'no secret-looking variable (DB_PWD, *PASS*, *TOKEN*, *SECRET*, *KEY*) with a literal value in ECS/Batch containers, Lambda or user data',
    check: (resources) =>
      resources.flatMap((r): Finding[] =>
        plainSecretNames(plainEnvironment(r)).map((n) => ({
          rule: 'plain-secret-env',
          severity: 'error',
          resource: ref(r),
          message: `environment variable ${n} looks like a secret in plain text`,
          fix: 'pass it by reference (an ECS secret valueFrom Secrets Manager/SSM, or read it from SSM at boot)',
        })),
      ),
  },
  {
    id: 'spot-template-in-mixed-group',
    severity: 'error',
    description: 'a mixed-instances group must use an on-demand launch template',
    check: (resources) => {
      const spotTemplates = new Map(
        resources.filter((r) => r.type === T.lt && r.inputs.instanceMarketOptions !== undefined).map((r) => [r.id ?? r.name, r]),
      );
      return resources
        .filter((r) => r.type === T.asg)
        .flatMap((g): Finding[] => {
          const spec = rec(rec(rec(g.inputs.mixedInstancesPolicy).launchTemplate).launchTemplateSpecification);
          const id = spec.launchTemplateId;
          return typeof id === 'string' && spotTemplates.has(id)
            ? [
                {
                  rule: 'spot-template-in-mixed-group',
                  severity: 'error',
                  resource: ref(g),
                  message: `launch template ${id} sets instanceMarketOptions (AWS rejects it in a mixed-instances group)`,
                  fix: 'remove instanceMarketOptions; the instancesDistribution decides spot',
                },
              ]
            : [];
        });
    },
  },
  {
    id: 'lb-without-listener',
    severity: 'error',
    description: 'a load balancer has at least one listener',
    check: (resources) => {
      const listeners = resources.filter((r) => r.type === T.listener || r.type === T.albListener);
      const targets = new Set(listeners.map((l) => l.inputs.loadBalancerArn).filter((v): v is string => typeof v === 'string'));
      return resources
        .filter((r) => r.type === T.lb || r.type === T.alb)
        .filter((lb) => {
          const keys = [lb.state?.arn, lb.id].filter((v): v is string => typeof v === 'string');
          return (
            listeners.length === 0 ||
            (keys.length > 0 && targets.size > 0 && !keys.some((k) => targets.has(k)) && [...targets].every((t) => t.startsWith('arn:')))
          );
        })
        .map((lb) => ({
          rule: 'lb-without-listener',
          severity: 'error',
          resource: ref(lb),
          message: 'no listener: it accepts no traffic',
          fix: 'add a listener (HTTPS with a certificate, or HTTP)',
        }));
    },
  },
  {
    id: 'queue-encryption',
    severity: 'warning',
    description: 'queues encrypt messages at rest',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.queue && !truthy(r.inputs.sqsManagedSseEnabled) && r.inputs.kmsMasterKeyId === undefined)
        .map((r) => ({
          rule: 'queue-encryption',
          severity: 'warning',
          resource: ref(r),
          message: 'messages are not encrypted at rest',
          fix: 'set sqsManagedSseEnabled: true',
        })),
  },
  {
    id: 'ecr-scan',
    severity: 'warning',
    description: 'images are scanned on push',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.ecr && !truthy(rec(r.inputs.imageScanningConfiguration).scanOnPush))
        .map((r) => ({
          rule: 'ecr-scan',
          severity: 'warning',
          resource: ref(r),
          message: 'no scan on push',
          fix: 'set imageScanningConfiguration.scanOnPush: true',
        })),
  },
  {
    id: 'log-retention',
    severity: 'warning',
    description: 'log groups expire',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.logGroup && (r.inputs.retentionInDays === undefined || Number(r.inputs.retentionInDays) === 0))
        .map((r) => ({
          rule: 'log-retention',
          severity: 'warning',
          resource: ref(r),
          message: 'logs are kept forever',
          fix: 'set retentionInDays',
        })),
  },
];
