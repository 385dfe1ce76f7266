/**
 * Where a node reads a model's objects from. Model files are large (GBs): they are
 * streamed, never held in memory, and read from an offset so a cut download resumes
 * where it stopped (an S3 ranged GET).
 *
 * - s3ModelSource: S3 (or an S3-compatible server) through the SDK's default credential
 *   chain; on EC2 that is the instance role, read from IMDS.
 * - objectStoreModelSource: any ObjectStore (the local cloud's file store), whose get()
 *   verifies the body but reads it whole: fine for the small models a laptop fleet uses.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SynktiError } from '@synkti/core';
import { SHA256_METADATA, type ObjectStore } from '@synkti/cloud';

export interface ModelRead {
  /** The offset the body really starts at: 0 when the server ignored the range. */
  start: number;
  body: AsyncIterable<Uint8Array>;
  /** The SHA-256 the object carries as metadata (written by Synkti), if any. */
  declaredSha256?: string | undefined;
}

export interface ModelObjectSource {
  /** Where the objects are, for messages: `s3://bucket`. */
  readonly where: string;
  /** A small object whole (the manifest), refused past `maxBytes`; undefined when it does not exist. */
  getSmall(key: string, maxBytes: number): Promise<Uint8Array | undefined>;
  /** The object's bytes from `start` on. E_MODEL_FILE_MISSING when it does not exist. */
  read(key: string, start: number, signal?: AbortSignal): Promise<ModelRead>;
}

export interface S3ModelSourceOptions {
  bucket: string;
  /** A ready client; otherwise one from `region`, `endpoint` and the default credential chain. */
  client?: S3Client | undefined;
  /** @default AWS_REGION or the SDK's chain */
  region?: string | undefined;
  /** An S3-compatible endpoint (tests, emulators). @default AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL when set, else AWS */
  endpoint?: string | undefined;
  credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
}

interface S3ErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

function s3Code(error: unknown): string | undefined {
  const e = error as S3ErrorShape | undefined;
  return e?.Code ?? e?.name;
}

function status(error: unknown): number | undefined {
  return (error as S3ErrorShape | undefined)?.$metadata?.httpStatusCode;
}

/** Permanent answers are not retried: a missing key, a missing bucket, a refusal. */
export function isPermanentModelError(error: unknown): boolean {
  return (
    error instanceof SynktiError &&
    ['E_MODEL_FILE_MISSING', 'E_MODEL_ACCESS', 'E_MODEL_MANIFEST', 'E_MODEL_CORRUPT', 'E_MODEL_DISK', 'E_MODEL_DIR'].includes(error.code)
  );
}

function translate(where: string, key: string, error: unknown): unknown {
  const code = s3Code(error);
  const http = status(error);
  if (code === 'NoSuchBucket') {
    return new SynktiError('E_MODEL_ACCESS', `bucket ${where} does not exist`, {
      cause: error,
      hint: 'check model.uri in the cluster config',
    });
  }
  if (code === 'NoSuchKey' || code === 'NotFound' || http === 404) {
    return new SynktiError('E_MODEL_FILE_MISSING', `${where}/${key} does not exist`, {
      cause: error,
      hint: 'upload the model again with `synkti model upload <dir>` (a file the manifest lists is missing from the bucket)',
    });
  }
  if (code === 'AccessDenied' || code === 'Forbidden' || http === 403) {
    // Without s3:ListBucket, S3 answers 403 (not 404) for a key that does not exist.
    return new SynktiError('E_MODEL_ACCESS', `reading ${where}/${key} was refused (403)`, {
      cause: error,
      hint: "the node's role needs s3:GetObject (and s3:ListBucket, so a missing key reads as missing) on the model's prefix; or the key does not exist",
    });
  }
  return error;
}

/** Reads a stream whole, refusing more than `maxBytes`. */
async function collect(body: AsyncIterable<Uint8Array>, maxBytes: number, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes)
      throw new SynktiError('E_MODEL_MANIFEST', `${what} is larger than ${maxBytes} bytes`, {
        hint: 'a manifest is a small JSON file: write it again with `synkti model upload`',
      });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseContentRangeStart(range: string | undefined): number | undefined {
  const match = range === undefined ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(range.trim());
  return match ? Number(match[1]) : undefined;
}

export function s3ModelSource(options: S3ModelSourceOptions): ModelObjectSource {
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  const client =
    options.client ??
    new S3Client({
      ...(options.region ? { region: options.region } : {}),
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // The model's bucket may live in another region than the fleet.
      followRegionRedirects: true,
      // Each file is verified end to end against the manifest's SHA-256.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  const where = `s3://${options.bucket}`;
  return {
    where,
    async getSmall(key, maxBytes) {
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: options.bucket, Key: key }));
        if (answer.ContentLength !== undefined && answer.ContentLength > maxBytes) {
          (answer.Body as { destroy?: () => void } | undefined)?.destroy?.();
          throw new SynktiError(
            'E_MODEL_MANIFEST',
            `${where}/${key} is ${answer.ContentLength} bytes, more than the ${maxBytes} a manifest may have`,
            { hint: 'write it again with `synkti model upload`' },
          );
        }
        return await collect((answer.Body ?? []) as AsyncIterable<Uint8Array>, maxBytes, `${where}/${key}`);
      } catch (error) {
        const translated = translate(where, key, error);
        if (translated instanceof SynktiError && translated.code === 'E_MODEL_FILE_MISSING') return undefined;
        throw translated;
      }
    },
    async read(key, start, signal) {
      try {
        const answer = await client.send(
          new GetObjectCommand({ Bucket: options.bucket, Key: key, ...(start > 0 ? { Range: `bytes=${start}-` } : {}) }),
          signal ? { abortSignal: signal } : {},
        );
        const realStart = start > 0 ? (parseContentRangeStart(answer.ContentRange) ?? 0) : 0;
        return {
          start: realStart,
          body: (answer.Body ?? []) as AsyncIterable<Uint8Array>,
          declaredSha256: answer.Metadata?.[SHA256_METADATA],
        };
      } catch (error) {
        throw translate(where, key, error);
      }
    },
  };
}

export function objectStoreModelSource(store: ObjectStore, bucket: string, where = `s3://${bucket}`): ModelObjectSource {
  return {
    where,
    async getSmall(key, maxBytes) {
      const info = await store.head(bucket, key);
      if (info === undefined) return undefined;
      if (info.size > maxBytes)
        throw new SynktiError('E_MODEL_MANIFEST', `${where}/${key} is ${info.size} bytes, more than the ${maxBytes} a manifest may have`, {
          hint: 'write it again with `synkti model upload`',
        });
      return store.get(bucket, key);
    },
    async read(key, start): Promise<ModelRead> {
      const body = await store.get(bucket, key);
      if (body === undefined) {
        throw new SynktiError('E_MODEL_FILE_MISSING', `${where}/${key} does not exist`, {
          hint: 'upload the model again with `synkti model upload <dir>` (a file the manifest lists is missing from the bucket)',
        });
      }
      const from = Math.min(start, body.byteLength);
      const rest: Uint8Array[] = [body.subarray(from)];
      return {
        start: from,
        body: (async function* () {
          yield* rest;
        })(),
      };
    },
  };
}
