/**
 * The coordinator's backlog reaches CloudWatch as SpotBatchFleet reads it: a real
 * coordinator on local queues, the real CloudWatchClient (aws-sdk-client-mock), and the
 * component synthesised under Pulumi mocks for the contract.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, PutMetricDataCommand, type PutMetricDataCommandInput } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { mockClient } from 'aws-sdk-client-mock';
import { LocalObjectStore } from '@synkti/cloud';
import { isSynktiError } from '@synkti/core';
import { BATCH_METRICS } from '@synkti/core/contracts';
import {
  createCoordinator,
  createCoordinatorMetricsPublisher,
  createEvaluationHandler,
  createWorker,
  loadCloudWatchPutMetricData,
  openLocalQueue,
  queueResultSink,
  type BatchResultValue,
  type Coordinator,
  type CoordinatorMetricsPublisher,
  type Queue,
} from '@synkti/tasks';
import { DEFAULT_BATCH_MAX_RECEIVES, batchMetricData, batchMetricsSink, cachedWorkerCount, openRunQueues } from '@synkti/tasks/batch';
import { loadEcsWorkerCounter as ecsWorkerCounter } from './batch-metrics.ts';
import { runBatchCmaesCommand } from './cmaes-run.ts';

const {
  namespace: BATCH_METRICS_NAMESPACE,
  backlog: BATCH_METRICS_BACKLOG,
  backlogPerWorker: BATCH_METRICS_BACKLOG_PER_WORKER,
  dimension: BATCH_METRICS_DIMENSION,
} = BATCH_METRICS;

/** What `synkti batch cmaes --metrics-cluster` runs: the batch sink over the SDK's CloudWatch client, published from the start. */
async function startBatchMetrics(options: {
  cluster: string;
  coordinator: Coordinator;
  intervalMs: number;
  region: string;
  onWarning: (message: string) => void;
}): Promise<CoordinatorMetricsPublisher> {
  const put = await loadCloudWatchPutMetricData({ region: options.region, why: 'test' });
  const publisher = createCoordinatorMetricsPublisher({
    source: options.coordinator,
    sink: batchMetricsSink(options.cluster, put),
    intervalMs: options.intervalMs,
    onWarning: options.onWarning,
  });
  publisher.start();
  return publisher;
}

const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-metrics-'));
const store = new LocalObjectStore({ root: join(dir, 'objects') });
const BUCKET = 'batch';
await store.createBucket(BUCKET);
const cleanups: Array<() => Promise<unknown> | unknown> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const CLUSTER = 'synkti-dev';
let queueCount = 0;
async function queues(): Promise<{ tasks: Queue; results: Queue }> {
  queueCount += 1;
  const path = join(dir, 'queues.db');
  const tasks = await openLocalQueue({ path, name: `m${queueCount}-tasks`, pollIntervalMs: 20 });
  const results = await openLocalQueue({ path, name: `m${queueCount}-results`, pollIntervalMs: 20 });
  cleanups.push(
    () => tasks.close(),
    () => results.close(),
  );
  return { tasks, results };
}

function coordinatorOf(
  run: string,
  q: { tasks: Queue; results: Queue },
  workersAlive: () => number | undefined | Promise<number | undefined>,
  signal?: AbortSignal,
): Coordinator {
  return createCoordinator({
    run,
    tasks: q.tasks,
    results: q.results,
    store,
    bucket: BUCKET,
    pollWaitMs: 100,
    checkEveryMs: 100,
    workersAlive,
    signal,
  });
}

