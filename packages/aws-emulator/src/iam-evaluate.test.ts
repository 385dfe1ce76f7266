/**
 * The evaluator: iam-simulate's verdicts with the reasons the report shows, and no silent
 * allow when the simulator is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { loadIamSimulator } from './iam-evaluate.ts';
import type { NamedPolicy } from './iam-policies.ts';

const PRINCIPAL = 'arn:aws:sts::123456789012:assumed-role/c1-worker/i-1';
const check = (action: string, resource: string, context: Record<string, string | string[]>) => ({
  action,
  resource,
  context,
  derived: [],
});

test('without the simulator there is no IAM truth: E_IAM_SIMULATOR_MISSING, never allow-all', async () => {
  await assert.rejects(
    loadIamSimulator('@synkti/no-such-simulator'),
    (error: unknown) => isSynktiError(error, 'E_IAM_SIMULATOR_MISSING') && /npm install/.test(error.hint ?? ''),
  );
});

test('verdicts: condition operators, explicit deny, unknown actions fail closed', async () => {
  const evaluator = await loadIamSimulator();
  const policies: NamedPolicy[] = [
    {
      name: 'inline:worker',
      policy: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'ec2:CreateTags',
            Resource: 'arn:aws:ec2:us-east-1:123456789012:instance/*',
            Condition: {
              StringEquals: { 'aws:ResourceTag/SynktiCluster': 'c1' },
              'ForAllValues:StringLike': { 'aws:TagKeys': ['Synkti*'] },
            },
          },
          {
            Effect: 'Deny',
            Action: 'ec2:CreateTags',
            Resource: '*',
            Condition: { 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['SynktiCluster'] } },
          },
        ],
      },
    },
  ];
  const arn = 'arn:aws:ec2:us-east-1:123456789012:instance/i-1';
  const own = { 'aws:ResourceTag/SynktiCluster': 'c1' };
  const evaluate = (c: ReturnType<typeof check>) =>
    evaluator.evaluate({ principalArn: PRINCIPAL, account: '123456789012', policies, check: c });
  assert.deepEqual(await evaluate(check('ec2:CreateTags', arn, { ...own, 'aws:TagKeys': ['SynktiState'] })), {
    allowed: true,
    reason: 'allowed',
  });
  const foreign = await evaluate(check('ec2:CreateTags', arn, { 'aws:ResourceTag/SynktiCluster': 'c2', 'aws:TagKeys': ['SynktiState'] }));
  assert.deepEqual(foreign, { allowed: false, reason: 'no identity-based policy allows the ec2:CreateTags action' });
  assert.equal((await evaluate(check('ec2:CreateTags', arn, { ...own, 'aws:TagKeys': ['Name'] }))).allowed, false);
  const denied = await evaluate(check('ec2:CreateTags', arn, { ...own, 'aws:TagKeys': ['SynktiCluster'] }));
  assert.deepEqual(denied, { allowed: false, reason: 'explicit deny in an identity-based policy' });
  const unknown = await evaluate(check('ec2:NoSuchAction', '*', {}));
  assert.equal(unknown.allowed, false);
  assert.match(unknown.reason, /simulator refused/);
});
