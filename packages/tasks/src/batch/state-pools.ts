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
 *
 * Both are injected (`upload`, `fetchModel`): the upload lives in @synkti/infra/bootstrap
 * and the fetcher in @synkti/agent, which sit above tasks (docs/architecture.md "Dependency
 * arrows"); the CLI passes them. Here: where a pool's keys are, what a pool read reports,
 * and an error that names the pool.
 */
import { resolve } from 'node:path';
import { SynktiError, type ModelLocation } from '@synkti/core';
import { BATCH_PREFIXES } from '@synkti/core/contracts';
import type { ModelManifest, S3ObjectStore } from '@synkti/cloud';
import { statePoolPrefix } from './state-pool-prefix.ts';

/** What uploads a directory with its synkti-model/1 manifest (@synkti/infra/bootstrap uploadModel fits it). */
export type StatePoolUpload<Report, Progress> = (options: {
  store: S3ObjectStore;
  bucket: string;
  dir: string;
  prefix: string;
  keyRoot: string;
  onProgress?: ((progress: Progress) => void) | undefined;
}) => Promise<Report>;

export interface UploadStatePoolOptions<Report, Progress> {
  store: S3ObjectStore;
  bucket: string;
  name: string;
  /** Local directory holding the pool's files. */
  dir: string;
  /** @default BATCH_PREFIXES.statePools ('state-pools/') */
  root?: string | undefined;
  onProgress?: ((progress: Progress) => void) | undefined;
  /** The model upload (the CLI passes @synkti/infra/bootstrap's uploadModel). */
  upload: StatePoolUpload<Report, Progress>;
}

/** Uploads a directory as a state pool (files first, the manifest last; unchanged files are not sent again). */
export async function uploadStatePool<Report, Progress>(options: UploadStatePoolOptions<Report, Progress>): Promise<Report> {
  const root = options.root ?? BATCH_PREFIXES.statePools;
  const prefix = statePoolPrefix(options.name, root);
  return options.upload({
    store: options.store,
    bucket: options.bucket,
    dir: resolve(options.dir),
    prefix,
    keyRoot: root,
    onProgress: options.onProgress,
  });
}

/** What a checked manifest read reports (@synkti/agent's FetchedModel fits it). */
export interface FetchedManifest {
  path: string;
  manifest: Pick<ModelManifest, 'files' | 'totalBytes'>;
  manifestSha256: string;
  reused: boolean;
  bytesFetched: number;
}

/**
 * Reads a manifest and its files into `<modelsDir>/<name>/`, each file's SHA-256 checked,
 * reusing a verified copy (@synkti/agent's fetchModel with its object source bound).
 */
export type StatePoolModelFetch = (options: {
  model: ModelLocation;
  modelsDir: string;
  signal?: AbortSignal | undefined;
}) => Promise<FetchedManifest>;

export interface FetchStatePoolOptions {
  bucket: string;
  name: string;
  /** Where pools are cached: the pool goes to `<cacheDir>/<name>/`. */
  cacheDir: string;
  /** @default BATCH_PREFIXES.statePools */
  root?: string | undefined;
  /** The checked reader (the CLI passes the agent's fetchModel reading S3, or another source). */
  fetchModel: StatePoolModelFetch;
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
  let fetched: FetchedManifest;
  try {
    fetched = await options.fetchModel({
      model: { uri: `s3://${options.bucket}/${prefix}`, bucket: options.bucket, prefix, name: options.name },
      modelsDir: resolve(options.cacheDir),
      signal: options.signal,
    });
  } catch (error) {
    // The model fetcher's words are about models: say which pool is missing and how to upload one.
    if (error instanceof SynktiError && error.code === 'E_MODEL_MANIFEST') {
      throw new SynktiError(
        error.code,
        `state pool ${options.name} (s3://${options.bucket}/${prefix}) has no usable manifest: ${error.message}`,
        {
          cause: error,
          hint: `upload it (again) with \`synkti batch pool upload ${options.name} <dir> --bucket ${options.bucket}\` (the manifest is written last), or fix the pool's name`,
        },
      );
    }
    throw error;
  }
  return {
    name: options.name,
    path: fetched.path,
    files: fetched.manifest.files.length,
    bytes: fetched.manifest.totalBytes,
    reused: fetched.reused,
    bytesFetched: fetched.bytesFetched,
    manifestSha256: fetched.manifestSha256,
  };
}

/** Bucket, prefix root, region and endpoint of `synkti batch pool` from its flags and the stack's variables. */
export function statePoolTarget(
  flags: { bucket?: string | undefined; region?: string | undefined },
  env: Readonly<Record<string, string | undefined>>,
): { bucket: string; root: string; region: string | undefined; endpoint: string | undefined } {
  const bucket = flags.bucket ?? env.SYNKTI_BUCKET;
  if (!bucket)
    throw new SynktiError('E_USAGE', 'no batch bucket: pass --bucket or set SYNKTI_BUCKET', {
      hint: 'the stack output bucketName of SpotBatchFleet',
    });
  const root = env.SYNKTI_STATE_POOLS_PREFIX || BATCH_PREFIXES.statePools;
  return { bucket, root, region: flags.region ?? env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL };
}
