/**
 * A bucket on a private s3rver, an object store pointed at it and a scratch directory:
 * the setup every test of an S3 upload or fetch starts from. `close()` removes all three.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3ObjectStore, type S3ObjectStore } from '../s3-object-store.ts';
import { startTestS3, type TestS3 } from './s3rver.ts';

export interface TestS3Bucket {
  s3: TestS3;
  store: S3ObjectStore;
  /** A fresh directory for the test's files. */
  work: string;
  close(): Promise<void>;
}

export async function openTestS3Bucket(bucket: string, workPrefix: string): Promise<TestS3Bucket> {
  const s3 = await startTestS3();
  const store = createS3ObjectStore({ endpoint: s3.endpoint, credentials: s3.credentials, region: 'us-east-1', secureNewBuckets: false });
  try {
    await store.createBucket(bucket);
    const work = await mkdtemp(join(tmpdir(), workPrefix));
    return {
      s3,
      store,
      work,
      async close() {
        store.client.destroy();
        await s3.stop();
        await rm(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    store.client.destroy();
    await s3.stop();
    throw error;
  }
}
