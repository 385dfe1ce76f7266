// Every ≥ 3-zone subset of a trace set × 2/4/8 replicas, as a Markdown table (with the
// clairvoyant bound per row and whether ≤ 50 % of on-demand at ≥ 99 % is possible at all):
//   node --import tsx packages/sim/scripts/zone-subsets.ts [traceDir] [launchDelaySeconds]
import { DEFAULT_TRACE_DIR, loadPriceTable, loadTraceDir, renderZoneSubsetTable, runZoneSubsets } from '@synkti/sim';

const traces = await loadTraceDir(process.argv[2] ?? DEFAULT_TRACE_DIR);
const launchDelayMs = process.argv[3] === undefined ? undefined : Number(process.argv[3]) * 1000;
const rows = runZoneSubsets({ traces, prices: await loadPriceTable(), launchDelayMs, minZones: Math.min(3, traces.zones.length) });
console.log(renderZoneSubsetTable(rows));
