/**
 * The core promise, on real processes: steady streaming load through the routers; a
 * spot preemption with a 20 s notice fails zero requests, launches exactly one
 * replacement and the fleet returns to its size; a kill -9 fails only streams that were
 * in flight on the killed node, each reported as an error, never a hang.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { TAG_CLUSTER, TAG_REPLACES, validateCluster } from '@synkti/core';
import { createLocalCloud, listAllInstances } from '@synkti/cloud';
import { LoadGenerator } from '../packages/cli/src/demo/load-generator.ts';
import { STAND_IN_MAIN } from '../packages/cli/src/demo/demo.ts';
import { FleetObserver } from '../packages/cli/src/fleet-observer.ts';
import { openLocalFleet } from '../packages/cli/src/local-fleet.ts';
import { makeProject, runCli, uniqueName, waitFor } from './helpers/cli.ts';

const name = uniqueName('e2e-serve');
const config = {
  name,
  pools: { worker: { count: 3 } },
  workload: {
    command: [process.execPath, '--import', import.meta.resolve('tsx'), STAND_IN_MAIN, '--port', '{port}', '--token-latency', '20ms'],
    healthPath: '/health',
    startupTimeout: '30s',
  },
  timeouts: {
    gossipInterval: '500ms',
    failureTimeout: '2s',
    listInterval: '5s',
    noticePollInterval: '1s',
    drainMargin: '2s',
    shutdownGrace: '10s',
  },
};
const project = makeProject(config);
const configFile = join(project.dir, 'synkti.config.ts');
after(async () => {
  await runCli(['down', '--force', '--timeout', '20s'], { cwd: project.dir }).catch(() => undefined);
  project.cleanup();
});

test('serving through a preemption and a kill -9', { timeout: 150_000 }, async (t) => {
  const upResult = await runCli(['up', '--json', '--timeout', '40s'], { cwd: project.dir });
  assert.equal(upResult.code, 0, upResult.stderr);

  const spec = validateCluster(config);
  const fleet = openLocalFleet(spec, configFile);
  t.after(() => fleet.close());
  const observer = new FleetObserver(fleet);
  await observer.start(200);
  t.after(() => observer.stop());
  await waitFor('3 ready routers', async () => (observer.routerUrls().length === 3 ? true : undefined), 20_000);

  const CONCURRENCY = 6;
  const load = new LoadGenerator({
    endpoints: () => observer.routerUrls(),
    concurrency: CONCURRENCY,
    maxTokens: 20,
    healthIntervalMs: 250,
    requestTimeoutMs: 15_000,
  });
  load.start();
  t.after(() => load.stop());
  await waitFor('steady traffic', async () => (load.outcomes.length >= 30 ? true : undefined), 20_000);

  // 1. Spot preemption with a 20 s notice.
  const cloud = createLocalCloud({ stateDir: fleet.stateDir });
  t.after(() => cloud.close());
  const [victim, other] = await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } });
  assert.ok(victim && other);
  const phase1Start = load.outcomes.length;
  await cloud.instances.preempt(victim.id, { noticeInMs: 20_000 });
  const replacement = await waitFor(
    'a replacement for the preempted node',
    async () => {
      const found = await listAllInstances(cloud.instances, { tags: { [TAG_REPLACES]: victim.id } });
      return found[0];
    },
    10_000,
  );
  await waitFor(
    'the preempted node to be reclaimed',
    async () => {
      const [r] = await listAllInstances(cloud.instances, {
        ids: [victim.id],
        states: ['pending', 'running', 'shutting-down', 'terminated'],
      });
      return r?.state === 'terminated' ? true : undefined;
    },
    30_000,
  );
  await waitFor(
    'the fleet back at 3 ready nodes',
    async () => (observer.readyCount() === 3 && observer.routerUrls().length === 3 ? true : undefined),
    30_000,
  );
  // Traffic keeps flowing on the new fleet for a moment.
  const settled = load.outcomes.length;
  await waitFor('traffic on the new fleet', async () => (load.outcomes.length >= settled + 20 ? true : undefined), 20_000);
  const phase1 = load.outcomes.slice(phase1Start);
  const phase1Failed = phase1.filter((o) => !o.ok);
  t.diagnostic(`preemption: ${phase1.length} requests, ${phase1Failed.length} failed`);
  assert.equal(phase1Failed.length, 0, `failed during the preemption: ${JSON.stringify(phase1Failed.slice(0, 5))}`);
  assert.ok(
    phase1.some((o) => o.servedBy === replacement.id),
    'the replacement serves traffic',
  );
  const replacementsOfVictim = await listAllInstances(cloud.instances, {
    tags: { [TAG_REPLACES]: victim.id },
    states: ['pending', 'running', 'shutting-down', 'terminated'],
  });
  assert.equal(replacementsOfVictim.length, 1, 'one notice (repeated on every poll) → one replacement');

  // 2. kill -9 of a node mid-stream.
  const phase2Start = load.outcomes.length;
  await cloud.instances.kill(other.id);
  // kill() resolves once every process of the instance is gone: the moment of death.
  const killedAt = Date.now();
  await waitFor(
    'a replacement for the killed node',
    async () => {
      const found = await listAllInstances(cloud.instances, { tags: { [TAG_REPLACES]: other.id } });
      return found[0];
    },
    15_000,
  );
  await waitFor('the fleet back at 3 ready nodes after the crash', async () => (observer.readyCount() === 3 ? true : undefined), 30_000);
  const settled2 = load.outcomes.length;
  await waitFor('traffic after the crash', async () => (load.outcomes.length >= settled2 + 20 ? true : undefined), 20_000);
  await load.stop();
  const phase2 = load.outcomes.slice(phase2Start);
  const failed = phase2.filter((o) => !o.ok);
  t.diagnostic(`kill -9: ${phase2.length} requests, ${failed.length} failed (${[...new Set(failed.map((f) => f.error))].join(', ')})`);
  // Only streams already in flight when the node died may fail: they started before the
  // kill, and each was reported as an error promptly (no hang).
  assert.ok(failed.length <= CONCURRENCY, `${failed.length} failures, at most ${CONCURRENCY} streams were in flight`);
  for (const f of failed) {
    assert.ok(f.startedAt <= killedAt, `a request started ${f.startedAt - killedAt} ms after the kill failed: ${f.error}`);
    assert.ok(f.startedAt + f.ms - killedAt < 5000, `failure reported ${f.startedAt + f.ms - killedAt} ms after the kill (a hang)`);
  }
  assert.equal((await listAllInstances(cloud.instances, { tags: { [TAG_REPLACES]: other.id } })).length, 1);
  assert.equal((await listAllInstances(cloud.instances, { tags: { [TAG_CLUSTER]: name } })).length, 3, 'fleet back to its size');
});
