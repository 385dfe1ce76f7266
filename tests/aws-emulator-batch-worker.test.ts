/**
 * A batch worker started the way SpotBatchFleet's ECS service starts it: `synkti batch
 * worker` with no flags, everything from the variables the stack injects (the batch
 * contract). With one variable missing it exits 2 naming the variable and the stack output
 * it comes from; with all of them it serves the fleet's queues on the emulated AWS (moto),
 * never creating a queue, and SIGTERM (an ECS stop, Fargate Spot's notice) ends it with 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startMotoOrSkip } from '../packages/aws-emulator/src/testing/moto-for-tests.ts';
import { BATCH_WORKER_ENV, batchQueueNames } from '@synkti/core/contracts';
import { encodeBatchTask, openSqsQueue, parseBatchResultValue, type TaskResult } from '@synkti/tasks';
import { CLI_MAIN, runCli } from './helpers/cli.ts';

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
    const result = await runCli(['batch', 'worker'], { cwd: dir, env: { ...env, [variable]: '', SYNKTI_IMDS_ENDPOINT: '' }, timeoutMs: 60_000 });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`${variable} is not set \\(from ${BATCH_WORKER_ENV[variable].from.replace('.', '\\.')}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker with the stack\'s variables alone serves the fleet\'s queues and stops with 0 on SIGTERM', async (t) => {
  const moto = await startMotoOrSkip();
  if (moto.service === undefined) return t.skip(moto.skip);
  const service = moto.service;
  const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-env-'));
  const client = new SQSClient(service.clientConfig());
  t.after(async () => {
    client.destroy();
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // The stack's queues (SpotBatchFleet makes them; here the test does, with the same names).
  const names = batchQueueNames(CLUSTER);
  const tasks = await openSqsQueue({ client, name: names.tasks, deadLetterQueueName: names.tasksDeadLetter });
  const results = await openSqsQueue({ client, name: names.results, deadLetterQueueName: names.resultsDeadLetter });
  t.after(async () => { await tasks.close(); await results.close(); });
  const env = { ...service.env(), ...stackEnv(service.endpoint, service.accountId), SYNKTI_IMDS_ENDPOINT: '' };

  const child = spawn(process.execPath, [CLI_MAIN, 'batch', 'worker'], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

  const x = [1, 2, 3];
  const { body, digest } = encodeBatchTask({ run: 'r1', generation: 0, candidate: 0 }, x);
  await tasks.send(body);
  const deadline = Date.now() + 60_000;
  let value: ReturnType<typeof parseBatchResultValue>;
  while (!value) {
    assert.ok(Date.now() < deadline, `no result within 60 s; worker stderr:\n${stderr}`);
    const [message] = await results.receive({ maxMessages: 1, waitMs: 1000, leaseMs: 30_000 });
    if (!message) continue;
    value = parseBatchResultValue((JSON.parse(message.body) as TaskResult).value);
    await results.ack(message);
  }
  // sphere: the sum of squares, scored by the worker for any run in the fleet's queue.
  assert.deepEqual({ run: value.run, digest: value.digest, score: value.score }, { run: 'r1', digest, score: 14 });
  assert.match(stderr, /cluster synkti-test \(any run\): serving sqs queues/);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /SIGTERM: handing tasks back and stopping/);
});
