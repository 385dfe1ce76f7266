/**
 * `synkti model upload <dir>`: every file under a local directory to
 * `s3://<bucket>/<prefix><relative path>`, each with its SHA-256, skipping files whose copy
 * in the bucket already matches; then, last, the manifest `<prefix>synkti-manifest.json`
 * listing every file and its checksum. Readers take a model as complete only when its
 * manifest exists and lists what they see, so an interrupted upload is never mistaken for
 * a finished one (the manifest is written only after every file is in place).
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { SynktiError } from '@synkti/core';
import {
  MODEL_MANIFEST_FORMAT,
  MODEL_MANIFEST_NAME,
  modelManifestKey,
  serializeModelManifest,
  unsafeModelPath,
  type ModelManifest,
  type S3ObjectStore,
} from '@synkti/cloud';
import { modelPrefix } from './bootstrap-names.ts';
import { checkSinglePutSize, digestFile, uploadFileIfChanged, type UploadStatus } from './s3-file-upload.ts';

// The manifest's format lives in @synkti/cloud (model-manifest.ts), shared with the agent that reads it.
export { MODEL_MANIFEST_NAME, type ModelManifest, type ModelManifestFile } from '@synkti/cloud';

export interface ModelUploadProgress {
  filesDone: number;
  files: number;
  bytesDone: number;
  bytes: number;
  /** The file being uploaded (or just checked). */
  path: string;
}

export interface UploadModelOptions {
  store: S3ObjectStore;
  bucket: string;
  /** Local directory holding the model. */
  dir: string;
  /** Key prefix under models/. @default models/<directory name>/ */
  prefix?: string | undefined;
  /**
   * The root `prefix` must stay under (batch state pools: `state-pools/`, same manifest format).
   * @default 'models/'
   */
  keyRoot?: string | undefined;
  /** Only report what would be uploaded. @default false */
  dryRun?: boolean | undefined;
  onProgress?: ((progress: ModelUploadProgress) => void) | undefined;
}

export interface ModelUploadReport {
  bucket: string;
  prefix: string;
  manifestKey: string;
  /** created / updated / present (in a dry run: what would happen). */
  manifest: UploadStatus;
  files: { path: string; key: string; status: UploadStatus; bytes: number; sha256: string }[];
  uploadedFiles: number;
  uploadedBytes: number;
  presentFiles: number;
  totalBytes: number;
  dryRun: boolean;
}

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) await walk(root, full, out);
    else if (entry.isFile()) out.push(relative(root, full).split(sep).join('/'));
    // Symlinks and special files are skipped: a model directory holds plain files.
  }
}

/** The model directory's files, relative, sorted (stable manifests and progress). */
export async function listModelFiles(dir: string): Promise<string[]> {
  let info;
  try {
    info = await stat(dir);
  } catch (cause) {
    throw new SynktiError('E_USAGE', `model directory ${dir} does not exist`, {
      cause,
      hint: 'pass the directory holding the weights, e.g. ./Qwen2.5-7B-Instruct',
    });
  }
  if (!info.isDirectory())
    throw new SynktiError('E_USAGE', `${dir} is not a directory`, { hint: 'pass the directory holding the weights, not one file' });
  const files: string[] = [];
  await walk(dir, dir, files);
  files.sort();
  if (files.length === 0) throw new SynktiError('E_USAGE', `model directory ${dir} holds no files`, { hint: 'check the path' });
  if (files.includes(MODEL_MANIFEST_NAME)) {
    throw new SynktiError('E_USAGE', `${join(dir, MODEL_MANIFEST_NAME)}: that name is reserved for the manifest Synkti writes`, {
      hint: 'rename or remove that file',
    });
  }
  // Nodes refuse a manifest naming such a file; refuse it here, before anything goes up.
  for (const path of files) {
    const unsafe = unsafeModelPath(path);
    if (unsafe) throw new SynktiError('E_USAGE', `${join(dir, path)}: the file's relative path ${unsafe}`, { hint: 'rename the file' });
  }
  return files;
}

function sameManifest(a: ModelManifest, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export async function uploadModel(options: UploadModelOptions): Promise<ModelUploadReport> {
  const dir = resolve(options.dir);
  const prefix = modelPrefix(options.prefix, basename(dir), options.keyRoot);
  const files = await listModelFiles(dir);
  const sizes = await Promise.all(files.map(async (path) => (await stat(join(dir, path))).size));
  // Every file is checked before the first byte goes up: no half upload for a file that cannot go.
  files.forEach((path, i) => checkSinglePutSize(join(dir, path), sizes[i]!));
  const totalBytes = sizes.reduce((a, b) => a + b, 0);
  const report: ModelUploadReport = {
    bucket: options.bucket,
    prefix,
    manifestKey: modelManifestKey(prefix),
    manifest: 'present',
    files: [],
    uploadedFiles: 0,
    uploadedBytes: 0,
    presentFiles: 0,
    totalBytes,
    dryRun: options.dryRun ?? false,
  };
  let bytesDone = 0;
  let manifestWithdrawn = false;
  let manifestExisted = false;
  for (const [i, path] of files.entries()) {
    const tell = (extra: number) =>
      options.onProgress?.({ filesDone: i, files: files.length, bytesDone: bytesDone + extra, bytes: totalBytes, path });
    tell(0);
    const digest = await digestFile(join(dir, path));
    if (!manifestWithdrawn && !report.dryRun) {
      // A file is about to change: withdraw the old manifest first, so while the upload
      // runs (or after it dies) no manifest vouches for a mix of old and new files.
      const remote = await options.store.head(options.bucket, `${prefix}${path}`);
      if (remote === undefined || remote.sha256 !== digest.sha256 || remote.size !== digest.bytes) {
        manifestExisted = (await options.store.head(options.bucket, report.manifestKey)) !== undefined;
        if (manifestExisted) await options.store.delete(options.bucket, report.manifestKey);
        manifestWithdrawn = true;
      }
    }
    const result = await uploadFileIfChanged(options.store, {
      bucket: options.bucket,
      key: `${prefix}${path}`,
      file: join(dir, path),
      digest,
      dryRun: options.dryRun,
      onBytes: tell,
    });
    report.files.push({ path, key: result.key, status: result.status, bytes: result.bytes, sha256: result.sha256 });
    if (result.status === 'present') report.presentFiles += 1;
    else {
      report.uploadedFiles += 1;
      report.uploadedBytes += result.bytes;
    }
    bytesDone += sizes[i]!;
    options.onProgress?.({ filesDone: i + 1, files: files.length, bytesDone, bytes: totalBytes, path });
  }

  // Last: the manifest, written only when it differs (a re-run with nothing new writes nothing).
  const manifest: ModelManifest = {
    format: MODEL_MANIFEST_FORMAT,
    prefix,
    files: report.files.map(({ path, bytes, sha256 }) => ({ path, bytes, sha256 })),
    totalBytes,
  };
  const existing = manifestWithdrawn ? undefined : await options.store.get(options.bucket, report.manifestKey);
  let parsed: unknown;
  try {
    parsed = existing === undefined ? undefined : JSON.parse(Buffer.from(existing).toString('utf8'));
  } catch {
    parsed = undefined;
  }
  report.manifest = manifestWithdrawn
    ? manifestExisted
      ? 'updated'
      : 'created'
    : existing === undefined
      ? 'created'
      : sameManifest(manifest, parsed)
        ? 'present'
        : 'updated';
  if (report.manifest !== 'present' && !report.dryRun) {
    await options.store.put(options.bucket, report.manifestKey, serializeModelManifest(manifest));
  }
  return report;
}
