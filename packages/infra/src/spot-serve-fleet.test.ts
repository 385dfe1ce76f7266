/**
 * SpotServeFleet under Pulumi mocks: what gets created, and every property that makes it
 * secure by default (docs/architecture.md invariant 8) or fixes a docs/field-notes.md defect.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as pulumi from '@pulumi/pulumi';
import { TAG_TARGET_GROUPS, deserializeCluster, isSynktiError, serializeCluster, validateCluster } from '@synkti/core';
import { TAG_SLOT_CREDIT, initialSlotCreditMs } from '@synkti/core/spot-ledger';
import { renderWorkerUserData } from '@synkti/cloud';
import { SpotServeFleet, serveWorkerPolicyStatements, type SpotServeFleetArgs } from './aws/spot-serve-fleet.ts';
import type { PolicyDocument, PolicyStatement } from './aws/iam-policy.ts';
import { runMockStack, outputValue, MOCK_ACCOUNT, type RecordedResource } from './testing/mock-stack.ts';
import { countByType, one, ofType } from './testing/find.ts';
import { auditInfraConfig } from './infra-program.ts';

const SHA = 'ab'.repeat(32);
const NODE_SHA = 'cd'.repeat(32);
const BOOT = { agentVersion: '0.1.0', agentSha256: SHA, nodeVersion: '20.18.1', nodeSha256: NODE_SHA };
const ARN = (type: string, id = '*') => `arn:aws:ec2:us-east-1:${MOCK_ACCOUNT}:${type}/${id}`;

async function serve(args: SpotServeFleetArgs = {}) {
  return runMockStack((opts) => new SpotServeFleet('serve', args, opts), { stack: 'llm' });
}

function policyOf(r: RecordedResource, field = 'policy'): PolicyDocument {
  return JSON.parse(r.inputs[field] as string) as PolicyDocument;
}

interface Ingress {
  protocol: string;
  fromPort: number;
  toPort: number;
  cidrBlocks?: string[];
  securityGroups?: string[];
  self?: boolean;
}
function ingressOf(r: RecordedResource): Ingress[] {
  return (r.inputs.ingress ?? []) as Ingress[];
}

test('defaults: the reference resources, each bucket secured, the models bucket kept on destroy', async () => {
  const { resources, value } = await serve();
  assert.deepEqual(countByType(resources), {
    'pulumi:providers:aws': 1,
    'aws:s3/bucket:Bucket': 2,
    'aws:s3/bucketOwnershipControls:BucketOwnershipControls': 2,
    'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock': 2,
    'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration': 2,
    'aws:s3/bucketPolicy:BucketPolicy': 2,
    'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration': 2,
    'aws:s3/bucketVersioning:BucketVersioning': 1,
    'aws:iam/role:Role': 1,
    'aws:iam/instanceProfile:InstanceProfile': 1,
    'aws:iam/rolePolicy:RolePolicy': 1,
    'aws:iam/rolePolicyAttachment:RolePolicyAttachment': 1,
    'aws:ec2/securityGroup:SecurityGroup': 1,
    'aws:ec2/launchTemplate:LaunchTemplate': 1,
    'aws:autoscaling/group:Group': 1,
    'synkti:aws:SpotServeFleet': 1,
    'synkti:aws:SecureBucket': 2,
  });
  assert.equal(one(resources, 'pulumi:providers:aws').inputs.region, 'us-east-1');

  const models = one(resources, 'aws:s3/bucket:Bucket', 'serve-models');
  assert.equal(models.inputs.bucket, `synkti-models-${MOCK_ACCOUNT}`);
  assert.equal(models.protect, true, 'models bucket protected');
  assert.equal(models.retainOnDelete, true, 'models bucket retained on delete');
  assert.equal(models.inputs.forceDestroy, false);
  assert.deepEqual(one(resources, 'aws:s3/bucketVersioning:BucketVersioning').inputs, {
    bucket: models.id,
    versioningConfiguration: { status: 'Enabled' },
  });

  const checkpoints = one(resources, 'aws:s3/bucket:Bucket', 'serve-checkpoints');
  assert.equal(checkpoints.inputs.bucketPrefix, 'synkti-checkpoints-');
  assert.equal(checkpoints.protect, false, 'checkpoints are ephemeral');
  const lifecycle = one(resources, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration', 'serve-checkpoints-lifecycle');
  const rules = lifecycle.inputs.rules as Array<{ id: string; status: string; expiration?: { days: number }; filter: { prefix: string } }>;
  assert.deepEqual(
    rules.find((r) => r.id === 'expire-checkpoints'),
    { id: 'expire-checkpoints', status: 'Enabled', filter: { prefix: '' }, expiration: { days: 7 } },
  );

  for (const bucket of [models, checkpoints]) {
    const pab = ofType(resources, 'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock').find((r) => r.inputs.bucket === bucket.id);
    assert.deepEqual(pab?.inputs, {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const sse = ofType(resources, 'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration').find(
      (r) => r.inputs.bucket === bucket.id,
    );
    assert.deepEqual(sse?.inputs.rules, [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' }, bucketKeyEnabled: true }]);
    const tls = ofType(resources, 'aws:s3/bucketPolicy:BucketPolicy').find((r) => r.inputs.bucket === bucket.id);
    const statement = tls && policyOf(tls).Statement[0];
    assert.equal(statement?.Effect, 'Deny');
    assert.deepEqual(statement?.Condition, { Bool: { 'aws:SecureTransport': 'false' } });
  }

  assert.equal(await outputValue(value.modelsBucketName), `synkti-models-${MOCK_ACCOUNT}`);
  assert.equal(await outputValue(value.artifactsLocation), `s3://synkti-models-${MOCK_ACCOUNT}/artifacts/`);
  assert.equal(await outputValue(value.workerInstanceProfileName), 'synkti-worker');
  assert.equal(await outputValue(value.workerSecurityGroupId), 'sg-serve-worker');
  assert.equal(await outputValue(value.loadBalancerDnsName), undefined);
});

test('security group: no SSH, nothing from the world, model and agent ports only from peers', async () => {
  const { resources } = await serve();
  const rules = ingressOf(one(resources, 'aws:ec2/securityGroup:SecurityGroup', 'serve-worker'));
  assert.equal(
    rules.some((r) => r.fromPort <= 22 && r.toPort >= 22),
    false,
    'no SSH',
  );
  assert.equal(
    rules.some((r) => (r.cidrBlocks ?? []).length > 0),
    false,
    'no CIDR ingress by default',
  );
  assert.deepEqual(rules.map((r) => [r.fromPort, r.toPort, r.self]).sort(), [
    [7946, 7946, true],
    [8000, 8000, true],
    [8080, 8080, true],
  ]);
});

test('allowedCidrBlocks open the router port, and only it', async () => {
  const { resources } = await serve({ allowedCidrBlocks: ['203.0.113.0/24'] });
  const rules = ingressOf(one(resources, 'aws:ec2/securityGroup:SecurityGroup', 'serve-worker'));
  const fromCidrs = rules.filter((r) => (r.cidrBlocks ?? []).length > 0);
  assert.deepEqual(
    fromCidrs.map((r) => [r.fromPort, r.toPort, r.cidrBlocks]),
    [[8080, 8080, ['203.0.113.0/24']]],
  );
});

test('worker role: SSM instead of SSH, EC2 writes only on its own cluster by tag, S3 only its buckets and prefixes', async () => {
  const { resources } = await serve({ agentReplacement: false });
  const role = one(resources, 'aws:iam/role:Role');
  assert.deepEqual(policyOf(role, 'assumeRolePolicy').Statement, [
    { Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' },
  ]);
  assert.equal(
    one(resources, 'aws:iam/rolePolicyAttachment:RolePolicyAttachment').inputs.policyArn,
    'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
  );
  const statements = policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy')).Statement;
  const bySid = new Map(statements.map((s) => [s.Sid, s]));
  for (const s of statements) {
    const actions = ([] as string[]).concat(s.Action);
    assert.equal(
      actions.some((a) => a.includes('*')),
      false,
      `${s.Sid}: no wildcard actions`,
    );
    if (([] as string[]).concat(s.Resource ?? []).includes('*')) assert.ok(s.Condition, `${s.Sid}: Resource * needs a condition`);
  }
  assert.deepEqual(bySid.get('DiscoverPeers')?.Condition, { StringEquals: { 'aws:RequestedRegion': 'us-east-1' } });
  const tagging = bySid.get('TagOwnClusterInstances');
  assert.equal(tagging?.Action, 'ec2:CreateTags');
  assert.deepEqual(tagging?.Condition?.StringEquals, { 'aws:ResourceTag/SynktiCluster': 'synkti' });
  assert.deepEqual(tagging?.Condition?.['ForAllValues:StringNotEquals'], { 'aws:TagKeys': ['SynktiCluster'] });
  // Untag on shutdown deletes SynktiCluster itself: granted on own instances, Synkti keys only, never "all tags".
  assert.deepEqual(bySid.get('UntagOwnClusterInstances'), {
    Sid: 'UntagOwnClusterInstances',
    Effect: 'Allow',
    Action: 'ec2:DeleteTags',
    Resource: ARN('instance'),
    Condition: {
      StringEquals: { 'aws:ResourceTag/SynktiCluster': 'synkti' },
      'ForAllValues:StringLike': { 'aws:TagKeys': ['Synkti*'] },
      Null: { 'aws:TagKeys': 'false' },
    },
  });
  assert.deepEqual(bySid.get('ReadModelsAndArtifacts')?.Resource, [
    `arn:aws:s3:::synkti-models-${MOCK_ACCOUNT}/models/*`,
    `arn:aws:s3:::synkti-models-${MOCK_ACCOUNT}/artifacts/*`,
  ]);
  assert.deepEqual(bySid.get('ListModelsAndArtifacts')?.Condition, { StringLike: { 's3:prefix': ['models/*', 'artifacts/*'] } });
  assert.equal(bySid.get('Checkpoints')?.Resource, 'arn:aws:s3:::synkti-checkpoints-mock/*');
  assert.equal(
    statements.some((s) =>
      ([] as string[]).concat(s.Action).some((a) => a === 'ec2:RunInstances' || a === 'ec2:TerminateInstances' || a === 'iam:PassRole'),
    ),
    false,
    'no launch rights with agentReplacement: false',
  );
  assert.equal(
    statements.some(
      (s) =>
        ([] as string[]).concat(s.Action).some((a) => a.startsWith('s3:') && a !== 's3:GetObject' && a !== 's3:ListBucket') &&
        JSON.stringify(s.Resource).includes('models'),
    ),
    false,
    'models bucket is read-only',
  );
});

/** The replacement statements the default worker role must hold, exactly. */
function replacementStatements(image = 'arn:aws:ec2:us-east-1::image/*'): PolicyStatement[] {
  const tagged = { StringEquals: { 'aws:RequestTag/SynktiCluster': 'synkti' }, 'ForAllValues:StringLike': { 'aws:TagKeys': ['Synkti*'] } };
  return [
    {
      Sid: 'TerminateOwnClusterInstances',
      Effect: 'Allow',
      Action: 'ec2:TerminateInstances',
      Resource: ARN('instance'),
      Condition: { StringEquals: { 'aws:ResourceTag/SynktiCluster': 'synkti' } },
    },
    {
      Sid: 'LaunchOwnClusterInstances',
      Effect: 'Allow',
      Action: 'ec2:RunInstances',
      Resource: ARN('instance'),
      Condition: { ...tagged, ArnEquals: { 'ec2:InstanceProfile': `arn:aws:iam::${MOCK_ACCOUNT}:instance-profile/synkti-worker` } },
    },
    { Sid: 'LaunchOwnClusterVolumes', Effect: 'Allow', Action: 'ec2:RunInstances', Resource: ARN('volume'), Condition: tagged },
    {
      Sid: 'LaunchInFleetVpc',
      Effect: 'Allow',
      Action: 'ec2:RunInstances',
      Resource: [ARN('subnet'), ARN('network-interface')],
      Condition: { ArnEquals: { 'ec2:Vpc': ARN('vpc', 'vpc-default') } },
    },
    {
      Sid: 'LaunchWithFleetResources',
      Effect: 'Allow',
      Action: 'ec2:RunInstances',
      Resource: [ARN('security-group', 'sg-serve-worker'), image, ARN('spot-instances-request')],
    },
    {
      Sid: 'TagAtLaunch',
      Effect: 'Allow',
      Action: 'ec2:CreateTags',
      Resource: [ARN('instance'), ARN('volume')],
      Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' }, 'ForAllValues:StringLike': { 'aws:TagKeys': ['Synkti*'] } },
    },
    {
      Sid: 'PassWorkerRole',
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: `arn:aws:iam::${MOCK_ACCOUNT}:role/synkti-worker`,
      Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    },
  ];
}

