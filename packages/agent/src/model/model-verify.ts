/**
 * Checks a local model directory against the manifest it holds
 * (`<dir>/synkti-manifest.json`, which the fetcher writes there once every file checked).
 * The stand-in model server runs this before it serves; the fetcher runs it to reuse a
 * copy after a restart.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { SynktiError } from '@synkti/core';
// The manifest module alone, not the @synkti/cloud index (AWS SDKs, SQLite): the stand-in
// loads this before it serves and should start as fast as without --model-dir.
import {
  MODEL_MANIFEST_NAME,
  parseModelManifest,
  type ModelManifest,
  type ModelManifestFile,
  type ModelManifestLimits,
} from '@synkti/cloud/model-manifest';

export interface VerifyModelDirOptions {
  /** 'sha256' hashes every file; 'size' only compares sizes (a restart's quick check). @default 'sha256' */
  check?: 'sha256' | 'size' | undefined;
  limits?: ModelManifestLimits | undefined;
}

export interface VerifiedModelDir {
  dir: string;
  manifest: ModelManifest;
  files: number;
  bytes: number;
}

/** The absolute path of a manifest file inside `dir`; refuses one that would land outside. */
export function modelFilePath(dir: string, path: string): string {
  const root = resolve(dir);
  const full = resolve(root, ...path.split('/'));
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..') || rel.split(sep).includes('..')) {
    throw new SynktiError('E_MODEL_MANIFEST', `manifest path "${path}" leaves the model directory`, {
      hint: 'write the model again with `synkti model upload`',
    });
  }
  return full;
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Checks one file; throws E_MODEL_FILE_MISSING or E_MODEL_CORRUPT naming it. */
export async function verifyModelFile(dir: string, file: ModelManifestFile, check: 'sha256' | 'size' = 'sha256'): Promise<void> {
  const full = modelFilePath(dir, file.path);
  const hint = 'fetch the model again (delete the directory and restart the agent), or upload it again with `synkti model upload`';
  let info;
  try {
    info = await lstat(full);
  } catch {
    throw new SynktiError('E_MODEL_FILE_MISSING', `model file ${file.path} is missing from ${dir}`, { hint });
  }
  if (!info.isFile()) throw new SynktiError('E_MODEL_CORRUPT', `model file ${file.path} in ${dir} is not a regular file`, { hint });
  if (info.size !== file.bytes)
    throw new SynktiError('E_MODEL_CORRUPT', `model file ${file.path} has ${info.size} bytes, the manifest says ${file.bytes}`, { hint });
  if (check === 'sha256' && (await sha256OfFile(full)) !== file.sha256) {
    throw new SynktiError('E_MODEL_CORRUPT', `model file ${file.path} does not match its SHA-256 in the manifest`, { hint });
  }
}

/** Reads `<dir>/synkti-manifest.json` and checks every file it lists. */
export async function verifyModelDir(dir: string, options: VerifyModelDirOptions = {}): Promise<VerifiedModelDir> {
  const manifestPath = join(dir, MODEL_MANIFEST_NAME);
  let text: Buffer;
  try {
    text = await readFile(manifestPath);
  } catch {
    throw new SynktiError('E_MODEL_MANIFEST', `${manifestPath} does not exist`, {
      hint: 'point at a directory a Synkti agent fetched (it writes the manifest there once every file checks), or one `synkti model upload` can read',
    });
  }
  const manifest = parseModelManifest(text, manifestPath, options.limits);
  for (const file of manifest.files) await verifyModelFile(dir, file, options.check ?? 'sha256');
  return { dir, manifest, files: manifest.files.length, bytes: manifest.totalBytes };
}
