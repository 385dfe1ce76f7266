/**
 * More zones (issue 16, Build 3), on the shipped 6-zone trace: the synkti policy (the
 * agent's placement and spot hedge) on all six zones, 4 replicas, against every subset of
 * 3–5 of them with SYNKTI_SIM_FULL=1 (42 runs), else against the five best subsets of that
 * full run (CI budget). It cannot hold exactly: a zone the pool has not lost in for 12 h
 * looks as good as any, so six zones keep trying the flaky ones that a hand-picked subset
 * leaves out. Measured over all 42 (2026-12-07, with the hedge): the best, us-east-1a
 * us-east-2a us-west-2b, 99.74 % at 35.6 % of on-demand, against all six 99.62 % at 35.5 %
 * (0.12 pp; the same at 2 and 8 replicas). What holds: within 0.15 pp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TRACE_DIR } from './default-traces.ts';
import { loadPriceTable } from './price-table.ts';
import { loadTraceDir } from './trace-loader.ts';
import { runZoneSubsets, zoneSubsets } from './zone-subsets.ts';

const FULL = process.env.SYNKTI_SIM_FULL === '1';

test(`6 zones vs ${FULL ? 'every 3-5-zone subset' : 'the 5 best 3-5-zone subsets'} (4 replicas): no subset beats all six by more than 0.15 pp, and none costs more than on-demand`, async () => {
  const traces = await loadTraceDir(DEFAULT_TRACE_DIR);
  const best = [
    ['us-east-1a', 'us-east-2a', 'us-west-2b'], ['us-east-1d', 'us-east-2a', 'us-west-2b'], ['us-east-2a', 'us-west-2a', 'us-west-2b'],
    ['us-east-1c', 'us-east-2a', 'us-west-2b'], ['us-east-1a', 'us-east-1d', 'us-east-2a', 'us-west-2b'],
  ];
  const zoneSets = FULL ? zoneSubsets(traces.zones.map((z) => z.zone), 3) : [traces.zones.map((z) => z.zone), ...best];
  const rows = runZoneSubsets({ traces, prices: await loadPriceTable(), replicas: [4], policies: ['synkti'], zoneSets });
  const synkti = rows.map((r) => ({ zones: r.zones, ...r.results.find((x) => x.policy === 'synkti')! }));
  const all = synkti.find((r) => r.zones.length === 6)!;
  assert.equal(synkti.length, FULL ? 42 : 6);
  for (const subset of synkti.filter((r) => r.zones.length < 6)) {
    const what = `${subset.zones.join(' ')}: ${(subset.availability * 100).toFixed(3)} % at ${(subset.costVsOnDemand! * 100).toFixed(1)} % vs all six ${(all.availability * 100).toFixed(3)} % at ${(all.costVsOnDemand! * 100).toFixed(1)} %`;
    assert.ok(all.availability >= subset.availability - 0.0015, what);
    assert.ok(subset.costVsOnDemand! <= 1, `never above on-demand: ${what}`);
  }
});
