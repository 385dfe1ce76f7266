/**
 * A batch worker fetches its state pools itself: `synkti batch worker --pool shift-data`
 * against a real local S3 server (s3rver) reads the pool into its cache with every file's
 * SHA-256 checked before it takes a task, and the objective reads it at
 * $SYNKTI_STATE_POOLS_DIR/shift-data/: a 2-generation run scored by that worker ends with
 * exactly the result of the same CMA-ES on the shifted sphere the pool describes. A worker
 * asked for a pool that was never uploaded exits at once naming it, taking no task.
 *
 * `synkti batch cmaes --pool` does the same for the workers it launches itself (agent nodes
 * on the local cloud): the pool is fetched once, checked, into the cache they read, the run
 * ends with the same exact result, and a resume keeps the run's pools. A pool that was never
 * uploaded stops the run before any worker is launched.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openTestS3Bucket, type TestS3Bucket } from '@synkti/cloud/aws-testing';
import { CmaEs } from '@synkti/tasks';
import { listAllInstances } from '@synkti/cloud';
import { openBatchCloud, uploadStatePool } from '@synkti/tasks/batch';
import { uploadModel } from '@synkti/infra/bootstrap';
import { CLI_MAIN, runCli, waitFor } from './helpers/cli.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'batch-pools';
const SHIFT = 0.75;
let bucket: TestS3Bucket;
let env: Record<string, string>;
const children = new Set<ChildProcess>();

before(async () => {
  bucket = await openTestS3Bucket(BUCKET, 'synkti-worker-pools-');
  env = {
    AWS_ENDPOINT_URL_S3: bucket.s3.endpoint,
    AWS_ACCESS_KEY_ID: bucket.s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: bucket.s3.credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    SYNKTI_BUCKET: BUCKET,
  };
});
after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await bucket?.close();
});

function startWorker(args: string[], stateDir: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI_MAIN, 'batch', 'worker', ...args, '--state-dir', stateDir], {
    cwd: bucket.work,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return { child, output: () => output, exited };
}

/** Uploads pool shift-data (again: unchanged files are skipped) and writes the objective that reads it; returns the objective's path. */
async function shiftPoolAndObjective(): Promise<string> {
  const poolDir = join(bucket.work, 'pool');
  mkdirSync(poolDir, { recursive: true });
  writeFileSync(join(poolDir, 'params.json'), JSON.stringify({ shift: SHIFT }));
  await uploadStatePool({ store: bucket.store, bucket: BUCKET, name: 'shift-data', dir: poolDir, upload: uploadModel });
  // Read on first use, not at import: the coordinator loads the objective too (to fail early), without the pools.
  const objective = join(bucket.work, 'shifted-sphere.mjs');
  writeFileSync(
    objective,
    [
      "import { readFileSync } from 'node:fs';",
      "import { join } from 'node:path';",
      'let shift;',
      'export default function shiftedSphere(x) {',
      "  shift ??= JSON.parse(readFileSync(join(process.env.SYNKTI_STATE_POOLS_DIR, 'shift-data', 'params.json'), 'utf8')).shift;",
      '  return x.reduce((sum, v) => sum + (v - shift) ** 2, 0);',
      '}',
    ].join('\n'),
  );
  return objective;
}

/** best f of the same CMA-ES (dim 2, λ 4, seed 7, 2 generations) on the pool's shifted sphere, evaluated here. */
function referenceBestF(): number {
  const reference = CmaEs.create({ dimension: 2, seed: 7, populationSize: 4 });
  for (let g = 0; g < 2; g += 1) reference.tell(reference.ask().map((x: number[]) => x.reduce((sum, v) => sum + (v - SHIFT) ** 2, 0)));
  return reference.bestF;
}

test('a worker given --pool fetches it checked before taking tasks, and its objective scores with it', { timeout: 240_000 }, async () => {
  const objective = await shiftPoolAndObjective();
  const stateDir = join(bucket.work, 'state');
  const run = 'pools';

  const worker = startWorker(['--run', run, '--objective', objective, '--pool', 'shift-data'], stateDir);
  await waitFor('the worker serving', async () => (worker.output().includes('serving local queues') ? true : undefined), 120_000, 100);
  assert.match(worker.output(), /state pool shift-data: 1 file\(s\), \d+ bytes, SHA-256 checked, at /);
  assert.ok(existsSync(join(stateDir, 'state-pools', 'shift-data', 'params.json')), "the pool is in the worker's cache");

  const result = await runCli(
    [
      'batch',
      'cmaes',
      '--objective',
      objective,
      '--dim',
      '2',
      '--population',
      '4',
      '--generations',
      '2',
      '--seed',
      '7',
      '--workers',
      '0',
      '--run',
      run,
      '--state-dir',
      stateDir,
      '--json',
    ],
    { cwd: bucket.work, timeoutMs: 120_000 },
  );
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as {
    status: string;
    best_f: number;
    lost_tasks: number;
    results_accepted: number;
  };
  assert.equal(summary.status, 'done');
  assert.equal(summary.lost_tasks, 0);
  // The same optimizer on the pool's shifted sphere, evaluated here: equal only if the worker scored with the pool's shift.
  assert.equal(summary.best_f, referenceBestF());
  assert.ok(summary.results_accepted >= 8);

  worker.child.kill('SIGTERM');
  assert.equal(await worker.exited, 0, worker.output());
});

