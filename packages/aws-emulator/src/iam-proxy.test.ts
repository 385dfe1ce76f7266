/**
 * IAM truth end to end: moto started here, the worker role synthesized from
 * SpotServeFleet under Pulumi mocks and created in moto, role credentials minted for an
 * instance as its IMDS would serve them, and every call made through the IAM proxy:
 * the agent's own EC2 provider, raw SDK calls, and the real `aws` CLI the boot script uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RegisterImageCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { IAMClient, ListRolesCommand } from '@aws-sdk/client-iam';
import {
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { AwsInstanceProvider } from '@synkti/cloud';
import { synthesizeServeFleetRoles } from '@synkti/infra/testing';
import { startMotoOrSkip } from './testing/moto-for-tests.ts';
import { MOTO_IAM_ENV, type IamPolicyDocument } from './iam-roles.ts';
import { prepareIamTruth } from './iam-truth.ts';
import type { CredentialsFor } from './instance-metadata.ts';

const CLUSTER = 'iamt';
const ROLE = `${CLUSTER}-worker`;
const SECRET = `/synkti/${CLUSTER}/cluster-secret`;
/** The customer key of the cluster secret, and another team's key. */
const SECRET_KEY = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
const OTHER_KEY = 'arn:aws:kms:us-east-1:123456789012:key/99999999-2222-3333-4444-555555555555';

function errorName(error: unknown): string {
  return (error as { name?: string }).name ?? String(error);
}

