import type { SwimMessage } from '../gossip-messages.ts';
import type { SwimNode, Outgoing } from '../swim.ts';

/**
 * An in-process network for SWIM nodes under a fake clock: messages arrive after
 * `latencyMs`; a message to a crashed node is silently lost (as on EC2 after a kill, where
 * nothing answers), so the sender learns only by its timeouts. Every node is ticked every
 * `tickMs`. Used by the membership unit tests and bench/membership.ts.
 */

export interface SimClock {
  now: number;
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

/** Binary min-heap on (at, seq): events at the same time run in scheduling order (deterministic). */
class EventQueue {
  private readonly heap: Event[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, run: () => void): void {
    const event = { at, seq: this.seq++, run };
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  peekAt(): number | undefined {
    return this.heap[0]?.at;
  }

  pop(): Event | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        if (l < heap.length && before(heap[l]!, heap[smallest]!)) smallest = l;
        if (r < heap.length && before(heap[r]!, heap[smallest]!)) smallest = r;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
        i = smallest;
      }
    }
    return top;
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export interface SwimNetworkOptions {
  clock: SimClock;
  /** One-way delivery time. @default 1 */
  latencyMs?: number;
  /** How often every node's tick() runs. @default 100 */
  tickMs?: number;
  /** Called after each global tick (e.g. to check convergence or run cloud listers). */
  afterTick?: (now: number) => void;
}

export class SwimNetwork {
  readonly nodes = new Map<string, SwimNode>();
  readonly crashed = new Set<string>();
  /** Nodes cut off from the network (still running): everything to or from them is lost. */
  readonly isolated = new Set<string>();
  messages = 0;
  bytes = 0;
  /** Most piggy-backed updates seen on one message (sync excluded). */
  maxUpdatesPerMessage = 0;
  private readonly queue = new EventQueue();
  private readonly options: SwimNetworkOptions;
  private nextTickAt: number;
  /** Approximate wire size is measured on a sample of messages (JSON.stringify is slow at scale). */
  private sampled = 0;

  constructor(options: SwimNetworkOptions) {
    this.options = options;
    this.nextTickAt = options.clock.now;
  }

  get now(): number {
    return this.options.clock.now;
  }
  private get latency(): number {
    return this.options.latencyMs ?? 1;
  }

  add(node: SwimNode): void {
    this.nodes.set(node.view.selfId, node);
  }

  /** kill -9: the node stops ticking and answering; messages to it are lost. */
  crash(id: string): void {
    this.crashed.add(id);
    this.nodes.delete(id);
  }

  /** Send messages from `from` (a node id) through the network. */
  send(from: string, outgoing: Outgoing[]): void {
    for (const { to, message } of outgoing) this.deliverLater(from, to.id, message);
  }

  private deliverLater(from: string, to: string, message: SwimMessage): void {
    this.messages += 1;
    if (message.kind !== 'sync' && message.updates.length > this.maxUpdatesPerMessage) this.maxUpdatesPerMessage = message.updates.length;
    if (this.isolated.has(from) || this.isolated.has(to)) return;
    if (this.sampled++ % 997 === 0) this.bytes += JSON.stringify(message).length * 997;
    this.queue.push(this.now + this.latency, () => {
      const target = this.nodes.get(to);
      if (!target || this.isolated.has(to)) return; // crashed, cut off, or never existed: lost
      const { reply, send } = target.receive(message);
      for (const answer of reply) this.deliverLater(to, from, answer);
      this.send(to, send);
    });
  }

  /** Run the network until `until` (fake ms). */
  runUntil(until: number): void {
    const clock = this.options.clock;
    const tickMs = this.options.tickMs ?? 100;
    for (;;) {
      const nextEvent = this.queue.peekAt();
      const next = nextEvent === undefined ? this.nextTickAt : Math.min(nextEvent, this.nextTickAt);
      if (next > until) break;
      clock.now = next;
      if (next === this.nextTickAt && (nextEvent === undefined || nextEvent >= next)) {
        this.nextTickAt += tickMs;
        for (const [id, node] of this.nodes) this.send(id, node.tick());
        this.options.afterTick?.(clock.now);
        continue;
      }
      this.queue.pop()!.run();
    }
    clock.now = until;
  }
}

/** A small seeded generator (mulberry32) so simulated runs repeat exactly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
