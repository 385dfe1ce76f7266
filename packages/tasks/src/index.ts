export {
  QUEUE_LIMITS,
  type Queue,
  type QueueOptions,
  type QueueStats,
  type LeasedMessage,
  type ReceiveOptions,
  type SendOptions,
  type SendEntry,
  type ReleaseOptions,
  type DeadLetter,
  type DeadLetterListOptions,
  type RedriveOptions,
  type PayloadStoreOptions,
  type ReceiptLike,
  type DurationInput,
} from './queue/types.ts';
export { DEFAULT_MAX_RECEIVES, DEFAULT_LEASE_MS, validateQueueName } from './queue/queue.ts';
export { openLocalQueue, type LocalQueueOptions } from './queue/local-queue.ts';
export { openPostgresQueue, type PostgresQueueOptions } from './queue/postgres-queue.ts';
export { openSqsQueue, type SqsQueueOptions } from './queue/sqs-queue.ts';
export { createWorker, DEFAULT_RELEASE_REASON } from './worker/worker.ts';
export { queueResultSink } from './worker/queue-result-sink.ts';
export {
  runPreemptible,
  type PreemptibleWorker,
  type PreemptibleOutcome,
  type PreemptionCause,
  type RunPreemptibleOptions,
} from './worker/run-preemptible.ts';
export type {
  Worker,
  WorkerOptions,
  WorkerStats,
  WorkerErrorContext,
  WorkerErrorStage,
  TaskContext,
  TaskHandler,
  TaskOutcome,
  TaskResult,
  ResultSink,
} from './worker/types.ts';
export {
  MAX_METRIC_DATA_PER_PUT,
  MAX_DIMENSION_VALUE_LENGTH,
  validateDimensionValue,
  type MetricDatum,
  type PutMetricData,
  type PutMetricDataInput,
} from './cloudwatch/put-metric-data.ts';
export { loadCloudWatchPutMetricData } from './cloudwatch/cloudwatch-client.ts';
export { importAwsSdk } from './cloudwatch/lazy-aws-sdk.ts';
export * from './cmaes/index.ts';
export * from './coordinator/index.ts';
export * from './pipelines/index.ts';
