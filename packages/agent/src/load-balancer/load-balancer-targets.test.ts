/**
 * Leaving (and joining) the load balancer, against a real ELBv2 API (moto_server): a VPC
 * on 127.100.0.0/16, two instances, target groups by instance and by IP; and the same
 * calls made as the worker role SpotServeFleet synthesizes, through the IAM-checking proxy
 * (one moto for the file: its EC2 and ELB start-up costs seconds). Failure paths moto
 * cannot produce (throttling) run on aws-sdk-client-mock.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { TAG_CLUSTER, TAG_TARGET_GROUPS, TARGET_GROUP_ARN_EXAMPLE, validateCluster, type LoadBalancerSpec } from '@synkti/core';
import { synthesizeServeFleetRoles } from '@synkti/infra/testing';
import { startMotoOrSkip } from '@synkti/aws-emulator/testing';
import { MOTO_IAM_ENV, startIamTruth, type IamTruth, type MotoServer } from '@synkti/aws-emulator';
import { createLogger } from '../logger.ts';
import { LoadBalancerTargets, type SelfTarget } from './load-balancer-targets.ts';
import { targetGroupSource } from './target-group-source.ts';
import { awsLoadBalancer } from './aws-load-balancer.ts';

const quiet = createLogger({}, { write() {} });
let moto: MotoServer | undefined;
let skip: string | undefined;
let elb: ElasticLoadBalancingV2Client;
let vpcId = '';
let nodes: SelfTarget[] = [];
const CLUSTER = 'lbiam';
const ROLE = `${CLUSTER}-worker`;
const IMAGE = 'ami-12c6146b'; // one of moto's images
let truth: IamTruth | undefined;
let profileArn = '';
let fleetGroup = '';

before(async () => {
  const started = await startMotoOrSkip({ env: { ...MOTO_IAM_ENV } });
  if (started.skip !== undefined) {
    skip = started.skip;
    return;
  }
  moto = started.service;
  const ec2 = new EC2Client(moto.clientConfig());
  elb = new ElasticLoadBalancingV2Client({ ...moto.clientConfig(), maxAttempts: 1 });
  try {
    // Instances on loopback addresses: each emulated node gets its own 127.100.x.y.
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '127.100.0.0/16' }));
    vpcId = vpc.Vpc!.VpcId!;
    const subnets = await Promise.all(
      ['127.100.1.0/24', '127.100.2.0/24'].map(
        async (CidrBlock) => (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock }))).Subnet!.SubnetId!,
      ),
    );
    const sg = await ec2.send(new CreateSecurityGroupCommand({ GroupName: `${CLUSTER}-worker`, Description: 'workers', VpcId: vpcId }));
    // The fleet's target group as the stack makes it: tagged with its cluster (the grant is scoped by it).
    fleetGroup = (
      await elb.send(
        new CreateTargetGroupCommand({
          Name: `${CLUSTER}-routers`,
          Protocol: 'HTTP',
          Port: 8080,
          VpcId: vpcId,
          TargetType: 'instance',
          Tags: [{ Key: TAG_CLUSTER, Value: CLUSTER }],
        }),
      )
    ).TargetGroups![0]!.TargetGroupArn!;
    // The worker role SpotServeFleet synthesizes (Pulumi mocks); AWS names the target group at
    // creation, so its policy names the one moto made (nothing else changes).
    const roles = await synthesizeServeFleetRoles(
      { projectName: CLUSTER, loadBalancer: {}, vpcId, subnetIds: subnets, imageId: IMAGE },
      { stack: 'dev', workerSecurityGroupId: sg.GroupId! },
    );
    const worker = roles.find((r) => r.name === ROLE)!;
    const mockArn = /arn:aws:elasticloadbalancing:[^"]+:targetgroup\/[^"]+/.exec(JSON.stringify(worker.inlinePolicies))![0];
    for (const inline of worker.inlinePolicies)
      inline.document = JSON.parse(JSON.stringify(inline.document).replaceAll(mockArn, fleetGroup)) as typeof inline.document;
    truth = await startIamTruth({ moto, roles });
    profileArn = truth.roles.find((r) => r.name === ROLE)!.instanceProfiles[0]!.arn;
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: IMAGE,
        MinCount: 2,
        MaxCount: 2,
        SubnetId: subnets[0],
        InstanceType: 't3.micro',
        IamInstanceProfile: { Arn: profileArn },
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: [
              { Key: TAG_CLUSTER, Value: CLUSTER },
              { Key: 'SynktiRole', Value: 'worker' },
            ],
          },
        ],
      }),
    );
    nodes = run.Instances!.map((i) => ({ instanceId: i.InstanceId!, privateIp: i.PrivateIpAddress!, port: 8080 }));
  } finally {
    ec2.destroy();
  }
});
after(async () => {
  elb?.destroy();
  await truth?.stop();
  await moto?.stop();
});

async function targetGroup(name: string, targetType: 'instance' | 'ip'): Promise<string> {
  const created = await elb.send(
    new CreateTargetGroupCommand({ Name: name, Protocol: 'HTTP', Port: 8080, VpcId: vpcId, TargetType: targetType }),
  );
  return created.TargetGroups![0]!.TargetGroupArn!;
}

/** Target id → state, as the load balancer sees each node. */
async function health(arn: string, ids: string[]): Promise<Record<string, string | undefined>> {
  const answer = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: arn, Targets: ids.map((Id) => ({ Id, Port: 8080 })) }));
  return Object.fromEntries((answer.TargetHealthDescriptions ?? []).map((d) => [d.Target!.Id!, d.TargetHealth?.State]));
}

