/**
 * The stacks' tasks on the stock Node.js image (ADR 0008): PipelineCluster given a
 * `release` makes no ECR repository, runs Docker's Node.js 20 image with the rendered
 * entrypoint, lets its task role read that one release object, and the entryPoint +
 * command it declares — run as ECS runs them (`node` from PATH) against a loopback S3
 * stand-in serving a release — runs the release's CLI with the CLI's arguments.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import * as pulumi from '@pulumi/pulumi';
import { isSynktiError } from '@synkti/core';
import { taskArtifactKey } from '@synkti/cloud';
import { PipelineCluster } from '../pipeline-cluster/pipeline-cluster.ts';
import { SpotBatchFleet } from './spot-batch-fleet.ts';
import { runMockStack } from '../testing/mock-stack.ts';
import { STOCK_NODE_IMAGE, type TaskReleaseArgs } from './task-release.ts';

const BUCKET = 'synkti-models-123456789012';
const VERSION = '0.1.0';

/** A release whose CLI prints its arguments. */
function buildRelease(dir: string): Buffer {
  const pkg = join(dir, 'build', 'package');
  mkdirSync(join(pkg, 'bin'), { recursive: true });
  writeFileSync(join(pkg, 'bin', 'synkti.mjs'), "process.stdout.write('cli args: ' + JSON.stringify(process.argv.slice(2)) + '\\n');\n");
  const out = join(dir, 'release.tgz');
  const tar = spawnSync('tar', ['-czf', out, '-C', join(dir, 'build'), 'package']);
  assert.equal(tar.status, 0, String(tar.stderr));
  return readFileSync(out);
}

/** Runs a container's entryPoint + command as ECS does (exec, `node` from PATH) against a loopback S3 serving the release. */
async function runAsEcs(
  t: TestContext,
  dir: string,
  artifact: Buffer,
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const server = createServer((req, res) => {
    if (req.url === `/${BUCKET}/${taskArtifactKey(VERSION)}`) res.writeHead(200).end(artifact);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    SYNKTI_TASK_ROOT: join(dir, `task-${Math.random().toString(36).slice(2)}`),
    AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'secret',
  };
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface Container {
  image: string;
  entryPoint?: string[];
  command: string[];
  name: string;
}

test("PipelineCluster with a release: stock Node.js image, no ECR repository, the task role reads the release, and entryPoint + command run the release's CLI with the CLI's arguments", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-task-release-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const artifact = buildRelease(dir);
  const release: TaskReleaseArgs = { bucket: BUCKET, version: VERSION, sha256: createHash('sha256').update(artifact).digest('hex') };
  const { resources } = await runMockStack((opts) => new PipelineCluster('pl', { release }, opts), { stack: 'dev' });
  assert.equal(resources.filter((r) => r.type === 'aws:ecr/repository:Repository').length, 0, 'no ECR repository');
  const containers = resources
    .filter((r) => r.type === 'aws:ecs/taskDefinition:TaskDefinition')
    .flatMap((r) => JSON.parse(r.inputs.containerDefinitions as string) as Container[]);
  assert.ok(containers.length >= 2);
  for (const c of containers) {
    assert.equal(c.image, STOCK_NODE_IMAGE, c.name);
    assert.deepEqual(c.entryPoint?.slice(0, 3), ['node', '--input-type=module', '-e'], c.name);
    assert.equal(c.command[0], 'synkti', c.name);
  }
  const agent = containers.find((c) => c.name.startsWith('agent-'))!;
  assert.deepEqual(agent.command, ['synkti', 'agent']);
  const taskPolicy = resources.find((r) => r.type === 'aws:iam/rolePolicy:RolePolicy' && r.name === 'pl-task')!;
  assert.match(
    String(taskPolicy.inputs.policy),
    new RegExp(`"Sid":"FetchRelease".*arn:aws:s3:::${BUCKET}/artifacts/synkti-${VERSION.replaceAll('.', '\\.')}\\.tgz`),
  );

  const out = await runAsEcs(t, dir, artifact, [...agent.entryPoint!, ...agent.command]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /cli args: \["agent"\]/);
});

test('PipelineCluster refuses image and release together, naming release', async () => {
  await assert.rejects(
    runMockStack(
      (opts) => new PipelineCluster('pl', { image: 'x:1', release: { bucket: BUCKET, version: VERSION, sha256: 'a'.repeat(64) } }, opts),
      { stack: 'dev' },
    ),
    (error: unknown) => isSynktiError(error) && /release/.test(error.message),
  );
});

test("SpotBatchFleet with a release: stock Node.js image, no ECR repository, and the worker's entryPoint + command run `synkti batch worker`", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-task-release-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const artifact = buildRelease(dir);
  const release: TaskReleaseArgs = { bucket: BUCKET, version: VERSION, sha256: createHash('sha256').update(artifact).digest('hex') };
  const { resources } = await runMockStack((opts) => new SpotBatchFleet('batch', { release }, opts), { stack: 'dev' });
  assert.equal(resources.filter((r) => r.type.startsWith('aws:ecr/')).length, 0, 'no ECR repository or lifecycle policy');
  const [worker] = resources
    .filter((r) => r.type === 'aws:ecs/taskDefinition:TaskDefinition')
    .flatMap((r) => JSON.parse(r.inputs.containerDefinitions as string) as Container[]);
  assert.equal(worker?.image, STOCK_NODE_IMAGE);
  assert.deepEqual(worker.command, ['synkti', 'batch', 'worker']);
  const taskPolicy = resources.find((r) => r.type === 'aws:iam/rolePolicy:RolePolicy' && r.name === 'batch-task')!;
  assert.match(String(taskPolicy.inputs.policy), /"Sid":"FetchRelease"/);
  const out = await runAsEcs(t, dir, artifact, [...worker.entryPoint!, ...worker.command]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /cli args: \["batch","worker"\]/);
  // With release, the command is the CLI as typed.
  await assert.rejects(
    runMockStack((opts) => new SpotBatchFleet('batch', { release, command: ['batch', 'worker'] }, opts), { stack: 'dev' }),
    (error: unknown) => isSynktiError(error) && /command/.test(error.message),
  );
});

test('a stack given neither release nor image is told at preview and up what will not start, naming the args and the fix', async (t) => {
  const warn = t.mock.method(pulumi.log, 'warn', () => Promise.resolve());
  const warnings = (): string[] => warn.mock.calls.map((call) => String(call.arguments[0]));
  await runMockStack((opts) => new SpotBatchFleet('batch', {}, opts), { stack: 'dev' });
  assert.equal(
    warnings().filter((w) => /^SpotBatchFleet batch: neither release nor image is given/.test(w)).length,
    1,
    warnings().join('\n'),
  );
  assert.match(
    warnings()[0]!,
    /<its ECR repository>:latest, which is empty.*Pass release: \{ bucket, version, sha256 \}.*or image: '<your image>'/,
  );
  warn.mock.resetCalls();
  await runMockStack((opts) => new SpotBatchFleet('batch', { image: 'example.com/worker:1' }, opts), { stack: 'dev' });
  assert.deepEqual(
    warnings().filter((w) => /neither release nor image/.test(w)),
    [],
    'an image of its own: nothing to say',
  );
});
