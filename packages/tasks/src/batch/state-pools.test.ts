/**
 * Batch state pools against a real local S3 server (s3rver): uploaded once (files, then the
 * manifest), read by a worker into its cache with every file's SHA-256 checked, a second
 * read served from the cache, and an object replaced behind the manifest's back refused.
 * With the parts the CLI injects: @synkti/infra/bootstrap's uploadModel and @synkti/agent's
 * fetchModel (a test may import higher packages by name; tests/import-structure.test.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SynktiError, isSynktiError } from '@synkti/core';
import type { S3ObjectStore } from '@synkti/cloud';
import { openTestS3Bucket, type TestS3, type TestS3Bucket } from '@synkti/cloud/aws-testing';
import { fetchModel, s3ModelSource } from '@synkti/agent';
import { uploadModel, type ModelUploadProgress, type ModelUploadReport } from '@synkti/infra/bootstrap';
import { statePoolPrefix } from './state-pool-prefix.ts';
import {
  fetchStatePool as fetchPool,
  uploadStatePool as uploadPool,
  type FetchStatePoolOptions,
  type StatePool,
  type UploadStatePoolOptions,
} from './state-pools.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'sp-batch';
let s3: TestS3;
let store: S3ObjectStore;
let work: string;

let bucket: TestS3Bucket | undefined;

before(async () => {
  bucket = await openTestS3Bucket(BUCKET, 'synkti-state-pools-');
  ({ s3, store, work } = bucket);
});
after(() => bucket?.close());

const source = () => s3ModelSource({ bucket: BUCKET, endpoint: s3.endpoint, credentials: s3.credentials, region: 'us-east-1' });

/** The pool functions with what the CLI injects: infra's model upload, the agent's fetcher on `source`. */
function uploadStatePool(
  options: Omit<UploadStatePoolOptions<ModelUploadReport, ModelUploadProgress>, 'upload'>,
): Promise<ModelUploadReport> {
  return uploadPool({ ...options, upload: uploadModel });
}
function fetchStatePool(options: Omit<FetchStatePoolOptions, 'fetchModel'> & { source: ReturnType<typeof source> }): Promise<StatePool> {
  return fetchPool({ ...options, fetchModel: (read) => fetchModel({ ...read, source: options.source }) });
}

async function poolDir(name: string): Promise<{ dir: string; table: Buffer }> {
  const dir = join(work, 'src', name);
  await mkdir(join(dir, 'tables'), { recursive: true });
  const table = randomBytes(300_000);
  await writeFile(join(dir, 'params.json'), JSON.stringify({ dimension: 10, shift: 0.5 }));
  await writeFile(join(dir, 'tables', 'weights.bin'), table);
  return { dir, table };
}

test('a pool is uploaded once under state-pools/, a worker reads it checked, and the second read comes from its cache', async () => {
  const { dir, table } = await poolDir('rosenbrock-data');
  const first = await uploadStatePool({ store, bucket: BUCKET, name: 'rosenbrock-data', dir });
  assert.equal(first.prefix, 'state-pools/rosenbrock-data/');
  assert.equal(first.uploadedFiles, 2);
  assert.equal(first.manifest, 'created');
  // Uploaded once: the same directory again sends nothing.
  const again = await uploadStatePool({ store, bucket: BUCKET, name: 'rosenbrock-data', dir });
  assert.deepEqual([again.uploadedFiles, again.presentFiles, again.manifest], [0, 2, 'present']);

  const cacheDir = join(work, 'cache-worker-1');
  const read = await fetchStatePool({ bucket: BUCKET, name: 'rosenbrock-data', cacheDir, source: source() });
  assert.equal(read.reused, false);
  assert.equal(read.files, 2);
  assert.equal(read.bytesFetched, read.bytes);
  assert.equal(read.path, join(cacheDir, 'rosenbrock-data'));
  assert.deepEqual(await readFile(join(read.path, 'tables', 'weights.bin')), table);
  assert.deepEqual(JSON.parse(await readFile(join(read.path, 'params.json'), 'utf8')), { dimension: 10, shift: 0.5 });

  const second = await fetchStatePool({ bucket: BUCKET, name: 'rosenbrock-data', cacheDir, source: source() });
  assert.equal(second.reused, true, 'served from the cache');
  assert.equal(second.bytesFetched, 0);
  assert.equal(second.manifestSha256, read.manifestSha256);
});

test('an object replaced after the manifest was written is refused, naming the file, and nothing unverified is left in the pool', async () => {
  const { dir, table } = await poolDir('tampered');
  await uploadStatePool({ store, bucket: BUCKET, name: 'tampered', dir });
  // Same size, other bytes, written behind the manifest's back (no SHA-256 metadata, as a foreign writer would).
  const bad = Buffer.from(table);
  bad[1234] = (bad[1234]! + 1) % 256;
  await store.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${statePoolPrefix('tampered')}tables/weights.bin`, Body: bad }));

  const cacheDir = join(work, 'cache-worker-2');
  await assert.rejects(fetchStatePool({ bucket: BUCKET, name: 'tampered', cacheDir, source: source() }), (error: unknown) => {
    assert.ok(isSynktiError(error, 'E_MODEL_CORRUPT'), String(error));
    assert.match(error.message, /tables\/weights\.bin/);
    return true;
  });
  const left = await readdir(join(cacheDir, 'tampered', 'tables')).catch(() => [] as string[]);
  assert.ok(!left.includes('weights.bin'), `the bad file is not in the pool directory (found ${left.join(', ')})`);
});

test('a pool name that could leave the prefix is refused before anything is sent', async () => {
  for (const name of ['../models', 'UPPER', 'a/b', '', '.hidden']) {
    assert.throws(
      () => statePoolPrefix(name),
      (error: unknown) => isSynktiError(error, 'E_USAGE'),
      name,
    );
  }
  await assert.rejects(uploadStatePool({ store, bucket: BUCKET, name: '../models', dir: work }), (error: unknown) =>
    isSynktiError(error, 'E_USAGE'),
  );
});

test('a pool whose manifest cannot be read is named with the upload that fixes it; other fetcher errors pass through as they are', async () => {
  const cacheDir = join(work, 'cache-injected');
  const asked: string[] = [];
  const missing = fetchPool({
    bucket: BUCKET,
    name: 'never-uploaded',
    cacheDir,
    fetchModel: (read) => {
      asked.push(`${read.model.uri} -> ${read.modelsDir}`);
      return Promise.reject(new SynktiError('E_MODEL_MANIFEST', 'no manifest at models/x', { hint: 'upload the model' }));
    },
  });
  await assert.rejects(missing, (error: unknown) => {
    assert.ok(isSynktiError(error, 'E_MODEL_MANIFEST'), String(error));
    assert.match(
      error.message,
      /^state pool never-uploaded \(s3:\/\/sp-batch\/state-pools\/never-uploaded\/\) has no usable manifest: no manifest at models\/x/,
    );
    assert.match(error.hint ?? '', /synkti batch pool upload never-uploaded <dir> --bucket sp-batch/);
    return true;
  });
  assert.deepEqual(asked, [`s3://${BUCKET}/state-pools/never-uploaded/ -> ${cacheDir}`]);
  const corrupt = new SynktiError('E_MODEL_CORRUPT', 'tables/w.bin: SHA-256 mismatch');
  await assert.rejects(
    fetchPool({ bucket: BUCKET, name: 'p', cacheDir, fetchModel: () => Promise.reject(corrupt) }),
    (error: unknown) => error === corrupt,
  );
});