const inGroup = (state: string | undefined): boolean => state !== undefined && state !== 'unused' && state !== 'draining';

test('each node registers itself once ready; at the notice one leaves and the other stays (instance targets)', async (t) => {
  if (skip) return t.skip(skip);
  const arn = await targetGroup('routers', 'instance');
  const [a, b] = nodes as [SelfTarget, SelfTarget];
  const members = [a, b].map((self) => new LoadBalancerTargets({ client: elb, targetGroupArns: [arn], self, logger: quiet }));
  const joined = await Promise.all(members.map((m) => m.register()));
  assert.deepEqual(
    joined.map((r) => r.map((x) => x.outcome)),
    [['registered'], ['registered']],
  );
  let states = await health(arn, [a.instanceId, b.instanceId]);
  assert.ok(inGroup(states[a.instanceId]) && inGroup(states[b.instanceId]), `both registered: ${JSON.stringify(states)}`);

  const exit = await members[0]!.deregister({ deadline: Date.now() + 10_000 });
  assert.deepEqual(
    exit.results.map((r) => [r.targetGroupArn, r.target, r.outcome]),
    [[arn, { Id: a.instanceId, Port: 8080 }, 'deregistered']],
  );
  states = await health(arn, [a.instanceId, b.instanceId]);
  assert.ok(!inGroup(states[a.instanceId]), `the leaving node gets no new requests: ${String(states[a.instanceId])}`);
  assert.ok(inGroup(states[b.instanceId]), `the other node is untouched: ${String(states[b.instanceId])}`);

  // Handled once: a repeated notice returns the same result without another call.
  assert.equal(await members[0]!.deregister({ deadline: Date.now() + 10_000 }), exit);
  // A draining node never registers again (a late "ready" must not put it back).
  assert.deepEqual(await members[0]!.register(), []);
  // Idempotent across processes too (an agent restarted mid-drain): leaving again is not a failure.
  const again = await new LoadBalancerTargets({ client: elb, targetGroupArns: [arn], self: a, logger: quiet }).deregister({
    deadline: Date.now() + 10_000,
  });
  assert.ok(['deregistered', 'not-registered'].includes(again.results[0]!.outcome), again.results[0]!.outcome);
});

