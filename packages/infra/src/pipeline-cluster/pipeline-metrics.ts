/**
 * Every metric the pipeline cluster's alarms, dashboard and autoscaling read, with who
 * emits it. docs/field-notes.md: "autoscaling on a metric nothing publishes; alarms on metrics
 * nothing emits" — so nothing is alarmed on or scaled from unless it is in this table,
 * and the audit rule `metric-not-emitted` checks that.
 *
 * Sources:
 * - `aws`: published by the AWS service itself (documented metrics; some need a switch,
 *   named in `requires`, which PipelineCluster turns on);
 * - `log`: a CloudWatch Logs metric filter over a log line our code really prints
 *   (`evidence` names the file and the literal text; a test checks they are there);
 * - `synkti`: published by our code with PutMetricData (`evidence` as above; `pending`
 *   would name a publisher still to be written — none is).
 */

/** Namespace of Synkti pipeline metrics (log filters and the task database's queue depth). */
export const PIPELINE_METRIC_NAMESPACE = 'Synkti/Pipelines';

/**
 * Queue depth a pool scales from, per pool: tasks ready to be claimed (`ReadyTasks`) and
 * tasks claimed and in flight (`ClaimedTasks`). Scaling reads (ready + claimed) per
 * running agent: with ready alone, a queue whose every task is in flight would read 0 and
 * scale the pool in under running work (the docs/field-notes.md scale-to-zero defect).
 * Published every 60 s with dimensions Cluster=<project>-<environment> and Pool=<pool> by
 * `synkti agent|api --metrics-cluster <cluster>` (packages/cli/src/pipeline/cloudwatch-sink.ts,
 * from the task database's queue depth, by the requeuer lease holder only); PipelineCluster
 * passes that flag, and the task role may PutMetricData in this namespace only. If it
 * stops, the `queue-metric-missing` alarm fires and the pool stays at its minimum.
 */
export const PIPELINE_QUEUE_METRIC = {
  namespace: PIPELINE_METRIC_NAMESPACE,
  metricName: 'ReadyTasks',
  claimedMetricName: 'ClaimedTasks',
  dimensions: { cluster: 'Cluster', pool: 'Pool' },
  periodSeconds: 60,
} as const;

export type MetricSource = 'aws' | 'log' | 'synkti';

export interface Evidence {
  /** Repo-relative file. */
  file: string;
  /** Literal text that must be in it. */
  text: string;
}

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
  /** For `log`/`synkti`: where the emitting code is. */
  evidence?: Evidence[] | undefined;
  /** For `synkti` metrics whose publisher is still to be written: what must publish it. */
  pending?: string | undefined;
}

export interface LogMetricFilterSpec {
  /** The metric it produces (an `EmittedMetric` id with source 'log'). */
  metric: string;
  /** CloudWatch Logs filter pattern (all quoted terms must appear in the line). */
  pattern: string;
  /** Log groups of which services it runs over. */
  services: 'agents' | 'api' | 'all';
}

const AGENT = 'packages/tasks/src/pipelines/pipeline-agent.ts';
const TYPES = 'packages/tasks/src/pipelines/types.ts';
const SINK = 'packages/cli/src/pipeline/cloudwatch-sink.ts';
const CLI = 'packages/cli/src/commands/pipeline-command.ts';
/** The agent process prints every PipelineAgent log line, one per line, to stderr (which awslogs ships). */
// The agent process prints every line through the one worker-process log (@synkti/core/process-log).
const PRINTED = { file: 'packages/cli/src/pipeline/agent-process.ts', text: 'createProcessLog({ component: `agent ${options.pool}`, json: options.json })' };

