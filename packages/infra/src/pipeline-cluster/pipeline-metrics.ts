/**
 * Every metric the pipeline cluster's alarms, dashboard and autoscaling read, with who
 * emits it. docs/field-notes.md: "autoscaling on a metric nothing publishes; alarms on metrics
 * nothing emits" — so nothing is alarmed on or scaled from unless it is in this table,
 * and the audit rule `metric-not-emitted` checks that.
 *
 * Sources:
 * - `aws`: published by the AWS service itself (documented metrics; some need a switch,
 *   named in `requires`, which PipelineCluster turns on);
 * - `log`: a CloudWatch Logs metric filter over a structured event our code prints
 *   (`logEvent`: a PIPELINE_LOG_EVENTS name of @synkti/core/contracts, matched as JSON,
 *   `{ $.event = "..." }`; a test runs the real agent and matches its printed lines);
 * - `synkti`: published by our code with PutMetricData under the names of the
 *   PIPELINE_METRICS contract (@synkti/core/contracts), which the publisher imports too.
 */
import { PIPELINE_LOG_EVENTS, PIPELINE_METRICS, logEventFilterPattern, type PipelineLogEventName } from '@synkti/core/contracts';

/** Namespace of Synkti pipeline metrics (log filters and the task database's queue depth). */
export const PIPELINE_METRIC_NAMESPACE = PIPELINE_METRICS.namespace;

/**
 * Queue depth a pool scales from, per pool: tasks ready to be claimed (`ReadyTasks`) and
 * tasks claimed and in flight (`ClaimedTasks`). Scaling reads (ready + claimed) per
 * running agent: with ready alone, a queue whose every task is in flight would read 0 and
 * scale the pool in under running work (the docs/field-notes.md scale-to-zero defect).
 * Published every 60 s with dimensions Cluster=<project>-<environment> and Pool=<pool> by
 * `synkti agent|api --metrics-cluster <cluster>` (packages/tasks/src/pipelines/pipeline-metric-data.ts,
 * from the task database's queue depth, by the requeuer lease holder only); PipelineCluster
 * passes that flag, and the task role may PutMetricData in this namespace only. If it
 * stops, the `queue-metric-missing` alarm fires and the pool stays at its minimum.
 */
export const PIPELINE_QUEUE_METRIC = {
  namespace: PIPELINE_METRIC_NAMESPACE,
  metricName: PIPELINE_METRICS.readyTasks,
  claimedMetricName: PIPELINE_METRICS.claimedTasks,
  dimensions: PIPELINE_METRICS.dimensions,
  periodSeconds: PIPELINE_METRICS.periodSeconds,
} as const;

export type MetricSource = 'aws' | 'log' | 'synkti';

export interface EmittedMetric {
  /** Key used by alarms and the dashboard. */
  id: string;
  namespace: string;
  metricName: string;
  /** Dimension names the metric is published with. */
  dimensions: string[];
  source: MetricSource;
  /** Who emits it. */
  emittedBy: string;
  /** Setting that must be on for AWS to publish it (PipelineCluster sets it). */
  requires?: string | undefined;
  /** For `log`: the structured event its metric filter counts. */
  logEvent?: PipelineLogEventName | undefined;
}

export interface LogMetricFilterSpec {
  /** The metric it produces (an `EmittedMetric` id with source 'log'). */
  metric: string;
  /** CloudWatch Logs JSON filter pattern over the event's fields (logEventFilterPattern). */
  pattern: string;
  /** Log groups of which services it runs over. */
  services: 'agents' | 'api' | 'all';
}

