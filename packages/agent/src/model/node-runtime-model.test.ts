/**
 * The node runtime and its model: while the model cannot be fetched the node stays not
 * ready and its workload is not started, and /status says why; once the model is in the
 * bucket the next attempt fetches it and the workload (the stand-in, which checks the
 * directory against its manifest) starts with {modelPath} and the node turns ready.
 * Also: which model and where (spec, SYNKTI_MODEL_URI, models dir), retries and stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { TAG_CLUSTER, TAG_ROLE, VLLM_PRESET_COMMAND, freeLoopbackPort, validateCluster, workloadPreset } from '@synkti/core';
import {
  LocalObjectStore,
  MODEL_MANIFEST_FORMAT,
  modelManifestKey,
  serializeModelManifest,
  type InstanceProvider,
  type InstanceRecord,
} from '@synkti/cloud';
import { Agent } from '../agent.ts';
import { createLogger } from '../logger.ts';
import { NodeRuntime, workloadCommand } from '../node-runtime.ts';
import type { ModelProgress } from './model-fetcher.ts';
import { objectStoreModelSource, type ModelObjectSource } from './model-source.ts';
import { ModelDelivery, WORKER_MODELS_DIR, defaultModelsDir, modelOf } from './model-delivery.ts';
import { metadataOfRecord } from '../testing/record-metadata.ts';

const quiet = createLogger({}, { write() {} });

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test('a node whose model cannot be fetched stays not ready without its workload; once the model is there it serves it', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'synkti-runtime-model-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const store = new LocalObjectStore({ root: join(work, 'objects') });
  await store.createBucket('rt-models');

  const record: InstanceRecord = {
    id: 'i-0aaaaaaaaaaaaaaa1',
    state: 'running',
    instanceType: 'local.small',
    lifecycle: 'spot',
    zone: 'local-a',
    privateIp: '127.0.0.1',
    launchedAt: Date.now(),
    tags: { [TAG_CLUSTER]: 'rtmodel', [TAG_ROLE]: 'worker' },
  };
  const instances: InstanceProvider = {
    launch: async () => {
      throw new Error('no launches in this test');
    },
    list: async () => ({ items: [record] }),
    terminate: async () => {},
    tag: async () => {},
    untag: async () => {},
  };
  const metadata = metadataOfRecord(record);
  const spec = validateCluster({
    name: 'rtmodel',
    pools: { worker: { count: 1 } },
    model: { uri: 's3://rt-models/models/tiny/' },
    // The preset an installed agent runs: {node}, {tsx} and {standIn} come from the agent package.
    workload: { ...workloadPreset('stand-in', { modelDir: true }), startupTimeout: '30s' },
    timeouts: { gossipInterval: '100ms', failureTimeout: '1s' },
  });
  const [agentPort, routerPort, workloadPort] = [await freeLoopbackPort(), await freeLoopbackPort(), await freeLoopbackPort()];
  const agent = new Agent({
    cluster: 'rtmodel',
    metadata,
    instances,
    secret: 'runtime-model-secret-0123456789ab',
    defaultPorts: { agent: agentPort, router: routerPort, workload: workloadPort },
    gossipIntervalMs: 100,
    failureTimeoutMs: 1000,
    listIntervalMs: 500,
    dashboard: undefined,
    logger: quiet,
  });
  const modelsDir = join(work, 'models');
  const runtime = new NodeRuntime({
    agent,
    spec,
    metadata,
    instances,
    userData: '',
    logger: quiet,
    model: { modelsDir, source: objectStoreModelSource(store, 'rt-models'), retryDelayMs: 100 },
  });
  t.after(async () => {
    await runtime.stopAll();
    await agent.stop();
  });
  const extras = () => agent.statusExtras() as { model?: ModelProgress; workload?: { state: string } };

  const starting = runtime.start();
  let settled = false;
  void starting.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await until('the first failed fetch', () => extras().model?.state === 'failed');
  const failed = extras().model!;
  assert.equal(failed.error?.code, 'E_MODEL_MANIFEST');
  assert.match(failed.error?.message ?? '', /s3:\/\/rt-models\/models\/tiny\/synkti-manifest\.json does not exist/);
  assert.match(failed.error?.hint ?? '', /synkti model upload/);
  assert.equal(agent.state, 'joining', 'not ready');
  assert.equal(extras().workload, undefined, 'the workload was not started');
  assert.equal(settled, false, 'start() waits for the model');
  // The agent's own /status carries the same (what `synkti status` shows). The fetch is
  // retried every 100 ms, so a read may land in a retry ('fetching'): read /status until it
  // shows a failed attempt, and the node must be joining (not ready) in every read.
  type Status = { state: string; model?: ModelProgress };
  const readStatus = async (): Promise<Status> =>
    (
      await fetch(`http://127.0.0.1:${agentPort}/status`, { headers: { authorization: 'Bearer runtime-model-secret-0123456789ab' } })
    ).json() as Promise<Status>;
  let status: Status | undefined;
  await until('/status to show the failed fetch', async () => {
    status = await readStatus();
    assert.equal(status.state, 'joining', 'not ready while the model cannot be fetched');
    return status.model?.state === 'failed';
  });
  assert.equal(status?.model?.error?.code, 'E_MODEL_MANIFEST');
  assert.equal(extras().workload, undefined, 'the workload was still not started');

  // The model arrives (files first, manifest last, as `synkti model upload` writes it).
  const weights = Buffer.alloc(50_000, 3);
  await store.put('rt-models', 'models/tiny/weights.bin', weights);
  await store.put(
    'rt-models',
    modelManifestKey('models/tiny/'),
    serializeModelManifest({
      format: MODEL_MANIFEST_FORMAT,
      prefix: 'models/tiny/',
      totalBytes: weights.length,
      files: [{ path: 'weights.bin', bytes: weights.length, sha256: createHash('sha256').update(weights).digest('hex') }],
    }),
  );
  await until('the node serving its model', () => agent.state === 'ready', 30_000);
  await starting;
  const ready = extras().model!;
  assert.equal(ready.state, 'ready');
  assert.equal(ready.bytesFetched, 50_000);
  assert.equal(ready.path, join(modelsDir, 'tiny'));
  assert.equal(extras().workload?.state, 'healthy');
  assert.ok((await stat(join(modelsDir, 'tiny', 'weights.bin'))).size === 50_000);
  // The stand-in got {modelPath} and checked it before it served.
  assert.equal((await fetch(`http://127.0.0.1:${workloadPort}/health`)).status, 200);
});

test("workload commands get this node's port, model path and the stand-in resolved from the agent package", () => {
  const [node, importFlag, tsx, standIn, ...rest] = workloadCommand(
    workloadPreset('stand-in', { modelDir: true }).command,
    8123,
    '/var/lib/synkti/models/m',
    '127.100.1.4',
  );
  assert.equal(node, process.execPath);
  assert.equal(importFlag, '--import');
  assert.ok(tsx!.startsWith('file:///') && existsSync(fileURLToPath(tsx!)), `tsx loader ${tsx}: absolute, so any cwd works`);
  assert.ok(isAbsolute(standIn!) && existsSync(standIn!) && standIn!.endsWith(join('stand-in', 'main.ts')));
  assert.deepEqual(
    rest,
    ['--host', '127.100.1.4', '--port', '8123', '--model-dir', '/var/lib/synkti/models/m'],
    "bound to the node's private IP, where peers reach it",
  );
  assert.deepEqual(workloadCommand(VLLM_PRESET_COMMAND, 8000, '/m/qwen', '10.0.1.7'), [
    'vllm',
    'serve',
    '/m/qwen',
    '--host',
    '10.0.1.7',
    '--port',
    '8000',
  ]);
  assert.deepEqual(
    workloadCommand(['sh', '-c', 'serve --port={port} {other}'], 9),
    ['sh', '-c', 'serve --port=9 {other}'],
    'unknown braces stay',
  );
  assert.deepEqual(workloadPreset('vllm'), {
    command: ['vllm', 'serve', '{modelPath}', '--host', '{host}', '--port', '{port}'],
    healthPath: '/health',
    startupTimeout: '15 minutes',
  });
});

const localSpec = validateCluster({ name: 'md', pools: { worker: { count: 1 } } });
const awsSpec = validateCluster({
  name: 'md',
  provider: 'aws',
  pools: { worker: { count: 1 } },
  model: { uri: 's3://spec-models/models/a/' },
});

test('which model and where: the spec wins over SYNKTI_MODEL_URI, which is checked like model.uri', () => {
  assert.equal(modelOf(localSpec, {}), undefined);
  assert.equal(modelOf(awsSpec, { SYNKTI_MODEL_URI: 's3://env-models/models/b/' })?.bucket, 'spec-models');
  assert.deepEqual(modelOf(localSpec, { SYNKTI_MODEL_URI: 's3://env-models/models/b/' }), {
    uri: 's3://env-models/models/b/',
    bucket: 'env-models',
    prefix: 'models/b/',
    name: 'b',
  });
  assert.equal(
    modelOf(localSpec, { SYNKTI_MODEL_URI: 's3://env-models/models/b' })?.prefix,
    'models/b/',
    'the boot script\'s directory, "/" or not',
  );
  assert.throws(() => modelOf(localSpec, { SYNKTI_MODEL_URI: 's3://Env_Models/models/b/' }), /SYNKTI_MODEL_URI: bucket name "Env_Models"/);
  assert.equal(defaultModelsDir(awsSpec, 'i-1', {}), WORKER_MODELS_DIR);
  // systemd's StateDirectory (an emulated machine maps it into its own root).
  assert.equal(defaultModelsDir(awsSpec, 'i-1', { STATE_DIRECTORY: '/m/root/var/lib/synkti' }), '/m/root/var/lib/synkti/models');
  assert.equal(defaultModelsDir(localSpec, 'i-1', { SYNKTI_LOCAL_STATE_DIR: '/s' }), '/s/instances/i-1/models');
  assert.equal(defaultModelsDir(awsSpec, 'i-1', { SYNKTI_MODELS_DIR: '/data/models' }), '/data/models');
  assert.throws(() => defaultModelsDir(localSpec, 'i-1', {}), /SYNKTI_MODELS_DIR is not set/);
});

test('a failed fetch is reported and tried again; stop() ends the wait at once', async () => {
  let reads = 0;
  const source: ModelObjectSource = {
    where: 's3://spec-models',
    getSmall: async () => {
      reads += 1;
      return undefined;
    },
    read: async () => {
      throw new Error('unused');
    },
  };
  const errors: unknown[] = [];
  const delivery = new ModelDelivery({
    model: awsSpec.model!,
    source,
    modelsDir: '/nonexistent-never-written',
    retryDelayAfterFailureMs: 10,
    maxRetryDelayAfterFailureMs: 60_000,
    onError: (error) => errors.push(error),
  });
  const ready = delivery.ready();
  const end = Date.now() + 5000;
  while (delivery.failures < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.ok(delivery.failures >= 3, 'tried again after each failure');
  assert.equal(delivery.progress.state, 'failed');
  assert.match(delivery.progress.error?.message ?? '', /synkti-manifest\.json does not exist/);
  assert.equal((errors[0] as { code?: string }).code, 'E_MODEL_MANIFEST');
  // Now waiting (10 → 20 → 40 ms … up to a minute): stop resolves it without the wait.
  const started = Date.now();
  delivery.stop();
  assert.equal(await ready, undefined);
  assert.ok(Date.now() - started < 1000);
  assert.ok(reads >= 3);
});
