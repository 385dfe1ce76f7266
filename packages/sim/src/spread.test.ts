import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PriceTable } from './price-table.ts';
import { simulate } from './simulate.ts';
import { synktiPolicy } from './policies/index.ts';
import type { TraceSet } from './trace-loader.ts';

const MIN = 60_000;
const PRICES: PriceTable = { instanceType: 't', onDemandUsdPerHour: 3.06, spotUsdPerHour: 0.918, zones: {}, sources: {} };

function traces(zones: Record<string, number[]>, gapMs = 10 * MIN): TraceSet {
  const list = Object.entries(zones).map(([zone, values]) => ({
    zone,
    file: `${zone}.json`,
    kind: 'availability' as const,
    gapMs,
    values,
  }));
  return { dir: 'memory', kind: 'availability', gapMs, zones: list, durationMs: Math.min(...list.map((z) => z.values.length)) * gapMs };
}

/** Spot replicas serving per zone at time t. */
function perZoneAt(r: ReturnType<typeof simulate>, t: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of r.instances)
    if (i.lifecycle === 'spot' && i.readyAt !== undefined && i.readyAt <= t && (i.drainedAt ?? i.terminatedAt ?? Infinity) > t)
      out[i.zone] = (out[i.zone] ?? 0) + 1;
  return out;
}

describe('zone spread', () => {
  it('replicas that all landed in the one zone with capacity move out to ⌈N/Z⌉ per zone once others open, with no instance left over', () => {
    const open = Array.from({ length: 18 }, () => 1);
    const set = traces({ a: open, b: [0, 0, ...open.slice(2)], c: [0, 0, ...open.slice(2)], d: [0, 0, ...open.slice(2)] });
    const moved = simulate({
      traces: set,
      prices: PRICES,
      policy: synktiPolicy({ spreadMoves: true }),
      target: 4,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    const stayed = simulate({
      traces: set,
      prices: PRICES,
      policy: synktiPolicy(),
      target: 4,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    assert.deepEqual(perZoneAt(stayed, 170 * MIN), { a: 4 }, 'without moves all four stay in zone a');
    assert.deepEqual(perZoneAt(moved, 170 * MIN), { a: 1, b: 1, c: 1, d: 1 });
    assert.equal(moved.instances.filter((i) => i.endReason === 'horizon').length, 4, 'the movers handed over and ended');
    assert.ok(moved.maxHeld <= 8, `held ${moved.maxHeld}`);
    assert.equal(moved.availability, stayed.availability, 'moves hand over only once the successor serves');
    assert.ok(moved.servingHoursByZone.b! > 0 && stayed.servingHoursByZone.b === 0);
  });

  it('initial placement and replacements spread: a zone reclaim takes one replica of four, not all', () => {
    const set = traces({ a: [1, 1, 1, 0, 0, 1], b: [1, 1, 1, 1, 1, 1], c: [1, 1, 1, 1, 1, 1], d: [1, 1, 1, 1, 1, 1] });
    const r = simulate({
      traces: set,
      prices: PRICES,
      policy: synktiPolicy(),
      target: 4,
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    assert.deepEqual(perZoneAt(r, 10 * MIN), { a: 1, b: 1, c: 1, d: 1 });
    assert.equal(r.preemptions, 1);
  });
});
