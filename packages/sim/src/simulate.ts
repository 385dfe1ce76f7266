import { SynktiError } from '@synkti/core';
import { SimEngine } from './engine.ts';
import type { SimEvent } from './event-queue.ts';
import type { LaunchRequest, Policy, PolicyContext, SimInstance } from './policy.ts';
import { priceFor, type PriceTable } from './price-table.ts';
import type { Random } from './random.ts';
import { capacityAt, type TraceSet, type ZoneTrace } from './trace-loader.ts';
import { drawLaunchDelay, type LaunchDelay } from './launch-delay.ts';
import { meanSpotPrice, spotCostUsd, type SpotPriceHistory } from './spot-price-history.ts';

/** 183 s: provisioning plus loading a 7B model on AWS, as published for SkyServe (docs/field-notes.md). */
export const DEFAULT_LAUNCH_DELAY_MS = 183_000;
/** AWS gives a spot instance two minutes between the interruption notice and termination. */
export const SPOT_NOTICE_MS = 120_000;
/** AWS bills Linux instances per second with a one-minute minimum. */
export const MIN_BILLED_SECONDS = 60;

export type ArrivalPattern = 'poisson' | 'bursty';

export interface ServeWorkload {
  kind: 'serve';
  /** Mean requests per second reaching the service. @default 1 */
  requestsPerSecond?: number;
  /** `poisson`, or `bursty` (on/off: 4x the mean rate 20% of the time). @default 'poisson' */
  arrivals?: ArrivalPattern;
  /** Mean service time of one request (exponential). @default 5000 */
  meanServiceMs?: number;
  /** Requests one replica serves at once; more are refused (503). @default 64 */
  maxConcurrentPerReplica?: number;
}

export interface BatchWorkload {
  kind: 'batch';
  /** Tasks in the job. */
  tasks: number;
  /** Time one worker needs for one task. */
  taskMs: number;
  /** Deadline, ms after the start. */
  deadlineMs: number;
}

export interface SimulationOptions {
  traces: TraceSet;
  prices: PriceTable;
  policy: Policy;
  /** Ready replicas (or workers) wanted. */
  target: number;
  /** Seed of every random draw (arrivals, service times). @default 1 */
  seed?: number;
  /** Simulated length; default and maximum: the traces' length. */
  durationMs?: number;
  /** Provision + model load. @default 183000 (DEFAULT_LAUNCH_DELAY_MS) */
  launchDelayMs?: number;
  /** A rebalance recommendation comes this long before each notice (0: none beyond the notice). @default 0 */
  rebalanceLeadMs?: number;
  /** Spot instances a zone holds while its availability trace reads "available". @default Infinity */
  zoneCapacity?: number;
  /**
   * Launch delay per instance as a distribution (drawn per launch from the seed); when
   * set, it replaces `launchDelayMs` (which policies still see as the typical delay).
   * @default { kind: 'fixed', ms: launchDelayMs }
   */
  launchDelay?: LaunchDelay;
  /**
   * On-demand instances of ours that can run at once (a short region, a vCPU quota); an
   * on-demand launch beyond it fails like a spot launch without capacity. @default Infinity
   */
  onDemandCapacity?: number;
  /** Spot prices per zone over time (describe-spot-price-history); replaces the table's spot price. @default none */
  spotPrices?: SpotPriceHistory;
  /** @default { kind: 'serve' } */
  workload?: ServeWorkload | BatchWorkload;
  /** Keep at most this many points of the replicas-over-time series. @default 2000 */
  maxTimelinePoints?: number;
}

export interface TimelinePoint {
  t: number;
  ready: number;
  spot: number;
  onDemand: number;
}

