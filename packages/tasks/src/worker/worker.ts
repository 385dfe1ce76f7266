/**
 * The task worker: leases tasks from a queue, runs a handler on each, and keeps the
 * "work is never lost" invariant:
 * - a task is acked only after its result is durably stored (a crash in between gives
 *   a duplicate result, never a missing one);
 * - while a task runs its lease is extended by heartbeats, so a long task is not handed
 *   to a second worker; if a heartbeat finds the lease lost, the handler is aborted;
 * - a thrown error releases the task with the error, so it is retried, and after
 *   `maxAttempts` deliveries it is dead-lettered with that error;
 * - `releaseAll` gives every lease back at once (on a spot notice), so peers pick the
 *   tasks up in seconds instead of waiting for the leases to run out.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { SynktiError, parseDuration } from '@synkti/core';
import { QUEUE_LIMITS, type LeasedMessage } from '../queue/types.ts';
import type { ResultSink, TaskHandler, TaskOutcome, TaskResult, Worker, WorkerErrorContext, WorkerOptions, WorkerStats } from './types.ts';
import { backoffCeilingMs } from '@synkti/core/backoff';

const DEFAULT_LEASE_MS = 60_000;
const DEFAULT_POLL_WAIT_MS = 20_000;
const DEFAULT_RESULT_ATTEMPTS = 3;
const RECEIVE_BACKOFF_MS = [250, 500, 1000, 2000, 5000];
export const DEFAULT_RELEASE_REASON = 'released by its worker (spot interruption notice)';

interface Running {
  message: LeasedMessage;
  controller: AbortController;
  /** Handed back by releaseAll: whatever the handler does now, the task is someone else's. */
  released: boolean;
  /** A heartbeat found the lease gone. */
  lost: boolean;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
}

function isOutcome(value: unknown): value is TaskOutcome<unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as { ok?: unknown; error?: unknown };
  return v.ok === true || (v.ok === false && typeof v.error === 'string');
}

