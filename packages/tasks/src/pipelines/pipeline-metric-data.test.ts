import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { PIPELINE_METRICS } from '@synkti/core/contracts';
import type { PutMetricDataInput } from '../cloudwatch/put-metric-data.ts';
import { queueDepthSink } from './pipeline-metric-data.ts';
import { openQueueMetricsSink } from './pipeline-queue-metrics.ts';

test("queue depth goes out as ReadyTasks and ClaimedTasks per pool, with the contract's namespace and dimensions", async () => {
  const sent: PutMetricDataInput[] = [];
  const sink = queueDepthSink('synkti-dev', async (input) => {
    sent.push(input);
  });
  const at = Date.UTC(2026, 11, 7);
  await sink(
    [
      { pool: 'gpu', ready: 4, claimed: 1 },
      { pool: 'exec', ready: 0, claimed: 0 },
    ],
    at,
  );
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.Namespace, PIPELINE_METRICS.namespace);
  assert.deepEqual(
    sent[0]!.MetricData.map((d) => [
      d.MetricName,
      d.Dimensions.map((x) => `${x.Name}=${x.Value}`).join(','),
      d.Value,
      d.Timestamp.getTime(),
    ]),
    [
      ['ReadyTasks', 'Cluster=synkti-dev,Pool=gpu', 4, at],
      ['ClaimedTasks', 'Cluster=synkti-dev,Pool=gpu', 1, at],
      ['ReadyTasks', 'Cluster=synkti-dev,Pool=exec', 0, at],
      ['ClaimedTasks', 'Cluster=synkti-dev,Pool=exec', 0, at],
    ],
  );
});

test('a metrics cluster with no sink to publish to is refused naming it, not silently unpublished', async () => {
  await assert.rejects(
    openQueueMetricsSink('synkti-dev', undefined),
    (e: unknown) => isSynktiError(e, 'E_USAGE') && /metricsCluster synkti-dev/.test((e as Error).message),
  );
  const sink = async (): Promise<void> => undefined;
  assert.equal(
    await openQueueMetricsSink('synkti-dev', async (cluster) => {
      assert.equal(cluster, 'synkti-dev');
      return sink;
    }),
    sink,
  );
});
