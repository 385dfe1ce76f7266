import { SynktiError, type ClusterSpec } from '@synkti/core';
import { createAwsInstanceProvider, type AwsInstanceProviderOptions, type ImdsClient, type InstanceProvider } from '@synkti/cloud';

/**
 * How a worker on EC2 launches its replacements: like itself. The AMI, subnet, security
 * groups and instance profile come from its own instance metadata, so the cluster config
 * and the user data stay free of per-instance settings (one user data fits every worker).
 */
export async function awsLaunchSettingsFromMetadata(metadata: Pick<ImdsClient, 'read'>, region: string): Promise<AwsInstanceProviderOptions> {
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
      throw new SynktiError('E_AGENT_METADATA', 'instance metadata iam/info is not JSON', { hint: 'the instance metadata service answered something unexpected' });
    }
  }
  return {
    imageId,
    region,
    subnets: [{ subnetId, zone }],
    securityGroupIds: groups ? groups.split('\n').map((g) => g.trim()).filter(Boolean) : undefined,
    iamInstanceProfile,
  };
}

/** The EC2 provider a worker uses for membership listing and replacements. */
export async function awsProviderForWorker(metadata: ImdsClient, spec: ClusterSpec, region: string): Promise<InstanceProvider> {
  const settings = await awsLaunchSettingsFromMetadata(metadata, region);
  return createAwsInstanceProvider({ ...settings, region: spec.region ?? region });
}
