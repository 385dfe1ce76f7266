/**
 * A batch worker started the way SpotBatchFleet's ECS service starts it: `synkti batch
 * worker` with no flags, everything from the variables the stack injects (the batch
 * contract). With one variable missing it exits 2 naming the variable and the stack output
 * it comes from. (With all of them it serves the fleet's queues: tests/aws-emulator-batch.test.ts
 * runs four such workers as ECS tasks.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BATCH_WORKER_ENV, batchQueueNames } from '@synkti/core/contracts';
import { runCli } from './helpers/cli.ts';

const CLUSTER = 'synkti-test';

function stackEnv(endpoint: string, accountId: string): Record<string, string> {
  const url = (name: string): string => `${endpoint}/${accountId}/${name}`;
  const names = batchQueueNames(CLUSTER);
  return {
    SYNKTI_CLUSTER: CLUSTER,
    SYNKTI_TASK_QUEUE_URL: url(names.tasks),
    SYNKTI_RESULT_QUEUE_URL: url(names.results),
    SYNKTI_DEAD_LETTER_QUEUE_URL: url(names.tasksDeadLetter),
    SYNKTI_BUCKET: 'synkti-test-batch-123456789012',
    SYNKTI_OBJECTIVE: 'sphere',
    AWS_REGION: 'us-east-1',
  };
}

test('a worker with one stack variable missing exits 2 naming it and the stack output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-env-'));
  try {
    const env = stackEnv('http://127.0.0.1:9', '123456789012');
    const variable = 'SYNKTI_RESULT_QUEUE_URL';
    // The parent's environment must not fill the gap.
    const result = await runCli(['batch', 'worker'], {
      cwd: dir,
      env: { ...env, [variable]: '', SYNKTI_IMDS_ENDPOINT: '' },
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`${variable} is not set \\(from ${BATCH_WORKER_ENV[variable].from.replace('.', '\\.')}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
