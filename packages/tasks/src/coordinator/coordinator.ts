/**
 * The batch coordinator: sends a generation of candidates as tasks, collects their
 * results, and checkpoints. What it guarantees (docs/architecture.md invariant 6, docs/field-notes.md defects):
 * - results are matched by (run, generation, candidate, payload digest); duplicates and
 *   stale results (another run, an older generation, another payload) are dropped and
 *   counted, never applied to the wrong candidate;
 * - a missing result is never scored: the candidate is re-sent after a deadline and the
 *   generation waits; a candidate that cannot be evaluated at all (dead-lettered) stops
 *   the run, or is scored +Infinity explicitly when asked to;
 * - checkpoints are written atomically (ObjectStore.put) with the optimizer's full state.
 */
import { SynktiError, parseDuration } from '@synkti/core';
import { backoffCeilingMs } from '@synkti/core/backoff';
import type { TaskResult } from '../worker/types.ts';
import { encodeBatchTask, parseBatchResultValue, parseBatchTask, validateRunId } from './batch-task.ts';
import type {
  Coordinator,
  CoordinatorCheckpoint,
  CoordinatorCounters,
  CoordinatorEvent,
  CoordinatorMetrics,
  CoordinatorOptions,
  GenerationRecord,
  UnscorablePolicy,
} from './types.ts';

const DEFAULT_RESEND_AFTER_MS = 300_000;
const DEFAULT_POLL_WAIT_MS = 1000;
const DEFAULT_CHECK_EVERY_MS = 2000;
const DEFAULT_STRAGGLER_FACTOR = 2;
/** Shortest result wait while a straggler is due. */
const STRAGGLER_RECHECK_MS = 20;
/** Result messages stay hidden this long while one is being applied (it is acked at once after). */
const RESULT_LEASE_MS = 30_000;
const DEAD_LETTER_SCAN_LIMIT = 1000;
const MAX_CONSECUTIVE_FAILURES = 10;
/** Errors that are the run's verdict, not a backend hiccup to retry. */
const STOPPING_CODES = new Set(['E_CANDIDATE_UNSCORABLE', 'E_RUN_CANCELLED', 'E_ABORTED']);

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    // Not unref'd: this wait is the run's work, it must keep the process alive.
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function checkpointKeyOf(run: string): string {
  return `runs/${run}/checkpoint.json`;
}

export function cancelKeyOf(run: string): string {
  return `runs/${run}/cancel`;
}

export function emptyCoordinatorCounters(): CoordinatorCounters {
  return {
    sent: 0,
    resent: 0,
    reissued: 0,
    received: 0,
    accepted: 0,
    duplicatesDropped: 0,
    staleDropped: 0,
    failedResults: 0,
    deadLettered: 0,
    scoredWorst: 0,
    candidates: 0,
    scored: 0,
  };
}

interface Pending {
  generation: number;
  digests: string[];
  scores: Array<number | undefined>;
  /** Scored +Infinity under the 'worst' policy (not by a result). */
  worst: boolean[];
  lastSentAt: number[];
  /** When each candidate was first sent, and when its result was accepted (0: not yet). */
  firstSentAt: number[];
  scoredAt: number[];
  /** A straggler copy was sent. */
  reissued: boolean[];
  bodies: string[];
}

function isTaskResult(value: unknown): value is TaskResult {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.taskId === 'string' && typeof v.ok === 'boolean';
}

class BatchCoordinator implements Coordinator {
  readonly run: string;
  readonly checkpointKey: string;
  private readonly options: CoordinatorOptions;
  private readonly resendAfterMs: number;
  private readonly pollWaitMs: number;
  private readonly checkEveryMs: number;
  private readonly unscorable: UnscorablePolicy;
  private readonly clock: () => number;
  private readonly stragglerFactor: number;
  private counts: CoordinatorCounters = emptyCoordinatorCounters();
  private deadLetterIds = new Set<string>();
  private pending: Pending | undefined;
  /** The generation being evaluated, or the next one. */
  private generation = 0;

