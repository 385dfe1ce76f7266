/**
 * A real worker boot on the emulated AWS, end to end: the packed agent and a Node.js
 * tarball in an emulated S3 bucket, the cluster secret a SecureString in emulated SSM,
 * the rendered user data run by bash with the real `aws` CLI (credentials from the
 * instance's IMDS), the unit started by the systemctl shim, and the agent, on the real
 * AWS provider, answering ready on <private IP>:7946. Then a spot preemption (notice in
 * the metadata, seen by the agent, which launches its replacement through the real EC2
 * API, then terminated at the deadline) and a crash; after each, no process of the
 * machine is left. Before it, on the same emulated AWS, the lifecycle without a boot:
 * metadata, rebalance, preemption at the deadline, termination through the API.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { createImdsClient, renderWorkerUserData } from '@synkti/cloud';
import { TAG_REPLACES, isSynktiError, validateCluster } from '@synkti/core';
import { packAgentArtifact, type AgentArtifact } from '@synkti/agent/release';
import { startEmulatedAws, type EmulatedAws } from './emulated-aws.ts';
import { ensureEmulatedNetwork } from './emulated-network.ts';
import type { EmulatedInstance } from './instance-metadata.ts';
import { machinePids } from './machine-processes.ts';
import { makeNodeTarball, type NodeTarball } from './node-tarball.ts';

const CLUSTER = 'emu';
const BUCKET = 'synkti-emu-artifacts';
const SECRET = 'emulated-cluster-secret-0123456789abcdef';
const NOTICE_MS = 10_000;

/**
 * Where the machines live: each boot unpacks ~14,000 files (the agent's tree) and the
 * cleanup deletes them, which takes a minute on a busy disk; in memory (/dev/shm, tmpfs)
 * when it has room, else the temporary directory.
 */
function scratchDir(): string {
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > 2 * 1024 ** 3) return mkdtempSync('/dev/shm/synkti-emulated-aws-');
  } catch {
    // no /dev/shm
  }
  return mkdtempSync(join(tmpdir(), 'synkti-emulated-aws-'));
}

