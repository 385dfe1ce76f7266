/**
 * Conformance suite for ObjectStore: every provider (local files, S3) must pass it.
 * Call it at the top level of a test file; it registers node:test tests.
 *
 * One fixture serves the suite; each test works in buckets of its own. The suite deletes
 * the buckets it made (protected ones confirmed by name); anything left is the
 * fixture's `cleanup` to remove.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import type { ObjectInfo, ObjectStore } from '../types.ts';

export interface ObjectStoreConformanceFixture {
  store: ObjectStore;
  /** Runs after the suite deleted the unprotected buckets it made; removes anything left. */
  cleanup(): Promise<void>;
  /**
   * The longest key the backing server can store, when it is below the interface's
   * 1,024 bytes (s3rver keeps each key as a file name). The store must still accept
   * every key up to 1,024 bytes; only the round trip of the longest key is shortened.
   * @default 1024
   */
  serverMaxKeyBytes?: number;
  /**
   * Whether the backing server replaces an object atomically. s3rver truncates the file
   * in place, so a read racing a rewrite can be cut short; against such a server the
   * suite checks the weaker promise the store itself keeps: a get that succeeds returns
   * one whole version, never a torn one, and a torn read fails with a clear error.
   * @default true
   */
  serverOverwritesAtomically?: boolean;
}

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function sameBytes(actual: Uint8Array | undefined, expected: Uint8Array | string, message?: string): void {
  assert.ok(actual instanceof Uint8Array, message ?? 'a body is returned');
  const want = typeof expected === 'string' ? Buffer.from(expected, 'utf8') : Buffer.from(expected);
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(want), message ?? 'the body is the one written');
}

