/**
 * `synkti demo --scenario autoscale` as a user runs it (the real CLI, a local fleet of real
 * processes): load steps 1 → 8 → 1 concurrent streams; the agents alone grow the pool from
 * 1 to its max of 4 and shrink it back to 1 (the rendezvous-chosen decider launches and
 * drains), with no failed request, no flapping (at most the 2 actions the steps need + 1),
 * and nothing left running.
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
import { autoscaleDemoSpec, type AutoscaleDemoSummary } from '../packages/cli/src/demo/autoscale.ts';
import { runCli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'synkti-autoscale-'));
const configFile = join(dir, 'synkti.autoscale-demo');
after(async () => {
  // Only does something if the demo died before its own cleanup.
  await down(autoscaleDemoSpec(), configFile, { force: true, timeoutMs: 20_000, quiet: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test(
  'the pool grows and shrinks with the load, inside min..max, failing no request and without flapping',
  { timeout: 180_000 },
  async (t) => {
    // Each level held 6 s once settled; upscaleDelay 1.5 s, downscaleDelay 3 s.
    const run = await runCli(['demo', '--scenario', 'autoscale', '--json', '--duration', '6s'], { cwd: dir, timeoutMs: 170_000 });
    t.diagnostic(`demo took ${run.ms} ms`);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr.slice(-3000)}`);
    const summary = JSON.parse(run.stdout) as AutoscaleDemoSummary;
    t.diagnostic(JSON.stringify(summary));
    const context = `summary: ${run.stdout}`;

    assert.equal(summary.failed, 0, context);
    assert.ok(summary.requests >= 50, context);
    // Grew to max under 8 streams, back to min under 1, never outside the bounds.
    assert.equal(summary.phases.low, 1, context);
    assert.equal(summary.phases.high, 4, context);
    assert.equal(summary.phases.after, 1, context);
    assert.equal(summary.maxReplicas, 4, context);
    assert.equal(summary.minReplicas, 1, context);
    // The agents acted: at least one scale-out and one scale-in, and no more than the steps need + 1.
    assert.ok(summary.scaleOuts >= 1 && summary.scaleIns >= 1, context);
    assert.ok(summary.scaleOuts + summary.scaleIns <= summary.actionsNeeded + 1, context);
    // The cloud agrees: 3 launched (no launch doubled), 3 drained and terminated.
    assert.equal(summary.launched, 3, context);
    assert.equal(summary.terminated, 3, context);

    const fleet = openLocalFleet(autoscaleDemoSpec(), configFile);
    try {
      const left = await listAllInstances(fleet.cloud.instances, {
        tags: { [TAG_CLUSTER]: fleet.spec.name },
        states: ['pending', 'running', 'shutting-down'],
      });
      assert.deepEqual(
        left.map((r) => r.id),
        [],
        'the demo cleaned up after itself',
      );
    } finally {
      fleet.close();
    }
  },
);
