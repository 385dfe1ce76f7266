/**
 * The emulated instance metadata, read the way its consumers read it on EC2: the agent's
 * launch settings (ami-id, mac, subnet, security groups, iam/info), the IMDS client
 * (identity, tags, notices), the boot script (the identity document's accountId) and the
 * SDK/CLI credential providers (iam/security-credentials/ then /<role>).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createImdsClient, startMetadataServer } from '@synkti/cloud';
import { awsLaunchSettingsFromMetadata } from '../../agent/src/aws-environment.ts';
import { emulatedMetadataSource, type EmulatedInstance, type InstanceEvents } from './instance-metadata.ts';

const INSTANCE: EmulatedInstance = {
  instanceId: 'i-0123456789abcdef0',
  instanceType: 'g5.xlarge',
  imageId: 'ami-04681a1dbd79675a5',
  region: 'us-east-1',
  zone: 'us-east-1b',
  privateIp: '127.100.2.4',
  mac: '02:00:00:12:34:56',
  subnetId: 'subnet-0abc',
  vpcId: 'vpc-0abc',
  securityGroupIds: ['sg-1', 'sg-2'],
  tags: { SynktiCluster: 'emu', SynktiRole: 'worker' },
  tagsInMetadata: true,
  userData: '#!/bin/bash\necho boot\n',
  instanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/synkti-worker',
  roleName: 'synkti-worker-role',
  lifecycle: 'spot',
  launchedAt: Date.UTC(2026, 11, 7, 9, 0, 0, 500),
  accountId: '123456789012',
};

// An hour from whenever the test runs: a fixed date would pass and the cache assertion fail from then on.
const EXPIRATION = new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

async function serve(
  t: { after(fn: () => Promise<void>): void },
  instance: EmulatedInstance,
  options: { credentials?: boolean; calls?: string[] } = {},
) {
  const events: InstanceEvents = { notice: null, rebalance: null };
  const source = emulatedMetadataSource({
    instance: () => instance,
    events: () => events,
    credentialsFor:
      options.credentials === false
        ? undefined
        : async (i) => {
            options.calls?.push(i.instanceId);
            return { AccessKeyId: 'ASIAROLE', SecretAccessKey: 'secret', Token: 'session', Expiration: EXPIRATION };
          },
  });
  const server = await startMetadataServer({ source, host: '127.0.0.1' });
  t.after(() => server.stop());
  return { events, url: server.url, imds: createImdsClient({ endpoint: server.url }) };
}

describe('emulated instance metadata', () => {
  it('gives the agent its launch settings, identity and tags as EC2 would', async (t) => {
    const { imds } = await serve(t, INSTANCE);
    assert.deepEqual(await awsLaunchSettingsFromMetadata(imds, 'us-east-1'), {
      imageId: INSTANCE.imageId,
      region: 'us-east-1',
      subnets: [{ subnetId: 'subnet-0abc', zone: 'us-east-1b' }],
      securityGroupIds: ['sg-1', 'sg-2'],
      iamInstanceProfile: INSTANCE.instanceProfileArn,
    });
    assert.deepEqual(await imds.identity(), {
      instanceId: INSTANCE.instanceId,
      instanceType: 'g5.xlarge',
      region: 'us-east-1',
      zone: 'us-east-1b',
      privateIp: '127.100.2.4',
    });
    assert.deepEqual(await imds.tags(), INSTANCE.tags);
    assert.equal(await imds.userData(), INSTANCE.userData);
    assert.equal(await imds.read('instance-life-cycle'), 'spot');
    assert.equal(await imds.read('local-hostname'), 'ip-127-100-2-4.ec2.internal');
    assert.equal(await imds.read('network/interfaces/macs/'), '02:00:00:12:34:56/');
    assert.equal(await imds.read('network/interfaces/macs/02:00:00:99:99:99/subnet-id'), undefined, 'another MAC is a 404');
  });

  it('serves the identity document the boot script reads its account id from', async (t) => {
    const { url } = await serve(t, INSTANCE);
    const token = await (
      await fetch(`${url}/latest/api/token`, { method: 'PUT', headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } })
    ).text();
    const body = await (
      await fetch(`${url}/latest/dynamic/instance-identity/document`, { headers: { 'X-aws-ec2-metadata-token': token } })
    ).text();
    const doc = JSON.parse(body) as Record<string, unknown>;
    assert.equal(doc.accountId, '123456789012');
    assert.equal(doc.instanceId, INSTANCE.instanceId);
    assert.equal(doc.region, 'us-east-1');
    assert.equal(doc.availabilityZone, 'us-east-1b');
    assert.equal(doc.pendingTime, '2026-12-07T09:00:00Z');
    // The boot script's sed expression, line by line, as EC2 formats it.
    assert.match(body, /^ {2}"accountId" : "123456789012",$/m);
  });

  it('hands out role credentials under the role name, only for an instance with a profile', async (t) => {
    const calls: string[] = [];
    const { imds } = await serve(t, INSTANCE, { calls });
    assert.equal(await imds.read('iam/security-credentials/'), 'synkti-worker-role');
    const creds = JSON.parse((await imds.read('iam/security-credentials/synkti-worker-role'))!) as Record<string, string>;
    assert.deepEqual(
      {
        Code: creds.Code,
        Type: creds.Type,
        AccessKeyId: creds.AccessKeyId,
        SecretAccessKey: creds.SecretAccessKey,
        Token: creds.Token,
        Expiration: creds.Expiration,
      },
      { Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: 'ASIAROLE', SecretAccessKey: 'secret', Token: 'session', Expiration: EXPIRATION },
    );
    assert.equal(await imds.read('iam/security-credentials/other-role'), undefined);
    assert.deepEqual(calls, [INSTANCE.instanceId], 'cached until shortly before they expire');
    assert.equal(JSON.parse((await imds.read('iam/info'))!).InstanceProfileArn, INSTANCE.instanceProfileArn);

    const { imds: noProfile } = await serve(t, { ...INSTANCE, instanceProfileArn: undefined });
    assert.equal(await noProfile.read('iam/info'), undefined);
    assert.equal(await noProfile.read('iam/security-credentials/'), undefined);
    const { imds: noCredentials } = await serve(t, INSTANCE, { credentials: false });
    assert.equal(await noCredentials.read('iam/security-credentials/'), undefined, 'no credentialsFor: none served');
  });

  it('hides tags unless InstanceMetadataTags is enabled, and shows notices at once', async (t) => {
    const { imds: hidden } = await serve(t, { ...INSTANCE, tagsInMetadata: false });
    await assert.rejects(hidden.tags(), /E_IMDS_TAGS_DISABLED|not available/);
    const { imds, events } = await serve(t, INSTANCE);
    assert.equal(await imds.interruptionNotice(), null);
    assert.equal(await imds.read('spot/termination-time'), undefined);
    const time = Date.UTC(2026, 11, 7, 9, 2, 0);
    events.notice = { action: 'terminate', time };
    events.rebalance = { noticeTime: time - 60_000 };
    assert.deepEqual(await imds.interruptionNotice(), { action: 'terminate', time });
    assert.deepEqual(await imds.rebalanceRecommendation(), { noticeTime: time - 60_000 });
    assert.equal(await imds.read('spot/termination-time'), '2026-12-07T09:02:00Z');
  });
});
