/**
 * ObjectStore on the local filesystem: `<root>/<bucket>/` per bucket (the local cloud
 * uses `<stateDir>/objects/`), one file per object.
 *
 * Each object file is a one-line JSON header (key, size, SHA-256, modifiedAt) followed
 * by the body, so header and body change together in one rename:
 * - put writes a temp file in the bucket directory, fsyncs it and renames it over the
 *   old one (then fsyncs the directory). A reader holds whichever file it opened, so it
 *   sees the old body or the new one, never a mix (invariant 7);
 * - get recomputes the SHA-256 and refuses a body that does not match (E_OBJECT_CORRUPT).
 * File names are `k` + the key's UTF-8 bytes in hex (which sorts like the key, byte by
 * byte, as S3 does), or `h` + SHA-256 of the key for keys too long for a file name.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SynktiError } from '@synkti/core';
import type { BucketInfo, BucketOptions, DeleteBucketOptions, ObjectInfo, ObjectStore, Page, PageRequest } from '../../types.ts';
import { pageSize } from '../../page-request.ts';

export interface LocalObjectStoreOptions {
  /** Directory holding one subdirectory per bucket; created on first use. */
  root: string;
}

const BUCKET_META = '.bucket.json';
const MAX_KEY_BYTES = 1024;
const MAX_HEX_NAME = 240;
const DEFAULT_MAX_KEYS = 1000;
const HEADER_VERSION = 1;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

interface ObjectHeader extends ObjectInfo {
  v: number;
}

interface BucketMeta {
  protected: boolean;
  createdAt: number;
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function toBytes(body: Uint8Array | string): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new SynktiError('E_OBJECT_BODY', 'an object body must be a string or a Uint8Array', {
    hint: 'serialise objects with JSON.stringify first',
  });
}

