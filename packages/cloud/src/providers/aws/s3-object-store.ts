/**
 * ObjectStore on Amazon S3 (or any S3-compatible server).
 *
 * - put: one PutObject below the multipart threshold, a multipart upload above it. S3
 *   makes an object visible only when its PUT (or CompleteMultipartUpload) succeeds, so a
 *   reader sees the old body or the new one, never a part (invariant 7). Every request
 *   carries Content-MD5, so S3 refuses a body damaged on the way in.
 * - The body's SHA-256 travels as user metadata (`x-amz-meta-synkti-sha256`) and get
 *   recomputes it: a body that does not match is refused (E_OBJECT_CORRUPT), whatever
 *   happened between the writer and the reader.
 * - Protection is a marker object (`.synkti/bucket.json`) that deleteBucket honours,
 *   because S3-compatible servers used in tests lack bucket tags and policies; on AWS
 *   the infrastructure stack also protects the models bucket (`protect`/`retainOnDelete`).
 *   Only `confirmProtected` equal to the bucket's name deletes a protected bucket.
 * - Ownership is a second marker (`.synkti/owner.json`) that createBucket writes into
 *   every bucket it creates or is asked for, so listBuckets can pick Synkti's buckets
 *   out of an account's (tags would serve too, but s3rver has none).
 * - Both markers are hidden from list and their keys are reserved.
 * - New buckets get every public-access block and default encryption.
 */
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  UploadPartCommand,
  type HeadObjectCommandOutput,
  type ListBucketsCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { SynktiError } from '@synkti/core';
import type { BucketInfo, BucketOptions, DeleteBucketOptions, ObjectInfo, ObjectStore, Page, PageRequest } from '../../types.ts';
import { validateBucketName, validateObjectKey } from '../local/local-object-store.ts';
import { bucketNotFound, httpStatusOf, isMissingObjectOrBucket, isNoSuchBucket, s3ErrorCode, toS3Error } from './s3-errors.ts';

export interface S3ObjectStoreOptions {
  /** A ready client; otherwise one is made from `region`, `endpoint` and the standard credential chain. */
  client?: S3Client | undefined;
  /** @default the standard chain (AWS_REGION, the profile) */
  region?: string | undefined;
  /** An S3-compatible endpoint (e.g. a local server in tests). @default AWS */
  endpoint?: string | undefined;
  /** Path-style URLs (`endpoint/bucket/key`), which local servers need. @default true when `endpoint` is set */
  forcePathStyle?: boolean | undefined;
  /** Explicit credentials (tests); otherwise the standard chain. */
  credentials?: S3ClientConfig['credentials'];
  /** Bodies larger than this are uploaded in parts. @default 64 MiB */
  multipartThresholdBytes?: number | undefined;
  /** Size of each part (S3's minimum is 5 MiB except the last). @default 16 MiB */
  partSizeBytes?: number | undefined;
  /** Parts uploaded at once. @default 4 */
  partConcurrency?: number | undefined;
  /** HeadObject calls at once while listing (list reports each object's SHA-256). @default 8 */
  listConcurrency?: number | undefined;
  /**
   * createBucket blocks every kind of public access and turns on default encryption.
   * Only an S3-compatible server without those APIs (s3rver) needs `false`.
   * @default true
   */
  secureNewBuckets?: boolean | undefined;
}

export const PROTECTION_MARKER_KEY = '.synkti/bucket.json';
export const OWNER_MARKER_KEY = '.synkti/owner.json';
/** Keys the store keeps for itself: never listed, never written or deleted by callers. */
const MARKER_KEYS: ReadonlySet<string> = new Set([PROTECTION_MARKER_KEY, OWNER_MARKER_KEY]);
export const SHA256_METADATA = 'synkti-sha256';
const MODIFIED_METADATA = 'synkti-modified-at';
const MIB = 1024 * 1024;
const MIN_PART_BYTES = 5 * MIB;
const MAX_PARTS = 10_000;
const DEFAULT_MAX_KEYS = 1000;
const GET_ATTEMPTS = 3;

