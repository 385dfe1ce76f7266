/**
 * CloudWatch PutMetricData as the metrics publishers of tasks build it (the batch
 * backlog, pipeline queue depth): the input's shape, its limits, and the check of a
 * dimension value. Sending is injected (`PutMetricData`): the CLI loads the SDK's client
 * only when publishing is turned on; tests pass a fake.
 */
import { SynktiError } from '@synkti/core';

export interface MetricDatum {
  MetricName: string;
  Dimensions: Array<{ Name: string; Value: string }>;
  Timestamp: Date;
  Value: number;
  Unit: 'Count' | 'None';
}

export interface PutMetricDataInput {
  Namespace: string;
  MetricData: MetricDatum[];
}

/** Sends one PutMetricData request (tests pass a fake one). */
export type PutMetricData = (input: PutMetricDataInput) => Promise<unknown>;

/** PutMetricData accepts at most this many data points per request. */
export const MAX_METRIC_DATA_PER_PUT = 1000;

/** The longest dimension value CloudWatch accepts. */
export const MAX_DIMENSION_VALUE_LENGTH = 1024;

/**
 * Checks a CloudWatch dimension value (the `--metrics-cluster` name): 1 to 1024 printable
 * ASCII characters, not only spaces. Edge spaces are refused too: dimensions match
 * exactly, so " prod" would publish a series no alarm reads.
 */
export function validateDimensionValue(value: string, field = '--metrics-cluster'): string {
  const fix = 'pass the cluster name the infrastructure uses, e.g. <project>-<environment> (SpotBatchFleet.clusterName)';
  if (typeof value !== 'string' || value.trim() === '') throw new SynktiError('E_USAGE', `${field}: the name is empty`, { hint: fix });
  if (value.length > MAX_DIMENSION_VALUE_LENGTH) {
    throw new SynktiError(
      'E_USAGE',
      `${field}: the name has ${value.length} characters; CloudWatch dimension values have at most ${MAX_DIMENSION_VALUE_LENGTH}`,
      { hint: fix },
    );
  }
  const bad = [...value].find((ch) => ch < ' ' || ch > '~');
  if (bad !== undefined) {
    throw new SynktiError(
      'E_USAGE',
      `${field}: ${JSON.stringify(value)} contains ${JSON.stringify(bad)}; CloudWatch dimension values are printable ASCII`,
      { hint: fix },
    );
  }
  if (value !== value.trim())
    throw new SynktiError('E_USAGE', `${field}: ${JSON.stringify(value)} starts or ends with a space`, { hint: fix });
  return value;
}
