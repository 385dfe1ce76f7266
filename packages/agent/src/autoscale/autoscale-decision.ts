import type { AutoscaleSpec } from '@synkti/core';
import type { AutoscaleRecord } from './autoscale-record.ts';

/** One pool member as the decider sees it. */
export interface AutoscaleMember {
  id: string;
  /** Its load in the pool's metric: in-flight requests, or requests per second. */
  load: number;
  /** Ready and not draining: serves now. */
  serving: boolean;
  /** When it started (its membership incarnation, epoch ms): the newest go first on scale-in. */
  startedAt: number;
  /** From the cloud's listing when known; a pool's on-demand base is never scaled in. */
  lifecycle?: 'spot' | 'on-demand' | undefined;
}

/** One load sample: the pool's total load at a moment. */
export interface LoadSample {
  at: number;
  total: number;
}

export interface AutoscaleDecisionInput {
  spec: AutoscaleSpec;
  now: number;
  /**
   * The pool's live members: joining or ready and not leaving (a node draining for a spot
   * notice counts: its replacement is already on the way; a node scaled in does not).
   */
  members: readonly AutoscaleMember[];
  /** Load samples, oldest first, at least as far back as the longer delay (older ones are ignored). */
  samples: readonly LoadSample[];
  /** The pool's last scale action as gossiped (absent: none yet). */
  record?: AutoscaleRecord | undefined;
  /** Since when the live count has differed from the record's desired count (absent: it has not). */
  offTargetSince?: number | undefined;
  /** How long live ≠ desired is taken for launches and replacements on their way before the live count is believed. */
  convergeMs: number;
  /** The pool's spot/on-demand mix. */
  lifecycle: 'spot' | 'on-demand';
  onDemandBase: number;
  /** The decider itself: scaled in last (it would have to hand the decision over). */
  selfId?: string | undefined;
}

export type AutoscaleDecision =
  | { kind: 'hold'; reason: string; desired: number }
  /** Launch `count` nodes, `onDemand` of them on-demand, to reach `desired`. */
  | { kind: 'scale-out'; count: number; onDemand: number; desired: number; from: number; reason: string }
  | { kind: 'scale-in'; ids: string[]; desired: number; from: number; reason: string };

/** Replicas the load asks for: total / target per replica, rounded up, within min..max. */
export function replicasFor(total: number, spec: AutoscaleSpec): number {
  const wanted = total <= 0 ? 0 : Math.ceil(total / spec.target - 1e-9);
  return Math.min(spec.max, Math.max(spec.min, wanted));
}

/**
 * The samples that cover the last `windowMs`, or undefined when they do not reach that far
 * back yet (a new decider, or a window restarted by the last action, must first watch).
 */
function windowOf(samples: readonly LoadSample[], now: number, windowMs: number, notBefore: number): LoadSample[] | undefined {
  const from = now - windowMs;
  if (from < notBefore) return undefined;
  const inside = samples.filter((s) => s.at >= from && s.at <= now);
  // Covered: the oldest sample is within a tenth of the window (or 2 s) of its start.
  if (inside.length === 0 || inside[0]!.at - from > Math.max(2000, windowMs / 10)) return undefined;
  return inside;
}

/**
 * Scale-in order: nodes that serve nothing, then the least loaded, then among equals the
 * decider itself last (it would hand the decision over) and the newest first (the oldest
 * have warm caches and have proven they run); the on-demand base is kept.
 */
