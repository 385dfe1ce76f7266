/**
 * Runs Pulumi programs against `pulumi.runtime.setMocks` and returns every resource they
 * register, with its resolved inputs and its protect/retainOnDelete options. Used by the
 * mock tests and by `synkti infra audit` (no Pulumi CLI, no cloud account needed).
 *
 * Mocked clouds answer with plausible ids and ARNs (account 123456789012) so policies that
 * embed ARNs of other resources resolve to checkable strings.
 */
import * as pulumi from '@pulumi/pulumi';

export const MOCK_ACCOUNT = '123456789012';

export interface RecordedResource {
  /** Type token, e.g. `aws:s3/bucket:Bucket`. */
  type: string;
  /** Logical name. */
  name: string;
  /** Id the mock gave it (physical names for buckets, queue URLs for queues). */
  id: string;
  /** Inputs as the provider would receive them (outputs resolved). */
  inputs: Record<string, unknown>;
  /** State the mock returned (inputs plus computed ids and ARNs). */
  state: Record<string, unknown>;
  protect: boolean;
  retainOnDelete: boolean;
  /** Properties Pulumi leaves alone after creation (e.g. a desired count autoscaling owns). */
  ignoreChanges: string[];
  /** False for component resources. */
  custom: boolean;
  /** Provider reference (`<provider urn>::<id>`) the resource was registered with, if any. */
  provider: string | undefined;
}

export interface MockStackOptions {
  /** @default 'synkti' */
  project?: string | undefined;
  /** Stack name (selects the environment preset where components read it). @default 'dev' */
  stack?: string | undefined;
  /** Region used in mocked ARNs and URLs. @default 'us-east-1' */
  region?: string | undefined;
  /**
   * Ids to give resources instead of the mock's, keyed `<type>::<logical name>` (e.g.
   * `aws:ec2/securityGroup:SecurityGroup::serve-worker`: the id of a security group that
   * exists in an emulated AWS, so policies naming it match the real one).
   * @default {}
   */
  physicalIds?: Record<string, string> | undefined;
}

