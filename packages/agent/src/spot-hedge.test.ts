import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_BUDGET_WINDOW_MS, allowedEvents, errorBudget, lossBudget, lossEvents, poolSettled, settledZones } from './spot-hedge.ts';
import { replacementLifecycle } from './replacement.ts';
import { spotReturnStep } from './spot-return.ts';
import { ZoneExposure } from './zone-hazard.ts';
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
    { zone: 'a', at: 10 * H },
    { zone: 'a', at: 10 * H + 5_000 }, // one reclaim, two notices
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
  assert.equal(
    poolSettled({
      losses: [
        { zone: 'a', at: H },
        { zone: 'b', at: 2 * H },
        { zone: 'c', at: 3 * H },
      ],
      now,
    }),
    false,
  );
  assert.deepEqual(settledZones({ zones: ['a', 'b'], losses: undefined, now }), ['a', 'b']);
});

test('a replacement goes on-demand only when no zone of a spot pool is settled', () => {
  const now = 12 * H;
  const everywhere = ['a', 'b'].flatMap((zone) => [1, 2, 3].map((h) => ({ zone, at: h * H })));
  assert.equal(replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b'] }, losses: everywhere, now }), 'on-demand');
  assert.equal(replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b', 'c'] }, losses: everywhere, now }), 'spot');
  assert.equal(
    replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b'] }, losses: everywhere, now, hedge: { enabled: false } }),
    'spot',
  );
  // Without configured zones the hedge cannot judge: the pool's lifecycle.
  assert.equal(replacementLifecycle({ template: { lifecycle: 'spot' }, losses: everywhere, now }), 'spot');
  assert.equal(replacementLifecycle({ template: { lifecycle: 'on-demand', zones: ['a'] }, losses: [], now }), 'on-demand');
});

test('back to spot waits while the pool is unsettled, then moves; a node handing over still hands over', () => {
  const base = {
    self: { id: 'od', lifecycle: 'on-demand' as const },
    pool: { lifecycle: 'spot' as const, onDemandBase: 0 },
    onDemandIds: ['od'],
    cluster: 'c',
    role: 'w',
    successors: [],
    members: [],
    handingOver: false,
  };
  assert.deepEqual(spotReturnStep({ ...base, poolSettled: false }), { kind: 'stay', why: 'zones-unsettled' });
  assert.deepEqual(spotReturnStep({ ...base, settledZones: [] }), { kind: 'stay', why: 'zones-unsettled' });
  assert.deepEqual(spotReturnStep({ ...base, poolSettled: true, settledZones: ['a'] }), { kind: 'launch' });
  // A successor already serving: the hand-over is not held back by the hedge.
  assert.deepEqual(spotReturnStep({ ...base, poolSettled: false, members: [{ id: 's', state: 'ready', replaces: 'od' }] }), {
    kind: 'hand-over',
    successor: 's',
  });
});

test('SpotReturn.check: an on-demand fallback whose pool just lost three serving successors launches nothing, then moves once they age out', async () => {
  const { SpotReturn } = await import('./spot-return.ts');
  const { TAG_CLUSTER, TAG_ROLE } = await import('@synkti/core');
  const records: InstanceRecord[] = [
    {
      id: 'i-od',
      state: 'running',
      lifecycle: 'on-demand',
      instanceType: 't',
      zone: 'a',
      privateIp: '10.0.0.1',
      launchedAt: 0,
      tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'w' },
    },
  ];
  const launches: unknown[] = [];
  const cloud = {
    list: async () => ({ items: records }),
    launch: async (spec: LaunchSpec) => {
      launches.push(spec);
      const record: InstanceRecord = {
        id: `i-s${launches.length}`,
        state: 'running',
        lifecycle: spec.lifecycle,
        instanceType: 't',
        zone: 'b',
        privateIp: '10.0.0.2',
        launchedAt: 0,
        tags: spec.tags,
      };
      records.push(record);
      return record;
    },
    terminate: async () => {},
    tag: async () => {},
    untag: async () => {},
  };
  // Successors lost right after they took over (serving), in zones a and b, within the last hours.
  const now = Date.now();
  let losses = [
    { zone: 'a', at: now - 3 * H, serving: true },
    { zone: 'b', at: now - 2 * H, serving: true },
    { zone: 'a', at: now - H, serving: true },
  ];
  const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof SpotReturn>[0]['logger'];
  const spotReturn = new SpotReturn({
    cluster: 'c',
    role: 'w',
    selfId: 'i-od',
    instances: cloud as never,
    pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 't' },
    userData: '',
    zones: ['a', 'b'],
    recentLosses: () => losses,
    liveMembers: () => [],
    handOver: async () => {},
    logger: silent,
  });
  assert.deepEqual(await spotReturn.check(), { kind: 'stay', why: 'zones-unsettled' });
  assert.equal(launches.length, 0);
  // Twelve hours on, the window is empty: the move back starts.
  losses = losses.map((l) => ({ ...l, at: l.at - 12 * H }));
  assert.deepEqual(await spotReturn.check(), { kind: 'launch' });
  assert.equal(launches.length, 1);
});

