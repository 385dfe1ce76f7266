import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSynktiError } from '../errors.ts';
import { BATCH_PREFIXES, BATCH_WORKER_ENV, batchQueueNames, batchRunScope, queueNameOfUrl } from './batch-contract.ts';
import { PIPELINE_AGENT_ENV } from './pipelines-contract.ts';
import { readStackEnvironment } from './stack-environment.ts';

const WORKER_ENV = {
  SYNKTI_CLUSTER: 'synkti-dev',
  SYNKTI_TASK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/synkti-dev-tasks',
  SYNKTI_RESULT_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/synkti-dev-results',
  SYNKTI_DEAD_LETTER_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/synkti-dev-tasks-dlq',
  SYNKTI_BUCKET: 'synkti-dev-batch-123456789012',
  SYNKTI_OBJECTIVE: 'rosenbrock',
  AWS_REGION: 'us-east-1',
};

test('queue names, prefixes and variable names other processes and deployed stacks depend on', () => {
  assert.deepEqual(batchQueueNames('synkti-dev'), {
    tasks: 'synkti-dev-tasks',
    results: 'synkti-dev-results',
    tasksDeadLetter: 'synkti-dev-tasks-dlq',
    resultsDeadLetter: 'synkti-dev-results-dlq',
  });
  assert.equal(batchRunScope('r1'), 'batch-r1');
  assert.deepEqual(BATCH_PREFIXES, { runs: 'runs/', queuePayloads: 'queue-payloads/', statePools: 'state-pools/' });
  assert.equal(queueNameOfUrl(WORKER_ENV.SYNKTI_TASK_QUEUE_URL), 'synkti-dev-tasks');
  assert.ok('SYNKTI_PIPELINE_DB' in PIPELINE_AGENT_ENV && 'SYNKTI_POOL' in PIPELINE_AGENT_ENV);
});

test('readStackEnvironment reads a full environment and leaves optional variables undefined', () => {
  const env = readStackEnvironment('batch worker', BATCH_WORKER_ENV, WORKER_ENV);
  assert.equal(env.SYNKTI_CLUSTER, 'synkti-dev');
  assert.equal(env.SYNKTI_RUNS_PREFIX, undefined);
});

test('a missing variable is named with the stack output it comes from; an invalid one with why; secrets are not echoed', () => {
  const { SYNKTI_TASK_QUEUE_URL: _, ...missing } = WORKER_ENV;
  assert.throws(
    () => readStackEnvironment('batch worker', BATCH_WORKER_ENV, missing),
    (error: unknown) => {
      assert.ok(isSynktiError(error));
      assert.equal(error.code, 'E_CONFIG_STACK_ENV');
      assert.match(error.message, /SYNKTI_TASK_QUEUE_URL is not set \(from SpotBatchFleet\.taskQueueUrl/);
      assert.match(error.hint ?? '', /SpotBatchFleet\.taskQueueUrl/);
      return true;
    },
  );
  assert.throws(
    () => readStackEnvironment('batch worker', BATCH_WORKER_ENV, { ...WORKER_ENV, AWS_REGION: 'moon', SYNKTI_RUNS_PREFIX: 'runs' }),
    /SYNKTI_RUNS_PREFIX = "runs" is not an S3 key prefix.*AWS_REGION = "moon" is not an AWS region/,
  );
  assert.throws(
    () => readStackEnvironment('agent', PIPELINE_AGENT_ENV, { SYNKTI_PIPELINE_DB: 'mysql://root:hunter2@db/x' }),
    (error: unknown) => {
      assert.ok(isSynktiError(error));
      assert.doesNotMatch(error.message, /hunter2/);
      assert.match(error.message, /SYNKTI_PIPELINE_DB is not a postgres:\/\/ URL/);
      return true;
    },
  );
});
