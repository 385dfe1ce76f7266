/**
 * A pipeline agent: one process of a pool. It claims only its pool's task types, runs up
 * to `concurrency` handlers at once, heartbeats its tasks (a heartbeat that comes back
 * "lost" aborts the handler: the requeuer or a cancel took the task), stores big results
 * in the object store and completes with a reference, and on a spot notice
 * (`releaseAll`, or its `signal`) hands every task back at once so other agents take
 * them in one claim interval instead of one timeout. It also runs the requeuer (on by
 * default; only one node in the fleet actually sweeps at a time).
 */
import { randomUUID } from 'node:crypto';
import { SynktiError } from '@synkti/core';
import { PIPELINE_LOG_EVENTS, type LogEvent } from '@synkti/core/contracts';
import type { ObjectStore } from '@synkti/cloud';
import { PermanentTaskError, type Pipeline, type PipelineStage, type PipelineTaskContext, type StageTask } from './define-pipeline.ts';
import { PipelineQueueMetrics, type QueueMetricsSink } from './pipeline-queue-metrics.ts';
import { PipelineRequeuer, type PipelineRequeuerOptions } from './pipeline-requeuer.ts';
import { readPipelineResult } from './result-store.ts';
import type { ClaimedPipelineTask, Json, NewPipelineTask, TaskDatabase } from './types.ts';

export interface PipelineAgentOptions {
  db: TaskDatabase;
  /** The pipelines whose stages this agent may run. */
  pipelines: Pipeline | Pipeline[];
  /** This agent's pool: it claims the task types of the stages in this pool. */
  pool: string;
  /** @default "<pool>-<random>" */
  agentId?: string | undefined;
  /**
   * Handlers running at once.
   * @default 1
   */
  concurrency?: number | undefined;
  /**
   * How often running tasks are heartbeated (keep it well under the stages' timeouts).
   * @default 2000
   */
  heartbeatMs?: number | undefined;
  /**
   * How long an idle agent waits before claiming again.
   * @default 200
   */
  pollMs?: number | undefined;
  /** Where results bigger than `inlineResultBytes` go (by reference). Without it every result is stored inline. */
  store?: { store: ObjectStore; bucket: string } | undefined;
  /**
   * Results whose JSON is larger go to the object store.
   * @default 65536
   */
  inlineResultBytes?: number | undefined;
  /**
   * The requeuer this node runs; `false` turns it off here (keep it on somewhere: it is what
   * brings back the tasks of agents that died).
   * @default {} (on, with its defaults)
   */
  requeuer?: false | Omit<PipelineRequeuerOptions, 'db' | 'nodeId'> | undefined;
  /**
   * Publish queue depth per pool (ready + claimed) to this sink while this node holds the
   * requeuer lease (one publisher fleet-wide). Needs the requeuer on.
   */
  queueMetrics?: { sink: QueueMetricsSink; intervalMs?: number | undefined } | undefined;
  /** Aborting it acts as a spot notice: every task is handed back and the agent stops. */
  signal?: AbortSignal | undefined;
  /** Logs (one line each); failures carry a structured event (PIPELINE_LOG_EVENTS) that alarms match. */
  onLog?: ((line: string, event?: LogEvent) => void) | undefined;
}

export interface PipelineAgentStats {
  claimed: number;
  completed: number;
  /** Completions discarded because another claim finished the task first. */
  duplicates: number;
  /** Completions refused because the task was cancelled or failed meanwhile. */
  gone: number;
  failed: number;
  released: number;
  /** Tasks the database said this agent no longer holds (handler aborted). */
  lost: number;
  inFlight: number;
}

