import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { runBatchWorker, type BatchWorkerConfig } from './batch-worker.ts';

// The pool fetch is injected (it is @synkti/agent's, a layer up): a config naming pools with
// no fetcher must fail before any queue is opened, naming the pools, not run without them.
test('a worker whose config names state pools but has no fetcher throws E_BATCH_STATE_POOLS naming them', async () => {
  const config: BatchWorkerConfig = {
    kind: 'synkti.batch.worker', run: 'r1', backend: 'local', stateDir: '/nonexistent-synkti-test', objective: 'sphere',
    statePools: { names: ['weights', 'tables'], bucket: 'b' },
  };
  await assert.rejects(runBatchWorker(config), (error: unknown) => isSynktiError(error, 'E_BATCH_STATE_POOLS') && /weights, tables/.test((error as Error).message));
});
