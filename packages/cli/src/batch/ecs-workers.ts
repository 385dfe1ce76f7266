/**
 * Counts the workers of a SpotBatchFleet: the running tasks of its ECS service
 * (`<cluster>-worker` in ECS cluster `<cluster>`; the coordinator role may describe exactly
 * that service). A coordinator whose workers run elsewhere (`--workers 0`) needs this for
 * backlog per worker: dividing by a local count of 0 would publish the whole backlog as
 * each worker's share and make target tracking scale far past what is needed.
 */
import { SynktiError } from '@synkti/core';
import { importAwsSdk } from '../lazy-aws-sdk.ts';

export interface EcsWorkerCounterOptions {
  /** ECS cluster name (SpotBatchFleet: `<project>-<environment>`). */
  cluster: string;
  /** @default `<cluster>-worker` */
  service?: string | undefined;
  /** @default the SDK's (AWS_REGION, profile) */
  region?: string | undefined;
  /** DescribeServices to use (tests). @default the ECS client, loaded now */
  describeServices?: ((input: { cluster: string; services: string[] }) => Promise<{ services?: Array<{ serviceName?: string; runningCount?: number }>; failures?: Array<{ arn?: string; reason?: string }> }>) | undefined;
}

export function ecsWorkerServiceName(cluster: string): string {
  return `${cluster}-worker`;
}

/** A function returning the service's running task count; it throws when the service cannot be read. */
export async function ecsWorkerCounter(options: EcsWorkerCounterOptions): Promise<() => Promise<number>> {
  const service = options.service ?? ecsWorkerServiceName(options.cluster);
  let describe = options.describeServices;
  if (!describe) {
    const sdk = await importAwsSdk(() => import('@aws-sdk/client-ecs'), '@aws-sdk/client-ecs', 'counting ECS workers for --metrics-cluster with --workers 0', 'run the workers locally (--workers N)');
    const client = new sdk.ECSClient(options.region ? { region: options.region } : {});
    describe = (input) => client.send(new sdk.DescribeServicesCommand(input));
  }
  const call = describe;
  return async () => {
    const out = await call({ cluster: options.cluster, services: [service] });
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
