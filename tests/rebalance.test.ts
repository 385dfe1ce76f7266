/**
 * A rebalance recommendation launches the replacement early while the node keeps
 * serving; the interruption notice that follows does not launch a second one.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { TAG_CLUSTER, TAG_PORT_AGENT, TAG_REPLACES } from '@synkti/core';
import { createLocalCloud, listAllInstances, type InstanceRecord } from '@synkti/cloud';
import { makeProject, runCli, uniqueName, waitFor } from './helpers/cli.ts';

const name = uniqueName('e2e-rebal');
const project = makeProject({
  name,
  pools: { worker: { count: 1 } },
  timeouts: { gossipInterval: '500ms', failureTimeout: '2s', listInterval: '5s', noticePollInterval: '500ms', drainMargin: '1s' },
});
after(async () => {
  await runCli(['down', '--force', '--timeout', '20s'], { cwd: project.dir }).catch(() => undefined);
  project.cleanup();
});

test('rebalance: replacement launched early, node keeps serving; the later notice adds none', { timeout: 90_000 }, async (t) => {
  const upResult = await runCli(['up', '--timeout', '30s'], { cwd: project.dir });
  assert.equal(upResult.code, 0, upResult.stderr);
  const stateDir = join(project.dir, '.synkti', name);
  const secret = readFileSync(join(stateDir, 'cluster-secret'), 'utf8').trim();
  const cloud = createLocalCloud({ stateDir });
  t.after(() => cloud.close());
  const [node] = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  assert.ok(node);
  const stateOf = async (record: InstanceRecord): Promise<string | undefined> => {
    try {
      const response = await fetch(`http://${record.privateIp}:${record.tags[TAG_PORT_AGENT]}/status`, {
        headers: { authorization: `Bearer ${secret}` },
        signal: AbortSignal.timeout(1000),
      });
      return ((await response.json()) as { state: string }).state;
    } catch {
      return undefined;
    }
  };

  const rebalance = await runCli(['preempt', node.id, '--rebalance'], { cwd: project.dir });
  assert.equal(rebalance.code, 0, rebalance.stderr);
  const early = await waitFor(
    'an early replacement',
    async () => (await listAllInstances(cloud.instances, { tags: { [TAG_REPLACES]: node.id } }))[0],
    10_000,
  );
  await waitFor('the replacement to be ready', async () => ((await stateOf(early)) === 'ready' ? true : undefined), 15_000);
  assert.equal(await stateOf(node), 'ready', 'the recommended node keeps serving');

  const notice = await runCli(['preempt', node.id, '--in', '5s'], { cwd: project.dir });
  assert.equal(notice.code, 0, notice.stderr);
  await waitFor(
    'the node to be reclaimed',
    async () => {
      const [r] = await listAllInstances(cloud.instances, {
        ids: [node.id],
        states: ['pending', 'running', 'shutting-down', 'terminated'],
      });
      return r?.state === 'terminated' ? true : undefined;
    },
    20_000,
  );
  await new Promise((r) => setTimeout(r, 2000));
  const all = await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
  assert.equal(all.length, 2, 'the original and exactly one replacement');
  assert.equal(await stateOf(early), 'ready');
});