async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined> | T | undefined,
  diagnostics: () => string = () => '',
): Promise<T> {
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
    const res = await fetch(`http://${ip}:7946/ready`, {
      headers: { authorization: `Bearer ${SECRET}` },
      signal: AbortSignal.timeout(2000),
    });
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

describe('the emulated AWS', () => {
  const dir = scratchDir();
  const credentialRequests: string[] = [];
  const tokens = new Map<string, string>();
  let aws: EmulatedAws | undefined;
  let skip: string | undefined;
  let started = 0;
  let motoMs = 0;
  let packing: Promise<[AgentArtifact, NodeTarball]> | undefined;

  before(async () => {
    if (spawnSync('bash', ['-c', 'command -v aws'], { encoding: 'utf8' }).status !== 0 && process.env.SYNKTI_REQUIRE_SERVICES !== '1') {
      skip = 'the aws CLI is not on PATH (python3 -m pip install awscli); set SYNKTI_REQUIRE_SERVICES=1 to make this a failure';
      return;
    }
    started = Date.now();
    // Packing (~5 s idle, much longer on a loaded machine) overlaps moto's start.
    packing = Promise.all([packAgentArtifact({ outDir: dir, version: '0.0.0-emu' }), makeNodeTarball(dir)]);
    packing.catch(() => undefined);
    try {
      aws = await startEmulatedAws({
        stateDir: join(dir, 'state'),
        // What the IAM side will mint per instance; moto accepts any key while IAM checks are off.
        credentialsFor: async (instance: EmulatedInstance) => {
          credentialRequests.push(instance.instanceId);
          return {
            AccessKeyId: 'ASIAEMULATEDROLE0001',
            SecretAccessKey: 'role-secret',
            Token: `token-for-${instance.instanceId}`,
            Expiration: new Date(Date.now() + 3_600_000).toISOString(),
          };
        },
      });
    } catch (error) {
      if (isSynktiError(error, 'E_TOOL_MISSING') && process.env.SYNKTI_REQUIRE_SERVICES !== '1') {
        skip = `${error.message}: ${error.hint}`;
        return;
      }
      throw error;
    }
    motoMs = Date.now() - started;
    aws.emulator.on('started', (m) => tokens.set(m.id, m.token));
  });

  after(async () => {
    try {
      await packing?.catch(() => undefined);
      await aws?.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs an instance's metadata, rebalance, preemption at the deadline and termination by the API", async (t) => {
    if (!aws) return t.skip(skip);
    const ec2 = new EC2Client(aws.moto.clientConfig());
    t.after(() => ec2.destroy());
    const run = async () =>
      (
        await ec2.send(
          new RunInstancesCommand({
            ImageId: aws!.network.imageId,
            InstanceType: 'g5.xlarge',
            MinCount: 1,
            MaxCount: 1,
            SubnetId: aws!.network.subnets[1]!.subnetId,
            MetadataOptions: { HttpTokens: 'required', InstanceMetadataTags: 'enabled' },
            TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'SynktiCluster', Value: 'lifecycle' }] }],
          }),
        )
      ).Instances![0]!;
    assert.deepEqual(await ensureEmulatedNetwork(ec2, aws.moto.region), aws.network, 'the network setup is idempotent');
    const first = await run();
    await aws.emulator.sync();
    const machine = aws.emulator.machine(first.InstanceId!);
    assert.ok(machine, 'a machine for the new instance after one pass');
    const imds = createImdsClient({ endpoint: machine.imdsUrl });
    assert.deepEqual(await imds.identity(), {
      instanceId: first.InstanceId,
      instanceType: 'g5.xlarge',
      region: aws.moto.region,
      zone: aws.network.subnets[1]!.zone,
      privateIp: first.PrivateIpAddress,
    });
    assert.match(first.PrivateIpAddress!, /^127\.\d+\.2\.\d+$/);
    assert.deepEqual(await imds.tags(), { SynktiCluster: 'lifecycle' });
    assert.equal(await imds.userData(), undefined);
    assert.equal(await imds.read('iam/security-credentials/'), undefined, 'no instance profile: no credentials');

    aws.emulator.rebalance(first.InstanceId!);
    assert.ok(await imds.rebalanceRecommendation());
    const preemption = aws.emulator.preempt(first.InstanceId!, { noticeInMs: 1500 });
    assert.deepEqual(await imds.interruptionNotice(), { action: 'terminate', time: Math.floor(preemption.time / 1000) * 1000 });
    const beforeDeadline = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [first.InstanceId!] }));
    assert.equal(beforeDeadline.Reservations?.[0]?.Instances?.[0]?.State?.Name, 'running', 'not terminated before the notice time');
    await preemption.terminated;
    assert.ok(Date.now() >= preemption.time - 50);
    const afterwards = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [first.InstanceId!] }));
    assert.equal(afterwards.Reservations?.[0]?.Instances?.[0]?.State?.Name, 'terminated');
    assert.equal(aws.emulator.machine(first.InstanceId!), undefined);
    await assert.rejects(imds.identity(), (e: unknown) => isSynktiError(e, 'E_IMDS_UNAVAILABLE'), 'its IMDS is gone');

    // Terminated through the API, as the fleet does: the machine ends on the next pass.
    const second = await run();
    await aws.emulator.sync();
    const ended = new Promise<string>((resolve) =>
      aws!.emulator.on('ended', (m, why) => {
        if (m.id === second.InstanceId) resolve(why);
      }),
    );
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [second.InstanceId!] }));
    await aws.emulator.sync();
    assert.equal(await ended, 'terminated');
    assert.equal(aws.emulator.machine(second.InstanceId!), undefined);
    assert.throws(
      () => aws!.emulator.preempt(second.InstanceId!),
      (e: unknown) => isSynktiError(e, 'E_EMULATED_INSTANCE_NOT_FOUND'),
    );
  });

  it('boots workers for real; one is preempted with notice, another crashes; nothing is left', async (t) => {
    if (!aws || !packing) return t.skip(skip);
    // The boot script refuses any Node.js but 20, and the tarball wraps this host's node.
    if (!process.versions.node.startsWith('20.')) return t.skip(`workers install Node.js 20; this host runs ${process.versions.node}`);
    const config = aws.moto.clientConfig();
    const ec2 = new EC2Client(config);
    const s3 = new S3Client(config);
    const ssm = new SSMClient(config);
    const iam = new IAMClient(config);
    t.after(() => {
      for (const c of [ec2, s3, ssm, iam]) c.destroy();
    });

    const [agent, node] = await packing;
    const packedMs = Date.now() - started;

    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: agent.key, Body: readFileSync(agent.file) }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: node.key, Body: readFileSync(node.file) }));
    await ssm.send(new PutParameterCommand({ Name: `/synkti/${CLUSTER}/cluster-secret`, Type: 'SecureString', Value: SECRET }));
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'synkti-emu-worker',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    const profile = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'synkti-emu-worker' }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'synkti-emu-worker', RoleName: 'synkti-emu-worker' }));

    const uploadedMs = Date.now() - started - packedMs;
    // Notices polled every second (default 5 s) so the preemption below can be short.
    const spec = validateCluster({
      name: CLUSTER,
      provider: 'aws',
      region: aws.moto.region,
      pools: { worker: { count: 2 } },
      timeouts: { noticePollInterval: '1s' },
    });
    const userData = renderWorkerUserData({
      spec,
      bucket: BUCKET,
      version: agent.version,
      sha256: agent.sha256,
      node: { version: node.version, sha256: node.sha256 },
    });

    const launchedAt = Date.now();
    // One RunInstances per instance, as the AWS provider launches (moto attaches the
    // instance profile to the first instance of a MinCount > 1 launch only: docs/testing.md).
    const network = aws.network;
    const launch = () =>
      ec2.send(
        new RunInstancesCommand({
          ImageId: network.imageId,
          InstanceType: 't3.micro',
          MinCount: 1,
          MaxCount: 1,
          SubnetId: network.subnets[0]!.subnetId,
          SecurityGroupIds: [network.securityGroupId],
          IamInstanceProfile: { Arn: profile.InstanceProfile!.Arn! },
          MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', InstanceMetadataTags: 'enabled' },
          InstanceMarketOptions: { MarketType: 'spot' },
          UserData: Buffer.from(userData).toString('base64'),
          TagSpecifications: [
            {
              ResourceType: 'instance',
              Tags: [
                { Key: 'SynktiCluster', Value: CLUSTER },
                { Key: 'SynktiRole', Value: 'worker' },
              ],
            },
          ],
        }),
      );
    const [a, b] = (await Promise.all([launch(), launch()])).map((r) => ({
      id: r.Instances![0]!.InstanceId!,
      ip: r.Instances![0]!.PrivateIpAddress!,
    }));
    assert.ok(a && b);
    assert.match(a.ip, /^127\.\d+\.1\.\d+$/, 'a loopback private IP from the emulated subnet');
    assert.ok(a.ip.startsWith(aws.network.cidr.replace(/0\.0\/16$/, '')), `inside this run's own block ${aws.network.cidr}`);
    assert.notEqual(a.ip, b.ip);

    const logs = () =>
      [a, b]
        .flatMap(({ id }) => [join(dir, 'state', 'instances', id, 'boot.log'), join(dir, 'state', 'instances', id, 'service.log')])
        .map((f) => tail(f))
        .join('\n');
    await until(
      'both agents answer ready on <private IP>:7946',
      90_000,
      async () => {
        const statuses = await Promise.all([readyStatus(a.ip), readyStatus(b.ip)]);
        return statuses.every((s) => s === 200) ? true : undefined;
      },
      logs,
    );
    const bootMs = Date.now() - launchedAt;
    t.diagnostic(
      `moto up ${motoMs} ms; pack ${packedMs} ms (agent ${agent.bytes} B, node ${node.bytes} B); uploads ${uploadedMs} ms; RunInstances -> both agents ready ${bootMs} ms`,
    );
    assert.equal(aws.emulator.machine(a.id)?.bootExitCode, 0, 'the user data exited 0');
    assert.ok(
      credentialRequests.includes(a.id) && credentialRequests.includes(b.id),
      'the aws CLI and the SDK took role credentials from the instance IMDS',
    );
    const unauthenticated = await fetch(`http://${a.ip}:7946/ready`);
    assert.equal(unauthenticated.status, 401, 'the agent runs with the secret from SSM');
    await unauthenticated.arrayBuffer();

    // Preempt A: the notice is in its metadata at once; its agent sees it (not ready) and
    // launches a replacement through the real EC2 API; at the deadline A is terminated.
    const machineA = aws.emulator.machine(a.id)!;
    const pidsA = machineA.pids();
    assert.ok(pidsA.length >= 3, `guard, runner, agent at least: ${pidsA.join(',')}`);
    const preemption = aws.emulator.preempt(a.id, { noticeInMs: NOTICE_MS });
    const notice = await createImdsClient({ endpoint: machineA.imdsUrl }).interruptionNotice();
    assert.equal(notice?.action, 'terminate');
    assert.equal(Math.floor(notice.time / 1000), Math.floor(preemption.time / 1000));

    // Crash B meanwhile: no notice, everything SIGKILLed, then terminated.
    const tokenB = tokens.get(b.id)!;
    await aws.emulator.crash(b.id);
    assert.deepEqual(machinePids(tokenB), [], 'no process of the crashed machine is left');
    assert.equal(await readyStatus(b.ip), undefined, 'the crashed agent no longer answers');

    // The agent polls the notice every second; at the notice it launches its own replacement
    // (tagged with the id it replaces) through the real EC2 API, with its IMDS credentials.
    const replacement = await until(
      'the preempted agent launches its replacement through the EC2 API',
      NOTICE_MS,
      async () => {
        const listed = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG_REPLACES}`, Values: [a.id] }] }));
        return (listed.Reservations ?? []).flatMap((r) => r.Instances ?? [])[0];
      },
      logs,
    );
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
    t.diagnostic(
      `notice -> terminated ${preemptedAt - (preemption.time - NOTICE_MS)} ms; stop() ${Date.now() - preemptedAt} ms (incl. the checks before it)`,
    );
    for (const token of tokens.values()) assert.deepEqual(machinePids(token), [], 'nothing left after stop()');
    for (const url of imdsUrls) await assert.rejects(fetch(`${url}/latest/api/token`, { method: 'PUT' }), `IMDS ${url} is stopped`);
  });
});
