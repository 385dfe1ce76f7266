/**
 * `synkti up` on a provider 'aws' cluster, against a stateful in-memory EC2 behind
 * aws-sdk-client-mock (instances go pending → running; DescribeInstances answers from
 * what RunInstances launched): it launches only what each pool is missing, through the
 * launch code of `synkti scale` / bootstrap (tags at launch, the rendered boot script),
 * and returns once EC2 lists every pool at its count, running.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { isSynktiError, validateCluster } from '@synkti/core';
import { renderWorkerUserData } from '@synkti/cloud';
import { FakeEc2 } from '@synkti/cloud/aws-testing';
import { up } from '../commands/up.ts';
import { buildProgram } from '../main.ts';
import { DEFAULT_NODE_VERSION } from '../worker/launch-options.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const SPEC = validateCluster({
  name: 'prod',
  provider: 'aws',
  region: 'us-east-1',
  pools: { worker: { count: 3, onDemandBase: 1 }, gpu: { count: 1, size: 'gpu' } },
});
// No SYNKTI_CLUSTER_SECRET: agents are never asked (their fake private IPs are not loopback).
const ENV = {
  SYNKTI_IMAGE_ID: 'ami-0123456789abcdef0',
  SYNKTI_BUCKET: 'acme-synkti-prod',
  SYNKTI_AGENT_VERSION: '0.1.0',
  SYNKTI_AGENT_SHA256: 'a'.repeat(64),
  SYNKTI_NODE_SHA256: 'b'.repeat(64),
  SYNKTI_SUBNETS: 'subnet-0aaa:us-east-1a',
  SYNKTI_SECURITY_GROUPS: 'sg-0aaa',
  SYNKTI_INSTANCE_PROFILE: 'prod-worker',
};
const CONFIG = '/nonexistent/synkti.config.ts';
const ZONES = { 'subnet-0aaa': 'us-east-1a' };

function runs(ec2: FakeEc2): RunInstancesCommandInput[] {
  return ec2.mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
}

function tagsOf(input: RunInstancesCommandInput, type = 'instance'): Record<string, string> {
  return Object.fromEntries(
    (input.TagSpecifications?.find((t) => t.ResourceType === type)?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']),
  );
}

describe('synkti up on aws (EC2 mocked)', () => {
  it('launches what each pool is missing (on-demand base first), tagged at launch, booting the rendered script, and waits until all run', async () => {
    const ec2 = new FakeEc2({ pendingMs: 150, subnetZones: ZONES });
    const result = await up(SPEC, CONFIG, { timeoutMs: 20_000, pollMs: 50, json: true, env: ENV, ec2Client: ec2.client });
    assert.equal(result.ok, true);
    assert.equal(result.launched.length, 4);
    const inputs = runs(ec2);
    assert.deepEqual(
      inputs.map((i) => `${tagsOf(i).SynktiRole}:${i.InstanceMarketOptions?.MarketType ?? 'on-demand'}`),
      ['worker:on-demand', 'worker:spot', 'worker:spot', 'gpu:spot'],
    );
    const script = renderWorkerUserData({
      spec: { ...SPEC, aws: { subnets: [{ subnetId: 'subnet-0aaa', zone: 'us-east-1a' }] } },
      bucket: 'acme-synkti-prod',
      version: '0.1.0',
      sha256: 'a'.repeat(64),
      node: { version: DEFAULT_NODE_VERSION, sha256: 'b'.repeat(64), arch: 'x64' },
    });
    for (const input of inputs) {
      assert.equal(tagsOf(input).SynktiCluster, 'prod');
      assert.equal(tagsOf(input, 'volume').SynktiCluster, 'prod', 'volumes tagged at launch too');
      assert.equal(input.ImageId, ENV.SYNKTI_IMAGE_ID);
      assert.equal(input.SubnetId, 'subnet-0aaa');
      assert.deepEqual(input.SecurityGroupIds, ['sg-0aaa']);
      assert.deepEqual(input.IamInstanceProfile, { Name: 'prod-worker' });
      assert.equal(
        Buffer.from(input.UserData ?? '', 'base64').toString('utf8'),
        script,
        'the boot script of `synkti worker launch`, byte for byte',
      );
    }
    // Returned once every instance runs: each report is a running instance of the cluster.
    assert.deepEqual(
      result.reports.map((r) => r.record.state),
      ['running', 'running', 'running', 'running'],
    );
    assert.deepEqual(new Set(result.reports.map((r) => r.record.id)), new Set(result.launched));

    // A second `up` finds every pool at its count: nothing launched, ready at once.
    const again = await up(SPEC, CONFIG, { timeoutMs: 20_000, pollMs: 50, json: true, env: ENV, ec2Client: ec2.client });
    assert.deepEqual([again.ok, again.launched], [true, []]);
    assert.equal(runs(ec2).length, 4);

    // --nodes raises one pool; the other is left as it is.
    const more = await up(SPEC, CONFIG, {
      nodes: 2,
      pool: 'gpu',
      timeoutMs: 20_000,
      pollMs: 50,
      json: true,
      env: ENV,
      ec2Client: ec2.client,
    });
    assert.equal(more.ok, true);
    assert.deepEqual(
      runs(ec2)
        .slice(4)
        .map((i) => tagsOf(i).SynktiRole),
      ['gpu'],
    );
  });

  it('not running within --timeout: ok false (exit 3), the launches reported', async () => {
    const ec2 = new FakeEc2({ pendingMs: 10 * 60_000, subnetZones: ZONES });
    const spec = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 1 } } });
    const started = Date.now();
    const result = await up(spec, CONFIG, { timeoutMs: 300, pollMs: 50, json: true, env: ENV, ec2Client: ec2.client });
    assert.equal(result.ok, false);
    assert.equal(result.launched.length, 1);
    assert.deepEqual(
      result.reports.map((r) => r.record.state),
      ['pending'],
    );
    assert.ok(Date.now() - started < 15_000, 'bounded by the timeout');
  });

  it('a missing launch setting or --chaos-rate is a usage error before anything is launched', async () => {
    const ec2 = new FakeEc2({ subnetZones: ZONES });
    await assert.rejects(
      up(SPEC, CONFIG, { timeoutMs: 1000, json: true, env: { ...ENV, SYNKTI_BUCKET: '' }, ec2Client: ec2.client }),
      (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_USAGE'), String(error));
        assert.match(error.message, /bucket is required/);
        assert.match(error.hint ?? '', /--bucket/);
        assert.match(error.hint ?? '', /SYNKTI_BUCKET/);
        return true;
      },
    );
    await assert.rejects(
      up(SPEC, CONFIG, { timeoutMs: 1000, json: true, env: { ...ENV, SYNKTI_IMAGE_ID: '' }, ec2Client: ec2.client }),
      (error: unknown) => isSynktiError(error, 'E_USAGE') && /AMI/.test(error.message) && /SYNKTI_IMAGE_ID/.test(error.hint ?? ''),
    );
    await assert.rejects(
      up(SPEC, CONFIG, { timeoutMs: 1000, json: true, env: ENV, ec2Client: ec2.client, chaos: { ratePerHour: 6, noticeMs: 120_000 } }),
      (error: unknown) => isSynktiError(error, 'E_USAGE') && /--chaos-rate is for the local cloud/.test(error.message),
    );
    assert.equal(runs(ec2).length, 0);
  });

  it('the up command takes the launch flags of worker launch, each with its SYNKTI_* variable', () => {
    const program = buildProgram();
    const upCommand = program.commands.find((c) => c.name() === 'up');
    const launchCommand = program.commands.find((c) => c.name() === 'worker')?.commands.find((c) => c.name() === 'launch');
    assert.ok(upCommand && launchCommand);
    const upFlags = new Map(upCommand.options.map((o) => [o.long, o.envVar]));
    for (const o of launchCommand.options) {
      if (['--count', '--role', '--lifecycle', '--json', '--help'].includes(o.long ?? '')) continue;
      assert.equal(upFlags.get(o.long), o.envVar, `up has ${o.long} reading ${o.envVar}`);
    }
    let help = '';
    upCommand.configureOutput({
      writeOut: (text) => {
        help += text;
      },
    });
    upCommand.outputHelp();
    assert.match(help, /With provider 'aws' it launches the missing EC2 instances/);
  });
});
