import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placementZoneOrder, spreadZoneOrder } from '@synkti/cloud';
import { PRIOR_HOURS, ZONE_HAZARD_MEMORY_MS, ZoneExposure, zoneHazards } from './zone-hazard.ts';

const H = 3_600_000;

test('hazard: loss events per exposed hour with a neutral prior; a zone never used rates 1 per PRIOR_HOURS', () => {
  const rates = zoneHazards({ zones: ['good', 'flaky', 'unused'], exposureHours: { good: 96, flaky: 16 }, events: { good: 9, flaky: 9 } });
  assert.equal(rates.good, 10 / (96 + PRIOR_HOURS));
  assert.equal(rates.flaky, 10 / (16 + PRIOR_HOURS));
  assert.equal(rates.unused, 1 / PRIOR_HOURS);
});

test('ZoneExposure: exposure from observations (spot, not leaving), losses closer than a notice count once, both forgotten after the memory', () => {
  const z = new ZoneExposure();
  const members = [
    { zone: 'a', state: 'ready' },
    { zone: 'a', state: 'joining' },
    { zone: 'b', state: 'ready' },
    { zone: 'b', state: 'draining' },
    { zone: 'c', state: 'ready', lifecycle: 'on-demand' as const },
    { zone: 'c', state: 'ready', role: 'other' },
  ];
  let now = 10 * H;
  z.observe(now, members, 'serve');
  for (let i = 0; i < 10; i++) z.observe((now += H), members, 'serve');
  z.lost('a', now);
  z.lost('a', now + 60_000);
  z.lost('b', now + 60_000);
  const rates = z.hazards(['a', 'b', 'c'], now + 60_000);
  assert.equal(rates.a, 2 / (20 + PRIOR_HOURS), 'two members for 10 h; one event');
  assert.equal(rates.b, 2 / (10 + PRIOR_HOURS));
  assert.equal(rates.c, 1 / PRIOR_HOURS, 'on-demand and other roles add no exposure');
  // A gap between observations is capped at one hour: an agent that slept saw nothing.
  z.observe(now + 5 * H, members, 'serve');
  assert.equal(z.hazards(['b'], now + 5 * H).b, 2 / (11 + PRIOR_HOURS));
  const later = now + 5 * H + ZONE_HAZARD_MEMORY_MS + 2 * H;
  z.observe(later, [], 'serve');
  assert.deepEqual(z.hazards(['a', 'b'], later), { a: 1 / PRIOR_HOURS, b: 1 / PRIOR_HOURS });
});

test('ZoneExposure is the one store of losses: every loss for the last 12 h (placement, the hedge), one event per reclaim for the week (hazards)', () => {
  const z = new ZoneExposure();
  const t0 = 100 * H;
  // One reclaim takes three (two serving, one booting), a fourth loss comes 3 min later.
  z.lost('a', t0);
  z.lost('a', t0 + 1_000);
  z.lost('a', t0 + 2_000, false);
  z.lost('a', t0 + 180_000);
  assert.deepEqual(z.recentLosses(t0 + 180_000, 12 * H), [
    { zone: 'a', at: t0, serving: true },
    { zone: 'a', at: t0 + 1_000, serving: true },
    { zone: 'a', at: t0 + 2_000, serving: false },
    { zone: 'a', at: t0 + 180_000, serving: true },
  ]);
  assert.equal(z.hazards(['a'], t0 + 180_000).a, 3 / PRIOR_HOURS, 'two events (the reclaim, the loss 3 min later) + the prior');
  // After 12 h the raw losses leave the short window, the events stay for the week.
  assert.deepEqual(z.recentLosses(t0 + 13 * H, 12 * H), []);
  assert.equal(z.hazards(['a'], t0 + 13 * H).a, 3 / PRIOR_HOURS);
  assert.deepEqual(z.hazards(['a'], t0 + ZONE_HAZARD_MEMORY_MS + H), { a: 1 / PRIOR_HOURS });
  // Nothing from the future, and the store is bounded: a flood keeps the newest.
  assert.deepEqual(z.recentLosses(t0 - 1, 12 * H), []);
  const flood = new ZoneExposure();
  for (let i = 0; i < 6000; i++) flood.lost(`z${i % 3}`, t0 + i);
  const kept = flood.recentLosses(t0 + 6000, 12 * H);
  assert.equal(kept.length, 5000);
  assert.equal(kept.at(-1)!.at, t0 + 5999);
});

test('placement tiers: zones within 2x of the best rate first, spread by held among them; a flaky zone only after, even when empty', () => {
  const hazard = { good1: 0.1, good2: 0.15, flaky: 0.6 };
  // Without rates: fewest held first (the flaky zone, empty, would come first).
  assert.equal(spreadZoneOrder({ zones: ['good1', 'good2', 'flaky'], held: { good1: 2, good2: 1 }, key: 'k' })[0], 'flaky');
  // With them: the good tier, fewest held first; the flaky zone last.
  assert.deepEqual(spreadZoneOrder({ zones: ['good1', 'good2', 'flaky'], held: { good1: 2, good2: 1 }, key: 'k', hazard }), [
    'good2',
    'good1',
    'flaky',
  ]);
  // The notice's zone is still last, and a recent loss still outranks the tiers.
  assert.deepEqual(
    spreadZoneOrder({ zones: ['good1', 'good2', 'flaky'], held: {}, key: 'k', hazard, avoid: new Set(['good2']), losses: { good1: 1 } }),
    ['flaky', 'good1', 'good2'],
  );
  // Hostile or missing rates are no evidence against a zone.
  assert.deepEqual(
    spreadZoneOrder({ zones: ['a', 'b'], held: { a: 1 }, key: 'k', hazard: { a: Number.NaN, b: Number.POSITIVE_INFINITY } }),
    ['b', 'a'],
  );
  // placementZoneOrder passes the rates through.
  const order = placementZoneOrder({ zones: ['flaky', 'good1'], members: [], leaving: 'x', key: 'k', hazard });
  assert.deepEqual(order, ['good1', 'flaky']);
});
