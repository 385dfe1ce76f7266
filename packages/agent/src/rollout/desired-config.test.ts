import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DesiredConfigs, MAX_DESIRED_POOLS, desiredConfigRequestSchema } from './desired-config.ts';

test('a desired config is set, replaced and cleared per pool', () => {
  const configs = new DesiredConfigs();
  assert.equal(configs.apply({ role: 'worker', generation: 'g0123456789ab', userData: 'v2' }), true);
  assert.deepEqual(configs.get('worker'), { generation: 'g0123456789ab', userData: 'v2' });
  configs.apply({ role: 'worker', generation: 'gaaaaaaaaaaaa', userData: 'v3' });
  assert.deepEqual(configs.generations(), { worker: 'gaaaaaaaaaaaa' });
  configs.apply({ role: 'worker', generation: 'gaaaaaaaaaaaa', userData: null });
  assert.equal(configs.get('worker'), undefined);
});

test('hostile requests are refused: bad generation, bad role, huge user data, too many pools', () => {
  assert.equal(desiredConfigRequestSchema.safeParse({ role: 'worker', generation: 'latest', userData: 'x' }).success, false);
  assert.equal(desiredConfigRequestSchema.safeParse({ role: '../etc', generation: 'g0123456789ab', userData: 'x' }).success, false);
  assert.equal(
    desiredConfigRequestSchema.safeParse({ role: 'worker', generation: 'g0123456789ab', userData: 'x'.repeat(70_000) }).success,
    false,
  );
  assert.equal(
    desiredConfigRequestSchema.safeParse({ role: 'worker', generation: 'g0123456789ab', userData: 'x', extra: 1 }).success,
    false,
  );
  const configs = new DesiredConfigs();
  for (let i = 0; i < MAX_DESIRED_POOLS; i++)
    assert.equal(configs.apply({ role: `p${i}`, generation: 'g0123456789ab', userData: 'x' }), true);
  assert.equal(configs.apply({ role: 'one-more', generation: 'g0123456789ab', userData: 'x' }), false);
  assert.equal(configs.apply({ role: 'p0', generation: 'g0123456789ab', userData: 'y' }), true);
});