test('default worker role can replace itself: launch, tag at launch, terminate and PassRole, each scoped to the cluster, and nothing else widened', async () => {
  const { resources } = await serve();
  const statements = policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy')).Statement;
  const without = policyOf(one((await serve({ agentReplacement: false })).resources, 'aws:iam/rolePolicy:RolePolicy')).Statement;
  // Every statement without replacement is there unchanged; the rest are exactly the replacement grants.
  assert.deepEqual(statements.slice(0, without.length), without);
  assert.deepEqual(statements.slice(without.length), replacementStatements());
  // The only "*" resource is the region-bound DescribeInstances/DescribeTags.
  assert.deepEqual(
    statements.filter((s) => ([] as string[]).concat(s.Resource ?? []).includes('*')).map((s) => s.Sid),
    ['DiscoverPeers'],
  );
  // A literal AMI narrows launches to it.
  const ami = await serve({ imageId: 'ami-0123456789abcdef0' });
  assert.deepEqual(
    policyOf(one(ami.resources, 'aws:iam/rolePolicy:RolePolicy')).Statement.slice(without.length),
    replacementStatements('arn:aws:ec2:us-east-1::image/ami-0123456789abcdef0'),
  );
});

test('serveWorkerPolicyStatements is plain data: the statements the stack writes, from plain strings', async () => {
  const statements = serveWorkerPolicyStatements({
    cluster: 'synkti',
    region: 'us-east-1',
    account: MOCK_ACCOUNT,
    modelsBucketArn: `arn:aws:s3:::synkti-models-${MOCK_ACCOUNT}`,
    checkpointsBucketArn: 'arn:aws:s3:::synkti-checkpoints-mock',
    secretParameter: '/synkti/synkti/cluster-secret',
    replacement: {
      roleArn: `arn:aws:iam::${MOCK_ACCOUNT}:role/synkti-worker`,
      instanceProfileArn: `arn:aws:iam::${MOCK_ACCOUNT}:instance-profile/synkti-worker`,
      securityGroupId: 'sg-serve-worker',
      vpcId: 'vpc-default',
    },
  });
  const resolved = await outputValue(pulumi.output(statements));
  const { resources } = await serve();
  assert.deepEqual(resolved, policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy')).Statement);
});

test('agentReplacement is refused while the Auto Scaling group keeps workers (both would replace a lost one); off by default then', async () => {
  await assert.rejects(serve({ workerCount: 2, boot: BOOT, agentReplacement: true }), (error: unknown) => {
    assert.ok(isSynktiError(error, 'E_INFRA_INPUT'));
    assert.match(error.message, /agentReplacement is true while the Auto Scaling group keeps workerCount 2/);
    assert.match(error.hint ?? '', /workerCount: 0/);
    return true;
  });
  const { resources } = await serve({ workerCount: 2, boot: BOOT });
  const statements = policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy')).Statement;
  assert.equal(
    statements.some((s) => s.Action === 'ec2:RunInstances'),
    false,
  );
  assert.ok(
    statements.some((s) => s.Sid === 'UntagOwnClusterInstances'),
    'untag on shutdown is granted either way',
  );
});

test('synkti infra audit passes the default (replacing) worker role with no finding', async () => {
  const { report } = await auditInfraConfig({ serve: {} }, { components: ['serve'] });
  assert.deepEqual(report.findings, []);
  assert.equal(report.passed, true);
});

function bootScript(r: RecordedResource[]): string {
  return Buffer.from(one(r, 'aws:ec2/launchTemplate:LaunchTemplate').inputs.userData as string, 'base64').toString('utf8');
}

test('launch template: IMDSv2 required, hop limit 2, metadata tags, encrypted volume, on-demand template, the boot script bootstrap renders', async () => {
  const { resources } = await serve({ agentReplacement: false, workerCount: 2, boot: BOOT, modelS3Path: 'models/qwen2.5-7b/' });
  const lt = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate');
  assert.deepEqual(lt.inputs.metadataOptions, {
    httpEndpoint: 'enabled',
    httpTokens: 'required',
    httpPutResponseHopLimit: 2,
    instanceMetadataTags: 'enabled',
  });
  assert.deepEqual(lt.inputs.blockDeviceMappings, [
    { deviceName: '/dev/xvda', ebs: { encrypted: 'true', volumeType: 'gp3', volumeSize: 200, deleteOnTermination: 'true' } },
  ]);
  assert.equal(lt.inputs.instanceMarketOptions, undefined, 'a spot template inside a mixed-instances group is rejected by AWS');
  assert.deepEqual(lt.inputs.vpcSecurityGroupIds, ['sg-serve-worker']);
  const specs = lt.inputs.tagSpecifications as Array<{ resourceType: string; tags: Record<string, string> }>;
  assert.deepEqual(
    specs.map((s) => s.resourceType),
    ['instance', 'volume', 'network-interface'],
  );
  // The instance also starts a slot of the ledger (slot-credit test below); volume and interface do not.
  for (const s of specs)
    assert.deepEqual(s.tags, {
      SynktiCluster: 'synkti',
      SynktiRole: 'worker',
      ...(s.resourceType === 'instance' ? { SynktiSlotCredit: '150900' } : {}),
    });
  const script = bootScript(resources);
  // Byte for byte the script `synkti bootstrap` gives its workers, for this stack's bucket and account.
  // With the group's subnets and zones: each worker's replacements may use every zone of the group.
  const subnets = ['a', 'b', 'c'].map((z) => ({ subnetId: `subnet-0000000${z}`, zone: `us-east-1${z}` }));
  const spec = {
    ...validateCluster({ name: 'synkti', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 2 } } }),
    aws: { subnets },
  };
  assert.equal(
    script,
    renderWorkerUserData({
      spec,
      bucket: `synkti-models-${MOCK_ACCOUNT}`,
      bucketOwner: MOCK_ACCOUNT,
      version: '0.1.0',
      sha256: SHA,
      node: { version: '20.18.1', sha256: NODE_SHA },
      secretParameter: '/synkti/synkti/cluster-secret',
    }),
  );
  execFileSync('bash', ['-n'], { input: script }); // parses
  assert.match(script, /^readonly AGENT_KEY='artifacts\/synkti-agent-0\.1\.0\.tgz'$/m);
  assert.match(script, new RegExp(`^readonly AGENT_SHA256='${SHA}'$`, 'm'));
  assert.match(script, new RegExp(`^readonly NODE_SHA256='${NODE_SHA}'$`, 'm'));
  assert.match(script, new RegExp(`^readonly BUCKET='synkti-models-${MOCK_ACCOUNT}'$`, 'm'));
  assert.match(script, new RegExp(`^readonly BUCKET_OWNER='${MOCK_ACCOUNT}'$`, 'm'));
  assert.match(script, /aws s3api get-object .*--expected-bucket-owner "\$owner"/);
  assert.ok(script.indexOf('verify "$work/agent.tgz"') < script.indexOf('unpack "$work/agent.tgz"'), 'checked before unpacked');
  assert.doesNotMatch(script, /synkti-agent'?$/m, 'not the old artifacts/synkti-agent executable');
});

