import type { DurationInput, LeasedMessage, Queue } from '../queue/types.ts';

/** What a handler gets for one delivery of a task. */
export interface TaskContext {
  /** The queue message id: the same on every delivery of the task. */
  id: string;
  body: string;
  /** Deliveries so far, this one included. */
  attempt: number;
  /**
   * Aborted when the task is handed back (`releaseAll`, e.g. on a spot notice) or its
   * lease is lost; the handler should stop soon, its work will be done elsewhere.
   */
  signal: AbortSignal;
  message: LeasedMessage;
}

/**
 * A handler's answer. `{ ok: false }` is a result (the task ran and failed for a reason
 * a retry would not change, e.g. invalid input): it is sent and the task acked. A thrown
 * error is a crash: the task is released and retried, then dead-lettered.
 */
export type TaskOutcome<V = unknown> = { ok: true; value?: V } | { ok: false; error: string };

export type TaskHandler<V = unknown> = (task: TaskContext) => Promise<TaskOutcome<V>>;

/** What goes to the result sink; `taskId` + `attempt` let the receiver drop duplicates. */
export interface TaskResult<V = unknown> {
  taskId: string;
  ok: boolean;
  value?: V | undefined;
  error?: string | undefined;
  /** The delivery that produced it (a redelivered task can yield two results). */
  attempt: number;
  workerId: string;
  /** Epoch ms. */
  finishedAt: number;
}

/** Durable result storage: `send` resolves only once the result is durably stored. */
export interface ResultSink<V = unknown> {
  send(result: TaskResult<V>): Promise<void>;
}

export type WorkerErrorStage = 'receive' | 'handler' | 'result' | 'ack' | 'release' | 'heartbeat';

export interface WorkerErrorContext {
  stage: WorkerErrorStage;
  taskId?: string | undefined;
  attempt?: number | undefined;
}

export interface WorkerOptions<V = unknown> {
  queue: Queue;
  handler: TaskHandler<V>;
  /**
   * Where results go before the task is acked. Without one the task is acked as soon as
   * the handler returns, so the handler itself must have stored what matters.
   */
  resultSink?: ResultSink<V> | undefined;
  /**
   * Tasks run at once.
   * @default 1
   */
  concurrency?: number | undefined;
  /**
   * Lease taken on each task, renewed by heartbeats while it runs.
   * @default 60000 (60 s)
   */
  leaseMs?: DurationInput | undefined;
  /**
   * How often a running task's lease is extended (must be shorter than the lease).
   * @default leaseMs / 3
   */
  heartbeatEveryMs?: DurationInput | undefined;
  /**
   * Crashes (thrown errors) before the task is dead-lettered with its error.
   * @default queue.maxReceives
   */
  maxAttempts?: number | undefined;
  /**
   * Long poll for new tasks (≤ 20 s).
   * @default 20000
   */
  pollWaitMs?: DurationInput | undefined;
  /**
   * Tries to store one result before the task is released for a retry.
   * @default 3
   */
  resultAttempts?: number | undefined;
  /**
   * Id written into results.
   * @default "<hostname>-<pid>-<random>"
   */
  workerId?: string | undefined;
  /** Aborting stops the worker like `stop()`. */
  signal?: AbortSignal | undefined;
  /**
   * Told about every error the worker handles itself (a crashed handler, a failed
   * result send, a lost lease, a failed receive).
   * @default one line on stderr
   */
  onError?: ((error: unknown, context: WorkerErrorContext) => void) | undefined;
}

export interface WorkerStats {
  /** Tasks running now. */
  inFlight: number;
  /** Deliveries taken from the queue. */
  received: number;
  /** Tasks whose result was stored and that were acked. */
  completed: number;
  /** Of those, results with `ok: false`. */
  failedResults: number;
  /** Handler crashes (thrown errors). */
  crashed: number;
  /** Tasks given back (crashes below maxAttempts, unstored results, releaseAll). */
  released: number;
  deadLettered: number;
}

export interface Worker {
  readonly id: string;
  /** Starts taking tasks. */
  start(): void;
  /**
   * Stops taking tasks and waits for running ones to finish (or, with `release: true`,
   * hands them back at once). Idempotent.
   */
  stop(options?: { release?: boolean }): Promise<void>;
  /**
   * Hands every running task back to the queue at once (visible to peers immediately),
   * aborts their handlers, and stops taking new tasks until `resume()`. The agent calls
   * it on a spot interruption notice. Returns how many leases were released.
   */
  releaseAll(reason?: string): Promise<number>;
  /** Takes tasks again after `releaseAll`. */
  resume(): void;
  stats(): WorkerStats;
}
