/**
 * A node fetching a model against a real S3-compatible server (s3rver), uploaded with the
 * real `synkti model upload` code: verify, resume, reuse after a restart, corrupt and
 * missing models, hostile manifests, and the stand-in refusing a model that does not verify.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { parseModelUri, type ModelLocation } from '@synkti/core';
import { MODEL_MANIFEST_NAME, SHA256_METADATA, createS3ObjectStore, modelManifestSha256, type S3ObjectStore } from '@synkti/cloud';
import { startTestS3, type TestS3 } from '@synkti/cloud/aws-testing';
import { uploadModel } from '@synkti/infra/bootstrap';
import { fetchModel, type ModelProgress } from './model-fetcher.ts';
import { s3ModelSource, type ModelObjectSource, type ModelRead } from './model-source.ts';
import { verifyModelDir } from './model-verify.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const BUCKET = 'fetch-models';
const STAND_IN = fileURLToPath(new URL('../stand-in/main.ts', import.meta.url));
let s3: TestS3;
let store: S3ObjectStore;
let work: string;
let model: ModelLocation;
const files: Record<string, Buffer> = {
  'config.json': Buffer.from('{"architectures":["Tiny"]}'),
  'model-00001-of-00002.safetensors': randomBytes(400_000),
  'model-00002-of-00002.safetensors': randomBytes(150_000),
  'tokenizer/tokenizer.json': Buffer.from('{"vocab":{}}'),
  'empty.txt': Buffer.alloc(0),
};
const BIG = 'model-00001-of-00002.safetensors';

/** The real S3 source, counting what the server sends. */
interface Counted extends ModelObjectSource {
  manifestReads: number;
  reads: { key: string; start: number }[];
  served: Map<string, number>;
}

function counted(inner: ModelObjectSource, cutAfter?: { key: string; bytes: number }): Counted {
  let cut = cutAfter;
  const source: Counted = {
    where: inner.where,
    manifestReads: 0,
    reads: [],
    served: new Map(),
    async getSmall(key, maxBytes) {
      source.manifestReads += 1;
      return inner.getSmall(key, maxBytes);
    },
    async read(key, start, signal): Promise<ModelRead> {
      source.reads.push({ key, start });
      const read = await inner.read(key, start, signal);
      const cutHere = cut && key.endsWith(cut.key) ? cut : undefined;
      if (cutHere) cut = undefined;
      async function* body(): AsyncIterable<Uint8Array> {
        let sent = 0;
        for await (const chunk of read.body) {
          // A connection that dies part-way: the bytes so far arrived, then an error.
          const part = cutHere && sent + chunk.byteLength > cutHere.bytes ? chunk.subarray(0, cutHere.bytes - sent) : chunk;
          sent += part.byteLength;
          source.served.set(key, (source.served.get(key) ?? 0) + part.byteLength);
          yield part;
          if (cutHere && sent >= cutHere.bytes) {
            (read.body as { destroy?: () => void }).destroy?.();
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          }
        }
      }
      return { ...read, body: body() };
    },
  };
  return source;
}

function realSource(): ModelObjectSource {
  return s3ModelSource({ bucket: BUCKET, endpoint: s3.endpoint, credentials: s3.credentials, region: 'us-east-1' });
}

async function freshDir(name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function treeOf(dir: string, base = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, base), { withFileTypes: true })) {
    const rel = base ? `${base}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await treeOf(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function assertModelArrived(dir: string): Promise<void> {
  for (const [path, body] of Object.entries(files)) assert.deepEqual(await readFile(join(dir, path)), body, path);
  assert.deepEqual(await treeOf(dir), [...Object.keys(files), MODEL_MANIFEST_NAME].sort(), 'exactly the model and its manifest');
}

/** The stand-in with --model-dir: its exit (code, stderr) or, when it serves, its /health status. */
async function standIn(dir: string): Promise<{ code: number | null; stderr: string; health?: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', STAND_IN, '--port', '0', '--model-dir', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, 'exit') as Promise<[number | null]>;
  try {
    const deadline = Date.now() + 20_000;
    while (!/listening on (http:\/\/127\.0\.0\.1:\d+)/.test(stderr) && child.exitCode === null) {
      if (Date.now() > deadline) throw new Error(`stand-in neither served nor exited: ${stderr}`);
      await Promise.race([once(child.stderr!, 'data'), exited]);
    }
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
    if (!url) {
      const [code] = await exited;
      return { code, stderr };
    }
    const health = (await fetch(`${url}/health`)).status;
    return { code: null, stderr, health };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

before(async () => {
  s3 = await startTestS3();
  store = createS3ObjectStore({ endpoint: s3.endpoint, credentials: s3.credentials, region: 'us-east-1', secureNewBuckets: false });
  await store.createBucket(BUCKET);
  work = await mkdtemp(join(tmpdir(), 'synkti-model-fetch-'));
  const source = join(work, 'upload', 'tiny');
  for (const [path, body] of Object.entries(files)) {
    await mkdir(join(source, path, '..'), { recursive: true });
    await writeFile(join(source, path), body);
  }
  await uploadModel({ store, bucket: BUCKET, dir: source });
  model = parseModelUri(`s3://${BUCKET}/models/tiny/`);
});

