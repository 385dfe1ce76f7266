/**
 * A real worker boot on the emulated AWS, end to end: the packed agent and a Node.js
 * tarball in an emulated S3 bucket, the cluster secret a SecureString in emulated SSM,
 * the rendered user data run by bash with the real `aws` CLI (credentials from the
 * instance's IMDS), the unit started by the systemctl shim, and the agent, on the real
 * AWS provider, answering ready on <private IP>:7946. Then a spot preemption (notice in
 * the metadata, seen by the agent, which launches its replacement through the real EC2
 * API, then terminated at the deadline) and a crash; after each, no process of the
 * machine is left.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createImdsClient, renderWorkerUserData } from '@synkti/cloud';
import { TAG_REPLACES, isSynktiError, validateCluster } from '@synkti/core';
import { packAgentArtifact } from '../../cli/src/worker/agent-artifact.ts';
import { startEmulatedAws, type EmulatedAws } from './emulated-aws.ts';
import type { EmulatedInstance } from './instance-metadata.ts';
import { machinePids } from './machine-processes.ts';
import { makeNodeTarball } from './node-tarball.ts';

const CLUSTER = 'emu';
const BUCKET = 'synkti-emu-artifacts';
const SECRET = 'emulated-cluster-secret-0123456789abcdef';

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, diagnostics: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms\n${diagnostics()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The agent's /ready status code, or undefined when nothing answers. */
async function readyStatus(ip: string): Promise<number | undefined> {
  try {
    const res = await fetch(`http://${ip}:7946/ready`, { headers: { authorization: `Bearer ${SECRET}` }, signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

/** Exited: no such pid, or a zombie its new parent has not reaped yet. */
function exited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return true;
  }
}

function tail(file: string, lines = 40): string {
  try {
    return `--- ${file}\n${readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')}`;
  } catch {
    return `--- ${file}: (none)`;
  }
}

test('a worker boots on the emulated AWS, is preempted with notice, and another crashes; nothing is left', async (t) => {
  if (spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).status !== 0 && process.env.SYNKTI_REQUIRE_SERVICES !== '1') {
    return t.skip('the aws CLI is not on PATH (python3 -m pip install awscli); set SYNKTI_REQUIRE_SERVICES=1 to make this a failure');
  }
  const dir = mkdtempSync(join(tmpdir(), 'synkti-emulated-aws-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const credentialRequests: string[] = [];
  const started = Date.now();
  // Packing (~5 s idle, much longer on a loaded machine) overlaps moto's start.
  const packing = Promise.all([packAgentArtifact({ outDir: dir, version: '0.0.0-emu' }), makeNodeTarball(dir)]);
  packing.catch(() => undefined);
  let aws: EmulatedAws;
  try {
    aws = await startEmulatedAws({
      stateDir: join(dir, 'state'),
      // What the IAM side will mint per instance; moto accepts any key while IAM checks are off.
      credentialsFor: async (instance: EmulatedInstance) => {
        credentialRequests.push(instance.instanceId);
        return { AccessKeyId: 'ASIAEMULATEDROLE0001', SecretAccessKey: 'role-secret', Token: `token-for-${instance.instanceId}`, Expiration: new Date(Date.now() + 3_600_000).toISOString() };
      },
    });
  } catch (error) {
    if (isSynktiError(error, 'E_TOOL_MISSING') && process.env.SYNKTI_REQUIRE_SERVICES !== '1') return t.skip(`${error.message}: ${error.hint}`);
    throw error;
  }
  const tokens = new Map<string, string>();
  aws.emulator.on('started', (m) => tokens.set(m.id, m.token));
  t.after(() => aws.stop());
  const config = aws.moto.clientConfig();
  const ec2 = new EC2Client(config);
  const s3 = new S3Client(config);
  const ssm = new SSMClient(config);
  const iam = new IAMClient(config);
  t.after(() => { for (const c of [ec2, s3, ssm, iam]) c.destroy(); });

  const motoMs = Date.now() - started;
  const [agent, node] = await packing;
  const packedMs = Date.now() - started;

  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: agent.key, Body: readFileSync(agent.file) }));
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: node.key, Body: readFileSync(node.file) }));
  await ssm.send(new PutParameterCommand({ Name: `/synkti/${CLUSTER}/cluster-secret`, Type: 'SecureString', Value: SECRET }));
  await iam.send(new CreateRoleCommand({
    RoleName: 'synkti-emu-worker',
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
  }));
  const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'synkti-emu-worker' }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'synkti-emu-worker', RoleName: 'synkti-emu-worker' }));

  const uploadedMs = Date.now() - started - packedMs;
  const spec = validateCluster({ name: CLUSTER, provider: 'aws', region: aws.moto.region, pools: { worker: { count: 2 } } });
  const userData = renderWorkerUserData({ spec, bucket: BUCKET, version: agent.version, sha256: agent.sha256, node: { version: node.version, sha256: node.sha256 } });

  const launchedAt = Date.now();
  // One RunInstances per instance, as the AWS provider launches (moto attaches the
  // instance profile to the first instance of a MinCount > 1 launch only: docs/testing.md).
  const launch = () => ec2.send(new RunInstancesCommand({
    ImageId: aws.network.imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1,
    SubnetId: aws.network.subnets[0]!.subnetId, SecurityGroupIds: [aws.network.securityGroupId],
    IamInstanceProfile: { Arn: profile.InstanceProfile!.Arn! },
    MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', InstanceMetadataTags: 'enabled' },
    InstanceMarketOptions: { MarketType: 'spot' },
    UserData: Buffer.from(userData).toString('base64'),
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'SynktiCluster', Value: CLUSTER }, { Key: 'SynktiRole', Value: 'worker' }] }],
  }));
  const [a, b] = (await Promise.all([launch(), launch()])).map((r) => ({ id: r.Instances![0]!.InstanceId!, ip: r.Instances![0]!.PrivateIpAddress! }));
  assert.ok(a && b);
  assert.match(a.ip, /^127\.100\.1\.\d+$/, 'a loopback private IP from the emulated subnet');
  assert.notEqual(a.ip, b.ip);

  const logs = () => [a, b].flatMap(({ id }) => [join(dir, 'state', 'instances', id, 'boot.log'), join(dir, 'state', 'instances', id, 'service.log')]).map((f) => tail(f)).join('\n');
  await until('both agents answer ready on <private IP>:7946', 90_000, async () => {
    const statuses = await Promise.all([readyStatus(a.ip), readyStatus(b.ip)]);
    return statuses.every((s) => s === 200) ? true : undefined;
  }, logs);
  const bootMs = Date.now() - launchedAt;
  t.diagnostic(`moto up ${motoMs} ms; pack ${packedMs} ms (agent ${agent.bytes} B, node ${node.bytes} B); uploads ${uploadedMs} ms; RunInstances -> both agents ready ${bootMs} ms`);
  assert.equal(aws.emulator.machine(a.id)?.bootExitCode, 0, 'the user data exited 0');
  assert.ok(credentialRequests.includes(a.id) && credentialRequests.includes(b.id), 'the aws CLI and the SDK took role credentials from the instance IMDS');
  const unauthenticated = await fetch(`http://${a.ip}:7946/ready`);
  assert.equal(unauthenticated.status, 401, 'the agent runs with the secret from SSM');
  await unauthenticated.arrayBuffer();

  // Preempt A: the notice is in its metadata at once; its agent sees it (not ready) and
  // launches a replacement through the real EC2 API; at the deadline A is terminated.
  const machineA = aws.emulator.machine(a.id)!;
  const pidsA = machineA.pids();
  assert.ok(pidsA.length >= 3, `guard, runner, agent at least: ${pidsA.join(',')}`);
  const preemption = aws.emulator.preempt(a.id, { noticeInMs: 12_000 });
  const notice = await createImdsClient({ endpoint: machineA.imdsUrl }).interruptionNotice();
  assert.equal(notice?.action, 'terminate');
  assert.equal(Math.floor(notice.time / 1000), Math.floor(preemption.time / 1000));

  // Crash B meanwhile: no notice, everything SIGKILLed, then terminated.
  const tokenB = tokens.get(b.id)!;
  await aws.emulator.crash(b.id);
  assert.deepEqual(machinePids(tokenB), [], 'no process of the crashed machine is left');
  assert.equal(await readyStatus(b.ip), undefined, 'the crashed agent no longer answers');

  // The agent polls the notice every 5 s; at the notice it launches its own replacement
  // (tagged with the id it replaces) through the real EC2 API, with its IMDS credentials.
  const replacement = await until('the preempted agent launches its replacement through the EC2 API', 11_000, async () => {
    const listed = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG_REPLACES}`, Values: [a.id] }] }));
    return (listed.Reservations ?? []).flatMap((r) => r.Instances ?? [])[0];
  }, logs);
  assert.equal(replacement.Tags?.find((tag) => tag.Key === 'SynktiCluster')?.Value, CLUSTER);
  assert.notEqual(await readyStatus(a.ip), 200, 'the preempted agent no longer says ready (draining or gone)');

  await preemption.terminated;
  const preemptedAt = Date.now();
  assert.ok(Date.now() >= preemption.time - 50, 'terminated at the notice time, not before');
  const states = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [a.id, b.id] }));
  const byId = new Map((states.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, i.State?.Name]));
  assert.equal(byId.get(a.id), 'terminated');
  assert.equal(byId.get(b.id), 'terminated');
  assert.deepEqual(machinePids(tokens.get(a.id)!), [], 'no process of the preempted machine is left');
  for (const pid of pidsA) assert.ok(exited(pid), `pid ${pid} of the preempted machine has exited`);
  assert.equal(await readyStatus(a.ip), undefined);

  // stop(): every machine (the replacement too) and its IMDS server gone.
  const imdsUrls = aws.emulator.machines().map((m) => m.imdsUrl);
  await aws.stop();
  t.diagnostic(`notice -> terminated ${preemptedAt - (preemption.time - 12_000)} ms; stop() ${Date.now() - preemptedAt} ms (incl. the checks before it)`);
  for (const token of tokens.values()) assert.deepEqual(machinePids(token), [], 'nothing left after stop()');
  for (const url of imdsUrls) await assert.rejects(fetch(`${url}/latest/api/token`, { method: 'PUT' }), `IMDS ${url} is stopped`);
});
