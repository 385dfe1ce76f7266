/**
 * Batch on the AWS path with state in S3 (emulated AWS: moto): the stack's queues and
 * bucket, three workers started as the ECS service starts them (no flags), and
 * `synkti batch cmaes --stack` as the coordinator. One worker is preempted (SIGTERM, what
 * Fargate Spot sends; the service starts another), the coordinator is kill -9'd and
 * resumed with `--resume`, which finds the latest checkpoint through the pointer in the
 * bucket. The result is exactly the undisturbed run's, no task is lost, and every
 * checkpoint is an object under runs/<run>/checkpoints/ (the prefix the lifecycle rules
 * cover) named by the pointer runs/<run>/checkpoint.json.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createS3ObjectStore } from '@synkti/cloud';
import { BATCH_PREFIXES, batchCheckpointKeys, batchQueueNames } from '@synkti/core/contracts';
import { CmaEs, builtinObjectives, openSqsQueue, readCheckpoint, type CmaEsState } from '@synkti/tasks';
import { startMotoOrSkip } from '../packages/aws-emulator/src/testing/moto-for-tests.ts';
import { withCheckpointPointers } from '../packages/cli/src/batch/s3-checkpoints.ts';
import { CLI_MAIN } from './helpers/cli.ts';

const CLUSTER = 'synkti-s3test';
const BUCKET = 'synkti-s3test-batch-123456789012';
const RUN = 'r-s3';
const DIM = 10;
const POPULATION = 8;
const GENERATIONS = 8;
const SEED = 20261207;

test('CMA-ES on the stack\'s queues with checkpoints in S3: a preempted worker and a coordinator kill -9, resumed from the bucket, give the undisturbed result', async (t) => {
  const moto = await startMotoOrSkip();
  if (moto.service === undefined) return t.skip(moto.skip);
  const aws = moto.service;
  t.after(() => aws.stop());
  const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-s3-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sqs = new SQSClient(aws.clientConfig());
  const s3 = new S3Client(aws.clientConfig());
  t.after(() => { sqs.destroy(); s3.destroy(); });

  // What SpotBatchFleet makes: four queues and the bucket.
  const names = batchQueueNames(CLUSTER);
  for (const [name, dlq] of [[names.tasks, names.tasksDeadLetter], [names.results, names.resultsDeadLetter]] as const) {
    await (await openSqsQueue({ client: sqs, name, deadLetterQueueName: dlq, maxReceives: 10 })).close();
  }
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  const url = (name: string): string => `${aws.endpoint}/${aws.accountId}/${name}`;
  const base = { ...process.env, ...aws.env(), SYNKTI_IMDS_ENDPOINT: '' };
  const workerEnv = {
    ...base, SYNKTI_CLUSTER: CLUSTER, SYNKTI_TASK_QUEUE_URL: url(names.tasks), SYNKTI_RESULT_QUEUE_URL: url(names.results),
    SYNKTI_DEAD_LETTER_QUEUE_URL: url(names.tasksDeadLetter), SYNKTI_BUCKET: BUCKET, SYNKTI_OBJECTIVE: 'rosenbrock', AWS_REGION: aws.region,
  };
  // coordinatorEnv: no DLQ URL, no objective.
  const coordinatorEnv = { ...base, SYNKTI_CLUSTER: CLUSTER, SYNKTI_TASK_QUEUE_URL: url(names.tasks), SYNKTI_RESULT_QUEUE_URL: url(names.results), SYNKTI_BUCKET: BUCKET, AWS_REGION: aws.region };

  const children: ChildProcess[] = [];
  t.after(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  const logs = new Map<ChildProcess, string>();
  const start = (args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; exited: Promise<number | null>; stdout: () => string } => {
    const child = spawn(process.execPath, [CLI_MAIN, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    logs.set(child, '');
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { logs.set(child, (logs.get(child)! + d.toString()).slice(-4000)); });
    return { child, exited: new Promise((resolve) => child.once('close', resolve)), stdout: () => stdout };
  };
  const allLogs = (): string => [...logs.values()].join('\n---\n');
  // The ECS service's tasks: `synkti batch worker` with no flags.
  const workers = Array.from({ length: 3 }, () => start(['batch', 'worker'], workerEnv));

  const checkpoints = withCheckpointPointers(createS3ObjectStore(aws.clientConfig()));
  const generation = async (): Promise<number> => (await readCheckpoint<CmaEsState>(checkpoints, BUCKET, batchCheckpointKeys(RUN).pointer).catch(() => undefined))?.generation ?? -1;
  const waitGeneration = async (n: number): Promise<void> => {
    const deadline = Date.now() + 90_000;
    while ((await generation()) < n) {
      assert.ok(Date.now() < deadline, `no checkpoint of generation ${n} within 90 s:\n${allLogs()}`);
      await sleep(100);
    }
  };
  const flags = ['--stack', '--workers', '0', '--state-dir', join(dir, 'state'), '--json'];
  const first = start(['batch', 'cmaes', ...flags, '--objective', 'rosenbrock', '--dim', String(DIM), '--population', String(POPULATION),
    '--generations', String(GENERATIONS), '--seed', String(SEED), '--run', RUN, '--resend-after', '5s'], coordinatorEnv);

  await waitGeneration(2);
  // A Fargate Spot interruption: SIGTERM; the worker hands its leases back and exits 0; the service starts another.
  workers[0]!.child.kill('SIGTERM');
  assert.equal(await workers[0]!.exited, 0, allLogs());
  workers.push(start(['batch', 'worker'], workerEnv));
  await waitGeneration(4);
  first.child.kill('SIGKILL');
  await first.exited;

  const resumed = start(['batch', 'cmaes', ...flags, '--resume', RUN, '--resend-after', '5s'], coordinatorEnv);
  const bound = new AbortController();
  const code = await Promise.race([resumed.exited, sleep(120_000, undefined, { signal: bound.signal }).then(() => 'timeout' as const, () => 'timeout' as const)]);
  bound.abort();
  assert.equal(code, 0, `resumed coordinator: ${String(code)}\n${allLogs()}`);
  const summary = JSON.parse(resumed.stdout().trim().split('\n').pop()!) as { best_f: number; mean: number[]; best_x: number[]; lost_tasks: number; resumed: boolean; generations: number; evaluations: number };

  // The undisturbed run: the same algorithm and seed, every candidate evaluated in order.
  const reference = CmaEs.create({ dimension: DIM, seed: SEED, populationSize: POPULATION });
  for (let g = 0; g < GENERATIONS; g += 1) reference.tell(reference.ask().map((x: number[]) => builtinObjectives.rosenbrock(x)));
  const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
  assert.equal(summary.best_f, reference.bestF);
  assert.deepEqual(summary.mean, json([...reference.mean]));
  assert.deepEqual(summary.best_x, json([...reference.bestX]));
  assert.equal(summary.lost_tasks, 0);
  assert.equal(summary.resumed, true);
  assert.equal(summary.generations, GENERATIONS);

  // The checkpoints: objects under runs/<run>/checkpoints/, the pointer naming the final one.
  const keys = batchCheckpointKeys(RUN);
  assert.ok(keys.versionsPrefix.startsWith(BATCH_PREFIXES.runs));
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: keys.versionsPrefix }));
  assert.ok((listed.KeyCount ?? 0) >= GENERATIONS, `one checkpoint object per generation at least, got ${listed.KeyCount}`);
  const pointer = JSON.parse(Buffer.from((await createS3ObjectStore(aws.clientConfig()).get(BUCKET, keys.pointer))!).toString('utf8')) as { key: string };
  assert.ok(listed.Contents?.some((o) => o.Key === pointer.key), 'the pointer names one of them');
  const final = await readCheckpoint<CmaEsState>(checkpoints, BUCKET, keys.pointer);
  assert.equal(final?.status, 'done');
  assert.deepEqual(final?.optimizer, json(reference.toState()));

  for (const w of workers.slice(1)) w.child.kill('SIGTERM');
  for (const w of workers.slice(1)) assert.equal(await w.exited, 0, allLogs());
});
