/**
 * `transform` hooks under Pulumi mocks: a user's hook changes the child resource the
 * component registers (what `pulumi up` would create), keeps its logical name, and leaves
 * the other children of the same kind alone when it says so.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineCluster } from '../pipeline-cluster/pipeline-cluster.ts';
import { runMockStack } from '../testing/mock-stack.ts';
import { ofType, one } from '../testing/find.ts';
import { SpotBatchFleet } from './spot-batch-fleet.ts';
import { SpotServeFleet } from './spot-serve-fleet.ts';

test('SpotBatchFleet: a function hook edits every queue, an object hook is merged over the service, the shared network takes its own hooks', async () => {
  const seen: string[] = [];
  const { resources } = await runMockStack(
    (opts) =>
      new SpotBatchFleet(
        'batch',
        {
          natGateway: true,
          transform: {
            queue: (args, _opts, name) => {
              seen.push(name);
              args.sqsManagedSseEnabled = false;
              args.kmsMasterKeyId = 'alias/team-key';
            },
            service: { enableExecuteCommand: true },
            vpc: (args) => {
              args.tags = { ...(args.tags as Record<string, string>), CostCenter: 'ml-42' };
            },
            routeTable: (args, _opts, name) => {
              if (name === 'batch-public') args.tags = { Name: 'edge' };
            },
          },
        },
        opts,
      ),
    { stack: 'dev' },
  );

  assert.deepEqual(
    seen.sort(),
    ['batch-results', 'batch-results-dlq', 'batch-tasks', 'batch-tasks-dlq'],
    'the hook saw each queue by its logical name',
  );
  for (const queue of ofType(resources, 'aws:sqs/queue:Queue')) {
    assert.equal(queue.inputs.kmsMasterKeyId, 'alias/team-key', `${queue.name} uses the user's key`);
    assert.equal(queue.inputs.sqsManagedSseEnabled, false);
    assert.ok(typeof queue.inputs.visibilityTimeoutSeconds === 'number', "the component's own args are kept");
  }
  const service = one(resources, 'aws:ecs/service:Service', 'batch-worker');
  assert.equal(service.inputs.enableExecuteCommand, true, 'object hook merged');
  assert.equal(service.inputs.name, 'synkti-dev-worker', 'keys the hook does not name stay as built');
  const vpc = one(resources, 'aws:ec2/vpc:Vpc', 'batch-vpc');
  assert.deepEqual(vpc.inputs.tags, { SynktiCluster: 'synkti-dev', SynktiEnvironment: 'dev', Name: 'synkti-dev', CostCenter: 'ml-42' });
  assert.deepEqual(one(resources, 'aws:ec2/routeTable:RouteTable', 'batch-public').inputs.tags, { Name: 'edge' });
  assert.equal(
    (one(resources, 'aws:ec2/routeTable:RouteTable', 'batch-private').inputs.tags as Record<string, string>).Name,
    'synkti-dev-private',
    'the hook skipped the other route table',
  );
});

test('PipelineCluster and SpotServeFleet: hooks reach the database, the task definitions and the launch template', async () => {
  const pipes = await runMockStack(
    (opts) =>
      new PipelineCluster(
        'pipes',
        {
          transform: {
            database: { instanceClass: 'db.r7g.large' },
            taskDefinition: (args, opts) => {
              opts.ignoreChanges = ['containerDefinitions'];
              args.tags = { Owner: 'pipelines' };
            },
          },
        },
        opts,
      ),
    { stack: 'dev' },
  );
  assert.equal(one(pipes.resources, 'aws:rds/instance:Instance', 'pipes-db').inputs.instanceClass, 'db.r7g.large');
  const tasks = ofType(pipes.resources, 'aws:ecs/taskDefinition:TaskDefinition');
  assert.ok(tasks.length >= 2, 'the API and at least one pool');
  for (const task of tasks) {
    assert.deepEqual(task.inputs.tags, { Owner: 'pipelines' });
    assert.deepEqual(task.ignoreChanges, ['containerDefinitions'], `${task.name}: the hook's resource options are used`);
  }

  const serve = await runMockStack(
    (opts) => new SpotServeFleet('serve', { transform: { launchTemplate: { ebsOptimized: 'true' } } }, opts),
    { stack: 'llm' },
  );
  const template = one(serve.resources, 'aws:ec2/launchTemplate:LaunchTemplate', 'serve-worker');
  assert.equal(template.inputs.ebsOptimized, 'true');
  assert.ok(template.inputs.metadataOptions, 'IMDSv2 settings the component built are still there');
});
