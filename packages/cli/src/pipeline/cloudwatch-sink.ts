/**
 * Publishes pipeline queue depth to CloudWatch: `Synkti/Pipelines` `ReadyTasks` and
 * `ClaimedTasks` with dimensions {Cluster, Pool} (what PipelineCluster's GPU pool scales
 * from and its queue-metric-missing alarm watches; see packages/infra pipeline-metrics.ts).
 * The AWS SDK's CloudWatch client is loaded only when publishing is turned on
 * (`--metrics-cluster`), so agents without it start as before.
 */
import { SynktiError } from '@synkti/core';
import type { PoolQueueDepth, QueueMetricsSink } from '@synkti/tasks';

export const PIPELINE_METRICS_NAMESPACE = 'Synkti/Pipelines';

/** The PutMetricData input for one publication (at most 2 × pools data points). */
export function queueDepthMetricData(cluster: string, points: PoolQueueDepth[], at: number): {
  Namespace: string;
  MetricData: Array<{ MetricName: string; Dimensions: Array<{ Name: string; Value: string }>; Timestamp: Date; Value: number; Unit: 'Count' }>;
} {
  const timestamp = new Date(at);
  return {
    Namespace: PIPELINE_METRICS_NAMESPACE,
    MetricData: points.flatMap((p) => {
      const dims = [{ Name: 'Cluster', Value: cluster }, { Name: 'Pool', Value: p.pool }];
      return [
        { MetricName: 'ReadyTasks', Dimensions: dims, Timestamp: timestamp, Value: p.ready, Unit: 'Count' as const },
        { MetricName: 'ClaimedTasks', Dimensions: dims, Timestamp: timestamp, Value: p.claimed, Unit: 'Count' as const },
      ];
    }),
  };
}

/** A sink over any PutMetricData function (tests pass a fake one). */
export function queueDepthSink(cluster: string, putMetricData: (input: ReturnType<typeof queueDepthMetricData>) => Promise<unknown>): QueueMetricsSink {
  return async (points, at) => {
    const input = queueDepthMetricData(cluster, points, at);
    // PutMetricData takes up to 1000 points per call; 2 per pool stays far below.
    await putMetricData(input);
  };
}

/** The CloudWatch sink, with the SDK's default credentials and region. */
export async function cloudWatchQueueSink(cluster: string): Promise<QueueMetricsSink> {
  const moduleName = '@aws-sdk/client-cloudwatch';
  let sdk: { CloudWatchClient: new (config: object) => { send(command: unknown): Promise<unknown> }; PutMetricDataCommand: new (input: object) => unknown };
  try {
    sdk = (await import(moduleName)) as typeof sdk;
  } catch (cause) {
    throw new SynktiError('E_METRICS_SDK', 'publishing queue metrics needs the AWS SDK CloudWatch client, which is not installed', {
      cause, hint: 'npm install @aws-sdk/client-cloudwatch@3 -w synkti, or drop --metrics-cluster',
    });
  }
  const client = new sdk.CloudWatchClient({});
  return queueDepthSink(cluster, (input) => client.send(new sdk.PutMetricDataCommand(input)));
}
