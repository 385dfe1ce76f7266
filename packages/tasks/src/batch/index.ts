/**
 * @synkti/tasks/batch: the parts of a batch run that need only core, cloud and tasks: the
 * queue backend of a run, the objective loader, the S3 checkpoint store, the cached worker
 * count, the batch worker's runtime, state pools (their keys, upload and checked read, with the
 * model upload and fetcher injected), a local run's worker fleet of agent nodes (how they boot
 * injected), and the CMA-ES coordinator's run (runBatchCmaes, with its fleet, metrics sink and
 * progress injected). The CLI's `synkti batch` parses flags and renders; this is what it calls.
 */
export {
  BATCH_BACKENDS,
  BATCH_BUCKET,
  POSTGRES_URL_ENV,
  DEFAULT_BATCH_MAX_RECEIVES,
  resolveBatchStateDir,
  batchObjectStore,
  queueNamesOf,
  openRunQueues,
  backendEnv,
  type BatchBackend,
  type BackendSettings,
  type RunQueues,
} from './backend.ts';
export { BUILTIN_OBJECTIVE_NAMES, normalizeObjective, loadObjective } from './objective.ts';
export { withCheckpointPointers, openStackCheckpoints } from './s3-checkpoints.ts';
export { cachedWorkerCount, type CachedWorkerCountOptions } from './cached-worker-count.ts';
export {
  DEFAULT_WORKER_LEASE_MS,
  STATE_POOLS_DIR_ENV,
  parseStatePoolNames,
  parseWorkerConfig,
  workerConfigFromStack,
  runBatchWorker,
  type BatchWorkerConfig,
  type WorkerStatePools,
  type RunBatchWorkerOptions,
  type StatePoolFetcher,
  type FetchedStatePool,
} from './batch-worker.ts';
export { statePoolPrefix } from './state-pool-prefix.ts';
export {
  uploadStatePool,
  fetchStatePool,
  statePoolTarget,
  type UploadStatePoolOptions,
  type StatePoolUpload,
  type FetchStatePoolOptions,
  type StatePoolModelFetch,
  type FetchedManifest,
  type StatePool,
} from './state-pools.ts';
export {
  BATCH_ROLE,
  BATCH_WORKER_CONFIG_ENV,
  BatchWorkerFleet,
  batchClusterName,
  batchWorkerSpec,
  openBatchCloud,
  runInstances,
  type BatchCloudBoot,
  type BatchWorkerSpecOptions,
  type BatchWorkerFleetOptions,
} from './batch-worker-fleet.ts';
export { localBatchFleet, type LocalBatchFleetOptions } from './local-batch-fleet.ts';
export { stackTargetFromEnv, type BatchStackTarget } from './stack-target.ts';
export {
  DEFAULT_MAX_SAMPLES,
  NOISE_HANDLINGS,
  settleCmaesRun,
  type CmaesRunMeta,
  type CmaesRunRequest,
  type CmaesRunSettings,
  type NoiseHandling,
} from './cmaes-run-settings.ts';
export { populationForWorkers, type PopulationRequest } from './population-auto.ts';
export {
  runBatchCmaes,
  type RunBatchCmaesOptions,
  type BatchSummary,
  type BatchCmaesFleet,
  type BatchFleetLaunch,
  type BatchFleetCounts,
  type BatchCmaesMetrics,
  type BatchCmaesProgress,
} from './run-batch-cmaes.ts';
export { batchMetricData, batchMetricsSink } from './batch-metrics.ts';
export { ecsWorkerCounter, ecsWorkerServiceName, type EcsWorkerCounterOptions, type DescribeEcsServices } from './ecs-worker-count.ts';
export {
  loadBatchRun,
  batchRunStatus,
  batchRunBest,
  batchRunQueueStats,
  listBatchRuns,
  markBatchRunCancelled,
  batchRunDeadLetters,
  redriveBatchRun,
  type BatchRunCheckpoint,
  type BatchRunRecord,
  type BatchRunListing,
  type BatchDeadLetterRow,
} from './batch-runs.ts';
