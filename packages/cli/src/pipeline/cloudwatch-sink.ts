/**
 * Publishes pipeline queue depth to CloudWatch: `Synkti/Pipelines` `ReadyTasks` and
 * `ClaimedTasks` with dimensions {Cluster, Pool} (what PipelineCluster's GPU pool scales
 * from and its queue-metric-missing alarm watches; see packages/infra pipeline-metrics.ts).
 * The AWS SDK's CloudWatch client is loaded only when publishing is turned on
 * (`--metrics-cluster`), so agents without it start as before.
 */
import { PIPELINE_METRICS } from '@synkti/core/contracts';
import type { PoolQueueDepth, PutMetricData, PutMetricDataInput, QueueMetricsSink } from '@synkti/tasks';
import { loadCloudWatchPutMetricData } from '../cloudwatch-client.ts';

/** The names come from the contract PipelineCluster's scaling and alarms read too. */
export const PIPELINE_METRICS_NAMESPACE = PIPELINE_METRICS.namespace;

/** The PutMetricData input for one publication (at most 2 × pools data points). */
export function queueDepthMetricData(cluster: string, points: PoolQueueDepth[], at: number): PutMetricDataInput {
  const timestamp = new Date(at);
  return {
    Namespace: PIPELINE_METRICS_NAMESPACE,
    MetricData: points.flatMap((p) => {
      const dims = [{ Name: PIPELINE_METRICS.dimensions.cluster, Value: cluster }, { Name: PIPELINE_METRICS.dimensions.pool, Value: p.pool }];
      return [
        { MetricName: PIPELINE_METRICS.readyTasks, Dimensions: dims, Timestamp: timestamp, Value: p.ready, Unit: 'Count' as const },
        { MetricName: PIPELINE_METRICS.claimedTasks, Dimensions: dims, Timestamp: timestamp, Value: p.claimed, Unit: 'Count' as const },
      ];
    }),
  };
}

/** A sink over any PutMetricData function (tests pass a fake one). */
export function queueDepthSink(cluster: string, putMetricData: PutMetricData): QueueMetricsSink {
  return async (points, at) => {
    const input = queueDepthMetricData(cluster, points, at);
    // PutMetricData takes up to 1000 points per call; 2 per pool stays far below.
    await putMetricData(input);
  };
}

/** The CloudWatch sink, with the SDK's default credentials and region. */
export async function cloudWatchQueueSink(cluster: string): Promise<QueueMetricsSink> {
  return queueDepthSink(cluster, await loadCloudWatchPutMetricData({ why: 'publishing queue metrics' }));
}
