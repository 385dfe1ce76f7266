import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateCluster } from '@synkti/core';
import { ModelDelivery, WORKER_MODELS_DIR, defaultModelsDir, modelOf } from './model-delivery.ts';
import type { ModelObjectSource } from './model-source.ts';

const local = validateCluster({ name: 'md', pools: { worker: { count: 1 } } });
const aws = validateCluster({ name: 'md', provider: 'aws', pools: { worker: { count: 1 } }, model: { uri: 's3://spec-models/models/a/' } });

test('which model and where: the spec wins over SYNKTI_MODEL_URI, which is checked like model.uri', () => {
  assert.equal(modelOf(local, {}), undefined);
  assert.equal(modelOf(aws, { SYNKTI_MODEL_URI: 's3://env-models/models/b/' })?.bucket, 'spec-models');
  assert.deepEqual(modelOf(local, { SYNKTI_MODEL_URI: 's3://env-models/models/b/' }), { uri: 's3://env-models/models/b/', bucket: 'env-models', prefix: 'models/b/', name: 'b' });
  assert.equal(modelOf(local, { SYNKTI_MODEL_URI: 's3://env-models/models/b' })?.prefix, 'models/b/', 'the boot script\'s directory, "/" or not');
  assert.throws(() => modelOf(local, { SYNKTI_MODEL_URI: 's3://Env_Models/models/b/' }), /SYNKTI_MODEL_URI: bucket name "Env_Models"/);
  assert.equal(defaultModelsDir(aws, 'i-1', {}), WORKER_MODELS_DIR);
  assert.equal(defaultModelsDir(local, 'i-1', { SYNKTI_LOCAL_STATE_DIR: '/s' }), '/s/instances/i-1/models');
  assert.equal(defaultModelsDir(aws, 'i-1', { SYNKTI_MODELS_DIR: '/data/models' }), '/data/models');
  assert.throws(() => defaultModelsDir(local, 'i-1', {}), /SYNKTI_MODELS_DIR is not set/);
});

test('a failed fetch is reported and tried again; stop() ends the wait at once', async () => {
  let reads = 0;
  const source: ModelObjectSource = { where: 's3://spec-models', getSmall: async () => { reads += 1; return undefined; }, read: async () => { throw new Error('unused'); } };
  const errors: unknown[] = [];
  const delivery = new ModelDelivery({
    model: aws.model!, source, modelsDir: '/nonexistent-never-written', retryDelayAfterFailureMs: 10, maxRetryDelayAfterFailureMs: 60_000,
    onError: (error) => errors.push(error),
  });
  const ready = delivery.ready();
  const end = Date.now() + 5000;
  while (delivery.failures < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.ok(delivery.failures >= 3, 'tried again after each failure');
  assert.equal(delivery.progress.state, 'failed');
  assert.match(delivery.progress.error?.message ?? '', /synkti-manifest\.json does not exist/);
  assert.equal((errors[0] as { code?: string }).code, 'E_MODEL_MANIFEST');
  // Now waiting (10 → 20 → 40 ms … up to a minute): stop resolves it without the wait.
  const started = Date.now();
  delivery.stop();
  assert.equal(await ready, undefined);
  assert.ok(Date.now() - started < 1000);
  assert.ok(reads >= 3);
});
