import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PriceTable } from './price-table.ts';
import type { TraceSet } from './trace-loader.ts';
import { renderZoneSubsetTable, runZoneSubsets, zoneSubsets } from './zone-subsets.ts';

const PRICES: PriceTable = { instanceType: 't', onDemandUsdPerHour: 3.06, spotUsdPerHour: 0.918, zones: {}, sources: {} };

test('zone subsets: every subset of at least k zones, largest first; each row paired against on-demand', () => {
  assert.deepEqual(zoneSubsets(['a', 'b', 'c'], 2), [['a', 'b', 'c'], ['a', 'b'], ['a', 'c'], ['b', 'c']]);
  const gapMs = 600_000;
  const zones = { a: [1, 0, 1, 1, 0, 1], b: [1, 1, 1, 0, 1, 1], c: [0, 1, 1, 1, 1, 0] };
  const list = Object.entries(zones).map(([zone, values]) => ({ zone, file: `${zone}.json`, kind: 'availability' as const, gapMs, values }));
  const traces: TraceSet = { dir: 'memory', kind: 'availability', gapMs, zones: list, durationMs: 6 * gapMs };
  const rows = runZoneSubsets({ traces, prices: PRICES, minZones: 2, replicas: [1, 2], policies: ['synkti'] });
  assert.equal(rows.length, 8);
  for (const row of rows) {
    const synkti = row.results.find((r) => r.policy === 'synkti')!;
    assert.ok(synkti.costVsOnDemand! > 0 && synkti.costVsOnDemand! <= 1, `${row.zones.join(',')} × ${row.replicas}: ${synkti.costVsOnDemand}`);
  }
  const table = renderZoneSubsetTable(rows);
  assert.match(table, /^\| zones \| N \| synkti cost \/ avail\. \|/);
  assert.equal(table.split('\n').length, 2 + 8);
  assert.throws(() => runZoneSubsets({ traces, prices: PRICES, minZones: 4 }), { code: 'E_SIM_ZONE' });
});