export interface SimulationResult {
  policy: string;
  seed: number;
  target: number;
  durationMs: number;
  costUsd: number;
  /** Billed instance-hours by lifecycle. */
  spotHours: number;
  onDemandHours: number;
  /** Fraction of the run with at least `target` ready replicas. */
  availability: number;
  requests: number;
  failedRequests: number;
  failedRequestFraction: number;
  /** Why requests failed: no ready replica, routed to a dead one, cut off in flight, replica full. */
  failedBy: { noReplica: number; deadReplica: number; cutInFlight: number; overload: number };
  preemptions: number;
  /** Instances launched after the initial fleet. */
  replacements: number;
  launches: number;
  launchFailures: number;
  /** Billed hours of instances that ended before becoming ready (launch work thrown away). */
  wastedLaunchHours: number;
  /** Batch: worker time spent on tasks that were cut off and redone. */
  lostWorkHours: number;
  /** Batch: when the job finished (ms), or undefined if it did not within the run. */
  jobDoneAtMs: number | undefined;
  deadlineMet: boolean | undefined;
  /** Capacity changes seen, by zone (paired runs must see the same). */
  capacityEvents: Record<string, number>;
  events: number;
  timeline: TimelinePoint[];
  instances: {
    id: string;
    zone: string;
    lifecycle: string;
    requestedAt: number;
    readyAt?: number | undefined;
    noticeAt?: number | undefined;
    drainedAt?: number | undefined;
    terminatedAt?: number | undefined;
    endReason?: string | undefined;
    replaces?: string | undefined;
    costUsd: number;
  }[];
  /** Most instances held (launching, serving or draining) at any moment. */
  maxHeld: number;
  /** Serving replica-hours per zone (ready to termination, or to the drain): where the fleet ran. */
  servingHoursByZone: Record<string, number>;
}

interface Live extends SimInstance {
  readyEvent: SimEvent | undefined;
  inflight: number[];
  /** Dead, but the load balancer still routes to it until this time. */
  deadUntil: number;
  task: { startedAt: number; event: SimEvent } | undefined;
}

/** Runs one policy over the traces. Pure: same options and seed → same result. */
export function simulate(options: SimulationOptions): SimulationResult {
  return new World(options).run();
}

class World {
  private readonly engine: SimEngine;
  private readonly o: SimulationOptions;
  private readonly policy: Policy;
  private readonly horizon: number;
  private readonly launchDelayMs: number;
  private readonly zoneCapacity: number;
  private readonly onDemandCapacity: number;
  private readonly delayRandom: Random;
  private readonly traces: Map<string, ZoneTrace>;
  private readonly capacity = new Map<string, number>();
  private readonly all: Live[] = [];
  private live: Live[] = [];
  private routable: Live[] = [];
  private readonly byToken = new Map<string, Live>();
  private nextId = 1;
  private started = false;
  private initialLaunches = 0;
  private readonly counters = { requests: 0, failed: 0, preemptions: 0, launches: 0, launchFailures: 0, lostWorkMs: 0 };
  private readonly failedBy = { noReplica: 0, deadReplica: 0, cutInFlight: 0, overload: 0 };
  private readonly capacityEvents: Record<string, number> = {};
  // availability accounting
  private ready = 0;
  private lastChange = 0;
  private okMs = 0;
  private timeline: TimelinePoint[] = [];
  private maxHeld = 0;
  // batch
  private queued = 0;
  private done = 0;
  private jobDoneAt: number | undefined;
  private readonly ctx: PolicyContext;