test('the worker wiring: no group named, no client; a group in the launch tag is joined and left through the real API', async (t) => {
  if (skip) return t.skip(skip);
  const arn = await targetGroup('routers-tagged', 'instance');
  const [a] = nodes as [SelfTarget];
  const spec = validateCluster({ name: 'lb', provider: 'aws', pools: { worker: { count: 1 } } });
  const factory = awsLoadBalancer({ spec, region: moto!.region, logger: quiet, clientConfig: moto!.clientConfig() });
  assert.equal(
    factory({ instanceId: a.instanceId, privateIp: a.privateIp, routerPort: 8080, tags: {} }),
    undefined,
    'behind no load balancer: nothing to do',
  );
  const member = factory({ instanceId: a.instanceId, privateIp: a.privateIp, routerPort: 8080, tags: { [TAG_TARGET_GROUPS]: arn } })!;
  assert.deepEqual(
    (await member.register()).map((r) => r.outcome),
    ['registered'],
  );
  assert.ok(inGroup((await health(arn, [a.instanceId]))[a.instanceId]));
  assert.deepEqual(
    (await member.deregister({ deadline: Date.now() + 10_000 })).results.map((r) => r.outcome),
    ['deregistered'],
  );
  assert.ok(!inGroup((await health(arn, [a.instanceId]))[a.instanceId]));
});

test('ip target groups name the node by its private IP and the router port', async (t) => {
  if (skip) return t.skip(skip);
  const arn = await targetGroup('routers-ip', 'ip');
  const [a, b] = nodes as [SelfTarget, SelfTarget];
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [a, b].map((n) => ({ Id: n.privateIp, Port: 8080 })) }));
  const exit = await new LoadBalancerTargets({ client: elb, targetGroupArns: [arn], targetType: 'ip', self: a, logger: quiet }).deregister({
    deadline: Date.now() + 10_000,
  });
  assert.deepEqual(
    exit.results.map((r) => [r.target, r.outcome]),
    [[{ Id: a.privateIp, Port: 8080 }, 'deregistered']],
  );
  const states = await health(arn, [a.privateIp, b.privateIp]);
  assert.ok(!inGroup(states[a.privateIp]) && inGroup(states[b.privateIp]), JSON.stringify(states));
});

test('discovery (the fallback with no ARN known) finds the groups the node is in, and only those', async (t) => {
  if (skip) return t.skip(skip);
  const [a, b] = nodes as [SelfTarget, SelfTarget];
  const byInstance = await targetGroup('disc-instance', 'instance');
  const byIp = await targetGroup('disc-ip', 'ip');
  const other = await targetGroup('disc-other', 'instance');
  await elb.send(
    new RegisterTargetsCommand({
      TargetGroupArn: byInstance,
      Targets: [
        { Id: a.instanceId, Port: 8080 },
        { Id: b.instanceId, Port: 8080 },
      ],
    }),
  );
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: byIp, Targets: [{ Id: a.privateIp, Port: 8080 }] }));
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: other, Targets: [{ Id: b.instanceId, Port: 8080 }] }));
  const exit = await new LoadBalancerTargets({ client: elb, targetGroupArns: [], discover: true, self: a, logger: quiet }).deregister({
    deadline: Date.now() + 10_000,
  });
  const left = exit.results
    .filter((r) => r.outcome === 'deregistered')
    .map((r) => r.targetGroupArn)
    .sort();
  assert.deepEqual(left, [byInstance, byIp].sort());
  assert.ok(!inGroup((await health(byInstance, [a.instanceId]))[a.instanceId]));
  assert.ok(inGroup((await health(byInstance, [b.instanceId]))[b.instanceId]), 'the peer stays in the shared group');
  assert.ok(!inGroup((await health(byIp, [a.privateIp]))[a.privateIp]));
  assert.ok(inGroup((await health(other, [b.instanceId]))[b.instanceId]), 'a group the node is not in is not touched');
});

test('a target group that does not exist: reported with its ARN, no throw, other groups still left', async (t) => {
  if (skip) return t.skip(skip);
  const [a] = nodes as [SelfTarget];
  const arn = await targetGroup('routers-missing', 'instance');
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: [{ Id: a.instanceId, Port: 8080 }] }));
  const missing = `${arn.slice(0, arn.lastIndexOf('/'))}/0123456789abcdef`;
  const exit = await new LoadBalancerTargets({ client: elb, targetGroupArns: [missing, arn], self: a, logger: quiet }).deregister({
    deadline: Date.now() + 10_000,
  });
  const [gone, ok] = exit.results;
  assert.equal(gone!.outcome, 'failed');
  assert.equal(gone!.error?.code, 'E_LB_TARGET_GROUP_NOT_FOUND');
  assert.match(gone!.error!.message, new RegExp(missing.replaceAll('/', '\\/')));
  assert.equal(gone!.attempts, 1, 'not retried: retrying cannot create the group');
  assert.equal(ok!.outcome, 'deregistered');
});

