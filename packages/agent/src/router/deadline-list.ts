/** A member of a DeadlineList: the list threads itself through these fields. */
export interface DeadlineNode {
  /** Monotonic ms (performance.now()) after which onDeadline is called. */
  deadlineAt: number;
  listPrev: DeadlineNode | undefined;
  listNext: DeadlineNode | undefined;
  /** True while in a list. */
  listed: boolean;
  onDeadline(): void;
}

/**
 * The requests in flight, in arrival order, with one timer for all of them. Every request
 * gets the same timeout, so deadlines only grow from head to tail: adding and removing are
 * O(1) and a single timer armed for the head replaces a setTimeout per request.
 */
export class DeadlineList {
  #head: DeadlineNode | undefined;
  #tail: DeadlineNode | undefined;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  get size(): number {
    return this.#size;
  }

  /** Appends `node`; its deadline must not be earlier than the tail's. */
  add(node: DeadlineNode): void {
    node.listPrev = this.#tail;
    node.listNext = undefined;
    node.listed = true;
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.listNext = node;
    this.#tail = node;
    this.#size++;
    if (this.#timer === undefined) this.#arm(node.deadlineAt);
  }

  remove(node: DeadlineNode): void {
    if (!node.listed) return;
    node.listed = false;
    if (node.listPrev === undefined) this.#head = node.listNext;
    else node.listPrev.listNext = node.listNext;
    if (node.listNext === undefined) this.#tail = node.listPrev;
    else node.listNext.listPrev = node.listPrev;
    node.listPrev = undefined;
    node.listNext = undefined;
    this.#size--;
    // The timer stays armed: when it fires it finds a later head and re-arms (cheaper than clearTimeout per request).
  }

  /** The members, oldest first (a copy, so callbacks may remove members). */
  toArray(): DeadlineNode[] {
    const out: DeadlineNode[] = [];
    for (let n = this.#head; n !== undefined; n = n.listNext) out.push(n);
    return out;
  }

  #arm(at: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(0, at - this.#now()) + 1);
    this.#timer.unref();
  }

  #fire = (): void => {
    this.#timer = undefined;
    const now = this.#now();
    let node = this.#head;
    while (node !== undefined && node.deadlineAt <= now) {
      this.remove(node);
      node.onDeadline();
      node = this.#head;
    }
    if (node !== undefined && this.#timer === undefined) this.#arm(node.deadlineAt);
  };

  /** Stops the timer (members stay). */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
