/**
 * Two nodes of five die at once without a notice: every survivor notices both, exactly
 * one survivor launches each replacement (rendezvous choice + launch client token), and
 * the fleet returns to five, with no duplicate and no missing replacement.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_REPLACES } from '@synkti/core';
import { createLocalCloud, listAllInstances } from '@synkti/cloud';
import { makeProject, runCli, uniqueName, waitFor } from './helpers/cli.ts';

const name = uniqueName('e2e-crash');
const project = makeProject({
  name,
  pools: { worker: { count: 5 } },
  timeouts: { gossipInterval: '500ms', failureTimeout: '2s', listInterval: '5s' },
});
after(async () => {
  await runCli(['down', '--force', '--timeout', '20s'], { cwd: project.dir }).catch(() => undefined);
  project.cleanup();
});

test('two simultaneous crashes: one replacement each, fleet back to five', { timeout: 90_000 }, async (t) => {
  const upResult = await runCli(['up', '--timeout', '30s'], { cwd: project.dir });
  assert.equal(upResult.code, 0, upResult.stderr);
  const cloud = createLocalCloud({ stateDir: join(project.dir, '.synkti', name) });
  t.after(() => cloud.close());
  const original = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  assert.equal(original.length, 5);
  const [a, b] = original;
  await Promise.all([cloud.instances.kill(a!.id), cloud.instances.kill(b!.id)]);
  await waitFor(
    'two replacements',
    async () => {
      const replacements = (await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } })).filter((r) => r.tags[TAG_REPLACES]);
      return replacements.length >= 2 ? true : undefined;
    },
    20_000,
  );
  // Give every survivor time to act on both losses (several re-check periods).
  await new Promise((r) => setTimeout(r, 6000));
  const all = await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
  const replacements = all.filter((r) => r.tags[TAG_REPLACES]);
  assert.deepEqual(replacements.map((r) => r.tags[TAG_REPLACES]).sort(), [a!.id, b!.id].sort(), 'exactly one replacement per lost node');
  assert.equal(all.length, 7, 'five originals and two replacements, nothing else launched');
  const live = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  assert.equal(live.length, 5);
});
