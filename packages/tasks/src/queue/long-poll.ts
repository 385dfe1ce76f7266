/**
 * Long polling for backends without a server-side wait (SQLite, PostgreSQL): try to
 * claim, and if nothing is visible sleep until a send is announced (in this process, or
 * by PostgreSQL NOTIFY), the next message becomes visible, a poll interval passes
 * (other processes' sends), the wait ends, or the signal aborts.
 */

/** Wakes every waiter on a key; one per queue per process. */
export class Doorbell {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly rings = new Map<string, number>();

  /** How many times `key` has rung: pass it to `wait` so a ring in between is not missed. */
  ticket(key: string): number {
    return this.rings.get(key) ?? 0;
  }

  ring(key: string): void {
    this.rings.set(key, this.ticket(key) + 1);
    const set = this.waiters.get(key);
    if (!set) return;
    this.waiters.delete(key);
    for (const wake of set) wake();
  }

  /** Rings every key that starts with `prefix` and has a waiter (e.g. every queue of one SQLite file). */
  ringPrefix(prefix: string): void {
    for (const key of [...this.waiters.keys()]) if (key.startsWith(prefix)) this.ring(key);
  }

  /** Resolves on `ring(key)`, after `ms`, or on abort, whichever comes first. */
  wait(key: string, ms: number, signal?: AbortSignal, ticket?: number): Promise<void> {
    if (ticket !== undefined && ticket !== this.ticket(key)) return Promise.resolve();
    return new Promise((resolve) => {
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.get(key)?.delete(done);
        resolve();
      };
      // Not unref'd: a caller is awaiting this receive, as it would await a socket.
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }
}

export interface ClaimAttempt<T> {
  items: T[];
  /** Epoch ms when the next hidden message becomes visible, if any. */
  nextVisibleAt?: number | undefined;
}

export async function longPoll<T>(options: {
  claim: () => Promise<ClaimAttempt<T>>;
  waitMs: number;
  pollIntervalMs: number;
  doorbell: Doorbell;
  key: string;
  signal?: AbortSignal | undefined;
  now?: () => number;
}): Promise<T[]> {
  const now = options.now ?? Date.now;
  const deadline = now() + options.waitMs;
  for (;;) {
    const ticket = options.doorbell.ticket(options.key);
    const attempt = await options.claim();
    if (attempt.items.length > 0) return attempt.items;
    const left = deadline - now();
    if (left <= 0 || options.signal?.aborted) return [];
    let sleep = Math.min(left, options.pollIntervalMs);
    if (attempt.nextVisibleAt !== undefined) sleep = Math.min(sleep, Math.max(1, attempt.nextVisibleAt - now()));
    await options.doorbell.wait(options.key, sleep, options.signal, ticket);
    if (options.signal?.aborted) return [];
  }
}
