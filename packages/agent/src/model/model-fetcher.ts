/**
 * Fetches the model a cluster names to local disk before the workload starts.
 *
 *   <modelsDir>/<name>/                     the model: exactly the manifest's files, then
 *                                           synkti-manifest.json (what the workload gets as {modelPath})
 *   <modelsDir>/.synkti/<name>/partial/<sha256>   a download in progress, named by the content it must become
 *   <modelsDir>/.synkti/<name>/verified.json      written last: this URI and manifest SHA-256 checked
 *
 * - The manifest (hostile input) is parsed with bounds before anything touches the disk.
 * - Each file is hashed while it streams in and renamed into place only when its size and
 *   SHA-256 match the manifest, so a file in the model directory is always a checked one.
 * - A cut download (network, a crash, a restart) resumes from its partial file with a
 *   ranged GET; the partial's bytes are hashed again first. A partial that turns out bad
 *   is thrown away and fetched once more from the start; a bucket copy that does not match
 *   its manifest fails naming the file.
 * - After a restart, a verified copy of the same manifest is reused: one GET (the
 *   manifest), sizes checked, no file fetched. If the bucket cannot be reached then, the
 *   verified copy is used as it is (logged).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readFile, readdir, rename, rm, rmdir, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SynktiError, type ModelLocation } from '@synkti/core';
import type { StructuredLogger } from '@synkti/core/process-log';
import {
  DEFAULT_MODEL_MANIFEST_LIMITS,
  MODEL_MANIFEST_NAME,
  modelManifestKey,
  modelManifestSha256,
  parseModelManifest,
  type ModelManifest,
  type ModelManifestFile,
  type ModelManifestLimits,
} from '@synkti/cloud';
import { isPermanentModelError, type ModelObjectSource } from './model-source.ts';
import { modelFilePath, sha256OfFile, verifyModelFile } from './model-verify.ts';

export type ModelFetchState = 'fetching' | 'ready' | 'failed';

/** What the agent's /status shows under `model` (and `synkti status` prints). */
export interface ModelProgress {
  uri: string;
  state: ModelFetchState;
  /** The local directory ({modelPath}). */
  path: string;
  files: number;
  filesDone: number;
  bytes: number;
  bytesDone: number;
  /** Bytes actually downloaded (0 when a verified copy was reused). */
  bytesFetched: number;
  /** True when a verified local copy was reused without fetching any file. */
  reused: boolean;
  /** The file the error is about, when there is one. */
  error?: { code: string; message: string; hint?: string | undefined; file?: string | undefined } | undefined;
}

export interface FetchModelOptions {
  model: ModelLocation;
  source: ModelObjectSource;
  /** The model goes to `<modelsDir>/<name>/`. */
  modelsDir: string;
  limits?: ModelManifestLimits | undefined;
  /** Files downloaded at once. @default 4 */
  concurrency?: number | undefined;
  /** Reads per file before a network failure is final (each resumes where the last stopped). @default 5 */
  attempts?: number | undefined;
  /** First retry delay, doubled each time up to 5 s. @default 250 */
  retryDelayMs?: number | undefined;
  /** How a verified copy is re-checked on reuse. @default 'size' */
  reuseCheck?: 'size' | 'sha256' | undefined;
  onProgress?: ((progress: ModelProgress) => void) | undefined;
  logger?: Pick<StructuredLogger, 'info' | 'warn'> | undefined;
  signal?: AbortSignal | undefined;
}

export interface FetchedModel {
  /** The local model directory. */
  path: string;
  manifest: ModelManifest;
  manifestSha256: string;
  reused: boolean;
  bytesFetched: number;
}

interface VerifiedMarker {
  uri: string;
  manifestSha256: string;
  files: number;
  totalBytes: number;
  verifiedAt: string;
}

const FILE_HINT = 'upload the model again with `synkti model upload <dir>` (the bucket copy does not match its manifest)';

/** Where a model goes on a node: `<modelsDir>/<name>`. */
export function modelDirOf(modelsDir: string, model: ModelLocation): string {
  return join(modelsDir, model.name);
}

function workDirOf(modelsDir: string, model: ModelLocation): string {
  return join(modelsDir, '.synkti', model.name);
}

async function writeAtomic(path: string, body: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'w', 0o644);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const info = await lstat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

async function readMarker(path: string): Promise<VerifiedMarker | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<VerifiedMarker>;
    return typeof parsed.uri === 'string' && typeof parsed.manifestSha256 === 'string' ? (parsed as VerifiedMarker) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `work` over `items` with at most `limit` at once; the first failure stops new work and is thrown. */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      const item = items[next]!;
      next += 1;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  });
  const results = await Promise.allSettled(runners);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}

function errorFile(error: unknown): string | undefined {
  return (error as { modelFile?: string } | undefined)?.modelFile;
}