function startWorker(tasks: Queue, results: Queue): void {
  const worker = createWorker<BatchResultValue>({
    queue: tasks,
    handler: createEvaluationHandler({ objective: (x: number[]) => x.reduce((s, v) => s + v * v, 0) }),
    resultSink: queueResultSink(results),
    concurrency: 2,
    pollWaitMs: 100,
    leaseMs: 5000,
    onError: () => undefined,
  });
  worker.start();
  cleanups.push(() => worker.stop({ release: true }));
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Every PutMetricData the real client sent, as [metric, value] pairs per request (checking namespace and dimension on the way). */
function published(cw: ReturnType<typeof mockClient>): Array<Array<[string, number]>> {
  return cw.commandCalls(PutMetricDataCommand).map((call) => {
    const input = call.args[0].input as PutMetricDataCommandInput;
    assert.equal(input.Namespace, 'Synkti/Batch');
    return (input.MetricData ?? []).map((d): [string, number] => {
      assert.deepEqual(d.Dimensions, [{ Name: 'Cluster', Value: CLUSTER }]);
      assert.ok(d.Timestamp instanceof Date);
      return [d.MetricName!, d.Value!];
    });
  });
}

const payloads = (n: number): number[][] => Array.from({ length: n }, (_, i) => [i, 1]);

test('a coordinator run publishes Backlog and BacklogPerWorker to CloudWatch as the backlog changes (0 -> N/W -> 0; no worker -> N)', async (t) => {
  const cw = mockClient(CloudWatchClient);
  t.after(() => cw.restore());
  cw.on(PutMetricDataCommand).resolves({});
  const q = await queues();
  let workers = 2;
  const coordinator = coordinatorOf('metrics-run', q, () => workers);
  const warnings: string[] = [];
  // A long interval: each step below publishes explicitly, so the test does not race a timer.
  const publisher = await startBatchMetrics({
    cluster: CLUSTER,
    coordinator,
    intervalMs: 3_600_000,
    region: 'us-east-1',
    onWarning: (m) => warnings.push(m),
  });
  t.after(() => publisher.stop());
  await until('the sample taken at start', () => cw.commandCalls(PutMetricDataCommand).length === 1);
  assert.deepEqual(
    published(cw).at(-1),
    [
      ['Backlog', 0],
      ['BacklogPerWorker', 0],
    ],
    'empty queue: 0, not "no data"',
  );

  // Six candidates go out; nobody evaluates them yet.
  const evaluation = coordinator.evaluate(0, payloads(6));
  await until('6 tasks in the queue', async () => (await coordinator.metrics()).backlog === 6);
  assert.equal(await publisher.publishNow(), true);
  assert.deepEqual(
    published(cw).at(-1),
    [
      ['Backlog', 6],
      ['BacklogPerWorker', 3],
    ],
    '6 tasks / 2 workers',
  );
  workers = 4;
  await publisher.publishNow();
  assert.deepEqual(published(cw).at(-1), [
    ['Backlog', 6],
    ['BacklogPerWorker', 1.5],
  ]);
  // No worker: the whole backlog (finite, above the target), never 0 or Infinity.
  workers = 0;
  await publisher.publishNow();
  assert.deepEqual(published(cw).at(-1), [
    ['Backlog', 6],
    ['BacklogPerWorker', 6],
  ]);

  workers = 1;
  startWorker(q.tasks, q.results);
  assert.deepEqual(
    await evaluation,
    payloads(6).map((x) => x[0]! ** 2 + 1),
  );
  await until('the tasks acked', async () => (await coordinator.metrics()).backlog === 0);
  await publisher.stop();
  assert.deepEqual(
    published(cw).at(-1),
    [
      ['Backlog', 0],
      ['BacklogPerWorker', 0],
    ],
    'stop publishes where the run left the queue',
  );
  assert.deepEqual(warnings, []);
  assert.equal(publisher.stats().published, 5);
});

test('CloudWatch failing does not stop the run: one warning per failure streak, the kept samples go out when it recovers', async (t) => {
  const cw = mockClient(CloudWatchClient);
  t.after(() => cw.restore());
  const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
  cw.on(PutMetricDataCommand).rejectsOnce(throttled).rejectsOnce(throttled).resolves({});
  const q = await queues();
  const coordinator = coordinatorOf('metrics-fail', q, () => 1);
  const warnings: string[] = [];
  startWorker(q.tasks, q.results);
  const publisher = await startBatchMetrics({
    cluster: CLUSTER,
    coordinator,
    intervalMs: 30,
    region: 'us-east-1',
    onWarning: (m) => warnings.push(m),
  });
  t.after(() => publisher.stop());
  // Two generations run while CloudWatch fails and recovers.
  assert.equal((await coordinator.evaluate(0, payloads(3))).length, 3);
  assert.equal((await coordinator.evaluate(1, payloads(4))).length, 4);
  await until('a successful publication after the failures', () => cw.commandCalls(PutMetricDataCommand).length >= 3);
  await until('the recovery warning', () => warnings.length === 2);
  await publisher.stop();
  assert.match(warnings[0]!, /publishing failed .*Rate exceeded/);
  assert.match(warnings[1]!, /works again/);
  const calls = published(cw);
  assert.equal(calls[2]!.length, 6, 'the third request carries the two kept samples and the new one (2 metrics each)');
  assert.deepEqual(
    calls[2]!.map(([name]) => name),
    ['Backlog', 'BacklogPerWorker', 'Backlog', 'BacklogPerWorker', 'Backlog', 'BacklogPerWorker'],
  );
  assert.equal(publisher.stats().failures, 2);
  assert.equal(publisher.stats().dropped, 0);
});

test('with workers elsewhere (--workers 0) they are counted as the ECS service <cluster>-worker running tasks', async (t) => {
  const cw = mockClient(CloudWatchClient);
  const ecs = mockClient(ECSClient);
  t.after(() => {
    cw.restore();
    ecs.restore();
  });
  cw.on(PutMetricDataCommand).resolves({});
  ecs
    .on(DescribeServicesCommand, { cluster: CLUSTER, services: [`${CLUSTER}-worker`] })
    .resolves({ services: [{ serviceName: `${CLUSTER}-worker`, runningCount: 3 }] });
  const counter = await ecsWorkerCounter({ cluster: CLUSTER, region: 'us-east-1' });
  assert.equal(await counter(), 3);

  const q = await queues();
  const abort = new AbortController();
  const coordinator = coordinatorOf('metrics-ecs', q, counter, abort.signal);
  const evaluation = coordinator.evaluate(0, payloads(6));
  await until('6 tasks in the queue', async () => (await coordinator.metrics()).backlog === 6);
  const publisher = await startBatchMetrics({
    cluster: CLUSTER,
    coordinator,
    intervalMs: 3_600_000,
    region: 'us-east-1',
    onWarning: () => undefined,
  });
  await until('the first sample', () => cw.commandCalls(PutMetricDataCommand).length === 1);
  await publisher.stop();
  abort.abort();
  await assert.rejects(evaluation, (e: unknown) => isSynktiError(e, 'E_ABORTED'));
  assert.deepEqual(
    published(cw).slice(0, 2),
    [
      [
        ['Backlog', 6],
        ['BacklogPerWorker', 2],
      ],
      [
        ['Backlog', 6],
        ['BacklogPerWorker', 2],
      ],
    ],
    '6 tasks / 3 ECS workers, at start and at stop',
  );

  const missing = await ecsWorkerCounter({ cluster: 'other-prod', region: 'us-east-1' });
  ecs.on(DescribeServicesCommand, { cluster: 'other-prod' }).resolves({ services: [], failures: [{ reason: 'MISSING' }] });
  await assert.rejects(
    missing(),
    (e: unknown) => isSynktiError(e, 'E_ECS_WORKERS') && /other-prod-worker.*MISSING/.test((e as Error).message),
  );

  // A count that cannot be read: Backlog still goes out, BacklogPerWorker does not (a guess would mislead target tracking).
  const warnings: string[] = [];
  const q2 = await queues();
  const abort2 = new AbortController();
  const blind = coordinatorOf('metrics-blind', q2, cachedWorkerCount(missing, { onWarning: (m) => warnings.push(m) }), abort2.signal);
  const evaluation2 = blind.evaluate(0, payloads(5));
  await until('5 tasks in the queue', async () => (await blind.metrics()).backlog === 5);
  const before = cw.commandCalls(PutMetricDataCommand).length;
  const publisher2 = await startBatchMetrics({
    cluster: CLUSTER,
    coordinator: blind,
    intervalMs: 3_600_000,
    region: 'us-east-1',
    onWarning: () => undefined,
  });
  await publisher2.stop();
  abort2.abort();
  await assert.rejects(evaluation2, (e: unknown) => isSynktiError(e, 'E_ABORTED'));
  assert.deepEqual(published(cw).slice(before), [[['Backlog', 5]], [['Backlog', 5]]], 'the sample at start and the one at stop');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /worker count: reading it failed .*MISSING/);
});

