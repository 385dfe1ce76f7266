import type { Lifecycle } from '@synkti/cloud';
import type { Random } from './random.ts';
import type { SimEvent } from './event-queue.ts';

export type InstancePhase = 'launching' | 'ready' | 'terminated';
export type EndReason = 'preempted' | 'policy' | 'horizon' | 'job-done';

/** One simulated instance, billed from `requestedAt` to `terminatedAt` (or the end of the run). */
export interface SimInstance {
  readonly id: string;
  readonly zone: string;
  readonly lifecycle: Lifecycle;
  readonly usdPerHour: number;
  /** The launch request: billing starts here. */
  readonly requestedAt: number;
  readonly replaces: string | undefined;
  readonly clientToken: string | undefined;
  phase: InstancePhase;
  readyAt: number | undefined;
  /** When the 2-minute interruption notice came (spot only). */
  noticeAt: number | undefined;
  terminatedAt: number | undefined;
  endReason: EndReason | undefined;
  /** Out of routing / taking no new work (a notice-aware policy drains at the notice). */
  draining: boolean;
  /** When it was drained (out of routing), if it was. */
  drainedAt: number | undefined;
}

export interface LaunchRequest {
  lifecycle: Lifecycle;
  /** Zone to launch in; required for spot (capacity is per zone); on-demand defaults to the first zone. */
  zone?: string | undefined;
  /** The instance this one replaces (bookkeeping, and the agent's TAG_REPLACES). */
  replaces?: string | undefined;
  /** EC2 ClientToken semantics: a second launch with the same token returns the first instance. */
  clientToken?: string | undefined;
}

/** What a policy can see and do. Time is simulated milliseconds since the trace started. */
export interface PolicyContext {
  readonly now: number;
  /** Zones in the trace set, sorted. */
  readonly zones: readonly string[];
  /** Replicas (or workers) the service needs ready. */
  readonly target: number;
  /** Provision + load time of a new instance. */
  readonly launchDelayMs: number;
  /** Notice lead before a spot instance is terminated. */
  readonly noticeMs: number;
  /**
   * Spot / on-demand price, as an operator would configure it: the mean over the zones of
   * the price table (or of the spot price history over the run).
   */
  readonly priceRatio: number;
  readonly random: Random;
  /** Launches an instance; undefined when spot capacity is not there (InsufficientInstanceCapacity, not billed). */
  launch(request: LaunchRequest): SimInstance | undefined;
  /** Terminates an instance now (billing stops now). */
  terminate(instance: SimInstance): void;
  /** Takes an instance out of routing / new work (it keeps running and billing). */
  drain(instance: SimInstance): void;
  /** Instances not yet terminated. */
  live(): readonly SimInstance[];
  /** Whether a spot launch in the zone would succeed now (as cheap as trying: a failed launch costs nothing). */
  spotCapacity(zone: string): boolean;
  /** Ready, routable replicas now. */
  readyCount(): number;
  after(delayMs: number, kind: string, fire: () => void): SimEvent;
  /** Seconds of downtime (fewer than `target` ready) so far, and the run's length. */
  downtimeMs(): number;
  readonly horizonMs: number;
  /** Batch workload only: work left (ms of one worker) and the deadline; undefined when serving. */
  job(): { remainingWorkMs: number; deadlineAt: number } | undefined;
}

/**
 * A fleet policy. Every hook is optional except `start`; the world calls them in
 * simulated time. `onNotice` / `onRebalance` reach only policies that watch instance
 * metadata (`watchesNotices`); others learn of a loss `detectionDelayMs` after it.
 */
export interface Policy {
  readonly name: string;
  /** Reacts to interruption notices and rebalance recommendations. */
  readonly watchesNotices: boolean;
  /** How long after an instance dies the policy (and its load balancer) notices. */
  readonly detectionDelayMs: number;
  /**
   * When no ready replica is left, send requests to draining ones that are still alive
   * (they can serve until their termination) rather than fail them. @default false
   */
  readonly routeToDrainingAsLastResort?: boolean;
  start(ctx: PolicyContext): void;
  onNotice?(ctx: PolicyContext, instance: SimInstance): void;
  onRebalance?(ctx: PolicyContext, instance: SimInstance): void;
  onReady?(ctx: PolicyContext, instance: SimInstance): void;
  /** Called `detectionDelayMs` after an instance ended (for any reason but the end of the run). */
  onLost?(ctx: PolicyContext, instance: SimInstance): void;
  /** A zone's spot capacity changed (visible to every policy: it is what a retried launch would see). */
  onCapacity?(ctx: PolicyContext, zone: string, available: boolean): void;
  /** Called every `controlIntervalMs` (a reconcile loop). */
  onTick?(ctx: PolicyContext): void;
  readonly controlIntervalMs?: number;
}