function withFile(error: unknown, file: string): unknown {
  if (error !== null && typeof error === 'object') (error as { modelFile?: string }).modelFile = file;
  return error;
}

export async function fetchModel(options: FetchModelOptions): Promise<FetchedModel> {
  const { model, source, modelsDir } = options;
  const modelDir = modelDirOf(modelsDir, model);
  const workDir = workDirOf(modelsDir, model);
  const markerPath = join(workDir, 'verified.json');
  const manifestKey = modelManifestKey(model.prefix);
  const manifestWhere = `${source.where}/${manifestKey}`;
  const progress: ModelProgress = {
    uri: model.uri,
    state: 'fetching',
    path: modelDir,
    files: 0,
    filesDone: 0,
    bytes: 0,
    bytesDone: 0,
    bytesFetched: 0,
    reused: false,
  };
  const tell = () => options.onProgress?.({ ...progress, ...(progress.error ? { error: { ...progress.error } } : {}) });
  tell();
  try {
    const result = await fetchInto();
    progress.state = 'ready';
    tell();
    return result;
  } catch (error) {
    progress.state = 'failed';
    const synkti = error instanceof SynktiError ? error : undefined;
    progress.error = {
      code: synkti?.code ?? 'E_MODEL_FETCH',
      message: (error as Error)?.message ?? String(error),
      hint: synkti?.hint,
      file: errorFile(error),
    };
    tell();
    throw error;
  }

  async function fetchInto(): Promise<FetchedModel> {
    let manifestBytes: Uint8Array | undefined;
    const limit = options.limits?.maxManifestBytes ?? DEFAULT_MODEL_MANIFEST_LIMITS.maxManifestBytes;
    try {
      manifestBytes = await source.getSmall(manifestKey, limit);
    } catch (error) {
      // The bucket is out of reach: a copy verified earlier for this URI still serves.
      if (isPermanentModelError(error)) throw error;
      const offline = await reuseOffline(error);
      if (offline) return offline;
      throw new SynktiError('E_MODEL_FETCH', `could not read ${manifestWhere}: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
        hint: 'check the node can reach S3 (VPC endpoint or NAT) and its role may read the model prefix',
      });
    }
    if (manifestBytes === undefined) {
      throw new SynktiError('E_MODEL_MANIFEST', `${manifestWhere} does not exist, so ${model.uri} holds no complete model`, {
        hint: `upload it with \`synkti model upload <dir> --project <cluster> --bucket ${model.bucket} --prefix ${model.prefix}\` (the manifest is written last: an unfinished upload has none), or fix model.uri`,
      });
    }
    const manifest = parseModelManifest(manifestBytes, manifestWhere, options.limits);
    const manifestSha256 = modelManifestSha256(manifestBytes);
    progress.files = manifest.files.length;
    progress.bytes = manifest.totalBytes;
    tell();

    // A restart: the same manifest verified before, every file still in place.
    const marker = await readMarker(markerPath);
    if (marker && marker.uri === model.uri && marker.manifestSha256 === manifestSha256) {
      const reused = await tryReuse(manifest, manifestBytes);
      if (reused) return { path: modelDir, manifest, manifestSha256, reused: true, bytesFetched: 0 };
    }
    // Nothing vouches for the directory from here until every file checks again.
    await rm(markerPath, { force: true });
    await claimModelDir();
    await mkdir(join(workDir, 'partial'), { recursive: true });
    await checkDiskSpace(manifest);

    await eachLimited(manifest.files, options.concurrency ?? 4, async (file) => {
      try {
        await ensureFile(file);
      } catch (error) {
        throw withFile(error, file.path);
      }
      progress.filesDone += 1;
      tell();
    });
    await removeStrays(manifest);
    await writeAtomic(join(modelDir, MODEL_MANIFEST_NAME), manifestBytes);
    const verified: VerifiedMarker = {
      uri: model.uri,
      manifestSha256,
      files: manifest.files.length,
      totalBytes: manifest.totalBytes,
      verifiedAt: new Date().toISOString(),
    };
    await writeAtomic(markerPath, `${JSON.stringify(verified)}\n`);
    await rm(join(workDir, 'partial'), { recursive: true, force: true });
    options.logger?.info(
      { uri: model.uri, path: modelDir, files: manifest.files.length, bytes: manifest.totalBytes, bytesFetched: progress.bytesFetched },
      'model fetched and verified',
    );
    return { path: modelDir, manifest, manifestSha256, reused: false, bytesFetched: progress.bytesFetched };
  }

  /**
   * The fetcher removes files the manifest does not list from the model directory, so it
   * only ever works in a directory it made: one that exists with other content (a wrong
   * SYNKTI_MODELS_DIR, someone's data) is refused, never emptied.
   */
  async function claimModelDir(): Promise<void> {
    const ownedPath = join(workDir, 'owned');
    if ((await lstat(ownedPath).catch(() => undefined)) !== undefined) return;
    const present = await readdir(modelDir).catch(() => undefined);
    if (present !== undefined && present.length > 0) {
      throw new SynktiError('E_MODEL_DIR', `${modelDir} already exists with files Synkti did not fetch; it is not used for ${model.uri}`, {
        hint: 'remove or rename that directory, or point SYNKTI_MODELS_DIR at another place',
      });
    }
    await mkdir(workDir, { recursive: true });
    await mkdir(modelDir, { recursive: true });
    await writeFile(ownedPath, `${model.uri}\n`);
  }

  async function tryReuse(manifest: ModelManifest, manifestBytes: Uint8Array): Promise<boolean> {
    try {
      const local = await readFile(join(modelDir, MODEL_MANIFEST_NAME));
      if (modelManifestSha256(local) !== modelManifestSha256(manifestBytes)) return false;
      for (const file of manifest.files) await verifyModelFile(modelDir, file, options.reuseCheck ?? 'size');
    } catch (error) {
      options.logger?.warn({ uri: model.uri, err: error }, 'the verified model copy changed on disk; checking every file again');
      return false;
    }
    progress.filesDone = manifest.files.length;
    progress.bytesDone = manifest.totalBytes;
    progress.reused = true;
    options.logger?.info({ uri: model.uri, path: modelDir }, 'model: reusing the verified local copy');
    return true;
  }

  async function reuseOffline(cause: unknown): Promise<FetchedModel | undefined> {
    const marker = await readMarker(markerPath);
    if (!marker || marker.uri !== model.uri) return undefined;
    let local: Buffer;
    try {
      local = await readFile(join(modelDir, MODEL_MANIFEST_NAME));
    } catch {
      return undefined;
    }
    const sha = modelManifestSha256(local);
    if (sha !== marker.manifestSha256) return undefined;
    const manifest = parseModelManifest(local, join(modelDir, MODEL_MANIFEST_NAME), options.limits);
    progress.files = manifest.files.length;
    progress.bytes = manifest.totalBytes;
    if (!(await tryReuse(manifest, local))) return undefined;
    options.logger?.warn(
      { uri: model.uri, err: cause },
      "model bucket unreachable: serving the copy verified earlier (it may be older than the bucket's)",
    );
    return { path: modelDir, manifest, manifestSha256: sha, reused: true, bytesFetched: 0 };
  }

  async function checkDiskSpace(manifest: ModelManifest): Promise<void> {
    let needed = 0;
    for (const file of manifest.files) {
      const have =
        (await sizeOf(modelFilePath(modelDir, file.path))) === file.bytes
          ? file.bytes
          : ((await sizeOf(join(workDir, 'partial', file.sha256))) ?? 0);
      needed += Math.max(0, file.bytes - have);
    }
    const fs = await statfs(modelsDir);
    const free = Number(fs.bavail) * Number(fs.bsize);
    if (needed > free) {
      throw new SynktiError('E_MODEL_DISK', `the model needs ${needed} more bytes on ${modelsDir}, which has ${free} free`, {
        hint: 'give the node a larger disk (root volume size), or point SYNKTI_MODELS_DIR at a volume with room',
      });
    }
  }

  /** The file in place and checked: kept when it already matches, else downloaded. */
  async function ensureFile(file: ModelManifestFile): Promise<void> {
    const final = modelFilePath(modelDir, file.path);
    const existing = await lstat(final).catch(() => undefined);
    if (existing?.isFile() && existing.size === file.bytes && (await sha256OfFile(final)) === file.sha256) {
      progress.bytesDone += file.bytes;
      return;
    }
    // Anything else at that path (an old version, a directory, a link) is ours to replace.
    if (existing) await rm(final, { recursive: true, force: true });
    await download(file, final);
  }

  async function download(file: ModelManifestFile, final: string): Promise<void> {
    const partial = join(workDir, 'partial', file.sha256);
    const attempts = options.attempts ?? 5;
    let delay = options.retryDelayMs ?? 250;
    let restartedClean = false;
    let counted = 0; // bytes of this file already added to progress.bytesDone
    const account = (total: number) => {
      progress.bytesDone += total - counted;
      counted = total;
    };
    for (let attempt = 1; ; attempt += 1) {
      options.signal?.throwIfAborted();
      let offset = (await sizeOf(partial)) ?? 0;
      if (offset > file.bytes) {
        await unlink(partial);
        offset = 0;
      }
      const resumed = offset > 0;
      const hash = createHash('sha256');
      if (resumed) for await (const chunk of createReadStream(partial, { end: offset - 1 })) hash.update(chunk as Buffer);
      account(offset);
      let written = offset;
      try {
        if (written < file.bytes) {
          const read = await source.read(`${model.prefix}${file.path}`, offset, options.signal);
          if (read.declaredSha256 && read.declaredSha256 !== file.sha256) {
            throw new SynktiError(
              'E_MODEL_CORRUPT',
              `model file ${file.path}: ${source.where}/${model.prefix}${file.path} was replaced after the manifest was written (its SHA-256 is not the manifest's)`,
              { hint: FILE_HINT },
            );
          }
          if (read.start !== offset) {
            if (read.start !== 0)
              throw new SynktiError(
                'E_MODEL_FETCH',
                `model file ${file.path}: asked for bytes from ${offset}, the server sent from ${read.start}`,
                { hint: 'the next attempt asks again' },
              );
            // The server ignored the range and sent the whole object: start over with it.
            return await restartFromZero(await open(partial, 'w', 0o644), read.body);
          }
          const handle = await open(partial, offset === 0 ? 'w' : 'a', 0o644);
          try {
            for await (const chunk of read.body) {
              if (written + chunk.byteLength > file.bytes) {
                throw new SynktiError(
                  'E_MODEL_CORRUPT',
                  `model file ${file.path}: the bucket sent more than the manifest's ${file.bytes} bytes`,
                  { hint: FILE_HINT },
                );
              }
              hash.update(chunk);
              await handle.write(chunk);
              written += chunk.byteLength;
              progress.bytesFetched += chunk.byteLength;
              account(written);
              tell();
            }
            await handle.sync();
          } finally {
            await handle.close();
          }
        } else {
          await writeFile(partial, '', { flag: 'a' });
        }
        if (written !== file.bytes)
          throw new SynktiError('E_MODEL_FETCH', `model file ${file.path}: the download stopped at ${written} of ${file.bytes} bytes`, {
            hint: 'check the network to S3; the next attempt resumes',
          });
      } catch (error) {
        if (isPermanentModelError(error) || attempt >= attempts || options.signal?.aborted) {
          if (error instanceof SynktiError && error.code === 'E_MODEL_CORRUPT') await rm(partial, { force: true });
          throw error;
        }
        options.logger?.warn({ file: file.path, attempt, written, err: error }, 'model download interrupted; resuming');
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
        continue;
      }
      if (hash.digest('hex') === file.sha256) {
        await mkdir(dirname(final), { recursive: true });
        await rename(partial, final);
        return;
      }
      await unlink(partial);
      account(0);
      if (resumed && !restartedClean) {
        // The bytes kept from before may be the bad ones: one clean download decides.
        restartedClean = true;
        options.logger?.warn({ file: file.path }, 'resumed model file did not match its SHA-256; downloading it again from the start');
        continue;
      }
      throw new SynktiError(
        'E_MODEL_CORRUPT',
        `model file ${file.path} (${source.where}/${model.prefix}${file.path}) does not match its SHA-256 in the manifest`,
        { hint: FILE_HINT },
      );
    }

    async function restartFromZero(handle: Awaited<ReturnType<typeof open>>, body: AsyncIterable<Uint8Array>): Promise<void> {
      const hash = createHash('sha256');
      let written = 0;
      account(0);
      try {
        await handle.truncate(0);
        for await (const chunk of body) {
          if (written + chunk.byteLength > file.bytes)
            throw new SynktiError(
              'E_MODEL_CORRUPT',
              `model file ${file.path}: the bucket sent more than the manifest's ${file.bytes} bytes`,
              { hint: FILE_HINT },
            );
          hash.update(chunk);
          await handle.write(chunk, 0, chunk.byteLength, written);
          written += chunk.byteLength;
          progress.bytesFetched += chunk.byteLength;
          account(written);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (written !== file.bytes || hash.digest('hex') !== file.sha256) {
        await rm(partial, { force: true });
        account(0);
        throw new SynktiError(
          'E_MODEL_CORRUPT',
          `model file ${file.path} (${source.where}/${model.prefix}${file.path}) does not match its size or SHA-256 in the manifest`,
          { hint: FILE_HINT },
        );
      }
      await mkdir(dirname(final), { recursive: true });
      await rename(partial, final);
    }
  }

  /** Files of an older version left in the model directory would be loaded by the workload: remove them. */
  async function removeStrays(manifest: ModelManifest): Promise<void> {
    const keep = new Set(manifest.files.map((f) => modelFilePath(modelDir, f.path)));
    keep.add(join(modelDir, MODEL_MANIFEST_NAME));
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(full);
          await rmdir(full).catch(() => undefined); // only when empty
        } else if (!keep.has(full)) {
          await rm(full, { force: true });
        }
      }
    };
    await walk(modelDir);
  }
}
