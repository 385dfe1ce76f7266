import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defineCluster } from './define-cluster.ts';
import { validateCluster } from './cluster-spec.ts';

test('defineCluster returns its input unchanged, ready for validation', () => {
  const input = { name: 'demo', pools: { worker: { count: 3 } }, workload: { command: 'serve', startupTimeout: '1 minute' } };
  const defined = defineCluster(input);
  assert.equal(defined, input);
  assert.equal(validateCluster(defined).workload!.startupTimeoutMs, 60_000);
});

test('defineCluster gives editors the config type', () => {
  // Compile-time checks (tsc): an unknown field or a wrong type is a type error.
  // @ts-expect-error count must be a number
  defineCluster({ name: 'demo', pools: { worker: { count: '3' } } });
  // @ts-expect-error pool is not a field
  defineCluster({ name: 'demo', pool: { worker: { count: 3 } } });
  // @ts-expect-error provider is local or aws
  defineCluster({ name: 'demo', provider: 'gcp', pools: { worker: { count: 3 } } });
  assert.ok(true);
});
