import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateInfraConfigCost } from '../infra-program.ts';
import { estimateCost, loadPriceTable } from './estimate-cost.ts';

const prices = loadPriceTable();

test("the reference's dev estimate (queue-training-infra.md): per-task Fargate Spot price, SQS and S3 lines reproduced", async () => {
  // The reference: 4× Fargate Spot (1 vCPU, 2 GB) "~$0.02" an hour, SQS 1M requests ~$0.40,
  // S3 10 GB ~$0.23, NAT disabled in dev, monthly at 10 h/day.
  const estimate = await estimateInfraConfigCost(
    { batch: { workerDesiredCount: 4, workerCpu: 1024, workerMemory: 2048, spotPercentage: 100 } },
    { stack: 'dev', hoursPerDay: 10, sqsRequestsPerMonth: 1_000_000, s3Gb: 10 },
  );
  const line = (resource: string) => estimate.lines.find((l) => l.resource === resource);
  assert.equal(line('SQS')?.monthly, 0.4);
  assert.ok(Math.abs(line('S3')!.monthly - 0.23) < 1e-9);
  assert.equal(
    estimate.lines.some((l) => /NAT/.test(l.what)),
    false,
    'no NAT gateway in dev',
  );
  const fargate = line('batch-worker')!;
  assert.equal(fargate.count, 4);
  const perTask = fargate.hourly / 4;
  // $0.0148 a task-hour: the reference's "~$0.02" to its one significant figure.
  assert.ok(perTask > 0.01 && perTask < 0.025, `per task ${perTask.toFixed(4)} $/h`);
  // Its "~$6/month" is $0.02 × 300 h for ONE task; four tasks cost four times that.
  assert.ok(Math.abs(fargate.monthly - fargate.hourly * 10 * 30) < 1e-9);
  assert.ok(fargate.monthly > 15 && fargate.monthly < 20, `4 tasks, 300 h: $${fargate.monthly.toFixed(2)}`);
});

test('a mixed-instances group is split into its on-demand base and spot above it; --at-max prices the maximum', () => {
  const resources = [
    {
      type: 'aws:ec2/launchTemplate:LaunchTemplate',
      name: 'lt',
      id: 'lt-1',
      inputs: { blockDeviceMappings: [{ ebs: { volumeSize: 100 } }] },
    },
    {
      type: 'aws:autoscaling/group:Group',
      name: 'workers',
      inputs: {
        desiredCapacity: 5,
        minSize: 1,
        maxSize: 10,
        mixedInstancesPolicy: {
          instancesDistribution: { onDemandBaseCapacity: 1, onDemandPercentageAboveBaseCapacity: 0 },
          launchTemplate: { launchTemplateSpecification: { launchTemplateId: 'lt-1' }, overrides: [{ instanceType: 'g5.xlarge' }] },
        },
      },
    },
  ];
  const od = prices.instances.aws['g5.xlarge']!;
  const spot = od * (1 - prices.spotDiscount.g5!);
  const desired = estimateCost(resources, prices);
  assert.ok(Math.abs(desired.hourly - (od + 4 * spot)) < 1e-9, 'one on-demand, four spot');
  assert.match(desired.lines[0]!.what, /1 on-demand, 4 spot/);
  assert.ok(
    Math.abs(desired.lines[0]!.monthly - ((od + 4 * spot) * 720 + 5 * 100 * prices.ebsGbMonth)) < 1e-6,
    'compute for 720 h plus 5 volumes',
  );
  const max = estimateCost(resources, prices, { atMax: true });
  assert.ok(Math.abs(max.hourly - (od + 9 * spot)) < 1e-9);
});

test('an instance type missing from the table is priced at $0 and named in a note, never silently', () => {
  const estimate = estimateCost([{ type: 'aws:ec2/instance:Instance', name: 'odd', inputs: { instanceType: 'x9.mega' } }], prices);
  assert.equal(estimate.hourly, 0);
  assert.ok(estimate.notes.some((n) => n.includes('x9.mega')));
});

test('the production pipeline cluster prices its database, proxy, NAT and load balancer around the clock, and no cache (it has none)', async () => {
  const estimate = await estimateInfraConfigCost({ pipelines: {} }, { stack: 'prod', hoursPerDay: 8 });
  const what = estimate.lines.map((l) => l.what).join('\n');
  for (const thing of [/RDS db\./, /RDS Proxy/, /NAT gateway/, /Application Load Balancer/]) assert.match(what, thing);
  assert.doesNotMatch(what, /ElastiCache/);
  const nat = estimate.lines.find((l) => /NAT/.test(l.what))!;
  assert.ok(Math.abs(nat.monthly - prices.natGatewayHour * 24 * 30) < 1e-9, 'always-on services count 24 h whatever --hours-per-day says');
  assert.ok(estimate.monthly > 0);
});
