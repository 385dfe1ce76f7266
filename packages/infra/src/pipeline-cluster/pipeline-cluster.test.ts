/**
 * PipelineCluster under Pulumi mocks: what gets created per environment, secrets only by
 * reference, the GPU pool's queue-depth scaling, the database and its backups, the mapping
 * of alarms/dashboard/scaling to metrics that are really emitted, input checks, the audit
 * (passes on defaults, fails on planted breaches).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PIPELINE_AGENT_ENV, PIPELINE_METRICS, readStackEnvironment } from '@synkti/core/contracts';
import * as pulumi from '@pulumi/pulumi';
import { isSynktiError } from '@synkti/core';
import { AUDIT_RULES } from '../audit/audit-rules.ts';
import { auditResources } from '../audit/audit.ts';
import { SpotBatchFleet } from '../aws/spot-batch-fleet.ts';
import { SpotServeFleet } from '../aws/spot-serve-fleet.ts';
import { ENVIRONMENTS } from '../environments.ts';
import { countByType, ofType, one } from '../testing/find.ts';
import { parseJsonFilterPattern } from '../testing/log-filter-pattern.ts';
import { runMockStack, outputValue, type RecordedResource } from '../testing/mock-stack.ts';
import { PIPELINE_PRESETS, type PipelineClusterArgs } from './pipeline-args.ts';
import { PIPELINE_AUDIT_RULES } from './pipeline-audit-rules.ts';
import { PIPELINE_ALARMS, PipelineCluster } from './pipeline-cluster.ts';
import { EMITTED_METRICS, LOG_METRIC_FILTERS, PIPELINE_QUEUE_METRIC, knownMetricKeys } from './pipeline-metrics.ts';

const RULES = [...AUDIT_RULES, ...PIPELINE_AUDIT_RULES];

async function deploy(args: PipelineClusterArgs = {}, stack = 'dev') {
  return runMockStack((opts) => new PipelineCluster('pipes', args, opts), { stack });
}

/** Default stacks are rendered once per environment and shared by the tests that only read them. */
const defaults = new Map<string, ReturnType<typeof deploy>>();
function defaultStack(environment: string): ReturnType<typeof deploy> {
  let run = defaults.get(environment);
  if (!run) {
    run = deploy({}, environment);
    defaults.set(environment, run);
  }
  return run;
}

interface ContainerDef {
  name: string;
  environment: Array<{ name: string; value: string }>;
  secrets: Array<{ name: string; valueFrom: string }>;
  resourceRequirements?: Array<{ type: string; value: string }>;
  logConfiguration: { options: Record<string, string> };
  repositoryCredentials?: { credentialsParameter: string };
}
const containers = (r: RecordedResource): ContainerDef[] => JSON.parse(r.inputs.containerDefinitions as string) as ContainerDef[];
const errorsOf = (resources: RecordedResource[]): string[] =>
  auditResources(resources, { rules: RULES })
    .findings.filter((f) => f.severity === 'error')
    .map((f) => f.rule);
const secretWrapped = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  (v as Record<string, unknown>)['4dabf18193072939515e22adb298388d'] === '1b47061264138c4ac30d75fd1eb44270';

