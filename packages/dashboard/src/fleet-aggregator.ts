import { EventEmitter } from 'node:events';
import { TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import type { InstanceRecord } from '@synkti/cloud';
import type { BatchReport, FleetSource } from './fleet-source.ts';
import { costRate, DASHBOARD_PRICES } from './price-table.ts';
import { parsePrometheusText, routerCounters, type RouterCounters } from './prometheus-text.ts';
import type { BatchStats, DashboardAutoscalePool, DashboardNode, DashboardSnapshot, TimelineEvent } from './snapshot.ts';
import { isLiveInstance, TimelineTracker, type NodeObservation } from './timeline.ts';
import { TrafficWindow } from './traffic-window.ts';

export interface FleetAggregatorOptions {
  source: FleetSource;
  /** Time between two looks at the fleet (the next starts when the previous ends). @default 500 */
  intervalMs?: number;
  /** Timeline entries kept. @default 200 */
  timelineLimit?: number;
  /** How far back the timeline starts when the dashboard opens (the source's lifeTimes). @default 1 h */
  historyMs?: number;
  /** Window of requests/s, error rate and p99. @default 10000 */
  trafficWindowMs?: number;
  /** Agent calls in flight at once (a big fleet is asked in batches, not all at once). @default 16 */
  concurrency?: number;
  /** @default Date.now */
  clock?: () => number;
}

/** `fn` over `items` with at most `limit` calls in flight; results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface FleetAggregatorEvents {
  snapshot: [DashboardSnapshot];
}

/**
 * Looks at the fleet every round — the cloud's listing, each agent's /status and /metrics,
 * notices, the newest batch run — and keeps one snapshot of it for the dashboard.
 */
export class FleetAggregator extends EventEmitter<FleetAggregatorEvents> {
  private readonly source: FleetSource;
  private readonly intervalMs: number;
  private readonly timelineLimit: number;
  private readonly historyMs: number;
  private historyRead = false;
  private readonly clock: () => number;
  private readonly concurrency: number;
  private readonly tracker = new TimelineTracker();
  private readonly traffic: TrafficWindow;
  private readonly timeline: TimelineEvent[] = [];
  private readonly notices = new Map<string, number>();
  /** Last state each agent reported, so a node whose agent has left shows 'stopped', not 'unreachable'. */
  private readonly agentStates = new Map<string, string>();
  private current: DashboardSnapshot | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inRound: Promise<void> | undefined;

  constructor(options: FleetAggregatorOptions) {
    super();
    this.source = options.source;
    this.intervalMs = options.intervalMs ?? 500;
    this.timelineLimit = options.timelineLimit ?? 200;
    this.historyMs = options.historyMs ?? 3_600_000;
    this.clock = options.clock ?? Date.now;
    this.concurrency = Math.max(1, options.concurrency ?? 16);
    this.traffic = new TrafficWindow({ windowMs: options.trafficWindowMs });
  }

  /** The latest snapshot (after start() resolves there always is one). */
  snapshot(): DashboardSnapshot | undefined {
    return this.current;
  }

  /** Takes a first snapshot, then one every interval until stop(). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.refresh();
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One round now (tests call it directly instead of start()). */
  refresh(): Promise<void> {
    this.inRound ??= this.round().finally(() => {
      this.inRound = undefined;
    });
    return this.inRound;
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      void this.refresh().finally(() => this.schedule());
    }, this.intervalMs).unref();
  }

  private async round(): Promise<void> {
    const warnings: string[] = [];
    let records: InstanceRecord[] = [];
    try {
      records = await this.source.instances();
    } catch (error) {
      warnings.push(`cannot list instances: ${(error as Error).message}`);
      if (this.current) {
        this.publish({ ...this.current, at: this.clock(), warnings });
        return;
      }
    }
    const live = records.filter(isLiveInstance).sort((a, b) => a.launchedAt - b.launchedAt || a.id.localeCompare(b.id));
    const [looks, batch, pipelines] = await Promise.all([
      // Each live node: its agent's status and metrics and its notice, together.
      mapLimit(records, this.concurrency, async (record): Promise<{ o: NodeObservation; metrics: string | undefined }> => {
        if (!isLiveInstance(record)) return { o: { record, status: undefined, notice: undefined }, metrics: undefined };
        const [status, notice, metrics] = await Promise.all([
          this.source.status(record).catch(() => undefined),
          record.lifecycle === 'spot' && this.source.notice
            ? this.source.notice(record).catch(() => undefined)
            : Promise.resolve(undefined),
          this.source.metrics(record).catch(() => undefined),
        ]);
        return { o: { record, status, notice }, metrics };
      }),
      this.source.batch ? this.source.batch().catch(() => undefined) : Promise.resolve(undefined),
      this.source.pipelines
        ? this.source.pipelines().catch((error: unknown) => {
            warnings.push(`cannot count pipeline jobs: ${(error as Error).message}`);
            return undefined;
          })
        : Promise.resolve(undefined),
    ]);
    const observed = looks.map((l) => l.o);
    const metrics = looks.filter((l) => isLiveInstance(l.o.record)).map((l) => [l.o.record.id, l.metrics] as const);
    const now = this.clock();

    const counters = new Map<string, RouterCounters>();
    for (const [id, text] of metrics) {
      const c = text === undefined ? undefined : routerCounters(parsePrometheusText(text));
      if (c) counters.set(id, c);
    }
    this.traffic.observe(now, counters);

    for (const o of observed) if (o.notice) this.notices.set(o.record.id, o.notice.time);
    if (!this.historyRead && this.source.lifeTimes && warnings.length === 0) {
      // Once, with the first listing: what happened before the dashboard opened.
      this.historyRead = true;
      const lifeTimes = await this.source.lifeTimes().catch((error: unknown) => {
        warnings.push(`cannot read the fleet's history: ${(error as Error).message}`);
        return [];
      });
      this.timeline.push(...this.tracker.history(records, lifeTimes, now - this.historyMs));
    }
    this.timeline.push(...this.tracker.observe(now, observed));
    if (this.timeline.length > this.timelineLimit) this.timeline.splice(0, this.timeline.length - this.timelineLimit);

    const byId = new Map(observed.map((o) => [o.record.id, o]));
    for (const o of observed) {
      if (o.status) this.agentStates.set(o.record.id, o.status.state);
      else if (!isLiveInstance(o.record)) this.agentStates.delete(o.record.id);
    }
    const nodes = live.map((record) => toNode(record, byId.get(record.id), this.notices.get(record.id), this.agentStates.get(record.id)));
    for (const id of [...this.notices.keys()]) if (!byId.has(id) || !isLiveInstance(byId.get(id)!.record)) this.notices.delete(id);
    const cost = costRate(live);
    this.publish({
      cluster: this.source.cluster,
      provider: this.source.provider,
      at: now,
      nodes,
      timeline: [...this.timeline],
      traffic: this.traffic.stats(),
      batch: batch ? toBatchStats(batch) : undefined,
      pipelines,
      cost: { ...cost, priceNote: priceNote(live) },
      warnings,
      autoscale: autoscalePools(observed),
    });
  }

  private publish(snapshot: DashboardSnapshot): void {
    this.current = snapshot;
    this.emit('snapshot', snapshot);
  }
}

