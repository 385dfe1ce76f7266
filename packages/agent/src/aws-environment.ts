import { SynktiError, type ClusterSpec } from '@synkti/core';
import type { StructuredLogger } from '@synkti/core/process-log';
import {
  createAwsInstanceProvider,
  type AwsInstanceProviderOptions,
  type AwsSubnet,
  type ImdsClient,
  type InstanceProvider,
} from '@synkti/cloud';

/**
 * How a worker on EC2 launches its replacements: like itself. The AMI, subnet, security
 * groups and instance profile come from its own instance metadata, so the cluster config
 * and the user data stay free of per-instance settings (one user data fits every worker).
 */
export async function awsLaunchSettingsFromMetadata(
  metadata: Pick<ImdsClient, 'read'>,
  region: string,
): Promise<AwsInstanceProviderOptions> {
  const required = async (path: string): Promise<string> => {
    const value = await metadata.read(path);
    if (!value) {
      throw new SynktiError('E_AGENT_METADATA', `instance metadata has no ${path}`, {
        hint: 'the agent reads its launch settings from IMDSv2; is this an EC2 instance launched by synkti?',
      });
    }
    return value;
  };
  const [imageId, mac, zone] = await Promise.all([required('ami-id'), required('mac'), required('placement/availability-zone')]);
  const [subnetId, groups, iamInfo] = await Promise.all([
    required(`network/interfaces/macs/${mac}/subnet-id`),
    metadata.read(`network/interfaces/macs/${mac}/security-group-ids`),
    metadata.read('iam/info'),
  ]);
  let iamInstanceProfile: string | undefined;
  if (iamInfo) {
    try {
      const arn = (JSON.parse(iamInfo) as { InstanceProfileArn?: unknown }).InstanceProfileArn;
      if (typeof arn === 'string') iamInstanceProfile = arn;
    } catch {
      throw new SynktiError('E_AGENT_METADATA', 'instance metadata iam/info is not JSON', {
        hint: 'the instance metadata service answered something unexpected',
      });
    }
  }
  return {
    imageId,
    region,
    subnets: [{ subnetId, zone }],
    securityGroupIds: groups
      ? groups
          .split('\n')
          .map((g) => g.trim())
          .filter(Boolean)
      : undefined,
    iamInstanceProfile,
  };
}

/**
 * The subnets a worker's replacements may launch into: its own first (the one it knows
 * works), then the pool's other subnets from the cluster config (`spec.aws.subnets`,
 * written by whoever rendered the boot script from its launch subnets), so a launch's
 * `zoneOrder` can pick any of the pool's zones. Each subnet once; a config entry that names
 * the worker's own subnet with another zone is ignored (instance metadata is the truth).
 *
 * A config without subnets (a boot script rendered without --subnet, or by an older CLI)
 * keeps the worker's own subnet only, on purpose: looking the others up would need
 * ec2:DescribeSubnets, which the worker role does not have, and a guess at "the VPC's
 * subnets" could pick subnets the operator never meant for the fleet (no route, no NAT).
 */
export function mergeWorkerSubnets(own: AwsSubnet, configured: readonly AwsSubnet[] | undefined): AwsSubnet[] {
  const merged: AwsSubnet[] = [own];
  for (const subnet of configured ?? []) {
    if (!merged.some((s) => s.subnetId === subnet.subnetId)) merged.push({ subnetId: subnet.subnetId, zone: subnet.zone });
  }
  return merged;
}

export interface AwsWorkerProviderOptions {
  /** Told once when replacements must stay in this worker's zone (the config lists no subnets). @default none */
  logger?: Pick<StructuredLogger, 'warn'> | undefined;
  /** The EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  client?: AwsInstanceProviderOptions['client'];
}

/** The EC2 provider a worker uses for membership listing and replacements, with the subnets it may launch into. */
export async function awsProviderForWorker(
  metadata: Pick<ImdsClient, 'read'>,
  spec: ClusterSpec,
  region: string,
  options: AwsWorkerProviderOptions = {},
): Promise<{ instances: InstanceProvider; subnets: AwsSubnet[] }> {
  const settings = await awsLaunchSettingsFromMetadata(metadata, region);
  const own = settings.subnets![0]!;
  const subnets = mergeWorkerSubnets(own, spec.aws?.subnets);
  if (subnets.length === 1) {
    options.logger?.warn(
      { subnet: own.subnetId, zone: own.zone },
      "the cluster config lists no subnets: replacements launch in this worker's zone only (render the boot script with --subnet <id>:<zone> for each of the pool's zones)",
    );
  }
  return { instances: createAwsInstanceProvider({ ...settings, subnets, region: spec.region ?? region, client: options.client }), subnets };
}

/**
 * The spec a worker on EC2 runs with: pools that name no zones get the zones of the
 * subnets it can launch into, so its Replacer and SpotReturn put a zone order on each
 * launch (placementZoneOrder: the zones holding the fewest of the pool first, a notice's
 * zone last) instead of leaving the subnet to the provider's rotation. Configured zones win.
 */
export function withSubnetZones(spec: ClusterSpec, subnets: readonly AwsSubnet[]): ClusterSpec {
  const zones = [...new Set(subnets.map((s) => s.zone))];
  if (zones.length === 0) return spec;
  return {
    ...spec,
    pools: Object.fromEntries(Object.entries(spec.pools).map(([role, pool]) => [role, pool.zones ? pool : { ...pool, zones }])),
  };
}