export const EMITTED_METRICS: readonly EmittedMetric[] = [
  // --- load balancer of the API ---
  {
    id: 'api5xx',
    namespace: 'AWS/ApplicationELB',
    metricName: 'HTTPCode_Target_5XX_Count',
    dimensions: ['LoadBalancer'],
    source: 'aws',
    emittedBy: 'Application Load Balancer',
  },
  {
    id: 'apiUnhealthy',
    namespace: 'AWS/ApplicationELB',
    metricName: 'UnHealthyHostCount',
    dimensions: ['TargetGroup', 'LoadBalancer'],
    source: 'aws',
    emittedBy: 'Application Load Balancer',
  },
  {
    id: 'apiLatency',
    namespace: 'AWS/ApplicationELB',
    metricName: 'TargetResponseTime',
    dimensions: ['LoadBalancer'],
    source: 'aws',
    emittedBy: 'Application Load Balancer',
  },
  {
    id: 'apiRequests',
    namespace: 'AWS/ApplicationELB',
    metricName: 'RequestCount',
    dimensions: ['LoadBalancer'],
    source: 'aws',
    emittedBy: 'Application Load Balancer',
  },
  // --- ECS services ---
  {
    id: 'serviceCpu',
    namespace: 'AWS/ECS',
    metricName: 'CPUUtilization',
    dimensions: ['ClusterName', 'ServiceName'],
    source: 'aws',
    emittedBy: 'ECS (every service)',
  },
  {
    id: 'serviceMemory',
    namespace: 'AWS/ECS',
    metricName: 'MemoryUtilization',
    dimensions: ['ClusterName', 'ServiceName'],
    source: 'aws',
    emittedBy: 'ECS (every service)',
  },
  {
    id: 'runningTasks',
    namespace: 'ECS/ContainerInsights',
    metricName: 'RunningTaskCount',
    dimensions: ['ClusterName', 'ServiceName'],
    source: 'aws',
    emittedBy: 'ECS Container Insights',
    requires: 'containerInsights enabled on the ECS cluster',
  },
  // --- Auto Scaling groups of the pools ---
  {
    id: 'poolInstances',
    namespace: 'AWS/AutoScaling',
    metricName: 'GroupInServiceInstances',
    dimensions: ['AutoScalingGroupName'],
    source: 'aws',
    emittedBy: 'EC2 Auto Scaling',
    requires: 'group metrics collection (enabledMetrics)',
  },
  // --- task database ---
  {
    id: 'dbCpu',
    namespace: 'AWS/RDS',
    metricName: 'CPUUtilization',
    dimensions: ['DBInstanceIdentifier'],
    source: 'aws',
    emittedBy: 'RDS',
  },
  {
    id: 'dbFreeStorage',
    namespace: 'AWS/RDS',
    metricName: 'FreeStorageSpace',
    dimensions: ['DBInstanceIdentifier'],
    source: 'aws',
    emittedBy: 'RDS',
  },
  {
    id: 'dbConnections',
    namespace: 'AWS/RDS',
    metricName: 'DatabaseConnections',
    dimensions: ['DBInstanceIdentifier'],
    source: 'aws',
    emittedBy: 'RDS',
  },
  {
    id: 'proxyClientConnections',
    namespace: 'AWS/RDS',
    metricName: 'ClientConnections',
    dimensions: ['ProxyName'],
    source: 'aws',
    emittedBy: 'RDS Proxy',
  },
  // --- our log events (PipelineAgent's, printed as JSON lines by `synkti agent` through the process log) ---
  {
    id: 'taskFailedForGood',
    namespace: PIPELINE_METRIC_NAMESPACE,
    metricName: 'TaskFailedForGood',
    dimensions: [],
    source: 'log',
    emittedBy: 'pipeline agents: a task attempt failed and the task database failed the task for good (outcome "failed")',
    logEvent: PIPELINE_LOG_EVENTS.taskAttemptFailed,
  },
  {
    id: 'taskRetries',
    namespace: PIPELINE_METRIC_NAMESPACE,
    metricName: 'TaskRetries',
    dimensions: [],
    source: 'log',
    emittedBy: 'pipeline agents: a task attempt failed and will be retried (outcome "retry")',
    logEvent: PIPELINE_LOG_EVENTS.taskAttemptFailed,
  },
  {
    id: 'claimErrors',
    namespace: PIPELINE_METRIC_NAMESPACE,
    metricName: 'ClaimErrors',
    dimensions: [],
    source: 'log',
    emittedBy: 'pipeline agents: claiming failed (task database unreachable or failing)',
    logEvent: PIPELINE_LOG_EVENTS.claimFailed,
  },
  {
    id: 'heartbeatErrors',
    namespace: PIPELINE_METRIC_NAMESPACE,
    metricName: 'HeartbeatErrors',
    dimensions: [],
    source: 'log',
    emittedBy: 'pipeline agents: the heartbeat failed',
    logEvent: PIPELINE_LOG_EVENTS.heartbeatFailed,
  },
  // --- queue depth, published by the pipelines code (synkti agent|api --metrics-cluster, packages/tasks pipelines/pipeline-metric-data.ts) ---
  {
    id: 'readyTasks',
    namespace: PIPELINE_QUEUE_METRIC.namespace,
    metricName: PIPELINE_QUEUE_METRIC.metricName,
    dimensions: [PIPELINE_QUEUE_METRIC.dimensions.cluster, PIPELINE_QUEUE_METRIC.dimensions.pool],
    source: 'synkti',
    emittedBy: 'synkti agent|api --metrics-cluster (task database queue depth: ready tasks per pool)',
  },
  {
    id: 'claimedTasks',
    namespace: PIPELINE_QUEUE_METRIC.namespace,
    metricName: PIPELINE_QUEUE_METRIC.claimedMetricName,
    dimensions: [PIPELINE_QUEUE_METRIC.dimensions.cluster, PIPELINE_QUEUE_METRIC.dimensions.pool],
    source: 'synkti',
    emittedBy: 'synkti agent|api --metrics-cluster (claimed, in-flight tasks per pool)',
  },
];

