/**
 * The S3 object store against a real S3-compatible server (s3rver, started here): the
 * ObjectStore conformance suite, multipart uploads, checksum verification on get, and
 * errors that name the missing permission (those on aws-sdk-client-mock).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { isSynktiError } from '@synkti/core';
import { runObjectStoreConformance } from '../../conformance/object-store.ts';
import { OWNER_MARKER_KEY, PROTECTION_MARKER_KEY, S3ObjectStore, SHA256_METADATA } from './s3-object-store.ts';
import { startTestS3, type TestS3 } from './testing/s3rver.ts';

function storeOn(s3: TestS3, extra: Partial<ConstructorParameters<typeof S3ObjectStore>[0]> = {}): S3ObjectStore {
  // s3rver implements neither PutPublicAccessBlock nor PutBucketEncryption.
  return new S3ObjectStore({ endpoint: s3.endpoint, region: 'us-east-1', credentials: s3.credentials, secureNewBuckets: false, ...extra });
}

runObjectStoreConformance('s3 (s3rver)', async () => {
  const s3 = await startTestS3();
  // s3rver stores a key as a file name (255 bytes with its suffix; real S3 takes 1,024)
  // and rewrites an object's file in place (S3 replaces objects atomically).
  return { store: storeOn(s3), cleanup: () => s3.stop(), serverMaxKeyBytes: 200, serverOverwritesAtomically: false };
});

describe('S3ObjectStore on s3rver', () => {
  let s3: TestS3;
  before(async () => {
    s3 = await startTestS3();
  });
  after(async () => {
    await s3?.stop();
  });

  it('uploads a large body in parts and reads back exactly what was written', async () => {
    const store = storeOn(s3, { multipartThresholdBytes: 6 * 1024 * 1024, partSizeBytes: 5 * 1024 * 1024 });
    await store.createBucket('multipart-test');
    const body = randomBytes(12 * 1024 * 1024 + 123);
    const info = await store.put('multipart-test', 'models/weights.bin', body);
    assert.equal(info.size, body.length);
    assert.equal(info.sha256, createHash('sha256').update(body).digest('hex'));
    const back = await store.get('multipart-test', 'models/weights.bin');
    assert.ok(back && Buffer.from(back).equals(body), 'the body read back is the one written');
    assert.deepEqual(await store.head('multipart-test', 'models/weights.bin'), info);
  });

  it('refuses a body that no longer matches its SHA-256 (E_OBJECT_CORRUPT)', async () => {
    const store = storeOn(s3);
    await store.createBucket('corrupt-test');
    await store.put('corrupt-test', 'ckpt/gen-1.json', '{"generation":1}');
    // Another writer replaces the body but keeps our metadata: what a damaged copy looks like.
    await store.client.send(
      new PutObjectCommand({
        Bucket: 'corrupt-test',
        Key: 'ckpt/gen-1.json',
        Body: '{"generation":2}',
        Metadata: { [SHA256_METADATA]: createHash('sha256').update('{"generation":1}').digest('hex') },
      }),
    );
    await assert.rejects(
      store.get('corrupt-test', 'ckpt/gen-1.json'),
      (e: unknown) => isSynktiError(e, 'E_OBJECT_CORRUPT') && e.message.includes('ckpt/gen-1.json'),
    );
  });

  it('hides the protection marker from list and refuses to overwrite it', async () => {
    const store = storeOn(s3);
    await store.createBucket('marker-test', { protected: true });
    await store.put('marker-test', 'a', '1');
    const page = await store.list('marker-test');
    assert.deepEqual(
      page.items.map((o) => o.key),
      ['a'],
    );
    const single = await store.list('marker-test', undefined, { maxResults: 1 });
    assert.deepEqual(
      single.items.map((o) => o.key),
      ['a'],
      'a page holding only the marker is skipped',
    );
    await assert.rejects(store.put('marker-test', PROTECTION_MARKER_KEY, '{}'), (e: unknown) => isSynktiError(e, 'E_OBJECT_KEY'));
    await assert.rejects(store.delete('marker-test', PROTECTION_MARKER_KEY), (e: unknown) => isSynktiError(e, 'E_OBJECT_KEY'));
    // Asking again without protection does not lower it.
    await store.createBucket('marker-test');
    await assert.rejects(store.deleteBucket('marker-test', { force: true }), (e: unknown) => isSynktiError(e, 'E_BUCKET_PROTECTED'));
  });

  it("listBuckets lists only buckets with a Synkti marker, not the account's other buckets", async () => {
    const store = storeOn(s3);
    await store.client.send(new CreateBucketCommand({ Bucket: 'someone-elses' }));
    await store.client.send(new CreateBucketCommand({ Bucket: 'adopted-later' }));
    await store.createBucket('synkti-own');
    const names = async () => (await store.listBuckets()).map((b) => b.name);
    assert.ok((await names()).includes('synkti-own'));
    assert.ok(!(await names()).includes('someone-elses'), 'a bucket without our marker is not listed');
    assert.ok(!(await names()).includes('adopted-later'));
    // createBucket on an existing bucket marks it as ours.
    await store.createBucket('adopted-later');
    assert.ok((await names()).includes('adopted-later'));
    // The owner marker is hidden from list and reserved, and an empty marked bucket counts as empty.
    assert.deepEqual((await store.list('synkti-own')).items, []);
    await assert.rejects(store.put('synkti-own', OWNER_MARKER_KEY, '{}'), (e: unknown) => isSynktiError(e, 'E_OBJECT_KEY'));
    await store.deleteBucket('synkti-own');
    assert.ok(!(await names()).includes('synkti-own'));
  });
});

describe('S3ObjectStore requests (aws-sdk-client-mock)', () => {
  it('a new bucket gets every public-access block and default encryption', async () => {
    const mock = mockClient(S3Client);
    mock.on(CreateBucketCommand).resolves({});
    mock.on(PutPublicAccessBlockCommand).resolves({});
    mock.on(PutBucketEncryptionCommand).resolves({});
    const store = new S3ObjectStore({ client: new S3Client({ region: 'us-east-1' }) });
    await store.createBucket('acme-checkpoints');
    const block = mock.commandCalls(PutPublicAccessBlockCommand)[0]?.args[0].input.PublicAccessBlockConfiguration;
    assert.deepEqual(block, { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true });
    const rule = mock.commandCalls(PutBucketEncryptionCommand)[0]?.args[0].input.ServerSideEncryptionConfiguration?.Rules?.[0];
    assert.equal(rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, 'AES256');
    mock.restore();
  });

  it('every put and part carries Content-MD5 and the SHA-256 metadata', async () => {
    const mock = mockClient(S3Client);
    mock.on(PutObjectCommand).resolves({});
    const store = new S3ObjectStore({ client: new S3Client({ region: 'us-east-1' }) });
    await store.put('acme-checkpoints', 'k', 'body');
    const input = mock.commandCalls(PutObjectCommand)[0]?.args[0].input;
    assert.equal(input?.ContentMD5, createHash('md5').update('body').digest('base64'));
    assert.equal(input?.Metadata?.[SHA256_METADATA], createHash('sha256').update('body').digest('hex'));
    mock.restore();
  });

  it('a denied action names the S3 permission and the resource', async () => {
    const mock = mockClient(S3Client);
    const denied = Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    mock.on(PutObjectCommand).rejects(denied);
    const store = new S3ObjectStore({ client: new S3Client({ region: 'us-east-1' }) });
    await assert.rejects(
      store.put('acme-checkpoints', 'ckpt/1', 'x'),
      (e: unknown) =>
        isSynktiError(e, 'E_AWS_PERMISSION') &&
        e.message.includes('s3:PutObject') &&
        (e.hint ?? '').includes('arn:aws:s3:::acme-checkpoints/ckpt/1'),
    );
    mock.restore();
  });

  it('a failed multipart upload is aborted, not left to be billed', async () => {
    const mock = mockClient(S3Client);
    const { CreateMultipartUploadCommand, AbortMultipartUploadCommand } = await import('@aws-sdk/client-s3');
    mock.on(CreateMultipartUploadCommand).resolves({ UploadId: 'u-1' });
    mock.on(UploadPartCommand).rejects(Object.assign(new Error('boom'), { name: 'InternalError', $metadata: { httpStatusCode: 500 } }));
    mock.on(AbortMultipartUploadCommand).resolves({});
    const store = new S3ObjectStore({
      client: new S3Client({ region: 'us-east-1' }),
      multipartThresholdBytes: 1,
      partSizeBytes: 5 * 1024 * 1024,
    });
    await assert.rejects(store.put('acme-checkpoints', 'big', 'xx'), (e: unknown) => isSynktiError(e, 'E_AWS_S3'));
    assert.equal(mock.commandCalls(AbortMultipartUploadCommand).length, 1);
    assert.equal(mock.commandCalls(CompleteMultipartUploadCommand).length, 0);
    mock.restore();
  });
});
