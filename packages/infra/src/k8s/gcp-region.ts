/**
 * One region of a Talos cluster on GCP: its own provider (region + project), a VPC network
 * and subnetwork with no public addresses, firewalls open only to the subnetwork, Google's
 * health-check ranges and admin blocks; STANDARD (never spot) control-plane VMs spread over
 * the region's zones behind an internal passthrough load balancer whose forwarding rule
 * listens on 6443 and 50000; worker pools as regional managed instance groups with
 * auto-healing: the stateless pool as spot VMs above a STANDARD base group, the stateful
 * pool STANDARD only. Disks are encrypted (Google-managed key, or `kmsKeyId`).
 */
import * as gcp from '@pulumi/gcp';
import * as pulumi from '@pulumi/pulumi';
import { K8S_API_PORT, K8S_ROLES, TALOS_API_PORT } from './k8s-plan.ts';
import type { RegionBuildContext, RegionBuildResult } from './region-builder.ts';

/** Where Google's load-balancer and auto-healing probes come from. */
export const GCP_HEALTH_CHECK_RANGES = ['35.191.0.0/16', '130.211.0.0/22'] as const;

/** GCP labels: lower-case keys and values. */
function labelsOf(tags: Record<string, string>): Record<string, string> {
  const clean = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '-')
      .slice(0, 63);
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [clean(k.replace(/([a-z])([A-Z])/g, '$1-$2')), clean(v)]));
}

const STANDARD = { provisioningModel: 'STANDARD', preemptible: false, automaticRestart: true, onHostMaintenance: 'MIGRATE' } as const;
// DELETE, not STOP: the managed group recreates the VM; a stopped spot VM would keep its disk (and bill) while doing nothing.
const SPOT = {
  provisioningModel: 'SPOT',
  preemptible: true,
  automaticRestart: false,
  onHostMaintenance: 'TERMINATE',
  instanceTerminationAction: 'DELETE',
} as const;

