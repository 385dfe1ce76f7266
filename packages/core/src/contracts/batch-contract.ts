/**
 * The batch shape's contract between the code (`synkti batch`, the batch worker, the
 * coordinator) and the stack that runs it (infra's SpotBatchFleet): queue names, S3
 * prefixes, and the environment the stack injects into worker tasks, each with the stack
 * output it comes from. Pulumi-free: the CLI and workers import it without loading Pulumi.
 */
import { stackChecks, type StackEnvironmentSpec } from './stack-environment.ts';

/**
 * One queue naming scheme for every backend and the stack: `<scope>-tasks`,
 * `<scope>-results`, each with its dead-letter queue `<queue>-dlq` (what the SQS driver
 * expects). A SpotBatchFleet's scope is its cluster name (`<project>-<environment>`); a
 * run on the local cloud has its own scope (`batchRunScope(run)`).
 */
export function batchQueueNames(scope: string): { tasks: string; results: string; tasksDeadLetter: string; resultsDeadLetter: string } {
  return {
    tasks: `${scope}-tasks`,
    results: `${scope}-results`,
    tasksDeadLetter: `${scope}-tasks-dlq`,
    resultsDeadLetter: `${scope}-results-dlq`,
  };
}

/** Scope of a run's own queues when no stack provides them (local, or `--backend sqs` without a fleet). */
export function batchRunScope(run: string): string {
  return `batch-${run}`;
}

/** S3 prefixes in the batch bucket; SpotBatchFleet's lifecycle rules cover exactly these. */
export const BATCH_PREFIXES = {
  /** Run objects: checkpoints (`runs/<run>/checkpoints/<n>.json` + pointer `runs/<run>/checkpoint.json`), cancel markers. */
  runs: 'runs/',
  /** Message bodies over the SQS size limit. */
  queuePayloads: 'queue-payloads/',
  /** State pools: named read-only inputs uploaded once, cached by workers (`state-pools/<name>/<sha256>`). */
  statePools: 'state-pools/',
} as const;

/** A state pool's name: also its directory in a worker's cache (`<cache>/<name>/`), so no "/" and no "..". */
export const STATE_POOL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Most state pools one worker reads (the names come from flags, variables and stack args: bounded). */
export const MAX_STATE_POOLS = 32;

/** Why `name` cannot name a state pool, or undefined when it can. */
export function statePoolNameProblem(name: string): string | undefined {
  return STATE_POOL_NAME.test(name) && !name.includes('..') ? undefined : `state pool name "${name.slice(0, 100)}" is not allowed`;
}

/** `a,b` (SYNKTI_STATE_POOLS, repeated `--pool`) → the names, trimmed, empty ones and duplicates dropped. Not checked: see statePoolNameProblem. */
export function splitStatePoolNames(values: readonly string[]): string[] {
  return [
    ...new Set(
      values
        .flatMap((v) => v.split(','))
        .map((v) => v.trim())
        .filter((v) => v !== ''),
    ),
  ];
}

/** The check of SYNKTI_STATE_POOLS: at most MAX_STATE_POOLS names, each a pool name. */
function statePoolsCheck(value: string): string | undefined {
  const names = splitStatePoolNames([value]);
  if (names.length > MAX_STATE_POOLS) return `names ${names.length} state pools (at most ${MAX_STATE_POOLS})`;
  const bad = names.find((name) => statePoolNameProblem(name) !== undefined);
  return bad === undefined
    ? undefined
    : `names "${bad.slice(0, 100)}", which is not a state pool name (1-63 lower-case letters, digits, ".", "_" and "-", comma-separated)`;
}