test('the metric contract is exactly what SpotBatchFleet reads: namespace, metric names, dimension, IAM namespace condition', async () => {
  const infra = await import('@synkti/infra');
  assert.deepEqual(
    [BATCH_METRICS_NAMESPACE, BATCH_METRICS_BACKLOG_PER_WORKER, BATCH_METRICS_BACKLOG, BATCH_METRICS_DIMENSION],
    [infra.BATCH_METRIC_NAMESPACE, infra.BATCH_METRIC_BACKLOG_PER_WORKER, infra.BATCH_METRIC_BACKLOG, infra.BATCH_METRIC_DIMENSION],
  );
  const { resources, value: fleet } = await infra.runMockStack((opts) => new infra.SpotBatchFleet('batch', {}, opts), { stack: 'dev' });
  const cluster = fleet.clusterName;
  assert.equal(cluster, CLUSTER);
  const [request] = batchMetricData(cluster, [
    {
      run: 'r',
      generation: 0,
      outstanding: 4,
      backlog: 4,
      queueDepth: 4,
      queueInFlight: 0,
      queueDeadLettered: 0,
      workers: 2,
      backlogPerWorker: 2,
      counters: {} as never,
      at: Date.UTC(2026, 10, 23),
    },
  ]);
  const perWorker = request!.MetricData.find((d) => d.MetricName === BATCH_METRICS_BACKLOG_PER_WORKER)!;

  // The target-tracking policy reads the published series.
  const policies = resources.filter(
    (r) => r.type === 'aws:appautoscaling/policy:Policy' && r.inputs.policyType === 'TargetTrackingScaling',
  );
  assert.equal(policies.length, 1);
  const config = policies[0]!.inputs.targetTrackingScalingPolicyConfiguration as {
    customizedMetricSpecification: { namespace: string; metricName: string; dimensions: Array<{ name: string; value: string }> };
  };
  const spec = config.customizedMetricSpecification;
  assert.deepEqual(
    { namespace: spec.namespace, metricName: spec.metricName, dimensions: spec.dimensions },
    {
      namespace: request!.Namespace,
      metricName: perWorker.MetricName,
      dimensions: perWorker.Dimensions.map((d) => ({ name: d.Name, value: d.Value })),
    },
  );

  // Any alarm or policy reading Synkti/Batch reads a metric that is published, with the published dimensions.
  const publishedNames = new Set(request!.MetricData.map((d) => d.MetricName));
  const reads: Array<{ namespace: unknown; metricName: unknown }> = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if (o.namespace === BATCH_METRICS_NAMESPACE) reads.push({ namespace: o.namespace, metricName: o.metricName });
      Object.values(o).forEach(walk);
    }
  };
  for (const r of resources.filter(
    (x) => x.type === 'aws:cloudwatch/metricAlarm:MetricAlarm' || x.type === 'aws:appautoscaling/policy:Policy',
  ))
    walk(r.inputs);
  assert.ok(reads.length >= 1);
  for (const read of reads)
    assert.ok(publishedNames.has(read.metricName as string), `${String(read.metricName)} is read but not published`);

  // The coordinator role may publish exactly into this namespace.
  const rolePolicy = resources.find(
    (r) => r.type === 'aws:iam/rolePolicy:RolePolicy' && String(r.inputs.policy).includes('PublishBacklog'),
  )!;
  const statement = (
    JSON.parse(rolePolicy.inputs.policy as string) as { Statement: Array<{ Sid?: string; Action: unknown; Condition?: unknown }> }
  ).Statement.find((s) => s.Sid === 'PublishBacklog')!;
  assert.equal(statement.Action, 'cloudwatch:PutMetricData');
  assert.deepEqual(statement.Condition, { StringEquals: { 'cloudwatch:namespace': request!.Namespace } });
});

