/**
 * `synkti demo --on aws-emulator --shape pipelines --json`, run for real: PipelineCluster's
 * task definitions (synthesized from the component under Pulumi mocks) run by the ECS task
 * emulator — the API and a service per agent pool — against a real PostgreSQL standing in
 * for RDS and the stack's bucket in moto; 6 hash jobs × 11 tasks through an agent kill -9
 * and a spot interruption. Every job must be verified against a recomputation, no task
 * lost, every chunk object in S3 equal to its input, no call denied by the stack's task
 * role, and nothing left running after the services are scaled to 0.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findMotoServer } from '../packages/aws-emulator/src/moto-server.ts';
import { findPostgresBinDir } from '../packages/aws-emulator/src/postgres-server.ts';
import type { AwsEmulatorPipelinesSummary } from '../packages/cli/src/demo/aws-emulator-pipelines.ts';
import { runCli } from './helpers/cli.ts';

test('synkti demo --on aws-emulator --shape pipelines: 6 jobs × 11 tasks verified through a kill -9 and a spot interruption, chunks in S3, no IAM denial', async (t) => {
  const missing = !findMotoServer()
    ? 'moto_server is not on PATH'
    : !findPostgresBinDir()
      ? 'PostgreSQL (initdb, postgres) is not installed'
      : undefined;
  if (missing) {
    if (process.env.SYNKTI_REQUIRE_SERVICES === '1') assert.fail(missing);
    return t.skip(missing);
  }
  const dir = mkdtempSync(join(tmpdir(), 'synkti-pipelines-demo-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await runCli(['demo', '--on', 'aws-emulator', '--shape', 'pipelines', '--json'], { cwd: dir, timeoutMs: 300_000 });
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr.slice(-4000)}`);
  assert.doesNotMatch(result.stderr, /neither release nor image/, 'the demo does not warn the user about a stack it built itself');
  const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as AwsEmulatorPipelinesSummary;
  t.diagnostic(
    `pipelines demo: ${summary.seconds} s, ${summary.awsCalls} AWS calls, ${summary.replacements} replacements, ${summary.requeued} requeued`,
  );
  assert.equal(summary.provider, 'aws-emulator');
  assert.equal(summary.shape, 'pipelines');
  assert.equal(summary.jobs, 6);
  assert.equal(summary.tasks, 66);
  assert.equal(summary.verified, 6, 'every job done with the recomputed result');
  assert.equal(summary.failed, 0);
  assert.equal(summary.lost_tasks, 0);
  assert.equal(summary.crashes, 1);
  assert.equal(summary.preemptions, 1);
  assert.ok(summary.requeued >= 1, 'the kill -9 hit an agent holding a task, which the requeuer took back');
  assert.ok(summary.replacements >= 2, `the services replaced the killed and the preempted agent (started ${summary.replacements})`);
  assert.equal(summary.fleetSizeEnd, summary.fleetSizeStart);
  assert.equal(summary.objects.chunks, 48);
  assert.equal(summary.objects.verified, true, 'every chunk object equal to its slice of the input');
  assert.ok(summary.awsCalls > 0);
  assert.deepEqual(summary.denials, []);
  assert.equal(summary.iamDenied, 0);
  assert.equal(summary.instancesLeft, 0);
});
