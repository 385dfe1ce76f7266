import type { Policy, PolicyContext, SimInstance } from '../policy.ts';
import { spreadZones } from './placement.ts';

/**
 * How long a load balancer / controller takes to see a dead replica: SkyServe's load
 * balancer syncs its replica list every 20 s (docs/field-notes.md); the baselines get the same.
 */
export const LB_DETECTION_MS = 20_000;
/** Reconcile loop of the baselines (an Auto Scaling group checks about this often). */
export const RECONCILE_MS = 60_000;

/** Live instances the policy still counts (it has not yet noticed a dead one: the world removes those). */
function alive(ctx: PolicyContext, lifecycle?: 'spot' | 'on-demand'): SimInstance[] {
  return ctx.live().filter((i) => lifecycle === undefined || i.lifecycle === lifecycle);
}

/** On-demand only: the cost reference. */
export function onDemandPolicy(): Policy {
  const reconcile = (ctx: PolicyContext): void => {
    for (let n = alive(ctx).length; n < ctx.target; n++) ctx.launch({ lifecycle: 'on-demand', zone: ctx.zones[0] });
  };
  return { name: 'on-demand', watchesNotices: false, detectionDelayMs: LB_DETECTION_MS, start: reconcile, onLost: reconcile };
}

export interface SingleZoneOptions {
  /** Zone to run in. @default the first zone of the trace set */
  zone?: string;
}

/** Spot in one zone, relaunched when lost (an Auto Scaling group with one subnet, no notice handling). */
export function spotSingleZonePolicy(options: SingleZoneOptions = {}): Policy {
  const reconcile = (ctx: PolicyContext): void => {
    const zone = options.zone ?? ctx.zones[0]!;
    for (let n = alive(ctx).length; n < ctx.target; n++) if (!ctx.launch({ lifecycle: 'spot', zone })) break;
  };
  return {
    name: 'spot-single-zone',
    watchesNotices: false,
    detectionDelayMs: LB_DETECTION_MS,
    controlIntervalMs: RECONCILE_MS,
    start: reconcile,
    onLost: reconcile,
    onTick: reconcile,
  };
}

/**
 * Spot in one zone with on-demand fallback: a lost or unlaunchable spot replica becomes
 * on-demand; when spot capacity returns, a spot replica is launched for each on-demand
 * one, which is terminated once its spot successor is ready.
 */
export function spotFallbackPolicy(options: SingleZoneOptions = {}): Policy {
  const successorOf = new Map<string, string>();
  const reconcile = (ctx: PolicyContext): void => {
    const zone = options.zone ?? ctx.zones[0]!;
    const live = alive(ctx);
    const swaps = live.filter((i) => i.replaces !== undefined && successorOf.get(i.replaces) === i.id).length;
    for (let n = live.length - swaps; n < ctx.target; n++) {
      if (!ctx.launch({ lifecycle: 'spot', zone })) ctx.launch({ lifecycle: 'on-demand', zone });
    }
    for (const od of alive(ctx, 'on-demand')) {
      if (successorOf.has(od.id)) continue;
      const spot = ctx.launch({ lifecycle: 'spot', zone, replaces: od.id });
      if (!spot) break;
      successorOf.set(od.id, spot.id);
    }
  };
  return {
    name: 'spot-fallback',
    watchesNotices: false,
    detectionDelayMs: LB_DETECTION_MS,
    controlIntervalMs: RECONCILE_MS,
    start: reconcile,
    onTick: reconcile,
    onLost: (ctx, lost) => {
      // A successor lost before it took over: its on-demand predecessor needs another.
      if (lost.replaces !== undefined && successorOf.get(lost.replaces) === lost.id) successorOf.delete(lost.replaces);
      reconcile(ctx);
    },
    onReady: (ctx, instance) => {
      if (instance.replaces === undefined) return;
      const od = ctx.live().find((i) => i.id === instance.replaces);
      if (od) ctx.terminate(od);
      successorOf.delete(instance.replaces);
    },
  };
}

export interface SkyServeOptions {
  /** Spot replicas beyond the target. @default 1 */
  overProvision?: number;
  /** A zone that just preempted us is avoided this long when another zone has capacity. @default 30 minutes */
  avoidPreemptedZoneMs?: number;
}

