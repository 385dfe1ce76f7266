import { SynktiError } from '@synkti/core';
import { priceFor, type PriceTable } from './price-table.ts';
import { SPOT_NOTICE_MS } from './simulate.ts';
import { capacityAt, type TraceSet } from './trace-loader.ts';

export interface ClairvoyantBoundOptions {
  traces: TraceSet;
  prices: PriceTable;
  /** Ready replicas wanted (the sim's `target`). */
  target: number;
  /** Share of the run with ≥ `target` ready that must be reached. @default 0.99 */
  availability?: number;
  /** Spot instances a zone holds while its availability trace reads "available" (as `simulate`). @default Infinity */
  zoneCapacity?: number;
  /** On-demand instances that can run at once (as `simulate`). @default Infinity */
  onDemandCapacity?: number;
  /** Simulated length; default and maximum: the traces' length. */
  durationMs?: number;
  /** A reclaimed spot instance serves this long after capacity drops (as `simulate`). @default 120000 (SPOT_NOTICE_MS) */
  noticeMs?: number;
}

export interface ClairvoyantBound {
  /** Least cost any policy can pay for the availability on these traces (USD). */
  costUsd: number;
  /** `target` on-demand instances for the whole run at the cheapest on-demand price (USD). */
  onDemandCostUsd: number;
  /** costUsd / onDemandCostUsd; undefined when the availability cannot be reached at any price. */
  costVsOnDemand: number | undefined;
  /** Share of the run in which `target` replicas cannot all be spot. */
  shortOfSpotFraction: number;
  /** Share of the run in which `target` replicas cannot be had at all (on-demand short too). */
  unreachableFraction: number;
}

/**
 * The least cost any policy, even one that knows the whole trace in advance, can pay for
 * `availability` on these traces in the simulator's own model: capacity per zone read as
 * `simulate` reads it, per-zone prices from the table, launches instant and billed per
 * millisecond (no launch delay, no 60 s minimum), so no policy the simulator runs can pay
 * less. At each instant the cheapest way to hold `target` replicas is spot in the
 * cheapest zones up to their capacity, on-demand for the rest. A reclaimed instance still
 * serves through its two-minute notice in the simulator, so a zone's spot room at t is the
 * sum of its capacities over [t − noticeMs, t]: at most cap(t) not reclaimed, plus for each
 * drop in that window at most the capacity before it (valid for any launch delay). The run may
 * be down (fewer than `target` ready, which the simulator counts as unavailable, so the
 * cheapest down instant holds nothing) for (1 − availability) of its length, and a
 * clairvoyant spends that allowance on the most expensive instants. Pure.
 */
export function clairvoyantBound(options: ClairvoyantBoundOptions): ClairvoyantBound {
  const { traces, prices, target } = options;
  const availability = options.availability ?? 0.99;
  if (!Number.isInteger(target) || target < 1) {
    throw new SynktiError('E_SIM_TARGET', `target replicas must be a whole number ≥ 1 (got ${target})`);
  }
  if (!(availability >= 0 && availability <= 1)) {
    throw new SynktiError('E_SIM_OBJECTIVE', `availability must be between 0 and 1 (got ${availability})`, { hint: 'e.g. 0.99 for 99 %' });
  }
  const durationMs = options.durationMs ?? traces.durationMs;
  if (!(durationMs > 0) || durationMs > traces.durationMs) {
    throw new SynktiError('E_SIM_DURATION', `durationMs must be in (0, ${traces.durationMs}] for ${traces.dir} (got ${durationMs})`, {
      hint: 'leave it out for the whole trace',
    });
  }
  const zoneCapacity = options.zoneCapacity ?? Number.POSITIVE_INFINITY;
  const onDemandCapacity = options.onDemandCapacity ?? Number.POSITIVE_INFINITY;
  const onDemandUsdPerHour = Math.min(...traces.zones.map((z) => priceFor(prices, z.zone, 'on-demand')));
  // Only zones whose spot undercuts on-demand are worth filling; cheapest first.
  const spotZones = traces.zones
    .map((trace) => ({ trace, usdPerHour: priceFor(prices, trace.zone, 'spot') }))
    .filter((z) => z.usdPerHour < onDemandUsdPerHour)
    .sort((a, b) => a.usdPerHour - b.usdPerHour);

  // Per span (a tick cut where the notice of the previous capacity runs out): its length
  // and the cheapest cost rate of `target` replicas (Infinity: they cannot be had).
  const gapMs = traces.gapMs;
  const noticeMs = options.noticeMs ?? SPOT_NOTICE_MS;
  const ticks = Math.ceil(durationMs / gapMs);
  const capacity = spotZones.map((z) => Array.from({ length: ticks }, (_, tick) => capacityAt(z.trace, tick * gapMs, zoneCapacity)));
  const spans: { ms: number; usdPerHour: number }[] = [];
  let shortOfSpotMs = 0;
  let unreachableMs = 0;
  const addSpan = (ms: number, spotRoom: (zoneIndex: number) => number): void => {
    if (ms <= 0) return;
    let left = target;
    let usdPerHour = 0;
    spotZones.forEach((zone, index) => {
      const take = Math.min(left, spotRoom(index));
      usdPerHour += take * zone.usdPerHour;
      left -= take;
    });
    if (left > 0) shortOfSpotMs += ms;
    if (left > onDemandCapacity) {
      unreachableMs += ms;
      usdPerHour = Number.POSITIVE_INFINITY;
    } else {
      usdPerHour += left * onDemandUsdPerHour;
    }
    spans.push({ ms, usdPerHour });
  };
  for (let tick = 0; tick < ticks; tick++) {
    const start = tick * gapMs;
    const end = Math.min(start + gapMs, durationMs);
    // While notices from earlier ticks run: the unreclaimed plus each earlier tick's reclaimed.
    const graceEnd = Math.min(end, start + noticeMs);
    const firstTick = Math.max(0, Math.floor((start - noticeMs) / gapMs));
    addSpan(graceEnd - start, (z) => capacity[z]!.slice(firstTick, tick + 1).reduce((sum, c) => sum + c, 0));
    addSpan(end - graceEnd, (z) => capacity[z]![tick]!);
  }

  // Spend the down-time allowance on the dearest instants (unreachable ones first: they are down anyway).
  spans.sort((a, b) => b.usdPerHour - a.usdPerHour);
  // + 1 ns: (1 − a) × T in floating point can fall a hair short of the exact allowance.
  let allowanceMs = (1 - availability) * durationMs + 1e-6;
  let costUsd = 0;
  let reachable = true;
  for (const span of spans) {
    const downMs = Math.min(allowanceMs, span.ms);
    allowanceMs -= downMs;
    const upMs = span.ms - downMs;
    if (upMs <= 0) continue;
    if (span.usdPerHour === Number.POSITIVE_INFINITY) reachable = false;
    else costUsd += (upMs * span.usdPerHour) / 3_600_000;
  }
  const onDemandCostUsd = (target * durationMs * onDemandUsdPerHour) / 3_600_000;
  return {
    costUsd: reachable ? costUsd : Number.POSITIVE_INFINITY,
    onDemandCostUsd,
    costVsOnDemand: reachable ? costUsd / onDemandCostUsd : undefined,
    shortOfSpotFraction: shortOfSpotMs / durationMs,
    unreachableFraction: unreachableMs / durationMs,
  };
}