test(
  'synkti batch cmaes --metrics-cluster --workers 0: the run publishes its backlog per ECS worker from start to end',
  { timeout: 60_000 },
  async (t) => {
    const cw = mockClient(CloudWatchClient);
    const ecs = mockClient(ECSClient);
    t.after(() => {
      cw.restore();
      ecs.restore();
    });
    cw.on(PutMetricDataCommand).resolves({});
    ecs.on(DescribeServicesCommand).resolves({ services: [{ serviceName: `${CLUSTER}-worker`, runningCount: 2 }] });
    const stateDir = mkdtempSync(join(tmpdir(), 'synkti-batch-metrics-run-'));
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    // The "ECS workers": one in-process worker on the run's queues (no instance to start).
    const run = 'metrics-e2e';
    const q = await openRunQueues({ backend: 'local', stateDir, maxReceives: DEFAULT_BATCH_MAX_RECEIVES }, run);
    cleanups.push(() => q.close());
    startWorker(q.tasks, q.results);
    const summary = await runBatchCmaesCommand({
      objective: 'sphere',
      dim: 2,
      generations: 2,
      population: 4,
      seed: 3,
      workers: 0,
      run,
      stateDir,
      noticePollMs: 5000,
      resendAfterMs: 300_000,
      unscorable: 'fail',
      keepWorkers: false,
      metricsCluster: CLUSTER,
      metricsIntervalMs: 100,
      region: 'us-east-1',
    });
    assert.equal(summary.status, 'done');
    assert.equal(summary.lost_tasks, 0);
    const calls = published(cw);
    assert.ok(calls.length >= 2, `a sample at start and one at the end (got ${calls.length})`);
    for (const call of calls) {
      const [[, backlog], [, perWorker]] = call as [[string, number], [string, number]];
      assert.ok(backlog >= 0 && backlog <= 4, `backlog ${backlog}`);
      assert.equal(perWorker, backlog / 2, "divided by the ECS service's 2 running tasks");
    }
    assert.ok(
      ecs
        .commandCalls(DescribeServicesCommand)
        .every((c) => c.args[0].input.cluster === CLUSTER && c.args[0].input.services?.[0] === `${CLUSTER}-worker`),
    );
  },
);
