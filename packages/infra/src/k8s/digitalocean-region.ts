/**
 * One region of a Talos cluster on DigitalOcean: a VPC in the region, the Talos image of
 * the release (a custom image), control-plane and worker droplets (DigitalOcean has no
 * spot capacity), an INTERNAL load balancer whose forwarding rules listen on 6443 and 50000,
 * and a firewall open only to the cluster's droplets, the VPC and admin blocks.
 * DigitalOcean droplets take no region from their provider: every resource names its region.
 */
import * as digitalocean from '@pulumi/digitalocean';
import { K8S_API_PORT, K8S_ROLES, TALOS_API_PORT } from './k8s-plan.ts';
import type { RegionBuildContext, RegionBuildResult } from './region-builder.ts';

/** The Talos release's DigitalOcean disk image. */
export function talosDigitalOceanImageUrl(talosVersion: string): string {
  return `https://github.com/siderolabs/talos/releases/download/${talosVersion}/digital-ocean-amd64.raw.gz`;
}

/** DigitalOcean tags: letters, digits, ':', '-', '_'. */
const doTag = (s: string): string => s.replace(/[^A-Za-z0-9:_-]/g, '-');

export function buildDigitalOceanRegion(ctx: RegionBuildContext): RegionBuildResult {
  const { region, plan } = ctx;
  const n = `${ctx.name}-${region.key}`;
  // One provider per region like the other clouds, so each region can be given its own token/team.
  const provider = new digitalocean.Provider(`${n}-do`, {}, { parent: ctx.parent });
  const o = { parent: ctx.parent, provider };
  const r = { region: region.providerRegion };
  const clusterTag = doTag(region.clusterName);
  const cpTag = doTag(`${region.clusterName}-control-plane`);
  const extraTags = Object.entries(ctx.tags).map(([k, v]) => doTag(`${k}:${v}`));

  const vpc = new digitalocean.Vpc(`${n}-vpc`, { ...r, name: region.clusterName, ipRange: plan.nodeCidr }, o);
  const image =
    region.image ??
    new digitalocean.CustomImage(
      `${n}-talos`,
      {
        ...r,
        name: `talos-${plan.talosVersion}-${region.key}`,
        url: talosDigitalOceanImageUrl(plan.talosVersion),
        regions: [region.providerRegion],
        distribution: 'Unknown OS',
      },
      o,
    ).id;

  for (let i = 0; i < region.controlPlane.count; i++) {
    new digitalocean.Droplet(
      `${n}-cp-${i}`,
      {
        ...r,
        name: `${region.clusterName}-cp-${i}`,
        size: region.controlPlane.machine.type,
        image,
        vpcUuid: vpc.id,
        ...(ctx.userData.controlPlane !== undefined ? { userData: ctx.userData.controlPlane } : {}),
        tags: [clusterTag, cpTag, doTag(`synkti-role:${K8S_ROLES.controlPlane}`), ...extraTags],
        monitoring: true,
        ipv6: false,
      },
      o,
    );
  }
  for (const pool of region.pools) {
    const role = K8S_ROLES[pool.role === 'worker' ? 'worker' : 'stateful'];
    for (let i = 0; i < pool.count; i++) {
      new digitalocean.Droplet(
        `${n}-${pool.name}-${i}`,
        {
          ...r,
          name: `${region.clusterName}-${pool.name}-${i}`,
          size: pool.machine.type,
          image,
          vpcUuid: vpc.id,
          ...(ctx.userData.worker !== undefined ? { userData: ctx.userData.worker } : {}),
          tags: [clusterTag, doTag(`synkti-role:${role}`), ...extraTags],
          monitoring: true,
          ipv6: false,
        },
        o,
      );
    }
  }

  const lb = new digitalocean.LoadBalancer(
    `${n}-cp`,
    {
      ...r,
      name: `${region.clusterName}-cp`,
      vpcUuid: vpc.id,
      network: 'INTERNAL',
      dropletTag: cpTag,
      forwardingRules: [K8S_API_PORT, TALOS_API_PORT].map((port) => ({
        entryPort: port,
        entryProtocol: 'tcp',
        targetPort: port,
        targetProtocol: 'tcp',
      })),
      healthcheck: { port: K8S_API_PORT, protocol: 'tcp', checkIntervalSeconds: 10 },
      disableLetsEncryptDnsRecords: true,
    },
    o,
  );

  const inside = [plan.nodeCidr, ...plan.adminCidrs];
  new digitalocean.Firewall(
    `${n}-nodes`,
    {
      name: `${region.clusterName}-nodes`,
      tags: [clusterTag],
      inboundRules: [
        { protocol: 'tcp', portRange: '1-65535', sourceTags: [clusterTag] },
        { protocol: 'udp', portRange: '1-65535', sourceTags: [clusterTag] },
        ...[K8S_API_PORT, TALOS_API_PORT].map((port) => ({
          protocol: 'tcp',
          portRange: String(port),
          sourceLoadBalancerUids: [lb.id],
          sourceAddresses: inside,
        })),
      ],
      outboundRules: [
        { protocol: 'tcp', portRange: '1-65535', destinationAddresses: ['0.0.0.0/0', '::/0'] },
        { protocol: 'udp', portRange: '1-65535', destinationAddresses: ['0.0.0.0/0', '::/0'] },
      ],
    },
    { ...o, dependsOn: [lb] },
  );
  return { provider, controlPlaneEndpoint: lb.ip };
}
