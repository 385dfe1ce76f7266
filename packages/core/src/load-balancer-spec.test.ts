import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from './config-error.ts';
import { validateCluster } from './cluster-spec.ts';
import { deserializeCluster, serializeCluster } from './cluster-serialization.ts';
import { TARGET_GROUP_ARN_EXAMPLE } from './load-balancer-spec.ts';

const base = { name: 'lb', provider: 'aws', pools: { worker: { count: 2 } } } as const;

test('serve.loadBalancer: defaults filled, carried in user data and validated again', () => {
  const spec = validateCluster({ ...base, serve: { loadBalancer: { targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE, TARGET_GROUP_ARN_EXAMPLE] } } });
  assert.deepEqual(spec.serve.loadBalancer, { targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE], targetType: 'instance', registerSelf: true, discover: false });
  assert.deepEqual(deserializeCluster(serializeCluster(spec)).serve, spec.serve);
  assert.equal(validateCluster(base).serve.loadBalancer, undefined, 'absent unless asked for');
  const tampered = JSON.parse(serializeCluster(spec)) as { spec: { serve: { loadBalancer: { targetGroupArns: string[] } } } };
  tampered.spec.serve.loadBalancer.targetGroupArns = ['arn:aws:iam::123456789012:role/admin'];
  assert.throws(() => deserializeCluster(JSON.stringify(tampered)), /serve\.loadBalancer\.targetGroupArns/);
});

test('serve.loadBalancer: a bad ARN and an unknown field are named with the fix', () => {
  try {
    validateCluster({ ...base, serve: { loadBalancer: { targetGroupArns: ['arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/0123456789abcdef'], targetTyp: 'ip' } } });
    assert.fail('accepted');
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    const issues = error.issues.map((i) => [i.path, i.message, i.hint]);
    assert.ok(issues.some(([path, message, hint]) => path === 'serve.loadBalancer.targetGroupArns.0' && /is not a target group ARN/.test(message!) && /targetgroup\//.test(hint!)), JSON.stringify(issues));
    assert.ok(issues.some(([path, , hint]) => path === 'serve.loadBalancer.targetTyp' && hint === 'did you mean "targetType"?'), JSON.stringify(issues));
  }
});
