/** PulumiStateBackend under mocks: a kept, versioned, private, encrypted state bucket and a rotating KMS key per environment. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { AUDIT_RULES } from '../audit/audit-rules.ts';
import { auditResources } from '../audit/audit.ts';
import { one } from '../testing/find.ts';
import { MOCK_ACCOUNT, outputValue, runMockStack } from '../testing/mock-stack.ts';
import { PulumiStateBackend } from './state-backend.ts';

test('state bucket per environment: versioned, kept on destroy, private and encrypted; KMS key with rotation for secrets', async () => {
  const { resources, value } = await runMockStack((opts) => new PulumiStateBackend('state', {}, opts), { stack: 'production' });
  const bucket = one(resources, 'aws:s3/bucket:Bucket');
  assert.equal(bucket.inputs.bucket, `synkti-pulumi-state-production-${MOCK_ACCOUNT}`);
  assert.deepEqual([bucket.protect, bucket.retainOnDelete, bucket.inputs.forceDestroy], [true, true, false]);
  assert.deepEqual(one(resources, 'aws:s3/bucketVersioning:BucketVersioning').inputs.versioningConfiguration, { status: 'Enabled' });
  const key = one(resources, 'aws:kms/key:Key');
  assert.equal(key.inputs.enableKeyRotation, true);
  assert.equal(key.protect, true);
  assert.equal(one(resources, 'aws:kms/alias:Alias').inputs.name, 'alias/synkti-pulumi-production');
  assert.equal(await outputValue(value.backendUrl), `s3://synkti-pulumi-state-production-${MOCK_ACCOUNT}?region=us-east-1`);
  assert.equal(await outputValue(value.secretsProvider), 'awskms://alias/synkti-pulumi-production?region=us-east-1');
  assert.equal(auditResources(resources, { rules: AUDIT_RULES }).passed, true);
});

test('one backend per environment, named by it; bad inputs refused', async () => {
  const { resources } = await runMockStack(
    (opts) => new PulumiStateBackend('state', { environment: 'staging', projectName: 'acme' }, opts),
    { stack: 'ops' },
  );
  assert.equal(one(resources, 'aws:s3/bucket:Bucket').inputs.bucket, `acme-pulumi-state-staging-${MOCK_ACCOUNT}`);
  await assert.rejects(
    runMockStack((opts) => new PulumiStateBackend('state', { keepVersionsDays: 0 }, opts), { stack: 'dev' }),
    (e: unknown) => isSynktiError(e, 'E_INFRA_INPUT'),
  );
});
