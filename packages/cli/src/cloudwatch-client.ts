/**
 * The CloudWatch PutMetricData call shared by every metrics publisher of the CLI
 * (pipeline queue depth, batch backlog): the `--metrics-cluster` option and the client,
 * loaded lazily (only when a `--metrics-cluster` turns publishing on). The input types and
 * the dimension-value check are @synkti/tasks's (put-metric-data.ts).
 */
import { InvalidArgumentError } from 'commander';
import { SynktiError } from '@synkti/core';
import { validateDimensionValue, type PutMetricData } from '@synkti/tasks';
import { importAwsSdk } from './lazy-aws-sdk.ts';

/** `--metrics-cluster` as a commander option parser (same rules, commander's error). */
export function metricsClusterOption(value: string): string {
  try {
    return validateDimensionValue(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof SynktiError ? `${error.message.replace(/^--metrics-cluster: /, '')} (${error.hint ?? ''})` : String(error));
  }
}

/** A PutMetricData function over the SDK's CloudWatch client (default credentials; region from the options or the environment). */
export async function loadCloudWatchPutMetricData(options: { region?: string | undefined; why: string }): Promise<PutMetricData> {
  const sdk = await importAwsSdk(() => import('@aws-sdk/client-cloudwatch'), '@aws-sdk/client-cloudwatch', options.why, 'drop --metrics-cluster');
  const client = new sdk.CloudWatchClient(options.region ? { region: options.region } : {});
  return (input) => client.send(new sdk.PutMetricDataCommand(input));
}
