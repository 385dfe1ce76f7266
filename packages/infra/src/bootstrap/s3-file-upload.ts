/**
 * Uploads a local file to S3 only when the copy there differs, streamed from disk (model
 * shards do not fit in memory). The SHA-256 travels as the same object metadata the S3
 * ObjectStore writes and verifies (`x-amz-meta-synkti-sha256`), so "already present" is a
 * HEAD, and Content-MD5 makes S3 refuse a body that changed between hashing and sending.
 *
 * One PutObject per file: @aws-sdk/lib-storage is not a dependency, so files above S3's
 * single-PUT limit (5 GiB) are refused with a hint (Hugging Face shards stay under it).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { SynktiError } from '@synkti/core';
import { SHA256_METADATA, type S3ObjectStore } from '@synkti/cloud';

/** S3's limit for one PutObject. */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;

export type UploadStatus = 'created' | 'updated' | 'present';

export interface FileDigest {
  sha256: string;
  md5Base64: string;
  bytes: number;
}

export interface UploadFileOptions {
  bucket: string;
  key: string;
  file: string;
  /** A digest already computed for `file` (skips hashing it again). */
  digest?: FileDigest | undefined;
  /** Only say what would happen. @default false */
  dryRun?: boolean | undefined;
  /** Bytes sent so far for this file (progress). */
  onBytes?: ((sent: number) => void) | undefined;
}

export interface UploadFileResult {
  key: string;
  /** What happened (or, in a dry run, would happen). */
  status: UploadStatus;
  sha256: string;
  bytes: number;
}

/** SHA-256 and MD5 of a file in one streamed pass. */
export async function digestFile(file: string): Promise<FileDigest> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    const buffer = chunk as Buffer;
    sha.update(buffer);
    md5.update(buffer);
    bytes += buffer.length;
  }
  return { sha256: sha.digest('hex'), md5Base64: md5.digest('base64'), bytes };
}

/** Refuses a file one PutObject cannot take (checked before anything is read or sent). */
export function checkSinglePutSize(file: string, size: number): void {
  if (size > MAX_SINGLE_PUT_BYTES) {
    throw new SynktiError(
      'E_FILE_TOO_LARGE',
      `${file} is ${(size / 1024 ** 3).toFixed(1)} GiB, more than the 5 GiB one S3 PutObject takes`,
      {
        hint: 'split it into shards under 5 GiB (e.g. save_pretrained(max_shard_size="4GB")), or upload it with `aws s3 cp`',
      },
    );
  }
}

export async function uploadFileIfChanged(store: S3ObjectStore, options: UploadFileOptions): Promise<UploadFileResult> {
  const { bucket, key, file } = options;
  checkSinglePutSize(file, (await stat(file)).size);
  const digest = options.digest ?? (await digestFile(file));
  const existing = await store.head(bucket, key);
  const status: UploadStatus =
    existing === undefined ? 'created' : existing.sha256 === digest.sha256 && existing.size === digest.bytes ? 'present' : 'updated';
  if (status === 'present' || options.dryRun) return { key, status, sha256: digest.sha256, bytes: digest.bytes };

  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      options.onBytes?.(sent);
      callback(null, chunk);
    },
  });
  const body = createReadStream(file)
    .on('error', (error) => counter.destroy(error))
    .pipe(counter);
  try {
    await store.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentLength: digest.bytes,
        ContentMD5: digest.md5Base64,
        Metadata: { [SHA256_METADATA]: digest.sha256, 'synkti-modified-at': String(Date.now()) },
      }),
    );
  } catch (error) {
    throw new SynktiError('E_AWS_S3', `could not upload ${file} to s3://${bucket}/${key}: ${(error as Error).message}`, {
      cause: error,
      hint: 'check s3:PutObject on the bucket and that the file did not change during the upload, then run this again (finished files are skipped)',
    });
  } finally {
    body.destroy();
  }
  return { key, status, sha256: digest.sha256, bytes: digest.bytes };
}
