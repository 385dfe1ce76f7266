import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deserializeCluster, serializeCluster, MAX_CLUSTER_SUBNETS } from './cluster-serialization.ts';
import { validateCluster, type ClusterSpec } from './cluster-spec.ts';

const base = validateCluster({ name: 'prod', provider: 'aws', region: 'us-east-1', pools: { worker: { count: 3 } } });
const subnet = (n: number, zone = 'us-east-1a') => ({ subnetId: `subnet-${n.toString(16).padStart(17, '0')}`, zone });
const withSubnets = (subnets: unknown): string => serializeCluster({ ...base, aws: { subnets } } as ClusterSpec);

test('the pool subnets travel in the cluster config and come back unchanged', () => {
  const subnets = [subnet(1, 'us-east-1a'), { subnetId: 'subnet-0b1c2d3e', zone: 'us-east-1b' }, subnet(3, 'us-west-2-lax-1a')];
  assert.deepEqual(deserializeCluster(withSubnets(subnets)).aws, { subnets });
  assert.equal(deserializeCluster(serializeCluster(base)).aws, undefined);
});

test('config subnets are bounded and checked: ids, zones, duplicates, count', () => {
  const bad: Array<[unknown, RegExp]> = [
    [[{ subnetId: 'subnet-XYZ', zone: 'us-east-1a' }], /aws\.subnets\.0\.subnetId: not an EC2 subnet id/],
    [[{ subnetId: `subnet-${'a'.repeat(33)}`, zone: 'us-east-1a' }], /subnetId/],
    [[{ subnetId: 'sg-0123456789abcdef0', zone: 'us-east-1a' }], /subnetId/],
    [[{ subnetId: 'subnet-0123456789abcdef0', zone: 'us-east-1a; rm -rf /' }], /aws\.subnets\.0\.zone: not an availability zone/],
    [[subnet(1), subnet(1, 'us-east-1b')], /lists a subnet twice/],
    [[], /aws\.subnets/],
    [Array.from({ length: MAX_CLUSTER_SUBNETS + 1 }, (_, i) => subnet(i + 1)), /aws\.subnets/],
    [[{ ...subnet(1), extra: 1 }], /aws\.subnets\.0/],
  ];
  for (const [subnets, message] of bad) {
    assert.throws(
      () => deserializeCluster(withSubnets(subnets)),
      (error: { code?: string; message?: string }) => {
        assert.equal(error.code, 'E_CONFIG_DATA');
        assert.match(error.message ?? '', message);
        return true;
      },
      JSON.stringify(subnets).slice(0, 80),
    );
  }
  assert.equal(
    deserializeCluster(withSubnets(Array.from({ length: MAX_CLUSTER_SUBNETS }, (_, i) => subnet(i + 1)))).aws?.subnets.length,
    MAX_CLUSTER_SUBNETS,
  );
});
