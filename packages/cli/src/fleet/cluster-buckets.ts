/**
 * The buckets of a local cluster's object store (`.synkti/<cluster>/objects/<bucket>/`)
 * with their protection, for `synkti down --delete-buckets`.
 *
 * The ObjectStore interface has no bucket listing and its deleteBucket always refuses a
 * protected bucket (E_BUCKET_PROTECTED): protection is meant to hold against every
 * program. The one way past it is an operator who named the bucket twice on the command
 * line; that path removes the directory as the store's own hint tells a person to.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalObjectStore } from '@synkti/cloud';

export interface BucketEntry {
  name: string;
  protected: boolean;
}

/** Bucket directories (hidden entries, such as a deletion in progress, are not buckets). */
export async function listLocalBuckets(store: LocalObjectStore): Promise<BucketEntry[]> {
  let names: string[];
  try {
    names = await readdir(store.root);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const buckets: BucketEntry[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const dir = join(store.root, name);
    if (!(await stat(dir)).isDirectory()) continue;
    let meta: { protected?: unknown } = {};
    try {
      meta = JSON.parse(await readFile(join(dir, '.bucket.json'), 'utf8')) as { protected?: unknown };
    } catch {
      // no metadata: a bucket whose creation was cut short, unprotected (as the store reads it)
    }
    buckets.push({ name, protected: meta.protected === true });
  }
  return buckets;
}

/**
 * Deletes a bucket and everything in it. An unprotected one goes through the store; a
 * protected one only with `protectedConfirmed` (its name given twice by the operator).
 */
export async function deleteLocalBucket(store: LocalObjectStore, bucket: BucketEntry, protectedConfirmed: boolean): Promise<void> {
  if (!bucket.protected) {
    await store.deleteBucket(bucket.name, { force: true });
    return;
  }
  if (!protectedConfirmed) throw new Error(`internal: protected bucket ${bucket.name} without confirmation`);
  // Renamed away first, so readers see it vanish at once, as the store's own deletion does.
  const doomed = join(store.root, `.deleting-${bucket.name}-${randomBytes(6).toString('hex')}`);
  await rename(join(store.root, bucket.name), doomed);
  await rm(doomed, { recursive: true, force: true });
}