after(async () => {
  store?.client.destroy();
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('fetchModel against s3rver', () => {
  it('fetches and verifies every file, reports progress, and a restart reuses the verified copy without fetching a file', async () => {
    const modelsDir = await freshDir('first');
    const source = counted(realSource());
    const events: ModelProgress[] = [];
    const fetched = await fetchModel({ model, source, modelsDir, onProgress: (p) => events.push(p) });
    const total = Object.values(files).reduce((sum, b) => sum + b.length, 0);
    assert.equal(fetched.path, join(modelsDir, 'tiny'));
    assert.equal(fetched.reused, false);
    assert.equal(fetched.bytesFetched, total);
    await assertModelArrived(fetched.path);
    const last = events[events.length - 1]!;
    assert.deepEqual(
      { state: last.state, files: last.files, filesDone: last.filesDone, bytes: last.bytes, bytesDone: last.bytesDone },
      { state: 'ready', files: 5, filesDone: 5, bytes: total, bytesDone: total },
    );
    assert.ok(
      events.some((e) => e.state === 'fetching' && e.bytesDone > 0 && e.bytesDone < total),
      'progress while bytes arrive',
    );
    assert.equal((await verifyModelDir(fetched.path)).files, 5);

    // A restart: one GET (the manifest), no file read, the same directory.
    const again = counted(realSource());
    const reused = await fetchModel({ model, source: again, modelsDir });
    assert.equal(reused.reused, true);
    assert.equal(reused.bytesFetched, 0);
    assert.equal(again.manifestReads, 1);
    assert.deepEqual(again.reads, [], 'no model file was fetched');

    // A file damaged on disk after the restart check (a size change): fetched again, only it.
    await writeFile(join(fetched.path, 'config.json'), 'oops');
    const repair = counted(realSource());
    const repaired = await fetchModel({ model, source: repair, modelsDir });
    assert.equal(repaired.reused, false);
    assert.deepEqual(
      repair.reads.map((r) => r.key),
      ['models/tiny/config.json'],
    );
    await assertModelArrived(repaired.path);
  });

  it('resumes: a partial file left by a crash and a connection cut mid-file are completed with ranged GETs', async () => {
    const modelsDir = await freshDir('resume');
    const manifest = JSON.parse(await readFile(join(work, 'first', 'tiny', MODEL_MANIFEST_NAME), 'utf8')) as {
      files: { path: string; sha256: string }[];
    };
    const bigSha = manifest.files.find((f) => f.path === BIG)!.sha256;
    const second = 'model-00002-of-00002.safetensors';
    const secondSha = manifest.files.find((f) => f.path === second)!.sha256;
    // A crash left the first 100,000 bytes of the big file.
    await mkdir(join(modelsDir, '.synkti', 'tiny', 'partial'), { recursive: true });
    await writeFile(join(modelsDir, '.synkti', 'tiny', 'partial', bigSha), files[BIG]!.subarray(0, 100_000));
    // And the connection dies after 60,000 bytes of the second file.
    const source = counted(realSource(), { key: second, bytes: 60_000 });
    const fetched = await fetchModel({ model, source, modelsDir, retryDelayMs: 10 });
    await assertModelArrived(fetched.path);
    assert.deepEqual(
      source.reads.filter((r) => r.key.endsWith(BIG)).map((r) => r.start),
      [100_000],
      "the big file resumed at the partial's end",
    );
    assert.equal(source.served.get(`models/tiny/${BIG}`), files[BIG]!.length - 100_000, 'only the rest of it was sent');
    assert.deepEqual(
      source.reads.filter((r) => r.key.endsWith(second)).map((r) => r.start),
      [0, 60_000],
      'the cut file resumed where it stopped',
    );
    assert.equal(source.served.get(`models/tiny/${second}`), files[second]!.length, 'no byte of it was sent twice');
    assert.equal(fetched.bytesFetched, Object.values(files).reduce((sum, b) => sum + b.length, 0) - 100_000);
    assert.ok(secondSha);

    // A damaged partial (bad bytes kept from before) is detected and the file fetched once more from the start.
    const damaged = await freshDir('damaged-partial');
    await mkdir(join(damaged, '.synkti', 'tiny', 'partial'), { recursive: true });
    await writeFile(join(damaged, '.synkti', 'tiny', 'partial', bigSha), Buffer.alloc(100_000, 7));
    const retry = counted(realSource());
    await assertModelArrived((await fetchModel({ model, source: retry, modelsDir: damaged })).path);
    assert.deepEqual(
      retry.reads.filter((r) => r.key.endsWith(BIG)).map((r) => r.start),
      [100_000, 0],
    );
  });

  it('a corrupt file in the bucket fails naming it; nothing is marked verified and the stand-in refuses the directory', async () => {
    const bucketModel = parseModelUri(`s3://${BUCKET}/models/corrupt/`);
    const source = join(work, 'upload', 'corrupt');
    await cp(join(work, 'upload', 'tiny'), source, { recursive: true });
    await uploadModel({ store, bucket: BUCKET, dir: source });
    // The tokenizer's body is damaged in the bucket; its metadata still claims the old SHA-256.
    const head = await store.head(BUCKET, 'models/corrupt/tokenizer/tokenizer.json');
    await store.client.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: 'models/corrupt/tokenizer/tokenizer.json',
        Body: Buffer.from('{"vocab":[]}'),
        Metadata: { [SHA256_METADATA]: head!.sha256 },
      }),
    );
    const modelsDir = await freshDir('corrupt');
    const events: ModelProgress[] = [];
    await assert.rejects(
      fetchModel({ model: bucketModel, source: realSource(), modelsDir, onProgress: (p) => events.push(p) }),
      (error: Error & { code?: string; hint?: string }) => {
        assert.equal(error.code, 'E_MODEL_CORRUPT');
        assert.match(error.message, /model file tokenizer\/tokenizer\.json .*does not match its SHA-256/);
        assert.match(error.hint ?? '', /synkti model upload/);
        return true;
      },
    );
    const last = events[events.length - 1]!;
    assert.equal(last.state, 'failed');
    assert.equal(last.error?.file, 'tokenizer/tokenizer.json');
    assert.equal(last.error?.code, 'E_MODEL_CORRUPT');
    await assert.rejects(stat(join(modelsDir, '.synkti', 'corrupt', 'verified.json')), 'not marked verified');
    await assert.rejects(stat(join(modelsDir, 'corrupt', 'tokenizer', 'tokenizer.json')), 'the bad file never entered the model directory');
    await assert.rejects(stat(join(modelsDir, 'corrupt', MODEL_MANIFEST_NAME)), 'no manifest vouches for the directory');

    // The stand-in refuses a fetched directory whose file does not match, naming it (that it
    // serves a verified one is node-runtime-model.test.ts).
    const broken = join(work, 'broken-copy');
    await cp(join(work, 'first', 'tiny'), broken, { recursive: true });
    const big = await readFile(join(broken, BIG));
    big[1234] = big[1234]! ^ 0xff;
    await writeFile(join(broken, BIG), big);
    const refused = await standIn(broken);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, new RegExp(`model file ${BIG.replaceAll('.', '\\.')} does not match its SHA-256`));
    assert.doesNotMatch(refused.stderr, /listening/);
  });

  it('a missing manifest and a hostile manifest are refused before anything is written', async () => {
    const modelsDir = await freshDir('refused');
    await assert.rejects(
      fetchModel({ model: parseModelUri(`s3://${BUCKET}/models/absent/`), source: realSource(), modelsDir }),
      (error: Error & { code?: string; hint?: string }) => {
        assert.equal(error.code, 'E_MODEL_MANIFEST');
        assert.match(error.message, /s3:\/\/fetch-models\/models\/absent\/synkti-manifest\.json does not exist/);
        assert.match(error.hint ?? '', /synkti model upload <dir> --project <cluster> --bucket fetch-models --prefix models\/absent\//);
        return true;
      },
    );
    const hostile = {
      format: 'synkti-model/1',
      prefix: 'models/evil/',
      totalBytes: 4,
      files: [{ path: '../../escaped.txt', bytes: 4, sha256: modelManifestSha256('evil') }],
    };
    await store.put(BUCKET, 'models/evil/escaped.txt', 'evil');
    await store.put(BUCKET, `models/evil/${MODEL_MANIFEST_NAME}`, JSON.stringify(hostile));
    await assert.rejects(
      fetchModel({ model: parseModelUri(`s3://${BUCKET}/models/evil/`), source: realSource(), modelsDir }),
      /E_MODEL_MANIFEST|"\.\." segment/,
    );
    assert.deepEqual(await readdir(modelsDir), [], 'nothing written');
    await assert.rejects(stat(join(work, 'escaped.txt')));

    // A directory of the model's name that Synkti did not make is refused, never emptied.
    await mkdir(join(modelsDir, 'tiny'));
    await writeFile(join(modelsDir, 'tiny', 'notes.txt'), 'mine');
    await assert.rejects(
      fetchModel({ model, source: realSource(), modelsDir }),
      (error: Error & { code?: string }) =>
        error.code === 'E_MODEL_DIR' && /tiny already exists with files Synkti did not fetch/.test(error.message),
    );
    assert.equal(await readFile(join(modelsDir, 'tiny', 'notes.txt'), 'utf8'), 'mine');
  });

  it('with the bucket out of reach, a copy verified earlier is used', async () => {
    const modelsDir = join(work, 'first');
    const down: ModelObjectSource = {
      where: `s3://${BUCKET}`,
      getSmall: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
      read: async () => {
        throw new Error('unreachable');
      },
    };
    const fetched = await fetchModel({ model, source: down, modelsDir });
    assert.equal(fetched.reused, true);
    await rm(join(modelsDir, '.synkti'), { recursive: true });
    await assert.rejects(
      fetchModel({ model, source: down, modelsDir }),
      (error: Error & { code?: string }) => error.code === 'E_MODEL_FETCH' && /ECONNREFUSED/.test(error.message),
    );
  });
});