test("as the worker role SpotServeFleet makes, through the IAM check: leaving (and joining) the fleet's group is allowed, another group is denied and named", async (t) => {
  if (skip) return t.skip(skip);
  const [self, peer] = nodes as [SelfTarget, SelfTarget];
  const otherGroup = (
    await elb.send(
      new CreateTargetGroupCommand({
        Name: 'other-routers',
        Protocol: 'HTTP',
        Port: 8080,
        VpcId: vpcId,
        TargetType: 'instance',
        Tags: [{ Key: TAG_CLUSTER, Value: 'other' }],
      }),
    )
  ).TargetGroups![0]!.TargetGroupArn!;
  await elb.send(
    new RegisterTargetsCommand({ TargetGroupArn: fleetGroup, Targets: [self, peer].map((n) => ({ Id: n.instanceId, Port: 8080 })) }),
  );
  await elb.send(new RegisterTargetsCommand({ TargetGroupArn: otherGroup, Targets: [{ Id: self.instanceId, Port: 8080 }] }));

  // The node, with the role session its instance metadata serves, through the IAM proxy.
  const session = await truth!.sessionFor({ instanceId: self.instanceId, instanceProfileArn: profileArn });
  assert.ok(session);
  const asWorker = new ElasticLoadBalancingV2Client({ ...truth!.proxy.clientConfig(session.credentials), maxAttempts: 1 });
  t.after(() => asWorker.destroy());
  const lines: string[] = [];
  const logger = createLogger(
    {},
    {
      write(line: string) {
        lines.push(line);
      },
    },
  );
  const member = new LoadBalancerTargets({ client: asWorker, targetGroupArns: [fleetGroup, otherGroup], self, logger });
  const exit = await member.deregister({ deadline: Date.now() + 20_000 });
  const [own, stranger] = exit.results;
  assert.equal(own!.outcome, 'deregistered', `allowed: ${own!.error?.message ?? ''}`);
  assert.equal(stranger!.outcome, 'failed');
  assert.equal(stranger!.attempts, 1, 'a denial is not retried');
  assert.equal(stranger!.error?.code, 'E_LB_PERMISSION');
  assert.match(
    stranger!.error!.message,
    /not allowed to call elasticloadbalancing:DeregisterTargets on arn:aws:elasticloadbalancing:.*:targetgroup\/other-routers\//,
  );
  assert.match(stranger!.error!.hint ?? '', /grant the worker role elasticloadbalancing:DeregisterTargets/);
  assert.ok(
    lines.some((l) => l.includes('E_LB_PERMISSION') && l.includes('elasticloadbalancing:DeregisterTargets')),
    'logged with the permission named',
  );

  const principal = `arn:aws:sts::${moto!.accountId}:assumed-role/${ROLE}/${self.instanceId}`;
  const report = truth!.proxy.report();
  assert.deepEqual(
    report.byPrincipal[principal]?.['elasticloadbalancing:DeregisterTargets'],
    { calls: 2, denied: 1 },
    JSON.stringify(report.byPrincipal),
  );
  assert.deepEqual(
    report.denials.map((d) => [d.action, d.resource]),
    [['elasticloadbalancing:DeregisterTargets', otherGroup]],
  );
  assert.ok(!inGroup((await health(fleetGroup, [self.instanceId]))[self.instanceId]), "the node left the fleet's group");
  assert.ok(inGroup((await health(fleetGroup, [peer.instanceId]))[peer.instanceId]), 'its peer still serves behind it');
  assert.ok(inGroup((await health(otherGroup, [self.instanceId]))[self.instanceId]), 'the other group was not touched');

  // A replacement joins the fleet's group with the same role.
  const joined = await new LoadBalancerTargets({ client: asWorker, targetGroupArns: [fleetGroup], self: peer, logger: quiet }).register();
  assert.deepEqual(
    joined.map((r) => r.outcome),
    ['registered'],
  );
  assert.equal(truth!.proxy.report().byPrincipal[principal]?.['elasticloadbalancing:RegisterTargets']?.denied, 0);
});

