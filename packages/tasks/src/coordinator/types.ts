/**
 * The batch coordinator's types: a generation of candidates goes out as tasks keyed by
 * (run, generation, candidate, digest); results come back keyed the same way, so a late,
 * duplicate or foreign result is recognised and dropped, never mistaken for another
 * candidate's (docs/field-notes.md: results matched by candidate index alone corrupted the next
 * generation).
 */
import type { ObjectStore } from '@synkti/cloud';
import type { DurationInput, Queue, QueueStats } from '../queue/types.ts';

/** What identifies one evaluation. `digest` is a hash of the payload: the same key with another payload is stale. */
export interface BatchTaskKey {
  run: string;
  /** 0-based generation index (= generations completed before it). */
  generation: number;
  /** Index of the candidate in its generation. */
  candidate: number;
  digest: string;
}

/** A task message body. */
export interface BatchTask<P = unknown> extends BatchTaskKey {
  kind: 'synkti.batch.task';
  payload: P;
}

/**
 * The `value` of a worker's TaskResult for a batch task. A failed evaluation (the
 * objective returned a non-number, or said it failed) carries `error` and no `score`.
 */
export interface BatchResultValue extends BatchTaskKey {
  kind: 'synkti.batch.result';
  score?: number | undefined;
  error?: string | undefined;
}

/** What to do when a candidate cannot be scored (dead-lettered task or failed evaluation). */
export type UnscorablePolicy = 'fail' | 'worst';

export interface CoordinatorCounters {
  /** Task messages sent (re-sends included). */
  sent: number;
  /** Of those, re-sends after the deadline. */
  resent: number;
  /**
   * Of those, copies of a straggler sent to an idle worker (first result wins). Absent in
   * checkpoints written before it existed.
   */
  reissued?: number;
  /** Result messages received. */
  received: number;
  /** Results that scored a candidate (= evaluations). */
  accepted: number;
  /** Results for a candidate already scored. */
  duplicatesDropped: number;
  /** Results of another run, an older generation or another payload, or unreadable. */
  staleDropped: number;
  /** Results that said the evaluation failed. */
  failedResults: number;
  /** Dead letters of this run's tasks seen in the task queue (each once). */
  deadLettered: number;
  /** Candidates scored as the worst value because they could not be evaluated (policy 'worst'). */
  scoredWorst: number;
  /** Candidates of finished generations. */
  candidates: number;
  /** Of those, scored by a result. */
  scored: number;
}

/** Checkpointed after every generation: everything needed to resume exactly. */
export interface CoordinatorCheckpoint<S = unknown, M = unknown> {
  kind: 'synkti.batch.checkpoint';
  version: 1;
  run: string;
  status: 'running' | 'done' | 'cancelled' | 'failed';
  /** Generations completed. */
  generation: number;
  /** The optimizer's full state after `generation` generations. */
  optimizer: S;
  /** Run metadata (objective, dimension, seed, backend, ...). */
  meta: M;
  counters: CoordinatorCounters;
  /** Dead-letter ids already counted. */
  deadLetterIds: string[];
  /** One entry per completed generation. */
  history: GenerationRecord[];
  /** Why the run stopped early (the optimizer's stop reason, a cancel, an error). */
  stopReason?: string | undefined;
  createdAt: number;
  updatedAt: number;
}

export interface GenerationRecord {
  generation: number;
  /** Best score in this generation. */
  bestScore: number;
  /** Milliseconds from first send to last result. */
  ms: number;
}

/**
 * Numbers an autoscaler can act on. `CoordinatorMetricsPublisher` sends them to a sink;
 * the CLI's `--metrics-cluster` publishes `backlog` and `backlogPerWorker` to CloudWatch,
 * where SpotBatchFleet's target tracking reads them.
 */
export interface CoordinatorMetrics {
  run: string;
  /** The generation being evaluated (or the next one). */
  generation: number;
  /** Candidates of the current generation still without a score. */
  outstanding: number;
  /** Visible + delayed + in-flight task messages: what the fleet still has to do (in-flight counts, so a busy queue is never "empty"). */
  backlog: number;
  queueDepth: number;
  queueInFlight: number;
  queueDeadLettered: number;
  /** Workers alive, when the coordinator was told how to count them. */
  workers: number | undefined;
  /**
   * backlog / workers: the target-tracking metric for scaling. With no worker (or an
   * unknown count) it is the backlog itself, as if one worker had to do it all: never
   * Infinity (CloudWatch rejects non-finite values) and never 0 (which would read as
   * "idle" and scale in while tasks wait); any backlog above the target stays a breach,
   * so the scale-out fires as soon as there is capacity to scale from.
   */
  backlogPerWorker: number;
  counters: CoordinatorCounters;
  /** Epoch ms. */
  at: number;
}

