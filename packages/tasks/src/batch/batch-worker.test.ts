import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { runBatchWorker, workerConfigFromStack, type BatchWorkerConfig } from './batch-worker.ts';

// The pool fetch is injected (it is @synkti/agent's, a layer up): a config naming pools with
// no fetcher must fail before any queue is opened, naming the pools, not run without them.
test('a worker whose config names state pools but has no fetcher throws E_BATCH_STATE_POOLS naming them', async () => {
  const config: BatchWorkerConfig = {
    kind: 'synkti.batch.worker',
    run: 'r1',
    backend: 'local',
    stateDir: '/nonexistent-synkti-test',
    objective: 'sphere',
    statePools: { names: ['weights', 'tables'], bucket: 'b' },
  };
  await assert.rejects(
    runBatchWorker(config),
    (error: unknown) => isSynktiError(error, 'E_BATCH_STATE_POOLS') && /weights, tables/.test((error as Error).message),
  );
});

const STACK_ENV = {
  SYNKTI_CLUSTER: 'synkti-dev',
  SYNKTI_TASK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/synkti-dev-tasks',
  SYNKTI_RESULT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/synkti-dev-results',
  SYNKTI_DEAD_LETTER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/synkti-dev-tasks-dlq',
  SYNKTI_BUCKET: 'synkti-dev-batch-123456789012',
  SYNKTI_STATE_POOLS_PREFIX: 'state-pools/',
  SYNKTI_OBJECTIVE: 'rosenbrock',
  AWS_REGION: 'us-east-1',
};

test("a stack's worker reads SYNKTI_STATE_POOLS: the pools it fetches from the stack's bucket and prefix; none when unset", () => {
  assert.deepEqual(workerConfigFromStack({ ...STACK_ENV, SYNKTI_STATE_POOLS: 'weights, tables,weights' }).statePools, {
    names: ['weights', 'tables'],
    bucket: STACK_ENV.SYNKTI_BUCKET,
    root: 'state-pools/',
  });
  assert.equal(workerConfigFromStack(STACK_ENV).statePools, undefined);
  assert.equal(workerConfigFromStack({ ...STACK_ENV, SYNKTI_STATE_POOLS: ' ' }).statePools, undefined);
});

test('a bad SYNKTI_STATE_POOLS is a stack error naming the variable, the bad name and the stack arg it comes from', () => {
  for (const value of ['weights,../etc', Array.from({ length: 33 }, (_, i) => `p${i}`).join(',')]) {
    assert.throws(
      () => workerConfigFromStack({ ...STACK_ENV, SYNKTI_STATE_POOLS: value }),
      (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_CONFIG_STACK_ENV'), String(error));
        assert.match(
          error.message,
          /SYNKTI_STATE_POOLS = ".*" (names "\.\.\/etc", which is not a state pool name \(1-63 [^)]*\)|names 33 state pools \(at most 32\)) \(from SpotBatchFleet arg statePools\)/,
        );
        return true;
      },
    );
  }
});
