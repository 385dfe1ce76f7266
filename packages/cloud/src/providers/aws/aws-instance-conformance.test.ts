/**
 * The InstanceProvider conformance suite against the AWS provider, backed by a stateful
 * in-memory EC2 (testing/fake-ec2.ts) that is eventually consistent: a new instance is
 * missing from its first DescribeInstances and unknown to its first mutating call.
 */
import { runInstanceProviderConformance } from '../../conformance/instances.ts';
import { createAwsInstanceProvider } from './aws-instance-provider.ts';
import { FakeEc2 } from './testing/fake-ec2.ts';

runInstanceProviderConformance('aws (in-memory EC2)', async () => {
  const ec2 = new FakeEc2({
    pendingMs: 20,
    shutdownMs: 60,
    hiddenDescribes: 1,
    hiddenMutations: 1,
    subnetZones: { 'subnet-0aaa': 'us-east-1a', 'subnet-0bbb': 'us-east-1b' },
  });
  const provider = createAwsInstanceProvider({
    imageId: 'ami-0123456789abcdef0',
    client: ec2.client,
    subnets: [
      { subnetId: 'subnet-0aaa', zone: 'us-east-1a' },
      { subnetId: 'subnet-0bbb', zone: 'us-east-1b' },
    ],
    backoffBaseMs: 10,
    // The suite launches ~17 instances in a few seconds: EC2's default RunInstances
    // bucket (5, 2/s) would make it wait ~6 s, as it should in production.
    rateLimits: { RunInstances: { bucket: 100, refillPerSecond: 100 } },
  });
  return {
    provider,
    cluster: 'conformance',
    launchDefaults: { instanceType: 't3.micro', lifecycle: 'spot' },
    settleTimeoutMs: 5000,
    pollIntervalMs: 20,
    async cleanup() {
      provider.close();
      ec2.mock.restore();
    },
  };
});
