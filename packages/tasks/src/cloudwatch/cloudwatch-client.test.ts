import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { validateDimensionValue } from './put-metric-data.ts';
import { importAwsSdk } from './lazy-aws-sdk.ts';

test('--metrics-cluster values follow CloudWatch dimension value rules', () => {
  for (const ok of ['synkti-dev', 'prod_a.b:c/d', 'x', 'a'.repeat(1024)]) assert.equal(validateDimensionValue(ok), ok);
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['a'.repeat(1025), /1025 characters.*at most 1024/],
    ['é-prod', /printable ASCII/],
    ['a\tb', /printable ASCII/],
    [' prod', /starts or ends with a space/],
    ['prod ', /starts or ends with a space/],
  ];
  for (const [value, message] of bad) {
    assert.throws(
      () => validateDimensionValue(value),
      (e: unknown) => isSynktiError(e, 'E_USAGE') && message.test((e as Error).message) && /--metrics-cluster/.test((e as Error).message),
      JSON.stringify(value),
    );
  }
});

test('a missing AWS SDK package is a clear error saying what to install; other load errors pass through', async () => {
  const notFound = Object.assign(new Error("Cannot find package '@aws-sdk/client-cloudwatch'"), { code: 'ERR_MODULE_NOT_FOUND' });
  await assert.rejects(
    importAwsSdk(() => Promise.reject(notFound), '@aws-sdk/client-cloudwatch', 'publishing the batch backlog', 'drop --metrics-cluster'),
    (e: unknown) => {
      assert.ok(isSynktiError(e, 'E_AWS_SDK_MISSING'));
      assert.match(e.message, /publishing the batch backlog needs the AWS SDK package @aws-sdk\/client-cloudwatch/);
      assert.equal(e.hint, 'npm install @aws-sdk/client-cloudwatch@3 -w synkti, or drop --metrics-cluster');
      assert.equal(e.cause, notFound);
      return true;
    },
  );
  const other = new SyntaxError('boom');
  await assert.rejects(
    importAwsSdk(() => Promise.reject(other), 'x', 'y', 'z'),
    (e: unknown) => e === other,
  );
  const sdk = await importAwsSdk(() => import('@aws-sdk/client-cloudwatch'), '@aws-sdk/client-cloudwatch', 'y', 'z');
  assert.equal(typeof sdk.PutMetricDataCommand, 'function', 'installed as a dependency of @synkti/tasks');
});
