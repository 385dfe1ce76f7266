import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPaired } from './paired-runs.ts';
import type { PriceTable } from './price-table.ts';
import { renderSweepTable, runSweep } from './sweep.ts';
import type { TraceSet } from './trace-loader.ts';

const gapMs = 600_000;
const zones = { a: [1, 0, 1, 1, 0, 1, 1, 1], b: [0, 1, 1, 0, 1, 1, 0, 1], c: [1, 1, 0, 1, 1, 1, 1, 0] };
const list = Object.entries(zones).map(([zone, values]) => ({ zone, file: `${zone}.json`, kind: 'availability' as const, gapMs, values }));
const traces: TraceSet = { dir: 'memory', kind: 'availability', gapMs, zones: list, durationMs: 8 * gapMs };
const prices: PriceTable = { instanceType: 't', onDemandUsdPerHour: 3, spotUsdPerHour: 0.9, zones: {}, sources: {} };

test('sweep: repricing billed hours at a ratio gives what a run at that spot price costs', () => {
  const rows = runSweep({ traces, prices, priceRatios: [0.3, 0.6], replicas: [2], launchDelaysMs: [183_000], policies: ['synkti'] });
  assert.equal(rows.length, 2);
  for (const row of rows) {
    const [, direct] = runPaired({
      traces,
      prices: { ...prices, spotUsdPerHour: 3 * row.priceRatio },
      target: 2,
      launchDelayMs: 183_000,
      policies: ['on-demand', 'synkti'],
      workload: { kind: 'serve', requestsPerSecond: 0 },
    });
    assert.ok(
      Math.abs(row.costVsOnDemand - direct!.costVsOnDemand!) < 1e-9,
      `${row.priceRatio}: ${row.costVsOnDemand} vs ${direct!.costVsOnDemand}`,
    );
    assert.equal(row.availability, direct!.availability);
  }
  assert.ok(rows[1]!.costVsOnDemand > rows[0]!.costVsOnDemand);
  assert.equal(renderSweepTable(rows).split('\n').length, 3);
  assert.throws(() => runSweep({ traces, prices, priceRatios: [1.5] }), { code: 'E_SIM_SWEEP' });
});