  constructor(options: SimulationOptions) {
    this.o = options;
    this.policy = options.policy;
    this.engine = new SimEngine({ seed: options.seed ?? 1 });
    const max = options.traces.durationMs;
    if (options.durationMs !== undefined && options.durationMs > max) {
      throw new SynktiError(
        'E_SIM_DURATION',
        `requested ${(options.durationMs / 86_400_000).toFixed(2)} days but the traces in ${options.traces.dir} cover ${(max / 86_400_000).toFixed(2)} days`,
        {
          hint: 'pass a shorter --days, or traces that cover the period',
        },
      );
    }
    if (!Number.isInteger(options.target) || options.target < 1) {
      throw new SynktiError('E_SIM_TARGET', `target replicas must be a whole number ≥ 1 (got ${options.target})`);
    }
    this.horizon = options.durationMs ?? max;
    this.launchDelayMs = options.launchDelayMs ?? DEFAULT_LAUNCH_DELAY_MS;
    this.zoneCapacity = options.zoneCapacity ?? Number.POSITIVE_INFINITY;
    this.onDemandCapacity = options.onDemandCapacity ?? Number.POSITIVE_INFINITY;
    for (const bound of [
      ['zoneCapacity', this.zoneCapacity],
      ['onDemandCapacity', this.onDemandCapacity],
    ] as const) {
      if (!(bound[1] >= 0) || (Number.isFinite(bound[1]) && !Number.isInteger(bound[1]))) {
        throw new SynktiError('E_SIM_CAPACITY', `${bound[0]} must be a whole number ≥ 0 (got ${bound[1]})`, {
          hint: 'e.g. 4, or leave it out for unlimited',
        });
      }
    }
    if (options.spotPrices) {
      const missing = options.traces.zones.map((z) => z.zone).filter((z) => !options.spotPrices!.zones.has(z));
      if (missing.length > 0) {
        throw new SynktiError('E_SIM_SPOT_PRICES', `${options.spotPrices.file} has no price for ${missing.join(', ')}`, {
          hint: `add their rows, or run on zones it covers: ${[...options.spotPrices.zones.keys()].join(', ')}`,
        });
      }
    }
    this.delayRandom = this.engine.random.fork('launch-delay');
    this.traces = new Map(options.traces.zones.map((z) => [z.zone, z]));
    const world = this;
    const engine = this.engine;
    const random = engine.random.fork(`policy:${this.policy.name}`);
    this.ctx = {
      get now() {
        return engine.now;
      },
      zones: options.traces.zones.map((z) => z.zone),
      target: options.target,
      launchDelayMs: this.launchDelayMs,
      noticeMs: SPOT_NOTICE_MS,
      priceRatio: meanPriceRatio(options, this.horizon),
      random,
      horizonMs: this.horizon,
      launch: (request) => world.launch(request),
      terminate: (instance) => world.terminate(instance as Live, 'policy'),
      drain: (instance) => world.drain(instance as Live),
      live: () => world.live,
      spotCapacity: (zone) => world.spotRoom(zone) > 0,
      readyCount: () => world.ready,
      after: (delayMs, kind, fire) => engine.after(delayMs, kind, fire),
      downtimeMs: () => world.downtimeSoFar(),
      job: () => world.jobStatus(),
    };
  }

  run(): SimulationResult {
    const { engine } = this;
    for (const trace of this.o.traces.zones) {
      this.capacity.set(trace.zone, capacityAt(trace, 0, this.zoneCapacity));
      this.capacityEvents[trace.zone] = 0;
      this.scheduleNextCapacityChange(trace, 0);
    }
    const workload = this.o.workload ?? { kind: 'serve' };
    if (workload.kind === 'serve') this.startArrivals(workload);
    else this.queued = workload.tasks;
    this.policy.start(this.ctx);
    this.initialLaunches = this.counters.launches;
    this.started = true;
    const interval = this.policy.controlIntervalMs;
    if (this.policy.onTick && interval && interval > 0) {
      const tick = (): void => {
        this.policy.onTick!(this.ctx);
        engine.after(interval, 'policy-tick', tick);
      };
      engine.after(interval, 'policy-tick', tick);
    }
    this.recordTimeline();
    engine.run(this.horizon, () => this.jobDoneAt !== undefined);
    const end = this.jobDoneAt ?? this.horizon;
    this.accountReady(end);
    for (const instance of [...this.live]) this.end(instance, end, this.jobDoneAt !== undefined ? 'job-done' : 'horizon');
    return this.result(end, workload);
  }

  // ---- capacity from the traces -------------------------------------------------------

  private scheduleNextCapacityChange(trace: ZoneTrace, fromTick: number): void {
    const current = trace.values[fromTick]!;
    const limit = Math.min(trace.values.length, Math.ceil(this.horizon / trace.gapMs));
    let tick = fromTick + 1;
    while (tick < limit && trace.values[tick] === current) tick++;
    if (tick >= limit) return;
    const at = tick * trace.gapMs;
    const next = capacityAt(trace, at, this.zoneCapacity);
    const lead = this.o.rebalanceLeadMs ?? 0;
    if (lead > 0 && next < (this.capacity.get(trace.zone) ?? 0)) {
      this.engine.at(Math.max(this.engine.now, at - lead), 'rebalance', () => this.rebalance(trace.zone));
    }
    this.engine.at(at, 'capacity', () => {
      this.capacityEvents[trace.zone] = (this.capacityEvents[trace.zone] ?? 0) + 1;
      const before = this.capacity.get(trace.zone) ?? 0;
      this.capacity.set(trace.zone, next);
      if (next < before) this.reclaim(trace.zone, next);
      this.policy.onCapacity?.(this.ctx, trace.zone, this.spotRoom(trace.zone) > 0);
      this.scheduleNextCapacityChange(trace, tick);
    });
  }