export const EMITTED_METRICS: readonly EmittedMetric[] = [
  // --- load balancer of the API ---
  { id: 'api5xx', namespace: 'AWS/ApplicationELB', metricName: 'HTTPCode_Target_5XX_Count', dimensions: ['LoadBalancer'], source: 'aws', emittedBy: 'Application Load Balancer' },
  { id: 'apiUnhealthy', namespace: 'AWS/ApplicationELB', metricName: 'UnHealthyHostCount', dimensions: ['TargetGroup', 'LoadBalancer'], source: 'aws', emittedBy: 'Application Load Balancer' },
  { id: 'apiLatency', namespace: 'AWS/ApplicationELB', metricName: 'TargetResponseTime', dimensions: ['LoadBalancer'], source: 'aws', emittedBy: 'Application Load Balancer' },
  { id: 'apiRequests', namespace: 'AWS/ApplicationELB', metricName: 'RequestCount', dimensions: ['LoadBalancer'], source: 'aws', emittedBy: 'Application Load Balancer' },
  // --- ECS services ---
  { id: 'serviceCpu', namespace: 'AWS/ECS', metricName: 'CPUUtilization', dimensions: ['ClusterName', 'ServiceName'], source: 'aws', emittedBy: 'ECS (every service)' },
  { id: 'serviceMemory', namespace: 'AWS/ECS', metricName: 'MemoryUtilization', dimensions: ['ClusterName', 'ServiceName'], source: 'aws', emittedBy: 'ECS (every service)' },
  { id: 'runningTasks', namespace: 'ECS/ContainerInsights', metricName: 'RunningTaskCount', dimensions: ['ClusterName', 'ServiceName'], source: 'aws', emittedBy: 'ECS Container Insights', requires: 'containerInsights enabled on the ECS cluster' },
  // --- Auto Scaling groups of the pools ---
  { id: 'poolInstances', namespace: 'AWS/AutoScaling', metricName: 'GroupInServiceInstances', dimensions: ['AutoScalingGroupName'], source: 'aws', emittedBy: 'EC2 Auto Scaling', requires: 'group metrics collection (enabledMetrics)' },
  // --- task database ---
  { id: 'dbCpu', namespace: 'AWS/RDS', metricName: 'CPUUtilization', dimensions: ['DBInstanceIdentifier'], source: 'aws', emittedBy: 'RDS' },
  { id: 'dbFreeStorage', namespace: 'AWS/RDS', metricName: 'FreeStorageSpace', dimensions: ['DBInstanceIdentifier'], source: 'aws', emittedBy: 'RDS' },
  { id: 'dbConnections', namespace: 'AWS/RDS', metricName: 'DatabaseConnections', dimensions: ['DBInstanceIdentifier'], source: 'aws', emittedBy: 'RDS' },
  { id: 'proxyClientConnections', namespace: 'AWS/RDS', metricName: 'ClientConnections', dimensions: ['ProxyName'], source: 'aws', emittedBy: 'RDS Proxy' },
  // --- our log lines (PipelineAgent onLog, printed one per line by `synkti agent`) ---
  {
    id: 'taskFailedForGood', namespace: PIPELINE_METRIC_NAMESPACE, metricName: 'TaskFailedForGood', dimensions: [], source: 'log',
    emittedBy: 'pipeline agents: "task <key> (<type>) attempt <n> failed: <error> -> failed"',
    evidence: [{ file: AGENT, text: 'this.log(`task ${task.key} (${task.type}) attempt ${task.attempts} failed: ${message} -> ${outcome}`)' }, { file: TYPES, text: "export type FailOutcome = 'retry' | 'failed' | 'stale';" }, PRINTED],
  },
  {
    id: 'taskRetries', namespace: PIPELINE_METRIC_NAMESPACE, metricName: 'TaskRetries', dimensions: [], source: 'log',
    emittedBy: 'pipeline agents: "... attempt <n> failed: <error> -> retry"',
    evidence: [{ file: AGENT, text: 'attempt ${task.attempts} failed: ${message} -> ${outcome}' }, { file: TYPES, text: "export type FailOutcome = 'retry' | 'failed' | 'stale';" }, PRINTED],
  },
  {
    id: 'claimErrors', namespace: PIPELINE_METRIC_NAMESPACE, metricName: 'ClaimErrors', dimensions: [], source: 'log',
    emittedBy: 'pipeline agents: "claim failed: <error>" (task database unreachable or failing)',
    evidence: [{ file: AGENT, text: 'this.log(`claim failed: ' }, PRINTED],
  },
  {
    id: 'heartbeatErrors', namespace: PIPELINE_METRIC_NAMESPACE, metricName: 'HeartbeatErrors', dimensions: [], source: 'log',
    emittedBy: 'pipeline agents: "heartbeat failed: <error>"',
    evidence: [{ file: AGENT, text: 'this.log(`heartbeat failed: ' }, PRINTED],
  },
  // --- queue depth, published by the pipelines code (synkti agent|api --metrics-cluster) ---
  {
    id: 'readyTasks', namespace: PIPELINE_QUEUE_METRIC.namespace, metricName: PIPELINE_QUEUE_METRIC.metricName, dimensions: [PIPELINE_QUEUE_METRIC.dimensions.cluster, PIPELINE_QUEUE_METRIC.dimensions.pool], source: 'synkti',
    emittedBy: 'synkti agent|api --metrics-cluster (task database queue depth: ready tasks per pool)',
    evidence: [
      { file: SINK, text: "export const PIPELINE_METRICS_NAMESPACE = 'Synkti/Pipelines';" },
      { file: SINK, text: "const dims = [{ Name: 'Cluster', Value: cluster }, { Name: 'Pool', Value: p.pool }];" },
      { file: SINK, text: "{ MetricName: 'ReadyTasks', Dimensions: dims" },
      { file: CLI, text: ".option('--metrics-cluster <name>'" },
    ],
  },
  {
    id: 'claimedTasks', namespace: PIPELINE_QUEUE_METRIC.namespace, metricName: PIPELINE_QUEUE_METRIC.claimedMetricName, dimensions: [PIPELINE_QUEUE_METRIC.dimensions.cluster, PIPELINE_QUEUE_METRIC.dimensions.pool], source: 'synkti',
    emittedBy: 'synkti agent|api --metrics-cluster (claimed, in-flight tasks per pool)',
    evidence: [{ file: SINK, text: "{ MetricName: 'ClaimedTasks', Dimensions: dims" }],
  },
];

/** Metric filters over the services' log groups (each metric above with source 'log'). */
export const LOG_METRIC_FILTERS: readonly LogMetricFilterSpec[] = [
  { metric: 'taskFailedForGood', pattern: '"attempt" "failed:" "-> failed"', services: 'agents' },
  { metric: 'taskRetries', pattern: '"attempt" "failed:" "-> retry"', services: 'agents' },
  { metric: 'claimErrors', pattern: '"claim failed:"', services: 'agents' },
  { metric: 'heartbeatErrors', pattern: '"heartbeat failed:"', services: 'agents' },
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
