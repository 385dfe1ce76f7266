import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AutoscaleSpec } from '@synkti/core';
import { decideAutoscale, replicasFor, type AutoscaleDecisionInput, type AutoscaleMember, type LoadSample } from './autoscale-decision.ts';
import { autoscaleClientToken } from './autoscale-token.ts';
import { autoscaleRole } from './autoscale-election.ts';
import { latestRecords, type AutoscaleRecord } from './autoscale-record.ts';
import { xoshiro128Next, xoshiro128Words } from '@synkti/core/xoshiro128';

const spec: AutoscaleSpec = { min: 1, max: 6, metric: 'inFlight', target: 4, upscaleDelayMs: 10_000, downscaleDelayMs: 30_000 };

function members(n: number, load = 0): AutoscaleMember[] {
  return Array.from({ length: n }, (_, i) => ({ id: `i-${i}`, load, serving: true, startedAt: 1000 + i }));
}

/** One sample a second from `from` to `to` (inclusive) of `total(t)`. */
function samples(from: number, to: number, total: (t: number) => number): LoadSample[] {
  const out: LoadSample[] = [];
  for (let t = from; t <= to; t += 1000) out.push({ at: t, total: total(t) });
  return out;
}

function input(over: Partial<AutoscaleDecisionInput>): AutoscaleDecisionInput {
  return { spec, now: 100_000, members: members(2), samples: [], convergeMs: 60_000, lifecycle: 'spot', onDemandBase: 0, ...over };
}

test('replicasFor rounds up within min..max', () => {
  assert.equal(replicasFor(0, spec), 1);
  assert.equal(replicasFor(8, spec), 2);
  assert.equal(replicasFor(8.1, spec), 3);
  assert.equal(replicasFor(1000, spec), 6);
});

test('grows only once the load has asked for it for a whole upscaleDelay', () => {
  const now = 100_000;
  // 20 in flight on 2 replicas (target 4): wants 5. Only 5 s of it so far: watch.
  const short = decideAutoscale(input({ now, samples: [...samples(60_000, now - 5000, () => 4), ...samples(now - 4000, now, () => 20)] }));
  assert.equal(short.kind, 'hold');
  const long = decideAutoscale(input({ now, samples: samples(now - 12_000, now, () => 20) }));
  assert.deepEqual(long.kind === 'scale-out' && [long.count, long.desired, long.from], [3, 5, 2]);
  // The window restarts at the last action: a fresh record means watch again.
  const record: AutoscaleRecord = { pool: 'w', epoch: 1, desired: 2, at: now - 3000, action: 'scale-out', from: 1, by: 'i-0', reason: '' };
  assert.equal(decideAutoscale(input({ now, record, samples: samples(now - 12_000, now, () => 20) })).kind, 'hold');
});

test('shrinks only when every sample of downscaleDelay asked for fewer; picks the idle, the newest first', () => {
  const now = 100_000;
  const four = members(4).map((m, i) => ({ ...m, load: i === 1 ? 3 : 0 }));
  // One burst 10 s ago needs 3 replicas: no shrink below 3 (peak over the window).
  const burst = decideAutoscale(input({ now, members: four, samples: samples(now - 31_000, now, (t) => (t === now - 10_000 ? 12 : 1)) }));
  assert.ok(burst.kind === 'scale-in', JSON.stringify(burst));
  assert.equal(burst.desired, 3);
  assert.deepEqual(burst.ids, ['i-3'], 'the newest idle node');
  const idle = decideAutoscale(input({ now, members: four, samples: samples(now - 31_000, now, () => 1) }));
  assert.ok(idle.kind === 'scale-in');
  assert.deepEqual(idle.ids, ['i-3', 'i-2', 'i-0'], 'idle newest first, the loaded one kept');
  // A burst 20 s ago, nothing since: the load is still falling within the window; one step later, not two now.
  const falling = decideAutoscale(input({ now, members: four, samples: samples(now - 31_000, now, (t) => (t === now - 20_000 ? 12 : 1)) }));
  assert.equal(falling.kind, 'hold', JSON.stringify(falling));
  const self = decideAutoscale(
    input({ now, members: four, selfId: 'i-3', samples: samples(now - 31_000, now, (t) => (t === now - 10_000 ? 12 : 1)) }),
  );
  assert.ok(self.kind === 'scale-in', JSON.stringify(self));
  assert.deepEqual(self.ids, ['i-2'], 'the decider goes last among equally idle nodes');
});

test('noisy load around a boundary does not flap: a replayed hour of 1 s samples takes at most one action per direction change', () => {
  const words = xoshiro128Words(7);
  const random = (): number => xoshiro128Next(words) / 2 ** 32;
  let live = 2;
  let record: AutoscaleRecord | undefined;
  const all: LoadSample[] = [];
  const actions: string[] = [];
  let naive = 2;
  let naiveActions = 0;
  // Load hovers around 2 replicas' worth (8 ± 3, spikes to 14 one second in twenty).
  for (let now = 0; now <= 3_600_000; now += 1000) {
    const total = random() < 0.05 ? 14 : 8 + (random() * 6 - 3);
    all.push({ at: now, total });
    // A decider without windows follows every sample.
    if (replicasFor(total, spec) !== naive) {
      naive = replicasFor(total, spec);
      naiveActions += 1;
    }
    while (all.length > 0 && all[0]!.at < now - 40_000) all.shift();
    const decision = decideAutoscale(input({ now, members: members(live), samples: all, record, offTargetSince: undefined }));
    if (decision.kind === 'hold') continue;
    actions.push(`${decision.kind}@${now / 1000}s→${decision.desired}`);
    record = {
      pool: 'w',
      epoch: (record?.epoch ?? 0) + 1,
      desired: decision.desired,
      at: now,
      action: decision.kind,
      from: live,
      by: 'i-0',
      reason: '',
    };
    live = decision.desired;
  }
  // The mean asks for 2 (8/4), spikes ask for 4 over a 30 s window: the pool settles, it does not oscillate.
  assert.ok(naiveActions > 100, `the load is noisy enough to flap a decider without hysteresis (${naiveActions} actions)`);
  assert.ok(actions.length <= 2, `actions: ${actions.join(', ')}`);
});

