/**
 * `KubernetesClusterArgs` and their resolution into one `RegionPlan` per region: what the
 * provider builders (aws/gcp/digitalocean) create. All input checks happen here, before
 * any resource registers.
 */
import type * as pulumi from '@pulumi/pulumi';
import { ENVIRONMENTS, environmentFromStack, type EnvironmentName } from '../environments.ts';
import { checkCidrs, checkInt, checkProjectName, inputError } from '../validate.ts';
import {
  K8S_MACHINE_SIZES,
  K8S_PROVIDERS,
  K8S_REGIONS,
  MACHINE_SIZES,
  validateRegionTable,
  type K8sProvider,
  type MachineSize,
  type ProviderMachine,
  type RegionEntry,
  type RegionTable,
} from './k8s-data.ts';
import { K8S_ENVIRONMENT_PRESETS } from './k8s-environments.ts';

const C = 'KubernetesCluster';

/** Kubernetes API behind the control-plane load balancer. */
export const K8S_API_PORT = 6443;
/** Talos API (apid), also behind it; trustd is 50001 (node to node only). */
export const TALOS_API_PORT = 50000;
export const TALOS_TRUSTD_PORT = 50001;

/** Node roles (the SynktiRole tag / synkti-role label). */
export const K8S_ROLES = { controlPlane: 'control-plane', worker: 'worker', stateful: 'stateful' } as const;

export interface AwsRegionNetwork {
  vpcId: pulumi.Input<string>;
  /** Subnets in different zones (private). */
  subnetIds: pulumi.Input<string>[];
}

export interface KubernetesClusterArgs {
  /** Cloud (reference `provider_type`). */
  provider: K8sProvider;
  /** Resource namespace; the cluster is `<projectName>-<environment>` (reference `cluster_name` = that + region). @default 'synkti' */
  projectName?: string | undefined;
  /** dev / staging / production preset (reference `environment`). @default from the stack name */
  environment?: EnvironmentName | undefined;
  /** Synkti region names (keys of data/k8s-regions.json or `regionTable`) (reference `region`). @default preset (dev, staging: nyc1; production: nyc1 + sfo1) */
  regions?: string[] | undefined;
  /** Region table to use instead of the shipped one (adding a region = adding an entry). @default data/k8s-regions.json */
  regionTable?: RegionTable | undefined;
  /** Control-plane nodes per region; odd, for etcd quorum (reference `control_plane_count`). @default preset (1 / 3 / 3) */
  controlPlaneCount?: number | undefined;
  /** Stateless workers per region (reference `worker_count`). @default preset (2 / 3 / 5) */
  workerCount?: number | undefined;
  /** Stateful workers per region (databases, storage nodes): never spot. @default 0 */
  statefulWorkerCount?: number | undefined;
  /** Worker size (reference `worker_machine_type`). @default preset (small / medium / large) */
  workerMachineSize?: MachineSize | undefined;
  /** Control-plane size. @default the worker size */
  controlPlaneMachineSize?: MachineSize | undefined;
  /** Spot for the stateless pool only (reference `use_spot_instances`); DigitalOcean has no spot and ignores it. @default preset (dev, staging: true; production: false) */
  useSpot?: boolean | undefined;
  /** On-demand workers kept under the spot ones. @default 1 */
  onDemandBaseCapacity?: number | undefined;
  /** Talos release (reference `talos_version`): names the DigitalOcean image. @default 'v1.8.0' */
  talosVersion?: string | undefined;
  /** Kubernetes release the machine configs were generated for (reference `kubernetes_version`). @default '1.30.0' */
  kubernetesVersion?: string | undefined;
  /**
   * Talos image per region name: an AMI id (AWS, from the Talos release's cloud-images.json)
   * or an image self-link (GCP, imported once). DigitalOcean defaults to a custom image made
   * from the Talos release. Required for AWS and GCP.
   * @default DigitalOcean: the release image; AWS/GCP: none (an error names the region)
   */
  images?: Record<string, pulumi.Input<string>> | undefined;
  /**
   * Talos machine configs (`talosctl gen config <cluster> https://<controlPlaneEndpoint>:6443`),
   * passed as user data and kept secret. Without them nodes boot into Talos maintenance mode
   * and wait for `talosctl apply-config`.
   * @default none
   */
  machineConfig?: { controlPlane: pulumi.Input<string>; worker: pulumi.Input<string> } | undefined;
  /** The talosconfig of those configs; exported as a secret output. @default none */
  talosconfig?: pulumi.Input<string> | undefined;
  /** The admin kubeconfig (`talosctl kubeconfig`); exported as a secret output. @default none */
  kubeconfig?: pulumi.Input<string> | undefined;
  /** AWS network per region name (reference `vpc_id`, `subnet_ids`). @default the region's default VPC and subnets */
  awsNetworks?: Record<string, AwsRegionNetwork> | undefined;
  /** GCP project. @default the provider configuration's project */
  gcpProject?: string | undefined;
  /** Node subnet per region (GCP subnetwork, DigitalOcean VPC). @default '10.20.0.0/20' */
  nodeCidr?: string | undefined;
  /**
   * Extra CIDR blocks allowed to reach the Kubernetes and Talos APIs through the internal
   * load balancer (VPN, bastion). Never the world.
   * @default [] (only from inside the network)
   */
  adminCidrBlocks?: string[] | undefined;
  /** Root disk size, GiB (encrypted). @default 50 */
  rootVolumeGiB?: number | undefined;
  /** KMS key for AWS EBS / GCP disks. @default the provider-managed key */
  kmsKeyId?: pulumi.Input<string> | undefined;
  /** AWS: spot interruption warnings per hour (per region) above which an alarm notifies. @default 3 */
  spotInterruptionsPerHour?: number | undefined;
  /** AWS: email addresses subscribed to each region's alerts topic. @default [] */
  alertEmails?: string[] | undefined;
  /** Tags / labels added to every resource. @default {} */
  tags?: Record<string, string> | undefined;
}

