/**
 * Where the agent's launches land on AWS: the Replacer (notice path) and SpotReturn (back
 * to spot) fill the launch spec's zoneOrder from the view with placementZoneOrder, and the
 * AWS provider (on a mocked EC2, aws-sdk-client-mock) tries that zone's subnet first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { SynktiError, TAG_CLUSTER, TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import { createAwsInstanceProvider, placementZoneOrder, type InstanceProvider, type InstanceRecord } from '@synkti/cloud';
import { FakeEc2, fakeTime } from '@synkti/cloud/aws-testing';
import { createLogger } from './logger.ts';
import { Replacer } from './replacement.ts';
import { SpotReturn } from './spot-return.ts';

const quiet = createLogger({}, { write() {} });
const SUBNET_A = { subnetId: 'subnet-0aaa', zone: 'us-east-1a' };
const SUBNET_B = { subnetId: 'subnet-0bbb', zone: 'us-east-1b' };
const ZONES = [SUBNET_A.zone, SUBNET_B.zone];

function awsWithTwoZones(t: { after: (fn: () => void) => void }): { ec2: FakeEc2; provider: ReturnType<typeof createAwsInstanceProvider> } {
  const ec2 = new FakeEc2({ subnetZones: { [SUBNET_A.subnetId]: SUBNET_A.zone, [SUBNET_B.subnetId]: SUBNET_B.zone }, pendingMs: 0 });
  t.after(() => ec2.mock.restore());
  // Fake time: the provider's API budget and settling wait without taking real seconds.
  const time = fakeTime();
  const provider = createAwsInstanceProvider({
    imageId: 'ami-0123456789abcdef0',
    client: ec2.client,
    subnets: [SUBNET_A, SUBNET_B],
    settleTimeoutMs: 0,
    clock: time.now,
    sleep: time.sleep,
  });
  return { ec2, provider };
}

test("a replacement for a node in zone a, with 2 replicas in a and none in b, is launched in b (RunInstances SubnetId is b's)", async (t) => {
  const { ec2, provider } = awsWithTwoZones(t);
  // Several nodes, so the token-derived rotation (half of them would start with a) cannot pass this by chance.
  for (const self of ['i-01', 'i-02', 'i-03', 'i-04', 'i-05', 'i-06']) {
    const replacer = new Replacer({
      cluster: 'c',
      instances: provider,
      selfId: self,
      logger: quiet,
      liveMembers: () => [
        { id: self, zone: 'us-east-1a', role: 'worker', state: 'draining' },
        { id: `${self}-peer`, zone: 'us-east-1a', role: 'worker', state: 'ready' },
        // Another pool's node in b does not count.
        { id: `${self}-other`, zone: 'us-east-1b', role: 'router', state: 'ready' },
      ],
      templateFor: (role) => ({ role, instanceType: 'g5.xlarge', lifecycle: 'spot', userData: '{}', zones: ZONES }),
    });
    const record = await replacer.replaceSelf('worker');
    assert.equal(record?.zone, 'us-east-1b', `replacement of ${self}`);
  }
  const subnets = ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input.SubnetId);
  assert.deepEqual(subnets, Array(6).fill(SUBNET_B.subnetId));
});

test('spread over held counts: with b full and a empty the replacement of a node in b goes to a; without zones the provider rotates', async (t) => {
  const { ec2, provider } = awsWithTwoZones(t);
  const members = [
    { id: 'i-b1', zone: 'us-east-1b', role: 'worker', state: 'draining' },
    { id: 'i-b2', zone: 'us-east-1b', role: 'worker', state: 'ready' },
    { id: 'i-b3', zone: 'us-east-1b', role: 'worker', state: 'ready' },
  ];
  const withZones = new Replacer({
    cluster: 'c',
    instances: provider,
    selfId: 'i-b1',
    logger: quiet,
    liveMembers: () => members,
    templateFor: (role) => ({ role, instanceType: 'g5.xlarge', lifecycle: 'spot', userData: '{}', zones: ZONES }),
  });
  assert.equal((await withZones.replaceSelf('worker'))?.zone, 'us-east-1a');
  assert.deepEqual(placementZoneOrder({ zones: undefined, members, leaving: 'i-b1', key: 'k' }), undefined);
  const before = ec2.mock.commandCalls(RunInstancesCommand).length;
  const withoutZones = new Replacer({
    cluster: 'c',
    instances: provider,
    selfId: 'i-b2',
    logger: quiet,
    liveMembers: () => members,
    templateFor: (role) => ({ role, instanceType: 'g5.xlarge', lifecycle: 'spot', userData: '{}' }),
  });
  await withoutZones.replaceSelf('worker');
  assert.equal(ec2.mock.commandCalls(RunInstancesCommand).length, before + 1);
});

test('placement: leaving and draining members hold no place, ties by rendezvous of the token, the notice zone last, zones bounded', () => {
  const zones = ['z1', 'z2', 'z3'];
  const members = [
    { id: 'a', zone: 'z1', state: 'ready' },
    { id: 'b', zone: 'z1', state: 'ready' },
    { id: 'c', zone: 'z2', state: 'draining' },
    { id: 'd', zone: 'z2', state: 'joining' },
    { id: 'e', zone: 'z3', state: 'ready', lifecycle: 'on-demand' as const },
  ];
  assert.deepEqual(placementZoneOrder({ zones, members, leaving: 'x', key: 'k' }), ['z3', 'z2', 'z1']);
  // Leaving 'a' frees z1: z1 and z3... z3 still has 0 (on-demand does not count), z1 and z2 one each.
  assert.equal(placementZoneOrder({ zones, members, leaving: 'a', key: 'k' })![0], 'z3');
  assert.equal(placementZoneOrder({ zones, members, leaving: 'x', avoidZone: 'z3', key: 'k' })!.at(-1), 'z3');
  assert.equal(
    placementZoneOrder({ zones: Array.from({ length: 500 }, (_, i) => `z${i}`), members: [], leaving: 'x', key: 'k' })!.length,
    64,
  );
});

test("SpotReturn: the on-demand fallback's spot successor goes to the zone with the fewest of the pool", async (t) => {
  const { ec2, provider } = awsWithTwoZones(t);
  // Several nodes, so the provider's rotation cannot pass this by chance.
  for (let n = 0; n < 6; n++) {
    const od = await provider.launch({
      tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: `worker${n}` },
      instanceType: 'g5.xlarge',
      lifecycle: 'on-demand',
      zone: 'us-east-1b',
    });
    const spotReturn = new SpotReturn({
      cluster: 'c',
      role: `worker${n}`,
      selfId: od.id,
      instances: provider,
      logger: quiet,
      userData: '{}',
      pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 'g5.xlarge' },
      zones: ZONES,
      liveMembers: () => [
        { id: od.id, zone: 'us-east-1b', role: `worker${n}`, state: 'ready' },
        { id: `i-a${n}`, zone: 'us-east-1a', role: `worker${n}`, state: 'ready' },
      ],
      handOver: async () => {},
    });
    const step = await spotReturn.check();
    assert.equal(step.kind, 'launch');
    const last = ec2.mock.commandCalls(RunInstancesCommand).at(-1)!.args[0].input;
    assert.equal(last.InstanceMarketOptions?.MarketType, 'spot');
    assert.equal(last.SubnetId, SUBNET_B.subnetId, 'b holds none of the pool once the on-demand node leaves; a holds one');
  }
});

test("a lost peer's replacement that finds no capacity is retried every minute past the 15-minute give-up, until it launches", async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const records: InstanceRecord[] = [
    {
      id: 'i-lost',
      state: 'terminated',
      privateIp: '10.0.0.9',
      instanceType: 'g5.xlarge',
      zone: 'us-east-1a',
      lifecycle: 'spot',
      launchedAt: 0,
      tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'worker' },
    },
  ];
  let attempts = 0;
  const cloud: InstanceProvider = {
    async launch(spec) {
      attempts += 1;
      // 20 minutes without spot or on-demand capacity anywhere.
      if (attempts <= 20) throw new SynktiError('E_AWS_CAPACITY', 'no capacity for g5.xlarge');
      const record: InstanceRecord = {
        id: 'i-new',
        state: 'pending',
        privateIp: '10.0.0.10',
        instanceType: spec.instanceType,
        zone: 'us-east-1b',
        lifecycle: spec.lifecycle,
        launchedAt: Date.now(),
        tags: { ...spec.tags },
      };
      records.push(record);
      return record;
    },
    async list(filter) {
      const states = filter.states ?? ['pending', 'running', 'shutting-down'];
      return {
        items: records.filter(
          (r) =>
            states.includes(r.state) &&
            (!filter.ids || filter.ids.includes(r.id)) &&
            Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v),
        ),
      };
    },
    async terminate() {},
    async tag() {},
    async untag() {},
  };
  const replacer = new Replacer({
    cluster: 'c',
    instances: cloud,
    selfId: 'i-self',
    logger: quiet,
    recheckMs: 5000,
    liveMembers: () => [{ id: 'i-self', zone: 'us-east-1a', role: 'worker', state: 'ready' }],
    templateFor: (role) => ({ role, instanceType: 'g5.xlarge', lifecycle: 'spot', userData: '{}', zones: ZONES }),
  });
  t.after(() => replacer.stop());
  const flush = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  replacer.peerLost('i-lost', 'worker');
  await flush();
  for (let minute = 0; minute < 25 && !records.some((r) => r.id === 'i-new'); minute++) {
    t.mock.timers.tick(60_000);
    await flush();
  }
  assert.equal(attempts, 21, 'one attempt a minute, none given up');
  const replacement = records.find((r) => r.id === 'i-new');
  assert.ok(replacement, 'launched once capacity came back, 20 minutes after the loss');
  assert.equal(replacement.tags[TAG_REPLACES], 'i-lost');
});
