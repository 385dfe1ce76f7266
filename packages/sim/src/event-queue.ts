/** A scheduled event. Cancelling it guarantees it never fires. */
export interface SimEvent {
  readonly time: number;
  readonly seq: number;
  readonly kind: string;
  readonly cancelled: boolean;
  cancel(): void;
}

interface Entry extends SimEvent {
  cancelled: boolean;
  fire: () => void;
}

/**
 * Binary min-heap ordered by (time, sequence): events at the same instant fire in the
 * order they were scheduled, which keeps runs deterministic.
 */
export class EventQueue {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private live = 0;

  get size(): number {
    return this.live;
  }

  push(time: number, kind: string, fire: () => void): SimEvent {
    const queue = this;
    const entry: Entry = {
      time,
      seq: this.seq++,
      kind,
      cancelled: false,
      fire,
      cancel() {
        if (this.cancelled) return;
        this.cancelled = true;
        queue.live--;
      },
    };
    this.heap.push(entry);
    this.live++;
    this.up(this.heap.length - 1);
    return entry;
  }

  /** Time of the next live event, or undefined when none is left. */
  peekTime(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.time;
  }

  /** Removes and returns the next live event. */
  pop(): (SimEvent & { fire: () => void }) | undefined {
    this.dropCancelled();
    const top = this.heap[0];
    if (!top) return undefined;
    this.removeTop();
    this.live--;
    // A popped event can no longer be cancelled (it is firing now).
    top.cancel = () => {};
    return top;
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.removeTop();
  }

  private removeTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private less(a: Entry, b: Entry): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq);
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(item, heap[parent]!)) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.less(heap[r]!, heap[l]!) ? r : l;
      if (!this.less(heap[child]!, item)) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = item;
  }
}