interface Running {
  task: ClaimedPipelineTask;
  controller: AbortController;
  progress: number | undefined;
  released: boolean;
  done: Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export class PipelineAgent {
  readonly id: string;
  readonly pool: string;
  readonly types: string[];
  readonly requeuer: PipelineRequeuer | undefined;
  readonly queueMetrics: PipelineQueueMetrics | undefined;
  private readonly db: TaskDatabase;
  private readonly options: PipelineAgentOptions;
  private readonly stages = new Map<string, { pipeline: Pipeline; stage: PipelineStage }>();
  private readonly concurrency: number;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly inlineResultBytes: number;
  private readonly running = new Map<string, Running>();
  private readonly stopController = new AbortController();
  private readonly wake = { resolve: undefined as (() => void) | undefined };
  private readonly counts: Omit<PipelineAgentStats, 'inFlight'> = {
    claimed: 0,
    completed: 0,
    duplicates: 0,
    gone: 0,
    failed: 0,
    released: 0,
    lost: 0,
  };
  private loop: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: PipelineAgentOptions) {
    this.options = options;
    this.db = options.db;
    this.pool = options.pool;
    this.id = options.agentId ?? `${options.pool}-${randomUUID().slice(0, 8)}`;
    this.concurrency = options.concurrency ?? 1;
    this.heartbeatMs = options.heartbeatMs ?? 2000;
    this.pollMs = options.pollMs ?? 200;
    this.inlineResultBytes = options.inlineResultBytes ?? 64 * 1024;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1 || this.concurrency > 1000) {
      throw new SynktiError('E_PIPELINE_OPTION', `concurrency ${this.concurrency} must be a whole number from 1 to 1000`, {
        hint: 'omit it for 1',
      });
    }
    for (const pipeline of Array.isArray(options.pipelines) ? options.pipelines : [options.pipelines]) {
      for (const stage of pipeline.stages.values()) if (stage.pool === options.pool) this.stages.set(stage.type, { pipeline, stage });
    }
    this.types = [...this.stages.keys()];
    if (this.types.length === 0) {
      throw new SynktiError('E_PIPELINE_OPTION', `no stage of the given pipelines runs in pool "${options.pool}"`, {
        hint: 'start the agent with one of the pools its pipelines name',
      });
    }
    this.requeuer =
      options.requeuer === false
        ? undefined
        : new PipelineRequeuer({
            ...options.requeuer,
            db: this.db,
            nodeId: this.id,
            onError: options.requeuer?.onError ?? ((e) => this.log(`requeuer: ${String((e as Error)?.message ?? e)}`)),
          });
    if (options.queueMetrics && !this.requeuer) {
      throw new SynktiError('E_PIPELINE_OPTION', 'queueMetrics needs the requeuer on (the lease holder is the one publisher)', {
        hint: 'drop requeuer: false',
      });
    }
    this.queueMetrics =
      options.queueMetrics && this.requeuer
        ? new PipelineQueueMetrics({
            db: this.db,
            pipelines: Array.isArray(options.pipelines) ? options.pipelines : [options.pipelines],
            requeuer: this.requeuer,
            sink: options.queueMetrics.sink,
            intervalMs: options.queueMetrics.intervalMs,
            onError: (e) => this.log(`queue metrics: ${String((e as Error)?.message ?? e)}`),
          })
        : undefined;
  }

  private log(line: string, event?: LogEvent): void {
    this.options.onLog?.(line, event);
  }

  start(): void {
    if (this.loop || this.stopping) return;
    this.options.signal?.addEventListener(
      'abort',
      () => {
        void this.releaseAll().then(() => this.stop());
      },
      { once: true },
    );
    this.heartbeatTimer = setInterval(() => {
      void this.heartbeat();
    }, this.heartbeatMs);
    this.heartbeatTimer.unref();
    void this.db
      .agentHeartbeat({ id: this.id, pool: this.pool, types: this.types })
      .catch((e: unknown) => this.log(`membership: ${String(e)}`));
    this.requeuer?.start();
    this.queueMetrics?.start();
    this.loop = this.claimLoop();
  }

  stats(): PipelineAgentStats {
    return { ...this.counts, inFlight: this.running.size };
  }

  private async claimLoop(): Promise<void> {
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      const free = this.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.wake.resolve = resolve;
        });
        continue;
      }
      let claimed: ClaimedPipelineTask[] = [];
      try {
        claimed = await this.db.claim({ agentId: this.id, types: this.types, limit: free });
      } catch (error) {
        const message = String((error as Error)?.message ?? error);
        this.log(`claim failed: ${message}`, { event: PIPELINE_LOG_EVENTS.claimFailed, error: message });
        await sleep(this.pollMs * 5, stop);
        continue;
      }
      if (stop.aborted) {
        // Stopped while claiming: hand them straight back.
        for (const task of claimed) await this.db.release(task.id, task.claim, this.id).catch(() => undefined);
        return;
      }
      for (const task of claimed) this.runTask(task);
      this.counts.claimed += claimed.length;
      if (claimed.length === 0) await sleep(this.pollMs, stop);
    }
  }

  private runTask(task: ClaimedPipelineTask): void {
    const controller = new AbortController();
    const entry: Running = { task, controller, progress: undefined, released: false, done: Promise.resolve() };
    this.running.set(task.id, entry);
    entry.done = this.execute(entry)
      .catch((error: unknown) => this.log(`task ${task.key}: ${String((error as Error)?.message ?? error)}`))
      .finally(() => {
        this.running.delete(task.id);
        const wake = this.wake.resolve;
        this.wake.resolve = undefined;
        wake?.();
      });
  }

  private async execute(entry: Running): Promise<void> {
    const { task, controller } = entry;
    const found = this.stages.get(task.type);
    if (!found) throw new Error(`no stage for type ${task.type}`);
    const { pipeline, stage } = found;
    const spawned: NewPipelineTask[] = [];
    const ctx: PipelineTaskContext = {
      pipeline: pipeline.name,
      stage: stage.name,
      task,
      input: task.input,
      attempt: task.attempts,
      signal: controller.signal,
      store: this.options.store,
      jobInput: async () => (await this.db.getJob(task.jobId))?.input ?? null,
      deps: async () => {
        const results = await this.db.getResults(task.jobId, task.deps);
        const out: Record<string, Json> = {};
        for (const key of task.deps) {
          const r = results.get(key);
          if (!r || r.state !== 'done') throw new Error(`dependency ${key} of task ${task.key} is not done`);
          out[key] = r.resultRef ? await readPipelineResult(this.options.store, r.resultRef) : r.result;
        }
        return out;
      },
      progress: (fraction) => {
        entry.progress = fraction;
      },
      spawn: (tasks: StageTask | StageTask[]) => {
        for (const t of Array.isArray(tasks) ? tasks : [tasks]) spawned.push(pipeline.toTask(t));
      },
    };
    let result: Json | void;
    try {
      result = await stage.handler(ctx);
    } catch (error) {
      if (entry.released || (this.stopController.signal.aborted && controller.signal.aborted)) return;
      const message = error instanceof Error ? `${error.name === 'Error' ? '' : `${error.name}: `}${error.message}` : String(error);
      const outcome = await this.db.fail({
        taskId: task.id,
        claim: task.claim,
        agentId: this.id,
        error: message,
        retryable: !(error instanceof PermanentTaskError),
      });
      if (outcome !== 'stale') this.counts.failed += 1;
      this.log(`task ${task.key} (${task.type}) attempt ${task.attempts} failed: ${message} -> ${outcome}`, {
        event: PIPELINE_LOG_EVENTS.taskAttemptFailed,
        task: task.key,
        type: task.type,
        attempt: task.attempts,
        outcome,
        error: message,
      });
      return;
    }
    if (entry.released) return;
    const value: Json = result === undefined ? null : result;
    let resultRef: string | null = null;
    let inline: Json = value;
    const text = JSON.stringify(value);
    if (this.options.store && Buffer.byteLength(text) > this.inlineResultBytes) {
      resultRef = `pipelines/${task.jobId}/${encodeURIComponent(task.key)}/${task.claim}.json`;
      await this.options.store.store.put(this.options.store.bucket, resultRef, text);
      inline = null;
    }
    let outcome;
    try {
      outcome = await this.db.complete({ taskId: task.id, claim: task.claim, agentId: this.id, result: inline, resultRef, spawn: spawned });
    } catch (error) {
      if (error instanceof SynktiError && error.code === 'E_TASK_INVALID') {
        // The handler spawned something impossible (a cycle, a duplicate key): no retry fixes that.
        await this.db.fail({
          taskId: task.id,
          claim: task.claim,
          agentId: this.id,
          error: `invalid spawn: ${error.message}`,
          retryable: false,
        });
        this.counts.failed += 1;
        return;
      }
      throw error;
    }
    if (outcome === 'done') this.counts.completed += 1;
    else if (outcome === 'duplicate') this.counts.duplicates += 1;
    else this.counts.gone += 1;
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.db.agentHeartbeat({ id: this.id, pool: this.pool, types: this.types });
      const entries = [...this.running.values()]
        .filter((r) => !r.released)
        .map((r) => ({ taskId: r.task.id, claim: r.task.claim, progress: r.progress }));
      if (entries.length === 0) return;
      const lost = await this.db.heartbeat(this.id, entries);
      for (const id of lost) {
        const entry = this.running.get(id);
        if (!entry || entry.controller.signal.aborted) continue;
        this.counts.lost += 1;
        // Let the handler finish if it ignores the signal: its result may still be first (or is discarded as a duplicate).
        entry.controller.abort(new Error('the task is no longer held by this agent'));
      }
    } catch (error) {
      const message = String((error as Error)?.message ?? error);
      this.log(`heartbeat failed: ${message}`, { event: PIPELINE_LOG_EVENTS.heartbeatFailed, error: message });
    }
  }

  /**
   * Spot notice: stop claiming, hand every running task back at once (their handlers are
   * aborted and their results dropped). Resolves with how many were handed back.
   */
  async releaseAll(): Promise<number> {
    this.stopController.abort();
    this.wake.resolve?.();
    let released = 0;
    await Promise.all(
      [...this.running.values()].map(async (entry) => {
        if (entry.released) return;
        entry.released = true;
        entry.controller.abort(new Error('released: spot interruption notice'));
        if (await this.db.release(entry.task.id, entry.task.claim, this.id).catch(() => false)) released += 1;
      }),
    );
    this.counts.released += released;
    return released;
  }

  /**
   * Stops claiming, then either waits for running handlers (default) or hands their tasks
   * back (`release: true`); stops the requeuer and leaves the membership view. Idempotent.
   */
  stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopping ??= (async () => {
      this.stopController.abort();
      this.wake.resolve?.();
      if (options.release) await this.releaseAll();
      await this.loop;
      // Handlers of released tasks are not waited for: their results are dropped anyway.
      await Promise.all([...this.running.values()].filter((r) => !r.released).map((r) => r.done));
      clearInterval(this.heartbeatTimer);
      this.queueMetrics?.stop();
      await this.requeuer?.stop();
      await this.db.agentLeave(this.id).catch(() => undefined);
    })();
    return this.stopping;
  }
}
