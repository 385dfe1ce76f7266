/**
 * `--metrics-cluster` of `synkti agent` and `synkti api`: pipeline queue depth to
 * CloudWatch (the data is queueDepthSink). The AWS SDK's CloudWatch client is
 * loaded only when publishing is turned on, so agents without it start as before.
 */
import { loadCloudWatchPutMetricData } from '../cloudwatch/cloudwatch-client.ts';
import { queueDepthSink } from './pipeline-metric-data.ts';
import type { QueueMetricsSink } from './pipeline-queue-metrics.ts';

/** The CloudWatch sink, with the SDK's default credentials and region. */
export async function cloudWatchQueueSink(cluster: string): Promise<QueueMetricsSink> {
  return queueDepthSink(cluster, await loadCloudWatchPutMetricData({ why: 'publishing queue metrics' }));
}
