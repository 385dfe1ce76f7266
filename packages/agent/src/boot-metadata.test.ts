import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { test } from 'node:test';
import type { ImdsClient } from '@synkti/cloud';
import { bootMetadata } from './boot-metadata.ts';

/** A metadata client that counts its reads; `fail` makes tags() reject. */
function countingMetadata(fail = false): { client: ImdsClient; reads: Record<string, number> } {
  const reads = { identity: 0, tags: 0, identityProof: 0, userData: 0 };
  const client = {
    read: () => Promise.resolve(undefined),
    identity: () => {
      reads.identity++;
      return Promise.resolve({ instanceId: 'i-1', instanceType: 't3.small', region: 'local', zone: 'local-a', privateIp: '127.0.0.1' });
    },
    tags: () => {
      reads.tags++;
      return fail ? Promise.reject(new Error('tags unavailable')) : Promise.resolve({ SynktiCluster: `c${reads.tags}` });
    },
    identityProof: () => {
      reads.identityProof++;
      return Promise.resolve({ proof: { kind: 'cloud-ed25519', document: 'd', signature: 's' }, trust: {} });
    },
    userData: () => {
      reads.userData++;
      return Promise.resolve('config');
    },
    interruptionNotice: () => Promise.resolve(null),
    rebalanceRecommendation: () => Promise.resolve(null),
  } as unknown as ImdsClient;
  return { client, reads };
}

test('the boot reads start at once, the identity is read once, and later tag reads are fresh', async () => {
  const { client, reads } = countingMetadata();
  const metadata = bootMetadata(client);
  // Started before anyone asked: they run alongside the user data read.
  assert.deepEqual(reads, { identity: 1, tags: 1, identityProof: 1, userData: 0 });
  assert.equal(await metadata.userData(), 'config');
  const ids = await Promise.all([metadata.identity(), metadata.identity(), metadata.identity(), metadata.identity()]);
  assert.ok(ids.every((id) => id.instanceId === 'i-1'));
  assert.equal(reads.identity, 1);
  assert.deepEqual(await metadata.tags(), { SynktiCluster: 'c1' }, 'the first call gets the prefetched tags');
  assert.deepEqual(await metadata.tags(), { SynktiCluster: 'c2' }, 'a later call reads them again');
  assert.equal((await metadata.identityProof!()).proof.kind, 'cloud-ed25519');
  await metadata.identityProof!();
  assert.equal(reads.identityProof, 2);
});

test("a prefetch that fails is the first caller's error, not an unhandled rejection", async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  const { client } = countingMetadata(true);
  const metadata = bootMetadata(client);
  // Let the rejection settle with nobody awaiting it yet (as while the user data is read).
  await turn();
  await turn();
  assert.deepEqual(unhandled, []);
  await assert.rejects(metadata.tags(), /tags unavailable/);
});