test('throttling: retried with backoff until it goes through; bounded by the deadline when it never does', async () => {
  const mock = mockClient(ElasticLoadBalancingV2Client);
  try {
    const throttled = (): Error => Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $metadata: { httpStatusCode: 400 } });
    mock.on(DeregisterTargetsCommand).rejectsOnce(throttled()).rejectsOnce(throttled()).resolves({});
    const waits: number[] = [];
    const sleep = async (ms: number): Promise<void> => {
      waits.push(ms);
    };
    const self = { instanceId: 'i-1', privateIp: '127.100.1.4', port: 8080 };
    const client = new ElasticLoadBalancingV2Client({ region: 'us-east-1' });
    const ok = await new LoadBalancerTargets({
      client,
      targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE],
      self,
      logger: quiet,
      sleep,
      backoff: { random: () => 0.5 },
    }).deregister({ deadline: Date.now() + 60_000 });
    assert.deepEqual(
      ok.results.map((r) => [r.outcome, r.attempts]),
      [['deregistered', 3]],
    );
    assert.deepEqual(waits, [100, 200], 'full-jitter backoff doubling from 200 ms (random 0.5)');

    mock.reset();
    mock.on(DeregisterTargetsCommand).rejects(throttled());
    // A fake clock: each backoff sleep advances it, so the deadline (not a wall-clock wait) ends the retries.
    let now = 1_000_000;
    const budget = await new LoadBalancerTargets({
      client,
      targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE],
      self,
      logger: quiet,
      clock: () => now,
      maxAttempts: 100,
      sleep: async (ms) => {
        now += ms;
      },
      backoff: { random: () => 0.99 },
    }).deregister({ deadline: now + 3000 });
    const [failed] = budget.results;
    assert.equal(failed!.outcome, 'failed');
    assert.equal(failed!.error?.code, 'E_LB_API');
    assert.ok(now <= 1_000_000 + 3000, `no wait past the deadline (${now - 1_000_000} ms)`);
    assert.ok(failed!.attempts >= 3 && failed!.attempts < 10, `bounded attempts: ${failed!.attempts}`);
  } finally {
    mock.restore();
  }
});

test('target groups come from the config and the SynktiTargetGroups tag; a bad tag entry is dropped', () => {
  const spec: LoadBalancerSpec = { targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE], targetType: 'ip', registerSelf: false, discover: false };
  const second = TARGET_GROUP_ARN_EXAMPLE.replace('routers', 'canary');
  const source = targetGroupSource(spec, { [TAG_TARGET_GROUPS]: `${second} ${TARGET_GROUP_ARN_EXAMPLE} not-an-arn` });
  assert.deepEqual(source, {
    targetGroupArns: [TARGET_GROUP_ARN_EXAMPLE, second],
    targetType: 'ip',
    registerSelf: false,
    discover: false,
    rejected: ['not-an-arn'],
  });
  assert.deepEqual(
    targetGroupSource(undefined, { [TAG_TARGET_GROUPS]: second })?.targetGroupArns,
    [second],
    'the tag alone is enough (instance targets, self-registration on)',
  );
  assert.equal(targetGroupSource(undefined, {}), undefined, 'no load balancer: nothing to do, no API call');
  assert.equal(targetGroupSource({ ...spec, targetGroupArns: [] }, {}), undefined);
  assert.deepEqual(targetGroupSource({ ...spec, targetGroupArns: [], discover: true }, {})?.discover, true);
  const many = Array.from({ length: 25 }, (_, i) => TARGET_GROUP_ARN_EXAMPLE.replace('routers', `g${i}`)).join(' ');
  const bounded = targetGroupSource(undefined, { [TAG_TARGET_GROUPS]: many })!;
  assert.equal(bounded.targetGroupArns.length, 20, 'at most 20 groups (each costs a call at the notice)');
  assert.equal(bounded.rejected.length, 5);
});
