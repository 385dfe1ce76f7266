/**
 * The AWS instance provider against a mocked EC2Client (aws-sdk-client-mock): every EC2
 * call path, throttling, capacity fallback, eventual consistency, budget and batching.
 * Time is fake where it matters: sleeps advance a clock instead of waiting.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { isSynktiError, type SynktiError } from '@synkti/core';
import type { LaunchSpec } from '../../types.ts';
import { createAwsInstanceProvider, type AwsInstanceProviderOptions } from './aws-instance-provider.ts';
import type { Ec2RetryEvent } from './ec2-api.ts';
import { FakeEc2, ec2Error } from './testing/fake-ec2.ts';
import { fakeTime } from './testing/fake-time.ts';
import { mockedEc2Client, type Ec2Mock } from './testing/mock-ec2-client.ts';

const AMI = 'ami-0123456789abcdef0';
const SUBNET_A = { subnetId: 'subnet-0aaa', zone: 'us-east-1a' };
const SUBNET_B = { subnetId: 'subnet-0bbb', zone: 'us-east-1b' };
const TAGS = { SynktiCluster: 'prod', SynktiRole: 'serve' };
const SPEC: LaunchSpec = { tags: TAGS, instanceType: 'g5.xlarge', lifecycle: 'spot' };

const mocks: Ec2Mock[] = [];
afterEach(() => {
  for (const mock of mocks.splice(0)) mock.restore();
});

function fake(options: ConstructorParameters<typeof FakeEc2>[0] = {}): FakeEc2 {
  const ec2 = new FakeEc2({ subnetZones: { [SUBNET_A.subnetId]: SUBNET_A.zone, [SUBNET_B.subnetId]: SUBNET_B.zone }, ...options });
  mocks.push(ec2.mock);
  return ec2;
}

function mocked() {
  const { client, mock } = mockedEc2Client();
  mocks.push(mock);
  return { client, mock };
}

function setup(client: AwsInstanceProviderOptions['client'], options: Partial<AwsInstanceProviderOptions> = {}) {
  const time = fakeTime();
  const retries: Ec2RetryEvent[] = [];
  const provider = createAwsInstanceProvider({
    imageId: AMI,
    client,
    subnets: [SUBNET_A, SUBNET_B],
    clock: time.now,
    sleep: time.sleep,
    onRetry: (event) => retries.push(event),
    ...options,
  });
  return { provider, time, retries };
}

function ec2Instance(n: number, extra: Partial<Instance> = {}): Instance {
  return {
    InstanceId: `i-${n.toString(16).padStart(17, '0')}`,
    InstanceType: 'g5.xlarge',
    State: { Name: 'running', Code: 16 },
    PrivateIpAddress: `10.0.0.${n}`,
    Placement: { AvailabilityZone: 'us-east-1a' },
    InstanceLifecycle: 'spot',
    LaunchTime: new Date(1_700_000_000_000 + n * 1000),
    Tags: [
      { Key: 'SynktiCluster', Value: 'prod' },
      { Key: 'SynktiRole', Value: 'serve' },
    ],
    ...extra,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string, check: (error: SynktiError) => void = () => {}): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isSynktiError(error, code), `expected ${code}, got ${String(error)}`);
    check(error);
    return true;
  });
}

describe('AWS instance provider: launch', () => {
  it('sends one spot RunInstances with IMDSv2 required, hop limit 2, metadata tags, tags on instance and volumes, the client token and base64 user data', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client, { subnets: [SUBNET_A], securityGroupIds: ['sg-0123'], iamInstanceProfile: 'synkti-worker' });
    const record = await provider.launch({
      ...SPEC,
      instanceType: 't3.micro',
      userData: '#!/bin/sh\necho hi',
      clientToken: 'replace-i-0abc',
    });
    const calls = ec2.mock.commandCalls(RunInstancesCommand);
    assert.equal(calls.length, 1);
    const tags = [
      { Key: 'SynktiCluster', Value: 'prod' },
      { Key: 'SynktiRole', Value: 'serve' },
    ];
    assert.deepEqual(
      calls[0]!.args[0].input,
      {
        ImageId: AMI,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        ClientToken: 'replace-i-0abc',
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'enabled', HttpEndpoint: 'enabled' },
        InstanceMarketOptions: {
          MarketType: 'spot',
          SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
        },
        SubnetId: 'subnet-0aaa',
        UserData: Buffer.from('#!/bin/sh\necho hi').toString('base64'),
        SecurityGroupIds: ['sg-0123'],
        IamInstanceProfile: { Name: 'synkti-worker' },
      },
      'exact request: no KeyName (no SSH) and no spot MaxPrice',
    );
    assert.match(record.id, /^i-[0-9a-f]{17}$/);
    assert.equal(record.instanceType, 't3.micro');
    assert.equal(record.lifecycle, 'spot');
    assert.equal(record.zone, 'us-east-1a');
    assert.match(record.privateIp, /^10\.0\.\d+\.\d+$/);
    assert.ok(Math.abs(record.launchedAt - Date.now()) < 5000);
    assert.deepEqual(record.tags, TAGS);
    assert.deepEqual(Object.fromEntries(ec2.instances.get(record.id)!.volumeTags), TAGS, 'volumes carry the tags too');
  });

  it('generates a fresh ClientToken per launch when none is given, and an ARN instance profile goes as Arn', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client, { iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/synkti', keyName: 'ops' });
    await provider.launch(SPEC);
    await provider.launch(SPEC);
    const inputs = ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    assert.match(inputs[0]!.ClientToken!, /^[0-9a-f-]{36}$/);
    assert.notEqual(inputs[0]!.ClientToken, inputs[1]!.ClientToken);
    assert.deepEqual(inputs[0]!.IamInstanceProfile, { Arn: 'arn:aws:iam::123456789012:instance-profile/synkti' });
    assert.equal(inputs[0]!.KeyName, 'ops');
    assert.equal(ec2.instances.size, 2);
  });

  it('on-demand launches carry no market options; a zone picks its subnet', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client);
    const record = await provider.launch({ ...SPEC, lifecycle: 'on-demand', zone: 'us-east-1b' });
    const input = ec2.mock.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    assert.equal(input.InstanceMarketOptions, undefined);
    assert.equal(input.SubnetId, 'subnet-0bbb');
    assert.equal(record.lifecycle, 'on-demand');
    assert.equal(record.zone, 'us-east-1b');
    await rejectsWith(provider.launch({ ...SPEC, zone: 'us-east-1f' }), 'E_LAUNCH_SPEC', (e) => assert.match(e.message, /us-east-1f/));
  });

  it('without subnets a zone goes in Placement', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client, { subnets: [] });
    const record = await provider.launch({ ...SPEC, zone: 'us-east-1c' });
    const input = ec2.mock.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    assert.deepEqual(input.Placement, { AvailabilityZone: 'us-east-1c' });
    assert.equal(input.SubnetId, undefined);
    assert.equal(record.zone, 'us-east-1c');
  });

  it('first type has no capacity anywhere, second has none in the first subnet: the second type launches in the other subnet', async () => {
    const ec2 = fake({
      failLaunch: (input, zone) =>
        input.InstanceType === 'g5.xlarge' || zone === 'us-east-1a' ? 'InsufficientInstanceCapacity' : undefined,
    });
    const { provider } = setup(ec2.client, { instanceTypeFallbacks: { 'g5.xlarge': ['g6.xlarge'] } });
    const record = await provider.launch(SPEC);
    assert.equal(record.instanceType, 'g6.xlarge');
    assert.equal(record.zone, 'us-east-1b');
    assert.equal(record.lifecycle, 'spot');
    const inputs = ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      inputs.map((i) => `${i.InstanceType}@${i.SubnetId}`),
      ['g5.xlarge@subnet-0aaa', 'g5.xlarge@subnet-0bbb', 'g6.xlarge@subnet-0aaa', 'g6.xlarge@subnet-0bbb'],
    );
    assert.equal(new Set(inputs.map((i) => i.ClientToken)).size, 4, 'each option has its own client token');
    assert.equal(ec2.instances.size, 1);
  });

  it('the default fallbacks are the other types of the same size; Unsupported and SpotMaxPriceTooLow fall back too', async () => {
    const codes = ['Unsupported', 'SpotMaxPriceTooLow'];
    const ec2 = fake({ failLaunch: () => codes.shift() });
    const { provider } = setup(ec2.client, { subnets: [] });
    const record = await provider.launch(SPEC);
    assert.deepEqual(
      ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input.InstanceType),
      ['g5.xlarge', 'g6.xlarge', 'g4dn.xlarge'],
    );
    assert.equal(record.instanceType, 'g4dn.xlarge');
  });

  it('every spot option failing falls back to on-demand when enabled', async () => {
    const ec2 = fake({
      failLaunch: (input) => (input.InstanceMarketOptions?.MarketType === 'spot' ? 'InsufficientInstanceCapacity' : undefined),
    });
    const { provider } = setup(ec2.client, { onDemandFallback: true, instanceTypeFallbacks: { 'g5.xlarge': ['g6.xlarge'] } });
    const record = await provider.launch(SPEC);
    assert.equal(record.lifecycle, 'on-demand');
    assert.equal(record.instanceType, 'g5.xlarge');
    const inputs = ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
    assert.equal(inputs.length, 5, '4 spot options, then the first on-demand one');
    assert.equal(inputs[4]!.InstanceMarketOptions, undefined);
  });

  it('every spot option failing without on-demand fallback is E_AWS_CAPACITY listing what was tried', async () => {
    const ec2 = fake({ failLaunch: () => 'InsufficientInstanceCapacity' });
    const { provider } = setup(ec2.client, { instanceTypeFallbacks: { 'g5.xlarge': ['g6.xlarge'] } });
    await rejectsWith(provider.launch(SPEC), 'E_AWS_CAPACITY', (error) => {
      for (const tried of [
        'spot g5.xlarge in us-east-1a (subnet-0aaa)',
        'spot g5.xlarge in us-east-1b (subnet-0bbb)',
        'spot g6.xlarge in us-east-1a (subnet-0aaa)',
        'spot g6.xlarge in us-east-1b (subnet-0bbb)',
      ]) {
        assert.ok(error.message.includes(tried), `${error.message} should list ${tried}`);
      }
      assert.match(error.message, /InsufficientInstanceCapacity/);
      assert.match(error.hint ?? '', /onDemandFallback/);
    });
    assert.equal(ec2.mock.commandCalls(RunInstancesCommand).length, 4);
    assert.equal(ec2.instances.size, 0);
  });

  it('an option that just had no capacity is tried last by the next launch', async () => {
    let failFirst = true;
    const ec2 = fake({
      failLaunch: (input) => (failFirst && input.SubnetId === 'subnet-0aaa' ? 'InsufficientInstanceCapacity' : undefined),
    });
    const { provider } = setup(ec2.client, { subnets: [SUBNET_A, SUBNET_B], instanceTypeFallbacks: {} });
    await provider.launch({ ...SPEC, clientToken: 'first' });
    failFirst = false;
    ec2.mock.resetHistory();
    // Two launches: whichever subnet the rotation starts with, subnet A goes last.
    await provider.launch(SPEC);
    await provider.launch(SPEC);
    assert.deepEqual(
      ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input.SubnetId),
      ['subnet-0bbb', 'subnet-0bbb'],
    );
  });

  it('a launch repeated with the same client token returns the first instance, even after a fallback', async () => {
    const ec2 = fake({ failLaunch: (input) => (input.SubnetId === 'subnet-0aaa' ? 'InsufficientInstanceCapacity' : undefined) });
    const { provider } = setup(ec2.client, { capacityMemoryMs: 0, instanceTypeFallbacks: {} });
    const a = await provider.launch({ ...SPEC, clientToken: 'replace-i-1' });
    const b = await provider.launch({ ...SPEC, clientToken: 'replace-i-1' });
    assert.equal(a.id, b.id);
    assert.equal(ec2.instances.size, 1);
  });

  it('a client token reused for another launch is E_LAUNCH_SPEC; other launch errors are not retried elsewhere', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client, { subnets: [SUBNET_A] });
    await provider.launch({ ...SPEC, instanceType: 't3.micro', clientToken: 'tok' });
    await rejectsWith(provider.launch({ ...SPEC, instanceType: 't3.large', clientToken: 'tok' }), 'E_LAUNCH_SPEC', (e) =>
      assert.match(e.message, /tok/),
    );

    const { client, mock } = mocked();
    mock.on(RunInstancesCommand).rejects(ec2Error('InvalidAMIID.NotFound', "The image id '[ami-0123456789abcdef0]' does not exist"));
    const other = setup(client).provider;
    await rejectsWith(other.launch(SPEC), 'E_AWS_EC2', (e) => {
      assert.match(e.message, /ec2:RunInstances/);
      assert.match(e.message, /InvalidAMIID\.NotFound/);
    });
    assert.equal(mock.commandCalls(RunInstancesCommand).length, 1);
  });

  it('refuses launch specs EC2 would refuse or that break tags in metadata, before any call', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client);
    await rejectsWith(provider.launch({ ...SPEC, tags: { SynktiRole: 'serve' } }), 'E_LAUNCH_SPEC', (e) =>
      assert.match(e.message, /SynktiCluster/),
    );
    await rejectsWith(provider.launch({ ...SPEC, tags: { ...TAGS, 'Synkti/Owner': 'x' } }), 'E_LAUNCH_SPEC', (e) =>
      assert.match(e.message, /Synkti\/Owner/),
    );
    await rejectsWith(provider.launch({ ...SPEC, userData: 'x'.repeat(16 * 1024 + 1) }), 'E_LAUNCH_SPEC');
    await rejectsWith(provider.launch({ ...SPEC, clientToken: 'x'.repeat(65) }), 'E_LAUNCH_SPEC');
    await rejectsWith(provider.launch({ ...SPEC, instanceType: 'big' }), 'E_LAUNCH_SPEC');
    assert.equal(ec2.mock.calls().length, 0);
  });
});

describe('AWS instance provider: eventual consistency', () => {
  it('an instance missing from the first DescribeInstances after launch is waited for; the next list finds it', async () => {
    const ec2 = fake({ hiddenDescribes: 1 });
    const { provider, time } = setup(ec2.client, { backoffBaseMs: 100 });
    const record = await provider.launch(SPEC);
    const describes = ec2.mock.commandCalls(DescribeInstancesCommand);
    assert.equal(describes.length, 2, 'launch looked twice');
    const [first, second] = await Promise.all(describes.map((c) => c.returnValue));
    assert.equal(first!.Reservations!.length, 0, 'the first answer did not have it');
    assert.equal(second!.Reservations!.length, 1, 'the second did');
    assert.ok(
      time.sleeps.some((ms) => ms > 0 && ms <= 100),
      'with a backoff wait between',
    );
    const filters = describes[0]!.args[0].input.Filters!;
    assert.deepEqual(filters.find((f) => f.Name === 'instance-id')?.Values, [record.id]);
    assert.deepEqual(
      filters.find((f) => f.Name === 'tag:SynktiRole')?.Values,
      ['serve'],
      'looked up through the tag index, like peers will',
    );
    const page = await provider.list({ tags: TAGS });
    assert.deepEqual(
      page.items.map((r) => r.id),
      [record.id],
    );
  });

  it('launch returns the launched instance if it never shows within settleTimeoutMs', async () => {
    const ec2 = fake({ hiddenDescribes: 1_000_000 });
    const { provider, time } = setup(ec2.client, { settleTimeoutMs: '10s' });
    const start = time.now();
    const record = await provider.launch(SPEC);
    assert.match(record.id, /^i-/);
    const waited = time.now() - start;
    assert.ok(waited >= 10_000 && waited < 13_000, `gave up after ${waited} ms`);
  });

  it("terminate and tag retry EC2's not-found on an instance launched moments ago", async () => {
    const ec2 = fake({ hiddenMutations: 2 });
    const { provider } = setup(ec2.client);
    const record = await provider.launch(SPEC);
    await provider.tag([record.id], { SynktiColor: 'red' });
    assert.equal(ec2.instances.get(record.id)!.tags.get('SynktiColor'), 'red');
    assert.equal(ec2.mock.commandCalls(CreateTagsCommand).length, 3, 'two not-found, then done');
    await provider.terminate([record.id]);
    assert.equal(ec2.mock.commandCalls(TerminateInstancesCommand).length, 1);
  });
});

describe('AWS instance provider: list', () => {
  it('maps EC2 instances to records and filters by state, tags and ids', async () => {
    const { client, mock } = mocked();
    mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            ec2Instance(2, {
              State: { Name: 'terminated' },
              StateReason: { Code: 'Server.SpotInstanceTermination', Message: 'x' },
              PrivateIpAddress: undefined,
            }),
          ],
        },
        {
          Instances: [
            ec2Instance(1, { InstanceLifecycle: undefined, Placement: { AvailabilityZone: 'us-east-1b' }, State: { Name: 'stopping' } }),
          ],
        },
      ],
    });
    const { provider } = setup(client);
    const page = await provider.list({
      tags: { SynktiCluster: 'prod', SynktiRole: 'serve' },
      states: ['terminated', 'shutting-down'],
      ids: ['i-1', 'i-2'],
    });
    assert.deepEqual(
      mock.commandCalls(DescribeInstancesCommand)[0]!.args[0].input,
      {
        Filters: [
          { Name: 'instance-state-name', Values: ['terminated', 'shutting-down', 'stopping', 'stopped'] },
          { Name: 'tag:SynktiCluster', Values: ['prod'] },
          { Name: 'tag:SynktiRole', Values: ['serve'] },
          { Name: 'instance-id', Values: ['i-1', 'i-2'] },
        ],
        MaxResults: 1000,
        NextToken: undefined,
      },
      'ids go in a filter, not InstanceIds, so MaxResults can go with them',
    );
    assert.deepEqual(
      page.items,
      [
        {
          id: ec2Instance(1).InstanceId,
          state: 'shutting-down',
          stateReason: undefined,
          privateIp: '10.0.0.1',
          instanceType: 'g5.xlarge',
          zone: 'us-east-1b',
          lifecycle: 'on-demand',
          launchedAt: 1_700_000_001_000,
          tags: TAGS,
        },
        {
          id: ec2Instance(2).InstanceId,
          state: 'terminated',
          stateReason: 'Server.SpotInstanceTermination',
          privateIp: '',
          instanceType: 'g5.xlarge',
          zone: 'us-east-1a',
          lifecycle: 'spot',
          launchedAt: 1_700_000_002_000,
          tags: TAGS,
        },
      ],
      'sorted by launch time',
    );
    assert.equal(page.nextToken, undefined);

    await provider.list({});
    assert.deepEqual(
      mock.commandCalls(DescribeInstancesCommand)[1]!.args[0].input.Filters,
      [{ Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] }],
      'default: every state but terminated, and always a filter (the larger bucket)',
    );
  });

  it("walks three EC2 pages, passing EC2's NextToken through our own", async () => {
    const { client, mock } = mocked();
    mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ Reservations: [{ Instances: [ec2Instance(1), ec2Instance(2)] }], NextToken: 'ec2-page-2' })
      .resolvesOnce({ Reservations: [{ Instances: [ec2Instance(3)] }, { Instances: [ec2Instance(4)] }], NextToken: 'ec2-page-3' })
      .resolvesOnce({ Reservations: [{ Instances: [ec2Instance(5)] }] });
    const { provider } = setup(client);
    const pages: string[][] = [];
    let nextToken: string | undefined;
    do {
      const page = await provider.list({ tags: TAGS }, { maxResults: 100, nextToken });
      pages.push(page.items.map((r) => r.id));
      nextToken = page.nextToken;
    } while (nextToken && pages.length < 10);
    assert.deepEqual(
      pages,
      [[1, 2], [3, 4], [5]].map((p) => p.map((n) => ec2Instance(n).InstanceId!)),
    );
    const inputs = mock.commandCalls(DescribeInstancesCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      inputs.map((i) => i.NextToken),
      [undefined, 'ec2-page-2', 'ec2-page-3'],
    );
    assert.deepEqual(
      inputs.map((i) => i.MaxResults),
      [100, 100, 100],
    );
  });

  it("pages smaller than EC2's minimum of 5 are cut from one EC2 page of 5", async () => {
    const { client, mock } = mocked();
    mock.on(DescribeInstancesCommand).callsFake((input: { MaxResults?: number; NextToken?: string }) => {
      assert.equal(input.MaxResults, 5);
      return input.NextToken === undefined
        ? { Reservations: [1, 2, 3, 4, 5].map((n) => ({ Instances: [ec2Instance(n)] })), NextToken: 'p2' }
        : { Reservations: [{ Instances: [ec2Instance(6)] }] };
    });
    const { provider } = setup(client);
    const pages: number[] = [];
    const ids: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await provider.list({}, { maxResults: 2, nextToken });
      pages.push(page.items.length);
      ids.push(...page.items.map((r) => r.id));
      nextToken = page.nextToken;
    } while (nextToken && pages.length < 10);
    assert.deepEqual(pages, [2, 2, 1, 1]);
    assert.deepEqual(
      ids,
      [1, 2, 3, 4, 5, 6].map((n) => ec2Instance(n).InstanceId!),
    );
  });

  it('more ids than one filter holds are listed in chunks, each page within one chunk', async () => {
    const { client, mock } = mocked();
    mock.on(DescribeInstancesCommand).callsFake((input: { Filters: { Name: string; Values: string[] }[] }) => {
      const ids = input.Filters.find((f) => f.Name === 'instance-id')!.Values;
      return { Reservations: [{ Instances: [ec2Instance(Number.parseInt(ids[0]!.slice(2), 16))] }] };
    });
    const { provider } = setup(client);
    const ids = Array.from({ length: 450 }, (_, n) => ec2Instance(n).InstanceId!);
    const seen: string[] = [];
    let nextToken: string | undefined;
    let calls = 0;
    do {
      const page = await provider.list({ ids }, { nextToken });
      seen.push(...page.items.map((r) => r.id));
      nextToken = page.nextToken;
      calls += 1;
    } while (nextToken && calls < 10);
    const sizes = mock
      .commandCalls(DescribeInstancesCommand)
      .map((c) => c.args[0].input.Filters!.find((f) => f.Name === 'instance-id')!.Values!.length);
    assert.deepEqual(sizes, [200, 200, 50]);
    assert.deepEqual(seen, [ids[0], ids[200], ids[400]]);
  });

  it("tag values match exactly: EC2's filter wildcards * and ? are escaped", async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client);
    const star = await provider.launch({ ...SPEC, tags: { ...TAGS, SynktiJob: 'a*' } });
    await provider.launch({ ...SPEC, tags: { ...TAGS, SynktiJob: 'abc' } });
    const listed = await provider.list({ tags: { SynktiJob: 'a*' } });
    assert.deepEqual(
      listed.items.map((r) => r.id),
      [star.id],
    );
    assert.deepEqual(ec2.mock.commandCalls(DescribeInstancesCommand).at(-1)!.args[0].input.Filters!.at(-1), {
      Name: 'tag:SynktiJob',
      Values: ['a\\*'],
    });
    assert.deepEqual((await provider.list({ tags: { SynktiJob: 'a?c' } })).items, []);
  });

  it('unknown ids give an empty list, not an error; bad page requests are refused', async () => {
    const { client, mock } = mocked();
    mock
      .on(DescribeInstancesCommand)
      .rejects(ec2Error('InvalidInstanceID.NotFound', "The instance ID 'i-0000000000000000f' does not exist"));
    const { provider } = setup(client);
    assert.deepEqual(await provider.list({ ids: ['i-0000000000000000f'] }), { items: [], nextToken: undefined });
    assert.deepEqual(await provider.list({ ids: [] }), { items: [] });
    await rejectsWith(provider.list({}, { maxResults: 0 }), 'E_PAGE_REQUEST');
    await rejectsWith(provider.list({}, { nextToken: 'not-ours' }), 'E_PAGE_REQUEST');
    await rejectsWith(provider.list({ states: ['stopped' as never] }), 'E_INSTANCE_FILTER');
  });
});

describe('AWS instance provider: throttling and budget', () => {
  it('RequestLimitExceeded twice, then success: two growing, jittered backoff waits and the bucket drained', async () => {
    const { client, mock } = mocked();
    const draws = [0.7, 0.6];
    const { provider, retries, time } = setup(client, { random: () => draws.shift() ?? 0.5 });
    const sentAt: number[] = [];
    mock.on(DescribeInstancesCommand).callsFake(() => {
      sentAt.push(time.now());
      if (sentAt.length <= 2) throw ec2Error('RequestLimitExceeded', 'Request limit exceeded.', 503);
      return { Reservations: [{ Instances: [ec2Instance(1)] }] };
    });
    const page = await provider.list({ tags: TAGS });
    assert.equal(page.items.length, 1);
    assert.equal(sentAt.length, 3);
    assert.deepEqual(
      retries.map((r) => [r.action, r.attempt, r.code]),
      [
        ['DescribeInstances', 0, 'RequestLimitExceeded'],
        ['DescribeInstances', 1, 'RequestLimitExceeded'],
      ],
    );
    const waits = retries.map((r) => r.delayMs);
    assert.deepEqual(waits, [Math.floor(0.7 * 100), Math.floor(0.6 * 200)], 'uniform draw times a ceiling of 100·2ⁿ ms');
    assert.ok(waits[1]! > waits[0]!, 'the waits grew');
    assert.ok(
      waits.every((w, n) => w < 100 * 2 ** n),
      'below the ceiling: jittered, not fixed',
    );
    for (const w of waits) assert.ok(time.sleeps.includes(w), `slept ${w} ms`);
    // Each throttle drained the bucket (10/s at half share): a retry also waits for one refill.
    assert.ok(
      sentAt[1]! - sentAt[0]! >= 100 && sentAt[2]! - sentAt[1]! >= 120,
      `gaps ${sentAt[1]! - sentAt[0]!}, ${sentAt[2]! - sentAt[1]!}`,
    );
  });

  it('Throttling on a mutating call is retried too; after maxAttempts it is E_AWS_THROTTLED', async () => {
    const { client, mock } = mocked();
    mock.on(TerminateInstancesCommand).rejects(ec2Error('Throttling', 'Rate exceeded'));
    const { provider, retries } = setup(client, { maxAttempts: 4 });
    await rejectsWith(provider.terminate([ec2Instance(1).InstanceId!]), 'E_AWS_THROTTLED', (e) => {
      assert.match(e.message, /ec2:TerminateInstances/);
      assert.match(e.hint ?? '', /apiBudgetShare/);
    });
    assert.equal(mock.commandCalls(TerminateInstancesCommand).length, 4);
    assert.equal(retries.length, 3);
  });

  it('50 DescribeInstances calls at once are spaced by the bucket: burst, then the refill rate', async () => {
    const { client, mock } = mocked();
    const { provider, time } = setup(client, { apiBudgetShare: 0.1 });
    const sentAt: number[] = [];
    mock.on(DescribeInstancesCommand).callsFake(() => {
      sentAt.push(time.now());
      return { Reservations: [] };
    });
    const start = time.now();
    const realStart = Date.now();
    await Promise.all(Array.from({ length: 50 }, () => provider.list({ tags: TAGS })));
    assert.equal(sentAt.length, 50);
    // A tenth of EC2's filtered bucket (100, 20/s): 10 at once, then one per 500 ms.
    const offsets = sentAt.map((t) => t - start);
    assert.deepEqual(offsets.slice(0, 10), Array(10).fill(0));
    for (let i = 10; i < 50; i += 1) assert.equal(offsets[i]! - offsets[i - 1]!, i === 10 ? 500 : 500, `call ${i}`);
    assert.equal(offsets[49], 40 * 500);
    assert.ok(Date.now() - realStart < 2000, 'fake time: no real waiting');
  });

  it("each action has its own bucket sized from EC2's limits times the share", () => {
    const { client } = mocked();
    const { provider } = setup(client);
    const sizes = (['DescribeInstances', 'CreateTags', 'DeleteTags', 'RunInstances', 'TerminateInstances'] as const).map((action) => [
      action,
      provider.api.bucketOf(action).capacity,
      provider.api.bucketOf(action).refillPerSecond,
    ]);
    assert.deepEqual(sizes, [
      ['DescribeInstances', 50, 10],
      ['CreateTags', 50, 5],
      ['DeleteTags', 50, 5],
      ['RunInstances', 2.5, 1],
      ['TerminateInstances', 50, 2.5],
    ]);
  });
});

describe('AWS instance provider: terminate and tags', () => {
  it('terminate sends ids in batches of at most 1000', async () => {
    const { client, mock } = mocked();
    mock.on(TerminateInstancesCommand).resolves({});
    const { provider } = setup(client);
    const ids = Array.from({ length: 2500 }, (_, n) => ec2Instance(n + 1).InstanceId!);
    await provider.terminate([...ids, ids[0]!]);
    assert.deepEqual(
      mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds!.length),
      [1000, 1000, 500],
    );
    await provider.terminate([]);
    assert.equal(mock.commandCalls(TerminateInstancesCommand).length, 3);
  });

  it('unknown or malformed ids are E_INSTANCE_NOT_FOUND naming them', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client);
    await rejectsWith(provider.terminate(['i-0000000000000000f']), 'E_INSTANCE_NOT_FOUND', (e) =>
      assert.match(e.message, /i-0000000000000000f/),
    );
    await rejectsWith(provider.untag(['i-0000000000000000f'], ['SynktiColor']), 'E_INSTANCE_NOT_FOUND');
    await rejectsWith(provider.tag(['web-1'], { SynktiColor: 'red' }), 'E_INSTANCE_NOT_FOUND', (e) => assert.match(e.message, /web-1/));
    assert.equal(ec2.mock.commandCalls(CreateTagsCommand).length, 0, 'a malformed id never reaches EC2');
  });

  it('10 instances tagged with 2 distinct tag sets at once cost 2 CreateTags calls', async () => {
    const ec2 = fake();
    const { provider } = setup(ec2.client, { rateLimits: { RunInstances: { bucket: 100, refillPerSecond: 100 } } });
    const records = [];
    for (let i = 0; i < 10; i += 1) records.push(await provider.launch(SPEC));
    await Promise.all(
      records.map((r, i) => provider.tag([r.id], i % 2 === 0 ? { SynktiColor: 'red' } : { SynktiColor: 'blue', SynktiShape: 'round' })),
    );
    const calls = ec2.mock.commandCalls(CreateTagsCommand).map((c) => c.args[0].input);
    assert.equal(calls.length, 2);
    assert.deepEqual(
      calls.map((c) => c.Resources!.length),
      [5, 5],
    );
    assert.deepEqual(
      calls.map((c) => c.Tags),
      [
        [{ Key: 'SynktiColor', Value: 'red' }],
        [
          { Key: 'SynktiColor', Value: 'blue' },
          { Key: 'SynktiShape', Value: 'round' },
        ],
      ],
    );
    for (const [i, r] of records.entries()) assert.equal(ec2.instances.get(r.id)!.tags.get('SynktiColor'), i % 2 === 0 ? 'red' : 'blue');

    await Promise.all(records.map((r) => provider.untag([r.id], ['SynktiColor', 'SynktiShape'])));
    const deletes = ec2.mock.commandCalls(DeleteTagsCommand).map((c) => c.args[0].input);
    assert.equal(deletes.length, 1);
    assert.deepEqual(deletes[0]!.Tags, [{ Key: 'SynktiColor' }, { Key: 'SynktiShape' }], 'no Value: removed whatever the value');
    assert.ok(records.every((r) => !ec2.instances.get(r.id)!.tags.has('SynktiColor')));
  });
});

describe('AWS instance provider: permissions, credentials, options', () => {
  it('UnauthorizedOperation names the action, the fix and how to decode the message', async () => {
    const { client, mock } = mocked();
    mock
      .on(RunInstancesCommand)
      .rejects(
        ec2Error(
          'UnauthorizedOperation',
          'You are not authorized to perform this operation. Encoded authorization failure message: AbCdEf123-_xyz',
          403,
        ),
      );
    mock.on(DescribeInstancesCommand).rejects(ec2Error('UnauthorizedOperation', 'You are not authorized to perform this operation.', 403));
    mock
      .on(CreateTagsCommand)
      .rejects(
        ec2Error(
          'AccessDenied',
          'User: arn:aws:sts::1:assumed-role/w/i is not authorized to perform: ec2:CreateTags on resource: arn:aws:ec2:us-east-1:1:instance/i-1',
          403,
        ),
      );
    const { provider } = setup(client);
    await rejectsWith(provider.launch(SPEC), 'E_AWS_PERMISSION', (e) => {
      assert.match(e.message, /ec2:RunInstances/);
      assert.match(e.hint ?? '', /add ec2:RunInstances to the IAM role/);
      assert.match(e.hint ?? '', /aws sts decode-authorization-message --encoded-message AbCdEf123-_xyz/);
    });
    assert.equal(mock.commandCalls(RunInstancesCommand).length, 1, 'not retried, not fallen back');
    await rejectsWith(provider.list({}), 'E_AWS_PERMISSION', (e) => assert.match(e.message, /ec2:DescribeInstances/));
    await rejectsWith(provider.tag([ec2Instance(1).InstanceId!], { SynktiColor: 'red' }), 'E_AWS_PERMISSION', (e) =>
      assert.match(e.message, /ec2:CreateTags/),
    );
  });

  it('missing credentials are E_AWS_CREDENTIALS saying where the chain looks', async () => {
    const { client, mock } = mocked();
    const missing = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    mock.on(DescribeInstancesCommand).rejects(missing);
    mock
      .on(TerminateInstancesCommand)
      .rejects(ec2Error('AuthFailure', 'AWS was not able to validate the provided access credentials', 401));
    const { provider } = setup(client);
    await rejectsWith(provider.list({}), 'E_AWS_CREDENTIALS', (e) => {
      assert.match(e.message, /no AWS credentials/);
      for (const where of ['AWS_PROFILE', 'AWS_ACCESS_KEY_ID', 'role']) assert.ok(e.hint?.includes(where), `hint names ${where}`);
    });
    await rejectsWith(provider.terminate([ec2Instance(1).InstanceId!]), 'E_AWS_CREDENTIALS', (e) => assert.match(e.message, /AuthFailure/));
  });

  it('imageId is required; the region option reaches the client, else AWS_REGION', async () => {
    assert.throws(
      () => createAwsInstanceProvider({} as AwsInstanceProviderOptions),
      (e: unknown) => isSynktiError(e, 'E_AWS_OPTIONS') && /imageId/.test(e.message),
    );
    assert.throws(
      () => createAwsInstanceProvider({ imageId: 'ubuntu' }),
      (e: unknown) => isSynktiError(e, 'E_AWS_OPTIONS'),
    );
    assert.throws(
      () => createAwsInstanceProvider({ imageId: AMI, apiBudgetShare: 2 }),
      (e: unknown) => isSynktiError(e, 'E_AWS_OPTIONS'),
    );
    const inRegion = createAwsInstanceProvider({ imageId: AMI, region: 'eu-west-1' });
    assert.equal(await inRegion.api.client.config.region(), 'eu-west-1');
    assert.equal(
      inRegion.api.client.config.maxAttempts !== undefined ? await inRegion.api.client.config.maxAttempts() : 1,
      1,
      'SDK retries off: ours are metered',
    );
    inRegion.close();
    const saved = process.env.AWS_REGION;
    process.env.AWS_REGION = 'ap-south-1';
    try {
      const fromEnv = createAwsInstanceProvider({ imageId: AMI });
      assert.equal(await fromEnv.api.client.config.region(), 'ap-south-1');
      fromEnv.close();
      await rejectsWith(fromEnv.list({}), 'E_CLOSED');
    } finally {
      if (saved === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = saved;
    }
  });
});