/**
 * SkyServe-like (SpotHedge, EuroSys '25): spot replicas spread over zones, avoiding zones
 * that just preempted; `target + overProvision` spot replicas; on-demand replicas launched
 * dynamically to cover spot replicas that are not ready, removed when spot ones are.
 * It does not watch notices: it finds a lost replica by probing (here after 20 s).
 */
export function skyServePolicy(options: SkyServeOptions = {}): Policy {
  const extra = options.overProvision ?? 1;
  const avoidMs = options.avoidPreemptedZoneMs ?? 30 * 60_000;
  const preemptedAt = new Map<string, number>();
  const reconcile = (ctx: PolicyContext): void => {
    const avoid = new Set([...preemptedAt].filter(([, at]) => ctx.now - at < avoidMs).map(([zone]) => zone));
    let spot = alive(ctx, 'spot').length;
    while (spot < ctx.target + extra) {
      const zone = spreadZones(ctx, { avoid })[0];
      if (zone === undefined || !ctx.launch({ lifecycle: 'spot', zone })) break;
      spot++;
    }
    const readySpot = alive(ctx, 'spot').filter((i) => i.phase === 'ready').length;
    const wantOnDemand = Math.max(0, ctx.target - readySpot);
    const onDemand = alive(ctx, 'on-demand');
    for (let n = onDemand.length; n < wantOnDemand; n++) ctx.launch({ lifecycle: 'on-demand', zone: ctx.zones[0] });
    // Scale on-demand down only once enough spot replicas are ready (launching ones first).
    const surplus = onDemand.length - wantOnDemand;
    if (surplus > 0) {
      const byReadiness = [...onDemand].sort((a, b) => (a.phase === 'ready' ? 1 : 0) - (b.phase === 'ready' ? 1 : 0));
      for (const od of byReadiness.slice(0, surplus)) ctx.terminate(od);
    }
  };
  return {
    name: 'skyserve',
    watchesNotices: false,
    detectionDelayMs: LB_DETECTION_MS,
    controlIntervalMs: LB_DETECTION_MS,
    start: reconcile,
    onTick: reconcile,
    onReady: reconcile,
    onLost: (ctx, lost) => {
      if (lost.lifecycle === 'spot') preemptedAt.set(lost.zone, ctx.now);
      reconcile(ctx);
    },
  };
}

export interface DeadlineOptions {
  /** Serving: availability objective whose error budget is the slack. @default 0.99 */
  availabilityObjective?: number;
  /** Switch to on-demand when slack falls below this many launch delays. @default 2 */
  safetyLaunches?: number;
}

/**
 * Deadline policy (after "Can't Be Late", NSDI '24): spot spread over zones while there is
 * slack, then on-demand for the rest of the run once slack runs out. Batch: slack =
 * deadline − now − remaining work / workers. Serving has no deadline, so the slack is the
 * availability objective's error budget left: (1 − objective) × run length − downtime so far.
 */
export function deadlinePolicy(options: DeadlineOptions = {}): Policy {
  const objective = options.availabilityObjective ?? 0.99;
  const safety = options.safetyLaunches ?? 2;
  let onDemandMode = false;
  const slack = (ctx: PolicyContext): number => {
    const job = ctx.job();
    if (job) return job.deadlineAt - ctx.now - job.remainingWorkMs / ctx.target;
    return (1 - objective) * ctx.horizonMs - ctx.downtimeMs();
  };
  const reconcile = (ctx: PolicyContext): void => {
    if (!onDemandMode && slack(ctx) < safety * ctx.launchDelayMs) onDemandMode = true;
    if (onDemandMode) {
      const onDemand = alive(ctx, 'on-demand');
      for (let n = onDemand.length; n < ctx.target; n++) ctx.launch({ lifecycle: 'on-demand', zone: ctx.zones[0] });
      // Spot replicas keep serving until the on-demand ones are ready.
      if (onDemand.filter((i) => i.phase === 'ready').length >= ctx.target) for (const s of alive(ctx, 'spot')) ctx.terminate(s);
      return;
    }
    for (let n = alive(ctx).length; n < ctx.target; n++) {
      const zone = spreadZones(ctx)[0];
      if (zone === undefined || !ctx.launch({ lifecycle: 'spot', zone })) break;
    }
  };
  return {
    name: 'deadline',
    watchesNotices: false,
    detectionDelayMs: LB_DETECTION_MS,
    controlIntervalMs: RECONCILE_MS,
    start: reconcile,
    onTick: reconcile,
    onLost: reconcile,
    onReady: reconcile,
  };
}
