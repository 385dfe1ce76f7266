/**
 * Counts the workers of a SpotBatchFleet: the running tasks of its ECS service
 * (`<cluster>-worker` in ECS cluster `<cluster>`; the coordinator role may describe exactly
 * that service). A coordinator whose workers run elsewhere (`--workers 0`) needs this for
 * backlog per worker: dividing by a local count of 0 would publish the whole backlog as
 * each worker's share and make target tracking scale far past what is needed. The ECS
 * DescribeServices call is injected (the CLI loads the SDK's client; tests pass a fake).
 */
import { SynktiError } from '@synkti/core';

/** ECS DescribeServices, reduced to what the count reads. */
export type DescribeEcsServices = (input: { cluster: string; services: string[] }) => Promise<{
  services?: Array<{ serviceName?: string; runningCount?: number }>;
  failures?: Array<{ arn?: string; reason?: string }>;
}>;

export interface EcsWorkerCounterOptions {
  /** ECS cluster name (SpotBatchFleet: `<project>-<environment>`). */
  cluster: string;
  /** @default `<cluster>-worker` */
  service?: string | undefined;
  describeServices: DescribeEcsServices;
}

export function ecsWorkerServiceName(cluster: string): string {
  return `${cluster}-worker`;
}

/** A function returning the service's running task count; it throws E_ECS_WORKERS when the service cannot be read. */
export function ecsWorkerCounter(options: EcsWorkerCounterOptions): () => Promise<number> {
  const service = options.service ?? ecsWorkerServiceName(options.cluster);
  return async () => {
    const out = await options.describeServices({ cluster: options.cluster, services: [service] });
    const found = out.services?.find((s) => s.serviceName === service) ?? out.services?.[0];
    if (!found || typeof found.runningCount !== 'number') {
      const reason = out.failures?.[0]?.reason ?? 'not found';
      throw new SynktiError('E_ECS_WORKERS', `ECS service ${service} in cluster ${options.cluster}: ${reason}`, {
        hint: 'pass the cluster name SpotBatchFleet created (--metrics-cluster <project>-<environment>) and credentials of its coordinator role',
      });
    }
    return found.runningCount;
  };
}
