/**
 * Publishes the batch coordinator's backlog to CloudWatch: namespace `Synkti/Batch`,
 * metrics `Backlog` and `BacklogPerWorker`, dimension `Cluster=<cluster>`, one data point
 * each per sample. SpotBatchFleet's target-tracking policy reads `BacklogPerWorker`
 * (statistic Average) with that dimension; `Backlog` is for dashboards. The names are
 * repeated here, not imported from @synkti/infra (that would load Pulumi into the
 * coordinator); batch-metrics.test.ts checks they equal what the component reads.
 */
import { createCoordinatorMetricsPublisher, type CoordinatorMetrics, type CoordinatorMetricsPublisher, type CoordinatorMetricsSink } from '@synkti/tasks';
import {
  MAX_METRIC_DATA_PER_PUT, loadCloudWatchPutMetricData, type MetricDatum, type PutMetricData, type PutMetricDataInput,
} from '../cloudwatch-client.ts';

/** CloudWatch namespace of the coordinator's metrics (= @synkti/infra BATCH_METRIC_NAMESPACE). */
export const BATCH_METRICS_NAMESPACE = 'Synkti/Batch';
/** (visible + delayed + in-flight tasks) / live workers; = backlog with no worker (= BATCH_METRIC_BACKLOG_PER_WORKER). */
export const BATCH_METRICS_BACKLOG_PER_WORKER = 'BacklogPerWorker';
/** Visible + delayed + in-flight tasks (= BATCH_METRIC_BACKLOG). */
export const BATCH_METRICS_BACKLOG = 'Backlog';
/** The one dimension: the fleet's cluster name, `<project>-<environment>` (= BATCH_METRIC_DIMENSION). */
export const BATCH_METRICS_DIMENSION = 'Cluster';
/** @default publishing interval: target tracking evaluates one-minute periods. */
export const DEFAULT_BATCH_METRICS_INTERVAL_MS = 60_000;

/**
 * The PutMetricData requests for a batch of samples (2 points per sample, at most 1000 per
 * request). A sample whose worker count is unknown (`workers` undefined: the count could
 * not be read) has no BacklogPerWorker point: target tracking holds on a missing point,
 * while the whole backlog as one worker's share would scale out far too much. A known
 * count of 0 gives the backlog itself (see CoordinatorMetrics.backlogPerWorker).
 */
export function batchMetricData(cluster: string, samples: readonly CoordinatorMetrics[]): PutMetricDataInput[] {
  const dims = [{ Name: BATCH_METRICS_DIMENSION, Value: cluster }];
  const data: MetricDatum[] = samples.flatMap((s) => {
    const Timestamp = new Date(s.at);
    // CloudWatch rejects NaN and Infinity; the coordinator never produces them, but a bad point must not sink the batch.
    return [
      { MetricName: BATCH_METRICS_BACKLOG, Dimensions: dims, Timestamp, Value: s.backlog, Unit: 'Count' as const },
      ...(s.workers === undefined ? [] : [{ MetricName: BATCH_METRICS_BACKLOG_PER_WORKER, Dimensions: dims, Timestamp, Value: s.backlogPerWorker, Unit: 'None' as const }]),
    ].filter((d) => Number.isFinite(d.Value));
  });
  const requests: PutMetricDataInput[] = [];
  for (let i = 0; i < data.length; i += MAX_METRIC_DATA_PER_PUT) {
    requests.push({ Namespace: BATCH_METRICS_NAMESPACE, MetricData: data.slice(i, i + MAX_METRIC_DATA_PER_PUT) });
  }
  return requests;
}

/** A coordinator metrics sink over any PutMetricData function (tests pass a fake one). */
export function batchMetricsSink(cluster: string, putMetricData: PutMetricData): CoordinatorMetricsSink {
  return async (samples) => {
    for (const input of batchMetricData(cluster, samples)) await putMetricData(input);
  };
}

export interface BatchMetricsOptions {
  /** The `Cluster` dimension (already validated: `validateDimensionValue`). */
  cluster: string;
  /** The coordinator (its `metrics()`). */
  coordinator: { metrics(): Promise<CoordinatorMetrics> };
  /** @default 60000 */
  intervalMs?: number | undefined;
  /** AWS region of CloudWatch. @default the SDK's (AWS_REGION, profile) */
  region?: string | undefined;
  /** Where warnings go (once per failure streak). */
  onWarning: (message: string) => void;
  /** PutMetricData to use. @default the CloudWatch client, loaded now */
  putMetricData?: PutMetricData | undefined;
}

/** Starts publishing (first sample now); stop the returned publisher when the run ends. */
export async function startBatchMetrics(options: BatchMetricsOptions): Promise<CoordinatorMetricsPublisher> {
  const put = options.putMetricData ?? await loadCloudWatchPutMetricData({ region: options.region, why: 'publishing the batch backlog (--metrics-cluster)' });
  const publisher = createCoordinatorMetricsPublisher({
    source: options.coordinator,
    sink: batchMetricsSink(options.cluster, put),
    intervalMs: options.intervalMs ?? DEFAULT_BATCH_METRICS_INTERVAL_MS,
    onWarning: (message) => options.onWarning(message),
  });
  publisher.start();
  return publisher;
}

