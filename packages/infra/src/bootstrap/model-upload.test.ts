/** `synkti model upload` against a real local S3 server (s3rver). */
import assert from 'node:assert/strict';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { isSynktiError } from '@synkti/core';
import type { S3ObjectStore } from '@synkti/cloud';
import { openTestS3Bucket, type TestS3Bucket } from '@synkti/cloud/aws-testing';
import { MODEL_MANIFEST_NAME, uploadModel, type ModelManifest, type ModelUploadProgress } from './model-upload.ts';
import { MAX_SINGLE_PUT_BYTES, digestFile } from './s3-file-upload.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'mu-models';
let store: S3ObjectStore;
let work: string;

let bucket: TestS3Bucket | undefined;

before(async () => {
  bucket = await openTestS3Bucket(BUCKET, 'synkti-model-upload-');
  ({ store, work } = bucket);
});
after(() => bucket?.close());

async function modelDir(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
  await writeFile(join(dir, 'a.json'), '{"a":1}');
  await writeFile(join(dir, 'weights-00001.safetensors'), Buffer.alloc(200_000, 1));
  await writeFile(join(dir, 'weights-00002.safetensors'), Buffer.alloc(100_000, 2));
  await writeFile(join(dir, 'sub', 'deeper', 'c.txt'), 'c');
  return dir;
}

async function manifestOf(prefix: string): Promise<ModelManifest | undefined> {
  const body = await store.get(BUCKET, `${prefix}${MODEL_MANIFEST_NAME}`);
  return body === undefined ? undefined : (JSON.parse(Buffer.from(body).toString('utf8')) as ModelManifest);
}

describe('uploadModel', () => {
  it('uploads every file with its SHA-256, writes the manifest last, and a second run uploads nothing', async () => {
    const dir = await modelDir('m1');
    const events: ModelUploadProgress[] = [];
    const first = await uploadModel({ store, bucket: BUCKET, dir, onProgress: (p) => events.push({ ...p }) });
    assert.equal(first.prefix, 'models/m1/', 'the prefix defaults to models/<directory name>/');
    assert.equal(first.uploadedFiles, 4);
    assert.equal(first.uploadedBytes, 300_008);
    assert.equal(first.manifest, 'created');
    const last = events[events.length - 1]!;
    assert.deepEqual(
      { filesDone: last.filesDone, files: last.files, bytesDone: last.bytesDone, bytes: last.bytes },
      { filesDone: 4, files: 4, bytesDone: 300_008, bytes: 300_008 },
    );

    const manifest = await manifestOf('models/m1/');
    assert.deepEqual(
      manifest?.files.map((f) => f.path),
      ['a.json', 'sub/deeper/c.txt', 'weights-00001.safetensors', 'weights-00002.safetensors'],
    );
    for (const file of manifest!.files) {
      const local = await digestFile(join(dir, file.path));
      assert.equal(file.sha256, local.sha256);
      const head = await store.head(BUCKET, `models/m1/${file.path}`);
      assert.equal(head?.sha256, local.sha256, `${file.path} carries its SHA-256 as metadata`);
    }
    // The body is what was sent (get verifies the SHA-256 metadata too).
    assert.deepEqual(Buffer.from((await store.get(BUCKET, 'models/m1/weights-00002.safetensors'))!), Buffer.alloc(100_000, 2));

    const second = await uploadModel({ store, bucket: BUCKET, dir });
    assert.equal(second.uploadedFiles, 0);
    assert.equal(second.presentFiles, 4);
    assert.equal(second.manifest, 'present');
  });

  it('an interrupted upload leaves no manifest (the old one is withdrawn first); the re-run finishes it', async () => {
    const dir = await modelDir('m2');
    await uploadModel({ store, bucket: BUCKET, dir, prefix: 'models/m2' });
    await writeFile(join(dir, 'a.json'), '{"a":2}');
    await writeFile(join(dir, 'weights-00002.safetensors'), Buffer.alloc(100_000, 9));

    const send = store.client.send.bind(store.client);
    store.client.send = (async (command: unknown) => {
      if (command instanceof PutObjectCommand && command.input.Key === 'models/m2/weights-00002.safetensors')
        throw new Error('connection reset');
      return send(command as never);
    }) as typeof store.client.send;
    try {
      await assert.rejects(uploadModel({ store, bucket: BUCKET, dir, prefix: 'models/m2' }), /connection reset/);
    } finally {
      store.client.send = send;
    }
    assert.equal(await manifestOf('models/m2/'), undefined, 'no manifest vouches for a half-replaced model');

    const resumed = await uploadModel({ store, bucket: BUCKET, dir, prefix: 'models/m2' });
    assert.deepEqual(
      resumed.files.filter((f) => f.status !== 'present').map((f) => f.path),
      ['weights-00002.safetensors'],
      'only the file that did not make it',
    );
    assert.equal(resumed.manifest, 'created');
    const manifest = await manifestOf('models/m2/');
    assert.equal(
      manifest?.files.find((f) => f.path === 'weights-00002.safetensors')?.sha256,
      (await digestFile(join(dir, 'weights-00002.safetensors'))).sha256,
    );
  });

  it('dry run uploads nothing and says what it would do', async () => {
    const dir = await modelDir('m3');
    const report = await uploadModel({ store, bucket: BUCKET, dir, dryRun: true });
    assert.equal(report.uploadedFiles, 4);
    assert.equal(report.manifest, 'created');
    assert.deepEqual((await store.list(BUCKET, 'models/m3/')).items, []);
  });

  it('refuses bad input with the flag or file named: prefix outside models/, a reserved name, no files, a file over 5 GiB', async () => {
    const dir = await modelDir('m4');
    for (const prefix of ['weights/x', 'models/', 'models/../artifacts']) {
      await assert.rejects(
        uploadModel({ store, bucket: BUCKET, dir, prefix }),
        (e: unknown) => isSynktiError(e, 'E_USAGE') && /--prefix/.test(e.message),
      );
    }
    await writeFile(join(dir, MODEL_MANIFEST_NAME), '{}');
    await assert.rejects(
      uploadModel({ store, bucket: BUCKET, dir }),
      (e: unknown) => isSynktiError(e, 'E_USAGE') && /reserved/.test(e.message),
    );
    const empty = join(work, 'empty');
    await mkdir(empty);
    await assert.rejects(
      uploadModel({ store, bucket: BUCKET, dir: empty }),
      (e: unknown) => isSynktiError(e, 'E_USAGE') && /no files/.test(e.message),
    );
    await assert.rejects(
      uploadModel({ store, bucket: BUCKET, dir: join(work, 'missing') }),
      (e: unknown) => isSynktiError(e, 'E_USAGE') && /does not exist/.test(e.message),
    );

    const big = join(work, 'big');
    await mkdir(big);
    const handle = await open(join(big, 'huge.bin'), 'w');
    await handle.truncate(MAX_SINGLE_PUT_BYTES + 1); // sparse: nothing is written
    await handle.close();
    await assert.rejects(
      uploadModel({ store, bucket: BUCKET, dir: big }),
      (e: unknown) => isSynktiError(e, 'E_FILE_TOO_LARGE') && /5 GiB/.test(e.message) && /shards/.test(e.hint ?? ''),
    );
  });
});
