import { histogramQuantile, type RouterCounters } from './prometheus-text.ts';
import type { TrafficStats } from './snapshot.ts';

interface Increment {
  at: number;
  requests: number;
  errors: number;
  buckets: Map<number, number>;
}

export interface TrafficWindowOptions {
  /** How far back rates and p99 look. @default 10000 */
  windowMs?: number;
  /** Points kept for the sparkline. @default 120 */
  seriesLength?: number;
}

/**
 * Turns each router's cumulative counters, read every round, into fleet-wide rates over a
 * sliding window. Works per node on deltas, so a node that leaves (its counters vanish) or
 * restarts (its counters drop: a reset) never shows up as negative traffic.
 */
export class TrafficWindow {
  private readonly windowMs: number;
  private readonly seriesLength: number;
  private readonly last = new Map<string, RouterCounters>();
  private readonly increments: Increment[] = [];
  private readonly series: { at: number; rps: number }[] = [];
  private firstAt: number | undefined;
  private prevAt: number | undefined;
  private routers = 0;

  constructor(options: TrafficWindowOptions = {}) {
    this.windowMs = options.windowMs ?? 10_000;
    this.seriesLength = options.seriesLength ?? 120;
  }

  /** One round: the counters of every router that answered, by node id. */
  observe(at: number, counters: ReadonlyMap<string, RouterCounters>): void {
    const inc: Increment = { at, requests: 0, errors: 0, buckets: new Map() };
    for (const [id, now] of counters) {
      const before = this.last.get(id);
      // New node: its counters so far happened before we watched; only later rounds count.
      if (before) {
        const reset = now.requests < before.requests;
        inc.requests += reset ? now.requests : now.requests - before.requests;
        inc.errors += reset ? now.errors : Math.max(0, now.errors - before.errors);
        for (const [le, count] of now.buckets) {
          const delta = reset ? count : count - (before.buckets.get(le) ?? 0);
          inc.buckets.set(le, (inc.buckets.get(le) ?? 0) + Math.max(0, delta));
        }
      }
      this.last.set(id, now);
    }
    for (const id of [...this.last.keys()]) if (!counters.has(id)) this.last.delete(id);
    this.routers = counters.size;
    this.firstAt ??= at;
    if (this.prevAt !== undefined && at > this.prevAt) {
      this.series.push({ at, rps: inc.requests / ((at - this.prevAt) / 1000) });
      if (this.series.length > this.seriesLength) this.series.shift();
    }
    this.prevAt = at;
    this.increments.push(inc);
    while (this.increments.length > 0 && this.increments[0]!.at <= at - this.windowMs) this.increments.shift();
  }

  stats(): TrafficStats {
    const base = { routers: this.routers, windowMs: this.windowMs, series: [...this.series] };
    if (this.prevAt === undefined || this.firstAt === undefined || this.prevAt === this.firstAt) {
      return { ...base, requestsPerSecond: undefined, errorRate: undefined, p99Seconds: undefined };
    }
    // The window spans from the round before its oldest increment (or the first round) to now.
    const spanMs = Math.min(this.windowMs, this.prevAt - this.firstAt);
    let requests = 0;
    let errors = 0;
    const buckets = new Map<number, number>();
    for (const inc of this.increments) {
      requests += inc.requests;
      errors += inc.errors;
      for (const [le, n] of inc.buckets) buckets.set(le, (buckets.get(le) ?? 0) + n);
    }
    return {
      ...base,
      requestsPerSecond: spanMs > 0 ? requests / (spanMs / 1000) : undefined,
      errorRate: requests > 0 ? errors / requests : undefined,
      p99Seconds: requests > 0 ? histogramQuantile(0.99, buckets) : undefined,
    };
  }
}