function toBytes(body: Uint8Array | string): Buffer {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new SynktiError('E_OBJECT_BODY', 'an object body must be a string or a Uint8Array', {
    hint: 'serialise objects with JSON.stringify first',
  });
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function md5Base64(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('base64');
}

function validateUserKey(key: string): void {
  validateObjectKey(key);
  if (MARKER_KEYS.has(key)) {
    throw new SynktiError('E_OBJECT_KEY', `object key "${key}" is reserved by Synkti (it marks a Synkti or a protected bucket)`, {
      hint: 'use another key',
    });
  }
}

function positiveInteger(value: number | undefined, fallback: number, field: string, minimum = 1): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < minimum) {
    throw new SynktiError('E_CONFIG_INVALID', `${field} must be a whole number of at least ${minimum}, got ${String(value)}`, {
      hint: `omit ${field} to use ${fallback}`,
    });
  }
  return n;
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function encodePageToken(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

function decodePageToken(token: string): string {
  const key = Buffer.from(token, 'base64url').toString('utf8');
  if (key === '' || encodePageToken(key) !== token) {
    throw new SynktiError('E_PAGE_TOKEN', 'the list page token is not one this store returned', {
      hint: 'pass the nextToken of the previous page unchanged',
    });
  }
  return key;
}

/** Runs `work` over `items` with at most `limit` at once, keeping the order of results. */
async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index]!);
    }
  });
  await Promise.all(runners);
  return results;
}

export class S3ObjectStore implements ObjectStore {
  readonly client: S3Client;
  private readonly multipartThreshold: number;
  private readonly partSize: number;
  private readonly partConcurrency: number;
  private readonly listConcurrency: number;
  private readonly secureNewBuckets: boolean;

