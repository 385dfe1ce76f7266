import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateCluster, isSynktiError } from '@synkti/core';
import { simHedgeSettings } from './hedge-settings.ts';

const spec = validateCluster({
  name: 'demo',
  pools: {
    gpu: { count: 4, spotHedge: { availabilityObjective: 0.995, launchDelay: '10 minutes', priceRatio: 0.45 } },
    api: { count: 2, lifecycle: 'on-demand' },
  },
});

test("the sim reads the spot pool's spotHedge from the cluster config; flags win; unset fields stay unset", () => {
  assert.deepEqual(simHedgeSettings({}), {});
  assert.deepEqual(simHedgeSettings({ spec }), { availabilityObjective: 0.995, launchDelayMs: 600_000, priceRatio: 0.45 });
  assert.deepEqual(simHedgeSettings({ spec, overrides: { priceRatio: 0.3, availabilityObjective: undefined } }), {
    availabilityObjective: 0.995,
    launchDelayMs: 600_000,
    priceRatio: 0.3,
  });
  assert.deepEqual(simHedgeSettings({ spec, pool: 'api', overrides: { enabled: false } }), { enabled: false });
});

test('a config whose spot pool cannot be told, or a pool it lacks, is an error naming the fix', () => {
  const two = validateCluster({ name: 'demo', pools: { a: { count: 1 }, b: { count: 1 } } });
  assert.throws(
    () => simHedgeSettings({ spec: two }),
    (e: unknown) => isSynktiError(e) && e.code === 'E_SIM_POOL' && /2 spot pools \(a, b\)/.test(e.message) && /--pool a/.test(e.hint ?? ''),
  );
  assert.throws(
    () => simHedgeSettings({ spec, pool: 'web' }),
    (e: unknown) => isSynktiError(e) && /--pool web/.test(e.message) && /gpu, api/.test(e.hint ?? ''),
  );
});
