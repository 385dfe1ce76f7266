/**
 * Batches tag changes the way Ray's AWS node provider does: changes requested close
 * together are collected, instances that end up with the same tag set are grouped, and
 * each group costs one CreateTags (or DeleteTags) call per chunk of ids, instead of one
 * call per request. CreateTags and DeleteTags have buckets of their own (100, 10/s).
 *
 * Order is kept: a run of consecutive tag requests is merged (later values win, as if
 * applied one after the other), then a run of untag requests, and so on. When a merged
 * call fails for a reason that belongs to one request (an unknown id), every request of
 * the run is retried alone, so only the request that named the bad id fails.
 */

export type TagChange = { kind: 'tag'; ids: string[]; tags: Record<string, string> } | { kind: 'untag'; ids: string[]; keys: string[] };

export interface TagBatcherOptions {
  /** Sends one call: CreateTags of `tags` (or DeleteTags of `keys`) on `ids`. */
  send(change: TagChange): Promise<void>;
  /**
   * True when `error` is the fault of one request (e.g. an unknown instance id), so the
   * merged requests should be retried one by one.
   */
  isPerRequestError(error: unknown): boolean;
  /**
   * How long the first request waits for others to join its batch, in milliseconds.
   * 0 batches requests made in the same tick (e.g. under one Promise.all).
   * @default 0
   */
  windowMs?: number | undefined;
  /**
   * Most resources named in one call (EC2 accepts up to 1000 per CreateTags).
   * @default 1000
   */
  maxIdsPerCall?: number | undefined;
}

interface Pending {
  change: TagChange;
  resolve(): void;
  reject(error: unknown): void;
}

export class TagBatcher {
  private readonly options: TagBatcherOptions;
  private readonly windowMs: number;
  private readonly maxIdsPerCall: number;
  private queue: Pending[] = [];
  private scheduled = false;
  /** Flushes run one after another so requests apply in the order they were made. */
  private flushing: Promise<void> = Promise.resolve();

  constructor(options: TagBatcherOptions) {
    this.options = options;
    this.windowMs = options.windowMs ?? 0;
    this.maxIdsPerCall = options.maxIdsPerCall ?? 1000;
  }

  tag(ids: string[], tags: Record<string, string>): Promise<void> {
    return this.enqueue({ kind: 'tag', ids: [...new Set(ids)], tags: { ...tags } });
  }

  untag(ids: string[], keys: string[]): Promise<void> {
    return this.enqueue({ kind: 'untag', ids: [...new Set(ids)], keys: [...new Set(keys)] });
  }

  private enqueue(change: TagChange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ change, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      const start = () => {
        // flush() settles every request itself; the catch only keeps the chain usable.
        this.flushing = this.flushing.then(() => this.flush()).catch(() => undefined);
      };
      // Not unref'd: a caller is awaiting this very flush.
      if (this.windowMs > 0) setTimeout(start, this.windowMs);
      else setImmediate(start);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    for (const run of runsOfOneKind(batch)) await this.flushRun(run);
  }

  private async flushRun(run: Pending[]): Promise<void> {
    const nonEmpty = run.filter((p) => p.change.ids.length > 0 && sizeOf(p.change) > 0);
    try {
      for (const change of mergeRun(nonEmpty.map((p) => p.change))) await this.sendChunked(change);
      for (const pending of run) pending.resolve();
      return;
    } catch (error) {
      if (run.length === 1 || !this.options.isPerRequestError(error)) {
        for (const pending of run) pending.reject(error);
        return;
      }
    }
    for (const pending of run) {
      try {
        if (pending.change.ids.length > 0 && sizeOf(pending.change) > 0) await this.sendChunked(pending.change);
        pending.resolve();
      } catch (error) {
        pending.reject(error);
      }
    }
  }

  private async sendChunked(change: TagChange): Promise<void> {
    for (let i = 0; i < change.ids.length; i += this.maxIdsPerCall) {
      await this.options.send({ ...change, ids: change.ids.slice(i, i + this.maxIdsPerCall) });
    }
  }
}

function sizeOf(change: TagChange): number {
  return change.kind === 'tag' ? Object.keys(change.tags).length : change.keys.length;
}

/** Splits the queue into maximal runs of consecutive requests of one kind. */
function runsOfOneKind(batch: Pending[]): Pending[][] {
  const runs: Pending[][] = [];
  for (const pending of batch) {
    const last = runs[runs.length - 1];
    if (last && last[0]!.change.kind === pending.change.kind) last.push(pending);
    else runs.push([pending]);
  }
  return runs;
}

/**
 * One run of same-kind requests as the fewest changes: each id's merged tag set (or
 * key set), then ids with identical sets grouped together.
 */
export function mergeRun(changes: TagChange[]): TagChange[] {
  const kind = changes[0]?.kind;
  if (kind === undefined) return [];
  const groups = new Map<string, TagChange>();
  if (kind === 'tag') {
    const perId = new Map<string, Record<string, string>>();
    for (const change of changes) {
      if (change.kind !== 'tag') continue;
      for (const id of change.ids) perId.set(id, { ...perId.get(id), ...change.tags });
    }
    for (const [id, tags] of perId) {
      const sorted = Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const key = JSON.stringify(sorted);
      const group = groups.get(key);
      if (group) group.ids.push(id);
      else groups.set(key, { kind: 'tag', ids: [id], tags: sorted });
    }
  } else {
    const perId = new Map<string, Set<string>>();
    for (const change of changes) {
      if (change.kind !== 'untag') continue;
      for (const id of change.ids) {
        const keys = perId.get(id) ?? new Set<string>();
        for (const key of change.keys) keys.add(key);
        perId.set(id, keys);
      }
    }
    for (const [id, keySet] of perId) {
      const keys = [...keySet].sort();
      const key = JSON.stringify(keys);
      const group = groups.get(key);
      if (group) group.ids.push(id);
      else groups.set(key, { kind: 'untag', ids: [id], keys });
    }
  }
  return [...groups.values()];
}
