import assert from 'node:assert/strict';
import { readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, afterEach, describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { LocalObjectStore } from './local-object-store.ts';

describe('LocalObjectStore (local-only behaviour)', () => {
  let root: string;
  let store: LocalObjectStore;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'synkti-objects-'));
    store = new LocalObjectStore({ root });
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('detects a damaged or truncated body on get (E_OBJECT_CORRUPT) while head still answers', async () => {
    await store.createBucket('data');
    const info = await store.put('data', 'ckpt/1', 'the full checkpoint state');
    const path = store.objectPath('data', 'ckpt/1');
    const file = readFileSync(path);
    file[file.length - 3] = file[file.length - 3]! ^ 0xff;
    writeFileSync(path, file);
    await assert.rejects(
      store.get('data', 'ckpt/1'),
      (e: unknown) => isSynktiError(e, 'E_OBJECT_CORRUPT') && e.message.includes('ckpt/1') && e.hint !== undefined,
    );
    assert.deepEqual(await store.head('data', 'ckpt/1'), info);
    truncateSync(path, file.length - 5);
    await assert.rejects(store.get('data', 'ckpt/1'), (e: unknown) => isSynktiError(e, 'E_OBJECT_CORRUPT'));
    writeFileSync(path, 'no header at all');
    await assert.rejects(store.get('data', 'ckpt/1'), (e: unknown) => isSynktiError(e, 'E_OBJECT_CORRUPT'));
    // Writing it again repairs it.
    await store.put('data', 'ckpt/1', 'rewritten');
    assert.equal(Buffer.from((await store.get('data', 'ckpt/1'))!).toString(), 'rewritten');
  });

  it('createBucket on an existing bucket keeps its objects and can raise protection but never lower it', async () => {
    await store.createBucket('models');
    await store.put('models', 'm', 'w');
    await store.createBucket('models', { protected: true });
    assert.equal(Buffer.from((await store.get('models', 'm'))!).toString(), 'w');
    await store.createBucket('models', { protected: false });
    await assert.rejects(
      store.deleteBucket('models', { force: true }),
      (e: unknown) =>
        isSynktiError(e, 'E_BUCKET_PROTECTED') && e.message.includes('models') && (e.hint ?? '').includes(join(root, 'models')),
    );
  });

  it('orders keys by their UTF-8 bytes, as S3 does, including keys too long for a file name', async () => {
    await store.createBucket('order');
    const long = (c: string) => `long/${c.repeat(300)}`;
    const keys = ['\uFF61', '\u{1F600}', 'z', long('b'), long('a'), 'long/short'];
    for (const key of keys) await store.put('order', key, key);
    const listed = (await store.list('order')).items.map((o) => o.key);
    assert.deepEqual(listed, [long('a'), long('b'), 'long/short', 'z', '\uFF61', '\u{1F600}']);
    assert.deepEqual(
      (await store.list('order', 'long/', { maxResults: 2 })).items.map((o) => o.key),
      [long('a'), long('b')],
    );
    assert.equal(Buffer.from((await store.get('order', long('b')))!).toString(), long('b'));
    await store.delete('order', long('a'));
    assert.equal(await store.head('order', long('a')), undefined);
  });

  it('leaves no temp files behind, ignores stray ones, and persists across store instances', async () => {
    await store.createBucket('keep');
    for (let i = 0; i < 5; i += 1) await store.put('keep', `k${i}`, `v${i}`);
    assert.deepEqual(
      readdirSync(join(root, 'keep')).filter((f) => f.startsWith('.tmp-')),
      [],
    );
    writeFileSync(join(root, 'keep', '.tmp-crashed-writer'), 'half a write');
    const again = new LocalObjectStore({ root });
    assert.deepEqual(
      (await again.list('keep')).items.map((o) => o.key),
      ['k0', 'k1', 'k2', 'k3', 'k4'],
    );
    for (let i = 0; i < 5; i += 1) await again.delete('keep', `k${i}`);
    await again.deleteBucket('keep');
  });

  it('rejects a nextToken it did not issue and a bad maxResults', async () => {
    await store.createBucket('pages');
    await assert.rejects(store.list('pages', '', { nextToken: '%%%' }), (e: unknown) => isSynktiError(e, 'E_PAGE_REQUEST'));
    await assert.rejects(store.list('pages', '', { maxResults: 0 }), (e: unknown) => isSynktiError(e, 'E_PAGE_REQUEST'));
  });
});
