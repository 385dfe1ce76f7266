/**
 * A batch worker process (`synkti batch worker`, or the portless workload of a local
 * batch fleet's agent node, its config in SYNKTI_BATCH_WORKER_CONFIG): leases the run's
 * tasks, scores them with the objective, sends each result before acking its task; on a
 * spot interruption notice or SIGTERM (runPreemptible from @synkti/tasks) it hands its
 * leases back at once, so peers pick the tasks up in seconds, and exits.
 */
import { join, resolve } from 'node:path';
import { SynktiError } from '@synkti/core';
import { createProcessLog } from '@synkti/core/process-log';
import {
  BATCH_WORKER_ENV,
  MAX_STATE_POOLS,
  batchQueueNames,
  queueNameOfUrl,
  readStackEnvironment,
  splitStatePoolNames,
} from '@synkti/core/contracts';
import type { BatchResultValue } from '../coordinator/types.ts';
import { createEvaluationHandler } from '../coordinator/evaluation-handler.ts';
import { validateRunId } from '../coordinator/batch-task.ts';
import { createWorker } from '../worker/worker.ts';
import { queueResultSink } from '../worker/queue-result-sink.ts';
import { runPreemptible } from '../worker/run-preemptible.ts';
import { BATCH_BACKENDS, DEFAULT_BATCH_MAX_RECEIVES, openRunQueues, resolveBatchStateDir, type BatchBackend } from './backend.ts';
import { loadObjective } from './objective.ts';
import { statePoolPrefix } from './state-pool-prefix.ts';

/** What a worker needs; a local fleet's node gives it to its workload as JSON (BATCH_WORKER_CONFIG_ENV). */
export interface BatchWorkerConfig {
  kind: 'synkti.batch.worker';
  /** The run whose tasks to evaluate; undefined = any run in the queues (a stack's workers). */
  run?: string | undefined;
  /**
   * Scope of the queue names (batch contract).
   * @default `batch-<run>`
   */
  queueScope?: string | undefined;
  /** Create missing SQS queues. @default true */
  createQueues?: boolean | undefined;
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
  /**
   * Watch instance metadata for spot notices itself. False under an agent: the agent owns
   * the notice (it launches the replacement first, then SIGTERMs the worker).
   * @default true (when SYNKTI_IMDS_ENDPOINT is set)
   */
  watchNotices?: boolean | undefined;
  /** @default 10 */
  maxReceives?: number | undefined;
  sqsEndpoint?: string | undefined;
  region?: string | undefined;
  /**
   * State pools fetched (every file's SHA-256 checked, a cached pool reused) before the
   * first task is taken; the objective reads pool `<name>` at `$SYNKTI_STATE_POOLS_DIR/<name>/`.
   * @default none
   */
  statePools?: WorkerStatePools | undefined;
}

/** Where a worker's state pools come from and go. */
export interface WorkerStatePools {
  names: string[];
  /** The batch bucket (SpotBatchFleet's bucketName). */
  bucket: string;
  /** @default BATCH_PREFIXES.statePools ('state-pools/') */
  root?: string | undefined;
  /** @default `<stateDir>/state-pools` */
  cacheDir?: string | undefined;
}

/** The variable the objective finds its pools under: pool `<name>` is `$SYNKTI_STATE_POOLS_DIR/<name>/`. */
export const STATE_POOLS_DIR_ENV = 'SYNKTI_STATE_POOLS_DIR';

export const DEFAULT_WORKER_LEASE_MS = 10_000;

/**
 * `--pool a --pool b` or SYNKTI_STATE_POOLS=a,b: the names, each checked (`field` names
 * where they came from in the error), duplicates dropped.
 */
export function parseStatePoolNames(values: readonly string[], field: string): string[] {
  const names = splitStatePoolNames(values);
  if (names.length > MAX_STATE_POOLS) {
    throw new SynktiError('E_USAGE', `${field}: ${names.length} state pools, more than ${MAX_STATE_POOLS}`, {
      hint: 'put the inputs a worker needs into fewer pools',
    });
  }
  for (const name of names) {
    try {
      statePoolPrefix(name);
    } catch (error) {
      throw new SynktiError('E_USAGE', `${field}: ${(error as Error).message}`, {
        hint: (error as SynktiError).hint ?? 'e.g. rosenbrock-data',
      });
    }
  }
  return names;
}

