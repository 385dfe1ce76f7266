/**
 * More zones (issue 16, Build 3), on the shipped 6-zone trace: the synkti policy (the
 * agent's placement and spot hedge) on all six zones, 4 replicas, against every subset of
 * 3–5 of them with SYNKTI_SIM_FULL=1 (42 runs), else against five of the best subsets (CI
 * budget). Why six zones lost to a subset: availability counts the time with all N ready,
 * so every zone the pool occupies adds its reclaims, and a 12-hour loss count cannot tell a
 * zone we left from a good one; six zones kept cycling through the flaky zones a subset
 * leaves out (99.62 % against 99.74 %). Placement now keeps to the zones whose loss rate per
 * exposed hour (a week, zone-hazard.ts) is within 2× of the best: all six 99.688 % at 34.7 %
 * of on-demand; the best subset, us-east-1a us-east-2a us-west-2b, 99.744 % at 35.6 %
 * (0.056 pp, measured over all 42, 2026-12-07). It cannot reach 0 by placement: ordering by
 * each zone's true reclaim rate from the trace (an oracle) leaves 0.051 pp (99.702 against
 * 99.753 %), and six zones buy that with more spot time (cheaper). What holds: within 0.06 pp.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TRACE_DIR } from './default-traces.ts';
import { loadPriceTable } from './price-table.ts';
import { loadTraceDir } from './trace-loader.ts';
import { runZoneSubsets, zoneSubsets } from './zone-subsets.ts';

const FULL = process.env.SYNKTI_SIM_FULL === '1';

test(`6 zones vs ${FULL ? 'every 3-5-zone subset' : 'the 5 best 3-5-zone subsets'} (4 replicas): no subset beats all six by more than 0.06 pp, and none costs more than on-demand`, async () => {
  const traces = await loadTraceDir(DEFAULT_TRACE_DIR);
  const best = [
    ['us-east-1a', 'us-east-2a', 'us-west-2b'],
    ['us-east-1d', 'us-east-2a', 'us-west-2b'],
    ['us-east-2a', 'us-west-2a', 'us-west-2b'],
    ['us-east-1c', 'us-east-2a', 'us-west-2b'],
    ['us-east-1a', 'us-east-1d', 'us-east-2a', 'us-west-2b'],
  ];
  const zoneSets = FULL
    ? zoneSubsets(
        traces.zones.map((z) => z.zone),
        3,
      )
    : [traces.zones.map((z) => z.zone), ...best];
  const rows = runZoneSubsets({ traces, prices: await loadPriceTable(), replicas: [4], policies: ['synkti'], zoneSets });
  const synkti = rows.map((r) => ({ zones: r.zones, ...r.results.find((x) => x.policy === 'synkti')! }));
  const all = synkti.find((r) => r.zones.length === 6)!;
  assert.equal(synkti.length, FULL ? 42 : 6);
  for (const subset of synkti.filter((r) => r.zones.length < 6)) {
    const what = `${subset.zones.join(' ')}: ${(subset.availability * 100).toFixed(3)} % at ${(subset.costVsOnDemand! * 100).toFixed(1)} % vs all six ${(all.availability * 100).toFixed(3)} % at ${(all.costVsOnDemand! * 100).toFixed(1)} %`;
    assert.ok(all.availability >= subset.availability - 0.0006, what);
    assert.ok(subset.costVsOnDemand! <= 1, `never above on-demand: ${what}`);
  }
});