const DAY = 86_400_000;
const WEEK = ERROR_BUDGET_WINDOW_MS;

test('error budget: 1 % of the watched week; each serving loss costs a launch delay, overlapping outages once', () => {
  const now = 10 * DAY;
  const losses = [
    { zone: 'a', at: now - DAY },
    { zone: 'b', at: now - DAY + 60_000 }, // overlaps the one before: 60 s more, not 183
    { zone: 'a', at: now - 2 * DAY, serving: false }, // booting: no replica lost
    { zone: 'a', at: now - 8 * DAY }, // older than the week
  ];
  assert.deepEqual(errorBudget({ losses, now }), { allowedMs: (1 - 0.99) * WEEK, lostMs: 183_000 + 60_000 });
  // Watched for one day only: the budget is that day's.
  assert.equal(errorBudget({ losses, now, since: now - DAY }).allowedMs, (1 - 0.99) * DAY);
  assert.equal(
    errorBudget({ losses, now, since: now - DAY }).lostMs,
    183_000,
    'the loss at the start of the watch is not in it, the one a minute later is',
  );
  // A measured shortfall replaces the estimate (the availability actually lost).
  assert.deepEqual(errorBudget({ losses, now, shortfall: { ms: 90_000, since: now - 2 * DAY } }), {
    allowedMs: (1 - 0.99) * 2 * DAY,
    lostMs: 90_000,
  });
  assert.equal(errorBudget({ losses: [], now, availabilityObjective: 0.999 }).allowedMs, (1 - 0.999) * WEEK);
});

test("allowed events: the week budget left scales the short window's; spent budget allows no more than before", () => {
  const week = 0.01 * WEEK; // 6,048 s
  // No budget given: the fixed rule (two events per 12 h at the defaults).
  assert.equal(allowedEvents({}, 12 * H, undefined), 2);
  // 70 % of the week's budget lost: 2.36 × 1/0.7 = 3.4 → three events.
  assert.equal(allowedEvents({}, 12 * H, { allowedMs: week, lostMs: 0.7 * week }), 3);
  // All of it lost: as before; twice it: one.
  assert.equal(allowedEvents({}, 12 * H, { allowedMs: week, lostMs: week }), 2);
  assert.equal(allowedEvents({}, 12 * H, { allowedMs: week, lostMs: 2 * week }), 1);
  // Nothing lost all week: lost counts as one launch delay (2.36 × 6,048 / 183 = 78), below the cost bound (127).
  assert.equal(allowedEvents({}, 12 * H, { allowedMs: week, lostMs: 0 }), 78);
  // Spot barely cheaper: the cost bound caps it (6 at ratio 0.95).
  assert.equal(allowedEvents({ priceRatio: 0.95 }, 12 * H, { allowedMs: week, lostMs: 0 }), 6);
  // A fresh store (an hour watched, 36 s of budget): stricter than the fixed rule.
  assert.equal(allowedEvents({}, 12 * H, { allowedMs: 0.01 * H, lostMs: 0 }), 0);
  // A 938 s launch: one outage is over the 12 h budget; with a third of the week lost, three fit.
  assert.equal(allowedEvents({ launchDelayMs: 938_000 }, 12 * H, { allowedMs: week, lostMs: week / 3 }), 1);
});

test("with the week's budget mostly unspent, a flaky spell stays on spot; with it spent, the hedge goes on-demand", () => {
  const now = 12 * H;
  const losses = [1, 2, 3].map((h) => ({ zone: 'a', at: h * H }));
  const unspent = { allowedMs: 0.01 * WEEK, lostMs: 0.3 * 0.01 * WEEK };
  const spent = { allowedMs: 0.01 * WEEK, lostMs: 0.01 * WEEK };
  assert.deepEqual(settledZones({ zones: ['a', 'b'], losses, now, budget: unspent }), ['a', 'b']);
  assert.equal(poolSettled({ losses, now, budget: unspent }), true);
  assert.deepEqual(settledZones({ zones: ['a', 'b'], losses, now, budget: spent }), ['b']);
  assert.equal(poolSettled({ losses, now, budget: spent }), false);
  const everywhere = ['a', 'b'].flatMap((zone) => [1, 2, 3].map((h) => ({ zone, at: h * H })));
  assert.equal(
    replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b'] }, losses: everywhere, now, budget: unspent }),
    'spot',
  );
  assert.equal(
    replacementLifecycle({ template: { lifecycle: 'spot', zones: ['a', 'b'] }, losses: everywhere, now, budget: spent }),
    'on-demand',
  );
  assert.equal(poolSettled({ losses, now, budget: spent, enabled: false }), true);
});

