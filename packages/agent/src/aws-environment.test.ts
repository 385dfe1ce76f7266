import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { awsLaunchSettingsFromMetadata } from './aws-environment.ts';
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
  'iam/info': JSON.stringify({ Code: 'Success', InstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/synkti-worker', InstanceProfileId: 'AIPA' }),
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
  assert.throws(() => readClusterConfig(undefined, { SYNKTI_CLUSTER_CONFIG_FILE: join(dir, 'missing.json') }), { code: 'E_AGENT_CONFIG', message: /missing\.json/ });
});