export function parseWorkerConfig(text: string | undefined): BatchWorkerConfig {
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = value as Partial<BatchWorkerConfig> | undefined;
  if (
    v?.kind !== 'synkti.batch.worker' ||
    typeof v.run !== 'string' ||
    typeof v.objective !== 'string' ||
    typeof v.stateDir !== 'string' ||
    !BATCH_BACKENDS.includes(v.backend as BatchBackend)
  ) {
    throw new SynktiError('E_USAGE', 'SYNKTI_BATCH_WORKER_CONFIG is not a batch worker config', {
      hint: 'start batch workers with `synkti batch cmaes`, or run `synkti batch worker --run RUN --objective ...` yourself',
    });
  }
  validateRunId(v.run);
  return v as BatchWorkerConfig;
}

/**
 * The config of a worker started by its stack with no flags (a SpotBatchFleet ECS task):
 * everything from the variables the stack injects (BATCH_WORKER_ENV). A missing or
 * invalid variable throws E_CONFIG_STACK_ENV naming it and the stack output it comes from.
 */
export function workerConfigFromStack(env: Readonly<Record<string, string | undefined>> = process.env): BatchWorkerConfig {
  const v = readStackEnvironment('synkti batch worker (no flags: configured by its stack)', BATCH_WORKER_ENV, env);
  const cluster = v.SYNKTI_CLUSTER!;
  const names = batchQueueNames(cluster);
  // The URLs must be the fleet's queues: a worker leasing from one queue and answering to another's is a silent hang.
  const expected: Array<[keyof typeof BATCH_WORKER_ENV, string]> = [
    ['SYNKTI_TASK_QUEUE_URL', names.tasks],
    ['SYNKTI_RESULT_QUEUE_URL', names.results],
    ['SYNKTI_DEAD_LETTER_QUEUE_URL', names.tasksDeadLetter],
  ];
  for (const [name, queue] of expected) {
    const got = queueNameOfUrl(v[name]!);
    if (got !== queue) {
      throw new SynktiError('E_CONFIG_STACK_ENV', `${name} names queue "${got}", but cluster ${cluster}'s is "${queue}"`, {
        hint: `set ${name} from ${BATCH_WORKER_ENV[name].from} of the same stack as SYNKTI_CLUSTER`,
      });
    }
  }
  // Checked by the contract (SYNKTI_STATE_POOLS: each a pool name, at most MAX_STATE_POOLS).
  const pools = splitStatePoolNames([v.SYNKTI_STATE_POOLS ?? '']);
  const stateDir = resolveBatchStateDir(undefined);
  return {
    kind: 'synkti.batch.worker',
    backend: 'sqs',
    queueScope: cluster,
    createQueues: false,
    objective: v.SYNKTI_OBJECTIVE!,
    region: v.AWS_REGION,
    stateDir,
    ...(pools.length > 0 ? { statePools: { names: pools, bucket: v.SYNKTI_BUCKET!, root: v.SYNKTI_STATE_POOLS_PREFIX } } : {}),
  };
}

const log = createProcessLog({ component: 'batch worker' });

/** What a pool fetcher reports of one pool (state-pools.ts fetchStatePool with the agent's model fetcher, as the CLI binds it: each file's SHA-256 checked). */
export interface FetchedStatePool {
  /** The local directory holding exactly the manifest's files. */
  path: string;
  files: number;
  bytes: number;
  /** Served from the cache: no file was fetched. */
  reused: boolean;
}

/** Fetches one pool into `cacheDir/<name>/`; throws (naming the pool) when it is missing or a file does not match. */
export type StatePoolFetcher = (options: {
  bucket: string;
  name: string;
  cacheDir: string;
  root?: string | undefined;
  region?: string | undefined;
}) => Promise<FetchedStatePool>;

