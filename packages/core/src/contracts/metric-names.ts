/**
 * CloudWatch metrics one package publishes and another (a Pulumi component's scaling
 * policy or alarm) reads. Pulumi-free, so a coordinator or agent can import them without
 * loading Pulumi; infra reads the same constants, so a rename cannot drift.
 */

/** The batch coordinator's backlog (published by the coordinator; SpotBatchFleet's target tracking reads it). */
export const BATCH_METRICS = {
  namespace: 'Synkti/Batch',
  /** Visible + delayed + in-flight tasks. */
  backlog: 'Backlog',
  /** (visible + delayed + in-flight tasks) / live workers; the backlog itself with no worker. Statistic: Average. */
  backlogPerWorker: 'BacklogPerWorker',
  /** The one dimension: the fleet's cluster name (`<project>-<environment>`). */
  dimension: 'Cluster',
} as const;

/** Pipeline queue depth per pool (published by the pipelines agents; PipelineCluster's GPU pool scales from it). */
export const PIPELINE_METRICS = {
  namespace: 'Synkti/Pipelines',
  /** Tasks ready to be claimed by the pool. */
  readyTasks: 'ReadyTasks',
  /** Tasks claimed and not yet done. */
  claimedTasks: 'ClaimedTasks',
  /** Dimension names: the cluster and the pool. */
  dimensions: { cluster: 'Cluster', pool: 'Pool' },
  /** One point a minute: what scaling policies evaluate. */
  periodSeconds: 60,
} as const;