test('a worker asked for a pool that was never uploaded exits naming it, before taking any task', { timeout: 120_000 }, async () => {
  const worker = startWorker(['--run', 'no-pool', '--objective', 'sphere', '--pool', 'never-uploaded'], join(bucket.work, 'state-missing'));
  const code = await worker.exited;
  assert.notEqual(code, 0);
  assert.match(worker.output(), /never-uploaded/);
  assert.doesNotMatch(worker.output(), /serving local queues/);
  // A bad name is refused as usage, naming the flag.
  const bad = await runCli(['batch', 'worker', '--run', 'x', '--objective', 'sphere', '--pool', '../etc'], {
    cwd: bucket.work,
    env,
    timeoutMs: 60_000,
  });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--pool: state pool name "\.\.\/etc" is not allowed/);
});

test(
  "synkti batch cmaes --pool: the workers it launches fetch the pool, the result is exact, and a resume keeps the run's pools",
  { timeout: 240_000 },
  async () => {
    const objective = await shiftPoolAndObjective();
    const stateDir = join(bucket.work, 'state-cmaes');
    const run = 'cmaes-pools';
    const result = await runCli(
      [
        'batch',
        'cmaes',
        '--objective',
        objective,
        '--dim',
        '2',
        '--population',
        '4',
        '--generations',
        '2',
        '--seed',
        '7',
        '--workers',
        '1',
        '--pool',
        'shift-data',
        '--run',
        run,
        '--state-dir',
        stateDir,
        '--json',
      ],
      { cwd: bucket.work, env, timeoutMs: 180_000 },
    );
    assert.equal(result.code, 0, result.stderr.slice(-4000));
    assert.match(result.stderr, /state pool shift-data: 1 file\(s\), \d+ bytes, SHA-256 checked, for the workers at /);
    const summary = JSON.parse(result.stdout.trim().split('\n').pop()!) as {
      status: string;
      best_f: number;
      lost_tasks: number;
      workers_launched: number;
    };
    assert.equal(summary.status, 'done');
    assert.equal(summary.lost_tasks, 0);
    assert.ok(summary.workers_launched >= 1);
    // Equal only if the launched worker's objective read the pool's shift (without it, every evaluation throws).
    assert.equal(summary.best_f, referenceBestF());

    // The pools are the run's: asking for others on resume is refused, naming the flag and the run's.
    const other = await runCli(['batch', 'cmaes', '--resume', run, '--workers', '1', '--pool', 'other-data', '--state-dir', stateDir], {
      cwd: bucket.work,
      env,
      timeoutMs: 60_000,
    });
    assert.equal(other.code, 2, other.stderr);
    assert.match(other.stderr, /--pool other-data differs from run cmaes-pools's shift-data/);
  },
);

test(
  'synkti batch cmaes --pool of a pool never uploaded stops before any worker is launched; --pool with --workers 0 is a usage error',
  { timeout: 120_000 },
  async () => {
    const stateDir = join(bucket.work, 'state-cmaes-missing');
    const result = await runCli(
      [
        'batch',
        'cmaes',
        '--objective',
        'sphere',
        '--dim',
        '2',
        '--generations',
        '1',
        '--workers',
        '1',
        '--pool',
        'never-uploaded',
        '--run',
        'missing-pool',
        '--state-dir',
        stateDir,
      ],
      { cwd: bucket.work, env, timeoutMs: 120_000 },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /state pool never-uploaded \(s3:\/\/batch-pools\/state-pools\/never-uploaded\/\) has no usable manifest/);
    assert.match(result.stderr, /synkti batch pool upload never-uploaded <dir> --bucket batch-pools/);
    const cloud = openBatchCloud(stateDir);
    try {
      const launched = await listAllInstances(cloud.instances, { states: ['pending', 'running', 'shutting-down', 'terminated'] });
      assert.deepEqual(
        launched.map((r) => r.id),
        [],
        'no worker was launched',
      );
    } finally {
      cloud.close();
    }

    const none = await runCli(
      ['batch', 'cmaes', '--objective', 'sphere', '--dim', '2', '--workers', '0', '--pool', 'shift-data', '--state-dir', stateDir],
      { cwd: bucket.work, env, timeoutMs: 60_000 },
    );
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /--pool: --workers 0 launches no workers to fetch it/);
  },
);