  constructor(options: CoordinatorOptions) {
    this.options = options;
    this.run = validateRunId(options.run);
    for (const field of ['tasks', 'results'] as const) {
      if (!options[field] || typeof options[field].receive !== 'function') {
        throw new SynktiError('E_COORDINATOR_OPTION', `${field}: a Queue is required`, {
          hint: 'open one with openLocalQueue, openPostgresQueue or openSqsQueue',
        });
      }
    }
    if (!options.store || typeof options.store.put !== 'function') {
      throw new SynktiError('E_COORDINATOR_OPTION', 'store: an ObjectStore is required for checkpoints', {
        hint: "pass the local cloud's objects or an S3 object store",
      });
    }
    if (typeof options.bucket !== 'string' || options.bucket === '') {
      throw new SynktiError('E_COORDINATOR_OPTION', 'bucket: the checkpoint bucket is required', {
        hint: 'create one with store.createBucket first',
      });
    }
    this.checkpointKey = options.checkpointKey ?? checkpointKeyOf(this.run);
    this.resendAfterMs = parseDuration(options.resendAfterMs ?? DEFAULT_RESEND_AFTER_MS, 'resendAfterMs');
    this.pollWaitMs = Math.min(parseDuration(options.pollWaitMs ?? DEFAULT_POLL_WAIT_MS, 'pollWaitMs'), 20_000);
    this.checkEveryMs = parseDuration(options.checkEveryMs ?? DEFAULT_CHECK_EVERY_MS, 'checkEveryMs');
    if (this.resendAfterMs < 1) {
      throw new SynktiError('E_COORDINATOR_OPTION', `resendAfterMs: ${this.resendAfterMs} must be positive`, {
        hint: 'omit it for 5 minutes',
      });
    }
    this.unscorable = options.unscorable ?? 'fail';
    if (this.unscorable !== 'fail' && this.unscorable !== 'worst') {
      throw new SynktiError('E_COORDINATOR_OPTION', `unscorable: ${JSON.stringify(options.unscorable)} must be "fail" or "worst"`, {
        hint: 'omit it to stop the run on an unscorable candidate',
      });
    }
    this.clock = options.clock ?? Date.now;
    this.stragglerFactor = options.stragglerFactor ?? DEFAULT_STRAGGLER_FACTOR;
    if (!Number.isFinite(this.stragglerFactor) || this.stragglerFactor < 0) {
      throw new SynktiError(
        'E_COORDINATOR_OPTION',
        `stragglerFactor: ${String(options.stragglerFactor)} must be 0 (off) or a positive number`,
        { hint: 'omit it for 2' },
      );
    }
  }

  counters(): CoordinatorCounters {
    return { ...this.counts };
  }

  lostTasks(): number {
    return this.counts.candidates - this.counts.scored - this.counts.scoredWorst;
  }

