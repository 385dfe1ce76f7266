import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';
import { validateCluster } from './cluster-spec.ts';

const base = { name: 'kinds', pools: { worker: { count: 2 } } };

test('a portless workload resolves with its kind and travels in user data; an HTTP one carries no kind', () => {
  const portless = validateCluster({ ...base, workload: { kind: 'portless', command: ['node', 'worker.mjs'] } });
  assert.equal(portless.workload?.kind, 'portless');
  assert.equal(deserializeCluster(serializeCluster(portless)).workload?.kind, 'portless');
  // Unchanged for HTTP workloads: no kind key, so their serialized spec and generation are as before.
  const http = validateCluster({ ...base, workload: { kind: 'http', command: ['vllm', 'serve'] } });
  assert.equal('kind' in http.workload!, false);
  assert.deepEqual(http, validateCluster({ ...base, workload: { command: ['vllm', 'serve'] } }));
});

test('a portless workload with a port or health path is refused, naming the field', () => {
  assert.throws(
    () => validateCluster({ ...base, workload: { kind: 'portless', command: ['w'], port: 9000, healthPath: '/h' } }),
    (error: Error) => {
      assert.match(error.message, /workload\.port: is set, but a portless workload listens on no port/);
      assert.match(error.message, /workload\.healthPath: is set/);
      assert.match(error.message, /remove port, or drop kind: "portless"/);
      return true;
    },
  );
  assert.throws(() => validateCluster({ ...base, workload: { kind: 'tcp', command: ['w'] } }), /workload\.kind/);
});
