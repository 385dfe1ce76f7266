export {
  TASK_STATES,
  JOB_STATES,
  JOB_STREAMS,
  type PipelineTaskState,
  type PipelineJobState,
  type PipelineJobStream,
  type Json,
  type NewPipelineTask,
  type NewPipelineJob,
  type PipelineJobRecord,
  type PipelineTaskRecord,
  type ClaimedPipelineTask,
  type ClaimRequest,
  type CompleteRequest,
  type CompleteOutcome,
  type FailRequest,
  type FailOutcome,
  type HeartbeatEntry,
  type AgentRegistration,
  type LiveAgent,
  type SweepResult,
  type PipelineCounters,
  type JobListRequest,
  type StageCounts,
  type TaskDatabase,
} from './types.ts';
export {
  PIPELINE_LIMITS,
  TASK_KEY_PATTERN,
  TASK_TYPE_PATTERN,
  DEFAULT_TASK_MAX_ATTEMPTS,
  DEFAULT_TASK_TIMEOUT_MS,
  validateNewTasks,
  type ResolvedNewTask,
} from './task-validation.ts';
export { SqlTaskDatabase, type SqlTaskDatabaseOptions } from './sql-task-database.ts';
export {
  openTaskDatabase,
  openSqliteTaskDatabase,
  openPostgresTaskDatabase,
  type SqliteTaskDatabaseOptions,
  type PostgresTaskDatabaseOptions,
  type TaskDatabaseUrlOptions,
} from './open-task-database.ts';
export {
  definePipeline,
  PermanentTaskError,
  type Pipeline,
  type PipelineInput,
  type PipelineStage,
  type PipelineStageInput,
  type PipelineTaskContext,
  type StageHandler,
  type StageTask,
} from './define-pipeline.ts';
export { PipelineAgent, type PipelineAgentOptions, type PipelineAgentStats } from './pipeline-agent.ts';
export { PipelineRequeuer, REQUEUER_LEASE, REQUEUER_POOL, type PipelineRequeuerOptions, type RequeuerStatus } from './pipeline-requeuer.ts';
export { readPipelineResult } from './result-store.ts';
export {
  PipelineQueueMetrics,
  queueDepthByPool,
  openQueueMetricsSink,
  type PipelineQueueMetricsOptions,
  type PoolQueueDepth,
  type QueueMetricsSink,
} from './pipeline-queue-metrics.ts';
export { queueDepthMetricData, queueDepthSink } from './pipeline-metric-data.ts';
export { cloudWatchQueueSink } from './cloudwatch-queue-sink.ts';
export { pipelineSubmit } from './submit-pipeline-job.ts';
export {
  openPipelineCounter,
  pipelineCountsSql,
  type PipelineCounter,
  type PipelineCounterOptions,
  type PipelineStats,
} from './pipeline-counts.ts';
export { loadPipelineModules } from './pipeline-modules.ts';
export { DEFAULT_PIPELINE_BUCKET, openPipelineStore, openS3PipelineStore } from './pipeline-store.ts';
export {
  runPipelineAgentProcess,
  agentOptionsFromStack,
  type PipelineAgentProcessOptions,
  type PipelineAgentProcessControl,
} from './pipeline-agent-process.ts';
