/**
 * The buckets of a cluster's object store with their protection, for
 * `synkti down --delete-buckets`, through the ObjectStore interface only.
 *
 * Protection lives in the store: deleteBucket refuses a protected bucket unless
 * `confirmProtected` repeats its name. `down` passes that name only for a bucket the
 * operator named twice (`--delete-buckets` and `--delete-protected-buckets <name>`).
 */
import type { BucketInfo, ObjectStore } from '@synkti/cloud';

export type BucketEntry = BucketInfo;

/** The store's buckets, by name, each with its protection. */
export async function listClusterBuckets(store: ObjectStore): Promise<BucketEntry[]> {
  return store.listBuckets();
}

/**
 * Deletes a bucket and everything in it. A protected one only with `protectedConfirmed`
 * (its name given twice by the operator); otherwise the store refuses it (E_BUCKET_PROTECTED).
 */
export async function deleteClusterBucket(store: ObjectStore, bucket: BucketEntry, protectedConfirmed: boolean): Promise<void> {
  await store.deleteBucket(bucket.name, { force: true, confirmProtected: protectedConfirmed ? bucket.name : undefined });
}