function fileNameOf(key: string): string {
  const hex = Buffer.from(key, 'utf8').toString('hex');
  return hex.length + 1 <= MAX_HEX_NAME ? `k${hex}` : `h${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

function isObjectFile(name: string): boolean {
  return name.startsWith('k') || name.startsWith('h');
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** S3's bucket naming rules, which every provider can honour. */
export function validateBucketName(bucket: string): void {
  const problem =
    typeof bucket !== 'string'
      ? 'is not a string'
      : bucket.length < 3 || bucket.length > 63
        ? 'must have 3 to 63 characters'
        : !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)
          ? 'may use only lowercase letters, digits, "." and "-", and must start and end with a letter or digit'
          : bucket.includes('..')
            ? 'must not contain ".."'
            : /^\d+\.\d+\.\d+\.\d+$/.test(bucket)
              ? 'must not look like an IP address'
              : bucket.startsWith('xn--') || bucket.endsWith('-s3alias')
                ? 'uses a reserved prefix or suffix'
                : undefined;
  if (problem) {
    throw new SynktiError('E_BUCKET_NAME', `bucket name ${JSON.stringify(bucket)} ${problem}`, {
      hint: 'use a name like "my-cluster-checkpoints"',
    });
  }
}

/** Keys: 1..1024 UTF-8 bytes, no leading "/", no ".." segment, no NUL, well-formed Unicode. */
export function validateObjectKey(key: string): void {
  const problem =
    typeof key !== 'string'
      ? 'is not a string'
      : key.length === 0
        ? 'is empty'
        : Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES
          ? `is longer than ${MAX_KEY_BYTES} bytes`
          : key.startsWith('/')
            ? 'starts with "/"'
            : key.split('/').includes('..')
              ? 'contains a ".." segment'
              : key.includes('\0')
                ? 'contains a NUL character'
                : LONE_SURROGATE.test(key)
                  ? 'is not well-formed Unicode'
                  : undefined;
  if (problem) {
    const shown = typeof key === 'string' && key.length > 80 ? `${key.slice(0, 80)}...` : key;
    throw new SynktiError('E_OBJECT_KEY', `object key ${JSON.stringify(shown)} ${problem}`, {
      hint: 'use relative keys like "checkpoints/gen-0001.json"',
    });
  }
}

function parseHeader(text: string, where: string): ObjectHeader {
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (cause) {
    throw new SynktiError('E_OBJECT_CORRUPT', `object file ${where} has an unreadable header`, {
      cause,
      hint: 'delete the object and write it again',
    });
  }
  const h = header as Partial<ObjectHeader>;
  if (
    typeof h !== 'object' ||
    h === null ||
    h.v !== HEADER_VERSION ||
    typeof h.key !== 'string' ||
    !Number.isInteger(h.size) ||
    typeof h.sha256 !== 'string' ||
    typeof h.modifiedAt !== 'number'
  ) {
    throw new SynktiError('E_OBJECT_CORRUPT', `object file ${where} has an invalid header`, {
      hint: 'delete the object and write it again',
    });
  }
  return h as ObjectHeader;
}

function infoOf(header: ObjectHeader): ObjectInfo {
  return { key: header.key, size: header.size, sha256: header.sha256, modifiedAt: header.modifiedAt };
}

export class LocalObjectStore implements ObjectStore {
  readonly root: string;

  constructor(options: LocalObjectStoreOptions) {
    this.root = options.root;
  }

  async createBucket(bucket: string, options: BucketOptions = {}): Promise<void> {
    validateBucketName(bucket);
    const dir = this.bucketDir(bucket);
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    let created = true;
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (error) {
      if (!isErrno(error, 'EEXIST')) throw error;
      created = false;
    }
    if (created) {
      await this.writeAtomic(
        dir,
        BUCKET_META,
        Buffer.from(JSON.stringify({ protected: options.protected === true, createdAt: Date.now() })),
      );
      return;
    }
    // Creating an existing bucket is a no-op, except that it may raise protection (never lower it).
    const meta = await this.readBucketMeta(bucket);
    if (options.protected === true && !meta.protected) {
      await this.writeAtomic(dir, BUCKET_META, Buffer.from(JSON.stringify({ ...meta, protected: true })));
    }
  }

  async deleteBucket(bucket: string, options: DeleteBucketOptions = {}): Promise<void> {
    validateBucketName(bucket);
    await this.assertBucket(bucket);
    const meta = await this.readBucketMeta(bucket);
    if (meta.protected && options.confirmProtected !== bucket) {
      throw new SynktiError(
        'E_BUCKET_PROTECTED',
        options.confirmProtected === undefined
          ? `bucket ${bucket} is protected and is not deleted unless confirmed by name`
          : `bucket ${bucket} is protected and the confirmation ${JSON.stringify(options.confirmProtected)} does not name it`,
        {
          hint: `it holds data that is costly to recreate (e.g. models; it lives in ${this.bucketDir(bucket)}); to delete it anyway pass { confirmProtected: "${bucket}" } (synkti down --delete-buckets --delete-protected-buckets ${bucket})`,
        },
      );
    }
    const names = await readdir(this.bucketDir(bucket));
    if (!options.force && names.some(isObjectFile)) {
      throw new SynktiError('E_BUCKET_NOT_EMPTY', `bucket ${bucket} is not empty`, {
        hint: 'delete its objects first, or pass { force: true } to delete them with it',
      });
    }
    // Renamed away first so the bucket disappears at once for every reader.
    const doomed = join(this.root, `.deleting-${bucket}-${randomBytes(6).toString('hex')}`);
    try {
      await rename(this.bucketDir(bucket), doomed);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw this.bucketNotFound(bucket);
      throw error;
    }
    await rm(doomed, { recursive: true, force: true });
  }

  /** Bucket directories under the root, by name; hidden entries (a deletion in progress) are not buckets. */
  async listBuckets(): Promise<BucketInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    const buckets: BucketInfo[] = [];
    for (const name of names.sort()) {
      if (name.startsWith('.')) continue;
      try {
        if (!(await stat(this.bucketDir(name))).isDirectory()) continue;
        const meta = await this.readBucketMeta(name);
        buckets.push({ name, protected: meta.protected, createdAt: meta.createdAt });
      } catch (error) {
        // Deleted since readdir: not listed.
        if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) continue;
        throw error;
      }
    }
    return buckets;
  }

  async isProtected(bucket: string): Promise<boolean> {
    validateBucketName(bucket);
    await this.assertBucket(bucket);
    return (await this.readBucketMeta(bucket)).protected;
  }

  async put(bucket: string, key: string, body: Uint8Array | string): Promise<ObjectInfo> {
    validateBucketName(bucket);
    validateObjectKey(key);
    const bytes = toBytes(body);
    await this.assertBucket(bucket);
    const info: ObjectInfo = { key, size: bytes.length, sha256: sha256(bytes), modifiedAt: Date.now() };
    const header = Buffer.from(`${JSON.stringify({ v: HEADER_VERSION, ...info })}\n`, 'utf8');
    try {
      await this.writeAtomic(this.bucketDir(bucket), fileNameOf(key), header, bytes);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw this.bucketNotFound(bucket);
      throw error;
    }
    return info;
  }

  async get(bucket: string, key: string): Promise<Uint8Array | undefined> {
    validateBucketName(bucket);
    validateObjectKey(key);
    await this.assertBucket(bucket);
    const path = join(this.bucketDir(bucket), fileNameOf(key));
    let file: Buffer;
    try {
      file = await readFile(path);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    const newline = file.indexOf(0x0a);
    if (newline < 0)
      throw new SynktiError('E_OBJECT_CORRUPT', `object ${bucket}/${key} has no header (${path})`, {
        hint: 'delete the object and write it again',
      });
    const header = parseHeader(file.subarray(0, newline).toString('utf8'), path);
    const body = new Uint8Array(file.buffer, file.byteOffset + newline + 1, file.length - newline - 1);
    if (header.key !== key) return undefined; // A different key with the same hashed name.
    if (body.length !== header.size || sha256(body) !== header.sha256) {
      throw new SynktiError('E_OBJECT_CORRUPT', `object ${bucket}/${key} does not match its SHA-256 (${path})`, {
        hint: 'the stored body was damaged; write the object again from its source',
      });
    }
    return body;
  }

  async head(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    validateBucketName(bucket);
    validateObjectKey(key);
    await this.assertBucket(bucket);
    const header = await this.readHeader(join(this.bucketDir(bucket), fileNameOf(key)));
    return header && header.key === key ? infoOf(header) : undefined;
  }

  async list(bucket: string, prefix = '', page: PageRequest = {}): Promise<Page<ObjectInfo>> {
    validateBucketName(bucket);
    const maxResults = pageSize(page, DEFAULT_MAX_KEYS);
    let startAfter: string | undefined;
    if (page.nextToken !== undefined) {
      startAfter = Buffer.from(page.nextToken, 'base64url').toString('utf8');
      if (page.nextToken === '' || Buffer.from(startAfter, 'utf8').toString('base64url') !== page.nextToken) {
        throw new SynktiError('E_PAGE_REQUEST', 'nextToken is not a token this store returned', {
          hint: "pass back the previous page's nextToken unchanged",
        });
      }
    }
    await this.assertBucket(bucket);
    const dir = this.bucketDir(bucket);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) throw this.bucketNotFound(bucket);
      throw error;
    }
    const candidates: { key: string; name: string; header?: ObjectHeader }[] = [];
    for (const name of names) {
      if (name.startsWith('k')) {
        candidates.push({ key: Buffer.from(name.slice(1), 'hex').toString('utf8'), name });
      } else if (name.startsWith('h')) {
        const header = await this.readHeader(join(dir, name));
        if (header) candidates.push({ key: header.key, name, header });
      }
    }
    const selected = candidates
      .filter((c) => c.key.startsWith(prefix) && (startAfter === undefined || compareKeys(c.key, startAfter) > 0))
      .sort((a, b) => compareKeys(a.key, b.key));
    const items: ObjectInfo[] = [];
    let more = false;
    for (const candidate of selected) {
      if (items.length === maxResults) {
        more = true;
        break;
      }
      // Deleted since readdir: not listed.
      const header = candidate.header ?? (await this.readHeader(join(dir, candidate.name)));
      if (header) items.push(infoOf(header));
    }
    const last = items[items.length - 1];
    return { items, nextToken: more && last ? Buffer.from(last.key, 'utf8').toString('base64url') : undefined };
  }

  async delete(bucket: string, key: string): Promise<void> {
    validateBucketName(bucket);
    validateObjectKey(key);
    await this.assertBucket(bucket);
    try {
      await unlink(join(this.bucketDir(bucket), fileNameOf(key)));
    } catch (error) {
      if (!isErrno(error, 'ENOENT')) throw error;
    }
  }

  /** Where an object's file is (for tools and tests); the file holds a header line, then the body. */
  objectPath(bucket: string, key: string): string {
    validateBucketName(bucket);
    validateObjectKey(key);
    return join(this.bucketDir(bucket), fileNameOf(key));
  }

  private bucketDir(bucket: string): string {
    return join(this.root, bucket);
  }

  private bucketNotFound(bucket: string): SynktiError {
    return new SynktiError('E_BUCKET_NOT_FOUND', `bucket ${bucket} does not exist`, {
      hint: `create it first with createBucket("${bucket}")`,
    });
  }

  private async assertBucket(bucket: string): Promise<void> {
    try {
      if ((await stat(this.bucketDir(bucket))).isDirectory()) return;
    } catch (error) {
      if (!isErrno(error, 'ENOENT') && !isErrno(error, 'ENOTDIR')) throw error;
    }
    throw this.bucketNotFound(bucket);
  }

  private async readBucketMeta(bucket: string): Promise<BucketMeta> {
    try {
      const meta = JSON.parse(await readFile(join(this.bucketDir(bucket), BUCKET_META), 'utf8')) as Partial<BucketMeta>;
      return { protected: meta.protected === true, createdAt: typeof meta.createdAt === 'number' ? meta.createdAt : 0 };
    } catch (error) {
      // A bucket whose creation was cut short before its metadata was written is unprotected.
      if (isErrno(error, 'ENOENT')) return { protected: false, createdAt: 0 };
      throw error;
    }
  }

  /** The header of an object file, or undefined when the file does not exist. */
  private async readHeader(path: string): Promise<ObjectHeader | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    try {
      const chunks: Buffer[] = [];
      let position = 0;
      for (;;) {
        const chunk = Buffer.alloc(8192);
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
        if (bytesRead === 0) break;
        const part = chunk.subarray(0, bytesRead);
        const newline = part.indexOf(0x0a);
        if (newline >= 0) {
          chunks.push(part.subarray(0, newline));
          return parseHeader(Buffer.concat(chunks).toString('utf8'), path);
        }
        chunks.push(part);
        position += bytesRead;
      }
      throw new SynktiError('E_OBJECT_CORRUPT', `object file ${path} has no header`, { hint: 'delete the object and write it again' });
    } finally {
      await handle.close();
    }
  }

  /** Temp file in the same directory, fsync, rename over `name`, fsync the directory. */
  private async writeAtomic(dir: string, name: string, ...parts: Uint8Array[]): Promise<void> {
    const temp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      for (const part of parts) {
        let offset = 0;
        while (offset < part.length) {
          const { bytesWritten } = await handle.write(part, offset, part.length - offset);
          offset += bytesWritten;
        }
      }
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await rename(temp, join(dir, name));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    // The rename itself is durable only once the directory is synced.
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}
