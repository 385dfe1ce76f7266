import type { PeerSlot, PeerTable } from './peer-table.ts';

/** A request waiting for a peer slot. */
export interface Waiter {
  /** Peers this request already failed on; undefined when any peer will do. */
  readonly exclude: ReadonlySet<string> | undefined;
  /** Epoch ms after which the waiter gives up. Set by the queue. */
  deadline: number;
  /** Called once with the slot taken for it; the waiter now owns the slot. */
  grant(slot: PeerSlot): void;
  /** Called once when the deadline passed without a slot. */
  expire(): void;
}

/**
 * The bounded FIFO of requests waiting for capacity: every peer at its in-flight limit, or
 * no ready peer at all (peers may be coming back). Slots are handed out when a request
 * finishes (pump) and on a short poll, which is how peers that reappear in the membership
 * set are noticed, since the set is a callback and not an event.
 */
export class WaitQueue {
  readonly #table: PeerTable;
  readonly #timeoutMs: number;
  readonly #pollMs: number;
  readonly #now: () => number;
  #items: Waiter[] = [];
  #timer: NodeJS.Timeout | undefined;
  #pumping = false;
  #again = false;

  constructor(table: PeerTable, options: { timeoutMs: number; pollMs: number; now: () => number }) {
    this.#table = table;
    this.#timeoutMs = options.timeoutMs;
    this.#pollMs = options.pollMs;
    this.#now = options.now;
  }

  get length(): number {
    return this.#items.length;
  }

  push(waiter: Waiter): void {
    waiter.deadline = this.#now() + this.#timeoutMs;
    this.#items.push(waiter);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#tick(), this.#pollMs);
      this.#timer.unref();
    }
  }

  /** Takes a waiter out (its client left); true when it was queued. */
  remove(waiter: Waiter): boolean {
    const i = this.#items.indexOf(waiter);
    if (i < 0) return false;
    this.#items.splice(i, 1);
    this.#maybeStopTimer();
    return true;
  }

  /** Hands free slots to waiters in arrival order. */
  pump(): void {
    if (this.#items.length === 0) return;
    // A grant can release a slot synchronously (a peer with a bad URL); loop instead of recursing.
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        this.#pumpOnce();
      } while (this.#again);
    } finally {
      this.#pumping = false;
    }
    this.#maybeStopTimer();
  }

  #pumpOnce(): void {
    for (let i = 0; i < this.#items.length;) {
      const waiter = this.#items[i]!;
      const slot = this.#table.acquire(waiter.exclude);
      if (slot === undefined) {
        // A waiter that accepts any peer got nothing, so no later waiter can get one either.
        if (waiter.exclude === undefined) break;
        i++;
        continue;
      }
      this.#items.splice(i, 1);
      waiter.grant(slot);
    }
  }

  #tick(): void {
    this.pump();
    const now = this.#now();
    const expired: Waiter[] = [];
    this.#items = this.#items.filter((w) => {
      if (w.deadline > now) return true;
      expired.push(w);
      return false;
    });
    this.#maybeStopTimer();
    for (const w of expired) w.expire();
  }

  /** Expires every waiter at once (the router is stopping for good). */
  expireAll(): void {
    const all = this.#items;
    this.#items = [];
    this.#maybeStopTimer();
    for (const w of all) w.expire();
  }

  #maybeStopTimer(): void {
    if (this.#items.length === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
