/**
 * `synkti demo --scenario rollout` as a user runs it (the real CLI, a local fleet of real
 * processes under steady streaming load): the 3 nodes are rolled to a new generation one
 * surge at a time, then a generation that never serves is tried; no request fails in
 * either, the broken rollout stops and rolls back, the fleet ends on the good generation,
 * traffic reached the new generation, and nothing is left running.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TAG_CLUSTER } from '@synkti/core';
import { listAllInstances } from '@synkti/cloud';
import { down } from '../packages/cli/src/commands/down.ts';
import { openLocalFleet } from '../packages/cli/src/local-fleet.ts';
import { rolloutDemoSpec, type RolloutDemoSummary } from '../packages/cli/src/demo/rollout.ts';
import { runCli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'synkti-rollout-'));
const configFile = join(dir, 'synkti.rollout-demo');
after(async () => {
  // Only does something if the demo died before its own cleanup.
  await down(rolloutDemoSpec('v1'), configFile, { force: true, timeoutMs: 20_000, quiet: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('a rollout and a rolled-back broken rollout under load fail no request', { timeout: 240_000 }, async (t) => {
  const run = await runCli(['demo', '--scenario', 'rollout', '--json', '--concurrency', '4'], { cwd: dir, timeoutMs: 230_000 });
  t.diagnostic(`demo took ${run.ms} ms`);
  assert.equal(run.code, 0, run.stderr.slice(-3000));
  const summary = JSON.parse(run.stdout) as RolloutDemoSummary;
  t.diagnostic(JSON.stringify(summary));
  const context = `summary: ${run.stdout}`;

  assert.equal(summary.failed, 0, context);
  assert.equal(summary.phases.rollout.failed, 0, context);
  assert.equal(summary.phases.broken.failed, 0, context);
  // Steady traffic during both rollouts, not only around them.
  assert.ok(summary.phases.rollout.requests >= 30, context);
  assert.ok(summary.phases.broken.requests >= 10, context);
  // The good rollout: 3 surges, 3 drains, every node on the new generation.
  assert.equal(summary.rolledOut, 3, context);
  assert.equal(summary.phases.rollout.outcome, 'rolled-out', context);
  assert.equal(summary.phases.rollout.surged, 3, context);
  assert.equal(summary.phases.rollout.drained, 3, context);
  assert.notEqual(summary.generations.from, summary.generations.to);
  // The broken one: stopped at its first surge, that node removed, no old node drained.
  assert.equal(summary.rolledBack, 1, context);
  assert.equal(summary.phases.broken.outcome, 'rolled-back', context);
  assert.equal(summary.phases.broken.surged, 1, context);
  assert.equal(summary.phases.broken.removed, 1, context);
  assert.equal(summary.phases.broken.drained, 0, context);
  // The fleet stayed on the good generation at full size.
  assert.equal(summary.generation, summary.generations.to, context);
  assert.equal(summary.fleetSizeEnd, 3, context);
  assert.equal(summary.onGeneration, 3, context);
  // Traffic moved: the new generation served requests, the broken one none.
  assert.ok((summary.servedBy[summary.generations.to] ?? 0) > 0, context);
  assert.ok((summary.servedBy[summary.generations.from] ?? 0) > 0, context);
  assert.equal(summary.servedBy[summary.generations.broken] ?? 0, 0, context);

  // Nothing left running.
  const fleet = openLocalFleet(rolloutDemoSpec('v1'), configFile);
  try {
    assert.equal((await listAllInstances(fleet.cloud.instances, { tags: { [TAG_CLUSTER]: 'synkti-rollout-demo' } })).length, 0);
  } finally {
    fleet.close();
  }
});