export interface MockStackResult<T> {
  resources: RecordedResource[];
  /** What the program returned. */
  value: T;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function mockState(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  region: string,
): { id: string; state: Record<string, unknown> } {
  const acct = MOCK_ACCOUNT;
  const physical = str(inputs.name) ?? (str(inputs.namePrefix) ? `${str(inputs.namePrefix)}mock` : name);
  switch (type) {
    case 'aws:s3/bucket:Bucket': {
      const bucket = str(inputs.bucket) ?? `${str(inputs.bucketPrefix) ?? `${name}-`}mock`;
      return { id: bucket, state: { ...inputs, bucket, arn: `arn:aws:s3:::${bucket}` } };
    }
    case 'aws:sqs/queue:Queue': {
      const url = `https://sqs.${region}.amazonaws.com/${acct}/${physical}`;
      return { id: url, state: { ...inputs, name: physical, url, arn: `arn:aws:sqs:${region}:${acct}:${physical}` } };
    }
    case 'aws:iam/role:Role':
      return { id: physical, state: { ...inputs, name: physical, arn: `arn:aws:iam::${acct}:role/${physical}` } };
    case 'aws:iam/instanceProfile:InstanceProfile':
      return { id: physical, state: { ...inputs, name: physical, arn: `arn:aws:iam::${acct}:instance-profile/${physical}` } };
    case 'aws:ec2/securityGroup:SecurityGroup':
      return { id: `sg-${name}`, state: { ...inputs, name: physical, arn: `arn:aws:ec2:${region}:${acct}:security-group/sg-${name}` } };
    case 'aws:ec2/launchTemplate:LaunchTemplate':
      return { id: `lt-${name}`, state: { ...inputs, name: physical, latestVersion: 1 } };
    case 'aws:ecr/repository:Repository':
      return {
        id: physical,
        state: {
          ...inputs,
          name: physical,
          arn: `arn:aws:ecr:${region}:${acct}:repository/${physical}`,
          repositoryUrl: `${acct}.dkr.ecr.${region}.amazonaws.com/${physical}`,
        },
      };
    case 'aws:ecs/cluster:Cluster':
      return {
        id: `arn:aws:ecs:${region}:${acct}:cluster/${physical}`,
        state: { ...inputs, name: physical, arn: `arn:aws:ecs:${region}:${acct}:cluster/${physical}` },
      };
    case 'aws:lb/targetGroup:TargetGroup':
      return {
        id: physical,
        state: {
          ...inputs,
          name: physical,
          arn: `arn:aws:elasticloadbalancing:${region}:${acct}:targetgroup/${physical}/0123456789abcdef`,
        },
      };
    case 'aws:lb/loadBalancer:LoadBalancer':
      return {
        id: physical,
        state: {
          ...inputs,
          name: physical,
          arn: `arn:aws:elasticloadbalancing:${region}:${acct}:loadbalancer/app/${physical}/mock`,
          dnsName: `${physical}.${region}.elb.amazonaws.com`,
        },
      };
    case 'aws:rds/instance:Instance': {
      // RDS's managed master password lives in a secret RDS names itself; policies and `secrets` name its ARN.
      const identifier = str(inputs.identifier) ?? name;
      const secrets =
        inputs.manageMasterUserPassword === true
          ? [
              {
                secretArn: `arn:aws:secretsmanager:${region}:${acct}:secret:rds!db-${identifier}-mock`,
                secretStatus: 'active',
                kmsKeyId: '',
              },
            ]
          : [];
      return {
        id: identifier,
        state: {
          ...inputs,
          identifier,
          address: `${identifier}.mock.${region}.rds.amazonaws.com`,
          arn: `arn:aws:rds:${region}:${acct}:db:${identifier}`,
          masterUserSecrets: secrets,
        },
      };
    }
    case 'aws:rds/proxy:Proxy':
      return {
        id: physical,
        state: {
          ...inputs,
          name: physical,
          endpoint: `${physical}.proxy-mock.${region}.rds.amazonaws.com`,
          arn: `arn:aws:rds:${region}:${acct}:db-proxy:${physical}`,
        },
      };
    default: {
      const service = type.split(':')[1]?.split('/')[0] ?? 'mock';
      return { id: `${name}-id`, state: { ...inputs, name: physical, arn: `arn:aws:${service}:${region}:${acct}:${name}` } };
    }
  }
}

/**
 * The mock's state with its id replaced, in its ARN too: an ARN given as the id (target
 * groups, load balancers) is the ARN; a security group's ARN ends in its id.
 */
function withId(type: string, state: Record<string, unknown>, mockId: string, id: string): Record<string, unknown> {
  const arn = str(state.arn);
  if (id.startsWith('arn:')) return { ...state, arn: id };
  return type === 'aws:ec2/securityGroup:SecurityGroup' && arn ? { ...state, arn: arn.replace(mockId, id) } : state;
}

function mockCall(token: string, inputs: Record<string, unknown>, region: string): Record<string, unknown> {
  switch (token) {
    case 'aws:index/getCallerIdentity:getCallerIdentity':
      return { accountId: MOCK_ACCOUNT, arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/mock`, userId: 'AIDAMOCK', id: MOCK_ACCOUNT };
    case 'aws:ec2/getVpc:getVpc':
      return { id: 'vpc-default', cidrBlock: '172.31.0.0/16', default: true };
    case 'aws:ec2/getSubnets:getSubnets':
      return { id: region, ids: ['subnet-0000000a', 'subnet-0000000b', 'subnet-0000000c'] };
    case 'aws:ec2/getSubnet:getSubnet': {
      // The zone is the id's last hex digit when a-f (subnet-0000000b → <region>b), else the region's a.
      const id = String(inputs.id ?? '');
      return { ...inputs, id, availabilityZone: `${region}${/[a-f]$/.test(id) ? id.slice(-1) : 'a'}` };
    }
    case 'aws:index/getAvailabilityZones:getAvailabilityZones':
      return { id: region, names: [`${region}a`, `${region}b`, `${region}c`], zoneIds: ['use1-az1', 'use1-az2', 'use1-az4'] };
    default:
      return inputs;
  }
}

function settle<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => {
    output.apply((value) => {
      resolve(value);
      return value;
    });
  });
}

/**
 * Runs `build` under mocks; `build` gets resource options to pass to its top-level
 * components (they record the resource options of every descendant). Resolves once
 * every resource created has been registered.
 */
export async function runMockStack<T>(
  build: (opts: pulumi.ComponentResourceOptions) => T,
  options: MockStackOptions = {},
): Promise<MockStackResult<T>> {
  const region = options.region ?? 'us-east-1';
  const registered = new Map<
    string,
    {
      type: string;
      name: string;
      id: string;
      inputs: Record<string, unknown>;
      state: Record<string, unknown>;
      custom: boolean;
      provider: string | undefined;
    }
  >();
  const flags = new Map<string, { protect: boolean; retainOnDelete: boolean; ignoreChanges: string[] }>();
  const created: pulumi.Resource[] = [];
  const key = (type: string, name: string): string => `${type}::${name}`;

  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs = (args.inputs ?? {}) as Record<string, unknown>;
        const mocked = mockState(args.type, args.name, inputs, region);
        const given = options.physicalIds?.[key(args.type, args.name)];
        const { id, state } = given === undefined ? mocked : { id: given, state: withId(args.type, mocked.state, mocked.id, given) };
        registered.set(key(args.type, args.name), {
          type: args.type,
          name: args.name,
          id,
          inputs,
          state,
          custom: args.custom ?? true,
          provider: args.provider || undefined,
        });
        return { id, state };
      },
      call(args) {
        return mockCall(args.token, (args.inputs ?? {}) as Record<string, unknown>, region);
      },
    },
    options.project ?? 'synkti',
    options.stack ?? 'dev',
    false,
  );

  const record: pulumi.ResourceTransformation = (args) => {
    created.push(args.resource);
    flags.set(key(args.type, args.name), {
      protect: args.opts.protect === true,
      retainOnDelete: args.opts.retainOnDelete === true,
      ignoreChanges: [...(args.opts.ignoreChanges ?? [])],
    });
    return undefined;
  };
  const waitForRPCs = (pulumi.runtime as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  let value: T;
  try {
    value = build({ transformations: [record] });
  } catch (error) {
    if (waitForRPCs) await waitForRPCs();
    throw error;
  }
  // Every resource's URN resolves after its registration; new ones may appear meanwhile.
  let seen = 0;
  while (seen < created.length) {
    const batch = created.slice(seen);
    seen = created.length;
    await Promise.all(batch.map((resource) => settle(resource.urn)));
  }
  // Component outputs register after their children; wait for that too, or it would land
  // on the next run's mock monitor ("unknown resource").
  if (waitForRPCs) await waitForRPCs();
  const resources: RecordedResource[] = [...registered.values()].map((r) => ({
    ...r,
    protect: flags.get(key(r.type, r.name))?.protect ?? false,
    retainOnDelete: flags.get(key(r.type, r.name))?.retainOnDelete ?? false,
    ignoreChanges: flags.get(key(r.type, r.name))?.ignoreChanges ?? [],
  }));
  return { resources, value };
}

/** Resolves an output (for tests: `assert.equal(await outputValue(fleet.x), ...)`). */
export function outputValue<T>(output: pulumi.Output<T>): Promise<T> {
  return settle(output);
}
