/**
 * Results of big tasks live in the object store; the task row keeps the key. This reads
 * one back (the object store verifies its integrity).
 */
import type { ObjectStore } from '@synkti/cloud';
import { SynktiError } from '@synkti/core';
import type { Json } from './types.ts';

export async function readPipelineResult(store: { store: ObjectStore; bucket: string } | undefined, ref: string): Promise<Json> {
  if (!store) {
    throw new SynktiError('E_PIPELINE_RESULT', `the result ${ref} is in the object store, and this process has none`, {
      hint: 'give the agent/API the same --store as the agents that wrote it',
    });
  }
  const body = await store.store.get(store.bucket, ref);
  if (body === undefined)
    throw new SynktiError('E_PIPELINE_RESULT', `the result object ${store.bucket}/${ref} is missing`, {
      hint: 'check the bucket and that nothing deleted it',
    });
  return JSON.parse(Buffer.from(body).toString('utf8')) as Json;
}