  /** Spot instances of ours in the zone that the cloud has not yet reclaimed. */
  private spotHeld(zone: string): Live[] {
    return this.live.filter((i) => i.lifecycle === 'spot' && i.zone === zone && i.noticeAt === undefined);
  }

  private spotRoom(zone: string): number {
    const capacity = this.capacity.get(zone);
    if (capacity === undefined) return 0;
    return capacity - this.spotHeld(zone).length;
  }

  private rebalance(zone: string): void {
    if (!this.policy.watchesNotices) return;
    for (const instance of this.spotHeld(zone)) this.policy.onRebalance?.(this.ctx, instance);
  }

  /** The cloud takes capacity back: notices now, termination two minutes later (newest instances first). */
  private reclaim(zone: string, capacity: number): void {
    const held = this.spotHeld(zone);
    const excess = held.length - capacity;
    if (excess <= 0) return;
    const victims = held.slice(-excess);
    for (const instance of victims) {
      instance.noticeAt = this.engine.now;
      this.counters.preemptions++;
      this.engine.after(SPOT_NOTICE_MS, 'spot-termination', () => this.terminate(instance, 'preempted'));
      if (this.policy.watchesNotices) this.policy.onNotice?.(this.ctx, instance);
    }
  }

  // ---- instances ----------------------------------------------------------------------

  private launch(request: LaunchRequest): SimInstance | undefined {
    const { engine } = this;
    if (request.clientToken !== undefined) {
      const existing = this.byToken.get(request.clientToken);
      if (existing) return existing;
    }
    const zone = request.zone ?? this.ctx.zones[0]!;
    if (!this.traces.has(zone)) {
      throw new SynktiError('E_SIM_ZONE', `policy ${this.policy.name} launched in zone ${zone}, which has no trace`, {
        hint: `zones: ${this.ctx.zones.join(', ')}`,
      });
    }
    if (request.lifecycle === 'spot' && this.spotRoom(zone) <= 0) {
      this.counters.launchFailures++;
      return undefined;
    }
    if (request.lifecycle === 'on-demand' && this.live.filter((i) => i.lifecycle === 'on-demand').length >= this.onDemandCapacity) {
      this.counters.launchFailures++;
      return undefined;
    }
    const instance: Live = {
      id: `i-${String(this.nextId++).padStart(5, '0')}`,
      zone,
      lifecycle: request.lifecycle,
      usdPerHour: priceFor(this.o.prices, zone, request.lifecycle),
      requestedAt: engine.now,
      replaces: request.replaces,
      clientToken: request.clientToken,
      phase: 'launching',
      readyAt: undefined,
      noticeAt: undefined,
      terminatedAt: undefined,
      endReason: undefined,
      draining: false,
      drainedAt: undefined,
      readyEvent: undefined,
      inflight: [],
      deadUntil: 0,
      task: undefined,
    };
    if (request.clientToken !== undefined) this.byToken.set(request.clientToken, instance);
    this.counters.launches++;
    this.all.push(instance);
    this.live.push(instance);
    const delayMs = this.o.launchDelay ? drawLaunchDelay(this.o.launchDelay, this.delayRandom) : this.launchDelayMs;
    instance.readyEvent = engine.after(delayMs, 'instance-ready', () => this.becomeReady(instance));
    this.recordTimeline();
    return instance;
  }

  private becomeReady(instance: Live): void {
    instance.readyEvent = undefined;
    instance.phase = 'ready';
    instance.readyAt = this.engine.now;
    if (!instance.draining) {
      this.routable.push(instance);
      this.setReady(this.ready + 1);
      this.pullTask(instance);
    }
    this.policy.onReady?.(this.ctx, instance);
  }

