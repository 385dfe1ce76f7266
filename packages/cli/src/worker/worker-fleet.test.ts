/**
 * `synkti worker` on provider aws, at the function level: the EC2 client is mocked with
 * aws-sdk-client-mock and every call is inspected. Plus the provider-independent rules
 * (pool choice, partial launches, ids of other clusters refused) on a stub provider.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { SynktiError, isSynktiError, pickRole, validateCluster } from '@synkti/core';
import { renderWorkerUserData, type InstanceProvider, type InstanceRecord, type LaunchSpec } from '@synkti/cloud';
import { launchWorkers, listWorkers, resolveWorkerIds, terminateWorkers } from '@synkti/agent/worker-fleet';
import { openWorkerProvider } from './worker-provider.ts';
import { userDataOptions, type UserDataFlags } from './worker-settings.ts';

const SPEC = validateCluster({
  name: 'prod',
  provider: 'aws',
  region: 'us-east-1',
  pools: { worker: { count: 2, instanceTypes: ['g5.xlarge', 'g6.xlarge'] }, cpu: { count: 1 } },
});
const FLAGS: UserDataFlags = { bucket: 'acme-synkti-prod', version: '0.1.0', sha256: 'a'.repeat(64), nodeSha256: 'b'.repeat(64) };
const AMI = 'ami-0123456789abcdef0';

const mocks: { restore(): void }[] = [];
afterEach(() => {
  for (const mock of mocks.splice(0)) mock.restore();
});

function mockedEc2() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const client = new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' }, maxAttempts: 1 });
  const mock = mockClient(client);
  mocks.push(mock);
  return { client, mock };
}

function ec2Instance(n: number, tags: Record<string, string>, state = 'running'): Instance {
  return {
    InstanceId: `i-${n.toString(16).padStart(17, '0')}`,
    State: { Name: state as 'running' },
    InstanceType: 'g5.xlarge',
    Placement: { AvailabilityZone: 'us-east-1a' },
    PrivateIpAddress: `10.0.0.${n}`,
    LaunchTime: new Date(1_700_000_000_000 + n * 1000),
    InstanceLifecycle: 'spot',
    Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  };
}

describe('synkti worker on aws (EC2 mocked)', () => {
  it('launch: RunInstances gets the rendered boot script as base64 UserData, IMDSv2 required, tags at launch', async () => {
    const { client, mock } = mockedEc2();
    const tags = { SynktiCluster: 'prod', SynktiRole: 'worker' };
    let next = 1;
    mock.on(RunInstancesCommand).callsFake(() => ({ Instances: [ec2Instance(next++, tags, 'pending')] }));
    mock.on(DescribeInstancesCommand).callsFake((input: { Filters?: { Name?: string; Values?: string[] }[] }) => {
      const id = input.Filters?.find((f) => f.Name === 'instance-id')?.Values?.[0];
      const n = id ? Number.parseInt(id.slice(2), 16) : 1;
      return { Reservations: [{ Instances: [ec2Instance(n, tags, 'pending')] }] };
    });
    const workers = openWorkerProvider(SPEC, {
      configFile: '/nonexistent/synkti.config.ts',
      ec2Client: client,
      userData: FLAGS,
      aws: { imageId: AMI, subnet: ['subnet-0aaa:us-east-1a'], securityGroup: ['sg-0123'], instanceProfile: 'acme-worker' },
    });
    try {
      const userData = await workers.userData();
      // The launch subnets ride in the cluster config: the workers' replacements can use every zone.
      assert.equal(
        userData,
        renderWorkerUserData(
          await userDataOptions({ ...SPEC, aws: { subnets: [{ subnetId: 'subnet-0aaa', zone: 'us-east-1a' }] } }, FLAGS),
        ),
      );
      const launched = await launchWorkers(workers.provider, SPEC, { count: 2, role: 'worker', userData });
      assert.deepEqual(
        launched.map((r) => r.id),
        ['i-00000000000000001', 'i-00000000000000002'],
      );

      const runs = mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
      assert.equal(runs.length, 2);
      for (const input of runs) {
        assert.equal(Buffer.from(input.UserData ?? '', 'base64').toString('utf8'), userData, 'UserData is base64 of the rendered script');
        assert.equal(input.MetadataOptions?.HttpTokens, 'required', 'IMDSv2 required');
        assert.equal(input.MetadataOptions?.HttpPutResponseHopLimit, 2);
        assert.equal(input.ImageId, AMI);
        assert.equal(input.InstanceType, 'g5.xlarge');
        assert.equal(input.InstanceMarketOptions?.MarketType, 'spot');
        assert.equal(input.SubnetId, 'subnet-0aaa');
        assert.deepEqual(input.SecurityGroupIds, ['sg-0123']);
        assert.deepEqual(input.IamInstanceProfile, { Name: 'acme-worker' });
        const instanceTags = input.TagSpecifications?.find((s) => s.ResourceType === 'instance')?.Tags;
        assert.deepEqual(instanceTags, [
          { Key: 'SynktiCluster', Value: 'prod' },
          { Key: 'SynktiRole', Value: 'worker' },
          { Key: 'SynktiSlotCredit', Value: '150900' },
        ]);
      }
      assert.notEqual(runs[0]!.ClientToken, runs[1]!.ClientToken, 'one idempotency token per instance');
    } finally {
      workers.close();
    }
  });

  it("launch: the pool's other instance types are the capacity fallback", async () => {
    const { client, mock } = mockedEc2();
    const tags = { SynktiCluster: 'prod', SynktiRole: 'worker' };
    const capacity = Object.assign(new Error('no capacity'), {
      name: 'InsufficientInstanceCapacity',
      Code: 'InsufficientInstanceCapacity',
      $metadata: {},
    });
    mock.on(RunInstancesCommand, { InstanceType: 'g5.xlarge' }).rejects(capacity);
    mock
      .on(RunInstancesCommand, { InstanceType: 'g6.xlarge' })
      .resolves({ Instances: [{ ...ec2Instance(7, tags), InstanceType: 'g6.xlarge' }] });
    mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ ...ec2Instance(7, tags), InstanceType: 'g6.xlarge' }] }] });
    const workers = openWorkerProvider(SPEC, {
      configFile: '/x/synkti.config.ts',
      ec2Client: client,
      userData: FLAGS,
      aws: { imageId: AMI },
    });
    try {
      const [record] = await launchWorkers(workers.provider, SPEC, { role: 'worker', userData: await workers.userData() });
      assert.equal(record?.instanceType, 'g6.xlarge');
      assert.deepEqual(
        mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input.InstanceType),
        ['g5.xlarge', 'g6.xlarge'],
      );
    } finally {
      workers.close();
    }
  });

  it('launch without --image-id fails before any EC2 call; list needs no AMI', async () => {
    const { client, mock } = mockedEc2();
    mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: [{ Instances: [ec2Instance(3, { SynktiCluster: 'prod', SynktiRole: 'cpu' })] }] });
    const workers = openWorkerProvider(SPEC, { configFile: '/x/synkti.config.ts', ec2Client: client, userData: FLAGS });
    try {
      await assert.rejects(launchWorkers(workers.provider, SPEC, { role: 'cpu', userData: 'x' }), (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_USAGE'));
        assert.match(error.message, /AMI/);
        assert.match(error.hint ?? '', /--image-id/);
        return true;
      });
      assert.equal(mock.commandCalls(RunInstancesCommand).length, 0);
      const records = await listWorkers(workers.provider, SPEC, { role: 'cpu' });
      assert.deepEqual(
        records.map((r) => r.id),
        ['i-00000000000000003'],
      );
      const filters = mock.commandCalls(DescribeInstancesCommand)[0]!.args[0].input.Filters ?? [];
      assert.deepEqual(filters.find((f) => f.Name === 'tag:SynktiCluster')?.Values, ['prod']);
      assert.deepEqual(filters.find((f) => f.Name === 'tag:SynktiRole')?.Values, ['cpu']);
    } finally {
      workers.close();
    }
  });

  it('terminate: only ids of this cluster, resolved from prefixes, in one TerminateInstances call', async () => {
    const { client, mock } = mockedEc2();
    const tags = { SynktiCluster: 'prod', SynktiRole: 'worker' };
    mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [ec2Instance(0xa1, tags), ec2Instance(0xb2, tags)] }] });
    mock.on(TerminateInstancesCommand).resolves({});
    const workers = openWorkerProvider(SPEC, { configFile: '/x/synkti.config.ts', ec2Client: client });
    try {
      await assert.rejects(
        terminateWorkers(workers.provider, SPEC, ['i-0000000000000000c3']),
        /no running instance i-0000000000000000c3 in cluster prod/,
      );
      assert.equal(mock.commandCalls(TerminateInstancesCommand).length, 0, 'nothing terminated when one id is not ours');
      const ids = await terminateWorkers(workers.provider, SPEC, ['i-000000000000000a1', 'i-000000000000000b']);
      assert.deepEqual(ids, ['i-000000000000000a1', 'i-000000000000000b2']);
      assert.deepEqual(
        mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds),
        [['i-000000000000000a1', 'i-000000000000000b2']],
      );
    } finally {
      workers.close();
    }
  });
});

describe('worker fleet rules', () => {
  function record(id: string): InstanceRecord {
    return {
      id,
      state: 'running',
      privateIp: '127.0.0.1',
      instanceType: 't3.medium',
      zone: 'a',
      lifecycle: 'spot',
      launchedAt: 0,
      tags: {},
    };
  }

  it('picks the only pool, and asks which when there are several', () => {
    const single = validateCluster({ name: 'one', pools: { serve: { count: 1 } } });
    assert.equal(pickRole(single, undefined), 'serve');
    assert.throws(() => pickRole(SPEC, undefined), /several pools \(worker, cpu\)/);
    assert.throws(() => pickRole(SPEC, 'gpu'), /no pool named gpu/);
  });

  it('resolves unique prefixes and refuses ambiguous or foreign ids', () => {
    const records = [record('i-aaa111'), record('i-aaa222'), record('i-bbb333')];
    assert.deepEqual(resolveWorkerIds(records, ['i-b', 'i-aaa111', 'i-aaa111'], 'c'), ['i-bbb333', 'i-aaa111']);
    assert.throws(() => resolveWorkerIds(records, ['i-aaa'], 'c'), /matches 2 instances/);
    assert.throws(
      () => resolveWorkerIds(records, ['i-zzz'], 'c'),
      (e: unknown) => isSynktiError(e, 'E_NOT_FOUND'),
    );
    assert.throws(
      () => resolveWorkerIds(records, [], 'c'),
      (e: unknown) => isSynktiError(e, 'E_USAGE'),
    );
  });

  it('a launch that fails part-way says which instances were launched', async () => {
    const specs: LaunchSpec[] = [];
    const provider: InstanceProvider = {
      launch: async (spec) => {
        specs.push(spec);
        if (specs.length === 3) throw new SynktiError('E_AWS_CAPACITY', 'no capacity for t3.medium', { hint: 'add instance types' });
        return record(`i-${specs.length}`);
      },
      list: async () => ({ items: [] }),
      terminate: async () => {},
      tag: async () => {},
      untag: async () => {},
    };
    const single = validateCluster({ name: 'one', pools: { serve: { count: 1, lifecycle: 'on-demand' } } });
    await assert.rejects(launchWorkers(provider, single, { count: 4, userData: 'ud' }), (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_LAUNCH_PARTIAL'));
      assert.match(error.message, /launched 2 of 4 \(i-1, i-2\), then: no capacity/);
      assert.equal(error.hint, 'add instance types');
      return true;
    });
    assert.equal(specs.length, 3);
    assert.deepEqual(specs[0]!.tags, { SynktiCluster: 'one', SynktiRole: 'serve' });
    assert.equal(specs[0]!.lifecycle, 'on-demand', "the pool's lifecycle");
    assert.equal(specs[0]!.userData, 'ud');
  });
});
