/**
 * The batch coordinator's backlog as CloudWatch data: namespace `Synkti/Batch`, metrics
 * `Backlog` and `BacklogPerWorker`, dimension `Cluster=<cluster>`, one data point each per
 * sample. SpotBatchFleet's target-tracking policy reads `BacklogPerWorker` (statistic
 * Average) with that dimension; `Backlog` is for dashboards. The names are the contract's
 * (BATCH_METRICS in @synkti/core/contracts), which the component reads too.
 */
import { BATCH_METRICS } from '@synkti/core/contracts';
import { MAX_METRIC_DATA_PER_PUT, type MetricDatum, type PutMetricData, type PutMetricDataInput } from '../cloudwatch/put-metric-data.ts';
import type { CoordinatorMetricsSink } from '../coordinator/metrics-publisher.ts';
import type { CoordinatorMetrics } from '../coordinator/types.ts';

/**
 * The PutMetricData requests for a batch of samples (2 points per sample, at most 1000 per
 * request). A sample whose worker count is unknown (`workers` undefined: the count could
 * not be read) has no BacklogPerWorker point: target tracking holds on a missing point,
 * while the whole backlog as one worker's share would scale out far too much. A known
 * count of 0 gives the backlog itself (see CoordinatorMetrics.backlogPerWorker).
 */
export function batchMetricData(cluster: string, samples: readonly CoordinatorMetrics[]): PutMetricDataInput[] {
  const dims = [{ Name: BATCH_METRICS.dimension, Value: cluster }];
  const data: MetricDatum[] = samples.flatMap((s) => {
    const Timestamp = new Date(s.at);
    // CloudWatch rejects NaN and Infinity; the coordinator never produces them, but a bad point must not sink the batch.
    return [
      { MetricName: BATCH_METRICS.backlog, Dimensions: dims, Timestamp, Value: s.backlog, Unit: 'Count' as const },
      ...(s.workers === undefined
        ? []
        : [{ MetricName: BATCH_METRICS.backlogPerWorker, Dimensions: dims, Timestamp, Value: s.backlogPerWorker, Unit: 'None' as const }]),
    ].filter((d) => Number.isFinite(d.Value));
  });
  const requests: PutMetricDataInput[] = [];
  for (let i = 0; i < data.length; i += MAX_METRIC_DATA_PER_PUT) {
    requests.push({ Namespace: BATCH_METRICS.namespace, MetricData: data.slice(i, i + MAX_METRIC_DATA_PER_PUT) });
  }
  return requests;
}

/** A coordinator metrics sink over any PutMetricData function (the CLI's CloudWatch client, a fake in tests). */
export function batchMetricsSink(cluster: string, putMetricData: PutMetricData): CoordinatorMetricsSink {
  return async (samples) => {
    for (const input of batchMetricData(cluster, samples)) await putMetricData(input);
  };
}
