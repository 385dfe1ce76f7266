/**
 * @synkti/tasks/batch: the parts of a batch run that need only core, cloud and tasks: the
 * queue backend of a run, the objective loader, the S3 checkpoint store and the cached worker
 * count. The CLI's `synkti batch` parses flags and renders; this is what it calls.
 */
export {
  BATCH_BACKENDS, BATCH_BUCKET, POSTGRES_URL_ENV, DEFAULT_BATCH_MAX_RECEIVES, resolveBatchStateDir, batchObjectStore, queueNamesOf,
  openRunQueues, backendEnv, type BatchBackend, type BackendSettings, type RunQueues,
} from './backend.ts';
export { BUILTIN_OBJECTIVE_NAMES, normalizeObjective, loadObjective } from './objective.ts';
export { withCheckpointPointers, openStackCheckpoints } from './s3-checkpoints.ts';
export { cachedWorkerCount, type CachedWorkerCountOptions } from './cached-worker-count.ts';