test('while launches or a replacement are on their way nothing is decided (no race with the Replacer), then the live count is believed', () => {
  const now = 100_000;
  const record: AutoscaleRecord = { pool: 'w', epoch: 3, desired: 4, at: 10_000, action: 'scale-out', from: 2, by: 'i-0', reason: '' };
  const busy = samples(now - 40_000, now, () => 30);
  // A node of 4 was lost 5 s ago: its replacement is coming. Hold, even with load asking for more.
  const held = decideAutoscale(input({ now, members: members(3), record, offTargetSince: now - 5000, samples: busy }));
  assert.equal(held.kind, 'hold');
  const later = decideAutoscale(input({ now, members: members(3), record, offTargetSince: now - 61_000, samples: busy }));
  assert.ok(later.kind === 'scale-out' && later.from === 3 && later.desired === 6, JSON.stringify(later));
});

test('min and max bound every decision; outside them the pool is brought back without a window', () => {
  const now = 100_000;
  const flat = samples(now - 40_000, now, () => 0);
  const below = decideAutoscale(input({ now, members: [], samples: [] }));
  assert.ok(below.kind === 'scale-out' && below.count === 1 && below.desired === 1);
  const above = decideAutoscale(input({ now, members: members(8), samples: [] }));
  assert.ok(above.kind === 'scale-in' && above.ids.length === 2 && above.desired === 6);
  const floor = decideAutoscale(input({ now, members: members(1), samples: flat }));
  assert.equal(floor.kind, 'hold', 'never below min');
  const ceiling = decideAutoscale(input({ now, members: members(6), samples: samples(now - 40_000, now, () => 500) }));
  assert.equal(ceiling.kind, 'hold', 'never above max');
});

test('onDemandBase: new launches fill the on-demand base first; scale-in never takes the base', () => {
  const now = 100_000;
  const one = members(1).map((m) => ({ ...m, lifecycle: 'spot' as const }));
  const out = decideAutoscale(input({ now, members: one, onDemandBase: 2, samples: samples(now - 12_000, now, () => 16) }));
  assert.ok(out.kind === 'scale-out' && out.count === 3 && out.onDemand === 2, JSON.stringify(out));
  const mixed: AutoscaleMember[] = [
    { id: 'i-od1', load: 0, serving: true, startedAt: 5, lifecycle: 'on-demand' },
    { id: 'i-od2', load: 0, serving: true, startedAt: 6, lifecycle: 'on-demand' },
    { id: 'i-s1', load: 1, serving: true, startedAt: 1, lifecycle: 'spot' },
  ];
  const scaleIn = decideAutoscale(input({ now, members: mixed, onDemandBase: 1, samples: samples(now - 31_000, now, () => 0) }));
  assert.ok(scaleIn.kind === 'scale-in', JSON.stringify(scaleIn));
  // Down to min 1: two go, one on-demand stays (the base), so the spot one goes despite its load.
  assert.deepEqual([...scaleIn.ids].sort(), ['i-od2', 'i-s1']);
});

test('client tokens: the same step gives the same token on every decider, a later step new ones; deciders and keepers by rendezvous', () => {
  assert.equal(autoscaleClientToken('c', 'worker', 4, 0), autoscaleClientToken('c', 'worker', 4, 0));
  const tokens = new Set([
    autoscaleClientToken('c', 'worker', 4, 0),
    autoscaleClientToken('c', 'worker', 4, 1),
    autoscaleClientToken('c', 'worker', 5, 0),
    autoscaleClientToken('c', 'gpu', 4, 0),
    autoscaleClientToken('d', 'worker', 4, 0),
  ]);
  assert.equal(tokens.size, 5);
  for (const token of tokens) assert.match(token, /^[\x21-\x7e]{1,64}$/);
  const ids = ['i-a', 'i-b', 'i-c', 'i-d', 'i-e'];
  const roles = ids.map((id) => autoscaleRole('c', 'worker', ids, id));
  assert.equal(roles.filter((r) => r === 'decider').length, 1);
  assert.equal(roles.filter((r) => r === 'keeper').length, 2);
  // Every node's view agrees on the newest record, and refuses one dated far ahead.
  const r = (epoch: number, at: number, by = 'i-a'): AutoscaleRecord => ({
    pool: 'worker',
    epoch,
    desired: 2,
    at,
    action: 'scale-out',
    from: 1,
    by,
    reason: '',
  });
  const latest = latestRecords([[r(2, 50)], [r(3, 40)], [r(9, 10_000_000)], undefined], 100);
  assert.equal(latest.get('worker')?.epoch, 3);
});
