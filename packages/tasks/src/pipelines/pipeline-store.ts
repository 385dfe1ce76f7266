/**
 * Where agents keep chunks and big results: `--store <dir>` (a local object store shared by
 * every process of the machine) or, on AWS, the stack's bucket through S3.
 */
import { LocalObjectStore, createS3ObjectStore, type ObjectStore } from '@synkti/cloud';

export const DEFAULT_PIPELINE_BUCKET = 'synkti-pipelines';

export async function openPipelineStore(
  dir: string | undefined,
  bucket = DEFAULT_PIPELINE_BUCKET,
): Promise<{ store: ObjectStore; bucket: string } | undefined> {
  if (!dir) return undefined;
  const store = new LocalObjectStore({ root: dir });
  // Several agents may start at once: a bucket half-created by another one reads back after a moment.
  for (let attempt = 0; ; attempt += 1) {
    try {
      await store.createBucket(bucket);
      return { store, bucket };
    } catch (error) {
      if (attempt >= 10) throw error;
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 50));
    }
  }
}

/**
 * The stack's bucket (PipelineCluster made it; agents never create or delete buckets). The
 * endpoint follows the SDK's AWS_ENDPOINT_URL(_S3), path-style when one is set (emulators).
 */
export function openS3PipelineStore(
  bucket: string,
  region: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): { store: ObjectStore; bucket: string } {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return { store: createS3ObjectStore({ region, ...(endpoint ? { endpoint } : {}) }), bucket };
}