test("slot credit: the group's instances start a slot with one move of credit from the pool's spotHedge, as `synkti up` tags its spot launches", async () => {
  const instanceTags = (resources: RecordedResource[]) =>
    (
      one(resources, 'aws:ec2/launchTemplate:LaunchTemplate').inputs.tagSpecifications as Array<{
        resourceType: string;
        tags: Record<string, string>;
      }>
    ).find((spec) => spec.resourceType === 'instance')!.tags;
  // Defaults (183 s, ratio 0.3): 0.3 × 183 s + 60 s hand-over + 0.3 × 120 s notice = 150.9 s.
  assert.equal(
    instanceTags((await serve({ agentReplacement: false, workerCount: 2, boot: BOOT })).resources)[TAG_SLOT_CREDIT],
    String(initialSlotCreditMs()),
  );
  assert.equal(initialSlotCreditMs(), 150_900);
  // The pool's own hedge, from the cluster config: 0.5 × 600 s + 60 s + 0.5 × 120 s = 420 s.
  const spec = validateCluster({
    name: 'llm',
    provider: 'aws',
    region: 'us-east-1',
    pools: { gpu: { count: 2, size: 'gpu', spotHedge: { launchDelay: '600s', priceRatio: 0.5 } } },
    workload: { command: ['vllm', 'serve'], port: 8000 },
  });
  const hedged = await runMockStack(
    (opts) => new SpotServeFleet('serve', { projectName: 'llm', workerCount: 2, boot: BOOT, clusterConfig: serializeCluster(spec) }, opts),
    { stack: 'llm' },
  );
  assert.equal(instanceTags(hedged.resources)[TAG_SLOT_CREDIT], '420000');
  // A group that launches only on-demand starts no spot slot: no tag (the agent reads none as a new slot).
  const onDemand = await serve({ agentReplacement: false, workerCount: 2, boot: BOOT, onDemandPercentageAboveBase: 100 });
  assert.equal(instanceTags(onDemand.resources)[TAG_SLOT_CREDIT], undefined);
});

