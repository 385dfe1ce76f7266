/**
 * A batch worker process (`synkti batch worker`, or a local instance booted with its
 * config as user data): leases the run's tasks, scores them with the objective, sends
 * each result before acking its task; on a spot interruption notice or SIGTERM
 * (runPreemptible from @synkti/tasks) it hands its leases back at once, so peers pick the
 * tasks up in seconds, and exits.
 */
import { SynktiError } from '@synkti/core';
import { createEvaluationHandler, createWorker, queueResultSink, runPreemptible, validateRunId, type BatchResultValue } from '@synkti/tasks';
import { BATCH_BACKENDS, DEFAULT_BATCH_MAX_RECEIVES, openRunQueues, type BatchBackend } from './backend.ts';
import { loadObjective } from './objective.ts';

/** What a worker needs; a local instance gets it as JSON user data. */
export interface BatchWorkerConfig {
  kind: 'synkti.batch.worker';
  run: string;
  backend: BatchBackend;
  /** Batch state directory (local backend: where queues.db lives). */
  stateDir: string;
  /** Builtin name or absolute module path. */
  objective: string;
  /** @default 1 */
  concurrency?: number | undefined;
  /** Lease on each task, renewed by heartbeats. @default 10000 */
  leaseMs?: number | undefined;
  /** How often instance metadata is polled for a notice. @default 5000 (AWS's advice) */
  noticePollMs?: number | undefined;
  /** @default 10 */
  maxReceives?: number | undefined;
  sqsEndpoint?: string | undefined;
  region?: string | undefined;
}

export const DEFAULT_WORKER_LEASE_MS = 10_000;

export function parseWorkerConfig(text: string | undefined): BatchWorkerConfig {
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = value as Partial<BatchWorkerConfig> | undefined;
  if (v?.kind !== 'synkti.batch.worker' || typeof v.run !== 'string' || typeof v.objective !== 'string' || typeof v.stateDir !== 'string'
    || !BATCH_BACKENDS.includes(v.backend as BatchBackend)) {
    throw new SynktiError('E_USAGE', 'this instance\'s user data is not a batch worker config', {
      hint: 'start batch workers with `synkti batch cmaes`, or run `synkti batch worker --run RUN --objective ...` yourself',
    });
  }
  validateRunId(v.run);
  return v as BatchWorkerConfig;
}

function log(text: string): void {
  process.stderr.write(`${new Date().toISOString()} batch worker: ${text}\n`);
}

/** Runs until stopped (signal), the instance is interrupted, or SIGTERM. Resolves with the exit code. */
export async function runBatchWorker(config: BatchWorkerConfig, options: { signal?: AbortSignal } = {}): Promise<number> {
  const objective = await loadObjective(config.objective);
  const queues = await openRunQueues({
    backend: config.backend, stateDir: config.stateDir, sqsEndpoint: config.sqsEndpoint, region: config.region,
    maxReceives: config.maxReceives ?? DEFAULT_BATCH_MAX_RECEIVES,
  }, config.run);
  const worker = createWorker<BatchResultValue>({
    queue: queues.tasks,
    handler: createEvaluationHandler({ objective: (x: number[], signal) => objective(x, signal), run: config.run }),
    resultSink: queueResultSink(queues.results),
    concurrency: config.concurrency ?? 1,
    leaseMs: config.leaseMs ?? DEFAULT_WORKER_LEASE_MS,
    pollWaitMs: 2000,
    onError: (error, context) => log(`${context.stage}${context.taskId ? ` task ${context.taskId}` : ''}: ${(error as Error)?.message ?? String(error)}`),
  });
  // Signals, the spot notice, handing leases back and the exit code belong to runPreemptible.
  const outcome = await runPreemptible(worker, {
    noticePollMs: config.noticePollMs ?? 5000,
    signal: options.signal,
    log,
    onStarted: ({ watchingNotices }) => log(`run ${config.run}: serving ${config.backend} queues with objective ${config.objective}${watchingNotices ? ', watching for spot notices' : ''}`),
  });
  const code = outcome.code;
  const stats = worker.stats();
  log(`stopped: ${stats.completed} completed, ${stats.released} released, ${stats.crashed} crashed, ${stats.deadLettered} dead-lettered`);
  await queues.close();
  return code;
}