/** Metric filters over the services' log groups (each metric above with source 'log'). */
export const LOG_METRIC_FILTERS: readonly LogMetricFilterSpec[] = [
  {
    metric: 'taskFailedForGood',
    pattern: logEventFilterPattern(PIPELINE_LOG_EVENTS.taskAttemptFailed, { outcome: 'failed' }),
    services: 'agents',
  },
  {
    metric: 'taskRetries',
    pattern: logEventFilterPattern(PIPELINE_LOG_EVENTS.taskAttemptFailed, { outcome: 'retry' }),
    services: 'agents',
  },
  { metric: 'claimErrors', pattern: logEventFilterPattern(PIPELINE_LOG_EVENTS.claimFailed), services: 'agents' },
  { metric: 'heartbeatErrors', pattern: logEventFilterPattern(PIPELINE_LOG_EVENTS.heartbeatFailed), services: 'agents' },
];

/** Metrics other Synkti components alarm or scale on (issue 7's SpotBatchFleet, KubernetesCluster), known to the audit rule too. */
export const OTHER_COMPONENT_METRICS: ReadonlyArray<{ namespace: string; metricName: string; emittedBy: string }> = [
  { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', emittedBy: 'SQS' },
  { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesNotVisible', emittedBy: 'SQS' },
  { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesDelayed', emittedBy: 'SQS' },
  { namespace: 'Synkti/Batch', metricName: 'BacklogPerWorker', emittedBy: 'batch coordinator' },
  { namespace: 'Synkti/Batch', metricName: 'Backlog', emittedBy: 'batch coordinator' },
  // KubernetesCluster (AWS): the spot interruption rule's matches, published by EventBridge.
  { namespace: 'AWS/Events', metricName: 'TriggeredRules', emittedBy: 'EventBridge (spot interruption warning rule)' },
];

export function emittedMetric(id: string): EmittedMetric {
  const m = EMITTED_METRICS.find((x) => x.id === id);
  if (!m) throw new Error(`no emitted metric "${id}"`);
  return m;
}

/** `namespace/metricName` keys of every metric known to be emitted. */
export function knownMetricKeys(): Set<string> {
  return new Set([...EMITTED_METRICS, ...OTHER_COMPONENT_METRICS].map((m) => `${m.namespace}/${m.metricName}`));
}