export interface RunBatchWorkerOptions {
  signal?: AbortSignal | undefined;
  /**
   * How state pools are fetched. Injected because the fetch is the agent's model fetcher
   * (@synkti/agent), a layer above this package. Needed only when the config names pools.
   * @default none (a config with pools throws E_BATCH_STATE_POOLS)
   */
  fetchStatePool?: StatePoolFetcher | undefined;
}

/** Runs until stopped (signal), the instance is interrupted, or SIGTERM. Resolves with the exit code. */
export async function runBatchWorker(config: BatchWorkerConfig, options: RunBatchWorkerOptions = {}): Promise<number> {
  if (config.run === undefined && config.queueScope === undefined) {
    throw new SynktiError('E_USAGE', "a batch worker needs a run (--run) or its stack's queues (SYNKTI_CLUSTER)", {
      hint: 'pass --run RUN, or start it with no flags inside its stack',
    });
  }
  if (config.statePools && config.statePools.names.length > 0) {
    if (!options.fetchStatePool) {
      throw new SynktiError(
        'E_BATCH_STATE_POOLS',
        `the worker's config names state pools (${config.statePools.names.join(', ')}) but runBatchWorker was given no fetchStatePool`,
        {
          hint: "pass fetchStatePool (synkti batch worker passes the CLI's, which reads pools with the agent's model fetcher)",
        },
      );
    }
    await fetchWorkerPools(config.statePools, config, options.fetchStatePool);
  }
  const objective = await loadObjective(config.objective);
  const queues = await openRunQueues(
    {
      backend: config.backend,
      stateDir: config.stateDir,
      sqsEndpoint: config.sqsEndpoint,
      region: config.region,
      maxReceives: config.maxReceives ?? DEFAULT_BATCH_MAX_RECEIVES,
      queueScope: config.queueScope,
      create: config.createQueues,
    },
    config.run ?? '',
  );
  const worker = createWorker<BatchResultValue>({
    queue: queues.tasks,
    handler: createEvaluationHandler({ objective: (x: number[], signal) => objective(x, signal), run: config.run }),
    resultSink: queueResultSink(queues.results),
    concurrency: config.concurrency ?? 1,
    leaseMs: config.leaseMs ?? DEFAULT_WORKER_LEASE_MS,
    pollWaitMs: 2000,
    onError: (error, context) =>
      log(`${context.stage}${context.taskId ? ` task ${context.taskId}` : ''}: ${(error as Error)?.message ?? String(error)}`),
  });
  // Signals, the spot notice, handing leases back and the exit code belong to runPreemptible.
  const outcome = await runPreemptible(worker, {
    noticePollMs: config.noticePollMs ?? 5000,
    ...(config.watchNotices === false ? { metadata: null } : {}),
    signal: options.signal,
    log,
    onStarted: ({ watchingNotices }) =>
      log(
        `${config.run ? `run ${config.run}` : `cluster ${config.queueScope} (any run)`}: serving ${config.backend} queues with objective ${config.objective}${watchingNotices ? ', watching for spot notices' : ''}`,
      ),
  });
  const code = outcome.code;
  const stats = worker.stats();
  log(`stopped: ${stats.completed} completed, ${stats.released} released, ${stats.crashed} crashed, ${stats.deadLettered} dead-lettered`);
  await queues.close();
  return code;
}

/**
 * Fetches the worker's state pools into its cache before it takes a task, each file's
 * SHA-256 checked (a pool that is missing or does not match throws, naming it: the worker
 * exits without taking tasks), and tells the objective where they are.
 */
async function fetchWorkerPools(pools: WorkerStatePools, config: BatchWorkerConfig, fetchStatePool: StatePoolFetcher): Promise<void> {
  const cacheDir = resolve(pools.cacheDir ?? join(config.stateDir, 'state-pools'));
  for (const name of pools.names) {
    const pool = await fetchStatePool({ bucket: pools.bucket, name, cacheDir, root: pools.root, region: config.region });
    log(
      `state pool ${name}: ${pool.files} file(s), ${pool.bytes} bytes, SHA-256 checked${pool.reused ? ' (from the cache)' : ''}, at ${pool.path}`,
    );
  }
  process.env[STATE_POOLS_DIR_ENV] = cacheDir;
}
