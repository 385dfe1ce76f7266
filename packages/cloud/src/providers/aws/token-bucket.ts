/**
 * Client-side token bucket: our own calls wait for a token instead of spending the
 * account's EC2 budget and being throttled (docs/architecture.md invariant 3). EC2 meters each
 * action with a bucket of this shape per account and region; we keep a share of it.
 */
import { SynktiError } from '@synkti/core';

export type Clock = () => number;
export type Sleep = (ms: number) => Promise<void>;

export interface TokenBucketOptions {
  /** Tokens the bucket holds when full (the burst). At least 1. */
  capacity: number;
  /** Tokens added per second. */
  refillPerSecond: number;
  /**
   * Epoch milliseconds now.
   * @default Date.now
   */
  clock?: Clock | undefined;
  /**
   * Waits `ms` milliseconds.
   * @default a setTimeout-based sleep
   */
  sleep?: Sleep | undefined;
}

export const realSleep: Sleep = (ms) =>
  new Promise((resolve) => {
    setTimeout(resolve, ms);
  });

export class TokenBucket {
  readonly capacity: number;
  readonly refillPerSecond: number;
  private readonly clock: Clock;
  private readonly sleep: Sleep;
  private tokens: number;
  private refilledAt: number;
  /** Takers queue here so they are served first come, first served. */
  private queue: Promise<void> = Promise.resolve();

  constructor(options: TokenBucketOptions) {
    if (!(options.capacity >= 1) || !Number.isFinite(options.capacity)) {
      throw new SynktiError('E_TOKEN_BUCKET', `token bucket capacity must be a number ≥ 1, not ${options.capacity}`, {
        hint: 'raise the budget share',
      });
    }
    if (!(options.refillPerSecond > 0) || !Number.isFinite(options.refillPerSecond)) {
      throw new SynktiError('E_TOKEN_BUCKET', `token bucket refill must be a positive number per second, not ${options.refillPerSecond}`, {
        hint: 'raise the budget share',
      });
    }
    this.capacity = options.capacity;
    this.refillPerSecond = options.refillPerSecond;
    this.clock = options.clock ?? Date.now;
    this.sleep = options.sleep ?? realSleep;
    this.tokens = this.capacity;
    this.refilledAt = this.clock();
  }

  /** Resolves once a token is taken, waiting for the refill when the bucket is empty. */
  take(): Promise<void> {
    const turn = this.queue.then(() => this.takeInTurn());
    // A failing sleep must not wedge the queue for later takers.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Tokens available now (fractional), after refill. */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Empties the bucket: the service said we were throttled, so the shared account
   * budget is spent and every caller here should wait for the refill too.
   */
  drain(): void {
    this.refill();
    this.tokens = Math.min(this.tokens, 0);
  }

  private async takeInTurn(): Promise<void> {
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.tokens) / this.refillPerSecond) * 1000);
      await this.sleep(Math.max(1, waitMs));
    }
  }

  private refill(): void {
    const now = this.clock();
    const elapsed = Math.max(0, now - this.refilledAt);
    this.refilledAt = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed / 1000) * this.refillPerSecond);
  }
}
