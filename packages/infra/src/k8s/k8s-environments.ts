/**
 * dev / staging / production presets of `KubernetesCluster`, from multicloud-k8s-infra.md
 * "Environments": control-plane and worker counts, machine size, spot, regions.
 */
import type { EnvironmentName } from '../environments.ts';
import type { MachineSize } from './k8s-data.ts';

export interface K8sEnvironmentPreset {
  controlPlaneCount: number;
  /** Workers per region (stateless pool; spot when `useSpot`). */
  workerCount: number;
  machineSize: MachineSize;
  /** Spot for the stateless worker pool (never for control planes or stateful nodes). */
  useSpot: boolean;
  /** Regions (Synkti names) deployed by default. */
  regions: string[];
  /** Load balancer deletion protection, AWS termination protection of control planes. */
  deletionProtection: boolean;
}

export const K8S_ENVIRONMENT_PRESETS: Readonly<Record<EnvironmentName, K8sEnvironmentPreset>> = {
  // "Minimal resources (1 control plane, 2 workers), spot by default, small machine types"
  dev: { controlPlaneCount: 1, workerCount: 2, machineSize: 'small', useSpot: true, regions: ['nyc1'], deletionProtection: false },
  // "Production-like (3 control planes, 3 workers), spot for stateless workloads, medium; multi-region optional"
  staging: { controlPlaneCount: 3, workerCount: 3, machineSize: 'medium', useSpot: true, regions: ['nyc1'], deletionProtection: false },
  // "HA (3 control planes, 5 workers per region), no spot for stateful workloads, large, NYC1 + SFO1"
  production: {
    controlPlaneCount: 3,
    workerCount: 5,
    machineSize: 'large',
    useSpot: false,
    regions: ['nyc1', 'sfo1'],
    deletionProtection: true,
  },
};