  async evaluate<P>(generation: number, payloads: readonly P[]): Promise<number[]> {
    if (!Number.isInteger(generation) || generation < 0) {
      throw new SynktiError('E_COORDINATOR_USAGE', `generation: ${generation} must be a non-negative integer`, {
        hint: 'pass the number of generations completed so far',
      });
    }
    if (payloads.length === 0)
      throw new SynktiError('E_COORDINATOR_USAGE', 'a generation needs at least one candidate', {
        hint: "pass the optimizer's ask() output",
      });
    this.generation = generation;
    const encoded = payloads.map((payload, candidate) => encodeBatchTask({ run: this.run, generation, candidate }, payload));
    const pending: Pending = {
      generation,
      digests: encoded.map((e) => e.digest),
      bodies: encoded.map((e) => e.body),
      scores: payloads.map(() => undefined),
      worst: payloads.map(() => false),
      lastSentAt: payloads.map(() => 0),
      firstSentAt: payloads.map(() => 0),
      scoredAt: payloads.map(() => 0),
      reissued: payloads.map(() => false),
    };
    this.pending = pending;
    try {
      await this.send(
        pending,
        pending.bodies.map((_, i) => i),
        false,
      );
      let nextCheck = 0;
      let failures = 0;
      while (pending.scores.some((s) => s === undefined)) {
        this.throwIfAborted();
        try {
          // Wake when the next straggler is due, not only when a result comes.
          const lateIn = this.stragglerDueIn(pending, this.clock());
          // (At least STRAGGLER_RECHECK_MS: a straggler with no idle worker for it must not spin the loop.)
          const waitMs =
            lateIn === undefined ? this.pollWaitMs : Math.min(this.pollWaitMs, Math.max(STRAGGLER_RECHECK_MS, Math.ceil(lateIn)));
          const messages = await this.options.results.receive({
            maxMessages: 10,
            waitMs,
            leaseMs: RESULT_LEASE_MS,
            signal: this.options.signal,
          });
          for (const message of messages) {
            this.counts.received += 1;
            this.apply(message.body, pending);
            // The result is applied in memory; it is checkpointed with its generation. A crash
            // before that re-sends the whole generation on resume, so nothing depends on it.
            await this.options.results.ack(message);
          }
          const now = this.clock();
          if (now >= nextCheck) {
            nextCheck = now + this.checkEveryMs;
            await this.checkCancelled();
            await this.scanDeadLetters(pending);
          }
          const overdue = pending.scores.flatMap((s, i) =>
            s === undefined && now - pending.lastSentAt[i]! >= this.resendAfterMs ? [i] : [],
          );
          if (overdue.length > 0) await this.send(pending, overdue, true);
          if (this.stragglerFactor > 0 && this.options.workersAlive) await this.reissueStragglers(pending, now);
          failures = 0;
        } catch (error) {
          // The run's own verdicts end it; a queue or store hiccup is retried with backoff.
          if (error instanceof SynktiError && STOPPING_CODES.has(error.code)) throw error;
          failures += 1;
          this.emit({ type: 'backend-error', error: error instanceof Error ? error.message : String(error), attempt: failures });
          if (failures > MAX_CONSECUTIVE_FAILURES) {
            throw new SynktiError('E_COORDINATOR_BACKEND', `run ${this.run}: the queue or object store failed ${failures} times in a row`, {
              cause: error,
              hint: `check the backend, then resume with --resume ${this.run}`,
            });
          }
          await abortableSleep(backoffCeilingMs(failures - 1, { baseMs: 250, capMs: 5000 }), this.options.signal);
        }
      }
      const scores = pending.scores as number[];
      this.counts.candidates += scores.length;
      this.counts.scored += pending.worst.filter((w) => !w).length;
      this.counts.scoredWorst += pending.worst.filter(Boolean).length;
      this.generation = generation + 1;
      return [...scores];
    } finally {
      this.pending = undefined;
    }
  }

  private async send(pending: Pending, candidates: number[], resend: boolean, reissue = false): Promise<void> {
    await this.options.tasks.sendBatch(candidates.map((i) => pending.bodies[i]!));
    const now = this.clock();
    for (const i of candidates) {
      pending.lastSentAt[i] = now;
      if (pending.firstSentAt[i] === 0) pending.firstSentAt[i] = now;
    }
    this.counts.sent += candidates.length;
    if (resend) this.counts.resent += candidates.length;
    if (reissue) this.counts.reissued = (this.counts.reissued ?? 0) + candidates.length;
    this.emit({ type: 'sent', generation: pending.generation, count: candidates.length, resend, ...(reissue ? { reissue } : {}) });
  }

  /**
   * The generation's tail must not wait on one slow worker: once half the candidates are
   * scored, one still out after stragglerFactor × the median time to result gets a copy,
   * if a worker is idle to take it now (nothing waiting in the queue, fewer tasks in flight
   * than workers). At most one copy per candidate and generation.
   */
  /** How long a candidate may go without a result before it is a straggler; undefined before half are scored. */
  private stragglerThreshold(pending: Pending): number | undefined {
    if (this.stragglerFactor === 0 || !this.options.workersAlive) return undefined;
    const latencies = pending.scoredAt.flatMap((at, i) => (at > 0 && !pending.worst[i] ? [at - pending.firstSentAt[i]!] : []));
    if (latencies.length * 2 < pending.scores.length) return undefined;
    latencies.sort((a, b) => a - b);
    return this.stragglerFactor * latencies[Math.floor(latencies.length / 2)]!;
  }

  /** Milliseconds until the next outstanding candidate becomes a straggler (≤ 0: one is), or undefined. */
  private stragglerDueIn(pending: Pending, now: number): number | undefined {
    const threshold = this.stragglerThreshold(pending);
    if (threshold === undefined) return undefined;
    let due: number | undefined;
    pending.scores.forEach((s, i) => {
      if (s !== undefined || pending.reissued[i]) return;
      const left = pending.firstSentAt[i]! + threshold - now;
      due = due === undefined ? left : Math.min(due, left);
    });
    return due;
  }