/** Variables SpotBatchFleet injects into every worker task (and the coordinator's `coordinatorEnv`). */
export const BATCH_WORKER_ENV = {
  SYNKTI_CLUSTER: {
    from: 'SpotBatchFleet.clusterName',
    description: "the fleet's cluster name, the scope of its queue names",
    check: stackChecks.name,
  },
  SYNKTI_TASK_QUEUE_URL: { from: 'SpotBatchFleet.taskQueueUrl', description: 'SQS queue of tasks', check: stackChecks.url },
  SYNKTI_RESULT_QUEUE_URL: { from: 'SpotBatchFleet.resultQueueUrl', description: 'SQS queue of results', check: stackChecks.url },
  SYNKTI_DEAD_LETTER_QUEUE_URL: {
    from: 'SpotBatchFleet.deadLetterQueueUrl',
    description: 'dead-letter queue of tasks',
    check: stackChecks.url,
  },
  SYNKTI_BUCKET: {
    from: 'SpotBatchFleet.bucketName',
    description: 'bucket of checkpoints, payloads and state pools',
    check: stackChecks.bucket,
  },
  SYNKTI_RUNS_PREFIX: {
    from: 'SpotBatchFleet (constant BATCH_PREFIXES.runs)',
    description: 'prefix of run objects',
    check: stackChecks.prefix,
    optional: true,
  },
  SYNKTI_STATE_POOLS_PREFIX: {
    from: 'SpotBatchFleet (constant BATCH_PREFIXES.statePools)',
    description: 'prefix of state pools',
    check: stackChecks.prefix,
    optional: true,
  },
  SYNKTI_STATE_POOLS: {
    from: 'SpotBatchFleet arg statePools',
    description: 'state pools every worker fetches (each file checked) before its first task, comma-separated; none when unset',
    check: statePoolsCheck,
    optional: true,
  },
  SYNKTI_OBJECTIVE: {
    from: 'SpotBatchFleet arg objective',
    description: 'the objective workers score: a builtin name or a module path in the image',
  },
  AWS_REGION: { from: 'SpotBatchFleet arg region', description: 'AWS region of the queues and bucket', check: stackChecks.region },
} as const satisfies StackEnvironmentSpec<string>;

export type BatchWorkerEnvName = keyof typeof BATCH_WORKER_ENV;

/** The queue name at the end of an SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`). */
export function queueNameOfUrl(url: string): string {
  const path = new URL(url).pathname.split('/').filter(Boolean);
  return path[path.length - 1] ?? '';
}

/** Variables of SpotBatchFleet's `coordinatorEnv` output: what `synkti batch cmaes --stack` reads. */
export const BATCH_COORDINATOR_ENV = {
  SYNKTI_CLUSTER: {
    from: 'SpotBatchFleet.coordinatorEnv',
    description: "the fleet's cluster name, the scope of its queue names",
    check: stackChecks.name,
  },
  SYNKTI_TASK_QUEUE_URL: { from: 'SpotBatchFleet.coordinatorEnv', description: 'SQS queue of tasks', check: stackChecks.url },
  SYNKTI_RESULT_QUEUE_URL: { from: 'SpotBatchFleet.coordinatorEnv', description: 'SQS queue of results', check: stackChecks.url },
  SYNKTI_BUCKET: { from: 'SpotBatchFleet.coordinatorEnv', description: 'bucket of checkpoints (under runs/)', check: stackChecks.bucket },
  AWS_REGION: { from: 'SpotBatchFleet.coordinatorEnv', description: 'AWS region of the queues and bucket', check: stackChecks.region },
} as const satisfies StackEnvironmentSpec<string>;

/**
 * Where a run's checkpoints go in the batch bucket (all under BATCH_PREFIXES.runs, which the
 * lifecycle rules cover): each generation's checkpoint is a new object, then the pointer is
 * replaced to name it, so the pointer always names a complete checkpoint.
 */
export function batchCheckpointKeys(run: string): { pointer: string; versionsPrefix: string } {
  return { pointer: `${BATCH_PREFIXES.runs}${run}/checkpoint.json`, versionsPrefix: `${BATCH_PREFIXES.runs}${run}/checkpoints/` };
}
