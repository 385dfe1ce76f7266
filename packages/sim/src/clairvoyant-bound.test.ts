import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clairvoyantBound } from './clairvoyant-bound.ts';
import { runPaired, POLICY_NAMES } from './paired-runs.ts';
import type { PriceTable } from './price-table.ts';
import { createRandom } from './random.ts';
import type { TraceKind, TraceSet } from './trace-loader.ts';

const HOUR = 3_600_000;

function traceSet(kind: TraceKind, gapMs: number, zones: Record<string, number[]>): TraceSet {
  const list = Object.entries(zones).map(([zone, values]) => ({ zone, file: `${zone}.json`, kind, gapMs, values }));
  return { dir: 'memory', kind, gapMs, zones: list, durationMs: Math.min(...list.map((z) => z.values.length)) * gapMs };
}

// On-demand $3/h everywhere; spot $1/h in a, $2/h in b.
const PRICES: PriceTable = {
  instanceType: 't',
  onDemandUsdPerHour: 3,
  spotUsdPerHour: 1,
  zones: { b: { spotUsdPerHour: 2 } },
  sources: {},
};
// Capacity counts per one-hour tick, 2 replicas wanted. Cheapest rate per tick, by hand:
//   t0 a2 → 2 | t1 a1 b1 → 3 | t2 b1 + 1 od → 5 | t3 2 od → 6 | t4 2 | t5 2 | t6 a1 + 1 od → 4 | t7 6 | t8 2 | t9 a2 → 2
// = $34 against $60 on-demand (2 × 10 h × $3).
const HAND = traceSet('preemption', HOUR, { a: [2, 1, 0, 0, 2, 2, 1, 0, 2, 2], b: [0, 1, 1, 0, 0, 0, 0, 0, 0, 2] });

test('clairvoyant bound: a hand-computed trace, the down-time allowance spent on the dearest hours', () => {
  const all = clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, availability: 1, noticeMs: 0 });
  assert.ok(Math.abs(all.costUsd - 34) < 1e-6);
  assert.equal(all.onDemandCostUsd, 60);
  assert.equal(all.shortOfSpotFraction, 0.4); // t2, t3, t6, t7
  // 99 %: 0.1 h of t3 (or t7) down at $6/h.
  assert.ok(Math.abs(clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, noticeMs: 0 }).costUsd - 33.4) < 1e-6);
  // 85 %: 1.5 h down: all of t3 and half of t7 → 34 − 6 − 3.
  const b85 = clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, availability: 0.85, noticeMs: 0 });
  assert.ok(Math.abs(b85.costUsd - 25) < 1e-6);
  assert.ok(Math.abs(b85.costVsOnDemand! - 25 / 60) < 1e-6);
});

test('clairvoyant bound: reclaimed capacity serves through the notice; short on-demand makes hours unreachable', () => {
  // A 30 min notice: in the first half hour of a tick, the instances the previous tick's
  // capacity held may still serve beside this tick's (HAND never needs both),
  // t1 2.5, t2 4, t3 5.5, t6 3, t7 5 (others unchanged) = $30; 90 %: the $6/h halves of t3 and t7 go.
  const notice = clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, availability: 1, noticeMs: HOUR / 2 });
  assert.ok(Math.abs(notice.costUsd - 30) < 1e-6);
  assert.ok(
    Math.abs(clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, availability: 0.9, noticeMs: HOUR / 2 }).costUsd - 24) < 1e-6,
  );
  // 3 wanted, a: 2 then 1: the first half hour of t1 counts 1 + 2 = 3 spot (safe, if loose: the
  // previous tick's instances may serve their notice beside as many as t1 holds).
  // t0 2 spot + 1 od = $5; t1 ½ h at $3/h + ½ h at 1 spot + 2 od = $7/h: 5 + 1.5 + 3.5.
  const drop = traceSet('preemption', HOUR, { a: [2, 1] });
  assert.ok(
    Math.abs(clairvoyantBound({ traces: drop, prices: PRICES, target: 3, availability: 1, noticeMs: HOUR / 2 }).costUsd - 10) < 1e-6,
  );
  // One on-demand at most: t3 and t7 (2 h) cannot hold 2 replicas at all.
  const short = clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, availability: 0.85, noticeMs: 0, onDemandCapacity: 1 });
  assert.equal(short.unreachableFraction, 0.2);
  assert.equal(short.costVsOnDemand, undefined);
  assert.ok(
    Math.abs(
      clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, availability: 0.8, noticeMs: 0, onDemandCapacity: 1 }).costUsd - 22,
    ) < 1e-6,
  );
  // An availability trace admits zoneCapacity per "available" tick (as the simulator reads it).
  const probe = traceSet('availability', HOUR, { a: [1, 0], b: [0, 0] });
  assert.ok(
    Math.abs(
      clairvoyantBound({ traces: probe, prices: PRICES, target: 2, availability: 1, noticeMs: 0, zoneCapacity: 1 }).costUsd - (1 + 3 + 6),
    ) < 1e-6,
  );
  assert.throws(() => clairvoyantBound({ traces: HAND, prices: PRICES, target: 0 }), { code: 'E_SIM_TARGET' });
  assert.throws(() => clairvoyantBound({ traces: HAND, prices: PRICES, target: 2, availability: 1.5 }), { code: 'E_SIM_OBJECTIVE' });
});

test('clairvoyant bound: no simulated policy pays less than the bound at the availability it reached', () => {
  const random = createRandom(16);
  const gapMs = 195_000;
  for (let round = 0; round < 4; round++) {
    const zones: Record<string, number[]> = {};
    for (const zone of ['a', 'b', 'c'].slice(0, 2 + (round % 2))) {
      let value = random.int(4);
      zones[zone] = Array.from({ length: 120 }, () => (value = random.next() < 0.15 ? random.int(4) : value));
    }
    const traces = traceSet('preemption', gapMs, zones);
    const target = 1 + (round % 3);
    const results = runPaired({
      traces,
      prices: PRICES,
      target,
      seed: round,
      policies: POLICY_NAMES,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    for (const result of results) {
      const bound = clairvoyantBound({ traces, prices: PRICES, target, availability: result.availability });
      assert.ok(
        bound.costUsd <= result.costUsd + 1e-9,
        `round ${round} ${result.policy}: $${result.costUsd} at ${result.availability} < bound $${bound.costUsd}`,
      );
    }
  }
});