export interface WorkerPoolPlan {
  /** 'workers' (stateless) or 'stateful'. */
  name: 'workers' | 'stateful';
  role: 'worker' | 'stateful';
  count: number;
  machine: ProviderMachine;
  spot: boolean;
  onDemandBase: number;
}

export interface RegionPlan {
  key: string;
  entry: RegionEntry;
  providerRegion: string;
  /** `<cluster>-<region>` (reference cluster_name, e.g. synkti-production-nyc1). */
  clusterName: string;
  controlPlane: { count: number; machine: ProviderMachine };
  pools: WorkerPoolPlan[];
  image: pulumi.Input<string> | undefined;
  awsNetwork: AwsRegionNetwork | undefined;
}

export interface ClusterPlan {
  provider: K8sProvider;
  environment: EnvironmentName;
  cluster: string;
  project: string;
  talosVersion: string;
  kubernetesVersion: string;
  regions: RegionPlan[];
  adminCidrs: string[];
  nodeCidr: string;
  rootVolumeGiB: number;
  deletionProtection: boolean;
  spotRequested: boolean;
  spotInterruptionsPerHour: number;
}

const providerRegionOf = (entry: RegionEntry, provider: K8sProvider): string => entry[provider];

/** Validates and fills in defaults; throws E_INFRA_INPUT naming the field. */
export function resolveClusterPlan(args: KubernetesClusterArgs, stack = ''): ClusterPlan {
  if (!(K8S_PROVIDERS as readonly string[]).includes(args.provider)) {
    throw inputError(C, 'provider', `"${String(args.provider)}" is not one of ${K8S_PROVIDERS.join(', ')}`, 'use aws, gcp or digitalocean');
  }
  const project = checkProjectName(C, 'projectName', args.projectName ?? 'synkti');
  if (args.environment !== undefined && !(ENVIRONMENTS as readonly string[]).includes(args.environment)) {
    throw inputError(
      C,
      'environment',
      `"${String(args.environment)}" is not one of ${ENVIRONMENTS.join(', ')}`,
      'use dev, staging or production',
    );
  }
  const environment = args.environment ?? environmentFromStack(stack);
  const preset = K8S_ENVIRONMENT_PRESETS[environment];
  const table = args.regionTable !== undefined ? validateRegionTable(args.regionTable, 'regionTable') : K8S_REGIONS;
  const regionNames = args.regions ?? preset.regions;
  if (regionNames.length === 0) throw inputError(C, 'regions', 'is empty', 'name at least one region, e.g. ["nyc1"]');
  if (new Set(regionNames).size !== regionNames.length)
    throw inputError(C, 'regions', `repeats a region (${regionNames.join(', ')})`, 'name each region once');
  for (const r of regionNames) {
    if (!table[r])
      throw inputError(
        C,
        'regions',
        `has "${r}", which is not in the region table (${Object.keys(table).join(', ')})`,
        'add one entry for it to packages/infra/data/k8s-regions.json (or pass regionTable)',
      );
  }
  // Two "regions" deploying into one provider region is no multi-region (a docs/field-notes.md defect).
  const seen = new Map<string, string>();
  for (const r of regionNames) {
    const pr = providerRegionOf(table[r] as RegionEntry, args.provider);
    const other = seen.get(pr);
    if (other !== undefined)
      throw inputError(
        C,
        'regions',
        `"${other}" and "${r}" both map to ${args.provider} region ${pr}`,
        'pick regions that map to different provider regions',
      );
    seen.set(pr, r);
  }
  const controlPlaneCount = checkInt(C, 'controlPlaneCount', args.controlPlaneCount ?? preset.controlPlaneCount, 1, 7);
  if (controlPlaneCount % 2 === 0)
    throw inputError(C, 'controlPlaneCount', `is ${controlPlaneCount}`, 'use an odd count (1, 3, 5): etcd needs a majority');
  const workerCount = checkInt(C, 'workerCount', args.workerCount ?? preset.workerCount, 0, 1000);
  const statefulCount = checkInt(C, 'statefulWorkerCount', args.statefulWorkerCount ?? 0, 0, 1000);
  for (const [field, size] of [
    ['workerMachineSize', args.workerMachineSize],
    ['controlPlaneMachineSize', args.controlPlaneMachineSize],
  ] as const) {
    if (size !== undefined && !(MACHINE_SIZES as readonly string[]).includes(size))
      throw inputError(C, field, `"${String(size)}" is not one of ${MACHINE_SIZES.join(', ')}`, 'use small, medium or large');
  }
  const workerSize = args.workerMachineSize ?? preset.machineSize;
  const cpSize = args.controlPlaneMachineSize ?? workerSize;
  const spotRequested = args.useSpot ?? preset.useSpot;
  // DigitalOcean sells no spot capacity: its pools are plain droplets.
  const spot = spotRequested && args.provider !== 'digitalocean';
  const onDemandBase = checkInt(C, 'onDemandBaseCapacity', args.onDemandBaseCapacity ?? 1, 0, 1000);
  for (const e of args.alertEmails ?? [])
    if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(e))
      throw inputError(C, 'alertEmails', `"${e}" is not an email address`, 'write name@example.com');
  const adminCidrs = checkCidrs(C, 'adminCidrBlocks', args.adminCidrBlocks ?? []);
  if (adminCidrs.some((c) => c.endsWith('/0')))
    throw inputError(
      C,
      'adminCidrBlocks',
      'opens the control plane to the world',
      'list your VPN or office blocks; the load balancer is internal',
    );
  const nodeCidr = checkCidrs(C, 'nodeCidr', [args.nodeCidr ?? '10.20.0.0/20'])[0] as string;
  const talosVersion = args.talosVersion ?? 'v1.8.0';
  if (!/^v\d+\.\d+\.\d+$/.test(talosVersion))
    throw inputError(C, 'talosVersion', `"${talosVersion}" is not a Talos release`, 'write it like v1.8.0');
  const kubernetesVersion = args.kubernetesVersion ?? '1.30.0';
  if (!/^\d+\.\d+\.\d+$/.test(kubernetesVersion))
    throw inputError(C, 'kubernetesVersion', `"${kubernetesVersion}" is not a version`, 'write it like 1.30.0');
  const cluster = `${project}-${environment}`;
  const machineOf = (size: MachineSize): ProviderMachine => K8S_MACHINE_SIZES[size][args.provider];

  const regions = regionNames.map((key): RegionPlan => {
    const entry = table[key] as RegionEntry;
    const image = args.images?.[key];
    if (image === undefined && args.provider !== 'digitalocean') {
      throw inputError(
        C,
        `images.${key}`,
        `is missing (${args.provider} has no public Talos image to default to)`,
        args.provider === 'aws'
          ? `pass the AMI of Talos ${talosVersion} for ${entry.aws} (${machineOf(workerSize).arch}) from the release's cloud-images.json`
          : `import the Talos ${talosVersion} GCP image once (gcloud compute images create) and pass its self-link`,
      );
    }
    const awsNetwork = args.awsNetworks?.[key];
    if (awsNetwork && awsNetwork.subnetIds.length < 2)
      throw inputError(
        C,
        `awsNetworks.${key}.subnetIds`,
        `has ${awsNetwork.subnetIds.length} subnet(s)`,
        'give subnets in at least two zones',
      );
    const pools: WorkerPoolPlan[] = [];
    if (workerCount > 0) {
      pools.push({
        name: 'workers',
        role: 'worker',
        count: workerCount,
        machine: machineOf(workerSize),
        spot,
        onDemandBase: spot ? Math.min(onDemandBase, workerCount) : workerCount,
      });
    }
    if (statefulCount > 0) {
      // Never spot: a preempted storage node loses its data's availability.
      pools.push({
        name: 'stateful',
        role: 'stateful',
        count: statefulCount,
        machine: machineOf(workerSize),
        spot: false,
        onDemandBase: statefulCount,
      });
    }
    return {
      key,
      entry,
      providerRegion: providerRegionOf(entry, args.provider),
      clusterName: `${cluster}-${key}`,
      controlPlane: { count: controlPlaneCount, machine: machineOf(cpSize) },
      pools,
      image,
      awsNetwork,
    };
  });
  return {
    provider: args.provider,
    environment,
    cluster,
    project,
    talosVersion,
    kubernetesVersion,
    regions,
    adminCidrs,
    nodeCidr,
    rootVolumeGiB: checkInt(C, 'rootVolumeGiB', args.rootVolumeGiB ?? 50, 10, 16384),
    deletionProtection: preset.deletionProtection,
    spotRequested,
    spotInterruptionsPerHour: checkInt(C, 'spotInterruptionsPerHour', args.spotInterruptionsPerHour ?? 3, 1, 10_000),
  };
}
