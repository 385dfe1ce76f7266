/** `synkti down` on provider aws (EC2 mocked): terminates this cluster's live instances by tag, waits until EC2 lists them terminated. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { validateCluster } from '@synkti/core';
import { down } from '../commands/down.ts';
import { fakeEc2, type FakeEc2Instance } from './aws-fleet-testing.ts';

it("down on aws terminates only this cluster's live instances, in one call, and reports them gone", async () => {
  const spec = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 2 } } });
  const tags = (cluster: string) => ({ SynktiCluster: cluster, SynktiRole: 'worker' });
  const fleet: FakeEc2Instance[] = [
    { id: 'i-00000000000000001', state: 'running', tags: tags('prod'), privateIp: '10.0.0.1', launchedAt: 1 },
    { id: 'i-00000000000000002', state: 'pending', tags: tags('prod'), privateIp: '10.0.0.2', launchedAt: 2 },
    { id: 'i-00000000000000003', state: 'running', tags: tags('other'), privateIp: '10.0.0.3', launchedAt: 3 },
    { id: 'i-00000000000000004', state: 'terminated', tags: tags('prod'), privateIp: '', launchedAt: 0 },
  ];
  const { client, mock } = fakeEc2(fleet);
  try {
    const result = await down(spec, '/nonexistent/synkti.config.ts', { force: false, timeoutMs: 10_000, quiet: true, ec2Client: client });
    assert.deepEqual(result.terminated, ['i-00000000000000001', 'i-00000000000000002']);
    assert.deepEqual(result.remaining, []);
    assert.deepEqual(result.buckets, { deleted: [], kept: [], refusedProtected: [] }, 'aws buckets belong to the infra stack: untouched');
    assert.deepEqual(
      mock.commandCalls(TerminateInstancesCommand).map((c) => c.args[0].input.InstanceIds),
      [['i-00000000000000001', 'i-00000000000000002']],
    );
    assert.equal(fleet[2]!.state, 'running', "another cluster's instance is untouched");
  } finally {
    mock.restore();
  }
});
