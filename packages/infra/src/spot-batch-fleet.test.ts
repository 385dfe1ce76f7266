/**
 * SpotBatchFleet under Pulumi mocks, per environment: queues and redrive, Fargate/Fargate
 * Spot strategy, autoscaling on the metric the coordinator publishes, a scale-to-zero rule
 * that counts in-flight tasks, lifecycle rules on the prefixes the code writes, roles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSynktiError } from '@synkti/core';
import { BATCH_PREFIXES, BATCH_WORKER_ENV, batchQueueNames, queueNameOfUrl, readStackEnvironment } from '@synkti/core/contracts';
import { cancelKeyOf, checkpointKeyOf } from '@synkti/tasks/coordinator';
import { workerConfigFromStack } from '@synkti/tasks/batch';
import {
  BATCH_METRIC_BACKLOG_PER_WORKER,
  BATCH_METRIC_DIMENSION,
  BATCH_METRIC_NAMESPACE,
  QUEUE_PAYLOADS_PREFIX,
  RUNS_PREFIX,
  SpotBatchFleet,
  type SpotBatchFleetArgs,
} from './aws/spot-batch-fleet.ts';
import type { PolicyDocument } from './aws/iam-policy.ts';
import { ENVIRONMENT_PRESETS, environmentFromStack, type EnvironmentName } from './environments.ts';
import { runMockStack, outputValue, MOCK_ACCOUNT, type RecordedResource } from './testing/mock-stack.ts';
import { countByType, one, ofType } from './testing/find.ts';

async function batch(args: SpotBatchFleetArgs = {}, stack = 'dev') {
  return runMockStack((opts) => new SpotBatchFleet('batch', args, opts), { stack });
}

function policyOf(r: RecordedResource, field = 'policy'): PolicyDocument {
  return JSON.parse(r.inputs[field] as string) as PolicyDocument;
}

const COMMON_COUNTS = {
  'synkti:aws:SpotBatchFleet': 1,
  'pulumi:providers:aws': 1,
  'synkti:aws:SecureBucket': 1,
  'aws:ec2/vpc:Vpc': 1,
  'aws:ec2/internetGateway:InternetGateway': 1,
  'aws:sqs/queue:Queue': 4,
  'aws:s3/bucket:Bucket': 1,
  'aws:s3/bucketOwnershipControls:BucketOwnershipControls': 1,
  'aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock': 1,
  'aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration': 1,
  'aws:s3/bucketPolicy:BucketPolicy': 1,
  'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration': 1,
  'aws:ecr/repository:Repository': 1,
  'aws:ecr/lifecyclePolicy:LifecyclePolicy': 1,
  'aws:cloudwatch/logGroup:LogGroup': 1,
  'aws:iam/role:Role': 3,
  'aws:iam/rolePolicy:RolePolicy': 2,
  'aws:iam/rolePolicyAttachment:RolePolicyAttachment': 1,
  'aws:ecs/cluster:Cluster': 1,
  'aws:ecs/clusterCapacityProviders:ClusterCapacityProviders': 1,
  'aws:ecs/taskDefinition:TaskDefinition': 1,
  'aws:ecs/service:Service': 1,
  'aws:appautoscaling/target:Target': 1,
  'aws:appautoscaling/policy:Policy': 3,
  'aws:cloudwatch/metricAlarm:MetricAlarm': 3,
  'aws:ec2/securityGroup:SecurityGroup': 1,
};

const EXPECTED: Record<
  EnvironmentName,
  {
    counts: Record<string, number>;
    vis: number;
    retention: number;
    receives: number;
    cpu: string;
    memory: string;
    strategy: unknown;
    logDays: number;
    versioned: boolean;
    kept: boolean;
    runsRule: Record<string, unknown>;
  }
> = {
  dev: {
    counts: {
      ...COMMON_COUNTS,
      'aws:ec2/subnet:Subnet': 2,
      'aws:ec2/routeTable:RouteTable': 1,
      'aws:ec2/routeTableAssociation:RouteTableAssociation': 2,
    },
    vis: 300,
    retention: 86_400,
    receives: 3,
    cpu: '1024',
    memory: '2048',
    logDays: 7,
    versioned: false,
    kept: false,
    strategy: [
      { capacityProvider: 'FARGATE', base: 0, weight: 0 },
      { capacityProvider: 'FARGATE_SPOT', base: 0, weight: 100 },
    ],
    runsRule: { id: 'runs', status: 'Enabled', filter: { prefix: 'runs/' }, expiration: { days: 30 } },
  },
  staging: {
    counts: {
      ...COMMON_COUNTS,
      'aws:ec2/subnet:Subnet': 2,
      'aws:ec2/routeTable:RouteTable': 1,
      'aws:ec2/routeTableAssociation:RouteTableAssociation': 2,
      'aws:s3/bucketVersioning:BucketVersioning': 1,
    },
    vis: 300,
    retention: 86_400,
    receives: 3,
    cpu: '2048',
    memory: '4096',
    logDays: 30,
    versioned: true,
    kept: false,
    strategy: [
      { capacityProvider: 'FARGATE', base: 1, weight: 20 },
      { capacityProvider: 'FARGATE_SPOT', base: 0, weight: 80 },
    ],
    runsRule: {
      id: 'runs',
      status: 'Enabled',
      filter: { prefix: 'runs/' },
      expiration: { days: 90 },
      noncurrentVersionExpiration: { noncurrentDays: 7 },
    },
  },
  production: {
    counts: {
      ...COMMON_COUNTS,
      'aws:ec2/subnet:Subnet': 6,
      'aws:ec2/routeTable:RouteTable': 2,
      'aws:ec2/routeTableAssociation:RouteTableAssociation': 6,
      'aws:ec2/eip:Eip': 1,
      'aws:ec2/natGateway:NatGateway': 1,
      'aws:s3/bucketVersioning:BucketVersioning': 1,
    },
    vis: 600,
    retention: 345_600,
    receives: 5,
    cpu: '4096',
    memory: '8192',
    logDays: 90,
    versioned: true,
    kept: true,
    strategy: [
      { capacityProvider: 'FARGATE', base: 1, weight: 20 },
      { capacityProvider: 'FARGATE_SPOT', base: 0, weight: 80 },
    ],
    runsRule: {
      id: 'runs',
      status: 'Enabled',
      filter: { prefix: 'runs/' },
      transitions: [{ days: 30, storageClass: 'STANDARD_IA' }],
      noncurrentVersionExpiration: { noncurrentDays: 7 },
    },
  },
};

for (const env of ['dev', 'staging', 'production'] as const) {
  test(`${env}: resources, queues with redrive, capacity strategy, storage and retention of the preset`, async () => {
    const e = EXPECTED[env];
    const { resources, value } = await batch({}, env);
    assert.equal(value.environment, env);
    assert.deepEqual(countByType(resources), e.counts);
    const cluster = `synkti-${env}`;

    const queues = new Map(ofType(resources, 'aws:sqs/queue:Queue').map((q) => [q.inputs.name as string, q]));
    assert.deepEqual([...queues.keys()].sort(), [
      `${cluster}-results`,
      `${cluster}-results-dlq`,
      `${cluster}-tasks`,
      `${cluster}-tasks-dlq`,
    ]);
    const tasks = queues.get(`${cluster}-tasks`)!;
    assert.equal(tasks.inputs.visibilityTimeoutSeconds, e.vis);
    assert.equal(tasks.inputs.messageRetentionSeconds, e.retention);
    assert.equal(tasks.inputs.receiveWaitTimeSeconds, 20, 'long poll');
    assert.equal(tasks.inputs.sqsManagedSseEnabled, true);
    assert.deepEqual(JSON.parse(tasks.inputs.redrivePolicy as string), {
      deadLetterTargetArn: `arn:aws:sqs:us-east-1:${MOCK_ACCOUNT}:${cluster}-tasks-dlq`,
      maxReceiveCount: e.receives,
    });
    const results = queues.get(`${cluster}-results`)!;
    assert.deepEqual(JSON.parse(results.inputs.redrivePolicy as string), {
      deadLetterTargetArn: `arn:aws:sqs:us-east-1:${MOCK_ACCOUNT}:${cluster}-results-dlq`,
      maxReceiveCount: e.receives,
    });
    assert.equal(queues.get(`${cluster}-tasks-dlq`)!.inputs.messageRetentionSeconds, 1_209_600);
    assert.equal(queues.get(`${cluster}-tasks-dlq`)!.inputs.redrivePolicy, undefined);

    const capacity = one(resources, 'aws:ecs/clusterCapacityProviders:ClusterCapacityProviders');
    assert.deepEqual(capacity.inputs.capacityProviders, ['FARGATE', 'FARGATE_SPOT']);
    assert.deepEqual(capacity.inputs.defaultCapacityProviderStrategies, e.strategy);
    const service = one(resources, 'aws:ecs/service:Service');
    assert.deepEqual(service.inputs.capacityProviderStrategies, e.strategy);
    assert.equal(service.inputs.desiredCount, ENVIRONMENT_PRESETS[env].workerDesiredCount);
    assert.deepEqual(service.ignoreChanges, ['desiredCount'], 'autoscaling owns the count after the first deploy');
    const network = service.inputs.networkConfiguration as { subnets: string[]; assignPublicIp: boolean; securityGroups: string[] };
    assert.equal(network.assignPublicIp, env !== 'production', 'production tasks sit in private subnets behind NAT');
    assert.equal(network.subnets.length, ENVIRONMENT_PRESETS[env].azCount);
    const taskDef = one(resources, 'aws:ecs/taskDefinition:TaskDefinition');
    assert.deepEqual([taskDef.inputs.cpu, taskDef.inputs.memory], [e.cpu, e.memory]);
    assert.equal(one(resources, 'aws:cloudwatch/logGroup:LogGroup').inputs.retentionInDays, e.logDays);
    const target = one(resources, 'aws:appautoscaling/target:Target');
    assert.deepEqual([target.inputs.minCapacity, target.inputs.maxCapacity], [0, ENVIRONMENT_PRESETS[env].workerMaxCount]);

    const bucket = one(resources, 'aws:s3/bucket:Bucket');
    assert.equal(bucket.inputs.bucket, `${cluster}-batch-${MOCK_ACCOUNT}`);
    assert.equal(bucket.protect, e.kept, 'deletion protection');
    assert.equal(bucket.retainOnDelete, e.kept);
    assert.equal(bucket.inputs.forceDestroy, !e.kept);
    assert.equal(ofType(resources, 'aws:s3/bucketVersioning:BucketVersioning').length, e.versioned ? 1 : 0);
    const rules = one(resources, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration').inputs.rules as Array<
      Record<string, unknown>
    >;
    assert.deepEqual(
      rules.find((r) => r.id === 'runs'),
      e.runsRule,
    );
    assert.equal(one(resources, 'aws:ecr/repository:Repository').inputs.forceDelete, !e.kept);
    assert.equal(await outputValue(value.taskQueueUrl), `https://sqs.us-east-1.amazonaws.com/${MOCK_ACCOUNT}/${cluster}-tasks`);
    for (const r of resources.filter((x) => x.type.startsWith('aws:')))
      assert.match(r.provider ?? '', /pulumi:providers:aws::batch-aws::/, `${r.type}::${r.name} uses the component's region`);
  });
}

test('lifecycle rules cover exactly the prefixes the coordinator and queues write', async () => {
  const { resources } = await batch({ messageRetention: '96 hours' });
  const rules = one(resources, 'aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration').inputs.rules as Array<{
    id: string;
    filter: { prefix: string };
    expiration?: { days: number };
  }>;
  const prefixes = rules.map((r) => r.filter.prefix);
  assert.deepEqual(prefixes, [RUNS_PREFIX, QUEUE_PAYLOADS_PREFIX, '']);
  for (const key of [checkpointKeyOf('run-1'), cancelKeyOf('run-1')])
    assert.ok(key.startsWith(RUNS_PREFIX), `${key} is covered by the runs rule`);
  // An offloaded body must outlive its message, even 14 days in the dead-letter queue.
  assert.equal(rules.find((r) => r.id === 'queue-payloads')?.expiration?.days, 15);
  assert.equal(prefixes.includes('checkpoints/') || prefixes.includes('logs/'), false, 'no rules for prefixes nothing writes');
});

test('autoscaling tracks the backlog per worker the coordinator publishes; scale to zero counts in-flight tasks', async () => {
  const { resources } = await batch({ backlogPerWorkerTarget: 3, scaleToZeroAfter: '10 minutes' });
  const policies = new Map(ofType(resources, 'aws:appautoscaling/policy:Policy').map((p) => [p.name, p]));
  const tracking = policies.get('batch-backlog')!.inputs.targetTrackingScalingPolicyConfiguration as {
    targetValue: number;
    customizedMetricSpecification: Record<string, unknown>;
  };
  assert.equal(tracking.targetValue, 3);
  assert.deepEqual(tracking.customizedMetricSpecification, {
    namespace: BATCH_METRIC_NAMESPACE,
    metricName: BATCH_METRIC_BACKLOG_PER_WORKER,
    statistic: 'Average',
    dimensions: [{ name: BATCH_METRIC_DIMENSION, value: 'synkti-dev' }],
  });
  assert.deepEqual(
    [BATCH_METRIC_NAMESPACE, BATCH_METRIC_BACKLOG_PER_WORKER, BATCH_METRIC_DIMENSION],
    ['Synkti/Batch', 'BacklogPerWorker', 'Cluster'],
  );

  const alarms = new Map(ofType(resources, 'aws:cloudwatch/metricAlarm:MetricAlarm').map((a) => [a.name, a]));
  const idle = alarms.get('batch-idle')!;
  type Query = {
    id: string;
    expression?: string;
    returnData: boolean;
    metric?: { namespace: string; metricName: string; dimensions: Record<string, string> };
  };
  const queries = idle.inputs.metricQueries as Query[];
  const metricNames = queries
    .filter((q) => q.metric)
    .map((q) => q.metric!.metricName)
    .sort();
  assert.deepEqual(metricNames, [
    'ApproximateNumberOfMessagesDelayed',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesVisible',
  ]);
  assert.ok(queries.every((q) => !q.metric || q.metric.dimensions.QueueName === 'synkti-dev-tasks'));
  assert.deepEqual(
    queries.filter((q) => q.returnData).map((q) => q.expression),
    ['visible + inflight + delayed'],
  );
  assert.equal(queries.find((q) => q.id === 'inflight')?.metric?.metricName, 'ApproximateNumberOfMessagesNotVisible');
  assert.deepEqual(
    [idle.inputs.comparisonOperator, idle.inputs.threshold, idle.inputs.evaluationPeriods],
    ['LessThanOrEqualToThreshold', 0, 10],
  );
  assert.equal(idle.inputs.treatMissingData, 'notBreaching');
  const toZero = policies.get('batch-scale-to-zero')!;
  assert.deepEqual(idle.inputs.alarmActions, [`arn:aws:appautoscaling:us-east-1:${MOCK_ACCOUNT}:batch-scale-to-zero`]);
  assert.deepEqual(toZero.inputs.stepScalingPolicyConfiguration, {
    adjustmentType: 'ExactCapacity',
    cooldown: 300,
    metricAggregationType: 'Maximum',
    stepAdjustments: [{ metricIntervalUpperBound: '0', scalingAdjustment: 0 }],
  });

  const waiting = alarms.get('batch-work-waiting')!;
  const wq = waiting.inputs.metricQueries as Query[];
  assert.match(wq.find((q) => q.returnData)!.expression!, /FILL\(running, 0\) == 0/);
  assert.deepEqual(wq.find((q) => q.id === 'running')?.metric?.dimensions, { ClusterName: 'synkti-dev', ServiceName: 'synkti-dev-worker' });
  assert.equal(
    (
      policies.get('batch-scale-from-zero')!.inputs.stepScalingPolicyConfiguration as {
        stepAdjustments: Array<{ scalingAdjustment: number }>;
      }
    ).stepAdjustments[0]?.scalingAdjustment,
    1,
  );
  const cluster = one(resources, 'aws:ecs/cluster:Cluster');
  assert.deepEqual(cluster.inputs.settings, [{ name: 'containerInsights', value: 'enabled' }], 'RunningTaskCount is published');
});

test("backlogSource 'queue': target tracking on metric math over what SQS and Container Insights publish", async () => {
  const { resources } = await batch({ backlogSource: 'queue' });
  const tracking = ofType(resources, 'aws:appautoscaling/policy:Policy').find((p) => p.name === 'batch-backlog')!.inputs
    .targetTrackingScalingPolicyConfiguration as {
    customizedMetricSpecification: {
      namespace?: string;
      metrics: Array<{
        id: string;
        expression?: string;
        returnData: boolean;
        metricStat?: { metric: { namespace: string; metricName: string } };
      }>;
    };
  };
  const spec = tracking.customizedMetricSpecification;
  assert.equal(spec.namespace, undefined, 'no coordinator metric');
  assert.deepEqual(
    spec.metrics
      .filter((m) => m.metricStat)
      .map((m) => `${m.metricStat!.metric.namespace}/${m.metricStat!.metric.metricName}`)
      .sort(),
    [
      'AWS/SQS/ApproximateNumberOfMessagesDelayed',
      'AWS/SQS/ApproximateNumberOfMessagesNotVisible',
      'AWS/SQS/ApproximateNumberOfMessagesVisible',
      'ECS/ContainerInsights/RunningTaskCount',
    ],
  );
  assert.deepEqual(
    spec.metrics.filter((m) => m.returnData).map((m) => m.expression),
    ['IF(FILL(running, 0) > 0, (visible + inflight + delayed) / FILL(running, 1), visible + inflight + delayed)'],
  );
  await assert.rejects(batch({ backlogSource: 'cpu' as 'queue' }), /backlogSource/);
});

test('roles: no access keys, coordinator assumes a role, workers only their queues and payload prefix', async () => {
  const { resources, value } = await batch();
  assert.equal(
    resources.some((r) => r.type === 'aws:iam/accessKey:AccessKey' || r.type === 'aws:iam/user:User'),
    false,
  );
  const roles = new Map(ofType(resources, 'aws:iam/role:Role').map((r) => [r.name, r]));
  assert.deepEqual(policyOf(roles.get('batch-coordinator')!, 'assumeRolePolicy').Statement, [
    { Effect: 'Allow', Principal: { AWS: [`arn:aws:iam::${MOCK_ACCOUNT}:root`] }, Action: 'sts:AssumeRole' },
  ]);
  const policies = new Map(ofType(resources, 'aws:iam/rolePolicy:RolePolicy').map((p) => [p.name, policyOf(p).Statement]));
  for (const [name, statements] of policies) {
    for (const s of statements) {
      assert.equal(
        ([] as string[]).concat(s.Action).some((a) => a.includes('*')),
        false,
        `${name}/${s.Sid}: no wildcard action`,
      );
      if (([] as string[]).concat(s.Resource ?? []).includes('*')) assert.ok(s.Condition, `${name}/${s.Sid}: Resource * needs a condition`);
    }
  }
  const worker = new Map(policies.get('batch-task')!.map((s) => [s.Sid, s]));
  assert.equal(worker.get('LeaseTasks')?.Resource, `arn:aws:sqs:us-east-1:${MOCK_ACCOUNT}:synkti-dev-tasks`);
  assert.equal(worker.get('QueuePayloads')?.Resource, `arn:aws:s3:::synkti-dev-batch-${MOCK_ACCOUNT}/queue-payloads/*`);
  const coordinator = new Map(policies.get('batch-coordinator')!.map((s) => [s.Sid, s]));
  assert.deepEqual(coordinator.get('PublishBacklog')?.Condition, { StringEquals: { 'cloudwatch:namespace': 'Synkti/Batch' } });
  assert.deepEqual(coordinator.get('RunObjects')?.Resource, [
    `arn:aws:s3:::synkti-dev-batch-${MOCK_ACCOUNT}/runs/*`,
    `arn:aws:s3:::synkti-dev-batch-${MOCK_ACCOUNT}/queue-payloads/*`,
  ]);
  assert.equal(
    one(resources, 'aws:iam/rolePolicyAttachment:RolePolicyAttachment').inputs.policyArn,
    'arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy',
  );
  const env = await outputValue(value.coordinatorEnv);
  assert.equal(env.SYNKTI_COORDINATOR_ROLE_ARN, `arn:aws:iam::${MOCK_ACCOUNT}:role/synkti-dev-coordinator`);
  assert.equal(
    Object.keys(env).some((k) => /SECRET|ACCESS_KEY/.test(k)),
    false,
  );
  const repo = one(resources, 'aws:ecr/repository:Repository');
  assert.deepEqual(repo.inputs.imageScanningConfiguration, { scanOnPush: true });
  const sg = one(resources, 'aws:ec2/securityGroup:SecurityGroup');
  assert.deepEqual(sg.inputs.ingress, [], 'workers accept no connections');
  const container = JSON.parse(one(resources, 'aws:ecs/taskDefinition:TaskDefinition').inputs.containerDefinitions as string)[0] as {
    stopTimeout: number;
    portMappings?: unknown;
  };
  assert.equal(container.stopTimeout, 120);
  assert.equal(container.portMappings, undefined);
});

test('workers get every variable of the batch contract, so the default command runs with no flags', async () => {
  const { resources } = await batch({ objective: '/app/my-objective.js' });
  const container = JSON.parse(one(resources, 'aws:ecs/taskDefinition:TaskDefinition').inputs.containerDefinitions as string)[0] as {
    command: string[];
    environment: Array<{ name: string; value: string }>;
  };
  assert.deepEqual(container.command, ['synkti', 'batch', 'worker']);
  const env = Object.fromEntries(container.environment.map((e) => [e.name, e.value]));
  // The contract's reader (what the worker runs) accepts it: nothing missing, every value valid, the queue URLs the cluster's.
  const read = readStackEnvironment('batch worker', BATCH_WORKER_ENV, env);
  assert.equal(read.SYNKTI_OBJECTIVE, '/app/my-objective.js');
  const names = batchQueueNames(read.SYNKTI_CLUSTER!);
  assert.deepEqual(
    [read.SYNKTI_TASK_QUEUE_URL, read.SYNKTI_RESULT_QUEUE_URL, read.SYNKTI_DEAD_LETTER_QUEUE_URL].map((u) => queueNameOfUrl(u!)),
    [names.tasks, names.results, names.tasksDeadLetter],
  );
  // Every variable, except the state pools of a fleet that names none.
  for (const name of Object.keys(BATCH_WORKER_ENV)) if (name !== 'SYNKTI_STATE_POOLS') assert.ok(env[name], `${name} is injected`);
  assert.equal(env.SYNKTI_STATE_POOLS, undefined);
  assert.equal(env.SYNKTI_RUNS_PREFIX, BATCH_PREFIXES.runs);
});

test('statePools: the task definition carries SYNKTI_STATE_POOLS and the prefix, and a worker started with that environment fetches those pools', async () => {
  const { resources } = await batch({ statePools: ['rosenbrock-data', 'tables.v2'] });
  const container = JSON.parse(one(resources, 'aws:ecs/taskDefinition:TaskDefinition').inputs.containerDefinitions as string)[0] as {
    environment: Array<{ name: string; value: string }>;
  };
  const env = Object.fromEntries(container.environment.map((e) => [e.name, e.value]));
  assert.equal(env.SYNKTI_STATE_POOLS, 'rosenbrock-data,tables.v2');
  assert.equal(env.SYNKTI_STATE_POOLS_PREFIX, BATCH_PREFIXES.statePools);
  // What `synkti batch worker` with no flags makes of exactly this environment.
  const config = workerConfigFromStack(env);
  assert.deepEqual(config.statePools, {
    names: ['rosenbrock-data', 'tables.v2'],
    bucket: env.SYNKTI_BUCKET,
    root: BATCH_PREFIXES.statePools,
  });
  // The task role may read them (and only read: the coordinator role uploads).
  const task = ofType(resources, 'aws:iam/rolePolicy:RolePolicy').find((p) => p.name === 'batch-task');
  const read = task && policyOf(task).Statement.find((s) => s.Sid === 'ReadStatePools');
  assert.deepEqual(read?.Action, 's3:GetObject');
  assert.match(String(read?.Resource), /\/state-pools\/\*$/);
});

test('secrets go through ECS secrets, never plain environment', async () => {
  const arn = `arn:aws:secretsmanager:us-east-1:${MOCK_ACCOUNT}:secret:db-password-AbCdEf`;
  const { resources } = await batch({ secrets: { DB_PASSWORD: arn }, environmentVariables: { LOG_LEVEL: 'info' } });
  const container = JSON.parse(one(resources, 'aws:ecs/taskDefinition:TaskDefinition').inputs.containerDefinitions as string)[0] as {
    secrets: unknown;
    environment: Array<{ name: string }>;
  };
  assert.deepEqual(container.secrets, [{ name: 'DB_PASSWORD', valueFrom: arn }]);
  assert.equal(
    container.environment.some((e) => e.name === 'DB_PASSWORD'),
    false,
  );
  const exec = ofType(resources, 'aws:iam/rolePolicy:RolePolicy').find((p) => p.name === 'batch-execution-secrets');
  assert.deepEqual(exec && policyOf(exec).Statement[0]?.Resource, [arn]);
  await assert.rejects(
    batch({ environmentVariables: { DB_PASSWORD: 'hunter2' } }),
    (error: unknown) => isSynktiError(error, 'E_INFRA_INPUT') && /environmentVariables\.DB_PASSWORD.*secret/.test(error.message),
  );
});

test('spot off: only on-demand Fargate; existing VPC: no network made', async () => {
  const { resources } = await batch({ enableSpot: false, vpcId: 'vpc-1', subnetIds: ['subnet-1', 'subnet-2'] });
  assert.deepEqual(one(resources, 'aws:ecs/service:Service').inputs.capacityProviderStrategies, [
    { capacityProvider: 'FARGATE', base: 0, weight: 100 },
  ]);
  assert.equal(ofType(resources, 'aws:ec2/vpc:Vpc').length + ofType(resources, 'aws:ec2/subnet:Subnet').length, 0);
  assert.deepEqual((one(resources, 'aws:ecs/service:Service').inputs.networkConfiguration as { subnets: string[] }).subnets, [
    'subnet-1',
    'subnet-2',
  ]);
});

test('optional Redis: encrypted in transit and at rest, AUTH token, reachable only from the workers', async () => {
  const { resources } = await batch({ redis: { authToken: 'a-long-random-token-123', numNodes: 2 } });
  const redis = one(resources, 'aws:elasticache/replicationGroup:ReplicationGroup');
  assert.equal(redis.inputs.transitEncryptionEnabled, true);
  assert.equal(redis.inputs.atRestEncryptionEnabled, true);
  // Kept a Pulumi secret (encrypted in state), never a plain input.
  const SECRET_SIG = '4dabf18193072939515e22adb298388d';
  assert.deepEqual(redis.inputs.authToken, { [SECRET_SIG]: '1b47061264138c4ac30d75fd1eb44270', value: 'a-long-random-token-123' });
  assert.equal(redis.inputs.automaticFailoverEnabled, true);
  const sg = one(resources, 'aws:ec2/securityGroup:SecurityGroup', 'batch-redis');
  assert.deepEqual(sg.inputs.ingress, [
    { protocol: 'tcp', fromPort: 6379, toPort: 6379, securityGroups: ['sg-batch-tasks'], description: 'from batch workers' },
  ]);
});

test('environment comes from the stack name; an unnamed one is refused', async () => {
  assert.equal(environmentFromStack('ml-batch-prod'), 'production');
  assert.equal(environmentFromStack('acme.staging'), 'staging');
  assert.equal(environmentFromStack('dev'), 'dev');
  const { value } = await batch({}, 'team-production');
  assert.equal(value.environment, 'production');
  const explicit = await batch({ environment: 'staging' }, 'main');
  assert.equal(explicit.value.environment, 'staging');
  await assert.rejects(batch({}, 'main'), (error: unknown) => isSynktiError(error, 'E_INFRA_ENVIRONMENT') && /main/.test(error.message));
});

test('invalid inputs are refused, naming the field', async () => {
  const cases: Array<[SpotBatchFleetArgs, RegExp]> = [
    [{ workerCpu: 3000 }, /workerCpu/],
    [{ workerCpu: 1024, workerMemory: 512 }, /workerMemory/],
    [{ workerMinCount: 5, workerMaxCount: 2 }, /workerMaxCount/],
    [{ spotPercentage: 120 }, /spotPercentage/],
    [{ visibilityTimeout: '13 hours' }, /visibilityTimeout/],
    [{ visibilityTimeout: 'soon' }, /visibilityTimeout/],
    [{ messageRetention: '360 hours' }, /messageRetention.*60\.\.1209600/],
    [{ maxReceiveCount: 0 }, /maxReceiveCount/],
    [{ logRetentionDays: 10 }, /logRetentionDays/],
    [{ vpcId: 'vpc-1' }, /vpcId\/subnetIds/],
    [{ secrets: { TOKEN: 'plain' } }, /secrets\.TOKEN/],
    [{ backlogPerWorkerTarget: 0 }, /backlogPerWorkerTarget/],
    [{ vpcCidr: '10.0.0.0/24' }, /vpcCidr/],
    [{ statePools: ['ok', '../etc'] }, /statePools\[1\] \(\.\.\/etc\): state pool name/],
    [{ statePools: ['a', 'a'] }, /statePools\[1\] \("a"\) is listed twice/],
    [{ statePools: Array.from({ length: 33 }, (_, i) => `p${i}`) }, /statePools has 33 pools \(at most 32\)/],
  ];
  for (const [args, field] of cases) {
    await assert.rejects(batch(args), (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_INFRA_INPUT'), `${JSON.stringify(args)}: ${String(error)}`);
      assert.match(error.message, field);
      return true;
    });
  }
});
