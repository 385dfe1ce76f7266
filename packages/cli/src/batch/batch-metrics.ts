/**
 * `synkti batch cmaes --metrics-cluster`: the run's backlog to CloudWatch (Synkti/Batch
 * Backlog and BacklogPerWorker, dimension Cluster; the data is @synkti/tasks/batch
 * batchMetricData) and, with `--workers 0`, the workers counted as the running tasks of
 * the fleet's ECS service. What is here is loading the AWS SDK's clients, only when asked.
 */
import { BATCH_METRICS } from '@synkti/core/contracts';
import { batchMetricsSink, ecsWorkerCounter, type BatchCmaesMetrics } from '@synkti/tasks/batch';
import { importAwsSdk, loadCloudWatchPutMetricData } from '@synkti/tasks';

/** The ECS service's running task count, over the SDK's ECS client (default credentials; region from the options or the environment). */
export async function loadEcsWorkerCounter(options: {
  cluster: string;
  service?: string | undefined;
  region?: string | undefined;
}): Promise<() => Promise<number>> {
  const sdk = await importAwsSdk(
    () => import('@aws-sdk/client-ecs'),
    '@aws-sdk/client-ecs',
    'counting ECS workers for --metrics-cluster with --workers 0',
    'run the workers locally (--workers N)',
  );
  const client = new sdk.ECSClient(options.region ? { region: options.region } : {});
  return ecsWorkerCounter({
    cluster: options.cluster,
    service: options.service,
    describeServices: (input) => client.send(new sdk.DescribeServicesCommand(input)),
  });
}

/** The run's metrics: the backlog to CloudWatch every `intervalMs`; workers elsewhere counted on ECS. */
export function cloudWatchBatchMetrics(cluster: string, intervalMs: number | undefined): BatchCmaesMetrics {
  return {
    description: `${BATCH_METRICS.namespace} ${BATCH_METRICS.backlog} and ${BATCH_METRICS.backlogPerWorker} (Cluster=${cluster}) to CloudWatch`,
    intervalMs,
    openSink: async (region) =>
      batchMetricsSink(cluster, await loadCloudWatchPutMetricData({ region, why: 'publishing the batch backlog (--metrics-cluster)' })),
    openWorkerCounter: (region) => loadEcsWorkerCounter({ cluster, region }),
  };
}
