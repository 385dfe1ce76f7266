/**
 * The model manifest, `<prefix>synkti-manifest.json`: what `synkti model upload` writes
 * last (after every file is in place) and what a node reads before it fetches a model.
 * One home for the format, so writer and readers cannot drift apart.
 *
 * The manifest is read from a bucket, so a reader treats it as hostile input: it is
 * bounded in size, file count and bytes, and every path must be a plain relative path
 * (no absolute path, no `..`, no duplicate, no file that is also a directory) before a
 * single byte is written to disk because of it.
 */
import { createHash } from 'node:crypto';
import { SynktiError } from '@synkti/core';

/** The manifest's name inside the model prefix (reserved: no model file may have it). */
export const MODEL_MANIFEST_NAME = 'synkti-manifest.json';
export const MODEL_MANIFEST_FORMAT = 'synkti-model/1';

export interface ModelManifestFile {
  /** Path relative to the model directory, with "/" separators. */
  path: string;
  bytes: number;
  /** Lowercase hex SHA-256 of the file's bytes. */
  sha256: string;
}

export interface ModelManifest {
  format: typeof MODEL_MANIFEST_FORMAT;
  /** The key prefix the files live under (ends with "/"). */
  prefix: string;
  files: ModelManifestFile[];
  totalBytes: number;
}

export interface ModelManifestLimits {
  /** Largest manifest text accepted. @default 8 MiB */
  maxManifestBytes?: number | undefined;
  /** Most files one model may list. @default 10000 */
  maxFiles?: number | undefined;
  /** Largest single file (S3's own object limit). @default 5 TiB */
  maxFileBytes?: number | undefined;
  /** Largest whole model. @default 4 TiB */
  maxTotalBytes?: number | undefined;
}

const TIB = 1024 ** 4;
export const DEFAULT_MODEL_MANIFEST_LIMITS = {
  maxManifestBytes: 8 * 1024 * 1024,
  maxFiles: 10_000,
  maxFileBytes: 5 * TIB,
  maxTotalBytes: 4 * TIB,
} as const;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_PATH_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
// Control characters and a backslash (a Windows separator) have no place in a model file name.
// eslint-disable-next-line no-control-regex
const BAD_PATH_CHARS = /[\u0000-\u001f\u007f\\]/;

/** The manifest's key for a model prefix ("models/x/" → "models/x/synkti-manifest.json"). */
export function modelManifestKey(prefix: string): string {
  return `${prefix}${MODEL_MANIFEST_NAME}`;
}

/** The manifest as written: stable JSON (two-space indent, trailing newline). */
export function serializeModelManifest(manifest: ModelManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Hex SHA-256 of the manifest's bytes: a verified local copy is keyed by it. */
export function modelManifestSha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function invalid(
  source: string,
  problem: string,
  hint = 'write the model again with `synkti model upload <dir>`, which writes a valid manifest',
): SynktiError {
  return new SynktiError('E_MODEL_MANIFEST', `${source}: ${problem}`, { hint });
}

/** Why a manifest path is unsafe to write under a directory, or undefined when it is fine. */
export function unsafeModelPath(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') return 'is empty or not text';
  if (Buffer.byteLength(path, 'utf8') > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  if (BAD_PATH_CHARS.test(path)) return 'holds a control character or a backslash';
  if (path.startsWith('/')) return 'is absolute';
  const segments = path.split('/');
  if (segments.some((s) => s === '')) return 'has an empty segment ("//" or a trailing "/")';
  if (segments.some((s) => s === '.' || s === '..')) return 'has a "." or ".." segment';
  if (segments.some((s) => Buffer.byteLength(s, 'utf8') > MAX_SEGMENT_BYTES)) return `has a name longer than ${MAX_SEGMENT_BYTES} bytes`;
  if (path === MODEL_MANIFEST_NAME) return "is the manifest's own name";
  return undefined;
}

/**
 * Parses and checks a manifest read from `source` (named in every error). Throws
 * E_MODEL_MANIFEST naming the first problem; nothing in the result can escape the model
 * directory or make a reader allocate more than the limits allow.
 */
export function parseModelManifest(text: Uint8Array | string, source: string, limits: ModelManifestLimits = {}): ModelManifest {
  const max = { ...DEFAULT_MODEL_MANIFEST_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) };
  const size = typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : text.byteLength;
  if (size > max.maxManifestBytes) throw invalid(source, `is ${size} bytes, more than the ${max.maxManifestBytes} a manifest may have`);
  let raw: unknown;
  try {
    raw = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch {
    throw invalid(source, 'is not JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw invalid(source, 'is not a JSON object');
  const object = raw as Record<string, unknown>;
  if (object.format !== MODEL_MANIFEST_FORMAT) {
    throw invalid(
      source,
      `has format ${JSON.stringify(object.format)}, expected "${MODEL_MANIFEST_FORMAT}"`,
      'upload the model with a synkti of the same version as the agent',
    );
  }
  if (typeof object.prefix !== 'string' || !object.prefix.endsWith('/')) throw invalid(source, 'prefix must be text ending with "/"');
  if (!Array.isArray(object.files)) throw invalid(source, 'files must be a list');
  if (object.files.length === 0) throw invalid(source, 'lists no files');
  if (object.files.length > max.maxFiles)
    throw invalid(source, `lists ${object.files.length} files, more than the ${max.maxFiles} allowed`);
  const files: ModelManifestFile[] = [];
  const seen = new Set<string>();
  let total = 0;
  for (const [i, entry] of object.files.entries()) {
    const where = `files[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw invalid(source, `${where} is not an object`);
    const { path, bytes, sha256 } = entry as Record<string, unknown>;
    const unsafe = unsafeModelPath(path);
    if (unsafe) throw invalid(source, `${where}.path ${JSON.stringify(path)} ${unsafe}`);
    const name = path as string;
    if (seen.has(name)) throw invalid(source, `${where}.path "${name}" is listed twice`);
    seen.add(name);
    if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0)
      throw invalid(source, `${where}.bytes (${name}) must be a whole number of bytes`);
    if (bytes > max.maxFileBytes)
      throw invalid(source, `${where}.bytes (${name}) is ${bytes}, more than the ${max.maxFileBytes} one file may have`);
    if (typeof sha256 !== 'string' || !SHA256_HEX.test(sha256))
      throw invalid(source, `${where}.sha256 (${name}) must be 64 lowercase hex characters`);
    total += bytes;
    files.push({ path: name, bytes, sha256 });
  }
  // A file that is also another file's directory ("a" and "a/b") cannot both be written.
  for (const name of seen) {
    const segments = name.split('/');
    for (let n = 1; n < segments.length; n++) {
      const parent = segments.slice(0, n).join('/');
      if (seen.has(parent)) throw invalid(source, `"${parent}" is listed as a file and as the directory of "${name}"`);
    }
  }
  if (total > max.maxTotalBytes) throw invalid(source, `lists ${total} bytes in all, more than the ${max.maxTotalBytes} allowed`);
  if (object.totalBytes !== total)
    throw invalid(source, `totalBytes ${JSON.stringify(object.totalBytes)} is not the sum of its files (${total})`);
  return { format: MODEL_MANIFEST_FORMAT, prefix: object.prefix, files, totalBytes: total };
}
