/** Test helpers: a mocked EC2 client whose DescribeInstances answers from an in-memory fleet, page by page. */
import {
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Filter,
  type Instance,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';

export interface FakeEc2Instance {
  id: string;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated';
  tags: Record<string, string>;
  privateIp: string;
  launchedAt: number;
}

function toEc2(i: FakeEc2Instance): Instance {
  return {
    InstanceId: i.id,
    State: { Name: i.state },
    InstanceType: 'g5.xlarge',
    Placement: { AvailabilityZone: 'us-east-1a' },
    PrivateIpAddress: i.privateIp,
    LaunchTime: new Date(i.launchedAt),
    InstanceLifecycle: 'spot',
    Tags: Object.entries(i.tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

function matches(i: FakeEc2Instance, filters: Filter[]): boolean {
  return filters.every((f) => {
    const values = f.Values ?? [];
    if (f.Name === 'instance-state-name') return values.includes(i.state);
    if (f.Name === 'instance-id') return values.includes(i.id);
    if (f.Name?.startsWith('tag:')) return values.includes(i.tags[f.Name.slice(4)] ?? '\u0000');
    if (f.Name === 'tag-key') return values.some((v) => v in i.tags);
    return true;
  });
}

/**
 * An EC2 client mocked with aws-sdk-client-mock over `fleet`: DescribeInstances filters
 * and pages (`pageSize` instances per page, NextToken = the next offset), RunInstances
 * adds a pending instance, TerminateInstances marks instances terminated.
 */
export function fakeEc2(fleet: FakeEc2Instance[], pageSize = 2) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' }, maxAttempts: 1 });
  const mock = mockClient(client);
  let next = 0x100;
  mock.on(DescribeInstancesCommand).callsFake((input: { Filters?: Filter[]; NextToken?: string }) => {
    const all = fleet.filter((i) => matches(i, input.Filters ?? []));
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const page = all.slice(start, start + pageSize);
    const more = start + pageSize < all.length;
    return { Reservations: [{ Instances: page.map(toEc2) }], ...(more ? { NextToken: String(start + pageSize) } : {}) };
  });
  mock
    .on(RunInstancesCommand)
    .callsFake((input: { TagSpecifications?: { ResourceType?: string; Tags?: { Key?: string; Value?: string }[] }[] }) => {
      const tags: Record<string, string> = {};
      for (const t of input.TagSpecifications?.find((s) => s.ResourceType === 'instance')?.Tags ?? [])
        if (t.Key) tags[t.Key] = t.Value ?? '';
      const n = next++;
      const instance: FakeEc2Instance = {
        id: `i-${n.toString(16).padStart(17, '0')}`,
        state: 'pending',
        tags,
        privateIp: `10.0.1.${n % 250}`,
        launchedAt: Date.now(),
      };
      fleet.push(instance);
      return { Instances: [toEc2(instance)] };
    });
  mock.on(TerminateInstancesCommand).callsFake((input: { InstanceIds?: string[] }) => {
    for (const id of input.InstanceIds ?? []) {
      const found = fleet.find((i) => i.id === id);
      if (found) found.state = 'terminated';
    }
    return {
      TerminatingInstances: (input.InstanceIds ?? []).map((InstanceId) => ({ InstanceId, CurrentState: { Name: 'shutting-down' } })),
    };
  });
  return { client, mock };
}
