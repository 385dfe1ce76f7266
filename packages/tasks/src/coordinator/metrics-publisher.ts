/**
 * Publishes the coordinator's autoscaling numbers (`Coordinator.metrics()`: backlog and
 * backlog per worker) to a pluggable sink at a fixed interval: CloudWatch PutMetricData in
 * the CLI (what SpotBatchFleet's target tracking reads), memory in tests.
 *
 * Publishing is best effort and never stops the run: a failing sink (or a failing sample)
 * is reported once per failure streak, its samples are kept (bounded, oldest dropped) and
 * sent with the next batch, so a short CloudWatch outage leaves no gap in the series.
 * Ticks never overlap (a timeout chain, not an interval) and the timer is unref'd.
 */
import { SynktiError, formatDuration, parseDuration } from '@synkti/core';
import type { DurationInput } from '../queue/types.ts';
import type { CoordinatorMetrics } from './types.ts';

/** Receives a batch of samples, oldest first; a rejection keeps them for the next try. */
export type CoordinatorMetricsSink = (samples: readonly CoordinatorMetrics[]) => Promise<void>;

export interface CoordinatorMetricsPublisherOptions {
  /** What is sampled: the coordinator (anything with its `metrics()`). */
  source: { metrics(): Promise<CoordinatorMetrics> };
  sink: CoordinatorMetricsSink;
  /**
   * How often a sample is taken and published (the first one at `start()`).
   * CloudWatch target tracking evaluates one-minute periods, so more often buys little.
   * @default 60000
   */
  intervalMs?: DurationInput | undefined;
  /**
   * Samples kept while the sink fails, re-sent with the next batch (oldest dropped beyond it).
   * @default 10
   */
  maxPendingSamples?: number | undefined;
  /**
   * Longest wait for the last publication in `stop()`; what is not sent by then is dropped.
   * @default 5000
   */
  stopTimeoutMs?: DurationInput | undefined;
  /**
   * Told once at the start of each failure streak (not on every failed tick), and when it ends.
   * @default a line on stderr
   */
  onWarning?: ((message: string, error?: unknown) => void) | undefined;
}

export interface CoordinatorMetricsPublisherStats {
  /** Samples the sink accepted. */
  published: number;
  /** Sink calls that succeeded. */
  batches: number;
  /** Ticks that failed (sampling or publishing). */
  failures: number;
  /** Samples dropped: over `maxPendingSamples`, or unsent at stop. */
  dropped: number;
  /** Samples waiting for the next try. */
  pending: number;
}

