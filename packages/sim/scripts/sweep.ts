// Sensitivity: spot/on-demand price ratio 0.3–0.7 × replicas 2/4/8 × launch delay 60/183/600 s
// on the shipped 6 zones and its steadiest/flakiest 3-zone subsets, as a Markdown table:
//   node --import tsx packages/sim/scripts/sweep.ts [traceDir]
import { DEFAULT_TRACE_DIR, loadPriceTable, loadTraceDir, renderSweepTable, runSweep } from '@synkti/sim';

const traces = await loadTraceDir(process.argv[2] ?? DEFAULT_TRACE_DIR);
const all = traces.zones.map((z) => z.zone);
const zoneSets =
  process.argv[2] === undefined ? [all, ['us-east-2a', 'us-west-2a', 'us-west-2b'], ['us-east-1a', 'us-east-1c', 'us-east-1d']] : [all];
console.log(renderSweepTable(runSweep({ traces, prices: await loadPriceTable(), zoneSets })));