function defaultOnError(workerId: string): (error: unknown, context: WorkerErrorContext) => void {
  return (error, context) => {
    const task = context.taskId ? ` task ${context.taskId} (attempt ${context.attempt})` : '';
    process.stderr.write(`synkti worker ${workerId}: ${context.stage}${task}: ${errorText(error)}\n`);
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

class TaskWorker<V> implements Worker {
  readonly id: string;
  private readonly options: WorkerOptions<V>;
  private readonly handler: TaskHandler<V>;
  private readonly sink: ResultSink<V> | undefined;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly heartbeatEveryMs: number;
  private readonly maxAttempts: number;
  private readonly pollWaitMs: number;
  private readonly resultAttempts: number;
  private readonly onError: (error: unknown, context: WorkerErrorContext) => void;
  private readonly running = new Set<Running>();
  private readonly counters = { received: 0, completed: 0, failedResults: 0, crashed: 0, released: 0, deadLettered: 0 };
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private paused = false;
  /** Aborts the current long poll (stop, releaseAll). */
  private pollAbort = new AbortController();
  /** Ends sleeps in the loop when the worker stops. */
  private readonly stopAbort = new AbortController();
  private loop: Promise<void> | undefined;
  private slotFreed: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  private readonly onSignal = (): void => {
    void this.stop();
  };

  constructor(options: WorkerOptions<V>) {
    this.options = options;
    if (!options.queue || typeof options.queue.receive !== 'function') {
      throw new SynktiError('E_WORKER_OPTION', 'queue: a Queue is required', {
        hint: 'open one with openLocalQueue, openPostgresQueue or openSqsQueue',
      });
    }
    if (typeof options.handler !== 'function') {
      throw new SynktiError('E_WORKER_OPTION', 'handler: a function is required', { hint: 'pass async (task) => ({ ok: true, value })' });
    }
    this.handler = options.handler;
    this.sink = options.resultSink;
    this.concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1 || this.concurrency > 1000) {
      throw new SynktiError('E_WORKER_OPTION', `concurrency: ${options.concurrency} must be an integer from 1 to 1000`, {
        hint: 'omit it for one task at a time',
      });
    }
    this.leaseMs = parseDuration(options.leaseMs ?? DEFAULT_LEASE_MS, 'leaseMs');
    if (this.leaseMs < 1 || this.leaseMs > QUEUE_LIMITS.maxLeaseMs) {
      throw new SynktiError('E_WORKER_OPTION', `leaseMs: ${this.leaseMs} ms is outside 1 ms..12 h`, { hint: 'use a lease like "60s"' });
    }
    this.heartbeatEveryMs =
      options.heartbeatEveryMs === undefined
        ? Math.max(1, Math.floor(this.leaseMs / 3))
        : parseDuration(options.heartbeatEveryMs, 'heartbeatEveryMs');
    if (this.heartbeatEveryMs < 1 || this.heartbeatEveryMs >= this.leaseMs) {
      throw new SynktiError(
        'E_WORKER_OPTION',
        `heartbeatEveryMs: ${this.heartbeatEveryMs} ms must be shorter than the ${this.leaseMs} ms lease`,
        {
          hint: 'omit it for a third of the lease',
        },
      );
    }
    this.maxAttempts = options.maxAttempts ?? options.queue.maxReceives;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new SynktiError('E_WORKER_OPTION', `maxAttempts: ${options.maxAttempts} must be a positive integer`, {
        hint: "omit it to use the queue's maxReceives",
      });
    }
    this.pollWaitMs = parseDuration(options.pollWaitMs ?? DEFAULT_POLL_WAIT_MS, 'pollWaitMs');
    if (this.pollWaitMs > QUEUE_LIMITS.maxWaitMs) {
      throw new SynktiError('E_WORKER_OPTION', `pollWaitMs: ${this.pollWaitMs} ms is over the 20 s long-poll limit`, {
        hint: 'use "20s" or less',
      });
    }
    this.resultAttempts = options.resultAttempts ?? DEFAULT_RESULT_ATTEMPTS;
    if (!Number.isInteger(this.resultAttempts) || this.resultAttempts < 1) {
      throw new SynktiError('E_WORKER_OPTION', `resultAttempts: ${options.resultAttempts} must be a positive integer`, {
        hint: 'omit it for 3',
      });
    }
    this.id = options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.onError = options.onError ?? defaultOnError(this.id);
  }

  start(): void {
    if (this.state !== 'new') return;
    this.state = 'running';
    if (this.options.signal?.aborted) {
      void this.stop();
      return;
    }
    this.options.signal?.addEventListener('abort', this.onSignal, { once: true });
    this.loop = this.run();
  }

  stop(options: { release?: boolean } = {}): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      this.state = 'stopping';
      this.options.signal?.removeEventListener('abort', this.onSignal);
      this.pollAbort.abort();
      this.stopAbort.abort();
      this.wake();
      if (options.release) await this.releaseAll('released by its worker, which is stopping');
      await this.loop;
      while (this.running.size > 0) await this.slotFree();
      this.state = 'stopped';
    })();
    return this.stopping;
  }

  async releaseAll(reason = DEFAULT_RELEASE_REASON): Promise<number> {
    this.paused = true;
    this.pollAbort.abort();
    const tasks = [...this.running].filter((task) => !task.released && !task.lost);
    const results = await Promise.all(
      tasks.map(async (task) => {
        task.released = true;
        task.controller.abort(new SynktiError('E_TASK_RELEASED', `task ${task.message.id} was handed back: ${reason}`));
        try {
          return await this.options.queue.release(task.message, { error: reason });
        } catch (error) {
          this.report(error, 'release', task.message);
          return false;
        }
      }),
    );
    const released = results.filter(Boolean).length;
    this.counters.released += released;
    return released;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.wake();
  }

  stats(): WorkerStats {
    return { inFlight: this.running.size, ...this.counters };
  }

  private report(error: unknown, stage: WorkerErrorContext['stage'], message?: LeasedMessage): void {
    try {
      this.onError(error, { stage, taskId: message?.id, attempt: message?.receiveCount });
    } catch {
      // A throwing error callback must not stop the worker.
    }
  }

  private wake(): void {
    const wake = this.slotFreed;
    this.slotFreed = undefined;
    wake?.();
  }

  /** Resolves when a task ends, or on resume or stop. */
  private slotFree(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.slotFreed;
      this.slotFreed = () => {
        previous?.();
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.state === 'running') {
      if (this.paused || this.running.size >= this.concurrency) {
        await this.slotFree();
        continue;
      }
      if (this.pollAbort.signal.aborted) this.pollAbort = new AbortController();
      let messages: LeasedMessage[];
      try {
        messages = await this.options.queue.receive({
          maxMessages: Math.min(QUEUE_LIMITS.maxBatch, this.concurrency - this.running.size),
          leaseMs: this.leaseMs,
          waitMs: this.pollWaitMs,
          signal: this.pollAbort.signal,
        });
        failures = 0;
      } catch (error) {
        if (this.state !== 'running') break;
        this.report(error, 'receive');
        await sleep(RECEIVE_BACKOFF_MS[Math.min(failures, RECEIVE_BACKOFF_MS.length - 1)]!, this.stopAbort.signal);
        failures += 1;
        continue;
      }
      if (this.state !== 'running' || this.paused) {
        // Received while stopping or pausing: give them straight back.
        await Promise.all(messages.map((m) => this.options.queue.release(m).catch((error: unknown) => this.report(error, 'release', m))));
        continue;
      }
      this.counters.received += messages.length;
      for (const message of messages) void this.runTask(message);
    }
  }

  private async runTask(message: LeasedMessage): Promise<void> {
    const task: Running = { message, controller: new AbortController(), released: false, lost: false };
    this.running.add(task);
    const heartbeat = this.startHeartbeat(task);
    try {
      let outcome: TaskOutcome<V>;
      try {
        const value: unknown = await this.handler({
          id: message.id,
          body: message.body,
          attempt: message.receiveCount,
          signal: task.controller.signal,
          message,
        });
        if (!isOutcome(value)) {
          throw new SynktiError(
            'E_TASK_OUTCOME',
            `the handler returned ${JSON.stringify(value) ?? String(value)} instead of { ok: true, value } or { ok: false, error }`,
            {
              hint: 'return a TaskOutcome; throw only for errors worth a retry',
            },
          );
        }
        outcome = value as TaskOutcome<V>;
      } catch (error) {
        await this.crashed(task, error);
        return;
      }
      await this.finish(task, outcome);
    } finally {
      heartbeat.stop();
      this.running.delete(task);
      this.wake();
    }
  }

  /** Extends the lease every heartbeatEveryMs until stopped; a refused extension means the lease is lost. */
  private startHeartbeat(task: Running): { stop(): void } {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const beat = async (): Promise<void> => {
      if (stopped || task.released || task.lost) return;
      try {
        const ok = await this.options.queue.extendLease(task.message, this.leaseMs);
        if (!ok && !stopped && !task.released) {
          task.lost = true;
          const error = new SynktiError('E_LEASE_LOST', `the lease on task ${task.message.id} was lost (another worker may have it now)`, {
            hint: 'the lease ran out between heartbeats: use a longer lease or more frequent heartbeats',
          });
          this.report(error, 'heartbeat', task.message);
          task.controller.abort(error);
          return;
        }
      } catch (error) {
        // A failed call is not a lost lease: try again at the next beat.
        this.report(error, 'heartbeat', task.message);
      }
      schedule();
    };
    const schedule = (): void => {
      if (stopped) return;
      timer = setTimeout(() => {
        void beat();
      }, this.heartbeatEveryMs);
      timer.unref();
    };
    schedule();
    return {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
      },
    };
  }

  private async crashed(task: Running, error: unknown): Promise<void> {
    const { message } = task;
    // Handed back or lost: the task already belongs to someone else; nothing to release.
    if (task.released || task.lost) return;
    this.counters.crashed += 1;
    this.report(error, 'handler', message);
    const text = errorText(error);
    try {
      if (message.receiveCount >= this.maxAttempts) {
        if (await this.options.queue.deadLetter(message, text)) this.counters.deadLettered += 1;
      } else if (await this.options.queue.release(message, { error: text })) {
        this.counters.released += 1;
      }
    } catch (releaseError) {
      // The lease will run out and the task come back anyway.
      this.report(releaseError, 'release', message);
    }
  }

  private async finish(task: Running, outcome: TaskOutcome<V>): Promise<void> {
    const { message } = task;
    if (this.sink) {
      const result: TaskResult<V> = outcome.ok
        ? { taskId: message.id, ok: true, value: outcome.value, attempt: message.receiveCount, workerId: this.id, finishedAt: Date.now() }
        : { taskId: message.id, ok: false, error: outcome.error, attempt: message.receiveCount, workerId: this.id, finishedAt: Date.now() };
      // Even a handed-back task's result is sent: a duplicate is harmless, a result thrown away is wasted work.
      if (!(await this.storeResult(result, message))) {
        if (task.released || task.lost) return;
        try {
          if (await this.options.queue.release(message, { error: 'its result could not be stored' })) this.counters.released += 1;
        } catch (error) {
          this.report(error, 'release', message);
        }
        return;
      }
    }
    if (task.released || task.lost) return;
    // Only now, with the result stored, may the task leave the queue (invariant 6).
    try {
      if (await this.options.queue.ack(message)) {
        this.counters.completed += 1;
        if (!outcome.ok) this.counters.failedResults += 1;
      } else {
        this.report(
          new SynktiError(
            'E_LEASE_LOST',
            `task ${message.id} could not be acked: its lease is no longer this worker's (the result was stored; a duplicate may follow)`,
          ),
          'ack',
          message,
        );
      }
    } catch (error) {
      // Not acked: the lease runs out and the task is redone; its result was stored, so the cost is a duplicate.
      this.report(error, 'ack', message);
    }
  }

  private async storeResult(result: TaskResult<V>, message: LeasedMessage): Promise<boolean> {
    for (let attempt = 1; attempt <= this.resultAttempts; attempt += 1) {
      try {
        await this.sink!.send(result);
        return true;
      } catch (error) {
        this.report(error, 'result', message);
        if (attempt < this.resultAttempts)
          await sleep(backoffCeilingMs(attempt - 1, { baseMs: 200, capMs: Infinity }), this.stopAbort.signal);
      }
    }
    return false;
  }
}

/** Makes a worker; call `start()` to begin. */
export function createWorker<V = unknown>(options: WorkerOptions<V>): Worker {
  return new TaskWorker(options);
}
