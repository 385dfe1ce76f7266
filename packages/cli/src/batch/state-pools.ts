/**
 * Batch state pools: named read-only inputs (an objective's data, a dataset) uploaded once
 * to the batch bucket under `state-pools/<name>/` and read by every worker.
 *
 * One format and one code path with models (ADR 0007): the upload is `synkti model
 * upload`'s (every file with its SHA-256, the synkti-model/1 manifest written last, files
 * already in place skipped), and a worker's read is the agent's model fetcher: the manifest
 * is parsed as hostile input, every file is hashed while it streams in and refused unless
 * it matches, and a second read of the same pool is served from the worker's cache (one
 * GET, the manifest, and no file fetched). SpotBatchFleet's task role may only read
 * `state-pools/*`; its coordinator role may write there.
 */
import { resolve } from 'node:path';
import { SynktiError } from '@synkti/core';
import { BATCH_PREFIXES } from '@synkti/core/contracts';
import { statePoolPrefix } from '@synkti/tasks/batch';
import type { S3ObjectStore } from '@synkti/cloud';
import type { ModelObjectSource } from '@synkti/agent';
import type { ModelUploadProgress, ModelUploadReport } from '@synkti/infra/bootstrap';

export interface UploadStatePoolOptions {
  store: S3ObjectStore;
  bucket: string;
  name: string;
  /** Local directory holding the pool's files. */
  dir: string;
  /** @default BATCH_PREFIXES.statePools ('state-pools/') */
  root?: string | undefined;
  onProgress?: ((progress: ModelUploadProgress) => void) | undefined;
}

/** Uploads a directory as a state pool (files first, the manifest last; unchanged files are not sent again). */
export async function uploadStatePool(options: UploadStatePoolOptions): Promise<ModelUploadReport> {
  const root = options.root ?? BATCH_PREFIXES.statePools;
  const prefix = statePoolPrefix(options.name, root);
  const { uploadModel } = await import('@synkti/infra/bootstrap');
  return uploadModel({ store: options.store, bucket: options.bucket, dir: resolve(options.dir), prefix, keyRoot: root, onProgress: options.onProgress });
}

export interface FetchStatePoolOptions {
  bucket: string;
  name: string;
  /** Where pools are cached: the pool goes to `<cacheDir>/<name>/`. */
  cacheDir: string;
  /** @default BATCH_PREFIXES.statePools */
  root?: string | undefined;
  /** Where the objects come from. @default S3 (the SDK's endpoint and credentials: the task role) */
  source?: ModelObjectSource | undefined;
  region?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface StatePool {
  name: string;
  /** The local directory holding exactly the manifest's files, each checked. */
  path: string;
  files: number;
  bytes: number;
  /** Served from the cache: the manifest was read again, no file was fetched. */
  reused: boolean;
  bytesFetched: number;
  /** SHA-256 of the manifest: the pool's version. */
  manifestSha256: string;
}

/**
 * A worker's read of a pool: into the cache with every file's SHA-256 checked against the
 * manifest (a mismatch throws naming the file and leaves nothing unverified in the pool's
 * directory); the same pool again is served from the cache.
 */
export async function fetchStatePool(options: FetchStatePoolOptions): Promise<StatePool> {
  const prefix = statePoolPrefix(options.name, options.root ?? BATCH_PREFIXES.statePools);
  const { fetchModel, s3ModelSource } = await import('@synkti/agent');
  const source = options.source ?? s3ModelSource({ bucket: options.bucket, region: options.region });
  let fetched: Awaited<ReturnType<typeof fetchModel>>;
  try {
    fetched = await fetchModel({
      model: { uri: `s3://${options.bucket}/${prefix}`, bucket: options.bucket, prefix, name: options.name },
      source, modelsDir: resolve(options.cacheDir), signal: options.signal,
    });
  } catch (error) {
    // The model fetcher's words are about models: say which pool is missing and how to upload one.
    if (error instanceof SynktiError && error.code === 'E_MODEL_MANIFEST') {
      throw new SynktiError(error.code, `state pool ${options.name} (s3://${options.bucket}/${prefix}) has no usable manifest: ${error.message}`, {
        cause: error, hint: `upload it (again) with \`synkti batch pool upload ${options.name} <dir> --bucket ${options.bucket}\` (the manifest is written last), or fix the pool's name`,
      });
    }
    throw error;
  }
  return {
    name: options.name, path: fetched.path, files: fetched.manifest.files.length, bytes: fetched.manifest.totalBytes,
    reused: fetched.reused, bytesFetched: fetched.bytesFetched, manifestSha256: fetched.manifestSha256,
  };
}

/** Bucket, prefix root, region and endpoint of `synkti batch pool` from its flags and the stack's variables. */
export function statePoolTarget(flags: { bucket?: string | undefined; region?: string | undefined }, env: Readonly<Record<string, string | undefined>>): { bucket: string; root: string; region: string | undefined; endpoint: string | undefined } {
  const bucket = flags.bucket ?? env.SYNKTI_BUCKET;
  if (!bucket) throw new SynktiError('E_USAGE', 'no batch bucket: pass --bucket or set SYNKTI_BUCKET', { hint: 'the stack output bucketName of SpotBatchFleet' });
  const root = env.SYNKTI_STATE_POOLS_PREFIX || BATCH_PREFIXES.statePools;
  return { bucket, root, region: flags.region ?? env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL };
}
