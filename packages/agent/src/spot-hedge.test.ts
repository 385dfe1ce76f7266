import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossBudget, lossEvents, poolSettled, settledZones } from './spot-hedge.ts';
import { replacementLifecycle } from './replacement.ts';
import { spotReturnStep } from './spot-return.ts';
import type { InstanceRecord, LaunchSpec } from '@synkti/cloud';

const H = 3_600_000;

test('loss budget follows the objective, the launch delay and the price ratio', () => {
  // 1 % of 12 h = 432 s: two 183 s outages fit, three do not.
  assert.equal(lossBudget({}), 2);
  // A 938 s launch: one outage alone is over the budget.
  assert.equal(lossBudget({ launchDelayMs: 938_000 }), 0);
  // No availability objective: the cost bound alone (12 h × 0.7 / (183 s × 1.3) = 127).
  assert.equal(lossBudget({ availabilityObjective: 0 }), 127);
  // Spot barely cheaper: a run must be long to pay for two boots.
  assert.equal(lossBudget({ availabilityObjective: 0, priceRatio: 0.95 }), 6);
});

test('loss events: one reclaim is one event; non-serving losses and old ones do not count', () => {
  const losses = [
    { zone: 'a', at: 10 * H }, { zone: 'a', at: 10 * H + 5_000 }, // one reclaim, two notices
    { zone: 'a', at: 11 * H },
    { zone: 'a', at: 11.5 * H, serving: false }, // a successor still booting
    { zone: 'b', at: 11 * H },
    { zone: 'a', at: -3 * H }, // aged out
  ];
  assert.equal(lossEvents(losses, 'a', 0, 12 * H), 2);
  assert.equal(lossEvents(losses, 'b', 0, 12 * H), 1);
  assert.equal(lossEvents(losses, 'c', 0, 12 * H), 0);
});

test('settled zones and the pool: over the budget, spot waits; the losses age out', () => {
  const now = 12 * H;
  const losses = [1, 2, 3].map((h) => ({ zone: 'a', at: h * H }));
  assert.deepEqual(settledZones({ zones: ['a', 'b'], losses, now }), ['b']);
  assert.equal(poolSettled({ losses, now }), false);
  assert.equal(poolSettled({ losses: losses.slice(0, 2), now }), true);
  // 12 h after the first loss it is forgotten: two events left, within the budget.
  assert.equal(poolSettled({ losses, now: 13 * H + 1 }), true);
  assert.equal(poolSettled({ losses, now, enabled: false }), true);
  // Spread over zones, they still add up for the pool (every one took a replica below N).
  assert.equal(poolSettled({ losses: [{ zone: 'a', at: H }, { zone: 'b', at: 2 * H }, { zone: 'c', at: 3 * H }], now }), false);
  assert.deepEqual(settledZones({ zones: ['a', 'b'], losses: undefined, now }), ['a', 'b']);
});

test('a replacement goes on-demand only when no zone of a spot pool is settled', () => {
  const now = 12 * H;
  const everywhere = ['a', 'b'].flatMap((zone) => [1, 2, 3].map((h) => ({ zone, at: h * H })));
  assert.equal(replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b'] }, losses: everywhere, now }), 'on-demand');
  assert.equal(replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b', 'c'] }, losses: everywhere, now }), 'spot');
  assert.equal(replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b'] }, losses: everywhere, now, hedge: { enabled: false } }), 'spot');
  // Without configured zones the hedge cannot judge: the pool's lifecycle.
  assert.equal(replacementLifecycle({ template: { lifecycle: 'spot' }, losses: everywhere, now }), 'spot');
  assert.equal(replacementLifecycle({ template: { lifecycle: 'on-demand', zones: ['a'] }, losses: [], now }), 'on-demand');
});

test('back to spot waits while the pool is unsettled, then moves; a node handing over still hands over', () => {
  const base = { self: { id: 'od', lifecycle: 'on-demand' as const }, pool: { lifecycle: 'spot' as const, onDemandBase: 0 }, onDemandIds: ['od'], cluster: 'c', role: 'w', successors: [], members: [], handingOver: false };
  assert.deepEqual(spotReturnStep({ ...base, poolSettled: false }), { kind: 'stay', why: 'zones-unsettled' });
  assert.deepEqual(spotReturnStep({ ...base, settledZones: [] }), { kind: 'stay', why: 'zones-unsettled' });
  assert.deepEqual(spotReturnStep({ ...base, poolSettled: true, settledZones: ['a'] }), { kind: 'launch' });
  // A successor already serving: the hand-over is not held back by the hedge.
  assert.deepEqual(spotReturnStep({ ...base, poolSettled: false, members: [{ id: 's', state: 'ready', replaces: 'od' }] }), { kind: 'hand-over', successor: 's' });
});

test('SpotReturn.check: an on-demand fallback whose pool just lost three serving successors launches nothing, then moves once they age out', async () => {
  const { SpotReturn } = await import('./spot-return.ts');
  const { TAG_CLUSTER, TAG_ROLE } = await import('@synkti/core');
  const records: InstanceRecord[] = [{ id: 'i-od', state: 'running', lifecycle: 'on-demand', instanceType: 't', zone: 'a', privateIp: '10.0.0.1', launchedAt: 0, tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'w' } }];
  const launches: unknown[] = [];
  const cloud = {
    list: async () => ({ items: records }),
    launch: async (spec: LaunchSpec) => {
      launches.push(spec);
      const record: InstanceRecord = { id: `i-s${launches.length}`, state: 'running', lifecycle: spec.lifecycle, instanceType: 't', zone: 'b', privateIp: '10.0.0.2', launchedAt: 0, tags: spec.tags };
      records.push(record);
      return record;
    },
    terminate: async () => {}, tag: async () => {}, untag: async () => {},
  };
  // Successors lost right after they took over (serving), in zones a and b, within the last hours.
  const now = Date.now();
  let losses = [{ zone: 'a', at: now - 3 * H, serving: true }, { zone: 'b', at: now - 2 * H, serving: true }, { zone: 'a', at: now - H, serving: true }];
  const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof SpotReturn>[0]['logger'];
  const spotReturn = new SpotReturn({
    cluster: 'c', role: 'w', selfId: 'i-od', instances: cloud as never, pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 't' },
    userData: '', zones: ['a', 'b'], recentLosses: () => losses, liveMembers: () => [], handOver: async () => {}, logger: silent,
  });
  assert.deepEqual(await spotReturn.check(), { kind: 'stay', why: 'zones-unsettled' });
  assert.equal(launches.length, 0);
  // Twelve hours on, the window is empty: the move back starts.
  losses = losses.map((l) => ({ ...l, at: l.at - 12 * H }));
  assert.deepEqual(await spotReturn.check(), { kind: 'launch' });
  assert.equal(launches.length, 1);
});
