/** `--store <dir>`: the local object store agents keep chunks and big results in (shared by every process of the machine). */
import { LocalObjectStore, type ObjectStore } from '@synkti/cloud';

export const DEFAULT_PIPELINE_BUCKET = 'synkti-pipelines';

export async function openPipelineStore(dir: string | undefined, bucket = DEFAULT_PIPELINE_BUCKET): Promise<{ store: ObjectStore; bucket: string } | undefined> {
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