  private async reissueStragglers(pending: Pending, now: number): Promise<void> {
    const threshold = this.stragglerThreshold(pending);
    if (threshold === undefined) return;
    const late = pending.scores.flatMap((s, i) =>
      s === undefined && !pending.reissued[i] && now - pending.firstSentAt[i]! > threshold ? [i] : [],
    );
    if (late.length === 0) return;
    const workers = await this.options.workersAlive?.();
    if (workers === undefined) return;
    const stats = await this.options.tasks.stats();
    const idle = workers - stats.inFlight;
    if (stats.depth > 0 || idle <= 0) return;
    const copies = late.slice(0, idle);
    for (const i of copies) pending.reissued[i] = true;
    await this.send(pending, copies, false, true);
  }

  private apply(body: string, pending: Pending): void {
    let value: unknown;
    try {
      const result: unknown = JSON.parse(body);
      if (!isTaskResult(result)) throw new Error('not a task result');
      value = result.value;
    } catch {
      this.drop('stale', 'an unreadable result message');
      return;
    }
    const key = parseBatchResultValue(value);
    if (!key) return this.drop('stale', 'a result without a batch key (a failed task outside the batch handler?)');
    if (key.run !== this.run) return this.drop('stale', `a result of run ${key.run}`);
    if (key.generation !== pending.generation)
      return this.drop('stale', `a result of generation ${key.generation} during generation ${pending.generation}`);
    const candidate = key.candidate;
    if (candidate < 0 || candidate >= pending.scores.length || pending.digests[candidate] !== key.digest) {
      return this.drop('stale', `a result for another payload of candidate ${candidate}`);
    }
    if (pending.scores[candidate] !== undefined) return this.drop('duplicate', `candidate ${candidate} of generation ${key.generation}`);
    if (key.error !== undefined || typeof key.score !== 'number' || !Number.isFinite(key.score)) {
      const error = key.error ?? `the objective returned ${String(key.score)}`;
      this.counts.failedResults += 1;
      this.emit({ type: 'failed-result', generation: key.generation, candidate, error });
      this.unscorableCandidate(pending, candidate, `its evaluation failed: ${error}`);
      return;
    }
    pending.scores[candidate] = key.score;
    pending.scoredAt[candidate] = this.clock();
    this.counts.accepted += 1;
  }

  private unscorableCandidate(pending: Pending, candidate: number, why: string): void {
    if (this.unscorable === 'worst') {
      pending.scores[candidate] = Number.POSITIVE_INFINITY;
      pending.worst[candidate] = true;
      return;
    }
    throw new SynktiError(
      'E_CANDIDATE_UNSCORABLE',
      `run ${this.run}: candidate ${candidate} of generation ${pending.generation} cannot be scored: ${why}`,
      {
        hint: `fix the objective, then \`synkti batch dlq redrive --run ${this.run}\` and resume with --resume ${this.run} (or accept it as the worst score with --unscorable worst)`,
      },
    );
  }

  private drop(reason: 'duplicate' | 'stale', detail: string): void {
    if (reason === 'duplicate') this.counts.duplicatesDropped += 1;
    else this.counts.staleDropped += 1;
    this.emit({ type: 'dropped', reason, detail });
  }

  private async scanDeadLetters(pending: Pending): Promise<void> {
    const letters = await this.options.tasks.deadLetters({ limit: DEAD_LETTER_SCAN_LIMIT });
    for (const letter of letters) {
      let task;
      try {
        task = parseBatchTask(letter.body);
      } catch {
        continue;
      }
      if (task.run !== this.run) continue;
      // Counted once; but a letter seen before (and redriven, then dead again) still blocks its candidate.
      if (!this.deadLetterIds.has(letter.id)) {
        this.deadLetterIds.add(letter.id);
        this.counts.deadLettered += 1;
        this.emit({ type: 'dead-letter', generation: task.generation, candidate: task.candidate, error: letter.lastError });
      }
      const current = task.generation === pending.generation && pending.digests[task.candidate] === task.digest;
      if (current && pending.scores[task.candidate] === undefined) {
        this.unscorableCandidate(
          pending,
          task.candidate,
          `its task was dead-lettered after ${letter.receiveCount} deliveries: ${letter.lastError}`,
        );
      }
    }
  }

  private async checkCancelled(): Promise<void> {
    if (await this.options.store.head(this.options.bucket, cancelKeyOf(this.run))) {
      throw new SynktiError('E_RUN_CANCELLED', `run ${this.run} was cancelled`, {
        hint: `its last checkpoint is kept; \`synkti batch status ${this.run}\` shows it`,
      });
    }
  }

