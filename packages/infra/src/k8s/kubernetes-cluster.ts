/**
 * `KubernetesCluster`: one interface over AWS, GCP and DigitalOcean for Talos Linux
 * Kubernetes clusters (reference: multicloud-k8s-infra.md, its `talos-cluster` module).
 * Regions and machine sizes come from data tables (packages/infra/data); environments
 * from presets; each region is built with its own provider in its own provider region.
 *
 * Talos machine configuration is NOT generated here: no maintained Talos Pulumi provider
 * installs from the npm registry (`@pulumiverse/talos` is not published there). Configs
 * made with `talosctl gen config` are passed in and become user data (secret); without
 * them nodes boot into Talos maintenance mode for `talosctl apply-config`.
 */
import * as pulumi from '@pulumi/pulumi';
import type { EnvironmentName } from '../environments.ts';
import { buildAwsRegion } from './aws-region.ts';
import { buildDigitalOceanRegion } from './digitalocean-region.ts';
import { buildGcpRegion } from './gcp-region.ts';
import type { K8sProvider } from './k8s-data.ts';
import { K8S_API_PORT, resolveClusterPlan, type ClusterPlan, type KubernetesClusterArgs } from './k8s-plan.ts';
import type { RegionBuilder } from './region-builder.ts';

const BUILDERS: Readonly<Record<K8sProvider, RegionBuilder>> = {
  aws: buildAwsRegion,
  gcp: buildGcpRegion,
  digitalocean: buildDigitalOceanRegion,
};

export interface KubernetesRegionOutputs {
  /** Provider region it was deployed to (us-east-1, us-east4, nyc1, ...). */
  providerRegion: string;
  /** `<project>-<environment>-<region>`. */
  clusterName: string;
  /** `https://<internal load balancer>:6443`. */
  controlPlaneEndpoint: pulumi.Output<string>;
}

export class KubernetesCluster extends pulumi.ComponentResource {
  readonly cloud: K8sProvider;
  readonly environment: EnvironmentName;
  /** The resolved plan (counts, sizes, spot placement per region). */
  readonly plan: ClusterPlan;
  /** Per Synkti region name. */
  readonly regions: Readonly<Record<string, KubernetesRegionOutputs>>;
  /** The provider each region's resources were created with. */
  readonly providers: Readonly<Record<string, pulumi.ProviderResource>>;
  /** Admin kubeconfig (secret); undefined unless given. */
  readonly kubeconfig: pulumi.Output<string | undefined>;
  /** talosconfig (secret); undefined unless given. */
  readonly talosconfig: pulumi.Output<string | undefined>;

  constructor(name: string, args: KubernetesClusterArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const plan = resolveClusterPlan(args, pulumi.getStack());
    super('synkti:k8s:KubernetesCluster', name, {}, opts);
    this.cloud = plan.provider;
    this.environment = plan.environment;
    this.plan = plan;
    // Machine configs carry the cluster PKI: secret from the first moment.
    const userData = {
      controlPlane: args.machineConfig && pulumi.secret(args.machineConfig.controlPlane),
      worker: args.machineConfig && pulumi.secret(args.machineConfig.worker),
    };
    const regions: Record<string, KubernetesRegionOutputs> = {};
    const providers: Record<string, pulumi.ProviderResource> = {};
    for (const region of plan.regions) {
      const built = BUILDERS[plan.provider]({
        name,
        parent: this,
        plan,
        region,
        userData,
        tags: { ...args.tags, SynktiEnvironment: plan.environment },
        kmsKeyId: args.kmsKeyId,
        gcpProject: args.gcpProject,
        alertEmails: args.alertEmails,
        spotInterruptionsPerHour: plan.spotInterruptionsPerHour,
      });
      providers[region.key] = built.provider;
      regions[region.key] = {
        providerRegion: region.providerRegion,
        clusterName: region.clusterName,
        controlPlaneEndpoint: pulumi.interpolate`https://${built.controlPlaneEndpoint}:${K8S_API_PORT}`,
      };
    }
    this.regions = regions;
    this.providers = providers;
    this.kubeconfig = pulumi.secret(args.kubeconfig);
    this.talosconfig = pulumi.secret(args.talosconfig);
    this.registerOutputs({ kubeconfig: this.kubeconfig, talosconfig: this.talosconfig });
  }
}
