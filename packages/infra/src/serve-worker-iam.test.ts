/**
 * The default SpotServeFleet worker role, as the component synthesizes it, against a real
 * EC2 API (moto_server) behind the IAM-checking proxy: the calls a worker's agent makes
 * with the AWS provider, with its launch settings taken as its own metadata gives them
 * (AMI, subnet, security group, instance-profile ARN), are allowed — a replacement launch
 * (spot and on-demand), terminating a peer, untagging itself — and the same calls outside
 * its cluster, security group or tags are denied. One moto for the file.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE, isSynktiError } from '@synkti/core';
import { createAwsInstanceProvider, type AwsInstanceProvider, type AwsSubnet } from '@synkti/cloud';
import { MOTO_IAM_ENV, startIamTruth, type IamTruth, type MotoServer } from '@synkti/aws-emulator';
import { startMotoOrSkip } from '@synkti/aws-emulator/testing';
import { synthesizeServeFleetRoles } from './testing/synthesize-policies.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const CLUSTER = 'repl';
const ROLE = `${CLUSTER}-worker`;
const IMAGE = 'ami-12c6146b'; // one of moto's images
let moto: MotoServer | undefined;
let skip: string | undefined;
let truth: IamTruth | undefined;
let admin: EC2Client | undefined;
let subnet: AwsSubnet;
let groupId = '';
let otherGroupId = '';
let profileArn = '';
let self = '';
let peer = '';

before(async () => {
  const started = await startMotoOrSkip({ env: { ...MOTO_IAM_ENV } });
  if (started.skip !== undefined) {
    skip = started.skip;
    return;
  }
  moto = started.service;
  admin = new EC2Client(moto.clientConfig());
  const vpcId = (await admin.send(new CreateVpcCommand({ CidrBlock: '127.100.0.0/16' }))).Vpc!.VpcId!;
  const subnets = await Promise.all(
    ['127.100.1.0/24', '127.100.2.0/24'].map(
      async (CidrBlock) => (await admin!.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock }))).Subnet!,
    ),
  );
  subnet = { subnetId: subnets[0]!.SubnetId!, zone: subnets[0]!.AvailabilityZone! };
  groupId = (await admin.send(new CreateSecurityGroupCommand({ GroupName: ROLE, Description: 'workers', VpcId: vpcId }))).GroupId!;
  otherGroupId = (
    await admin.send(new CreateSecurityGroupCommand({ GroupName: 'wide-open', Description: "not the fleet's", VpcId: vpcId }))
  ).GroupId!;
  // The defaults (agentReplacement on: workerCount 0), in this VPC.
  const roles = await synthesizeServeFleetRoles(
    { projectName: CLUSTER, vpcId, subnetIds: subnets.map((s) => s.SubnetId!) },
    { stack: 'dev', workerSecurityGroupId: groupId },
  );
  truth = await startIamTruth({ moto, roles });
  profileArn = truth.roles.find((r) => r.name === ROLE)!.instanceProfiles[0]!.arn;
  // Two workers as bootstrap launches them (administrator credentials).
  const run = await admin.send(
    new RunInstancesCommand({
      ImageId: IMAGE,
      MinCount: 2,
      MaxCount: 2,
      SubnetId: subnet.subnetId,
      SecurityGroupIds: [groupId],
      InstanceType: 't3.micro',
      IamInstanceProfile: { Arn: profileArn },
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: TAG_CLUSTER, Value: CLUSTER },
            { Key: TAG_ROLE, Value: 'worker' },
          ],
        },
      ],
    }),
  );
  [self, peer] = run.Instances!.map((i) => i.InstanceId!) as [string, string];
});
after(async () => {
  admin?.destroy();
  await truth?.stop();
  await moto?.stop();
});

/** The provider a worker's agent builds (agent/aws-environment.ts), signed as that worker's role session. */
async function workerProvider(securityGroupIds = [groupId]): Promise<AwsInstanceProvider> {
  const credentials = await truth!.credentialsForRole(ROLE, self);
  const client = new EC2Client({ region: moto!.region, endpoint: truth!.endpoint, credentials, maxAttempts: 1 });
  return createAwsInstanceProvider({
    imageId: IMAGE,
    region: moto!.region,
    subnets: [subnet],
    securityGroupIds,
    iamInstanceProfile: profileArn,
    client,
  });
}

async function tagsOf(id: string): Promise<Record<string, string>> {
  const answer = await admin!.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return Object.fromEntries((answer.Reservations?.[0]?.Instances?.[0]?.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

const deniedFor =
  (action: string) =>
  (error: unknown): boolean => {
    assert.ok(isSynktiError(error), String(error));
    assert.match(
      `${error.message} ${String((error as { cause?: unknown }).cause)}`,
      /UnauthorizedOperation|AccessDenied|not authorized/i,
      error.message,
    );
    assert.ok(
      truth!.report().denials.some((d) => d.action === action),
      `the proxy denied ${action}`,
    );
    return true;
  };

test('the default worker role replaces, terminates and untags within its cluster, and nothing outside it', async (t) => {
  if (skip) return t.skip(skip);
  const provider = await workerProvider();
  try {
    // At a notice: its replacement, tagged at launch (spot), and an on-demand fallback.
    const spot = await provider.launch({
      tags: { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: 'worker', [TAG_REPLACES]: self },
      instanceType: 't3.micro',
      lifecycle: 'spot',
      clientToken: 'repl-spot-1',
    });
    const onDemand = await provider.launch({
      tags: { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: 'worker', [TAG_REPLACES]: self },
      instanceType: 't3.micro',
      lifecycle: 'on-demand',
      clientToken: 'repl-od-1',
    });
    assert.deepEqual(await tagsOf(spot.id), { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: 'worker', [TAG_REPLACES]: self });
    // A peer it replaced is terminated; leaving, it untags itself (SynktiCluster included).
    await provider.terminate([onDemand.id]);
    await provider.untag([self], [TAG_CLUSTER, TAG_ROLE]);
    assert.deepEqual(await tagsOf(self), {}, 'untagged on shutdown');
    assert.equal(truth!.report().iamDenied, 0, JSON.stringify(truth!.report().denials));

    // Outside its cluster: a launch tagged for another cluster, moving a peer to it.
    await assert.rejects(
      provider.launch({
        tags: { [TAG_CLUSTER]: 'other', [TAG_ROLE]: 'worker' },
        instanceType: 't3.micro',
        lifecycle: 'on-demand',
        clientToken: 'repl-other-1',
      }),
      deniedFor('ec2:RunInstances'),
    );
    await assert.rejects(provider.tag([peer], { [TAG_CLUSTER]: 'other' }), deniedFor('ec2:CreateTags'));
    // Its own untagged instance is no longer its cluster's: it cannot terminate it.
    await assert.rejects(provider.terminate([self]), deniedFor('ec2:TerminateInstances'));
  } finally {
    provider.close();
  }
  // Another security group than the fleet's (e.g. one open to the world): refused.
  const wide = await workerProvider([otherGroupId]);
  try {
    const before = truth!.report().iamDenied;
    await assert.rejects(
      wide.launch({
        tags: { [TAG_CLUSTER]: CLUSTER, [TAG_ROLE]: 'worker' },
        instanceType: 't3.micro',
        lifecycle: 'on-demand',
        clientToken: 'repl-sg-1',
      }),
      deniedFor('ec2:RunInstances'),
    );
    assert.ok(
      truth!
        .report()
        .denials.slice(before)
        .some((d) => d.resource.endsWith(`security-group/${otherGroupId}`)),
      'denied on the security group',
    );
  } finally {
    wide.close();
  }
});
