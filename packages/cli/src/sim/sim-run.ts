import { writeFile } from 'node:fs/promises';
import { SynktiError, loadClusterConfig } from '@synkti/core';
import {
  DEFAULT_LAUNCH_DELAY_MS,
  DEFAULT_TRACE_DIR,
  POLICY_NAMES,
  describeLaunchDelay,
  loadPriceTable,
  loadSpotPriceHistory,
  loadTraceDir,
  meanSpotPrice,
  renderReplicaChart,
  renderSweepChart,
  renderSweepTable,
  runPaired,
  runSweep,
  selectZones,
  simHedgeSettings,
  typicalLaunchDelayMs,
  zoneSubsets,
  type ArrivalPattern,
  type PolicySettings,
  type BatchWorkload,
  type LaunchDelay,
  type PairedResult,
  type ServeWorkload,
  type TraceSet,
} from '@synkti/sim';
import { createProgress, renderTable } from '../output.ts';

export interface SimCommandOptions {
  /** Directory of `<zone>.json` traces. @default the shipped 6-zone V100 traces */
  traces?: string;
  /** Ready replicas (or batch workers) wanted. @default 4 */
  replicas: number;
  /** A policy name, a comma-separated list, or `all`. @default 'all' */
  policy: string;
  /** Days to simulate; default: the whole trace. */
  days?: number;
  /** @default 1 */
  seed: number;
  /** Provision + model load. @default 183000 */
  launchDelayMs?: number;
  /** Launch delay as a distribution (`--launch-delay lognormal:183s,0.5`); wins over launchDelayMs. */
  launchDelay?: LaunchDelay;
  /** Only these zones of the traces (`--zones a,b,c`). @default every zone */
  zones?: string[];
  /** Synkti policies: move replicas to restore ⌈N/Z⌉ per zone. @default false */
  spreadMoves?: boolean;
  /** A cluster config whose pool's `spotHedge` the synkti policies use (`--config`). @default none */
  config?: string;
  /** Its pool (`--pool`). @default the only spot pool */
  pool?: string;
  /** Hedge flags, over the config's (`--hedge-objective` ...; `enabled: false` from `--no-hedge`). @default none */
  hedge?: PolicySettings['synktiHedge'];
  /** Spot instances one zone holds while its availability trace reads available. @default unlimited */
  capacityCap?: number;
  /** On-demand instances that can run at once. @default unlimited */
  onDemandCapacity?: number;
  /** Spot price history (aws ec2 describe-spot-price-history JSON). */
  spotPrices?: string;
  /** Run the sensitivity sweep instead of one paired run. @default false */
  sweep?: boolean;
  /** Rebalance recommendation lead before each notice. @default 0 */
  rebalanceLeadMs?: number;
  /** Mean requests per second (serving). @default 0.2 */
  rps: number;
  /** @default 'poisson' */
  arrivals: ArrivalPattern;
  /** Zone of the single-zone policies. @default the first zone */
  zone?: string;
  /** Price table (JSON); default: the shipped p3.2xlarge table. */
  prices?: string;
  /** Extra replicas for the synkti policy. @default 0 */
  spare?: number;
  /** Synkti policies: route to draining replicas when none is ready. @default false */
  routeToDraining?: boolean;
  /** `serve` or `batch`. @default 'serve' */
  workload: 'serve' | 'batch';
  /** Batch: tasks, time per task, deadline. */
  tasks?: number;
  taskMs?: number;
  deadlineMs?: number;
  /** Write an SVG of replicas over time here. */
  chart?: string;
  json: boolean;
  /** Progress on stderr. @default true */
  progress?: boolean;
}

export interface SimCommandOutput {
  results: PairedResult[];
  /** What to print on stdout. */
  text: string;
}

function policyList(value: string): string[] {
  if (value === 'all') return [...POLICY_NAMES];
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0)
    throw new SynktiError('E_SIM_POLICY', '--policy is empty', { hint: `use all, or some of ${POLICY_NAMES.join(', ')}` });
  return names;
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

/** One line per policy, with exactly the documented keys. */
export function resultToJsonLine(r: PairedResult): string {
  return JSON.stringify({
    policy: r.policy,
    cost_usd: round(r.costUsd, 2),
    cost_vs_on_demand: r.costVsOnDemand === undefined ? null : round(r.costVsOnDemand, 4),
    availability: round(r.availability, 6),
    failed_request_fraction: round(r.failedRequestFraction, 6),
    preemptions: r.preemptions,
  });
}