test('the cluster config rides in the boot script, and must be for this cluster, on aws, in this region', async () => {
  const spec = validateCluster({
    name: 'llm',
    provider: 'aws',
    region: 'us-east-1',
    pools: { gpu: { count: 2, size: 'gpu' } },
    workload: { command: ['vllm', 'serve'], port: 8000 },
  });
  const config = serializeCluster(spec);
  const { resources } = await runMockStack(
    (opts) =>
      new SpotServeFleet(
        'serve',
        { projectName: 'llm', workerCount: 2, boot: BOOT, clusterConfig: config, modelS3Path: 'models/qwen/' },
        opts,
      ),
    { stack: 'llm' },
  );
  const script = bootScript(resources);
  const written = /^write_file '\/etc\/synkti\/cluster\.json' 0644 <<'SYNKTI_EOF'\n([\s\S]*?)\nSYNKTI_EOF$/m.exec(script)?.[1];
  const carried = JSON.parse(written ?? '{}') as { spec: { name: string; workload: { env: Record<string, string> } } };
  assert.equal(carried.spec.name, 'llm');
  assert.deepEqual(
    carried.spec.workload.env,
    { SYNKTI_MODEL_URI: `s3://llm-models-${MOCK_ACCOUNT}/models/qwen/` },
    'the model location reaches the workload',
  );
  const specs = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate').inputs.tagSpecifications as Array<{ tags: Record<string, string> }>;
  assert.equal(specs[0]?.tags.SynktiRole, 'gpu', "the role tag is the config's only pool");
  const other = serializeCluster(validateCluster({ name: 'other', provider: 'aws', pools: { gpu: { count: 1, size: 'gpu' } } }));
  await assert.rejects(serve({ projectName: 'llm', clusterConfig: other }), /clusterConfig names cluster "other", not projectName "llm"/);
  const local = serializeCluster(validateCluster({ name: 'synkti', pools: { w: { count: 1 } } }));
  await assert.rejects(serve({ clusterConfig: local }), /clusterConfig is for provider "local"/);
  const eu = serializeCluster(validateCluster({ name: 'synkti', provider: 'aws', region: 'eu-west-1', pools: { w: { count: 1 } } }));
  await assert.rejects(serve({ clusterConfig: eu }), /clusterConfig is for region eu-west-1, not the fleet's us-east-1/);
  await assert.rejects(serve({ clusterConfig: '{}' }), /clusterConfig is not a Synkti cluster config/);
});

test('environment presets by stack name: production keeps 2 on-demand, longer checkpoints, a protected load balancer', async () => {
  const prod = await runMockStack((opts) => new SpotServeFleet('serve', { loadBalancer: {} }, opts), { stack: 'llm-prod' });
  assert.equal(prod.value.environment, 'production');
  const dist = (r: RecordedResource) =>
    (r.inputs.mixedInstancesPolicy as { instancesDistribution: { onDemandBaseCapacity: number } }).instancesDistribution
      .onDemandBaseCapacity;
  assert.equal(dist(one(prod.resources, 'aws:autoscaling/group:Group')), 2);
  assert.equal(one(prod.resources, 'aws:lb/loadBalancer:LoadBalancer').inputs.enableDeletionProtection, true);
  const expiry = (rs: RecordedResource[]) =>
    (
      one(rs, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration', 'serve-checkpoints-lifecycle').inputs.rules as Array<{
        id: string;
        expiration?: { days: number };
      }>
    ).find((r) => r.id === 'expire-checkpoints')?.expiration?.days;
  assert.equal(expiry(prod.resources), 14);
  const dev = await runMockStack((opts) => new SpotServeFleet('serve', { loadBalancer: {} }, opts), { stack: 'dev' });
  assert.equal(dist(one(dev.resources, 'aws:autoscaling/group:Group')), 0);
  assert.equal(one(dev.resources, 'aws:lb/loadBalancer:LoadBalancer').inputs.enableDeletionProtection, false);
  assert.equal(expiry(dev.resources), 3);
  assert.equal(one(dev.resources, 'aws:s3/bucket:Bucket', 'serve-models').protect, true, 'models are kept in every environment');
});

test('user data given as the agent cluster config is passed through verbatim (base64)', async () => {
  const config = JSON.stringify({ format: 'synkti-cluster/v1', spec: { name: 'synkti' } });
  const { resources } = await serve({ workerCount: 1, userData: config });
  const lt = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate');
  assert.equal(Buffer.from(lt.inputs.userData as string, 'base64').toString('utf8'), config);
});

test('Auto Scaling group: several GPU types, price-capacity-optimized, on-demand base, capacity rebalance, across zones', async () => {
  const { resources } = await serve({ workerCount: 3, boot: BOOT, subnetIds: ['subnet-1', 'subnet-2', 'subnet-3'], vpcId: 'vpc-1' });
  const asg = one(resources, 'aws:autoscaling/group:Group');
  assert.equal(asg.inputs.capacityRebalance, true);
  assert.deepEqual([asg.inputs.minSize, asg.inputs.desiredCapacity, asg.inputs.maxSize], [3, 3, 6]);
  assert.deepEqual(asg.inputs.vpcZoneIdentifiers, ['subnet-1', 'subnet-2', 'subnet-3']);
  const policy = asg.inputs.mixedInstancesPolicy as {
    instancesDistribution: Record<string, unknown>;
    launchTemplate: {
      launchTemplateSpecification: { launchTemplateId: string; version: string };
      overrides: Array<{ instanceType: string }>;
    };
  };
  assert.deepEqual(policy.instancesDistribution, {
    onDemandBaseCapacity: 1,
    onDemandPercentageAboveBaseCapacity: 0,
    spotAllocationStrategy: 'price-capacity-optimized',
  });
  assert.deepEqual(
    policy.launchTemplate.overrides.map((o) => o.instanceType),
    ['g4dn.xlarge', 'g5.xlarge', 'g6.xlarge', 'g4dn.2xlarge'],
  );
  assert.deepEqual(policy.launchTemplate.launchTemplateSpecification, { launchTemplateId: 'lt-serve-worker', version: '$Latest' });
  assert.equal(one(resources, 'aws:ec2/securityGroup:SecurityGroup').inputs.vpcId, 'vpc-1');
});

test('default VPC: the group spans the default subnets of every zone', async () => {
  const { resources } = await serve();
  assert.deepEqual(one(resources, 'aws:autoscaling/group:Group').inputs.vpcZoneIdentifiers, [
    'subnet-0000000a',
    'subnet-0000000b',
    'subnet-0000000c',
  ]);
});

test('load balancer with a certificate: HTTPS listener, HTTP redirects, only 80/443 open, routers reachable only from it', async () => {
  const { resources, value } = await serve({ loadBalancer: { certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/x' } });
  const listeners = ofType(resources, 'aws:lb/listener:Listener');
  assert.equal(listeners.length, 2, 'a load balancer has listeners');
  const https = listeners.find((l) => l.inputs.port === 443);
  assert.equal(https?.inputs.protocol, 'HTTPS');
  assert.equal((https?.inputs.defaultActions as Array<{ type: string }>)[0]?.type, 'forward');
  const http = listeners.find((l) => l.inputs.port === 80);
  assert.deepEqual((http?.inputs.defaultActions as Array<{ type: string; redirect?: unknown }>)[0], {
    type: 'redirect',
    redirect: { port: '443', protocol: 'HTTPS', statusCode: 'HTTP_301' },
  });
  const albRules = ingressOf(one(resources, 'aws:ec2/securityGroup:SecurityGroup', 'serve-alb'));
  assert.deepEqual(albRules.map((r) => r.fromPort).sort(), [443, 80]);
  const workerRules = ingressOf(one(resources, 'aws:ec2/securityGroup:SecurityGroup', 'serve-worker'));
  assert.deepEqual(workerRules.find((r) => r.securityGroups)?.securityGroups, ['sg-serve-alb']);
  const tg = one(resources, 'aws:lb/targetGroup:TargetGroup');
  assert.equal(tg.inputs.port, 8080);
  assert.equal((tg.inputs.healthCheck as { path: string }).path, '/_synkti/router/health');
  const asg = one(resources, 'aws:autoscaling/group:Group');
  assert.equal(asg.inputs.healthCheckType, 'ELB');
  assert.equal(await outputValue(value.loadBalancerDnsName), 'synkti-alb.us-east-1.elb.amazonaws.com');
});

test('invalid inputs are refused before anything is created, naming the field', async () => {
  const cases: Array<[SpotServeFleetArgs, RegExp]> = [
    [{ projectName: 'Bad_Name' }, /projectName/],
    [{ region: 'mars-1' }, /region/],
    [{ workerCount: -1 }, /workerCount/],
    [{ workerCount: 4, maxWorkerCount: 2, boot: BOOT }, /maxWorkerCount/],
    [{ extraInstanceTypes: [] }, /extraInstanceTypes.*at least 2/],
    [{ allowedCidrBlocks: ['everyone'] }, /allowedCidrBlocks/],
    [{ sshCidrBlocks: ['10.0.0.0/33'] }, /sshCidrBlocks/],
    [{ boot: { ...BOOT, agentSha256: 'abc' } }, /boot\.agentSha256: /],
    [{ boot: { ...BOOT, agentVersion: '../x' } }, /boot\.agentVersion: /],
    [{ boot: { ...BOOT, nodeSha256: '' } }, /boot\.nodeSha256: /],
    [{ boot: BOOT, userData: '#!/bin/bash' }, /boot and userData are both set/],
    [{ workerCount: 1, agentReplacement: false }, /boot is missing while workerCount > 0/],
    [{ modelS3Path: 's3://' }, /modelS3Path/],
    [{ subnetIds: ['subnet-1'] }, /subnetIds/],
    [{ routerPort: 8000 }, /workloadPort\/routerPort\/agentPort/],
    [{ onDemandPercentageAboveBase: 101 }, /onDemandPercentageAboveBase/],
  ];
  for (const [args, field] of cases) {
    await assert.rejects(serve(args), (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_INFRA_INPUT'), `${JSON.stringify(args)}: ${String(error)}`);
      assert.match(error.message, field);
      assert.ok(error.hint, 'says what to do');
      return true;
    });
  }
});

test('region input drives the component provider and the ARNs it writes', async () => {
  const { resources } = await serve({ region: 'eu-west-1', projectName: 'llm-eu' });
  assert.equal(one(resources, 'pulumi:providers:aws').inputs.region, 'eu-west-1');
  const statements = policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy')).Statement;
  assert.ok(statements.every((s) => !JSON.stringify(s).includes('us-east-1')));
  assert.equal(one(resources, 'aws:ec2/securityGroup:SecurityGroup').inputs.name, 'llm-eu-worker');
  // Every AWS resource goes through the component's own provider (no silent default region).
  const awsResources = resources.filter((r) => r.type.startsWith('aws:'));
  assert.ok(awsResources.length > 15);
  for (const r of awsResources) assert.match(r.provider ?? '', /pulumi:providers:aws::serve-aws::/, `${r.type}::${r.name}`);
});

const KMS_KEY = `arn:aws:kms:us-east-1:${MOCK_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

test('clusterSecretKmsKeyArn: the worker role may Decrypt with exactly that key, only through SSM in the fleet region', async () => {
  const { resources } = await serve({ clusterSecretKmsKeyArn: KMS_KEY });
  const statements = policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy')).Statement;
  const kms = statements.filter((s) => ([] as string[]).concat(s.Action).some((a) => a.startsWith('kms:')));
  assert.deepEqual(kms, [
    {
      Sid: 'DecryptClusterSecret',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: KMS_KEY,
      Condition: { StringEquals: { 'kms:ViaService': 'ssm.us-east-1.amazonaws.com' } },
    },
  ]);
  const eu = await serve({ region: 'eu-west-1', clusterSecretKmsKeyArn: KMS_KEY.replace('us-east-1', 'eu-west-1') });
  const euKms = policyOf(one(eu.resources, 'aws:iam/rolePolicy:RolePolicy')).Statement.find((s) => s.Sid === 'DecryptClusterSecret');
  assert.deepEqual(euKms?.Condition, { StringEquals: { 'kms:ViaService': 'ssm.eu-west-1.amazonaws.com' } });
});

test('synkti infra audit passes the DecryptClusterSecret statement (no finding of any severity on it)', async () => {
  const { report } = await auditInfraConfig({ serve: { clusterSecretKmsKeyArn: KMS_KEY } }, { components: ['serve'] });
  assert.deepEqual(
    report.findings.filter((f) => JSON.stringify(f).includes('kms') || f.rule === 'iam-wildcard'),
    [],
  );
  const { report: without } = await auditInfraConfig({ serve: {} }, { components: ['serve'] });
  assert.deepEqual(report.findings, without.findings, 'the key adds no finding');
});

test('without clusterSecretKmsKeyArn (aws/ssm) the worker role has no KMS statement at all', async () => {
  const { resources } = await serve();
  const statements = policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy')).Statement;
  assert.equal(
    statements.some((s) => JSON.stringify(s).includes('kms:')),
    false,
  );
});

test('clusterSecretKmsKeyArn: an alias, a bare key id or a key of another region is refused with a hint', async () => {
  const cases: Array<[string, RegExp, RegExp]> = [
    ['alias/synkti', /clusterSecretKmsKeyArn "alias\/synkti" is an alias/, /key ARN.*never an alias/],
    [`arn:aws:kms:us-east-1:${MOCK_ACCOUNT}:alias/synkti`, /is an alias/, /key ARN/],
    ['1234abcd-12ab-34cd-56ef-1234567890ab', /is not a KMS key ARN/, /key ARN/],
    [KMS_KEY.replace('us-east-1', 'eu-west-1'), /is in region eu-west-1, not the fleet's us-east-1/, /its own region/],
  ];
  for (const [value, message, hint] of cases) {
    await assert.rejects(serve({ clusterSecretKmsKeyArn: value }), (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_INFRA_INPUT'), `${value}: ${String(error)}`);
      assert.match(error.message, message);
      assert.match(error.hint ?? '', hint);
      return true;
    });
  }
});

// --- leaving the load balancer at t=0 (issue 24) ---------------------------------------
// The deregistration delay fits inside the notice, the worker may deregister and register
// exactly the fleet's target group (tag-scoped, no wildcard), and the agents learn the
// group's ARN from their config (user data, which replacements boot with) and launch tag.

const TG_ARN = `arn:aws:elasticloadbalancing:us-east-1:${MOCK_ACCOUNT}:targetgroup/synktimock/0123456789abcdef`;

test('behind a load balancer: 90 s deregistration delay, the worker may leave and join exactly its target group, the agents know the ARN', async () => {
  const clusterConfig = serializeCluster(
    validateCluster({
      name: 'synkti',
      provider: 'aws',
      region: 'us-east-1',
      pools: { worker: { count: 2 } },
      workload: { command: ['vllm', 'serve'] },
    }),
  );
  const { resources, value } = await serve({ loadBalancer: {}, boot: BOOT, clusterConfig });
  const tg = one(resources, 'aws:lb/targetGroup:TargetGroup');
  assert.equal(tg.inputs.deregistrationDelay, 90);
  assert.equal(tg.inputs.targetType, 'instance');
  assert.equal((tg.inputs.tags as Record<string, string>).SynktiCluster, 'synkti', 'the tag the grant is scoped by');
  assert.equal(await outputValue(value.targetGroupArn), TG_ARN);

  const policy = policyOf(one(resources, 'aws:iam/rolePolicy:RolePolicy', 'serve-worker-load-balancer'));
  assert.deepEqual(policy.Statement, [
    {
      Sid: 'LeaveAndJoinOwnTargetGroup',
      Effect: 'Allow',
      Action: ['elasticloadbalancing:DeregisterTargets', 'elasticloadbalancing:RegisterTargets'],
      Resource: TG_ARN,
      Condition: { StringEquals: { 'aws:ResourceTag/SynktiCluster': 'synkti' } },
    },
  ]);
  // Nothing else about load balancers anywhere in the worker's policies (no Describe*, no wildcard).
  const elbStatements = ofType(resources, 'aws:iam/rolePolicy:RolePolicy')
    .flatMap((r) => policyOf(r).Statement)
    .filter((s) => [s.Action].flat().some((a) => String(a).startsWith('elasticloadbalancing:')));
  assert.equal(elbStatements.length, 1);

  const lt = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate');
  for (const spec of lt.inputs.tagSpecifications as Array<{ resourceType: string; tags: Record<string, string> }>) {
    assert.equal(spec.tags[TAG_TARGET_GROUPS], TG_ARN, `${spec.resourceType} launch tag`);
  }
  const script = Buffer.from(lt.inputs.userData as string, 'base64').toString('utf8');
  const written = /^write_file '\/etc\/synkti\/cluster\.json' 0644 <<'SYNKTI_EOF'\n([\s\S]*?)\nSYNKTI_EOF$/m.exec(script)?.[1];
  assert.ok(written, 'the boot script writes the agent config');
  assert.deepEqual(
    deserializeCluster(written).serve.loadBalancer,
    { targetGroupArns: [TG_ARN], targetType: 'instance', registerSelf: true, discover: false },
    'every worker and every replacement it launches (same user data) knows its group',
  );
});

test('without a load balancer the worker gets no ELB permission and no target group tag', async () => {
  const { resources, value } = await serve({ boot: BOOT });
  assert.equal(ofType(resources, 'aws:lb/targetGroup:TargetGroup').length, 0);
  const text = ofType(resources, 'aws:iam/rolePolicy:RolePolicy')
    .map((r) => r.inputs.policy as string)
    .join('\n');
  assert.doesNotMatch(text, /elasticloadbalancing/);
  const lt = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate');
  assert.equal((lt.inputs.tagSpecifications as Array<{ tags: Record<string, string> }>)[0]!.tags[TAG_TARGET_GROUPS], undefined);
  assert.equal(await outputValue(value.targetGroupArn), undefined);
});

test('the deregistration delay must end inside the notice (120 s − the drain margin), named with the fix', async () => {
  await assert.rejects(
    serve({ loadBalancer: { deregistrationDelaySeconds: 200 } }),
    /loadBalancer\.deregistrationDelaySeconds must be a whole number of seconds from 0 to 115 \(got 200\)/,
  );
  const longMargin = serializeCluster(
    validateCluster({ name: 'synkti', provider: 'aws', pools: { worker: { count: 1 } }, timeouts: { drainMargin: '40s' } }),
  );
  await assert.rejects(serve({ loadBalancer: {}, clusterConfig: longMargin }), (error: unknown) => {
    assert.match(String((error as Error).message), /from 0 to 80 \(got 90\)/, 'the default does not fit a 40 s margin');
    assert.match(String((error as { hint?: string }).hint), /timeouts\.drainMargin/);
    return true;
  });
  const { resources } = await serve({ loadBalancer: { deregistrationDelaySeconds: 80 }, clusterConfig: longMargin });
  assert.equal(one(resources, 'aws:lb/targetGroup:TargetGroup').inputs.deregistrationDelay, 80);
  const ip = serializeCluster(
    validateCluster({ name: 'synkti', provider: 'aws', pools: { worker: { count: 1 } }, serve: { loadBalancer: { targetType: 'ip' } } }),
  );
  await assert.rejects(serve({ loadBalancer: {}, clusterConfig: ip }), /targetType 'ip', but the fleet's target group names instances/);
});
