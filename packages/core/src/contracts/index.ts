/**
 * @synkti/core/contracts: the names and shapes one package produces and another consumes,
 * in one Pulumi-free place (no I/O, only zod), so agent, tasks, dashboard, cli and infra
 * import them instead of repeating a string or grepping another package's source.
 *
 * Adding to it: one file per concept (health paths, metric names, the agent status
 * schema, ...), exported from here. Queue names and S3 prefixes (batch, pipelines) belong
 * here too: add `queue-names.ts` / `object-prefixes.ts` beside these and export them below.
 * A test beside each file pins the values other processes depend on.
 */
export { ROUTER_HEALTH_PATH, AGENT_API_PATHS } from './health-paths.ts';
export { BATCH_METRICS, PIPELINE_METRICS } from './metric-names.ts';
export {
  agentStatusSchema,
  agentStatusMemberSchema,
  agentModelStatusSchema,
  agentDrainStatusSchema,
  agentAutoscaleStatusSchema,
  parseAgentStatus,
  MAX_STATUS_MEMBERS,
  type AgentStatus,
  type AgentStatusMember,
  type AgentModelStatus,
  type AgentDrainStatus,
  type AgentAutoscaleStatus,
} from './agent-status.ts';
export {
  readStackEnvironment,
  describeStackEnvironment,
  stackChecks,
  type StackVariable,
  type StackEnvironmentSpec,
  type StackEnvironment,
} from './stack-environment.ts';
export {
  BATCH_PREFIXES,
  BATCH_WORKER_ENV,
  BATCH_COORDINATOR_ENV,
  batchQueueNames,
  batchRunScope,
  batchCheckpointKeys,
  queueNameOfUrl,
  STATE_POOL_NAME,
  MAX_STATE_POOLS,
  statePoolNameProblem,
  splitStatePoolNames,
  type BatchWorkerEnvName,
} from './batch-contract.ts';
export { PIPELINE_AGENT_ENV, type PipelineAgentEnvName } from './pipelines-contract.ts';
export {
  PIPELINE_LOG_EVENTS,
  logEventFilterPattern,
  type PipelineLogEventName,
  type PipelineLogEventFields,
  type TaskAttemptOutcome,
  type LogEvent,
} from './log-events.ts';