for (const environment of ENVIRONMENTS) {
  test(`${environment}: VPC, API on Fargate behind a listening ALB, pools on ASGs with capacity providers, RDS + proxy, S3, dashboard, alarms, no Redis; audit passes`, async () => {
    const preset = PIPELINE_PRESETS[environment];
    const { resources, value } = await defaultStack(environment);
    const counts = countByType(resources);
    assert.equal(counts['aws:ec2/vpc:Vpc'], 1);
    const subnets = ofType(resources, 'aws:ec2/subnet:Subnet');
    assert.equal(subnets.filter((s) => s.name.includes('-public-')).length, preset.azCount);
    assert.equal(subnets.filter((s) => s.name.includes('-private-')).length, preset.azCount);
    assert.equal(counts['aws:ec2/natGateway:NatGateway'], preset.natPerZone ? preset.azCount : 1);
    assert.ok(
      subnets.every((s) => s.inputs.mapPublicIpOnLaunch !== true),
      'no public IPs on launch',
    );

    const alb = one(resources, 'aws:lb/loadBalancer:LoadBalancer');
    assert.equal(alb.inputs.internal, true, 'internal API by default');
    const listeners = ofType(resources, 'aws:lb/listener:Listener');
    assert.deepEqual(
      listeners.map((l) => l.inputs.port),
      [80],
      'the load balancer listens',
    );
    const api = one(resources, 'aws:ecs/service:Service', 'pipes-api');
    assert.deepEqual(api.inputs.capacityProviderStrategies, [{ capacityProvider: 'FARGATE', weight: 1, base: 1 }]);
    assert.equal(api.inputs.desiredCount, preset.apiDesiredCount);
    assert.equal((api.inputs.networkConfiguration as { assignPublicIp: boolean }).assignPublicIp, false);
    assert.deepEqual(one(resources, 'aws:ecs/taskDefinition:TaskDefinition', 'pipes-api').inputs.requiresCompatibilities, ['FARGATE']);

    for (const pool of ['exec', 'snark', 'gpu']) {
      const asg = one(resources, 'aws:autoscaling/group:Group', `pipes-${pool}`);
      assert.equal(asg.inputs.protectFromScaleIn, true, `${pool}: managed termination protection`);
      const cp = one(resources, 'aws:ecs/capacityProvider:CapacityProvider', `pipes-${pool}`);
      const provider = cp.inputs.autoScalingGroupProvider as { autoScalingGroupArn: string; managedScaling: { status: string } };
      assert.equal(provider.autoScalingGroupArn, asg.state.arn, `${pool}: capacity provider on its own group`);
      assert.equal(provider.managedScaling.status, 'ENABLED');
      const service = one(resources, 'aws:ecs/service:Service', `pipes-${pool}`);
      assert.deepEqual(service.inputs.capacityProviderStrategies, [
        { capacityProvider: `synkti-${environment}-${pool}`, weight: 1, base: 0 },
      ]);
    }
    const lts = new Map(ofType(resources, 'aws:ec2/launchTemplate:LaunchTemplate').map((t) => [t.name, t]));
    assert.equal(lts.get('pipes-exec')?.inputs.instanceType, 'r7iz.2xlarge');
    assert.equal(lts.get('pipes-snark')?.inputs.instanceType, 'c7a.4xlarge');
    assert.equal(lts.get('pipes-gpu')?.inputs.instanceType, 'g6e.xlarge');
    const gpuDef = containers(one(resources, 'aws:ecs/taskDefinition:TaskDefinition', 'pipes-gpu'))[0] as ContainerDef & {
      command: string[];
    };
    // No flags: the agent publishes the queue depth the GPU pool scales from with Cluster = SYNKTI_CLUSTER (agentOptionsFromStack).
    assert.deepEqual(gpuDef.command, ['agent']);
    const gpuEnv = Object.fromEntries(gpuDef.environment.map((e) => [e.name, e.value]));
    assert.deepEqual(
      [gpuEnv.SYNKTI_POOL, gpuEnv.SYNKTI_CLUSTER],
      ['gpu', `synkti-${environment}`],
      'agents publish the queue depth the GPU pool scales from',
    );
    const apiDef = containers(one(resources, 'aws:ecs/taskDefinition:TaskDefinition', 'pipes-api'))[0] as ContainerDef & {
      command: string[];
    };
    assert.deepEqual(apiDef.command, ['api', '--host', '0.0.0.0', '--port', '8080', '--metrics-cluster', `synkti-${environment}`]);
    assert.deepEqual(gpuDef?.resourceRequirements, [{ type: 'GPU', value: '1' }]);

    const db = one(resources, 'aws:rds/instance:Instance');
    assert.equal(db.inputs.backupRetentionPeriod, preset.dbBackupRetentionDays);
    assert.equal(db.inputs.multiAz, preset.dbMultiAz);
    assert.equal(db.inputs.deletionProtection, preset.deletionProtection);
    assert.equal(db.inputs.skipFinalSnapshot, !preset.dbFinalSnapshot);
    assert.equal(counts['aws:rds/proxy:Proxy'], 1);
    // No code reads a cache: PipelineCluster does not pay for one (issue 20).
    assert.equal(counts['aws:elasticache/replicationGroup:ReplicationGroup'] ?? 0, 0);
    assert.equal(counts['aws:elasticache/subnetGroup:SubnetGroup'] ?? 0, 0);
    assert.equal(counts['synkti:aws:SecureBucket'], 1);
    assert.equal(counts['aws:cloudwatch/dashboard:Dashboard'], 1);
    const alarms = ofType(resources, 'aws:cloudwatch/metricAlarm:MetricAlarm');
    assert.deepEqual(alarms.map((x) => x.name.replace('pipes-', '')).sort(), Object.keys(PIPELINE_ALARMS).sort());
    const topic = one(resources, 'aws:sns/topic:Topic');
    for (const x of alarms) assert.deepEqual(x.inputs.alarmActions, [topic.state.arn], `${x.name} notifies SNS`);

    assert.equal(
      await outputValue(value.dashboardUrl),
      `https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=synkti-${environment}`,
    );
    assert.match(await outputValue(value.apiUrl), /^http:\/\/synkti-.*-api\.us-east-1\.elb\.amazonaws\.com$/);
    assert.deepEqual(
      auditResources(resources, { rules: RULES }).findings.filter((f) => f.severity === 'error'),
      [],
      'audit passes',
    );
  });
}