  private drain(instance: Live): void {
    if (instance.draining || instance.phase === 'terminated') return;
    instance.draining = true;
    instance.drainedAt = this.engine.now;
    if (instance.phase === 'ready') {
      this.routable = this.routable.filter((i) => i !== instance);
      this.setReady(this.ready - 1);
      // A task that cannot finish before the termination is handed back now.
      if (instance.task && instance.noticeAt !== undefined) {
        const endsAt = instance.task.startedAt + (this.o.workload as BatchWorkload).taskMs;
        if (endsAt > instance.noticeAt + SPOT_NOTICE_MS) this.abandonTask(instance);
      }
    }
  }

  private terminate(instance: Live, reason: 'preempted' | 'policy'): void {
    if (instance.phase === 'terminated') return;
    const detection = this.policy.detectionDelayMs;
    const wasRoutable = instance.phase === 'ready' && !instance.draining;
    this.end(instance, this.engine.now, reason);
    if (wasRoutable && reason === 'preempted' && detection > 0) {
      // The load balancer keeps sending it requests (which fail) until it notices.
      instance.deadUntil = this.engine.now + detection;
      this.routable.push(instance);
      this.engine.after(detection, 'lb-detects', () => {
        this.routable = this.routable.filter((i) => i !== instance);
      });
    }
    if (reason === 'preempted') this.engine.after(detection, 'policy-detects', () => this.policy.onLost?.(this.ctx, instance));
  }

  private end(instance: Live, at: number, reason: SimInstance['endReason'] & string): void {
    if (instance.phase === 'terminated') return;
    instance.readyEvent?.cancel();
    instance.readyEvent = undefined;
    if (instance.phase === 'ready' && !instance.draining) {
      this.routable = this.routable.filter((i) => i !== instance);
      this.setReady(this.ready - 1);
    }
    // At the end of the run (or of the job) nothing is cut: the run just stops watching.
    for (const endsAt of reason === 'preempted' || reason === 'policy' ? instance.inflight : []) {
      if (endsAt > at) {
        this.counters.failed++;
        this.failedBy.cutInFlight++;
      }
    }
    instance.inflight = [];
    if (instance.task) this.abandonTask(instance);
    instance.phase = 'terminated';
    instance.terminatedAt = at;
    instance.endReason = reason;
    this.live = this.live.filter((i) => i !== instance);
    this.recordTimeline();
  }

  // ---- availability -------------------------------------------------------------------

  private setReady(value: number): void {
    this.accountReady(this.engine.now);
    this.ready = value;
    this.recordTimeline();
  }

  private accountReady(now: number): void {
    if (this.ready >= this.o.target) this.okMs += now - this.lastChange;
    this.lastChange = now;
  }

  private downtimeSoFar(): number {
    const now = this.engine.now;
    const ok = this.okMs + (this.ready >= this.o.target ? now - this.lastChange : 0);
    return now - ok;
  }

  private recordTimeline(): void {
    let spot = 0;
    let onDemand = 0;
    for (const i of this.live) {
      if (i.lifecycle === 'spot') spot++;
      else onDemand++;
    }
    // Before downsampling, which keeps the fewest-ready point of a bucket, not the most held.
    if (spot + onDemand > this.maxHeld) this.maxHeld = spot + onDemand;
    const point = { t: this.engine.now, ready: this.ready, spot, onDemand };
    const last = this.timeline[this.timeline.length - 1];
    if (last && last.t === point.t) this.timeline[this.timeline.length - 1] = point;
    else if (!last || last.ready !== point.ready || last.spot !== point.spot || last.onDemand !== point.onDemand) this.timeline.push(point);
  }

  // ---- serving ------------------------------------------------------------------------

