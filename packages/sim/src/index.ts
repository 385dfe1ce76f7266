export { SimEngine, type SimEngineOptions } from './engine.ts';
export { EventQueue, type SimEvent } from './event-queue.ts';
export { createRandom, type Random } from './random.ts';
export {
  loadTraceDir,
  parseTrace,
  capacityAt,
  selectZones,
  sliceTraces,
  type TraceSet,
  type ZoneTrace,
  type TraceKind,
  type LoadTracesOptions,
} from './trace-loader.ts';
export { loadPriceTable, priceFor, DEFAULT_PRICE_FILE, type PriceTable } from './price-table.ts';
export type { Policy, PolicyContext, SimInstance, LaunchRequest, InstancePhase, EndReason } from './policy.ts';
export {
  simulate,
  billedSeconds,
  DEFAULT_LAUNCH_DELAY_MS,
  SPOT_NOTICE_MS,
  MIN_BILLED_SECONDS,
  type SimulationOptions,
  type SimulationResult,
  type ServeWorkload,
  type BatchWorkload,
  type ArrivalPattern,
  type TimelinePoint,
} from './simulate.ts';
export * from './policies/index.ts';
export { simHedgeSettings } from './hedge-settings.ts';
export {
  runPaired,
  createPolicy,
  POLICY_NAMES,
  type PolicyName,
  type PolicySettings,
  type PairedResult,
  type PairedRunOptions,
} from './paired-runs.ts';
export {
  solveAssignment,
  greedyAssignment,
  bruteForceAssignment,
  buildCostMatrix,
  assignmentCost,
  startupSeconds,
  type Assignment,
  type AssignmentCostOptions,
  type CandidateInstance,
  type DisplacedWorkload,
} from './assignment.ts';
export { renderReplicaChart, type ChartSeries, type SvgChartOptions } from './svg-chart.ts';
export { DEFAULT_TRACE_DIR } from './default-traces.ts';
export {
  runZoneSubsets,
  zoneSubsets,
  renderZoneSubsetTable,
  CLAIM_COST_SHARE,
  type ZoneSubsetOptions,
  type ZoneSubsetRow,
} from './zone-subsets.ts';
export { clairvoyantBound, type ClairvoyantBound, type ClairvoyantBoundOptions } from './clairvoyant-bound.ts';
export { runSweep, renderSweepTable, renderSweepChart, type SweepOptions, type SweepRow } from './sweep.ts';
export {
  parseLaunchDelay,
  drawLaunchDelay,
  typicalLaunchDelayMs,
  describeLaunchDelay,
  MAX_LAUNCH_DELAY_MS,
  type LaunchDelay,
} from './launch-delay.ts';
export {
  loadSpotPriceHistory,
  parseSpotPriceHistory,
  spotCostUsd,
  meanSpotPrice,
  MAX_PRICE_ROWS,
  type SpotPriceHistory,
} from './spot-price-history.ts';
