/**
 * `synkti demo --on aws-emulator --shape batch --json`, run for real: a SpotBatchFleet-shaped
 * setup on the emulated AWS (queues + DLQs, bucket, an ECS service of 4 workers run by the
 * ECS task emulator with the fleet's task role), distributed CMA-ES on rosenbrock 10-D, two
 * worker preemptions and a coordinator kill -9 resumed from the checkpoint in S3. It must
 * give the undisturbed run's exact result, lose no task, leave its checkpoints under the
 * declared prefix, and make no call the fleet's IAM roles deny.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findMotoServer } from '../packages/aws-emulator/src/moto-server.ts';
import type { AwsEmulatorBatchSummary } from '../packages/cli/src/demo/aws-emulator-batch.ts';
import { runCli } from './helpers/cli.ts';

test('synkti demo --on aws-emulator --shape batch: exact result through two preemptions and a coordinator kill -9, checkpoints in S3, no IAM denial', async (t) => {
  if (!findMotoServer()) {
    if (process.env.SYNKTI_REQUIRE_SERVICES === '1') assert.fail('moto_server is not on PATH');
    return t.skip('moto_server is not on PATH');
  }
  const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-demo-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await runCli(['demo', '--on', 'aws-emulator', '--shape', 'batch', '--json'], { cwd: dir, timeoutMs: 300_000 });
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr.slice(-4000)}`);
  assert.doesNotMatch(result.stderr, /neither release nor image/, 'the demo does not warn the user about a stack it built itself');
  const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as AwsEmulatorBatchSummary;
  t.diagnostic(`batch demo: ${summary.seconds} s, ${summary.awsCalls} AWS calls, ${summary.tasksStarted} worker tasks`);
  assert.equal(summary.provider, 'aws-emulator');
  assert.equal(summary.exact, true, "the undisturbed run's result");
  assert.equal(summary.lost_tasks, 0);
  assert.equal(summary.preemptions, 2);
  assert.equal(summary.resumed, true);
  assert.equal(summary.tasksStarted, 6, 'the 4 of the service and a replacement for each preempted task');
  assert.ok(summary.checkpoints.objects >= summary.generations && summary.checkpoints.pointerNamesOne, JSON.stringify(summary.checkpoints));
  assert.match(summary.checkpoints.prefix, /^runs\//);
  assert.ok(summary.awsCalls > 0);
  assert.deepEqual(summary.denials, []);
  assert.equal(summary.iamDenied, 0);
});