  private startArrivals(workload: ServeWorkload): void {
    const rate = (workload.requestsPerSecond ?? 1) / 1000;
    if (rate <= 0) return;
    const random: Random = this.engine.random.fork('arrivals');
    const service: Random = this.engine.random.fork('service');
    const meanService = workload.meanServiceMs ?? 5000;
    const maxConcurrent = workload.maxConcurrentPerReplica ?? 64;
    const bursty = (workload.arrivals ?? 'poisson') === 'bursty';
    // Bursty: on/off (a Markov-modulated Poisson process); 20% of the time at 4x the mean
    // rate, the rest at 0.25x, so the long-run mean is the requested rate.
    const burstFactor = 4;
    const onShare = 0.2;
    const onMeanMs = 60_000;
    const offMeanMs = (onMeanMs * (1 - onShare)) / onShare;
    let burst = false;
    let phaseEndsAt = bursty ? random.exponential(offMeanMs) : Number.POSITIVE_INFINITY;
    const currentRate = (): number => (bursty ? (burst ? rate * burstFactor : (rate * (1 - onShare * burstFactor)) / (1 - onShare)) : rate);
    const next = (): void => {
      let t = this.engine.now + random.exponential(1 / currentRate());
      // Memorylessness: at a phase switch, draw afresh at the new rate.
      while (t > phaseEndsAt) {
        const switchAt = phaseEndsAt;
        burst = !burst;
        phaseEndsAt = switchAt + random.exponential(burst ? onMeanMs : offMeanMs);
        t = switchAt + random.exponential(1 / currentRate());
      }
      if (t > this.horizon) return;
      this.engine.at(t, 'request', () => {
        this.arrive(service.exponential(meanService), maxConcurrent);
        next();
      });
    };
    next();
  }

  private arrive(serviceMs: number, maxConcurrent: number): void {
    const now = this.engine.now;
    this.counters.requests++;
    let best: Live | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const instance of this.routable) {
      if (instance.inflight.length > 0) instance.inflight = instance.inflight.filter((endsAt) => endsAt > now);
      if (instance.inflight.length < bestLoad) {
        best = instance;
        bestLoad = instance.inflight.length;
      }
    }
    if (!best && this.policy.routeToDrainingAsLastResort) {
      for (const instance of this.live) {
        if (instance.phase !== 'ready' || !instance.draining) continue;
        if (instance.inflight.length > 0) instance.inflight = instance.inflight.filter((endsAt) => endsAt > now);
        if (instance.inflight.length < bestLoad) {
          best = instance;
          bestLoad = instance.inflight.length;
        }
      }
    }
    if (!best || best.phase === 'terminated' || bestLoad >= maxConcurrent) {
      this.counters.failed++;
      if (!best) this.failedBy.noReplica++;
      else if (best.phase === 'terminated') this.failedBy.deadReplica++;
      else this.failedBy.overload++;
      return;
    }
    best.inflight.push(now + serviceMs);
  }

  // ---- batch --------------------------------------------------------------------------

  private pullTask(instance: Live): void {
    const workload = this.o.workload;
    if (!workload || workload.kind !== 'batch' || instance.draining || instance.phase !== 'ready' || this.queued <= 0) return;
    this.queued--;
    const startedAt = this.engine.now;
    const event = this.engine.after(workload.taskMs, 'task-done', () => {
      instance.task = undefined;
      this.done++;
      if (this.done >= workload.tasks) {
        this.jobDoneAt = this.engine.now;
        return;
      }
      this.pullTask(instance);
    });
    instance.task = { startedAt, event };
  }

  private abandonTask(instance: Live): void {
    const task = instance.task;
    if (!task) return;
    task.event.cancel();
    this.counters.lostWorkMs += this.engine.now - task.startedAt;
    instance.task = undefined;
    this.queued++;
    // Hand it to an idle ready worker, if any.
    for (const other of this.routable)
      if (other !== instance && !other.task && other.phase === 'ready') {
        this.pullTask(other);
        break;
      }
  }

  private jobStatus(): { remainingWorkMs: number; deadlineAt: number } | undefined {
    const workload = this.o.workload;
    if (!workload || workload.kind !== 'batch') return undefined;
    const now = this.engine.now;
    let inProgress = 0;
    for (const i of this.live) if (i.task) inProgress += Math.max(0, i.task.startedAt + workload.taskMs - now);
    return { remainingWorkMs: this.queued * workload.taskMs + inProgress, deadlineAt: workload.deadlineMs };
  }

  // ---- results ------------------------------------------------------------------------

  private result(end: number, workload: ServeWorkload | BatchWorkload): SimulationResult {
    let cost = 0;
    let spotHours = 0;
    let onDemandHours = 0;
    let wasted = 0;
    const instances: SimulationResult['instances'] = [];
    for (const i of this.all) {
      const seconds = billedSeconds(i.requestedAt, i.terminatedAt ?? end);
      // With a price history, each second at the spot price in effect then.
      const c =
        (i.lifecycle === 'spot' && this.o.spotPrices
          ? spotCostUsd(this.o.spotPrices, i.zone, i.requestedAt, i.requestedAt + seconds * 1000)
          : undefined) ?? (seconds * i.usdPerHour) / 3600;
      cost += c;
      if (i.lifecycle === 'spot') spotHours += seconds / 3600;
      else onDemandHours += seconds / 3600;
      if (i.readyAt === undefined) wasted += seconds / 3600;
      instances.push({
        id: i.id,
        zone: i.zone,
        lifecycle: i.lifecycle,
        requestedAt: i.requestedAt,
        readyAt: i.readyAt,
        noticeAt: i.noticeAt,
        drainedAt: i.drainedAt,
        terminatedAt: i.terminatedAt,
        endReason: i.endReason,
        replaces: i.replaces,
        costUsd: c,
      });
    }
    const requests = this.counters.requests;
    this.recordTimeline();
    return {
      policy: this.policy.name,
      seed: this.o.seed ?? 1,
      target: this.o.target,
      durationMs: end,
      costUsd: cost,
      spotHours,
      onDemandHours,
      availability: end > 0 ? this.okMs / end : 1,
      requests,
      failedRequests: this.counters.failed,
      failedRequestFraction: requests > 0 ? this.counters.failed / requests : 0,
      failedBy: { ...this.failedBy },
      preemptions: this.counters.preemptions,
      replacements: this.counters.launches - this.initialLaunches,
      launches: this.counters.launches,
      launchFailures: this.counters.launchFailures,
      wastedLaunchHours: wasted,
      lostWorkHours: this.counters.lostWorkMs / 3_600_000,
      jobDoneAtMs: this.jobDoneAt,
      deadlineMet: workload.kind === 'batch' ? this.jobDoneAt !== undefined && this.jobDoneAt <= workload.deadlineMs : undefined,
      capacityEvents: { ...this.capacityEvents },
      events: this.engine.stats().fired,
      timeline: downsample(this.timeline, this.o.maxTimelinePoints ?? 2000),
      maxHeld: this.maxHeld,
      servingHoursByZone: Object.fromEntries(
        this.o.traces.zones.map((z) => [
          z.zone,
          this.all
            .filter((i) => i.zone === z.zone && i.readyAt !== undefined)
            .reduce((h, i) => h + Math.max(0, (i.drainedAt ?? i.terminatedAt ?? end) - i.readyAt!) / 3_600_000, 0),
        ]),
      ),
      instances,
    };
  }
}