  constructor(options: S3ObjectStoreOptions = {}) {
    this.client =
      options.client ??
      new S3Client({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
        forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
        // We send Content-MD5 and verify our own SHA-256 end to end; the SDK's extra CRC
        // trailers (aws-chunked bodies) are not understood by every S3-compatible server.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    this.partSize = positiveInteger(options.partSizeBytes, 16 * MIB, 'partSizeBytes', MIN_PART_BYTES);
    this.multipartThreshold = positiveInteger(options.multipartThresholdBytes, 64 * MIB, 'multipartThresholdBytes');
    this.partConcurrency = positiveInteger(options.partConcurrency, 4, 'partConcurrency');
    this.listConcurrency = positiveInteger(options.listConcurrency, 8, 'listConcurrency');
    this.secureNewBuckets = options.secureNewBuckets ?? true;
  }

  async createBucket(bucket: string, options: BucketOptions = {}): Promise<void> {
    validateBucketName(bucket);
    let created = false;
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: bucket }));
      created = true;
    } catch (error) {
      const code = s3ErrorCode(error);
      // Some S3-compatible servers answer BucketAlreadyExists for our own bucket: if we can
      // reach it, it is ours; on AWS someone else's bucket answers HeadBucket with 403.
      if (code === 'BucketAlreadyExists' && !(await this.bucketReachable(bucket))) {
        throw new SynktiError('E_BUCKET_EXISTS', `bucket name "${bucket}" is taken by another AWS account`, {
          cause: error,
          hint: 'bucket names are global: prefix it with your project or account, e.g. "acme-ml-checkpoints"',
        });
      }
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw toS3Error('CreateBucket', bucket, error);
    }
    if (created && this.secureNewBuckets) await this.secure(bucket);
    // Marks the bucket as Synkti's for listBuckets (an existing bucket we are asked for is adopted).
    if (created || (await this.headRaw(bucket, OWNER_MARKER_KEY)) === undefined) {
      await this.putBytes(bucket, OWNER_MARKER_KEY, toBytes(JSON.stringify({ synkti: true, since: new Date().toISOString() })));
    }
    // Protection can be raised on an existing bucket, never lowered.
    if (options.protected && !(await this.isProtected(bucket))) {
      const marker = JSON.stringify({ protected: true, since: new Date().toISOString() });
      await this.putBytes(bucket, PROTECTION_MARKER_KEY, toBytes(marker));
    }
  }

  private async secure(bucket: string): Promise<void> {
    try {
      await this.client.send(
        new PutPublicAccessBlockCommand({
          Bucket: bucket,
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            IgnorePublicAcls: true,
            BlockPublicPolicy: true,
            RestrictPublicBuckets: true,
          },
        }),
      );
      await this.client.send(
        new PutBucketEncryptionCommand({
          Bucket: bucket,
          ServerSideEncryptionConfiguration: {
            Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' }, BucketKeyEnabled: true }],
          },
        }),
      );
    } catch (error) {
      throw toS3Error(
        s3ErrorCode(error) === 'NotImplemented'
          ? 'PutPublicAccessBlock (not implemented by this S3 server: set secureNewBuckets: false only for a local test server)'
          : 'PutPublicAccessBlock',
        bucket,
        error,
      );
    }
  }

  async isProtected(bucket: string): Promise<boolean> {
    validateBucketName(bucket);
    return (await this.headRaw(bucket, PROTECTION_MARKER_KEY)) !== undefined;
  }

  /**
   * ListBuckets answers with every bucket of the account, most of them not Synkti's (and
   * some in other regions). A bucket is listed only when it holds one of our markers: the
   * owner marker createBucket writes, or the protection marker (buckets protected before
   * owner markers existed). One HeadObject per bucket, a few at a time; a bucket we may
   * not read, that lives in another region or that vanished meanwhile is not ours to list.
   * Buckets made by other tools (e.g. the infrastructure stack) appear once createBucket
   * has been called on them.
   */
  async listBuckets(): Promise<BucketInfo[]> {
    const all: { name: string; createdAt: number }[] = [];
    let token: string | undefined;
    do {
      let answer: ListBucketsCommandOutput;
      try {
        answer = await this.client.send(new ListBucketsCommand(token ? { ContinuationToken: token } : {}));
      } catch (error) {
        throw toS3Error('ListAllMyBuckets', '*', error);
      }
      for (const b of answer.Buckets ?? []) {
        if (b.Name) all.push({ name: b.Name, createdAt: b.CreationDate?.getTime() ?? 0 });
      }
      token = answer.ContinuationToken || undefined;
    } while (token);
    const marked = await mapLimited(all, this.listConcurrency, async (bucket): Promise<BucketInfo | undefined> => {
      const owner = await this.markerPresent(bucket.name, OWNER_MARKER_KEY);
      const protectedMark = owner === 'foreign' ? 'foreign' : await this.markerPresent(bucket.name, PROTECTION_MARKER_KEY);
      if (owner !== true && protectedMark !== true) return undefined;
      return { name: bucket.name, protected: protectedMark === true, createdAt: bucket.createdAt };
    });
    return marked.filter((b): b is BucketInfo => b !== undefined).sort((a, b) => compareKeys(a.name, b.name));
  }

  /** Whether a marker is there; 'foreign' for a bucket we cannot read (denied, other region, gone). */
  private async markerPresent(bucket: string, key: string): Promise<boolean | 'foreign'> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      const code = s3ErrorCode(error);
      const status = httpStatusOf(error);
      if (
        code === 'NoSuchBucket' ||
        code === 'AccessDenied' ||
        code === 'Forbidden' ||
        code === 'PermanentRedirect' ||
        code === 'AuthorizationHeaderMalformed' ||
        status === 301 ||
        status === 403 ||
        status === 400
      )
        return 'foreign';
      if (isMissingObjectOrBucket(error)) return false;
      throw toS3Error('HeadObject', `${bucket}/${key}`, error);
    }
  }

  async deleteBucket(bucket: string, options: DeleteBucketOptions = {}): Promise<void> {
    validateBucketName(bucket);
    if ((await this.isProtected(bucket)) && options.confirmProtected !== bucket) {
      throw new SynktiError(
        'E_BUCKET_PROTECTED',
        options.confirmProtected === undefined
          ? `bucket "${bucket}" is protected (it holds data that outlives the fleet, such as models) and is not deleted unless confirmed by name`
          : `bucket "${bucket}" is protected and the confirmation ${JSON.stringify(options.confirmProtected)} does not name it`,
        {
          hint: `to delete it anyway pass { confirmProtected: "${bucket}" } (synkti down --delete-buckets --delete-protected-buckets ${bucket})`,
        },
      );
    }
    const first = await this.listKeysAfter(bucket, undefined, undefined);
    if (first.keys.length > 0 && !options.force) {
      throw new SynktiError('E_BUCKET_NOT_EMPTY', `bucket "${bucket}" is not empty`, {
        hint: 'delete its objects first, or pass force to delete them with it',
      });
    }
    let page = first;
    while (page.keys.length > 0) {
      try {
        const result = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: bucket,
            Delete: { Objects: page.keys.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const failed = result.Errors?.[0];
        if (failed)
          throw new SynktiError('E_AWS_S3', `could not delete ${failed.Key} from "${bucket}": ${failed.Code}`, {
            hint: 'check s3:DeleteObject on the bucket',
          });
      } catch (error) {
        throw toS3Error('DeleteObject', bucket, error);
      }
      page = await this.listKeysAfter(bucket, undefined, undefined);
    }
    // The markers go last, protection last of all: a deletion cut short leaves the bucket
    // still marked as Synkti's and still protected.
    for (const key of [OWNER_MARKER_KEY, PROTECTION_MARKER_KEY]) {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        if (isNoSuchBucket(error)) throw bucketNotFound(bucket, error);
        throw toS3Error('DeleteObject', `${bucket}/${key}`, error);
      }
    }
    try {
      await this.client.send(new DeleteBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if (isNoSuchBucket(error)) throw bucketNotFound(bucket, error);
      throw toS3Error('DeleteBucket', bucket, error);
    }
  }

  async put(bucket: string, key: string, body: Uint8Array | string): Promise<ObjectInfo> {
    validateBucketName(bucket);
    validateUserKey(key);
    return this.putBytes(bucket, key, toBytes(body));
  }

  private async putBytes(bucket: string, key: string, bytes: Buffer): Promise<ObjectInfo> {
    const info: ObjectInfo = { key, size: bytes.length, sha256: sha256Hex(bytes), modifiedAt: Date.now() };
    const Metadata = { [SHA256_METADATA]: info.sha256, [MODIFIED_METADATA]: String(info.modifiedAt) };
    if (bytes.length <= this.multipartThreshold) {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentMD5: md5Base64(bytes), Metadata }));
      } catch (error) {
        throw toS3Error('PutObject', `${bucket}/${key}`, error);
      }
    } else {
      await this.putMultipart(bucket, key, bytes, Metadata);
    }
    return info;
  }

  private async putMultipart(bucket: string, key: string, bytes: Buffer, Metadata: Record<string, string>): Promise<void> {
    // Grow parts for huge bodies so they fit S3's 10,000-part limit.
    const partSize = Math.max(this.partSize, Math.ceil(bytes.length / MAX_PARTS));
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata }));
      uploadId = created.UploadId;
      if (!uploadId) throw new SynktiError('E_AWS_S3', `S3 started no multipart upload for ${bucket}/${key}`, { hint: 'retry' });
      const offsets: number[] = [];
      for (let offset = 0; offset < bytes.length; offset += partSize) offsets.push(offset);
      const id = uploadId;
      const parts = await mapLimited(offsets, this.partConcurrency, async (offset) => {
        const PartNumber = offset / partSize + 1;
        const part = bytes.subarray(offset, Math.min(offset + partSize, bytes.length));
        const answer = await this.client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: id,
            PartNumber,
            Body: part,
            ContentMD5: md5Base64(part),
          }),
        );
        return { PartNumber, ETag: answer.ETag };
      });
      await this.client.send(
        new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: id, MultipartUpload: { Parts: parts } }),
      );
    } catch (error) {
      // An unfinished upload is invisible but billed: abort it.
      if (uploadId)
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw toS3Error('PutObject', `${bucket}/${key}`, error);
    }
  }

  async get(bucket: string, key: string): Promise<Uint8Array | undefined> {
    validateBucketName(bucket);
    validateUserKey(key);
    // A mismatch is read again before it is called corruption: an S3-compatible server
    // that is not atomic (s3rver writes body and metadata apart) can pair a new body with
    // old metadata while a writer overwrites the key. Real damage persists and is refused.
    for (let attempt = 1; ; attempt += 1) {
      const read = await this.getOnce(bucket, key);
      if (read === undefined || read.problem === undefined) return read?.bytes;
      if (attempt >= GET_ATTEMPTS) throw read.problem;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }

  private async getOnce(bucket: string, key: string): Promise<{ bytes: Uint8Array; problem?: SynktiError } | undefined> {
    let bytes: Uint8Array;
    let metadata: Record<string, string>;
    let length: number | undefined;
    let body: { transformToByteArray(): Promise<Uint8Array> } | undefined;
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      metadata = answer.Metadata ?? {};
      length = answer.ContentLength;
      body = answer.Body;
    } catch (error) {
      if (isNoSuchBucket(error)) throw bucketNotFound(bucket, error);
      if (s3ErrorCode(error) === 'NoSuchKey') return undefined;
      throw toS3Error('GetObject', `${bucket}/${key}`, error);
    }
    try {
      bytes = body ? await body.transformToByteArray() : new Uint8Array(0);
    } catch (error) {
      // The SDK retries a failed request, not a body cut off half-way: that is ours to retry.
      return { bytes: new Uint8Array(0), problem: toS3Error('GetObject', `${bucket}/${key}`, error) };
    }
    const expected = metadata[SHA256_METADATA];
    if (length !== undefined && bytes.length !== length) {
      return {
        bytes,
        problem: new SynktiError('E_OBJECT_CORRUPT', `object ${bucket}/${key} arrived with ${bytes.length} of ${length} bytes`, {
          hint: 'retry the read',
        }),
      };
    }
    if (expected !== undefined && sha256Hex(bytes) !== expected) {
      return {
        bytes,
        problem: new SynktiError('E_OBJECT_CORRUPT', `object ${bucket}/${key} does not match its SHA-256`, {
          hint: 'the stored body is damaged or was replaced without Synkti: write it again',
        }),
      };
    }
    return { bytes };
  }

  async head(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    validateBucketName(bucket);
    validateUserKey(key);
    return this.headRaw(bucket, key);
  }

  /** HeadObject; a 404 does not say whether the key or the bucket is missing, so HeadBucket tells. */
  private async headRaw(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    let answer: HeadObjectCommandOutput;
    try {
      answer = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (!isMissingObjectOrBucket(error)) throw toS3Error('HeadObject', `${bucket}/${key}`, error);
      await this.assertBucketExists(bucket);
      return undefined;
    }
    return this.infoOf(key, answer);
  }

  private infoOf(key: string, answer: HeadObjectCommandOutput): ObjectInfo {
    const metadata = answer.Metadata ?? {};
    const written = Number(metadata[MODIFIED_METADATA]);
    return {
      key,
      size: answer.ContentLength ?? 0,
      // Objects uploaded by other tools carry no SHA-256 of ours: reported as '' (get cannot verify them).
      sha256: metadata[SHA256_METADATA] ?? '',
      modifiedAt: Number.isFinite(written) && written > 0 ? written : (answer.LastModified?.getTime() ?? 0),
    };
  }

  private async bucketReachable(bucket: string): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return true;
    } catch {
      return false;
    }
  }

  private async assertBucketExists(bucket: string): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if (isMissingObjectOrBucket(error)) throw bucketNotFound(bucket, error);
      throw toS3Error('ListBucket', bucket, error);
    }
  }

  async list(bucket: string, prefix?: string, page: PageRequest = {}): Promise<Page<ObjectInfo>> {
    validateBucketName(bucket);
    const maxKeys = positiveInteger(page.maxResults, DEFAULT_MAX_KEYS, 'maxResults');
    let after = page.nextToken === undefined ? undefined : decodePageToken(page.nextToken);
    let listed = await this.listKeysAfter(bucket, prefix, after);
    // A batch that held only the hidden markers is skipped rather than returned empty.
    while (listed.keys.length === 0 && listed.lastRawKey !== undefined && listed.truncated) {
      after = listed.lastRawKey;
      listed = await this.listKeysAfter(bucket, prefix, after);
    }
    const keys = listed.keys.slice(0, maxKeys);
    const more = listed.truncated || listed.keys.length > maxKeys;
    const infos = await mapLimited(keys, this.listConcurrency, (key) => this.headRaw(bucket, key));
    return {
      items: infos.filter((info): info is ObjectInfo => info !== undefined),
      nextToken: more && keys.length > 0 ? encodePageToken(keys[keys.length - 1]!) : undefined,
    };
  }

  /**
   * Up to 1,000 keys after `after`, sorted by UTF-8 bytes, without the markers.
   * Our page token is the last key returned (S3's `Marker`), so a page may be smaller than
   * the server's batch: one request serves any page size, and a server whose batches are
   * not perfectly ordered (s3rver walks directories) still yields every key once, in order.
   */
  private async listKeysAfter(
    bucket: string,
    prefix: string | undefined,
    after: string | undefined,
  ): Promise<{ keys: string[]; truncated: boolean; lastRawKey?: string | undefined }> {
    try {
      const answer = await this.client.send(
        new ListObjectsCommand({
          Bucket: bucket,
          Prefix: prefix || undefined,
          MaxKeys: 1000,
          Marker: after,
        }),
      );
      const raw = (answer.Contents ?? [])
        .map((o) => o.Key)
        .filter((k): k is string => k !== undefined)
        .sort(compareKeys);
      return { keys: raw.filter((k) => !MARKER_KEYS.has(k)), truncated: answer.IsTruncated === true, lastRawKey: raw[raw.length - 1] };
    } catch (error) {
      if (isNoSuchBucket(error)) throw bucketNotFound(bucket, error);
      throw toS3Error('ListBucket', bucket, error);
    }
  }

  async delete(bucket: string, key: string): Promise<void> {
    validateBucketName(bucket);
    validateUserKey(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      if (isNoSuchBucket(error)) throw bucketNotFound(bucket, error);
      throw toS3Error('DeleteObject', `${bucket}/${key}`, error);
    }
  }
}

export function createS3ObjectStore(options: S3ObjectStoreOptions = {}): S3ObjectStore {
  return new S3ObjectStore(options);
}
