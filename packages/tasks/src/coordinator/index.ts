export type {
  BatchTaskKey,
  BatchTask,
  BatchResultValue,
  UnscorablePolicy,
  CoordinatorCounters,
  CoordinatorCheckpoint,
  GenerationRecord,
  CoordinatorMetrics,
  CoordinatorEvent,
  CoordinatorOptions,
  Coordinator,
} from './types.ts';
export { validateRunId, candidateDigest, encodeBatchTask, parseBatchTask, parseBatchResultValue, batchResultValue } from './batch-task.ts';
export { createCoordinator, readCheckpoint, checkpointKeyOf, cancelKeyOf, emptyCoordinatorCounters } from './coordinator.ts';
export {
  runGenerations,
  type AskTellOptimizer,
  type GenerationReport,
  type RunGenerationsOptions,
  type RunGenerationsResult,
} from './run-generations.ts';
export { createEvaluationHandler, type BatchObjective, type EvaluationHandlerOptions } from './evaluation-handler.ts';
export {
  CoordinatorMetricsPublisher,
  createCoordinatorMetricsPublisher,
  type CoordinatorMetricsSink,
  type CoordinatorMetricsPublisherOptions,
  type CoordinatorMetricsPublisherStats,
} from './metrics-publisher.ts';
