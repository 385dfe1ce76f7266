/**
 * `synkti batch pool upload / fetch` against a real local S3 server (s3rver), with the
 * stack's variables: uploaded, then read by a worker. The pool logic and its cache are
 * @synkti/tasks/batch's (state-pools.test.ts there); here the CLI's wiring of infra's
 * upload and the agent's fetcher.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openTestS3Bucket, type TestS3Bucket } from '@synkti/cloud/aws-testing';
import { runCli } from '../../../../tests/helpers/cli.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'sp-batch';
let bucket: TestS3Bucket | undefined;

before(async () => {
  bucket = await openTestS3Bucket(BUCKET, 'synkti-state-pools-');
});
after(() => bucket?.close());

test("synkti batch pool upload / fetch with the stack's variables: uploaded, then read by a worker (the cache is the library's, tested in @synkti/tasks)", async () => {
  const { s3, work } = bucket!;
  const dir = join(work, 'src', 'cli-pool');
  await mkdir(join(dir, 'tables'), { recursive: true });
  const table = randomBytes(300_000);
  await writeFile(join(dir, 'params.json'), JSON.stringify({ dimension: 10, shift: 0.5 }));
  await writeFile(join(dir, 'tables', 'weights.bin'), table);
  const env = {
    SYNKTI_BUCKET: BUCKET,
    AWS_ENDPOINT_URL: s3.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
  };
  const up = await runCli(['batch', 'pool', 'upload', 'cli-pool', dir, '--json'], { cwd: work, env, timeoutMs: 60_000 });
  assert.equal(up.code, 0, up.stderr);
  const report = JSON.parse(up.stdout) as { prefix: string; uploadedFiles: number };
  assert.deepEqual([report.prefix, report.uploadedFiles], ['state-pools/cli-pool/', 2]);
  const cacheDir = join(work, 'cli-cache');
  const r = await runCli(['batch', 'pool', 'fetch', 'cli-pool', '--cache-dir', cacheDir, '--json'], { cwd: work, env, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const first = JSON.parse(r.stdout) as { reused: boolean; path: string; files: number };
  assert.deepEqual([first.reused, first.files], [false, 2]);
  assert.deepEqual(await readFile(join(first.path, 'tables', 'weights.bin')), table);
});