export function buildGcpRegion(ctx: RegionBuildContext): RegionBuildResult {
  const { region, plan } = ctx;
  const n = `${ctx.name}-${region.key}`;
  const provider = new gcp.Provider(
    `${n}-gcp`,
    { region: region.providerRegion, ...(ctx.gcpProject !== undefined ? { project: ctx.gcpProject } : {}) },
    { parent: ctx.parent },
  );
  const o = { parent: ctx.parent, provider };
  const r = { region: region.providerRegion };
  const labels = labelsOf({ ...ctx.tags, 'synkti-cluster': region.clusterName });
  const clusterTag = region.clusterName;
  const cpTag = `${region.clusterName}-control-plane`;
  const disk = (image: pulumi.Input<string>) => ({
    diskSizeGb: plan.rootVolumeGiB,
    diskType: 'pd-balanced',
    ...(ctx.kmsKeyId !== undefined ? { diskEncryptionKey: { kmsKeySelfLink: ctx.kmsKeyId } } : {}),
    sourceImage: image,
  });

  const network = new gcp.compute.Network(`${n}-net`, { name: region.clusterName, autoCreateSubnetworks: false }, o);
  const subnet = new gcp.compute.Subnetwork(
    `${n}-nodes`,
    { ...r, name: `${region.clusterName}-nodes`, network: network.id, ipCidrRange: plan.nodeCidr, privateIpGoogleAccess: true },
    o,
  );

  // Nodes have no public address: Cloud NAT for image pulls.
  const router = new gcp.compute.Router(`${n}-router`, { ...r, name: `${region.clusterName}-router`, network: network.id }, o);
  new gcp.compute.RouterNat(
    `${n}-nat`,
    {
      ...r,
      name: `${region.clusterName}-nat`,
      router: router.name,
      natIpAllocateOption: 'AUTO_ONLY',
      sourceSubnetworkIpRangesToNat: 'ALL_SUBNETWORKS_ALL_IP_RANGES',
    },
    o,
  );

  new gcp.compute.Firewall(
    `${n}-internal`,
    {
      name: `${region.clusterName}-internal`,
      network: network.id,
      direction: 'INGRESS',
      sourceRanges: [plan.nodeCidr],
      targetTags: [clusterTag],
      allows: [{ protocol: 'tcp' }, { protocol: 'udp' }, { protocol: 'icmp' }],
      description: 'node to node',
    },
    o,
  );
  new gcp.compute.Firewall(
    `${n}-health-checks`,
    {
      name: `${region.clusterName}-health-checks`,
      network: network.id,
      direction: 'INGRESS',
      sourceRanges: [...GCP_HEALTH_CHECK_RANGES],
      targetTags: [clusterTag],
      allows: [{ protocol: 'tcp', ports: [String(K8S_API_PORT), String(TALOS_API_PORT)] }],
      description: 'load balancer and auto-healing probes',
    },
    o,
  );
  if (plan.adminCidrs.length > 0) {
    new gcp.compute.Firewall(
      `${n}-admin`,
      {
        name: `${region.clusterName}-admin`,
        network: network.id,
        direction: 'INGRESS',
        sourceRanges: plan.adminCidrs,
        targetTags: [cpTag],
        allows: [{ protocol: 'tcp', ports: [String(K8S_API_PORT), String(TALOS_API_PORT)] }],
        description: 'Kubernetes and Talos APIs from admin networks',
      },
      o,
    );
  }

  // --- control planes: STANDARD VMs, spread over the zones ---------------------------
  const zones = region.entry.gcpZones;
  const byZone = new Map<string, gcp.compute.Instance[]>();
  for (let i = 0; i < region.controlPlane.count; i++) {
    const zone = zones[i % zones.length] as string;
    const vm = new gcp.compute.Instance(
      `${n}-cp-${i}`,
      {
        name: `${region.clusterName}-cp-${i}`,
        zone,
        machineType: region.controlPlane.machine.type,
        bootDisk: {
          ...(ctx.kmsKeyId !== undefined ? { kmsKeySelfLink: ctx.kmsKeyId } : {}),
          initializeParams: { image: region.image as pulumi.Input<string>, size: plan.rootVolumeGiB, type: 'pd-balanced' },
        },
        networkInterfaces: [{ subnetwork: subnet.id }], // no accessConfigs: no public address
        scheduling: STANDARD,
        ...(ctx.userData.controlPlane !== undefined ? { metadata: { 'user-data': ctx.userData.controlPlane } } : {}),
        tags: [clusterTag, cpTag],
        labels: { ...labels, 'synkti-role': K8S_ROLES.controlPlane },
        deletionProtection: plan.deletionProtection,
      },
      o,
    );
    byZone.set(zone, [...(byZone.get(zone) ?? []), vm]);
  }
  const groups = [...byZone.entries()].map(
    ([zone, vms]) =>
      new gcp.compute.InstanceGroup(
        `${n}-cp-${zone}`,
        {
          name: `${region.clusterName}-cp-${zone.split('-').pop()}`,
          zone,
          network: network.id,
          instances: vms.map((vm) => vm.selfLink),
        },
        o,
      ),
  );

  // --- control-plane load balancer: internal passthrough, forwarding rule = listeners ---
  const cpHealth = new gcp.compute.RegionHealthCheck(
    `${n}-cp`,
    { ...r, name: `${region.clusterName}-cp`, tcpHealthCheck: { port: K8S_API_PORT } },
    o,
  );
  const backend = new gcp.compute.RegionBackendService(
    `${n}-cp`,
    {
      ...r,
      name: `${region.clusterName}-cp`,
      loadBalancingScheme: 'INTERNAL',
      protocol: 'TCP',
      healthChecks: cpHealth.id,
      backends: groups.map((g) => ({ group: g.id, balancingMode: 'CONNECTION' })),
    },
    o,
  );
  const rule = new gcp.compute.ForwardingRule(
    `${n}-cp`,
    {
      ...r,
      name: `${region.clusterName}-cp`,
      loadBalancingScheme: 'INTERNAL',
      backendService: backend.id,
      ipProtocol: 'TCP',
      ports: [String(K8S_API_PORT), String(TALOS_API_PORT)],
      network: network.id,
      subnetwork: subnet.id,
      labels,
    },
    o,
  );

  // --- worker pools: managed instance groups with auto-healing -----------------------
  const nodeHealth = new gcp.compute.HealthCheck(
    `${n}-nodes`,
    { name: `${region.clusterName}-nodes`, tcpHealthCheck: { port: TALOS_API_PORT }, checkIntervalSec: 10, unhealthyThreshold: 3 },
    o,
  );
  for (const pool of region.pools) {
    const role = K8S_ROLES[pool.role === 'worker' ? 'worker' : 'stateful'];
    const group = (suffix: string, size: number, spot: boolean): void => {
      if (size <= 0) return;
      const template = new gcp.compute.InstanceTemplate(
        `${n}-${suffix}`,
        {
          namePrefix: `${region.clusterName}-${suffix}-`,
          machineType: pool.machine.type,
          disks: [{ boot: true, autoDelete: true, ...disk(region.image as pulumi.Input<string>) }],
          networkInterfaces: [{ subnetwork: subnet.id }],
          scheduling: spot ? SPOT : STANDARD,
          ...(ctx.userData.worker !== undefined ? { metadata: { 'user-data': ctx.userData.worker } } : {}),
          tags: [clusterTag],
          labels: { ...labels, 'synkti-role': role, 'synkti-capacity': spot ? 'spot' : 'standard' },
        },
        o,
      );
      new gcp.compute.RegionInstanceGroupManager(
        `${n}-${suffix}`,
        {
          ...r,
          name: `${region.clusterName}-${suffix}`,
          baseInstanceName: `${region.clusterName}-${suffix}`,
          versions: [{ name: 'talos', instanceTemplate: template.selfLinkUnique }],
          targetSize: size,
          distributionPolicyZones: zones,
          autoHealingPolicies: { healthCheck: nodeHealth.id, initialDelaySec: 300 },
        },
        o,
      );
    };
    if (pool.spot) {
      group(`${pool.name}-base`, pool.onDemandBase, false);
      group(pool.name, pool.count - pool.onDemandBase, true);
    } else {
      group(pool.name, pool.count, false);
    }
  }
  return { provider, controlPlaneEndpoint: rule.ipAddress };
}
