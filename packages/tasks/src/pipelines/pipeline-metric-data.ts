/**
 * Pipeline queue depth as CloudWatch data: `Synkti/Pipelines` `ReadyTasks` and
 * `ClaimedTasks` with dimensions {Cluster, Pool} (what PipelineCluster's GPU pool scales
 * from and its queue-metric-missing alarm watches). Sending is injected (PutMetricData):
 * the CLI loads the SDK's CloudWatch client only when publishing is turned on.
 */
import { PIPELINE_METRICS } from '@synkti/core/contracts';
import type { PutMetricData, PutMetricDataInput } from '../cloudwatch/put-metric-data.ts';
import type { PoolQueueDepth, QueueMetricsSink } from './pipeline-queue-metrics.ts';

/** The PutMetricData input for one publication (at most 2 × pools data points). */
export function queueDepthMetricData(cluster: string, points: PoolQueueDepth[], at: number): PutMetricDataInput {
  const timestamp = new Date(at);
  return {
    Namespace: PIPELINE_METRICS.namespace,
    MetricData: points.flatMap((p) => {
      const dims = [
        { Name: PIPELINE_METRICS.dimensions.cluster, Value: cluster },
        { Name: PIPELINE_METRICS.dimensions.pool, Value: p.pool },
      ];
      return [
        { MetricName: PIPELINE_METRICS.readyTasks, Dimensions: dims, Timestamp: timestamp, Value: p.ready, Unit: 'Count' as const },
        { MetricName: PIPELINE_METRICS.claimedTasks, Dimensions: dims, Timestamp: timestamp, Value: p.claimed, Unit: 'Count' as const },
      ];
    }),
  };
}

/** A sink over any PutMetricData function (the CLI's CloudWatch client, a fake in tests). */
export function queueDepthSink(cluster: string, putMetricData: PutMetricData): QueueMetricsSink {
  return async (points, at) => {
    const input = queueDepthMetricData(cluster, points, at);
    // PutMetricData takes up to 1000 points per call; 2 per pool stays far below.
    await putMetricData(input);
  };
}