export function scaleInCandidates(
  input: Pick<AutoscaleDecisionInput, 'members' | 'onDemandBase' | 'lifecycle' | 'selfId'>,
  count: number,
): string[] {
  const onDemandLive = input.members.filter((m) => (m.lifecycle ?? input.lifecycle) === 'on-demand').length;
  let onDemandRemovable = input.lifecycle === 'on-demand' ? Number.POSITIVE_INFINITY : Math.max(0, onDemandLive - input.onDemandBase);
  const ordered = [...input.members].sort(
    (a, b) =>
      Number(a.serving) - Number(b.serving) ||
      a.load - b.load ||
      Number(a.id === input.selfId) - Number(b.id === input.selfId) ||
      b.startedAt - a.startedAt ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const picked: string[] = [];
  for (const member of ordered) {
    if (picked.length >= count) break;
    if (input.lifecycle === 'spot' && (member.lifecycle ?? 'spot') === 'on-demand') {
      if (onDemandRemovable <= 0) continue;
      onDemandRemovable -= 1;
    }
    picked.push(member.id);
  }
  return picked;
}

/** How many of `count` new launches are on-demand: enough to bring the pool up to its on-demand base. */
export function onDemandLaunches(input: Pick<AutoscaleDecisionInput, 'members' | 'onDemandBase' | 'lifecycle'>, count: number): number {
  if (input.lifecycle === 'on-demand') return count;
  const onDemandLive = input.members.filter((m) => m.lifecycle === 'on-demand').length;
  return Math.min(count, Math.max(0, input.onDemandBase - onDemandLive));
}

/**
 * The autoscale decision for one pool: a pure function of the view, the load samples, the
 * clock and the last action, so any node reaches the same answer and a test can replay it.
 *
 * Hysteresis, so noisy load does not flap:
 * - grow when the load held over three quarters of the last `upscaleDelay` asks for more
 *   replicas than live (a burst, or a step up halfway through the window, is not a trend yet);
 * - shrink only when every sample of the last `downscaleDelay` asked for fewer, and only once
 *   the load has levelled (a decline is one step, not a cascade);
 * - both windows restart at each action (a cooldown: the new size is watched before judged);
 * - while live ≠ desired (launches booting, a lost node's replacement on its way) nothing is
 *   decided for up to `convergeMs`, so the autoscaler never races the Replacer.
 */
export function decideAutoscale(input: AutoscaleDecisionInput): AutoscaleDecision {
  const { spec, now, record } = input;
  const live = input.members.length;
  const desired = record?.desired ?? live;
  if (record && live !== record.desired && input.offTargetSince !== undefined && now - input.offTargetSince < input.convergeMs) {
    return { kind: 'hold', reason: `converging: ${live} live, ${record.desired} desired`, desired: record.desired };
  }
  // Bounds first (min/max changed, or the pool started outside them): no load window needed.
  if (live < spec.min) return scaleOut(input, spec.min, live, `below min ${spec.min}`);
  if (live > spec.max) return scaleIn(input, spec.max, live, `above max ${spec.max}`);
  const since = record?.at ?? Number.NEGATIVE_INFINITY;
  const up = windowOf(input.samples, now, spec.upscaleDelayMs, since);
  if (up) {
    // The load three quarters of the window stayed above: a short burst or a step halfway
    // through the window is not yet a trend; noise below it does not hide one.
    const sustained = quantile(
      up.map((s) => s.total),
      UPSCALE_QUANTILE,
    );
    const wanted = replicasFor(sustained, spec);
    if (wanted > live)
      return scaleOut(input, wanted, live, `load ${round(sustained)} sustained over ${spec.upscaleDelayMs / 1000}s asks for ${wanted}`);
  }
  const down = windowOf(input.samples, now, spec.downscaleDelayMs, since);
  if (down) {
    const peak = Math.max(...down.map((s) => s.total));
    const wanted = replicasFor(peak, spec);
    // Still falling (the window's recent half asks for fewer than the whole): wait until it
    // levels, so a decline is one step, not a cascade of them.
    const recent = down.filter((s) => s.at >= now - spec.downscaleDelayMs / 2);
    const levelled = recent.length === 0 || replicasFor(Math.max(...recent.map((s) => s.total)), spec) >= wanted;
    if (wanted < live && levelled)
      return scaleIn(input, wanted, live, `peak load ${round(peak)} over ${spec.downscaleDelayMs / 1000}s needs only ${wanted}`);
  }
  return {
    kind: 'hold',
    reason: up || down ? 'load within target' : 'watching load',
    desired: Math.min(spec.max, Math.max(spec.min, desired)),
  };
}

function scaleOut(input: AutoscaleDecisionInput, to: number, live: number, reason: string): AutoscaleDecision {
  const count = to - live;
  return { kind: 'scale-out', count, onDemand: onDemandLaunches(input, count), desired: to, from: live, reason };
}

function scaleIn(input: AutoscaleDecisionInput, to: number, live: number, reason: string): AutoscaleDecision {
  const ids = scaleInCandidates(input, live - to);
  if (ids.length === 0) return { kind: 'hold', reason: `${reason}, but only the on-demand base is left`, desired: live };
  return { kind: 'scale-in', ids, desired: live - ids.length, from: live, reason };
}

/** Grow on the load that held for three quarters of `upscaleDelay` (its 25th percentile). */
const UPSCALE_QUANTILE = 0.25;

/** The q-quantile of `values` (nearest rank). */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