test('secrets: each in Secrets Manager, injected by valueFrom, none in plain environment; database password managed by RDS', async () => {
  const { resources, value } = await deploy({
    secrets: { BROKER_PRIVATE_KEY: pulumi.secret('ab'.repeat(32)), RPC_URL: pulumi.secret('https://user:pw@rpc.example') },
    secretArns: { ORDER_STREAM_URL: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:order-stream-AbCdEf' },
    registryCredentials: pulumi.secret('{"username":"u","password":"p"}'),
    environmentVariables: { SEGMENT_SIZE: '21', SNARK_TIMEOUT: '180' },
    pipelineModules: ['/app/pipelines.js'],
  });
  const secrets = ofType(resources, 'aws:secretsmanager/secret:Secret');
  assert.deepEqual(secrets.map((s) => s.inputs.name).sort(), [
    'synkti-dev/broker-private-key',
    'synkti-dev/registry-credentials',
    'synkti-dev/rpc-url',
  ]);
  for (const v of ofType(resources, 'aws:secretsmanager/secretVersion:SecretVersion'))
    assert.equal(secretWrapped(v.inputs.secretString), true, `${v.name}: value is a Pulumi secret`);
  const db = one(resources, 'aws:rds/instance:Instance');
  assert.equal(db.inputs.manageMasterUserPassword, true);
  assert.equal(db.inputs.password, undefined, 'no password in config or state');

  const secretValues = ['ab'.repeat(32), 'https://user:pw@rpc.example', '"password":"p"'];
  for (const def of ofType(resources, 'aws:ecs/taskDefinition:TaskDefinition')) {
    const text = def.inputs.containerDefinitions as string;
    for (const s of secretValues) assert.equal(text.includes(s), false, `${def.name}: no secret value in the task definition`);
    const [c] = containers(def);
    const command = (c as ContainerDef & { command: string[] }).command;
    if (command[0] === 'agent') {
      // An agent runs from the stack's variables alone: the contract's reader accepts what the stack injects.
      assert.deepEqual(command, ['agent']);
      const env = Object.fromEntries(
        (c as ContainerDef & { environment: Array<{ name: string; value: string }> }).environment.map((e) => [e.name, e.value]),
      );
      const read = readStackEnvironment('agent', PIPELINE_AGENT_ENV, env);
      assert.equal(read.SYNKTI_PIPELINES, '/app/pipelines.js');
      assert.match(read.SYNKTI_PIPELINE_DB ?? '', /^postgres:\/\/synkti@[^:]+:5432\/synkti\?sslmode=require$/);
    } else {
      assert.deepEqual(command.slice(-2), ['--pipeline', '/app/pipelines.js']);
    }
    assert.deepEqual(
      c?.secrets.map((s) => s.name),
      ['BROKER_PRIVATE_KEY', 'ORDER_STREAM_URL', 'PGPASSWORD', 'RPC_URL'],
    );
    assert.match(c?.secrets.find((s) => s.name === 'PGPASSWORD')?.valueFrom ?? '', /:password::$/);
    assert.equal(
      c?.secrets.find((s) => s.name === 'ORDER_STREAM_URL')?.valueFrom,
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:order-stream-AbCdEf',
    );
    assert.ok(c?.repositoryCredentials?.credentialsParameter.startsWith('arn:aws:secretsmanager:'), 'registry credentials by reference');
    const env = new Map(c?.environment.map((e) => [e.name, e.value]));
    assert.equal(env.get('SEGMENT_SIZE'), '21');
    assert.equal(env.get('PGSSLMODE'), 'require');
    assert.equal(
      env.get('SYNKTI_PIPELINE_DB'),
      `postgres://synkti@${env.get('PGHOST')}:5432/synkti?sslmode=require`,
      'synkti agent|api open the task database through the proxy (PGHOST = proxy endpoint)',
    );
    assert.doesNotMatch(env.get('SYNKTI_PIPELINE_DB') ?? '', /:[^/@]+@/, 'no password in the database URL');
    for (const name of env.keys()) assert.doesNotMatch(name, /PASSWORD|SECRET|TOKEN|PRIVATE_KEY/);
  }
  const execPolicy = JSON.parse(one(resources, 'aws:iam/rolePolicy:RolePolicy', 'pipes-execution-secrets').inputs.policy as string) as {
    Statement: Array<{ Resource: string[] }>;
  };
  const readable = execPolicy.Statement[0]?.Resource ?? [];
  for (const s of secrets) assert.ok(readable.includes(s.state.arn as string), `execution role reads ${s.name}`);
  assert.ok(readable.includes('arn:aws:secretsmanager:us-east-1:123456789012:secret:order-stream-AbCdEf'));
  assert.deepEqual(Object.keys(await outputValue(value.secretArns)).sort(), [
    'BROKER_PRIVATE_KEY',
    'ORDER_STREAM_URL',
    'PGPASSWORD',
    'RPC_URL',
  ]);
  assert.deepEqual(errorsOf(resources), []);
});

test('GPU pool: spot mixed-instances group (no spot in the template) and scaling from ready + claimed tasks per running agent', async () => {
  const { resources } = await defaultStack('production');
  const asg = one(resources, 'aws:autoscaling/group:Group', 'pipes-gpu');
  const policy = asg.inputs.mixedInstancesPolicy as {
    instancesDistribution: Record<string, unknown>;
    launchTemplate: { overrides: Array<{ instanceType: string }> };
  };
  assert.deepEqual(policy.instancesDistribution, {
    onDemandBaseCapacity: 1,
    onDemandPercentageAboveBaseCapacity: 0,
    spotAllocationStrategy: 'price-capacity-optimized',
  });
  assert.deepEqual(
    policy.launchTemplate.overrides.map((x) => x.instanceType),
    ['g6e.xlarge', 'g6e.2xlarge'],
  );
  assert.equal(asg.inputs.capacityRebalance, true);
  const lt = one(resources, 'aws:ec2/launchTemplate:LaunchTemplate', 'pipes-gpu');
  assert.equal(lt.inputs.instanceMarketOptions, undefined);
  assert.match(Buffer.from(lt.inputs.userData as string, 'base64').toString(), /ECS_ENABLE_SPOT_INSTANCE_DRAINING=true/);
  assert.deepEqual(lt.inputs.metadataOptions, {
    httpEndpoint: 'enabled',
    httpTokens: 'required',
    httpPutResponseHopLimit: 2,
    instanceMetadataTags: 'enabled',
  });

  const target = one(resources, 'aws:appautoscaling/target:Target');
  assert.deepEqual(
    [target.inputs.minCapacity, target.inputs.maxCapacity],
    [PIPELINE_PRESETS.production.gpuMin, PIPELINE_PRESETS.production.gpuMax],
  );
  assert.equal(target.inputs.resourceId, 'service/synkti-production/synkti-production-gpu');
  const scaling = one(resources, 'aws:appautoscaling/policy:Policy');
  const spec = scaling.inputs.targetTrackingScalingPolicyConfiguration as {
    targetValue: number;
    customizedMetricSpecification: {
      metrics: Array<{
        id: string;
        expression?: string;
        metricStat?: { metric: { namespace: string; metricName: string; dimensions: Array<{ name: string; value: string }> } };
      }>;
    };
  };
  assert.equal(spec.targetValue, 2);
  const ready = spec.customizedMetricSpecification.metrics.find((x) => x.id === 'ready')?.metricStat?.metric;
  assert.deepEqual(ready, {
    namespace: 'Synkti/Pipelines',
    metricName: 'ReadyTasks',
    dimensions: [
      { name: 'Cluster', value: 'synkti-production' },
      { name: 'Pool', value: 'gpu' },
    ],
  });
  const claimed = spec.customizedMetricSpecification.metrics.find((x) => x.id === 'claimed')?.metricStat?.metric;
  assert.deepEqual(claimed, { ...ready, metricName: 'ClaimedTasks' }, 'in-flight tasks count too: no scale-in under running work');
  assert.equal(
    spec.customizedMetricSpecification.metrics.find((x) => x.id === 'perAgent')?.expression,
    'IF(running > 0, (ready + claimed) / running, ready + claimed)',
  );
  // Only the GPU pool scales from the queue; the agents may publish the metric, only in its namespace.
  assert.equal(ofType(resources, 'aws:appautoscaling/target:Target').length, 1);
  const taskPolicy = JSON.parse(one(resources, 'aws:iam/rolePolicy:RolePolicy', 'pipes-task').inputs.policy as string) as {
    Statement: Array<{ Sid: string; Condition?: unknown }>;
  };
  assert.deepEqual(taskPolicy.Statement.find((s) => s.Sid === 'PublishPipelineMetrics')?.Condition, {
    StringEquals: { 'cloudwatch:namespace': PIPELINE_QUEUE_METRIC.namespace },
  });
  const missing = one(resources, 'aws:cloudwatch/metricAlarm:MetricAlarm', 'pipes-queue-metric-missing');
  assert.equal(missing.inputs.treatMissingData, 'breaching', 'fires while nothing publishes the queue depth');
});

test('database: private, encrypted, reachable only through the proxy (TLS), which only services reach', async () => {
  const { resources } = await defaultStack('staging');
  const db = one(resources, 'aws:rds/instance:Instance');
  assert.equal(db.inputs.publiclyAccessible, false);
  assert.equal(db.inputs.storageEncrypted, true);
  assert.equal(db.inputs.finalSnapshotIdentifier, 'synkti-staging-postgres-final');
  assert.deepEqual(db.inputs.vpcSecurityGroupIds, ['sg-pipes-db']);
  const params = one(resources, 'aws:rds/parameterGroup:ParameterGroup').inputs.parameters as Array<{ name: string; value: string }>;
  assert.ok(params.some((x) => x.name === 'rds.force_ssl' && x.value === '1'));
  const proxy = one(resources, 'aws:rds/proxy:Proxy');
  assert.equal(proxy.inputs.requireTls, true);
  assert.equal((proxy.inputs.auths as Array<{ authScheme: string }>)[0]?.authScheme, 'SECRETS');
  const ingress = (name: string) =>
    one(resources, 'aws:ec2/securityGroup:SecurityGroup', name).inputs.ingress as Array<{
      fromPort: number;
      securityGroups?: string[];
      cidrBlocks?: string[];
    }>;
  assert.deepEqual(
    ingress('pipes-db').map((r) => [r.fromPort, r.securityGroups]),
    [[5432, ['sg-pipes-db-proxy']]],
  );
  assert.deepEqual(
    ingress('pipes-db-proxy').map((r) => [r.fromPort, r.securityGroups]),
    [[5432, ['sg-pipes-api', 'sg-pipes-agents']]],
  );
  assert.deepEqual(ingress('pipes-agents'), [], 'agents accept nothing');
  for (const sg of ofType(resources, 'aws:ec2/securityGroup:SecurityGroup')) {
    for (const r of (sg.inputs.ingress ?? []) as Array<{ cidrBlocks?: string[] }>)
      assert.ok(!(r.cidrBlocks ?? []).includes('0.0.0.0/0'), `${sg.name}: nothing from the world`);
  }
});

test('public API with a certificate: HTTPS listener, HTTP redirect, load balancer in public subnets', async () => {
  const { resources, value } = await deploy({ publicApi: true, certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/x' });
  const alb = one(resources, 'aws:lb/loadBalancer:LoadBalancer');
  assert.equal(alb.inputs.internal, false);
  assert.ok((alb.inputs.subnets as string[]).every((s) => s.startsWith('pipes-public-')));
  const listeners = ofType(resources, 'aws:lb/listener:Listener');
  assert.deepEqual(listeners.map((l) => [l.inputs.port, l.inputs.protocol]).sort(), [
    [443, 'HTTPS'],
    [80, 'HTTP'],
  ]);
  assert.match(await outputValue(value.apiUrl), /^https:\/\//);
  assert.deepEqual(errorsOf(resources), [], 'world on 80/443 of a load balancer only');
});

test('metrics mapping: alarms, scaling and dashboard read only emitted metrics; log filters match structured events; filters run over the log groups agents write', async () => {
  const { resources } = await defaultStack('production');
  const known = knownMetricKeys();
  const alarms = ofType(resources, 'aws:cloudwatch/metricAlarm:MetricAlarm');
  for (const [alarmId, metricId] of Object.entries(PIPELINE_ALARMS)) {
    const x = alarms.find((r) => r.name === `pipes-${alarmId}`);
    const metric = EMITTED_METRICS.find((mm) => mm.id === metricId);
    assert.ok(x && metric, alarmId);
    assert.deepEqual([x.inputs.namespace, x.inputs.metricName], [metric.namespace, metric.metricName], `${alarmId} watches ${metricId}`);
    assert.deepEqual(
      Object.keys((x.inputs.dimensions ?? {}) as object).sort(),
      [...metric.dimensions].sort(),
      `${alarmId}: the dimensions the metric is published with`,
    );
  }
  const body = JSON.parse(one(resources, 'aws:cloudwatch/dashboard:Dashboard').inputs.dashboardBody as string) as {
    widgets: Array<{ properties: { metrics: string[][] } }>;
  };
  const rows = body.widgets.flatMap((w) => w.properties.metrics);
  assert.ok(rows.length >= 15);
  for (const row of rows) assert.ok(known.has(`${row[0]}/${row[1]}`), `dashboard ${row[0]} ${row[1]} is emitted`);

  for (const m of EMITTED_METRICS) {
    if (m.source === 'aws') assert.match(m.namespace, /^(AWS\/|ECS\/ContainerInsights$)/, `${m.id}: an AWS namespace`);
    if (m.source === 'synkti') assert.equal(m.namespace, PIPELINE_METRICS.namespace, `${m.id}: published under the contract's namespace`);
    if (m.source !== 'log') continue;
    // The filter counts the structured event (pipeline-log-events.test.ts runs the agent and matches its lines).
    const filter = LOG_METRIC_FILTERS.find((f) => f.metric === m.id);
    assert.ok(filter && m.logEvent, `${m.id} has a metric filter and an event`);
    assert.ok(
      parseJsonFilterPattern(filter.pattern).some((term) => term.path.join('.') === 'event' && term.value === m.logEvent),
      `${m.id}: ${filter.pattern} matches ${m.logEvent}`,
    );
  }
  const agentGroups = new Set(
    ofType(resources, 'aws:ecs/taskDefinition:TaskDefinition')
      .filter((t) => t.name !== 'pipes-api')
      .map((t) => containers(t)[0]?.logConfiguration.options['awslogs-group']),
  );
  assert.deepEqual([...agentGroups].sort(), [
    '/synkti/synkti-production/agent-exec',
    '/synkti/synkti-production/agent-gpu',
    '/synkti/synkti-production/agent-snark',
  ]);
  const filters = ofType(resources, 'aws:cloudwatch/logMetricFilter:LogMetricFilter');
  assert.equal(filters.length, LOG_METRIC_FILTERS.length * 3);
  for (const flt of filters) assert.ok(agentGroups.has(flt.inputs.logGroupName as string), `${flt.name} reads a log group agents write`);
  const asg = one(resources, 'aws:autoscaling/group:Group', 'pipes-gpu');
  assert.ok((asg.inputs.enabledMetrics as string[]).includes('GroupInServiceInstances'), 'group metrics on: the dashboard reads them');
  const cluster = one(resources, 'aws:ecs/cluster:Cluster');
  assert.deepEqual(
    cluster.inputs.settings,
    [{ name: 'containerInsights', value: 'enabled' }],
    'Container Insights on: RunningTaskCount is emitted',
  );
});

test('input checks: secret-looking plain variables, bad secret ARNs, pool bounds', async () => {
  await assert.rejects(
    deploy({ environmentVariables: { DB_PASSWORD: 'x' } }),
    (e: unknown) => isSynktiError(e, 'E_INFRA_INPUT') && /secrets:/.test((e as { hint?: string }).hint ?? ''),
  );
  await assert.rejects(deploy({ environmentVariables: { PGHOST: 'x' } }), /set by PipelineCluster/);
  await assert.rejects(deploy({ secretArns: { KEY: 'not-an-arn' } }), /not a Secrets Manager/);
  await assert.rejects(
    deploy({ pools: [{ name: 'gpu', instanceTypes: ['g6e.xlarge'], taskCpu: 1024, taskMemory: 2048, desiredTasks: 5, maxTasks: 2 }] }),
    /minTasks ≤ desiredTasks ≤ maxTasks/,
  );
  await assert.rejects(
    deploy({
      pools: [
        {
          name: 'gpu',
          instanceTypes: ['g6e.xlarge'],
          taskCpu: 1024,
          taskMemory: 2048,
          desiredTasks: 1,
          minTasks: 1,
          maxTasks: 1,
          scaleOnQueue: true,
        },
      ],
    }),
    /equals minTasks \(1\) with scaleOnQueue/,
  );
  await assert.rejects(deploy({ vpcCidr: '10.0.0.0/8' }), /not a \/16/);
});

test('audit fails on planted breaches', async () => {
  const { resources } = await defaultStack('dev');
  const plant = (pick: (r: RecordedResource) => boolean, change: (i: Record<string, unknown>) => Record<string, unknown>): string[] =>
    errorsOf(resources.map((r) => (pick(r) ? { ...r, inputs: change(r.inputs) } : r)));
  const isDb = (r: RecordedResource) => r.type === 'aws:rds/instance:Instance';
  const isApiDef = (r: RecordedResource) => r.type === 'aws:ecs/taskDefinition:TaskDefinition' && r.name === 'pipes-api';
  const withEnv = (extra: Array<{ name: string; value: string }>) => (i: Record<string, unknown>) => {
    const defs = JSON.parse(i.containerDefinitions as string) as ContainerDef[];
    (defs[0] as ContainerDef).environment.push(...extra);
    return { ...i, containerDefinitions: JSON.stringify(defs) };
  };
  assert.deepEqual(
    plant(isDb, (i) => ({ ...i, publiclyAccessible: true })),
    ['database-public'],
  );
  assert.deepEqual(
    plant(isDb, (i) => ({ ...i, storageEncrypted: false })),
    ['database-encryption'],
  );
  assert.deepEqual(
    plant(isDb, (i) => ({ ...i, backupRetentionPeriod: 0 })),
    ['database-backups'],
  );
  assert.deepEqual(
    plant(
      (r) => r.type === 'aws:rds/proxy:Proxy',
      (i) => ({ ...i, requireTls: false }),
    ),
    ['database-proxy-tls'],
  );
  assert.deepEqual(plant(isApiDef, withEnv([{ name: 'DB_PASSWORD', value: 'hunter2' }])), ['plain-secret-env']);
  assert.deepEqual(plant(isApiDef, withEnv([{ name: 'SYNKTI_PIPELINE_DB_2', value: 'postgres://synkti:hunter2@db:5432/synkti' }])), [
    'credential-in-env-value',
  ]);
  assert.deepEqual(
    plant(
      (r) => r.name === 'pipes-db-storage-low',
      (i) => ({ ...i, namespace: 'Synkti/Pipelines', metricName: 'QueueDepth' }),
    ),
    ['metric-not-emitted'],
  );
  assert.deepEqual(
    plant(
      (r) => r.type === 'aws:appautoscaling/policy:Policy',
      (i) => ({
        ...i,
        targetTrackingScalingPolicyConfiguration: {
          targetValue: 1,
          customizedMetricSpecification: { namespace: 'Custom/Prover', metricName: 'QueueDepth', statistic: 'Average' },
        },
      }),
    ),
    ['metric-not-emitted'],
  );
  assert.deepEqual(
    plant(
      (r) => r.name === 'pipes-db' && r.type === 'aws:ec2/securityGroup:SecurityGroup',
      (i) => ({ ...i, ingress: [{ protocol: 'tcp', fromPort: 5432, toPort: 5432, cidrBlocks: ['0.0.0.0/0'] }] }),
    ),
    ['world-ingress'],
  );
  assert.deepEqual(
    plant(
      (r) => r.name === 'pipes-gpu' && r.type === 'aws:ec2/launchTemplate:LaunchTemplate',
      (i) => ({ ...i, instanceMarketOptions: { marketType: 'spot' } }),
    ),
    ['spot-template-in-mixed-group'],
  );
});

test("the added rules pass on issue 7's default fleets too (they can be registered globally)", async () => {
  const batch = await runMockStack((opts) => new SpotBatchFleet('batch', {}, opts), { stack: 'dev' });
  const serve = await runMockStack((opts) => new SpotServeFleet('serve', { loadBalancer: {} }, opts), { stack: 'dev' });
  for (const { resources } of [batch, serve]) assert.deepEqual(auditResources(resources, { rules: PIPELINE_AUDIT_RULES }).findings, []);
});