export type CoordinatorEvent =
  | { type: 'sent'; generation: number; count: number; resend: boolean; reissue?: boolean }
  | { type: 'dropped'; reason: 'duplicate' | 'stale'; detail: string }
  | { type: 'dead-letter'; generation: number; candidate: number; error: string }
  | { type: 'failed-result'; generation: number; candidate: number; error: string }
  | { type: 'backend-error'; error: string; attempt: number };

export interface CoordinatorOptions {
  /** Run id: letters, digits, "-" and "_", 1..40 characters. */
  run: string;
  /** Where tasks go (workers lease them here; dead letters are read here). */
  tasks: Queue;
  /** Where workers send results (`queueResultSink`). */
  results: Queue;
  /** Object store for checkpoints. */
  store: ObjectStore;
  /** Bucket of the checkpoints (must exist). */
  bucket: string;
  /**
   * Key of the checkpoint.
   * @default `runs/<run>/checkpoint.json`
   */
  checkpointKey?: string | undefined;
  /**
   * A candidate without a result this long after its last send is sent again (its
   * message was lost); never scored as missing. Leases already bring back the tasks of
   * crashed workers, so this is a safety net: keep it well above one evaluation's time.
   * @default 300000 (5 minutes)
   */
  resendAfterMs?: DurationInput | undefined;
  /**
   * Long poll on the result queue.
   * @default 1000
   */
  pollWaitMs?: DurationInput | undefined;
  /**
   * How often the task queue's dead letters and the cancel marker are checked.
   * @default 2000
   */
  checkEveryMs?: DurationInput | undefined;
  /**
   * A candidate that cannot be evaluated (its task dead-lettered, or its evaluation
   * failed): 'fail' stops the run with an error (fix, `dlq redrive`, then resume);
   * 'worst' scores it +Infinity, explicitly, and counts it in `scoredWorst`.
   * @default 'fail'
   */
  unscorable?: UnscorablePolicy | undefined;
  /**
   * Counts workers alive, for `metrics().backlogPerWorker`; undefined when the count is not
   * known right now (it must not throw: `metrics()` is read after every generation).
   * @default unknown
   */
  workersAlive?: (() => number | undefined | Promise<number | undefined>) | undefined;
  /**
   * Stragglers: once half a generation is scored, a candidate still without a result after
   * this many times the generation's median time to result is sent once more, when a worker
   * is idle (no task of the queue is waiting and fewer tasks are in flight than
   * `workersAlive` counts). The first result wins; the other is dropped as a duplicate, so
   * results and resumes are unchanged (a deterministic objective gives the same score).
   * Needs `workersAlive`; 0 turns it off.
   * @default 2
   */
  stragglerFactor?: number | undefined;
  /** Told about sends, drops and dead letters. @default nothing */
  onEvent?: ((event: CoordinatorEvent) => void) | undefined;
  /** Aborting stops `evaluate` with E_ABORTED. */
  signal?: AbortSignal | undefined;
  /**
   * Epoch-milliseconds clock (re-send deadlines, timestamps).
   * @default Date.now
   */
  clock?: (() => number) | undefined;
}

export interface Coordinator {
  readonly run: string;
  readonly checkpointKey: string;
  /**
   * Sends one task per payload for `generation` and resolves with their scores, in
   * payload order, once every candidate has a result (re-sending what is overdue).
   */
  evaluate<P>(generation: number, payloads: readonly P[]): Promise<number[]>;
  /** Saves a checkpoint atomically; the coordinator's counters and dead-letter ids are added. */
  saveCheckpoint<S, M>(checkpoint: {
    status: CoordinatorCheckpoint['status'];
    generation: number;
    optimizer: S;
    meta: M;
    history: GenerationRecord[];
    stopReason?: string | undefined;
    createdAt?: number | undefined;
  }): Promise<CoordinatorCheckpoint<S, M>>;
  /** The checkpoint, or undefined; restores the counters from it when `adopt` is true. */
  loadCheckpoint<S, M>(options?: { adopt?: boolean }): Promise<CoordinatorCheckpoint<S, M> | undefined>;
  counters(): CoordinatorCounters;
  /** Candidates never scored and not dead-lettered, over finished generations (must be 0). */
  lostTasks(): number;
  metrics(): Promise<CoordinatorMetrics>;
}

export type { QueueStats };
