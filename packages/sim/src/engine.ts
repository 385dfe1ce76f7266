import { SynktiError } from '@synkti/core';
import { EventQueue, type SimEvent } from './event-queue.ts';
import { createRandom, type Random } from './random.ts';

export interface SimEngineOptions {
  /** Seed of every random draw in the run. @default 1 */
  seed?: number;
}

/**
 * Discrete-event engine: simulated time in milliseconds from the start of the trace,
 * events fired in (time, schedule order). Handlers are synchronous, so a run is a pure
 * function of its inputs and seed.
 */
export class SimEngine {
  readonly random: Random;
  private readonly queue = new EventQueue();
  private nowMs = 0;
  private fired = 0;
  private readonly firedByKind = new Map<string, number>();

  constructor(options: SimEngineOptions = {}) {
    this.random = createRandom(options.seed ?? 1);
  }

  get now(): number {
    return this.nowMs;
  }

  /** Events fired so far, in total and by kind. */
  stats(): { fired: number; byKind: Record<string, number> } {
    return { fired: this.fired, byKind: Object.fromEntries(this.firedByKind) };
  }

  get pending(): number {
    return this.queue.size;
  }

  at(timeMs: number, kind: string, fire: () => void): SimEvent {
    if (!Number.isFinite(timeMs)) throw new SynktiError('E_SIM_TIME', `event "${kind}" scheduled at a non-finite time`);
    if (timeMs < this.nowMs) {
      throw new SynktiError('E_SIM_TIME', `event "${kind}" scheduled in the past (${timeMs} ms < now ${this.nowMs} ms)`);
    }
    return this.queue.push(timeMs, kind, fire);
  }

  after(delayMs: number, kind: string, fire: () => void): SimEvent {
    return this.at(this.nowMs + Math.max(0, delayMs), kind, fire);
  }

  /** Fires every event up to and including `untilMs` (or until `stopWhen` says so); time ends at `untilMs`. */
  run(untilMs: number, stopWhen?: () => boolean): void {
    for (;;) {
      if (stopWhen?.()) return;
      const next = this.queue.peekTime();
      if (next === undefined || next > untilMs) break;
      const event = this.queue.pop()!;
      this.nowMs = event.time;
      this.fired++;
      this.firedByKind.set(event.kind, (this.firedByKind.get(event.kind) ?? 0) + 1);
      event.fire();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }
}

export type { SimEvent };
