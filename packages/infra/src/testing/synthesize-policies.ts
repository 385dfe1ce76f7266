/**
 * The IAM roles a stack creates, as plain JSON: each role's trust policy, inline policies,
 * attached managed policy ARNs (and the documents of managed policies the stack itself
 * makes), and its instance profiles. Built by running the component under Pulumi mocks,
 * so an emulated AWS that enforces these documents enforces exactly what the component
 * builds today, never a copy of it.
 */
import type * as pulumi from '@pulumi/pulumi';
import { SpotServeFleet, type SpotServeFleetArgs } from '../aws/spot-serve-fleet.ts';
import type { PolicyDocument } from '../aws/iam-policy.ts';
import { runMockStack, type MockStackOptions, type RecordedResource } from './mock-stack.ts';

export interface SynthesizedPolicy {
  name: string;
  document: PolicyDocument;
}

export interface SynthesizedManagedPolicy extends SynthesizedPolicy {
  /** ARN the mock gave it (the emulated account assigns its own). */
  arn: string;
}

export interface SynthesizedRole {
  /** Physical role name (e.g. `synkti-worker`). */
  name: string;
  /** ARN under the mock account (123456789012, moto's account too). */
  arn: string;
  /** Path of the role. @default '/' */
  path: string;
  trustPolicy: PolicyDocument;
  /** Inline policies (RolePolicy resources and the role's own `inlinePolicies`). */
  inlinePolicies: SynthesizedPolicy[];
  /** ARNs of AWS managed policies attached (documents come from the emulated account). */
  managedPolicyArns: string[];
  /** Managed policies this stack creates and attaches to the role, with their documents. */
  customerManagedPolicies: SynthesizedManagedPolicy[];
  /** Names of the instance profiles that carry the role. */
  instanceProfiles: string[];
}

/** Logical name of the synthesized fleet (its resources are `serve-*`). */
const SERVE_NAME = 'serve';

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function parseDocument(value: unknown, what: string): PolicyDocument {
  if (typeof value === 'string') return JSON.parse(value) as PolicyDocument;
  if (value && typeof value === 'object') return value as PolicyDocument;
  throw new Error(`${what}: no policy document (got ${typeof value})`);
}

/** The roles among recorded resources (pure: for tests that already ran a mock stack). */
export function rolesFromResources(resources: readonly RecordedResource[]): SynthesizedRole[] {
  const roles = resources.filter((r) => r.type === 'aws:iam/role:Role');
  const managed = resources.filter((r) => r.type === 'aws:iam/policy:Policy');
  const byRef = new Map<string, SynthesizedRole>();
  const out: SynthesizedRole[] = [];
  for (const r of roles) {
    const name = text(r.state.name) ?? r.id;
    const role: SynthesizedRole = {
      name,
      arn: text(r.state.arn) ?? '',
      path: text(r.inputs.path) ?? '/',
      trustPolicy: parseDocument(r.inputs.assumeRolePolicy, `role ${name} trust policy`),
      inlinePolicies: [],
      managedPolicyArns: [],
      customerManagedPolicies: [],
      instanceProfiles: [],
    };
    // Inline policies given on the role itself.
    for (const inline of (r.inputs.inlinePolicies ?? []) as Array<{ name?: string; policy?: string }>) {
      if (inline.policy)
        role.inlinePolicies.push({
          name: inline.name ?? `${name}-inline`,
          document: parseDocument(inline.policy, `role ${name} inline policy`),
        });
    }
    for (const arn of (r.inputs.managedPolicyArns ?? []) as string[]) role.managedPolicyArns.push(arn);
    // Children refer to the role by its id or its name; in the mock both are the physical name.
    byRef.set(r.id, role);
    byRef.set(name, role);
    out.push(role);
  }
  const roleOf = (r: RecordedResource): SynthesizedRole => {
    const ref = text(r.inputs.role);
    const role = ref === undefined ? undefined : byRef.get(ref);
    if (!role) throw new Error(`${r.type} ${r.name} names role ${ref ?? '(none)'}, which this stack does not create`);
    return role;
  };
  for (const r of resources) {
    if (r.type === 'aws:iam/rolePolicy:RolePolicy') {
      roleOf(r).inlinePolicies.push({
        name: text(r.inputs.name) ?? text(r.state.name) ?? r.name,
        document: parseDocument(r.inputs.policy, `role policy ${r.name}`),
      });
    } else if (r.type === 'aws:iam/rolePolicyAttachment:RolePolicyAttachment') {
      const role = roleOf(r);
      const arn = text(r.inputs.policyArn) ?? '';
      const own = managed.find((p) => p.state.arn === arn || p.id === arn);
      if (own) {
        role.customerManagedPolicies.push({
          name: text(own.state.name) ?? own.name,
          arn,
          document: parseDocument(own.inputs.policy, `policy ${own.name}`),
        });
      } else {
        role.managedPolicyArns.push(arn);
      }
    } else if (r.type === 'aws:iam/instanceProfile:InstanceProfile' && text(r.inputs.role) !== undefined) {
      roleOf(r).instanceProfiles.push(text(r.state.name) ?? r.id);
    }
  }
  return out;
}

/** Every IAM role `build` creates, under Pulumi mocks. */
export async function synthesizeRoles(
  build: (opts: pulumi.ComponentResourceOptions) => unknown,
  options: MockStackOptions = {},
): Promise<SynthesizedRole[]> {
  const { resources } = await runMockStack(build, options);
  return rolesFromResources(resources);
}

export interface SynthesizeServeOptions extends MockStackOptions {
  /** Id of the workers' security group in the emulated account (the policy names it). @default the mock's */
  workerSecurityGroupId?: string | undefined;
  /** ARN of the routers' target group in the emulated account (with `args.loadBalancer`). @default the mock's */
  targetGroupArn?: string | undefined;
}

/**
 * The roles of a `SpotServeFleet` (today: the worker role). Pass `workerSecurityGroupId`
 * and `targetGroupArn`, and `vpcId`/`subnetIds`/`imageId` in `args`, so policies naming them match the emulated
 * account's resources.
 */
export function synthesizeServeFleetRoles(args: SpotServeFleetArgs = {}, options: SynthesizeServeOptions = {}): Promise<SynthesizedRole[]> {
  const { workerSecurityGroupId, targetGroupArn, ...mock } = options;
  const physicalIds = {
    ...mock.physicalIds,
    ...(workerSecurityGroupId ? { [`aws:ec2/securityGroup:SecurityGroup::${SERVE_NAME}-worker`]: workerSecurityGroupId } : {}),
    ...(targetGroupArn ? { [`aws:lb/targetGroup:TargetGroup::${SERVE_NAME}-routers`]: targetGroupArn } : {}),
  };
  return synthesizeRoles((opts) => new SpotServeFleet(SERVE_NAME, args, opts), { ...mock, physicalIds });
}

// PipelineCluster's ECS side (roles, task definitions, services, bucket, stored secrets).
export {
  synthesizePipelineCluster,
  type SynthesizedPipelineCluster,
  type SynthesizedTaskDefinition,
  type SynthesizedContainer,
  type SynthesizedEcsService,
} from './synthesize-pipeline-cluster.ts';