test('ZoneExposure measures the shortfall: time with fewer than the target ready, by the trapezoid of each interval', () => {
  const exposure = new ZoneExposure();
  const ready = (n: number) => Array.from({ length: n }, (_, i) => ({ zone: 'a', state: 'ready', role: 'w', id: `i${i}` }));
  const t0 = 100 * H;
  exposure.observe(t0, ready(2), 'w', 2);
  exposure.observe(t0 + 60_000, ready(2), 'w', 2); // full
  exposure.observe(t0 + 120_000, ready(1), 'w', 2); // lost one between: half of the minute
  exposure.observe(t0 + 180_000, [...ready(1), { zone: 'b', state: 'joining', role: 'w' }], 'w', 2); // still short: all of it
  exposure.observe(t0 + 240_000, [...ready(1), { zone: 'b', state: 'ready', role: 'other' }], 'w', 2); // another role does not count
  exposure.observe(t0 + 300_000, ready(2), 'w', 2); // back: half
  const history = exposure.lossHistory(t0 + 300_000);
  assert.deepEqual(history.shortfall, { ms: 30_000 + 60_000 + 60_000 + 30_000, since: t0 });
  // Without a target nothing is measured: the budget estimates from the losses.
  const plain = new ZoneExposure();
  plain.observe(t0, ready(1), 'w');
  plain.observe(t0 + 60_000, ready(1), 'w');
  assert.equal(plain.lossHistory(t0 + 60_000).shortfall, undefined);
  // A week later the shortfall is forgotten.
  exposure.observe(t0 + WEEK + 2 * H, ready(2), 'w', 2);
  assert.equal(exposure.lossHistory(t0 + WEEK + 2 * H).shortfall!.ms, 0);
});

test("SpotReturn.check spends the week's budget: three losses in a few hours, little lost all week: it moves back", async () => {
  const { SpotReturn } = await import('./spot-return.ts');
  const { TAG_CLUSTER, TAG_ROLE } = await import('@synkti/core');
  const records: InstanceRecord[] = [
    {
      id: 'i-od',
      state: 'running',
      lifecycle: 'on-demand',
      instanceType: 't',
      zone: 'a',
      privateIp: '10.0.0.1',
      launchedAt: 0,
      tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'w' },
    },
  ];
  const launches: LaunchSpec[] = [];
  const cloud = {
    list: async () => ({ items: records }),
    launch: async (spec: LaunchSpec) => {
      launches.push(spec);
      const record: InstanceRecord = {
        id: `i-s${launches.length}`,
        state: 'running',
        lifecycle: spec.lifecycle,
        instanceType: 't',
        zone: 'b',
        privateIp: '10.0.0.2',
        launchedAt: 0,
        tags: spec.tags,
      };
      records.push(record);
      return record;
    },
    terminate: async () => {},
    tag: async () => {},
    untag: async () => {},
  };
  const now = Date.now();
  const losses = [
    { zone: 'a', at: now - 3 * H, serving: true },
    { zone: 'b', at: now - 2 * H, serving: true },
    { zone: 'a', at: now - H, serving: true },
  ];
  let shortfallMs = 0.01 * WEEK; // the week's whole budget lost
  const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof SpotReturn>[0]['logger'];
  const spotReturn = new SpotReturn({
    cluster: 'c',
    role: 'w',
    selfId: 'i-od',
    instances: cloud as never,
    pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 't' },
    userData: '',
    zones: ['a', 'b'],
    recentLosses: () => losses,
    liveMembers: () => [],
    handOver: async () => {},
    logger: silent,
    lossHistory: () => ({ losses, since: now - 2 * WEEK, shortfall: { ms: shortfallMs, since: now - 2 * WEEK } }),
  });
  assert.deepEqual(await spotReturn.check(), { kind: 'stay', why: 'zones-unsettled' });
  assert.equal(launches.length, 0);
  // The same three losses, but the week lost only the ~9 minutes they cost: spot again.
  shortfallMs = 3 * 183_000;
  assert.deepEqual(await spotReturn.check(), { kind: 'launch' });
  assert.equal(launches.length, 1);
  assert.equal(launches[0]!.lifecycle, 'spot');
});
