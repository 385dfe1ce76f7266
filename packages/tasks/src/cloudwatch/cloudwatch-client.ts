/**
 * The CloudWatch PutMetricData call shared by every metrics publisher (pipeline queue
 * depth, batch backlog): the SDK's client, loaded lazily (only when a `--metrics-cluster`
 * turns publishing on). The input types and the dimension-value check are in
 * put-metric-data.ts.
 */
import type { PutMetricData } from './put-metric-data.ts';
import { importAwsSdk } from './lazy-aws-sdk.ts';

/** A PutMetricData function over the SDK's CloudWatch client (default credentials; region from the options or the environment). */
export async function loadCloudWatchPutMetricData(options: { region?: string | undefined; why: string }): Promise<PutMetricData> {
  const sdk = await importAwsSdk(
    () => import('@aws-sdk/client-cloudwatch'),
    '@aws-sdk/client-cloudwatch',
    options.why,
    'drop --metrics-cluster',
  );
  const client = new sdk.CloudWatchClient(options.region ? { region: options.region } : {});
  return (input) => client.send(new sdk.PutMetricDataCommand(input));
}
