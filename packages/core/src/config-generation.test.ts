import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENERATION_PATTERN, configGeneration } from './config-generation.ts';
import { validateCluster } from './cluster-spec.ts';

const base = {
  name: 'gen',
  pools: { worker: { count: 3 } },
  workload: { command: ['serve', '--port', '{port}'], env: { A: '1', B: '2' } },
};

test('a generation is stable, shaped g + 12 hex, and blind to sizes, timeouts and key order', () => {
  const first = configGeneration(validateCluster(base));
  assert.match(first, GENERATION_PATTERN);
  assert.equal(configGeneration(validateCluster(base)), first);
  assert.equal(configGeneration(validateCluster({ ...base, pools: { worker: { count: 7 } }, timeouts: { shutdownGrace: '9s' } })), first);
  assert.equal(configGeneration(validateCluster({ ...base, workload: { ...base.workload, env: { B: '2', A: '1' } } })), first);
});

test('the workload, the model and the image each change the generation', () => {
  const first = configGeneration(validateCluster(base));
  const seen = new Set([first]);
  seen.add(configGeneration(validateCluster({ ...base, workload: { ...base.workload, env: { A: '1', B: '3' } } })));
  seen.add(configGeneration(validateCluster({ ...base, workload: { ...base.workload, command: ['serve2', '--port', '{port}'] } })));
  seen.add(configGeneration(validateCluster({ ...base, model: { uri: 's3://bucket/models/qwen/' } })));
  seen.add(configGeneration(validateCluster(base), { image: 'ami-0123456789abcdef0' }));
  assert.equal(seen.size, 5);
});
