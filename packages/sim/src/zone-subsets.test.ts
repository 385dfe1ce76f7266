import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PriceTable } from './price-table.ts';
import type { TraceSet } from './trace-loader.ts';
import { renderZoneSubsetTable, runZoneSubsets, zoneSubsets } from './zone-subsets.ts';

const PRICES: PriceTable = { instanceType: 't', onDemandUsdPerHour: 3.06, spotUsdPerHour: 0.918, zones: {}, sources: {} };

test('zone subsets: every subset of at least k zones, largest first; each row paired against on-demand', () => {
  assert.deepEqual(zoneSubsets(['a', 'b', 'c'], 2), [
    ['a', 'b', 'c'],
    ['a', 'b'],
    ['a', 'c'],
    ['b', 'c'],
  ]);
  const gapMs = 600_000;
  const zones = { a: [1, 0, 1, 1, 0, 1], b: [1, 1, 1, 0, 1, 1], c: [0, 1, 1, 1, 1, 0] };
  const list = Object.entries(zones).map(([zone, values]) => ({
    zone,
    file: `${zone}.json`,
    kind: 'availability' as const,
    gapMs,
    values,
  }));
  const traces: TraceSet = { dir: 'memory', kind: 'availability', gapMs, zones: list, durationMs: 6 * gapMs };
  const rows = runZoneSubsets({ traces, prices: PRICES, minZones: 2, replicas: [1, 2], policies: ['synkti'] });
  assert.equal(rows.length, 8);
  for (const row of rows) {
    const synkti = row.results.find((r) => r.policy === 'synkti')!;
    assert.ok(
      synkti.costVsOnDemand! > 0 && synkti.costVsOnDemand! <= 1,
      `${row.zones.join(',')} × ${row.replicas}: ${synkti.costVsOnDemand}`,
    );
    // The bound is the row's own: never above what synkti paid where synkti reached 99 %.
    if (synkti.availability >= 0.99)
      assert.ok(
        row.bound.costUsd <= synkti.costUsd,
        `${row.zones.join(',')} × ${row.replicas}: bound $${row.bound.costUsd} > $${synkti.costUsd}`,
      );
  }
  const table = renderZoneSubsetTable(rows);
  assert.match(table, /^\| zones \| N \| synkti cost \/ avail\. \| clairvoyant bound \| ≤ 50 % possible \|/);
  // a b c × 1: spot somewhere in every tick, so the bound is the spot share (30 %) less the 1 % down.
  assert.match(table, /\n\| a b c \| 1 \| [^|]+ \| 29\.7 % \| yes \|/);
  assert.equal(table.split('\n').length, 2 + 8);
  assert.throws(() => runZoneSubsets({ traces, prices: PRICES, minZones: 4 }), { code: 'E_SIM_ZONE' });
});
