import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchPlan, spreadZoneOrder, zoneSpreadLimit, type AwsSubnet } from './launch-plan.ts';

const subnets: AwsSubnet[] = [
  { subnetId: 'subnet-a1', zone: 'us-east-1a' },
  { subnetId: 'subnet-a2', zone: 'us-east-1a' },
  { subnetId: 'subnet-b', zone: 'us-east-1b' },
  { subnetId: 'subnet-c', zone: 'us-east-1c' },
];
const base = {
  instanceTypes: ['p3.2xlarge'],
  lifecycle: 'spot' as const,
  onDemandFallback: true,
  subnets,
  zone: undefined,
  clientToken: 'synkti-replace-i-1',
  rotation: 0,
  callerToken: true,
};

test("spread: fewest held first, the notice's zone last, ties by rendezvous of the key (same for every caller)", () => {
  const zones = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
  assert.deepEqual(spreadZoneOrder({ zones, held: { 'us-east-1a': 2, 'us-east-1b': 0, 'us-east-1c': 1 }, key: 'k' }), [
    'us-east-1b',
    'us-east-1c',
    'us-east-1a',
  ]);
  assert.equal(spreadZoneOrder({ zones, held: { 'us-east-1b': 0 }, key: 'k', avoid: new Set(['us-east-1b']) }).at(-1), 'us-east-1b');
  assert.deepEqual(spreadZoneOrder({ zones, held: {}, key: 'k' }), spreadZoneOrder({ zones: [...zones].reverse(), held: {}, key: 'k' }));
  // Placing 6 launches one by one, each seeing the ones before: 2 per zone.
  const held: Record<string, number> = {};
  for (let i = 0; i < 6; i++) {
    const zone = spreadZoneOrder({ zones, held, key: `launch-${i}` })[0]!;
    held[zone] = (held[zone] ?? 0) + 1;
  }
  assert.deepEqual(Object.values(held), [2, 2, 2]);
  assert.equal(zoneSpreadLimit(4, 3), 2);
  assert.equal(zoneSpreadLimit(4, 0), 4);
});

test('the launch plan tries subnets in the spread order when given one, rotation otherwise', () => {
  const zoneOrder = ['us-east-1c', 'us-east-1a', 'us-east-1b'];
  const plan = launchPlan({ ...base, zoneOrder });
  assert.deepEqual(
    plan.filter((o) => o.lifecycle === 'spot').map((o) => o.zone),
    ['us-east-1c', 'us-east-1a', 'us-east-1a', 'us-east-1b'],
  );
  assert.deepEqual(
    plan.filter((o) => o.lifecycle === 'on-demand').map((o) => o.zone),
    ['us-east-1c', 'us-east-1a', 'us-east-1a', 'us-east-1b'],
  );
  assert.equal(plan[0]!.clientToken, base.clientToken, "the first option carries the caller's token");
  // Without an order: every subnet once per market, as before.
  assert.equal(launchPlan(base).filter((o) => o.lifecycle === 'spot').length, 4);
});
