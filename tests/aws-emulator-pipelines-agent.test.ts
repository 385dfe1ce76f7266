/**
 * Pipeline agents started the way PipelineCluster's ECS services start them: `synkti agent`
 * with no flags, everything from the variables the stack injects (the pipelines contract).
 * With one variable missing an agent exits 2 naming it and the stack output; with all of
 * them, three pools of agents finish a hash job (11 tasks) against a real PostgreSQL with
 * their chunks in the stack's S3 bucket (moto), and SIGTERM ends each with 0.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { PIPELINE_AGENT_ENV } from '@synkti/core/contracts';
import { openTaskDatabase } from '@synkti/tasks';
import { startMotoOrSkip } from '../packages/aws-emulator/src/testing/moto-for-tests.ts';
import { startTestPostgres } from '../scripts/test-services/postgres.ts';
import { startOrSkip } from '../scripts/test-services/services.ts';
import { expectedHashResult, hashPipeline, type HashJobResult } from '../examples/pipeline-hash.ts';
import { CLI_MAIN, REPO_ROOT, runCli } from './helpers/cli.ts';

const BUCKET = 'synkti-test-data-123456789012';

function stackEnv(db: string, pool: string): Record<string, string> {
  return {
    SYNKTI_CLUSTER: 'synkti-test',
    SYNKTI_POOL: pool,
    SYNKTI_PIPELINE_DB: db,
    SYNKTI_PIPELINES: join(REPO_ROOT, 'examples/pipeline-hash.ts'),
    SYNKTI_BUCKET: BUCKET,
    AWS_REGION: 'us-east-1',
  };
}

test('an agent with one stack variable missing exits 2 naming it and the stack output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-agent-env-'));
  try {
    const result = await runCli(['agent'], {
      cwd: dir,
      env: { ...stackEnv('postgres://u@127.0.0.1:9/db', 'exec'), SYNKTI_PIPELINES: '', SYNKTI_IMDS_ENDPOINT: '' },
      timeoutMs: 60_000,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /SYNKTI_PIPELINES is not set \(from PipelineCluster arg pipelineModules/);
    assert.equal(PIPELINE_AGENT_ENV.SYNKTI_PIPELINES.from, 'PipelineCluster arg pipelineModules');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("agents with the stack's variables alone finish a job on PostgreSQL with their chunks in S3, and exit 0 on SIGTERM", async (t) => {
  const moto = await startMotoOrSkip();
  if (moto.service === undefined) return t.skip(moto.skip);
  const aws = moto.service;
  t.after(() => aws.stop());
  const pg = await startOrSkip(startTestPostgres);
  if (pg.service === undefined) return t.skip(pg.skip);
  const postgres = pg.service;
  t.after(() => postgres.stop());
  const dir = mkdtempSync(join(tmpdir(), 'synkti-agent-env-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s3 = new S3Client(aws.clientConfig());
  t.after(() => s3.destroy());
  // The stack's bucket (PipelineCluster makes it; agents never create buckets).
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));

  const agents: Array<{ child: ChildProcess; exited: Promise<number | null>; log: () => string }> = [];
  t.after(() => {
    for (const a of agents) if (a.child.exitCode === null) a.child.kill('SIGKILL');
  });
  const startAgent = async (pool: string): Promise<void> => {
    const child = spawn(process.execPath, [CLI_MAIN, 'agent'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...aws.env(), ...stackEnv(postgres.url, pool), SYNKTI_IMDS_ENDPOINT: '', HASH_PIPELINE_WORK_MS: '0' },
    });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => {
      log = (log + d.toString()).slice(-6000);
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    agents.push({ child, exited, log: () => log });
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 60_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('"event":"ready"')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    assert.ok(ready, `agent ${pool} did not start:\n${log}`);
    assert.match(log, new RegExp(`store s3://${BUCKET}`));
  };
  await Promise.all(['exec', 'gpu', 'snark'].map(startAgent));

  const db = await openTaskDatabase(postgres.url);
  t.after(() => db.close());
  const input = { size: 8 * 4096, seed: 'stack-env', chunkBytes: 4096 };
  const { input: validated, tasks } = hashPipeline.jobTasks(input);
  const { id } = await db.createJob({ pipeline: 'hash', input: validated, tasks });
  const deadline = Date.now() + 60_000;
  let job = await db.getJob(id);
  while (job?.state === 'running') {
    assert.ok(Date.now() < deadline, `job did not finish in 60 s:\n${agents.map((a) => a.log()).join('\n---\n')}`);
    await new Promise((r) => setTimeout(r, 100));
    job = await db.getJob(id);
  }
  assert.equal(job?.state, 'done', JSON.stringify(job));
  const result = job.result as unknown as HashJobResult;
  const expected = expectedHashResult(input);
  assert.deepEqual([result.root, result.sha256, result.chunks, result.verified], [expected.root, expected.sha256, expected.chunks, true]);
  // The chunks went through the stack's bucket, not a local directory.
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  assert.ok((listed.KeyCount ?? 0) > 0, 'objects in the stack bucket');

  for (const a of agents) a.child.kill('SIGTERM');
  for (const a of agents) assert.equal(await a.exited, 0, a.log());
});