export function runObjectStoreConformance(name: string, setup: () => Promise<ObjectStoreConformanceFixture>): void {
  let fixture: ObjectStoreConformanceFixture;
  const buckets = new Set<string>();

  function store(): ObjectStore {
    return fixture.store;
  }

  async function newBucket(label: string, options?: { protected?: boolean }): Promise<string> {
    const bucket = `conf-${label}-${randomBytes(4).toString('hex')}`;
    await store().createBucket(bucket, options);
    buckets.add(bucket);
    return bucket;
  }

  async function assertCode(promise: Promise<unknown>, code: string): Promise<void> {
    await assert.rejects(promise, (error: unknown) => {
      assert.ok(isSynktiError(error, code), `expected ${code}, got ${String(error)}`);
      return true;
    });
  }

  async function listAll(bucket: string, prefix?: string, maxResults?: number): Promise<{ pages: ObjectInfo[][]; keys: string[] }> {
    const pages: ObjectInfo[][] = [];
    let nextToken: string | undefined;
    do {
      const page = await store().list(bucket, prefix, { maxResults, nextToken });
      pages.push(page.items);
      nextToken = page.nextToken;
      assert.ok(pages.length < 100, 'pagination must end');
    } while (nextToken);
    return { pages, keys: pages.flat().map((o) => o.key) };
  }

  describe(`ObjectStore conformance: ${name}`, () => {
    before(async () => {
      fixture = await setup();
    });

    after(async () => {
      if (!fixture) return;
      try {
        for (const bucket of buckets) {
          try {
            await store().deleteBucket(bucket, { force: true, confirmProtected: bucket });
          } catch (error) {
            if (!isSynktiError(error, 'E_BUCKET_PROTECTED') && !isSynktiError(error, 'E_BUCKET_NOT_FOUND')) throw error;
          }
        }
      } finally {
        await fixture.cleanup();
      }
    });

    it('put, get and head round-trip a text and a binary body', async () => {
      const bucket = await newBucket('roundtrip');
      const text = 'héllo wörld ✓ — synkti\n';
      const binary = new Uint8Array(512);
      for (let i = 0; i < binary.length; i += 1) binary[i] = i % 256;

      const startedAt = Date.now();
      const textInfo = await store().put(bucket, 'docs/hello.txt', text);
      assert.equal(textInfo.key, 'docs/hello.txt');
      assert.equal(textInfo.size, Buffer.byteLength(text));
      assert.equal(textInfo.sha256, sha256(text));
      assert.ok(textInfo.modifiedAt >= startedAt - 60_000 && textInfo.modifiedAt <= Date.now() + 60_000, 'modifiedAt is about now');
      sameBytes(await store().get(bucket, 'docs/hello.txt'), text);
      assert.equal(Buffer.from((await store().get(bucket, 'docs/hello.txt'))!).toString('utf8'), text);
      assert.deepEqual(await store().head(bucket, 'docs/hello.txt'), textInfo);

      const binInfo = await store().put(bucket, 'bin/all-bytes', binary);
      assert.equal(binInfo.size, 512);
      assert.equal(binInfo.sha256, sha256(binary));
      sameBytes(await store().get(bucket, 'bin/all-bytes'), binary);
      assert.deepEqual(await store().head(bucket, 'bin/all-bytes'), binInfo);

      const emptyInfo = await store().put(bucket, 'empty', new Uint8Array(0));
      assert.equal(emptyInfo.size, 0);
      sameBytes(await store().get(bucket, 'empty'), new Uint8Array(0));

      assert.equal(await store().get(bucket, 'docs/missing.txt'), undefined);
      assert.equal(await store().head(bucket, 'docs/missing.txt'), undefined);
    });

    it('put overwrites an existing object', async () => {
      const bucket = await newBucket('overwrite');
      await store().put(bucket, 'state.json', '{"generation":1}');
      const second = await store().put(bucket, 'state.json', '{"generation":2,"longer":true}');
      sameBytes(await store().get(bucket, 'state.json'), '{"generation":2,"longer":true}');
      assert.deepEqual(await store().head(bucket, 'state.json'), second);
      assert.deepEqual((await listAll(bucket)).keys, ['state.json']);
    });

    it('a reader never sees a partly written object while a writer rewrites it', async () => {
      const bucket = await newBucket('atomic');
      const size = 1024 * 1024;
      const key = 'checkpoints/latest.bin';
      await store().put(bucket, key, new Uint8Array(size).fill(0));
      let writing = true;
      let reads = 0;
      const writer = (async () => {
        try {
          for (let generation = 1; generation <= 25; generation += 1) {
            await store().put(bucket, key, new Uint8Array(size).fill(generation));
          }
        } finally {
          writing = false;
        }
      })();
      const atomicServer = fixture.serverOverwritesAtomically ?? true;
      let tornReadsRefused = 0;
      const reader = async (): Promise<void> => {
        while (writing) {
          let body: Uint8Array | undefined;
          try {
            body = await store().get(bucket, key);
          } catch (error) {
            if (atomicServer || !isSynktiError(error)) throw error;
            tornReadsRefused += 1;
            continue;
          }
          assert.ok(body, 'the object never disappears while it is rewritten');
          assert.equal(body.length, size, 'never a truncated body');
          const first = body[0]!;
          if (!Buffer.alloc(size, first).equals(body)) {
            const at = body.findIndex((b) => b !== first);
            assert.fail(`mixed body: byte ${at} is ${body[at]}, byte 0 is ${first}`);
          }
          reads += 1;
        }
      };
      await Promise.all([writer, reader(), reader(), reader(), reader()]);
      assert.ok(reads > 0, `readers ran during the writes (${reads} whole reads, ${tornReadsRefused} torn reads refused)`);
      const final = await store().get(bucket, key);
      assert.equal(final![0], 25);
    });

    it('list returns keys in lexicographic order, filtered by prefix, page by page', async () => {
      const bucket = await newBucket('list');
      const keys = ['b/2', 'a/1', 'a/10', 'a/2', 'c', 'a/1/x', 'ab'];
      for (const key of keys) await store().put(bucket, key, `body of ${key}`);

      const all = await listAll(bucket);
      assert.deepEqual(all.keys, ['a/1', 'a/1/x', 'a/10', 'a/2', 'ab', 'b/2', 'c']);
      const info = all.pages.flat().find((o) => o.key === 'a/10');
      assert.equal(info?.size, Buffer.byteLength('body of a/10'));
      assert.equal(info?.sha256, sha256('body of a/10'));

      const paged = await listAll(bucket, 'a/', 2);
      assert.deepEqual(
        paged.pages.map((p) => p.map((o) => o.key)),
        [
          ['a/1', 'a/1/x'],
          ['a/10', 'a/2'],
        ],
      );
      const single = await listAll(bucket, undefined, 1);
      assert.equal(single.pages.length, 7);
      assert.deepEqual(single.keys, all.keys);
      assert.deepEqual((await listAll(bucket, 'zzz')).keys, []);
      assert.deepEqual((await listAll(bucket, 'a')).keys, ['a/1', 'a/1/x', 'a/10', 'a/2', 'ab']);
    });

    it('delete removes an object; deleting a missing key is not an error', async () => {
      const bucket = await newBucket('delete');
      await store().put(bucket, 'x/one', '1');
      await store().put(bucket, 'x/two', '2');
      await store().delete(bucket, 'x/one');
      assert.equal(await store().get(bucket, 'x/one'), undefined);
      assert.equal(await store().head(bucket, 'x/one'), undefined);
      assert.deepEqual((await listAll(bucket)).keys, ['x/two']);
      await store().delete(bucket, 'x/one');
      await store().delete(bucket, 'never/written');
    });

    it('a protected bucket refuses deletion, even forced, and keeps its objects', async () => {
      const bucket = await newBucket('protected', { protected: true });
      await store().put(bucket, 'models/m.bin', 'weights');
      await assertCode(store().deleteBucket(bucket), 'E_BUCKET_PROTECTED');
      await assertCode(store().deleteBucket(bucket, { force: true }), 'E_BUCKET_PROTECTED');
      sameBytes(await store().get(bucket, 'models/m.bin'), 'weights');
    });

    it('listBuckets shows the buckets made, each with its protection, and not deleted ones; isProtected agrees', async () => {
      const startedAt = Date.now();
      const plain = await newBucket('listed');
      const guarded = await newBucket('listed-protected', { protected: true });
      const gone = await newBucket('listed-gone');
      await store().put(plain, 'k', 'v');
      await store().deleteBucket(gone);
      // Asking again without protection does not lower it; asking with it raises it.
      await store().createBucket(guarded);
      const raised = await newBucket('listed-raised');
      await store().createBucket(raised, { protected: true });

      const listed = await store().listBuckets();
      const names = listed.map((b) => b.name);
      assert.deepEqual(names, [...names].sort(), 'sorted by name');
      assert.equal(new Set(names).size, names.length, 'each bucket once');
      const byName = new Map(listed.map((b) => [b.name, b]));
      assert.equal(byName.get(plain)?.protected, false, `${plain} listed, unprotected`);
      assert.equal(byName.get(guarded)?.protected, true, `${guarded} listed, protected`);
      assert.equal(byName.get(raised)?.protected, true, `${raised} listed, protection raised`);
      assert.ok(!byName.has(gone), 'a deleted bucket is not listed');
      for (const bucket of [plain, guarded]) {
        const createdAt = byName.get(bucket)!.createdAt;
        assert.ok(
          createdAt === 0 || (createdAt >= startedAt - 60_000 && createdAt <= Date.now() + 60_000),
          `createdAt of ${bucket} is about now (or unknown): ${createdAt}`,
        );
      }
      assert.equal(await store().isProtected(plain), false);
      assert.equal(await store().isProtected(guarded), true);
      assert.equal(await store().isProtected(raised), true);
      await assertCode(store().isProtected(gone), 'E_BUCKET_NOT_FOUND');
      await assertCode(store().isProtected('Bad_Name'), 'E_BUCKET_NAME');
    });

    it('a protected bucket is deleted only when confirmProtected names it exactly', async () => {
      const bucket = await newBucket('confirm', { protected: true });
      await store().put(bucket, 'models/m.bin', 'weights');
      await assertCode(store().deleteBucket(bucket, { force: true }), 'E_BUCKET_PROTECTED');
      for (const wrong of ['', 'models', `${bucket}x`, bucket.toUpperCase(), ` ${bucket}`]) {
        await assertCode(store().deleteBucket(bucket, { force: true, confirmProtected: wrong }), 'E_BUCKET_PROTECTED');
      }
      sameBytes(await store().get(bucket, 'models/m.bin'), 'weights', 'refused deletions keep the objects');
      assert.ok((await store().listBuckets()).some((b) => b.name === bucket && b.protected));
      // Confirmation lifts protection, not the emptiness rule.
      await assertCode(store().deleteBucket(bucket, { confirmProtected: bucket }), 'E_BUCKET_NOT_EMPTY');
      await store().deleteBucket(bucket, { force: true, confirmProtected: bucket });
      await assertCode(store().get(bucket, 'models/m.bin'), 'E_BUCKET_NOT_FOUND');
      assert.ok(!(await store().listBuckets()).some((b) => b.name === bucket), 'gone from listBuckets');

      // Recreated under the same name, it starts unprotected: protection went with it.
      await store().createBucket(bucket);
      assert.equal(await store().isProtected(bucket), false);
      // confirmProtected is harmless on an unprotected bucket.
      await store().deleteBucket(bucket, { confirmProtected: bucket });
      await assertCode(store().list(bucket), 'E_BUCKET_NOT_FOUND');
    });

    it('a non-empty bucket refuses deletion without force; force deletes it with its objects', async () => {
      const bucket = await newBucket('nonempty');
      await store().put(bucket, 'k', 'v');
      await assertCode(store().deleteBucket(bucket), 'E_BUCKET_NOT_EMPTY');
      sameBytes(await store().get(bucket, 'k'), 'v');
      await store().deleteBucket(bucket, { force: true });
      await assertCode(store().get(bucket, 'k'), 'E_BUCKET_NOT_FOUND');

      const empty = await newBucket('empty');
      await store().put(empty, 'k', 'v');
      await store().delete(empty, 'k');
      await store().deleteBucket(empty);
      await assertCode(store().list(empty), 'E_BUCKET_NOT_FOUND');
    });

    it('bad keys are rejected with E_OBJECT_KEY', async () => {
      const bucket = await newBucket('keys');
      const bad = ['', '/absolute', '../escape', 'a/../b', 'a/..', 'x'.repeat(1025), 'é'.repeat(513)];
      for (const key of bad) {
        await assertCode(store().put(bucket, key, 'v'), 'E_OBJECT_KEY');
        await assertCode(store().get(bucket, key), 'E_OBJECT_KEY');
        await assertCode(store().head(bucket, key), 'E_OBJECT_KEY');
        await assertCode(store().delete(bucket, key), 'E_OBJECT_KEY');
      }
      // The limits themselves are fine.
      const longest = 'y'.repeat(Math.min(1024, fixture.serverMaxKeyBytes ?? 1024));
      await store().put(bucket, longest, 'v');
      sameBytes(await store().get(bucket, longest), 'v');
      await store().put(bucket, 'dots..in.name', 'v');
      assert.deepEqual((await listAll(bucket)).keys, ['dots..in.name', longest]);
    });

    it('a missing bucket is E_BUCKET_NOT_FOUND for every operation', async () => {
      const bucket = `conf-missing-${randomBytes(4).toString('hex')}`;
      await assertCode(store().put(bucket, 'k', 'v'), 'E_BUCKET_NOT_FOUND');
      await assertCode(store().get(bucket, 'k'), 'E_BUCKET_NOT_FOUND');
      await assertCode(store().head(bucket, 'k'), 'E_BUCKET_NOT_FOUND');
      await assertCode(store().list(bucket), 'E_BUCKET_NOT_FOUND');
      await assertCode(store().delete(bucket, 'k'), 'E_BUCKET_NOT_FOUND');
      await assertCode(store().deleteBucket(bucket), 'E_BUCKET_NOT_FOUND');
    });

    it('bad bucket names are rejected with E_BUCKET_NAME', async () => {
      for (const bucket of ['ab', 'Upper-Case', 'under_score', '-dash-first', 'x'.repeat(64), 'two..dots', '192.168.1.1']) {
        await assertCode(store().createBucket(bucket), 'E_BUCKET_NAME');
      }
    });
  });
}
