// Does adding zones ever lower synkti's availability? Every ≥ 3-zone subset of a trace set,
// synkti only, paired with on-demand, at 2/4/8 replicas; prints per N the full set's
// availability against the best subset's:
//   node --import tsx packages/sim/scripts/more-zones.ts [traceDir] [launchDelaySeconds]
import { DEFAULT_TRACE_DIR, loadPriceTable, loadTraceDir, runZoneSubsets } from '@synkti/sim';

const traces = await loadTraceDir(process.argv[2] ?? DEFAULT_TRACE_DIR);
const launchDelayMs = process.argv[3] === undefined ? undefined : Number(process.argv[3]) * 1000;
const started = Date.now();
const rows = runZoneSubsets({
  traces,
  prices: await loadPriceTable(),
  launchDelayMs,
  minZones: Math.min(3, traces.zones.length),
  policies: ['synkti'],
  replicas: (process.env.SIM_REPLICAS ?? '2,4,8').split(',').map(Number),
});
const all = traces.zones.length;
for (const n of (process.env.SIM_REPLICAS ?? '2,4,8').split(',').map(Number)) {
  const of = rows.filter((r) => r.replicas === n).map((r) => ({ zones: r.zones, synkti: r.results.find((x) => x.policy === 'synkti')! }));
  const full = of.find((r) => r.zones.length === all)!;
  const best = of.filter((r) => r.zones.length < all).sort((a, b) => b.synkti.availability - a.synkti.availability)[0]!;
  const worst = of.sort((a, b) => a.synkti.availability - b.synkti.availability)[0]!;
  const costs = of.map((r) => r.synkti.costVsOnDemand!);
  console.log(
    `N=${n}: all ${all} zones ${(full.synkti.availability * 100).toFixed(3)} % at ${(full.synkti.costVsOnDemand! * 100).toFixed(1)} %; best subset ${(best.synkti.availability * 100).toFixed(3)} % (${best.zones.join(' ')}) at ${(best.synkti.costVsOnDemand! * 100).toFixed(1)} %; worst ${(worst.synkti.availability * 100).toFixed(2)} % (${worst.zones.join(' ')}); cost ${(Math.min(...costs) * 100).toFixed(1)}–${(Math.max(...costs) * 100).toFixed(1)} %`,
  );
}
console.error(`${rows.length} runs in ${((Date.now() - started) / 1000).toFixed(1)} s`);