function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // A clean environment: no developer profile or credentials leak in.
    execFile(
      command,
      args,
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

test('the worker role, as SpotServeFleet synthesizes it, enforced on the SDK and the aws CLI', async (t) => {
  const phases: string[] = [];
  let mark = Date.now();
  const phase = (name: string): void => {
    const now = Date.now();
    phases.push(`${name} ${now - mark} ms`);
    mark = now;
  };
  // No built-in AMIs: loading moto's ~1200 costs seconds on the first EC2 call.
  const started = await startMotoOrSkip({ env: { ...MOTO_IAM_ENV, MOTO_EC2_LOAD_DEFAULT_AMIS: 'false' } });
  if (started.skip !== undefined) {
    t.skip(started.skip);
    return;
  }
  const moto = started.service;
  phase('moto start');
  t.after(() => moto.stop());
  const admin = moto.clientConfig();
  const ec2Admin = new EC2Client(admin);
  t.after(() => ec2Admin.destroy());

  // The account the fleet lives in: default VPC and subnet, its own security group, an AMI.
  const subnets = (await ec2Admin.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
  phase('first EC2 call');
  const subnet = subnets[0]!;
  const vpcId = subnet.VpcId!;
  const sg = await ec2Admin.send(new CreateSecurityGroupCommand({ GroupName: `${CLUSTER}-worker`, Description: 'workers', VpcId: vpcId }));
  // The workers' image.
  const imageId = (
    await ec2Admin.send(
      new RegisterImageCommand({ Name: 'synkti-worker', RootDeviceName: '/dev/xvda', Architecture: 'x86_64', VirtualizationType: 'hvm' }),
    )
  ).ImageId!;

  phase('vpc, image');
  // The routers' target group, and another cluster's.
  const elbAdmin = new ElasticLoadBalancingV2Client(admin);
  t.after(() => elbAdmin.destroy());
  const targetGroup = async (cluster: string) =>
    (
      await elbAdmin.send(
        new CreateTargetGroupCommand({
          Name: `${cluster}-routers`,
          Protocol: 'HTTP',
          Port: 8080,
          VpcId: vpcId,
          TargetType: 'instance',
          Tags: [{ Key: 'SynktiCluster', Value: cluster }],
        }),
      )
    ).TargetGroups![0]!.TargetGroupArn!;
  const ownGroup = await targetGroup(CLUSTER);
  const otherGroup = await targetGroup('other');
  phase('target groups');

  // Synthesized from the component (no copy of its statements), with the account's real ids.
  const roles = await synthesizeServeFleetRoles(
    {
      projectName: CLUSTER,
      agentReplacement: true,
      vpcId,
      subnetIds: subnets.slice(0, 2).map((s) => s.SubnetId!),
      imageId,
      loadBalancer: {},
      clusterSecretKmsKeyArn: SECRET_KEY,
    },
    { stack: 'dev', workerSecurityGroupId: sg.GroupId!, targetGroupArn: ownGroup },
  );
  phase('synthesis under Pulumi mocks');
  const workerRole = roles.find((r) => r.name === ROLE);
  assert.ok(workerRole, `roles: ${roles.map((r) => r.name).join(', ')}`);
  const policyText = JSON.stringify(workerRole.inlinePolicies);
  const models = /arn:aws:s3:::([a-z0-9.-]+-models-[0-9]+)\//.exec(policyText)![1]!;

  // Data the worker reads at boot, made by the administrator (as `synkti bootstrap` would).
  const s3Admin = new S3Client(admin);
  const ssmAdmin = new SSMClient(admin);
  t.after(() => {
    s3Admin.destroy();
    ssmAdmin.destroy();
  });
  await s3Admin.send(new CreateBucketCommand({ Bucket: models }));
  await s3Admin.send(new PutObjectCommand({ Bucket: models, Key: 'artifacts/synkti-agent', Body: 'agent-bytes' }));
  await s3Admin.send(new PutObjectCommand({ Bucket: models, Key: 'private/notes', Body: 'not for workers' }));
  await ssmAdmin.send(new PutParameterCommand({ Name: SECRET, Type: 'SecureString', Value: 'the-cluster-secret', KeyId: SECRET_KEY }));
  await ssmAdmin.send(new PutParameterCommand({ Name: '/other-team/db-password', Type: 'SecureString', Value: 'hunter2' }));
  await ssmAdmin.send(new PutParameterCommand({ Name: '/other-team/api-key', Type: 'SecureString', Value: 'k', KeyId: OTHER_KEY }));

  // The endpoint and credentialsFor first (what startEmulatedAws takes), moto attached after.
  const pending = await prepareIamTruth({ roles });
  t.after(() => pending.stop());
  const profileArnOf = `arn:aws:iam::${moto.accountId}:instance-profile/${ROLE}`;
  const early = pending.credentialsFor({ instanceId: 'i-early', instanceProfileArn: profileArnOf });
  // Fits the instance emulator's option as is (checked by the type checker).
  const fits: CredentialsFor = pending.credentialsFor;
  assert.equal(typeof fits, 'function');
  const truth = await pending.attach(moto);
  phase('roles in moto + proxy');
  assert.equal(truth.endpoint, pending.endpoint);
  assert.match((await early)?.AccessKeyId ?? '', /^ASIA/, 'a request made before attach is answered after it');
  const profileArn = truth.roles.find((r) => r.name === ROLE)!.instanceProfiles[0]!.arn;
  assert.equal(profileArn, profileArnOf);

  // This node (own cluster) and a stranger (another cluster), launched by the administrator.
  const launch = async (cluster: string) =>
    (
      await ec2Admin.send(
        new RunInstancesCommand({
          ImageId: imageId,
          MinCount: 1,
          MaxCount: 1,
          InstanceType: 't3.micro',
          SubnetId: subnet.SubnetId,
          IamInstanceProfile: { Arn: profileArn },
          TagSpecifications: [
            {
              ResourceType: 'instance',
              Tags: [
                { Key: 'SynktiCluster', Value: cluster },
                { Key: 'SynktiRole', Value: 'worker' },
              ],
            },
          ],
        }),
      )
    ).Instances![0]!.InstanceId!;
  const self = await launch(CLUSTER);
  const stranger = await launch('other');

  // The credentials this node's IMDS serves.
  const imds = await truth.credentialsFor({ instanceId: self, instanceProfileArn: profileArn });
  const served = await truth.sessionFor({ instanceId: self, instanceProfileArn: profileArn });
  assert.ok(imds && served);
  assert.equal(imds.AccessKeyId, served.credentials.accessKeyId, 'one session per instance until it nears expiry');
  assert.equal(served.roleName, ROLE);
  const principal = `arn:aws:sts::${moto.accountId}:assumed-role/${ROLE}/${self}`;
  const config = truth.proxy.clientConfig(served.credentials);
  const ec2 = new EC2Client(config);
  const s3 = new S3Client(config);
  const ssm = new SSMClient(config);
  t.after(() => {
    ec2.destroy();
    s3.destroy();
    ssm.destroy();
  });

  // --- a normal life, through the agent's own EC2 provider: all allowed ------------------
  const provider = new AwsInstanceProvider({
    imageId,
    client: ec2,
    region: moto.region,
    subnets: [{ subnetId: subnet.SubnetId!, zone: subnet.AvailabilityZone! }],
    securityGroupIds: [sg.GroupId!],
    iamInstanceProfile: profileArn,
    maxAttempts: 1,
  });
  t.after(() => provider.close());
  const peers = await provider.list({ tags: { SynktiCluster: CLUSTER } });
  assert.deepEqual(
    peers.items.map((i) => i.id),
    [self],
  );
  const replacement = await provider.launch({
    tags: { SynktiCluster: CLUSTER, SynktiRole: 'worker' },
    instanceType: 't3.micro',
    lifecycle: 'spot',
  });
  await provider.tag([replacement.id], { SynktiState: 'ready' });
  await provider.untag([replacement.id], ['SynktiState']);
  await provider.terminate([replacement.id]);
  // Joining and leaving its own cluster's target group (the agent's load-balancer calls).
  const elb = new ElasticLoadBalancingV2Client(config);
  t.after(() => elb.destroy());
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: ownGroup, Targets: [{ Id: self, Port: 8080 }] }));
  await elb.send(new DeregisterTargetsCommand({ TargetGroupArn: ownGroup, Targets: [{ Id: self, Port: 8080 }] }));
  const secret = await ssm.send(new GetParameterCommand({ Name: SECRET, WithDecryption: true }));
  assert.equal(secret.Parameter?.Value, 'the-cluster-secret');
  const agent = await s3.send(new GetObjectCommand({ Bucket: models, Key: 'artifacts/synkti-agent' }));
  assert.equal(await agent.Body?.transformToString(), 'agent-bytes');
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: models, Prefix: 'artifacts/' }));
  assert.deepEqual(
    listed.Contents?.map((o) => o.Key),
    ['artifacts/synkti-agent'],
  );
  let report = truth.report();
  assert.equal(report.iamDenied, 0, JSON.stringify(report.denials, null, 1));
  for (const action of [
    'ec2:DescribeInstances',
    'ec2:RunInstances',
    'ec2:CreateTags',
    'ec2:DeleteTags',
    'ec2:TerminateInstances',
    'ssm:GetParameter',
    's3:GetObject',
    's3:ListBucket',
    'elasticloadbalancing:RegisterTargets',
    'elasticloadbalancing:DeregisterTargets',
    'ssm:GetParameter',
  ]) {
    assert.ok(
      (report.byPrincipal[principal]?.[action]?.calls ?? 0) >= 1,
      `${action} counted for ${principal}: ${JSON.stringify(report.byPrincipal)}`,
    );
  }
  // Truth, not wishes: the attached AWS managed policy (AmazonSSMManagedInstanceCore) grants
  // ssm:GetParameter on every parameter, so the worker can read another team's under the
  // aws/ssm key; one under another customer key is refused by kms:Decrypt only.
  assert.equal(
    (await ssm.send(new GetParameterCommand({ Name: '/other-team/db-password', WithDecryption: true }))).Parameter?.Value,
    'hunter2',
  );

  phase('a normal life (allowed)');
  // --- the same calls outside the cluster: denied, as AWS would ---------------------------
  const denied = async (call: Promise<unknown>, code: string, action: string): Promise<void> => {
    const before = truth.report().iamDenied;
    await assert.rejects(call, (error: unknown) => errorName(error) === code, `expected ${code} for ${action}`);
    const after = truth.report();
    assert.equal(after.iamDenied, before + 1);
    const last = after.denials.at(-1)!;
    assert.equal(last.action, action);
    assert.equal(last.principal, principal);
  };
  await denied(ec2.send(new TerminateInstancesCommand({ InstanceIds: [stranger] })), 'UnauthorizedOperation', 'ec2:TerminateInstances');
  await denied(
    ec2.send(new CreateTagsCommand({ Resources: [stranger], Tags: [{ Key: 'SynktiState', Value: 'draining' }] })),
    'UnauthorizedOperation',
    'ec2:CreateTags',
  );
  // Moving its own instance to another cluster: the cluster key is not a worker's to write.
  await denied(
    ec2.send(new CreateTagsCommand({ Resources: [self], Tags: [{ Key: 'SynktiCluster', Value: 'other' }] })),
    'UnauthorizedOperation',
    'ec2:CreateTags',
  );
  // DeleteTags without keys would delete every tag, the cluster's included.
  await denied(ec2.send(new DeleteTagsCommand({ Resources: [self] })), 'UnauthorizedOperation', 'ec2:DeleteTags');
  await denied(
    ec2.send(
      new RunInstancesCommand({
        ImageId: imageId,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 't3.micro',
        SubnetId: subnet.SubnetId,
        SecurityGroupIds: [sg.GroupId!],
        IamInstanceProfile: { Arn: profileArn },
        TagSpecifications: ['instance', 'volume'].map((type) => ({
          ResourceType: type as 'instance',
          Tags: [{ Key: 'SynktiCluster', Value: 'other' }],
        })),
      }),
    ),
    'UnauthorizedOperation',
    'ec2:RunInstances',
  );
  await denied(s3.send(new GetObjectCommand({ Bucket: models, Key: 'private/notes' })), 'AccessDenied', 's3:GetObject');
  await denied(
    elb.send(new DeregisterTargetsCommand({ TargetGroupArn: otherGroup, Targets: [{ Id: stranger, Port: 8080 }] })),
    'AccessDenied',
    'elasticloadbalancing:DeregisterTargets',
  );
  await denied(
    ssm.send(new GetParameterCommand({ Name: '/other-team/api-key', WithDecryption: true })),
    'AccessDeniedException',
    'kms:Decrypt',
  );
  // JSON (SSM) and query (IAM) protocols answer in their own shapes.
  await denied(
    ssm.send(new PutParameterCommand({ Name: SECRET, Type: 'SecureString', Value: 'overwritten', Overwrite: true })),
    'AccessDeniedException',
    'ssm:PutParameter',
  );
  const iam = new IAMClient(config);
  t.after(() => iam.destroy());
  await denied(iam.send(new ListRolesCommand({})), 'AccessDenied', 'iam:ListRoles');
  const stillThere = await ec2Admin.send(new DescribeInstancesCommand({ InstanceIds: [stranger] }));
  assert.equal(stillThere.Reservations?.[0]?.Instances?.[0]?.State?.Name, 'running', 'a denied call never reaches moto');

  phase('outside the cluster (denied)');
  // --- remove one permission from the synthesized policy: the run reports it ------------
  const inline = workerRole.inlinePolicies.find((p) => JSON.stringify(p.document).includes('ec2:TerminateInstances'))!;
  const without: IamPolicyDocument = {
    ...inline.document,
    Statement: inline.document.Statement.filter((s) => ![s.Action].flat().includes('ec2:TerminateInstances')),
  };
  assert.equal(without.Statement.length, inline.document.Statement.length - 1);
  await truth.putRolePolicy(ROLE, inline.name, without);
  const doomed = await provider.launch({
    tags: { SynktiCluster: CLUSTER, SynktiRole: 'worker' },
    instanceType: 't3.micro',
    lifecycle: 'on-demand',
  });
  await denied(ec2.send(new TerminateInstancesCommand({ InstanceIds: [doomed.id] })), 'UnauthorizedOperation', 'ec2:TerminateInstances');
  report = truth.report();
  assert.equal(report.byPrincipal[principal]?.['ec2:TerminateInstances']?.denied, 2);

  phase('one permission removed');
  // --- the boot script's aws CLI, with the role's credentials ----------------------------
  const cli = await truth.credentialsForRole(ROLE, 'boot-script');
  const cliPrincipal = `arn:aws:sts::${moto.accountId}:assumed-role/${ROLE}/boot-script`;
  const env = truth.proxy.env(cli);
  const dir = await mkdtemp(join(tmpdir(), 'synkti-iam-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const got = await run(
    'aws',
    [
      's3api',
      'get-object',
      '--region',
      moto.region,
      '--bucket',
      models,
      '--key',
      'artifacts/synkti-agent',
      '--expected-bucket-owner',
      moto.accountId,
      join(dir, 'agent'),
    ],
    env,
  );
  assert.equal(got.code, 0, got.stderr);
  assert.equal(await readFile(join(dir, 'agent'), 'utf8'), 'agent-bytes');
  const param = await run(
    'aws',
    [
      'ssm',
      'get-parameter',
      '--region',
      moto.region,
      '--name',
      SECRET,
      '--with-decryption',
      '--query',
      'Parameter.Value',
      '--output',
      'text',
    ],
    env,
  );
  assert.equal(param.code, 0, param.stderr);
  assert.equal(param.stdout.trim(), 'the-cluster-secret');
  const refused = await run(
    'aws',
    ['s3api', 'get-object', '--region', moto.region, '--bucket', models, '--key', 'private/notes', join(dir, 'notes')],
    env,
  );
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /AccessDenied/);
  const last = truth.report().denials.at(-1)!;
  assert.deepEqual([last.principal, last.action, last.resource], [cliPrincipal, 's3:GetObject', `arn:aws:s3:::${models}/private/notes`]);

  phase('aws CLI (3 runs)');
  // A key the account never issued.
  const stranger2 = new EC2Client({
    ...config,
    credentials: { accessKeyId: 'ASIANEVERISSUED00000', secretAccessKey: 'x', sessionToken: 'y' },
  });
  t.after(() => stranger2.destroy());
  await assert.rejects(stranger2.send(new DescribeInstancesCommand({})), (error: unknown) => errorName(error) === 'AuthFailure');

  // Hostile input: an oversized body is refused before it is read whole, garbage is an anonymous call.
  const auth = `AWS4-HMAC-SHA256 Credential=${served.credentials.accessKeyId}/20261207/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0`;
  const big = await fetch(truth.endpoint, {
    method: 'POST',
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=DescribeInstances&x=' + 'a'.repeat(2 * 1024 * 1024),
  }).catch((error: unknown) => error);
  // The proxy answers 413 and closes; a client still sending may see the reset instead.
  assert.ok(big instanceof Response ? big.status === 413 : big instanceof Error, String(big));
  if (big instanceof Response) await big.arrayBuffer();
  const garbage = await fetch(`${truth.endpoint}/%zz/%%?x`, { headers: { authorization: 'garbage' } });
  assert.equal(garbage.status, 403);
  await garbage.arrayBuffer();

  report = truth.report();
  t.diagnostic(phases.join(', '));
  t.diagnostic(
    `calls ${report.awsCalls}, denied ${report.iamDenied}, admin ${report.adminCalls}; context: ${report.context.full}/${report.context.checks} checks full, missing ${JSON.stringify(report.context.missingKeysByAction)}`,
  );
  assert.equal(report.errors, 0);
});
