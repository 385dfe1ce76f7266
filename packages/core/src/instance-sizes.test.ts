import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIZES, SIZE_TO_INSTANCE_TYPE, SIZE_TO_INSTANCE_TYPES } from './instance-sizes.ts';

test('every size maps to an instance type on every provider', () => {
  assert.deepEqual(SIZE_TO_INSTANCE_TYPE.local, { small: 'local.small', medium: 'local.medium', large: 'local.large', gpu: 'local.gpu' });
  assert.deepEqual(SIZE_TO_INSTANCE_TYPE.aws, { small: 't3.medium', medium: 'm6i.xlarge', large: 'm6i.4xlarge', gpu: 'g5.xlarge' });
});

test('the GPU size has spot fallbacks, preferred first', () => {
  assert.deepEqual(SIZE_TO_INSTANCE_TYPES.aws.gpu, ['g5.xlarge', 'g6.xlarge', 'g4dn.xlarge']);
  for (const provider of ['local', 'aws'] as const) {
    for (const size of SIZES) assert.equal(SIZE_TO_INSTANCE_TYPES[provider][size][0], SIZE_TO_INSTANCE_TYPE[provider][size]);
  }
});
