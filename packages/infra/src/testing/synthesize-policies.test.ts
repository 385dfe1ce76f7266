/**
 * The roles a stack synthesizes are what its components build: the worker role of a
 * SpotServeFleet with its trust policy, inline policy, managed policy and profile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synthesizeServeFleetRoles } from '@synkti/infra/testing';
import { SSM_MANAGED_POLICY_ARN } from '../aws/iam-policy.ts';

test('SpotServeFleet: the worker role, as the component builds it', async () => {
  const roles = await synthesizeServeFleetRoles(
    { projectName: 'iamt', agentReplacement: true },
    { stack: 'dev', workerSecurityGroupId: 'sg-0123456789abcdef0' },
  );
  assert.deepEqual(
    roles.map((r) => r.name),
    ['iamt-worker'],
  );
  const role = roles[0]!;
  assert.equal(role.arn, 'arn:aws:iam::123456789012:role/iamt-worker');
  assert.deepEqual(role.trustPolicy.Statement[0]?.Principal, { Service: 'ec2.amazonaws.com' });
  assert.deepEqual(role.managedPolicyArns, [SSM_MANAGED_POLICY_ARN]);
  assert.deepEqual(role.instanceProfiles, ['iamt-worker']);
  assert.equal(role.inlinePolicies.length, 1);
  // The given security group id lands in the policy (and only the security group's id changed).
  assert.match(JSON.stringify(role.inlinePolicies[0]!.document), /security-group\/sg-0123456789abcdef0/);
  const actions = role.inlinePolicies[0]!.document.Statement.flatMap((s) => [s.Action].flat());
  for (const action of [
    'ec2:DescribeInstances',
    'ec2:CreateTags',
    'ec2:TerminateInstances',
    'ec2:RunInstances',
    'iam:PassRole',
    's3:GetObject',
  ]) {
    assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
  }
  // Everything resolved to plain strings (no unresolved outputs).
  assert.doesNotMatch(JSON.stringify(role), /Calling \[toString\]|<computed>|undefined/);
});