const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_MAX_PENDING = 10;
const DEFAULT_STOP_TIMEOUT_MS = 5000;

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class CoordinatorMetricsPublisher {
  private readonly source: CoordinatorMetricsPublisherOptions['source'];
  private readonly sink: CoordinatorMetricsSink;
  private readonly intervalMs: number;
  private readonly maxPending: number;
  private readonly stopTimeoutMs: number;
  private readonly warn: (message: string, error?: unknown) => void;
  private pendingSamples: CoordinatorMetrics[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private inStreak = false;
  private counts = { published: 0, batches: 0, failures: 0, dropped: 0 };

  constructor(options: CoordinatorMetricsPublisherOptions) {
    if (typeof options.source?.metrics !== 'function') {
      throw new SynktiError('E_METRICS_OPTION', 'source: a coordinator (with metrics()) is required', {
        hint: 'pass the coordinator createCoordinator returned',
      });
    }
    if (typeof options.sink !== 'function') {
      throw new SynktiError('E_METRICS_OPTION', 'sink: a function publishing samples is required', {
        hint: 'e.g. the CloudWatch sink of the CLI',
      });
    }
    this.source = options.source;
    this.sink = options.sink;
    this.intervalMs = parseDuration(options.intervalMs ?? DEFAULT_INTERVAL_MS, 'intervalMs');
    if (this.intervalMs < 1)
      throw new SynktiError('E_METRICS_OPTION', `intervalMs: ${this.intervalMs} must be positive`, { hint: 'omit it for one minute' });
    this.maxPending = options.maxPendingSamples ?? DEFAULT_MAX_PENDING;
    if (!Number.isInteger(this.maxPending) || this.maxPending < 1) {
      throw new SynktiError('E_METRICS_OPTION', `maxPendingSamples: ${String(options.maxPendingSamples)} must be a whole number >= 1`, {
        hint: 'omit it for 10',
      });
    }
    this.stopTimeoutMs = parseDuration(options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS, 'stopTimeoutMs');
    this.warn =
      options.onWarning ??
      ((message) => {
        process.stderr.write(`warning: ${message}\n`);
      });
  }

  /** Takes the first sample now, then one every interval. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.tick();
  }

  /**
   * Samples and publishes now (with any samples kept from failed tries); resolves true when
   * the sink accepted them. Never rejects: failures are counted and reported.
   */
  async publishNow(): Promise<boolean> {
    try {
      const sample = await this.source.metrics();
      this.pendingSamples.push(sample);
      this.trimPending();
    } catch (error) {
      this.failed('sampling the coordinator', error);
      // Whatever is still pending is worth another try.
      if (this.pendingSamples.length === 0) return false;
    }
    const batch = this.pendingSamples;
    this.pendingSamples = [];
    try {
      await this.sink(batch);
    } catch (error) {
      // Kept for the next batch, in order, ahead of anything sampled meanwhile.
      this.pendingSamples = [...batch, ...this.pendingSamples];
      this.trimPending();
      this.failed('publishing', error);
      return false;
    }
    this.counts.published += batch.length;
    this.counts.batches += 1;
    if (this.inStreak) {
      this.inStreak = false;
      this.warn('coordinator metrics: publishing works again');
    }
    return true;
  }

  /** Stops the timer and publishes a last sample (within `stopTimeoutMs`). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.finish();
    return this.stopping;
  }

  stats(): CoordinatorMetricsPublisherStats {
    return { ...this.counts, pending: this.pendingSamples.length };
  }

  private async finish(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.started) return;
    // The last sample tells the autoscaler where the run left the queue (usually empty).
    // Bounded: a hung sink (no network) must not keep the CLI from exiting.
    const last = (async () => {
      await this.running;
      return this.publishNow();
    })();
    let timeout: NodeJS.Timeout | undefined;
    // Not unref'd: whoever awaits stop() is waiting on it, and it is short.
    const expired = new Promise<false>((resolve) => {
      timeout = setTimeout(() => resolve(false), this.stopTimeoutMs);
    });
    const sent = await Promise.race([last, expired]);
    clearTimeout(timeout);
    if (!sent) {
      this.counts.dropped += this.pendingSamples.length;
      this.pendingSamples = [];
    }
  }

  private tick(): void {
    this.running = this.publishNow().then(() => {
      this.running = undefined;
      if (this.stopping) return;
      this.timer = setTimeout(() => this.tick(), this.intervalMs);
      this.timer.unref();
    });
  }

  private trimPending(): void {
    const excess = this.pendingSamples.length - this.maxPending;
    if (excess > 0) {
      this.pendingSamples.splice(0, excess);
      this.counts.dropped += excess;
    }
  }

  private failed(what: string, error: unknown): void {
    this.counts.failures += 1;
    if (this.inStreak) return;
    this.inStreak = true;
    this.warn(
      `coordinator metrics: ${what} failed (the run goes on; retrying every ${formatDuration(this.intervalMs)}, warning once until it works): ${errorText(error)}`,
      error,
    );
  }
}

/** A publisher for one coordinator; call `start()` when the run starts and `stop()` when it ends. */
export function createCoordinatorMetricsPublisher(options: CoordinatorMetricsPublisherOptions): CoordinatorMetricsPublisher {
  return new CoordinatorMetricsPublisher(options);
}