/** Spot / on-demand, averaged over the zones (and over the run, with a price history). */
function meanPriceRatio(options: SimulationOptions, horizonMs: number): number {
  const ratios = options.traces.zones.map(({ zone }) => {
    const spot =
      (options.spotPrices ? meanSpotPrice(options.spotPrices, zone, horizonMs) : undefined) ?? priceFor(options.prices, zone, 'spot');
    const onDemand = priceFor(options.prices, zone, 'on-demand');
    return onDemand > 0 ? spot / onDemand : 1;
  });
  return ratios.length === 0 ? 1 : ratios.reduce((a, b) => a + b, 0) / ratios.length;
}

/** Seconds billed for an instance alive from `from` to `to` (per second, 60 s minimum). */
export function billedSeconds(fromMs: number, toMs: number): number {
  return Math.max(MIN_BILLED_SECONDS, Math.ceil((toMs - fromMs) / 1000));
}

/** Keeps the series' shape for a chart: per bucket, the point with the fewest ready replicas. */
function downsample(points: TimelinePoint[], max: number): TimelinePoint[] {
  if (points.length <= max) return points;
  const bucket = Math.ceil(points.length / max);
  const out: TimelinePoint[] = [];
  for (let i = 0; i < points.length; i += bucket) {
    let pick = points[i]!;
    for (let j = i; j < Math.min(points.length, i + bucket); j++) if (points[j]!.ready < pick.ready) pick = points[j]!;
    out.push({ ...pick, t: points[i]!.t });
  }
  return out;
}
