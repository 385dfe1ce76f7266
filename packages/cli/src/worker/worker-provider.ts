/**
 * The instance provider `synkti worker` acts through, from the cluster's `provider`:
 * the embedded local cloud for 'local', EC2 for 'aws'. Each also says what user data a
 * new worker gets: local instances read the cluster config directly; EC2 instances get
 * the boot script that installs and starts the agent.
 */
import type { EC2Client } from '@aws-sdk/client-ec2';
import { MAX_CLUSTER_SUBNETS, SynktiError, serializeCluster, type ClusterSpec } from '@synkti/core';
import { createAwsInstanceProvider, renderWorkerUserData, type AwsSubnet, type InstanceProvider } from '@synkti/cloud';
import { openLocalFleet } from '../local-fleet.ts';
import { parseSubnet, splitList, userDataOptions, type AwsLaunchFlags, type UserDataFlags } from './worker-settings.ts';

export interface WorkerProvider {
  provider: InstanceProvider;
  /** 'local' or 'aws'. */
  kind: ClusterSpec['provider'];
  /** The user data for a new worker; rendered on first use (listing needs none). */
  userData(): Promise<string>;
  close(): void;
}

export interface OpenWorkerProviderOptions {
  /** The config file the spec came from (the local cloud's state lives beside it). */
  configFile: string;
  userData?: UserDataFlags | undefined;
  aws?: AwsLaunchFlags | undefined;
  /** An EC2 client to use (tests pass a mocked one). @default the SDK's default chain */
  ec2Client?: EC2Client | undefined;
}

/**
 * The spec the boot script carries: with the launch subnets (aws.subnets), so a worker's
 * replacements can go to any of the pool's zones, not only the worker's own.
 */
export function withLaunchSubnets(spec: ClusterSpec, subnets: readonly AwsSubnet[]): ClusterSpec {
  return subnets.length === 0 ? spec : { ...spec, aws: { subnets: subnets.map((s) => ({ subnetId: s.subnetId, zone: s.zone })) } };
}

export function openWorkerProvider(spec: ClusterSpec, options: OpenWorkerProviderOptions): WorkerProvider {
  if (spec.provider === 'local') {
    const fleet = openLocalFleet(spec, options.configFile);
    return { provider: fleet.cloud.instances, kind: 'local', userData: async () => serializeCluster(spec), close: () => fleet.close() };
  }
  if (spec.provider === 'aws') {
    const aws = options.aws ?? {};
    // The pool's instance types are the fallbacks on capacity errors, in the config's order.
    const instanceTypeFallbacks: Record<string, string[]> = {};
    for (const pool of Object.values(spec.pools)) {
      pool.instanceTypes.forEach((type, i) => {
        instanceTypeFallbacks[type] ??= pool.instanceTypes.filter((_, j) => j !== i);
      });
    }
    // The provider needs an AMI to exist, but only launch uses it: listing and terminating
    // work without --image-id (the placeholder is never sent to EC2).
    const subnets = splitList(aws.subnet).map(parseSubnet);
    if (subnets.length > MAX_CLUSTER_SUBNETS) {
      throw new SynktiError('E_USAGE', `--subnet: ${subnets.length} subnets, at most ${MAX_CLUSTER_SUBNETS}`, {
        hint: 'one or a few subnets per availability zone is enough',
      });
    }
    const twice = subnets.find((s, i) => subnets.findIndex((o) => o.subnetId === s.subnetId) !== i);
    if (twice)
      throw new SynktiError('E_USAGE', `--subnet: ${twice.subnetId} is given twice`, { hint: 'give each subnet once, with its zone' });
    const provider = createAwsInstanceProvider({
      imageId: aws.imageId ?? 'ami-00000000000000000',
      region: spec.region,
      client: options.ec2Client,
      subnets,
      securityGroupIds: splitList(aws.securityGroup),
      iamInstanceProfile: aws.instanceProfile,
      onDemandFallback: aws.onDemandFallback,
      instanceTypeFallbacks,
    });
    const instances: InstanceProvider = {
      launch: async (launch) => {
        if (!aws.imageId) {
          throw new SynktiError('E_USAGE', 'the AMI to launch is required for provider aws', {
            hint: 'pass --image-id ami-… (or set SYNKTI_IMAGE_ID): Amazon Linux 2023 has the aws CLI, curl and systemd the boot script uses',
          });
        }
        return provider.launch(launch);
      },
      list: (filter, page) => provider.list(filter, page),
      terminate: (ids) => provider.terminate(ids),
      tag: (ids, tags) => provider.tag(ids, tags),
      untag: (ids, keys) => provider.untag(ids, keys),
    };
    return {
      provider: instances,
      kind: 'aws',
      userData: async () => renderWorkerUserData(await userDataOptions(withLaunchSubnets(spec, subnets), options.userData ?? {})),
      close: () => provider.close(),
    };
  }
  throw new SynktiError('E_PROVIDER', `unknown provider '${String(spec.provider)}'`, { hint: 'use provider "local" or "aws"' });
}
