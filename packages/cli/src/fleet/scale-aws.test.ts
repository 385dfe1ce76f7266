/**
 * `synkti scale` rules and its aws path: pool and count checks, which nodes a scale-in
 * removes, and on EC2 (mocked) launches of the missing nodes with tags at launch /
 * one TerminateInstances of the extras, only ever this cluster's instances.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { isSynktiError, validateCluster } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import type { AgentStatus, NodeReport } from '../agent-status.ts';
import { MAX_SCALE, checkPool, parseNodeCount, scale, scaleInOrder } from '../commands/scale.ts';
import { fakeEc2, type FakeEc2Instance } from './aws-fleet-testing.ts';

const SPEC = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 2 }, gpu: { count: 1, size: 'gpu' } } });
const ENV = {
  SYNKTI_IMAGE_ID: 'ami-0123456789abcdef0', SYNKTI_BUCKET: 'acme-synkti-prod',
  SYNKTI_AGENT_SHA256: 'a'.repeat(64), SYNKTI_NODE_SHA256: 'b'.repeat(64), SYNKTI_SUBNETS: 'subnet-0aaa:us-east-1a',
};

function instance(n: number, role: string, cluster = 'prod', state: FakeEc2Instance['state'] = 'running'): FakeEc2Instance {
  return { id: `i-${n.toString(16).padStart(17, '0')}`, state, tags: { SynktiCluster: cluster, SynktiRole: role }, privateIp: `10.0.0.${n}`, launchedAt: 1_700_000_000_000 + n * 1000 };
}

function report(id: string, launchedAt: number, status?: Partial<AgentStatus>): NodeReport {
  const record: InstanceRecord = { id, state: 'running', privateIp: '127.0.0.1', instanceType: 't', zone: 'z', lifecycle: 'spot', launchedAt, tags: {} };
  return { record, status: status ? { id, role: 'worker', zone: 'z', state: 'ready', address: '127.0.0.1', ports: { agent: 1, router: 2, workload: 3 }, uptimeMs: 1, load: 0, members: [], ...status } : undefined };
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
    assert.deepEqual(order.map((r) => r.record.id), ['i-starting', 'i-unreachable', 'i-new-idle', 'i-old-idle', 'i-old-busy']);
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
        assert.deepEqual(tags.filter((t) => t.Key?.startsWith('Synkti')).map((t) => `${t.Key}=${t.Value}`).sort(), ['SynktiCluster=prod', 'SynktiRole=worker']);
        assert.equal(input.ImageId, ENV.SYNKTI_IMAGE_ID);
        assert.match(Buffer.from(input.UserData ?? '', 'base64').toString('utf8'), /acme-synkti-prod/, 'boots with the worker user data');
      }
      assert.equal(mock.commandCalls(TerminateInstancesCommand).length, 0);
    } finally {
      mock.restore();
    }
  });

  it('scale in terminates the extras (newest first when agents cannot be asked), in one call, never another cluster\'s', async () => {
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
      assert.deepEqual(result.nodes.map((n) => n.record.id), ['i-00000000000000001'], 'the pool afterwards');
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
      await assert.rejects(scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 3, { ec2Client: client, env: {}, quiet: true }),
        (error: unknown) => isSynktiError(error, 'E_USAGE') && /bucket is required/.test(error.message) && /SYNKTI_BUCKET/.test(error.hint ?? '') && /SYNKTI_IMAGE_ID/.test(error.hint ?? ''));
      await assert.rejects(scale(SPEC, '/nonexistent/synkti.config.ts', 'worker', 3, { ec2Client: client, env: { ...ENV, SYNKTI_IMAGE_ID: '' }, quiet: true }),
        (error: unknown) => isSynktiError(error, 'E_USAGE') && /AMI/.test(error.message), 'the AMI is required to launch');
      assert.equal(mock.commandCalls(RunInstancesCommand).length, 0);
    } finally {
      mock.restore();
    }
  });
});