export function renderSimTable(results: readonly PairedResult[], batch: boolean): string {
  const percent = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)}%`;
  const headers = [
    'policy',
    'cost',
    'vs on-demand',
    'availability',
    batch ? 'lost work' : 'failed requests',
    'preemptions',
    'replacements',
    'spot h',
    'on-demand h',
  ];
  if (batch) headers.push('job done', 'deadline');
  const rows = results.map((r) => {
    const row = [
      r.policy,
      `$${r.costUsd.toFixed(2)}`,
      r.costVsOnDemand === undefined ? '-' : percent(r.costVsOnDemand, 1),
      percent(r.availability, 3),
      batch ? `${r.lostWorkHours.toFixed(1)} h` : percent(r.failedRequestFraction, 3),
      String(r.preemptions),
      String(r.replacements),
      r.spotHours.toFixed(0),
      r.onDemandHours.toFixed(0),
    ];
    if (batch)
      row.push(r.jobDoneAtMs === undefined ? 'not done' : `${(r.jobDoneAtMs / 3_600_000).toFixed(1)} h`, r.deadlineMet ? 'met' : 'missed');
    return row;
  });
  return renderTable(headers, rows);
}

function pickZones(all: TraceSet, zones: string[] | undefined): TraceSet {
  if (zones === undefined) return all;
  const unknown = zones.filter((z) => !all.zones.some((t) => t.zone === z));
  if (unknown.length > 0) {
    throw new SynktiError('E_SIM_ZONE', `--zones: ${unknown.join(', ')} has no trace in ${all.dir}`, {
      hint: `use some of ${all.zones.map((z) => z.zone).join(',')}`,
    });
  }
  return selectZones(all, zones);
}

/**
 * `--sweep`: spot/on-demand price ratio 0.3–0.7 × replicas 2/4/8 × launch delay 60/183/600 s
 * × every subset of ≥ 3 of the zones (all of them when fewer than 3), synkti and
 * SkyServe-like against on-demand; a Markdown table, and an SVG with `--chart`.
 */
async function runSweepCommand(options: SimCommandOptions, traces: TraceSet): Promise<SimCommandOutput> {
  const prices = await loadPriceTable(options.prices);
  const names = traces.zones.map((z) => z.zone);
  const zoneSets = names.length <= 3 ? [names] : zoneSubsets(names, 3);
  const progress = createProgress(process.stderr, options.progress === false);
  const started = Date.now();
  const rows = runSweep({
    traces,
    prices,
    zoneSets,
    seed: options.seed,
    durationMs: options.days === undefined ? undefined : Math.round(options.days * 86_400_000),
    onProgress: (done, total) =>
      progress.update(
        `sweep: ${done}/${total} runs (zone sets × replicas × launch delays) in ${((Date.now() - started) / 1000).toFixed(0)} s`,
      ),
  });
  progress.done();
  if (options.chart) await writeFile(options.chart, renderSweepChart(rows));
  if (options.json)
    return {
      results: [],
      text: rows
        .map((r) =>
          JSON.stringify({
            zones: r.zones,
            replicas: r.replicas,
            launch_delay_s: r.launchDelayMs / 1000,
            price_ratio: r.priceRatio,
            policy: r.policy,
            cost_vs_on_demand: round(r.costVsOnDemand, 4),
            availability: round(r.availability, 6),
          }),
        )
        .join('\n'),
    };
  const lines = [
    `sweep: ${zoneSets.length} zone sets × replicas 2/4/8 × launch delay 60/183/600 s, seed ${options.seed}; cost at each spot price ratio from the same billed hours`,
    '',
    renderSweepTable(rows),
  ];
  if (options.chart) lines.push('', `chart: ${options.chart}`);
  return { results: [], text: lines.join('\n') };
}

export async function runSimCommand(options: SimCommandOptions): Promise<SimCommandOutput> {
  const policies = policyList(options.policy);
  const traces = pickZones(await loadTraceDir(options.traces ?? DEFAULT_TRACE_DIR), options.zones);
  if (options.sweep) return runSweepCommand(options, traces);
  const prices = await loadPriceTable(options.prices);
  const spotPrices = options.spotPrices === undefined ? undefined : await loadSpotPriceHistory(options.spotPrices);
  const launchDelay: LaunchDelay = options.launchDelay ?? { kind: 'fixed', ms: options.launchDelayMs ?? DEFAULT_LAUNCH_DELAY_MS };
  // The agent's pools.<role>.spotHedge, as the config sets it, with the flags over it.
  const synktiHedge = simHedgeSettings({
    spec: options.config === undefined ? undefined : (await loadClusterConfig({ file: options.config })).spec,
    pool: options.pool,
    overrides: options.hedge,
  });
  const durationMs = options.days === undefined ? undefined : Math.round(options.days * 86_400_000);
  if (options.zone !== undefined && !traces.zones.some((z) => z.zone === options.zone)) {
    throw new SynktiError('E_SIM_ZONE', `--zone ${options.zone} has no trace in ${traces.dir}`, {
      hint: `use one of ${traces.zones.map((z) => z.zone).join(', ')}`,
    });
  }
  let workload: ServeWorkload | BatchWorkload;
  if (options.workload === 'batch') {
    const horizon = durationMs ?? traces.durationMs;
    const taskMs = options.taskMs ?? 15 * 60_000;
    // Default job: half the run's worth of work for the workers, due at 80% of the run.
    const tasks = options.tasks ?? Math.max(1, Math.floor((horizon * 0.5 * options.replicas) / taskMs));
    workload = { kind: 'batch', tasks, taskMs, deadlineMs: options.deadlineMs ?? Math.floor(horizon * 0.8) };
  } else {
    workload = { kind: 'serve', requestsPerSecond: options.rps, arrivals: options.arrivals };
  }
  const progress = createProgress(process.stderr, options.progress === false);
  const started = Date.now();
  const results = runPaired({
    traces,
    prices,
    target: options.replicas,
    seed: options.seed,
    durationMs,
    launchDelayMs: typicalLaunchDelayMs(launchDelay),
    launchDelay: launchDelay.kind === 'fixed' ? undefined : launchDelay,
    zoneCapacity: options.capacityCap,
    onDemandCapacity: options.onDemandCapacity,
    spotPrices,
    rebalanceLeadMs: options.rebalanceLeadMs,
    policies,
    settings: {
      zone: options.zone,
      synktiSpare: options.spare,
      synktiLastResortDraining: options.routeToDraining,
      synktiSpreadMoves: options.spreadMoves,
      synktiHedge,
    },
    workload,
    onProgress: (done, total, result) =>
      progress.update(
        `simulated ${done}/${total} policies (${result.policy}: ${result.events.toLocaleString('en-US')} events) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      ),
  });
  progress.done();
  if (options.chart) {
    const days = ((durationMs ?? traces.durationMs) / 86_400_000).toFixed(1);
    const svg = renderReplicaChart(results, {
      title: `${options.replicas} replicas on ${traces.dir.split('/').pop()} (${days} days, seed ${options.seed})`,
    });
    await writeFile(options.chart, svg);
  }
  if (options.json) return { results, text: results.map(resultToJsonLine).join('\n') };
  const days = (durationMs ?? traces.durationMs) / 86_400_000;
  const header = [
    `${traces.zones.length} zones (${traces.zones.map((z) => z.zone).join(', ')}), ${days.toFixed(1)} days, ${options.replicas} ${workload.kind === 'batch' ? 'workers' : 'replicas'}, seed ${options.seed}, launch delay ${describeLaunchDelay(launchDelay)}`,
    spotPrices
      ? `prices: spot from ${spotPrices.file} (mean ${traces.zones.map((z) => `${z.zone} $${meanSpotPrice(spotPrices, z.zone, durationMs ?? traces.durationMs)!.toFixed(3)}`).join(', ')}/h), on-demand $${prices.onDemandUsdPerHour}/h (${prices.instanceType}); availability = share of time with ≥ ${options.replicas} ready`
      : `prices: spot $${prices.spotUsdPerHour}/h, on-demand $${prices.onDemandUsdPerHour}/h (${prices.instanceType}); availability = share of time with ≥ ${options.replicas} ready`,
  ];
  const limits = [
    options.capacityCap === undefined ? undefined : `at most ${options.capacityCap} spot per zone`,
    options.onDemandCapacity === undefined ? undefined : `at most ${options.onDemandCapacity} on-demand at once`,
    options.spreadMoves ? 'spread moves on' : undefined,
    Object.keys(synktiHedge).length > 0
      ? `spot hedge ${Object.entries(synktiHedge)
          .map(([k, v]) => `${k} ${String(v)}`)
          .join(', ')}`
      : undefined,
  ].filter(Boolean);
  if (limits.length > 0) header.push(`limits: ${limits.join(', ')}`);
  if (workload.kind === 'batch')
    header.push(
      `job: ${workload.tasks} tasks of ${(workload.taskMs / 60_000).toFixed(0)} min, deadline ${(workload.deadlineMs / 3_600_000).toFixed(1)} h`,
    );
  else header.push(`requests: ${results[0]?.requests.toLocaleString('en-US')} (${options.arrivals}, ${options.rps}/s)`);
  const lines = [...header, '', renderSimTable(results, workload.kind === 'batch')];
  if (options.chart) lines.push('', `chart: ${options.chart}`);
  return { results, text: lines.join('\n') };
}
