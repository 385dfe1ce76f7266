import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_ROLE } from '@synkti/core';
import { listAllInstances } from '../../types.ts';
import { chaosStrikes, parseChaosRate } from './chaos.ts';
import { REASON_SPOT } from './instance-host.ts';
import { createTempLocalCloud } from './testing/temp-local-cloud.ts';

test('chaos rates parse per hour or per minute, and bad ones are refused with a hint', () => {
  assert.equal(parseChaosRate('6/h'), 6);
  assert.equal(parseChaosRate('1/min'), 60);
  assert.equal(parseChaosRate('3'), 3);
  assert.throws(() => parseChaosRate('often'), /not a chaos rate/);
});

test('chaos strikes as a Poisson process of the given rate', () => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let strikes = 0;
  const ticks = 36_000; // ten hours of one-second ticks
  for (let i = 0; i < ticks; i++) if (chaosStrikes(30, 1000, random)) strikes++;
  assert.ok(strikes > 250 && strikes < 350, `expected about 300 strikes in 10 h at 30/h, got ${strikes}`);
  assert.equal(chaosStrikes(0, 1000), false);
});

test('with chaos on, the local cloud interrupts a running instance through a real notice', { timeout: 30_000 }, async (t) => {
  const temp = await createTempLocalCloud({ prefix: 'synkti-chaos-' });
  t.after(() => temp.destroy());
  const { instances } = temp.cloud;
  const record = await instances.launch({
    tags: { [TAG_CLUSTER]: 'chaos', [TAG_ROLE]: 'worker' },
    instanceType: 'local.small',
    lifecycle: 'spot',
  });
  instances.setChaos({ ratePerHour: 3600 * 20, noticeMs: 300 });
  const deadline = Date.now() + 15_000;
  let state = '';
  let reason: string | undefined;
  while (Date.now() < deadline) {
    const [current] = await listAllInstances(instances, {
      ids: [record.id],
      states: ['pending', 'running', 'shutting-down', 'terminated'],
    });
    state = current?.state ?? '';
    reason = current?.stateReason;
    if (state === 'terminated') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(state, 'terminated');
  assert.equal(reason, REASON_SPOT);
});