function toNode(
  record: InstanceRecord,
  o: NodeObservation | undefined,
  noticeDeadline: number | undefined,
  lastAgentState: string | undefined,
): DashboardNode {
  const status = o?.status;
  const left = lastAgentState === 'draining' || lastAgentState === 'stopped';
  return {
    id: record.id,
    role: status?.role ?? record.tags[TAG_ROLE] ?? '-',
    zone: status?.zone ?? record.zone,
    state: status?.state ?? (record.state !== 'running' ? record.state : left ? 'stopped' : 'unreachable'),
    instanceState: record.state,
    instanceType: record.instanceType,
    lifecycle: record.lifecycle,
    address: record.privateIp,
    load: status?.load,
    uptimeMs: status?.uptimeMs,
    noticeDeadline,
    replaces: record.tags[TAG_REPLACES],
    members: status?.members.length,
  };
}

/** Each autoscaled pool once: the report with the latest action (highest epoch), the decider's own when tied. */
function autoscalePools(observed: readonly NodeObservation[]): DashboardAutoscalePool[] {
  const best = new Map<string, DashboardAutoscalePool>();
  for (const o of observed) {
    for (const pool of o.status?.autoscale ?? []) {
      const current = best.get(pool.pool);
      const epoch = pool.last?.epoch ?? -1;
      const currentEpoch = current?.last?.epoch ?? -1;
      if (!current || epoch > currentEpoch || (epoch === currentEpoch && pool.decider === o.record.id)) best.set(pool.pool, pool);
    }
  }
  return [...best.values()].sort((a, b) => (a.pool < b.pool ? -1 : 1));
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function toBatchStats({ run, metrics: m }: BatchReport): BatchStats {
  return {
    run,
    generation: num(m.generation),
    queueDepth: num(m.queueDepth),
    queueInFlight: num(m.queueInFlight),
    queueDeadLettered: num(m.queueDeadLettered),
    workers: num(m.workers),
    bestF: num(m.bestF),
    at: num(m.at),
  };
}

function priceNote(live: InstanceRecord[]): string {
  const notes = new Set(live.map((r) => DASHBOARD_PRICES[r.instanceType]?.note).filter((n): n is string => n !== undefined));
  return notes.size > 0 ? [...notes].join('; ') : 'no priced instances';
}
