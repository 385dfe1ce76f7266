/**
 * Exponential backoff, the one formula of the repo (EC2 and ELB retries, IMDS, the workload
 * and instance-host restarts, spot return, the coordinator and worker retries).
 * Full-jitter: the wait before retry n is uniform in
 * [0, min(cap, base·2ⁿ)). Jitter spreads a fleet that was throttled together (after a
 * mass preemption every node re-lists at once) so its retries do not collide again.
 */

export interface BackoffOptions {
  /**
   * Ceiling of the first wait, in milliseconds.
   * @default 100
   */
  baseMs?: number | undefined;
  /**
   * Largest ceiling any wait can have, in milliseconds.
   * @default 20000
   */
  capMs?: number | undefined;
  /**
   * Uniform random number in [0, 1).
   * @default Math.random
   */
  random?: (() => number) | undefined;
}

export const DEFAULT_BACKOFF_BASE_MS = 100;
export const DEFAULT_BACKOFF_CAP_MS = 20_000;

/** The ceiling of the wait before retry `attempt` (0 for the first retry). */
export function backoffCeilingMs(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? DEFAULT_BACKOFF_BASE_MS;
  const cap = options.capMs ?? DEFAULT_BACKOFF_CAP_MS;
  // 2^attempt overflows to Infinity for large attempts, which min() caps.
  return Math.min(cap, base * 2 ** Math.max(0, attempt));
}

/** A full-jitter wait before retry `attempt` (0 for the first retry), in milliseconds. */
export function fullJitterDelayMs(attempt: number, options: BackoffOptions = {}): number {
  const random = options.random ?? Math.random;
  return Math.floor(random() * backoffCeilingMs(attempt, options));
}
