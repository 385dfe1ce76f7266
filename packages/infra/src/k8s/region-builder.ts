/** What each provider's builder gets and returns for one region of a `KubernetesCluster`. */
import type * as pulumi from '@pulumi/pulumi';
import type { ClusterPlan, RegionPlan } from './k8s-plan.ts';

export interface RegionBuildContext {
  /** Component name (prefix of every resource name). */
  name: string;
  parent: pulumi.Resource;
  plan: ClusterPlan;
  region: RegionPlan;
  /** Talos machine configs as secret outputs; undefined = maintenance mode. */
  userData: { controlPlane: pulumi.Output<string> | undefined; worker: pulumi.Output<string> | undefined };
  tags: Record<string, string>;
  kmsKeyId: pulumi.Input<string> | undefined;
  gcpProject: string | undefined;
  /** Alarm subscribers (AWS spot interruption alarm). */
  alertEmails: string[] | undefined;
  /** Spot interruptions per hour above which the alarm fires. */
  spotInterruptionsPerHour: number;
}

export interface RegionBuildResult {
  /** The provider every resource of the region was created with. */
  provider: pulumi.ProviderResource;
  /** Internal address of the control-plane load balancer (host only). */
  controlPlaneEndpoint: pulumi.Output<string>;
}

export type RegionBuilder = (ctx: RegionBuildContext) => RegionBuildResult;
