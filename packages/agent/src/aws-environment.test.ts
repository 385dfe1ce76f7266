import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { validateCluster, type ClusterSpec } from '@synkti/core';
import { placementZoneOrder } from '@synkti/cloud';
import { FakeEc2 } from '@synkti/cloud/aws-testing';
import { awsLaunchSettingsFromMetadata, awsProviderForWorker, mergeWorkerSubnets, withSubnetZones } from './aws-environment.ts';
import { readClusterConfig } from './cluster-config-source.ts';

function metadata(values: Record<string, string>): { read(path: string): Promise<string | undefined> } {
  return { read: async (path) => values[path] };
}

const MAC = '0e:49:61:0f:c3:11';
const EC2_WORKER = {
  'ami-id': 'ami-0abcdef1234567890',
  mac: MAC,
  'placement/availability-zone': 'eu-west-1b',
  [`network/interfaces/macs/${MAC}/subnet-id`]: 'subnet-0123456789abcdef0',
  [`network/interfaces/macs/${MAC}/security-group-ids`]: 'sg-0aaa\nsg-0bbb',
  'iam/info': JSON.stringify({
    Code: 'Success',
    InstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/synkti-worker',
    InstanceProfileId: 'AIPA',
  }),
};

test('a worker launches its replacements like itself: AMI, subnet and zone, security groups, instance profile from its metadata', async () => {
  assert.deepEqual(await awsLaunchSettingsFromMetadata(metadata(EC2_WORKER), 'eu-west-1'), {
    imageId: 'ami-0abcdef1234567890',
    region: 'eu-west-1',
    subnets: [{ subnetId: 'subnet-0123456789abcdef0', zone: 'eu-west-1b' }],
    securityGroupIds: ['sg-0aaa', 'sg-0bbb'],
    iamInstanceProfile: 'arn:aws:iam::123456789012:instance-profile/synkti-worker',
  });
});

test('missing metadata is named; a worker without an instance profile still gets settings', async () => {
  const { 'ami-id': _ami, ...noAmi } = EC2_WORKER;
  await assert.rejects(awsLaunchSettingsFromMetadata(metadata(noAmi), 'eu-west-1'), { code: 'E_AGENT_METADATA', message: /ami-id/ });
  const { 'iam/info': _iam, ...noProfile } = EC2_WORKER;
  assert.equal((await awsLaunchSettingsFromMetadata(metadata(noProfile), 'eu-west-1')).iamInstanceProfile, undefined);
});

test('the cluster config comes from SYNKTI_CLUSTER_CONFIG_FILE when set (EC2 boot), else from user data (local)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'cluster.json');
  writeFileSync(file, '{"name":"prod"}');
  assert.equal(readClusterConfig('#!/bin/bash\necho boot', { SYNKTI_CLUSTER_CONFIG_FILE: file }), '{"name":"prod"}');
  assert.equal(readClusterConfig('{"name":"local"}', {}), '{"name":"local"}');
  assert.throws(() => readClusterConfig(undefined, {}), { code: 'E_AGENT_CONFIG' });
  assert.throws(() => readClusterConfig(undefined, { SYNKTI_CLUSTER_CONFIG_FILE: join(dir, 'missing.json') }), {
    code: 'E_AGENT_CONFIG',
    message: /missing\.json/,
  });
});

// A worker in zone a of a pool whose subnets span a, b and c (the cluster config's aws.subnets).
const ZONE_SUBNETS = [
  { subnetId: 'subnet-0aaaaaaaaaaaaaaaa', zone: 'eu-west-1a' },
  { subnetId: 'subnet-0bbbbbbbbbbbbbbbb', zone: 'eu-west-1b' },
  { subnetId: 'subnet-0cccccccccccccccc', zone: 'eu-west-1c' },
];
const WORKER_IN_A = {
  ...EC2_WORKER,
  'placement/availability-zone': 'eu-west-1a',
  [`network/interfaces/macs/${MAC}/subnet-id`]: ZONE_SUBNETS[0]!.subnetId,
};

function awsSpec(subnets: ClusterSpec['aws']): ClusterSpec {
  return { ...validateCluster({ name: 'prod', provider: 'aws', region: 'eu-west-1', pools: { worker: { count: 3 } } }), aws: subnets };
}