  private throwIfAborted(): void {
    if (this.options.signal?.aborted) {
      throw new SynktiError('E_ABORTED', `run ${this.run}: stopped before generation ${this.generation} finished`, {
        cause: this.options.signal.reason,
        hint: `resume it with --resume ${this.run}`,
      });
    }
  }

  private emit(event: CoordinatorEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A throwing listener must not break the run.
    }
  }

  async saveCheckpoint<S, M>(input: {
    status: CoordinatorCheckpoint['status'];
    generation: number;
    optimizer: S;
    meta: M;
    history: GenerationRecord[];
    stopReason?: string | undefined;
    createdAt?: number | undefined;
  }): Promise<CoordinatorCheckpoint<S, M>> {
    const now = this.clock();
    const checkpoint: CoordinatorCheckpoint<S, M> = {
      kind: 'synkti.batch.checkpoint',
      version: 1,
      run: this.run,
      status: input.status,
      generation: input.generation,
      optimizer: input.optimizer,
      meta: input.meta,
      counters: this.counters(),
      deadLetterIds: [...this.deadLetterIds],
      history: input.history,
      stopReason: input.stopReason,
      createdAt: input.createdAt ?? now,
      updatedAt: now,
    };
    await this.options.store.put(this.options.bucket, this.checkpointKey, JSON.stringify(checkpoint));
    return checkpoint;
  }

  async loadCheckpoint<S, M>(options: { adopt?: boolean } = {}): Promise<CoordinatorCheckpoint<S, M> | undefined> {
    const checkpoint = await readCheckpoint<S, M>(this.options.store, this.options.bucket, this.checkpointKey);
    if (checkpoint && checkpoint.run !== this.run) {
      throw new SynktiError('E_CHECKPOINT', `${this.checkpointKey} belongs to run ${checkpoint.run}, not ${this.run}`, {
        hint: 'use the run id the checkpoint was written for',
      });
    }
    if (checkpoint && options.adopt) {
      this.counts = { ...emptyCoordinatorCounters(), ...checkpoint.counters };
      this.deadLetterIds = new Set(checkpoint.deadLetterIds);
      this.generation = checkpoint.generation;
    }
    return checkpoint;
  }

  async metrics(): Promise<CoordinatorMetrics> {
    const stats = await this.options.tasks.stats();
    const workers = this.options.workersAlive ? await this.options.workersAlive() : undefined;
    const backlog = stats.depth + stats.delayed + stats.inFlight;
    const pending = this.pending;
    return {
      run: this.run,
      generation: this.generation,
      outstanding: pending ? pending.scores.filter((s) => s === undefined).length : 0,
      backlog,
      queueDepth: stats.depth,
      queueInFlight: stats.inFlight,
      queueDeadLettered: stats.deadLettered,
      workers,
      backlogPerWorker: workers === undefined || workers <= 0 ? backlog : backlog / workers,
      counters: this.counters(),
      at: this.clock(),
    };
  }
}

/** Reads and checks a checkpoint; undefined when there is none. */
export async function readCheckpoint<S = unknown, M = unknown>(
  store: CoordinatorOptions['store'],
  bucket: string,
  key: string,
): Promise<CoordinatorCheckpoint<S, M> | undefined> {
  const bytes = await store.get(bucket, key);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new SynktiError('E_CHECKPOINT', `${bucket}/${key} is not JSON`, {
      cause,
      hint: 'checkpoints are written whole (atomic put); was it edited by hand?',
    });
  }
  const v = value as Partial<CoordinatorCheckpoint>;
  if (
    v?.kind !== 'synkti.batch.checkpoint' ||
    v.version !== 1 ||
    typeof v.run !== 'string' ||
    !Number.isInteger(v.generation) ||
    !v.counters
  ) {
    throw new SynktiError('E_CHECKPOINT', `${bucket}/${key} is not a version-1 batch checkpoint`, {
      hint: 'resume it with the Synkti version that wrote it',
    });
  }
  return value as CoordinatorCheckpoint<S, M>;
}

/** Makes a coordinator for one run. */
export function createCoordinator(options: CoordinatorOptions): Coordinator {
  return new BatchCoordinator(options);
}
