/**
 * A coordinator's checkpoints in the stack's S3 bucket (SpotBatchFleet), atomic by
 * construction: each checkpoint is written as a new object under
 * `runs/<run>/checkpoints/<sha256>.json`, then the pointer `runs/<run>/checkpoint.json` is
 * replaced to name it (with its SHA-256). A reader follows the pointer and verifies the
 * checksum, so a coordinator killed between the two writes leaves the previous checkpoint
 * in force, and `--resume` always finds the latest complete one. Everything is under
 * `runs/`, the prefix SpotBatchFleet's lifecycle rules expire.
 *
 * It is an ObjectStore decorator: the coordinator keeps calling put/get on the pointer key
 * and stays unaware of the layout.
 */
import { createHash } from 'node:crypto';
import { SynktiError } from '@synkti/core';
import { createS3ObjectStore, type ObjectStore } from '@synkti/cloud';
import { BATCH_PREFIXES, batchCheckpointKeys } from '@synkti/core/contracts';

const POINTER_FORMAT = 'synkti.checkpoint-pointer.v1';
/** Bounded read of a pointer (it is a few hundred bytes). */
const MAX_POINTER_BYTES = 4096;
const POINTER_KEY = new RegExp(`^${BATCH_PREFIXES.runs.replace('/', '\\/')}([A-Za-z0-9_-]{1,80})\\/checkpoint\\.json$`);

interface Pointer {
  format: typeof POINTER_FORMAT;
  key: string;
  sha256: string;
  bytes: number;
  writtenAt: string;
}

function sha256(body: Uint8Array | string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The store, with checkpoint keys (`runs/<run>/checkpoint.json`) written as object + pointer. */
export function withCheckpointPointers(store: ObjectStore): ObjectStore {
  const versionKey = (run: string, digest: string): string => `${batchCheckpointKeys(run).versionsPrefix}${digest}.json`;
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'put') {
        return async (bucket: string, key: string, body: Uint8Array | string) => {
          const run = POINTER_KEY.exec(key)?.[1];
          if (run === undefined) return target.put(bucket, key, body);
          const digest = sha256(body);
          const target_ = versionKey(run, digest);
          await target.put(bucket, target_, body);
          const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
          const pointer: Pointer = { format: POINTER_FORMAT, key: target_, sha256: digest, bytes, writtenAt: new Date().toISOString() };
          return target.put(bucket, key, JSON.stringify(pointer));
        };
      }
      if (property === 'get') {
        return async (bucket: string, key: string) => {
          const body = await target.get(bucket, key);
          const run = POINTER_KEY.exec(key)?.[1];
          if (run === undefined || body === undefined) return body;
          if (body.byteLength > MAX_POINTER_BYTES) return body; // a whole checkpoint written without a pointer (local layout)
          let pointer: Partial<Pointer> | undefined;
          try {
            pointer = JSON.parse(Buffer.from(body).toString('utf8')) as Partial<Pointer>;
          } catch {
            return body;
          }
          if (pointer?.format !== POINTER_FORMAT) return body;
          if (
            typeof pointer.key !== 'string' ||
            !pointer.key.startsWith(batchCheckpointKeys(run).versionsPrefix) ||
            typeof pointer.sha256 !== 'string'
          ) {
            throw new SynktiError(
              'E_CHECKPOINT',
              `${bucket}/${key} is a pointer to something that is not one of run ${run}'s checkpoints`,
              { hint: 'checkpoint pointers are written by the coordinator only; was it edited by hand?' },
            );
          }
          const checkpoint = await target.get(bucket, pointer.key);
          if (checkpoint === undefined || sha256(checkpoint) !== pointer.sha256) {
            throw new SynktiError(
              'E_CHECKPOINT',
              `${bucket}/${pointer.key} (named by ${key}) is ${checkpoint === undefined ? 'missing' : 'not the checkpoint the pointer names (SHA-256 differs)'}`,
              {
                hint: `the lifecycle rule on ${BATCH_PREFIXES.runs} may have expired it; older checkpoints are listed under ${BATCH_PREFIXES.runs}${run}/checkpoints/`,
              },
            );
          }
          return checkpoint;
        };
      }
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** The stack bucket's checkpoint store: S3 (endpoint from AWS_ENDPOINT_URL(_S3) when set, path-style for emulators). */
export function openStackCheckpoints(region: string, env: Readonly<Record<string, string | undefined>> = process.env): ObjectStore {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return withCheckpointPointers(createS3ObjectStore({ region, ...(endpoint ? { endpoint } : {}) }));
}
