/**
 * Watches instance metadata for a spot interruption notice and rebalance recommendations
 * (docs/architecture.md invariant 4): polls both every 5 s, hands each to its owner once
 * (the serve agent's NodeRuntime, or runPreemptible in @synkti/tasks for batch and pipeline
 * workers). It lives beside the IMDS client so every package above cloud can use it.
 *
 * Known failure modes this guards against (docs/field-notes.md "Spot interruption on AWS"):
 * - the notice repeats on every poll until the instance dies; re-running failover per poll
 *   is a defect. One interruption per instance life, whatever later polls say.
 * - a metadata outage is not "no notice" and not "a notice": errors go to onError and
 *   polling simply continues (the client throws E_IMDS_UNAVAILABLE instead of guessing).
 * - a slow handler must not delay the next poll (a rebalance handler that launches a
 *   replacement must not hide the 2-minute notice), so handlers are not awaited by polls.
 */
import type { InstanceMetadata, InterruptionNotice, RebalanceRecommendation } from '../types.ts';
import { SynktiError } from '@synkti/core';

export interface NoticeWatcherOptions {
  /** Where notices come from: `createImdsClient()` on EC2 and locally. */
  metadata: InstanceMetadata;
  /**
   * Time between the start of one poll and the start of the next (AWS advises 5 s).
   * @default 5000
   */
  pollIntervalMs?: number;
  /** Called once per instance life, on the first interruption notice seen. */
  onInterruption: (notice: InterruptionNotice) => void | Promise<void>;
  /**
   * Called once per distinct rebalance recommendation (by noticeTime).
   * @default ignore recommendations
   */
  onRebalance?: (recommendation: RebalanceRecommendation) => void | Promise<void>;
  /**
   * Metadata failures and handler failures. Polling continues after either.
   * @default a process warning on the first failure of each run of failures
   */
  onError?: (error: unknown) => void;
  /**
   * Epoch-milliseconds clock for status timestamps and poll pacing.
   * @default Date.now
   */
  clock?: () => number;
}

export interface NoticeWatcherStatus {
  running: boolean;
  /** The interruption notice handled, if any. */
  interruption: InterruptionNotice | null;
  /** The latest rebalance recommendation handled, if any. */
  rebalance: RebalanceRecommendation | null;
  polls: number;
  /** Epoch ms of the last poll in which every metadata read succeeded. */
  lastSuccessAt: number | undefined;
  /** Polls in a row with at least one failed metadata read (0 when healthy). */
  consecutiveFailures: number;
}

export class NoticeWatcher {
  private readonly metadata: InstanceMetadata;
  private readonly pollIntervalMs: number;
  private readonly onInterruption: NoticeWatcherOptions['onInterruption'];
  private readonly onRebalance: NoticeWatcherOptions['onRebalance'];
  private readonly onError: (error: unknown) => void;
  private readonly clock: () => number;

  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private interruption: InterruptionNotice | null = null;
  private rebalance: RebalanceRecommendation | null = null;
  private readonly seenRebalances = new Set<number>();
  private polls = 0;
  private lastSuccessAt: number | undefined;
  private consecutiveFailures = 0;

  constructor(options: NoticeWatcherOptions) {
    const interval = options.pollIntervalMs ?? 5000;
    if (!Number.isFinite(interval) || interval <= 0) {
      throw new SynktiError(
        'E_INVALID_OPTION',
        `notice watcher pollIntervalMs must be a positive number of milliseconds, got ${interval}`,
        {
          hint: 'Leave it unset for the 5 s AWS recommends.',
        },
      );
    }
    this.metadata = options.metadata;
    this.pollIntervalMs = interval;
    this.onInterruption = options.onInterruption;
    this.onRebalance = options.onRebalance;
    this.onError =
      options.onError ??
      ((error) => {
        if (this.consecutiveFailures <= 1) {
          process.emitWarning(`notice watcher: ${error instanceof Error ? error.message : String(error)}`, {
            code: 'SYNKTI_NOTICE_WATCHER',
          });
        }
      });
    this.clock = options.clock ?? Date.now;
  }

  /** Polls now, then every pollIntervalMs until stop(). Calling it again while running does nothing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops polling and waits for a poll in progress (not for handlers). Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /**
   * One poll of both paths. Never rejects; never overlaps another poll (a call during a
   * poll returns that poll).
   */
  pollOnce(): Promise<void> {
    this.inFlight ??= this.poll().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  status(): NoticeWatcherStatus {
    return {
      running: this.running,
      interruption: this.interruption,
      rebalance: this.rebalance,
      polls: this.polls,
      lastSuccessAt: this.lastSuccessAt,
      consecutiveFailures: this.consecutiveFailures,
    };
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const startedAt = this.clock();
      void this.pollOnce().then(() => {
        const elapsed = this.clock() - startedAt;
        this.schedule(Math.min(this.pollIntervalMs, Math.max(0, this.pollIntervalMs - elapsed)));
      });
    }, delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    this.polls++;
    // Both paths at once, so a failure or slowness of one does not hide the other. Once an
    // interruption is handled there is nothing more to learn from instance-action.
    const [notice, rebalance] = await Promise.allSettled([
      this.interruption ? Promise.resolve(null) : this.metadata.interruptionNotice(),
      this.metadata.rebalanceRecommendation(),
    ]);
    const failures = [notice, rebalance].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length > 0) {
      this.consecutiveFailures++;
      for (const f of failures) this.report(f.reason);
    } else {
      this.consecutiveFailures = 0;
      this.lastSuccessAt = this.clock();
    }

    if (notice.status === 'fulfilled' && notice.value && !this.interruption) {
      this.interruption = notice.value;
      this.dispatch(() => this.onInterruption(notice.value as InterruptionNotice));
    }
    if (rebalance.status === 'fulfilled' && rebalance.value && !this.seenRebalances.has(rebalance.value.noticeTime)) {
      const rec = rebalance.value;
      this.seenRebalances.add(rec.noticeTime);
      this.rebalance = rec;
      const onRebalance = this.onRebalance;
      if (onRebalance) this.dispatch(() => onRebalance(rec));
    }
  }

  /** Runs a handler without awaiting it; its failures (sync or async) go to onError. */
  private dispatch(handler: () => void | Promise<void>): void {
    try {
      const result = handler();
      if (result && typeof result.then === 'function') result.then(undefined, (error: unknown) => this.report(error));
    } catch (error) {
      this.report(error);
    }
  }

  private report(error: unknown): void {
    try {
      this.onError(error);
    } catch {
      // An error reporter that throws must not stop the watcher.
    }
  }
}
