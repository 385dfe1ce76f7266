/**
 * SpotServeFleet's part in leaving the load balancer at t=0 (under Pulumi mocks): the
 * deregistration delay fits inside the notice, the worker may deregister and register
 * exactly the fleet's target group (tag-scoped, no wildcard), and the agents learn the
 * group's ARN from their config (user data, which replacements boot with) and launch tag.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_TARGET_GROUPS, deserializeCluster, serializeCluster, validateCluster } from '@synkti/core';
import { SpotServeFleet, type SpotServeFleetArgs } from './aws/spot-serve-fleet.ts';
import type { PolicyDocument } from './aws/iam-policy.ts';
import { MOCK_ACCOUNT, outputValue, runMockStack, type RecordedResource } from './testing/mock-stack.ts';
import { one, ofType } from './testing/find.ts';

const BOOT = { agentVersion: '0.1.0', agentSha256: 'ab'.repeat(32), nodeVersion: '20.18.1', nodeSha256: 'cd'.repeat(32) };
const TG_ARN = `arn:aws:elasticloadbalancing:us-east-1:${MOCK_ACCOUNT}:targetgroup/synktimock/0123456789abcdef`;

async function serve(args: SpotServeFleetArgs) {
  return runMockStack((opts) => new SpotServeFleet('serve', args, opts), { stack: 'llm' });
}

function documentOf(r: RecordedResource): PolicyDocument {
  return JSON.parse(r.inputs.policy as string) as PolicyDocument;
}

test('behind a load balancer: 90 s deregistration delay, the worker may leave and join exactly its target group, the agents know the ARN', async () => {
  const clusterConfig = serializeCluster(validateCluster({ name: 'synkti', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 2 } }, workload: { command: ['vllm', 'serve'] } }));
  const { resources, value } = await serve({ loadBalancer: {}, boot: BOOT, clusterConfig });
  const tg = one(resources, 'aws:lb/targetGroup:TargetGroup');
  assert.equal(tg.inputs.deregistrationDelay, 90);
  assert.equal(tg.inputs.targetType, 'instance');
  assert.equal((tg.inputs.tags as Record<string, string>).SynktiCluster, 'synkti', 'the tag the grant is scoped by');
  assert.equal(await outputValue(value.targetGroupArn), TG_ARN);

  const policy = documentOf(one(resources, 'aws:iam/rolePolicy:RolePolicy', 'serve-worker-load-balancer'));
  assert.deepEqual(policy.Statement, [{
    Sid: 'LeaveAndJoinOwnTargetGroup',
    Effect: 'Allow',
    Action: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'],
    Resource: TG_ARN,
    Condition: { StringEquals: { 'aws:ResourceTag/SynktiCluster': 'synkti' } },
  }]);
  // Nothing else about load balancers anywhere in the worker's policies (no Describe*, no wildcard).
  const elbStatements = ofType(resources, 'aws:iam/rolePolicy:RolePolicy').flatMap((r) => documentOf(r).Statement)
    .filter((s) => [s.Action].flat().some((a) => String(a).startsWith('elasticloadbalancing:')));
  assert.equal(elbStatements.length, 1);

  const lt = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate');
  for (const spec of lt.inputs.tagSpecifications as Array<{ resourceType: string; tags: Record<string, string> }>) {
    assert.equal(spec.tags[TAG_TARGET_GROUPS], TG_ARN, `${spec.resourceType} launch tag`);
  }
  const script = Buffer.from(lt.inputs.userData as string, 'base64').toString('utf8');
  const written = /^write_file '\/etc\/synkti\/cluster\.json' 0644 <<'SYNKTI_EOF'\n([\s\S]*?)\nSYNKTI_EOF$/m.exec(script)?.[1];
  assert.ok(written, 'the boot script writes the agent config');
  assert.deepEqual(deserializeCluster(written).serve.loadBalancer, { targetGroupArns: [TG_ARN], targetType: 'instance', registerSelf: true, discover: false },
    'every worker and every replacement it launches (same user data) knows its group');
});

test('without a load balancer the worker gets no ELB permission and no target group tag', async () => {
  const { resources, value } = await serve({ boot: BOOT });
  assert.equal(ofType(resources, 'aws:lb/targetGroup:TargetGroup').length, 0);
  const text = ofType(resources, 'aws:iam/rolePolicy:RolePolicy').map((r) => r.inputs.policy as string).join('\n');
  assert.doesNotMatch(text, /elasticloadbalancing/);
  const lt = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate');
  assert.equal((lt.inputs.tagSpecifications as Array<{ tags: Record<string, string> }>)[0]!.tags[TAG_TARGET_GROUPS], undefined);
  assert.equal(await outputValue(value.targetGroupArn), undefined);
});

test('the deregistration delay must end inside the notice (120 s − the drain margin), named with the fix', async () => {
  await assert.rejects(serve({ loadBalancer: { deregistrationDelaySeconds: 200 } }), /loadBalancer\.deregistrationDelaySeconds must be a whole number of seconds from 0 to 115 \(got 200\)/);
  const longMargin = serializeCluster(validateCluster({ name: 'synkti', provider: 'aws', pools: { worker: { count: 1 } }, timeouts: { drainMargin: '40s' } }));
  await assert.rejects(serve({ loadBalancer: {}, clusterConfig: longMargin }), (error: unknown) => {
    assert.match(String((error as Error).message), /from 0 to 80 \(got 90\)/, 'the default does not fit a 40 s margin');
    assert.match(String((error as { hint?: string }).hint), /timeouts\.drainMargin/);
    return true;
  });
  const { resources } = await serve({ loadBalancer: { deregistrationDelaySeconds: 80 }, clusterConfig: longMargin });
  assert.equal(one(resources, 'aws:lb/targetGroup:TargetGroup').inputs.deregistrationDelay, 80);
  const ip = serializeCluster(validateCluster({ name: 'synkti', provider: 'aws', pools: { worker: { count: 1 } }, serve: { loadBalancer: { targetType: 'ip' } } }));
  await assert.rejects(serve({ loadBalancer: {}, clusterConfig: ip }), /targetType 'ip', but the fleet's target group names instances/);
});
