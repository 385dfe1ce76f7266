// Ground the hedge was not tuned on: every ≥ 3-zone subset, each half of the trace on its own
// (days 0–22.7 and 22.7–45.5, fresh state), paired on-demand / deadline / synkti, N = 4
// unless SIM_REPLICAS says otherwise; prints per half how often the claim holds, and in how
// many rows ≥ 99 % at ≤ 50 % is possible at all (clairvoyantBound ≤ 50 %):
//   node --import tsx packages/sim/scripts/holdout.ts [traceDir]
import {
  CLAIM_COST_SHARE,
  DEFAULT_TRACE_DIR,
  clairvoyantBound,
  loadPriceTable,
  loadTraceDir,
  runPaired,
  selectZones,
  sliceTraces,
  zoneSubsets,
} from '@synkti/sim';

const full = await loadTraceDir(process.argv[2] ?? DEFAULT_TRACE_DIR);
const prices = await loadPriceTable();
const replicas = (process.env.SIM_REPLICAS ?? '4').split(',').map(Number);
const half = full.durationMs / 2;
for (const [name, from] of [
  ['first half', 0],
  ['second half', half],
] as const) {
  let rows = 0;
  let reachable = 0;
  let holds = 0;
  let possible = 0;
  let above = 0;
  const misses: string[] = [];
  for (const zones of zoneSubsets(
    full.zones.map((z) => z.zone),
    Math.min(3, full.zones.length),
  )) {
    const traces = sliceTraces(selectZones(full, zones), from, half);
    for (const target of replicas) {
      const [deadline, synkti] = runPaired({
        traces,
        prices,
        target,
        policies: ['deadline', 'synkti'],
        workload: { kind: 'serve', requestsPerSecond: 0 },
      });
      const bound = clairvoyantBound({ traces, prices, target }).costVsOnDemand;
      rows++;
      if (bound !== undefined && bound <= CLAIM_COST_SHARE) possible++;
      if (synkti!.costVsOnDemand! > 1) above++;
      if (Math.max(deadline!.availability, synkti!.availability) < 0.99) continue;
      reachable++;
      if (synkti!.availability >= 0.99 && synkti!.costVsOnDemand! <= 0.5) holds++;
      else
        misses.push(
          `${zones.join(' ')} N=${target}: ${(synkti!.costVsOnDemand! * 100).toFixed(1)} % / ${(synkti!.availability * 100).toFixed(2)} % (deadline ${(deadline!.costVsOnDemand! * 100).toFixed(1)} % / ${(deadline!.availability * 100).toFixed(2)} %; clairvoyant bound ${bound === undefined ? 'unreachable' : `${(bound * 100).toFixed(1)} %`})`,
        );
    }
  }
  console.log(
    `${name}: ${rows} rows, some policy ≥ 99 % in ${reachable}, ≤ 50 % possible at all in ${possible}, synkti ≥ 99 % at ≤ 50 % in ${holds}, above on-demand ${above}`,
  );
  for (const miss of misses) console.log(`  miss: ${miss}`);
}