function fakeEc2(t: { after(fn: () => void): void }): FakeEc2 {
  const ec2 = new FakeEc2({ subnetZones: Object.fromEntries(ZONE_SUBNETS.map((s) => [s.subnetId, s.zone])), pendingMs: 0 });
  t.after(() => ec2.mock.restore());
  return ec2;
}

test('a worker in zone a with config subnets a/b/c launches its replacement in the zone its zone order puts first (b), not its own', async (t) => {
  const ec2 = fakeEc2(t);
  const warnings: string[] = [];
  const worker = await awsProviderForWorker(metadata(WORKER_IN_A), awsSpec({ subnets: ZONE_SUBNETS }), 'eu-west-1', {
    client: ec2.client,
    logger: {
      warn: (_bindings, message) => {
        warnings.push(String(message));
      },
    },
  });
  // Its own subnet first, then the others: the Replacer's zones come from these.
  assert.deepEqual(
    worker.subnets.map((s) => s.zone),
    ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  );
  const spec = withSubnetZones(awsSpec({ subnets: ZONE_SUBNETS }), worker.subnets);
  assert.deepEqual(spec.pools.worker!.zones, ['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
  // This node (a) got a notice; a peer holds c: the spread rule puts b first, a (the notice's zone) last.
  const zoneOrder = placementZoneOrder({
    zones: spec.pools.worker!.zones,
    role: 'worker',
    leaving: 'i-self',
    avoidZone: 'eu-west-1a',
    key: 'replace-i-self',
    members: [
      { id: 'i-self', zone: 'eu-west-1a', role: 'worker', state: 'ready' },
      { id: 'i-peer', zone: 'eu-west-1c', role: 'worker', state: 'ready' },
    ],
  });
  assert.deepEqual(zoneOrder, ['eu-west-1b', 'eu-west-1c', 'eu-west-1a']);
  const record = await worker.instances.launch({
    tags: { SynktiCluster: 'prod', SynktiRole: 'worker' },
    instanceType: 'g5.xlarge',
    lifecycle: 'spot',
    zoneOrder,
    clientToken: 'replace-i-self',
  });
  const runs = ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.SubnetId, 'subnet-0bbbbbbbbbbbbbbbb');
  assert.equal(record.zone, 'eu-west-1b');
  assert.deepEqual(warnings, []);
});

test('a config without subnets keeps the worker in its own subnet and says so once', async (t) => {
  const ec2 = fakeEc2(t);
  const warnings: string[] = [];
  const worker = await awsProviderForWorker(metadata(WORKER_IN_A), awsSpec(undefined), 'eu-west-1', {
    client: ec2.client,
    logger: {
      warn: (_bindings, message) => {
        warnings.push(String(message));
      },
    },
  });
  assert.deepEqual(worker.subnets, [ZONE_SUBNETS[0]]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /zone only.*--subnet/);
  const record = await worker.instances.launch({
    tags: { SynktiCluster: 'prod', SynktiRole: 'worker' },
    instanceType: 'g5.xlarge',
    lifecycle: 'spot',
    zoneOrder: ['eu-west-1b', 'eu-west-1a'],
  });
  assert.equal(record.zone, 'eu-west-1a');
  assert.equal(ec2.mock.commandCalls(RunInstancesCommand)[0]!.args[0].input.SubnetId, ZONE_SUBNETS[0]!.subnetId);
});

test('merged subnets: own first and once (metadata wins over a config entry naming it); configured pool zones are kept', () => {
  const own = ZONE_SUBNETS[0]!;
  assert.deepEqual(
    mergeWorkerSubnets(own, [ZONE_SUBNETS[2]!, { subnetId: own.subnetId, zone: 'eu-west-1z' }, ZONE_SUBNETS[1]!, ZONE_SUBNETS[2]!]),
    [own, ZONE_SUBNETS[2], ZONE_SUBNETS[1]],
  );
  const spec = validateCluster({
    name: 'prod',
    provider: 'aws',
    region: 'eu-west-1',
    pools: { worker: { count: 3, zones: ['eu-west-1b'] }, batch: { count: 1 } },
  });
  const placed = withSubnetZones(spec, ZONE_SUBNETS);
  assert.deepEqual(placed.pools.worker!.zones, ['eu-west-1b']);
  assert.deepEqual(placed.pools.batch!.zones, ['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
});
