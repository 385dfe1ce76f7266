/**
 * `synkti scale` rules and its aws path: pool and count checks, which nodes a scale-in
 * removes, and on EC2 (mocked) launches of the missing nodes with tags at launch /
 * one TerminateInstances of the extras, only ever this cluster's instances.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { Command } from 'commander';
import { initialSlotCreditMs } from '@synkti/agent/spot-ledger';
import { isSynktiError, validateCluster } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import type { AgentStatus, NodeReport } from '../agent-status.ts';
import { MAX_SCALE, checkPool, parseNodeCount, scale, scaleInOrder } from '../commands/scale.ts';
import { buildProgram } from '../main.ts';
import { addLaunchOptions, launchSettingsFrom, type LaunchOptionValues } from '../worker/launch-options.ts';
import { fakeEc2, type FakeEc2Instance } from './aws-fleet-testing.ts';

const SPEC = validateCluster({
  name: 'prod',
  provider: 'aws',
  region: 'us-east-1',
  pools: { worker: { count: 2 }, gpu: { count: 1, size: 'gpu' } },
});
const ENV = {
  SYNKTI_IMAGE_ID: 'ami-0123456789abcdef0',
  SYNKTI_BUCKET: 'acme-synkti-prod',
  SYNKTI_AGENT_SHA256: 'a'.repeat(64),
  SYNKTI_NODE_SHA256: 'b'.repeat(64),
  SYNKTI_SUBNETS: 'subnet-0aaa:us-east-1a',
};

function instance(n: number, role: string, cluster = 'prod', state: FakeEc2Instance['state'] = 'running'): FakeEc2Instance {
  return {
    id: `i-${n.toString(16).padStart(17, '0')}`,
    state,
    tags: { SynktiCluster: cluster, SynktiRole: role },
    privateIp: `10.0.0.${n}`,
    launchedAt: 1_700_000_000_000 + n * 1000,
  };
}

function report(id: string, launchedAt: number, status?: Partial<AgentStatus>): NodeReport {
  const record: InstanceRecord = {
    id,
    state: 'running',
    privateIp: '127.0.0.1',
    instanceType: 't',
    zone: 'z',
    lifecycle: 'spot',
    launchedAt,
    tags: {},
  };
  return {
    record,
    status: status
      ? {
          id,
          role: 'worker',
          zone: 'z',
          state: 'ready',
          address: '127.0.0.1',
          ports: { agent: 1, router: 2, workload: 3 },
          uptimeMs: 1,
          load: 0,
          members: [],
          ...status,
        }
      : undefined,
  };
}

function usageError(fn: () => unknown, message: RegExp, hint?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(isSynktiError(error, 'E_USAGE'), `E_USAGE, got ${String(error)}`);
    assert.match(error.message, message);
    if (hint) assert.match(error.hint ?? '', hint);
    return true;
  });
}

describe('scale rules', () => {
  it('the count is a whole number from 0 to a per-provider maximum', () => {
    assert.equal(parseNodeCount('0', 'local'), 0);
    assert.equal(parseNodeCount('3', 'aws'), 3);
    for (const bad of ['-1', '2.5', 'three', '', '1e3', '0x10']) usageError(() => parseNodeCount(bad, 'aws'), /whole number of 0 or more/);
    usageError(() => parseNodeCount(String(MAX_SCALE.local + 1), 'local'), /more than the 64 a local pool/, /provider aws/);
    usageError(() => parseNodeCount('1001', 'aws'), /more than the 1000 an aws pool/);
  });

  it('an unknown pool is refused, naming the known ones', () => {
    usageError(() => checkPool(SPEC, 'wroker'), /no pool named "wroker" in cluster prod/, /pools: worker, gpu/);
    assert.equal(checkPool(SPEC, 'gpu'), 'gpu');
  });

  it('scale-in removes idle-and-not-serving nodes first, then the least loaded, then the newest', () => {
    const order = scaleInOrder([
      report('i-old-busy', 1, { load: 5 }),
      report('i-old-idle', 2, { load: 0 }),
      report('i-new-idle', 3, { load: 0 }),
      report('i-unreachable', 0),
      report('i-starting', 4, { state: 'starting', load: 0 }),
    ]);
    assert.deepEqual(
      order.map((r) => r.record.id),
      ['i-starting', 'i-unreachable', 'i-new-idle', 'i-old-idle', 'i-old-busy'],
    );
  });
});

describe('synkti scale on aws (EC2 mocked)', () => {
  it('scale out launches only the missing nodes, tagged for the cluster and pool at launch', async () => {
    const fleet = [instance(1, 'worker'), instance(2, 'gpu'), instance(3, 'worker', 'other'), instance(4, 'worker', 'prod', 'terminated')];
    const { client, mock } = fakeEc2(fleet);
    try {
      const result = await scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', '3', { ec2Client: client, env: ENV, quiet: true });
      assert.equal(result.provider, 'aws');
      assert.equal(result.from, 1, 'one live worker of this cluster (other clusters and terminated ones do not count)');
      assert.equal(result.launched.length, 2);
      assert.deepEqual(result.terminated, []);
      assert.equal(result.ready, undefined, 'aws does not wait for agents');
      const runs = mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
      assert.equal(runs.length, 2);
      for (const input of runs) {
        const tags = input.TagSpecifications?.find((t) => t.ResourceType === 'instance')?.Tags ?? [];
        assert.deepEqual(
          tags
            .filter((t) => t.Key?.startsWith('Synkti'))
            .map((t) => `${t.Key}=${t.Value}`)
            .sort(),
          ['SynktiCluster=prod', 'SynktiRole=worker', `SynktiSlotCredit=${initialSlotCreditMs()}`],
          'a new spot slot carries its initial credit',
        );
        assert.equal(input.ImageId, ENV.SYNKTI_IMAGE_ID);
        assert.match(Buffer.from(input.UserData ?? '', 'base64').toString('utf8'), /acme-synkti-prod/, 'boots with the worker user data');
      }
      assert.equal(mock.commandCalls(TerminateInstancesCommand).length, 0);
    } finally {
      mock.restore();
    }
  });

  it("scale in terminates the extras (newest first when agents cannot be asked), in one call, never another cluster's", async () => {
    const fleet = [instance(1, 'worker'), instance(2, 'worker'), instance(3, 'worker'), instance(4, 'gpu'), instance(9, 'worker', 'other')];
    const { client, mock } = fakeEc2(fleet);
    try {
      const result = await scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 1, { ec2Client: client, env: {}, quiet: true });
      assert.equal(result.from, 3);
      assert.deepEqual(result.terminated, ['i-00000000000000003', 'i-00000000000000002']);
      const calls = mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds);
      assert.deepEqual(calls, [['i-00000000000000003', 'i-00000000000000002']]);
      assert.equal(fleet.find((i) => i.id === 'i-00000000000000009')!.state, 'running');
      assert.equal(mock.commandCalls(RunInstancesCommand).length, 0);
      assert.deepEqual(
        result.nodes.map((n) => n.record.id),
        ['i-00000000000000001'],
        'the pool afterwards',
      );
    } finally {
      mock.restore();
    }
  });

  it('at the asked count nothing is launched or terminated; launching without an AMI is a usage error', async () => {
    const fleet = [instance(1, 'worker'), instance(2, 'worker')];
    const { client, mock } = fakeEc2(fleet);
    try {
      const same = await scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 2, { ec2Client: client, env: {}, quiet: true });
      assert.deepEqual([same.launched, same.terminated], [[], []]);
      await assert.rejects(
        scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 3, { ec2Client: client, env: {}, quiet: true }),
        (error: unknown) =>
          isSynktiError(error, 'E_USAGE') &&
          /bucket is required/.test(error.message) &&
          /--bucket/.test(error.hint ?? '') &&
          /SYNKTI_BUCKET/.test(error.hint ?? '') &&
          /--image-id \(SYNKTI_IMAGE_ID\)/.test(error.hint ?? ''),
      );
      await assert.rejects(
        scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 3, { ec2Client: client, env: { ...ENV, SYNKTI_IMAGE_ID: '' }, quiet: true }),
        (error: unknown) => isSynktiError(error, 'E_USAGE') && /AMI/.test(error.message),
        'the AMI is required to launch',
      );
      assert.equal(mock.commandCalls(RunInstancesCommand).length, 0);
    } finally {
      mock.restore();
    }
  });

  it("launch flags reach RunInstances: AMI, subnet, security groups, instance profile and the boot script's bucket", async () => {
    const fleet = [instance(1, 'worker')];
    const { client, mock } = fakeEc2(fleet);
    const launch: LaunchOptionValues = {
      imageId: 'ami-0fedcba9876543210',
      bucket: 'flag-bucket',
      sha256: 'c'.repeat(64),
      nodeSha256: 'd'.repeat(64),
      subnet: ['subnet-0bbb:us-east-1b'],
      securityGroup: ['sg-0aaa', 'sg-0bbb'],
      instanceProfile: 'acme-synkti-worker',
    };
    try {
      const result = await scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 2, { ec2Client: client, env: {}, launch, quiet: true });
      assert.equal(result.launched.length, 1);
      const [input] = mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
      assert.ok(input);
      assert.equal(input.ImageId, 'ami-0fedcba9876543210');
      assert.equal(input.SubnetId, 'subnet-0bbb');
      assert.deepEqual(input.SecurityGroupIds, ['sg-0aaa', 'sg-0bbb']);
      assert.deepEqual(input.IamInstanceProfile, { Name: 'acme-synkti-worker' });
      assert.ok(
        SPEC.pools.worker!.instanceTypes.includes(String(input.InstanceType)),
        "the instance type is the pool's (synkti.config.ts)",
      );
      const userData = Buffer.from(input.UserData ?? '', 'base64').toString('utf8');
      assert.match(userData, /flag-bucket/);
      assert.match(userData, /c{64}/, 'the agent checksum from --sha256');
    } finally {
      mock.restore();
    }
  });

  it('a flag beats its SYNKTI_* variable; settings without a flag still come from the environment', async () => {
    const fleet = [instance(1, 'worker')];
    const { client, mock } = fakeEc2(fleet);
    try {
      await scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 2, {
        ec2Client: client,
        env: ENV,
        quiet: true,
        launch: { imageId: 'ami-0fedcba9876543210', bucket: 'flag-bucket', subnet: ['subnet-0ccc:us-east-1c'], instanceProfile: '' },
      });
      const [input] = mock.commandCalls(RunInstancesCommand).map((c) => c.args[0].input);
      assert.ok(input);
      assert.equal(input.ImageId, 'ami-0fedcba9876543210', 'not SYNKTI_IMAGE_ID');
      assert.equal(input.SubnetId, 'subnet-0ccc', 'not SYNKTI_SUBNETS');
      const userData = Buffer.from(input.UserData ?? '', 'base64').toString('utf8');
      assert.match(userData, /flag-bucket/);
      assert.doesNotMatch(userData, /acme-synkti-prod/, 'not SYNKTI_BUCKET');
      assert.match(userData, /a{64}/, 'the agent checksum still from SYNKTI_AGENT_SHA256');
    } finally {
      mock.restore();
    }
  });

  it('a missing launch setting is a usage error naming both its flag and its SYNKTI_* variable; nothing is launched', async () => {
    const fleet = [instance(1, 'worker')];
    const { client, mock } = fakeEc2(fleet);
    const complete: LaunchOptionValues = {
      imageId: 'ami-0fedcba9876543210',
      bucket: 'flag-bucket',
      sha256: 'c'.repeat(64),
      nodeSha256: 'd'.repeat(64),
    };
    const cases: [keyof LaunchOptionValues, RegExp, RegExp, RegExp][] = [
      ['bucket', /bucket is required/, /--bucket/, /SYNKTI_BUCKET/],
      ['sha256', /SHA-256 of the agent artifact/, /--sha256/, /SYNKTI_AGENT_SHA256/],
      ['nodeSha256', /SHA-256 of the Node\.js tarball/, /--node-sha256/, /SYNKTI_NODE_SHA256/],
      ['imageId', /AMI/, /--image-id/, /SYNKTI_IMAGE_ID/],
    ];
    try {
      for (const [missing, message, flag, variable] of cases) {
        const launch = { ...complete, [missing]: undefined };
        await assert.rejects(
          scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 2, { ec2Client: client, env: {}, launch, quiet: true }),
          (error: unknown) => {
            assert.ok(isSynktiError(error, 'E_USAGE'), `${missing}: E_USAGE, got ${String(error)}`);
            assert.match(error.message, message);
            assert.match(error.hint ?? '', flag, `${missing}: the hint names the flag`);
            assert.match(error.hint ?? '', variable, `${missing}: the hint names the variable`);
            return true;
          },
        );
      }
      assert.equal(mock.commandCalls(RunInstancesCommand).length, 0);
    } finally {
      mock.restore();
    }
  });
});

describe('synkti scale launch flags (command line)', () => {
  it('scale has the launch flags of worker launch, each with its SYNKTI_* variable, and says so in --help', () => {
    const program = buildProgram();
    const scaleCommand = program.commands.find((c) => c.name() === 'scale');
    const launchCommand = program.commands.find((c) => c.name() === 'worker')?.commands.find((c) => c.name() === 'launch');
    assert.ok(scaleCommand && launchCommand);
    const flags = (c: Command) => new Map(c.options.map((o) => [o.long, o.envVar]));
    const scaleFlags = flags(scaleCommand);
    for (const [flag, envVar] of flags(launchCommand)) {
      if (['--count', '--role', '--lifecycle', '--json', '--help'].includes(flag ?? '')) continue;
      assert.ok(scaleFlags.has(flag), `scale has ${flag}`);
      assert.equal(scaleFlags.get(flag), envVar, `${flag} reads the same variable`);
    }
    assert.equal(scaleFlags.get('--image-id'), 'SYNKTI_IMAGE_ID');
    assert.equal(scaleFlags.get('--subnet'), 'SYNKTI_SUBNETS');
    const help = scaleCommand.helpInformation();
    assert.match(help, /--image-id <ami>/);
    assert.match(help, /env: SYNKTI_BUCKET/);
  });

  it('parsed flags (repeated --subnet too) win over the environment; unset ones fall back to it', () => {
    const command = addLaunchOptions(new Command('scale').exitOverride());
    command.parse(
      [
        '--image-id',
        'ami-0fedcba9876543210',
        '--subnet',
        'subnet-0aaa:us-east-1a',
        '--subnet',
        'subnet-0bbb:us-east-1b',
        '--bucket',
        'flag-bucket',
      ],
      { from: 'user' },
    );
    const settings = launchSettingsFrom(command.opts<LaunchOptionValues>(), {
      ...ENV,
      SYNKTI_SECURITY_GROUPS: 'sg-1,sg-2',
      SYNKTI_INSTANCE_PROFILE: ' ',
    });
    assert.equal(settings.aws.imageId, 'ami-0fedcba9876543210');
    assert.deepEqual(settings.aws.subnet, ['subnet-0aaa:us-east-1a', 'subnet-0bbb:us-east-1b']);
    assert.deepEqual(settings.aws.securityGroup, ['sg-1,sg-2'], "split later, like the flag's own env value");
    assert.equal(settings.aws.instanceProfile, undefined, 'a blank variable is unset');
    assert.equal(settings.userData.bucket, 'flag-bucket');
    assert.equal(settings.userData.sha256, ENV.SYNKTI_AGENT_SHA256);
  });
});
