/**
 * Audit rules for multi-cloud clusters, added to issue 7's AUDIT_RULES (which look at AWS
 * only): no spot for control planes or stateful nodes on any cloud, no firewall open to
 * the world on GCP or DigitalOcean, every GCP/DigitalOcean load balancer has a listener,
 * no public addresses on GCP nodes.
 */
import { TAG_ROLE } from '@synkti/core';
import type { AuditResource, AuditRule, Finding } from '../audit/audit-rules.ts';
// The blocks of one rule judged together, by the address space they open (0.0.0.0/1 + 128.0.0.0/1 is the world).
import { cidrSpace } from '../audit/cidr-space.ts';
import { K8S_ROLES } from './k8s-plan.ts';

const T = {
  awsInstance: 'aws:ec2/instance:Instance',
  awsLt: 'aws:ec2/launchTemplate:LaunchTemplate',
  awsAsg: 'aws:autoscaling/group:Group',
  gcpInstance: 'gcp:compute/instance:Instance',
  gcpTemplate: 'gcp:compute/instanceTemplate:InstanceTemplate',
  gcpRegionTemplate: 'gcp:compute/regionInstanceTemplate:RegionInstanceTemplate',
  gcpFirewall: 'gcp:compute/firewall:Firewall',
  gcpBackend: 'gcp:compute/regionBackendService:RegionBackendService',
  gcpGlobalBackend: 'gcp:compute/backendService:BackendService',
  gcpRule: 'gcp:compute/forwardingRule:ForwardingRule',
  gcpGlobalRule: 'gcp:compute/globalForwardingRule:GlobalForwardingRule',
  doFirewall: 'digitalocean:index/firewall:Firewall',
  doLb: 'digitalocean:index/loadBalancer:LoadBalancer',
  doDroplet: 'digitalocean:index/droplet:Droplet',
} as const;

const ref = (r: AuditResource): string => `${r.type}::${r.name}`;
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const CRITICAL: ReadonlySet<string> = new Set([K8S_ROLES.controlPlane, K8S_ROLES.stateful]);

/** The node role a resource declares (AWS tag, GCP label, DigitalOcean tag). */
function roleOf(r: AuditResource): string | undefined {
  const tags = rec(r.inputs.tags);
  if (typeof tags[TAG_ROLE] === 'string') return tags[TAG_ROLE] as string;
  for (const t of arr(r.inputs.tags)) {
    const x = rec(t);
    if (x.key === TAG_ROLE && typeof x.value === 'string') return x.value;
    if (typeof t === 'string' && t.startsWith('synkti-role:')) return t.slice('synkti-role:'.length);
  }
  for (const spec of arr(r.inputs.tagSpecifications)) {
    const v = rec(rec(spec).tags)[TAG_ROLE];
    if (typeof v === 'string') return v;
  }
  const label = rec(r.inputs.labels)['synkti-role'];
  return typeof label === 'string' ? label : undefined;
}

function spotReason(r: AuditResource, resources: readonly AuditResource[]): string | undefined {
  if ((r.type === T.awsInstance || r.type === T.awsLt) && r.inputs.instanceMarketOptions !== undefined)
    return 'instanceMarketOptions requests spot';
  if (r.type === T.awsAsg) {
    const dist = rec(rec(r.inputs.mixedInstancesPolicy).instancesDistribution);
    if (r.inputs.mixedInstancesPolicy !== undefined && Number(dist.onDemandPercentageAboveBaseCapacity ?? 100) < 100)
      return `its mixed-instances policy puts ${100 - Number(dist.onDemandPercentageAboveBaseCapacity)}% above the base on spot`;
    const ltId = rec(r.inputs.launchTemplate).id;
    const lt = resources.find((x) => x.type === T.awsLt && (x.id ?? x.name) === ltId);
    if (lt && lt.inputs.instanceMarketOptions !== undefined) return 'its launch template requests spot';
  }
  if (r.type === T.gcpInstance || r.type === T.gcpTemplate || r.type === T.gcpRegionTemplate) {
    const s = rec(r.inputs.scheduling);
    if (s.provisioningModel === 'SPOT' || s.preemptible === true) return `scheduling is ${String(s.provisioningModel ?? 'preemptible')}`;
  }
  return undefined;
}

export const K8S_AUDIT_RULES: readonly AuditRule[] = [
  {
    id: 'spot-critical-node',
    severity: 'error',
    description: 'control-plane and stateful nodes never run on spot/preemptible capacity',
    check: (resources) =>
      resources.flatMap((r): Finding[] => {
        const role = roleOf(r);
        if (role === undefined || !CRITICAL.has(role)) return [];
        const why = spotReason(r, resources);
        return why === undefined
          ? []
          : [
              {
                rule: 'spot-critical-node',
                severity: 'error',
                resource: ref(r),
                message: `${role} nodes on spot: ${why}`,
                fix: 'run control planes and stateful nodes on on-demand/STANDARD capacity; spot only for the stateless worker pool',
              },
            ];
      }),
  },
  {
    id: 'firewall-world-open',
    severity: 'error',
    description: 'no GCP or DigitalOcean firewall admits the whole internet',
    check: (resources) => {
      const out: Finding[] = [];
      for (const r of resources) {
        if (r.type === T.gcpFirewall && (r.inputs.direction ?? 'INGRESS') === 'INGRESS' && cidrSpace(arr(r.inputs.sourceRanges)).world) {
          out.push({
            rule: 'firewall-world-open',
            severity: 'error',
            resource: ref(r),
            message: 'admits 0.0.0.0/0',
            fix: 'limit sourceRanges to the subnetwork, health-check ranges and admin blocks',
          });
        }
        if (r.type === T.doFirewall) {
          for (const rule of arr(r.inputs.inboundRules)) {
            const x = rec(rule);
            if (cidrSpace(arr(x.sourceAddresses)).world) {
              out.push({
                rule: 'firewall-world-open',
                severity: 'error',
                resource: ref(r),
                message: `admits the world on ${String(x.protocol)} ${String(x.portRange)}`,
                fix: 'limit sourceAddresses to the VPC and admin blocks, or use sourceTags',
              });
            }
          }
        }
      }
      return out;
    },
  },
  {
    id: 'lb-without-listener-multicloud',
    severity: 'error',
    description: 'GCP backend services have a forwarding rule; DigitalOcean load balancers have forwarding rules',
    check: (resources) => {
      const used = new Set(
        resources
          .filter((r) => r.type === T.gcpRule || r.type === T.gcpGlobalRule)
          .map((r) => r.inputs.backendService)
          .filter((v): v is string => typeof v === 'string'),
      );
      const out: Finding[] = [];
      for (const r of resources) {
        if (
          (r.type === T.gcpBackend || r.type === T.gcpGlobalBackend) &&
          r.inputs.loadBalancingScheme !== undefined &&
          ![r.id, r.name].some((k) => k !== undefined && used.has(k))
        ) {
          out.push({
            rule: 'lb-without-listener-multicloud',
            severity: 'error',
            resource: ref(r),
            message: 'no forwarding rule sends traffic to it',
            fix: 'add a forwarding rule with the ports (KubernetesCluster does)',
          });
        }
        if (r.type === T.doLb && arr(r.inputs.forwardingRules).length === 0) {
          out.push({
            rule: 'lb-without-listener-multicloud',
            severity: 'error',
            resource: ref(r),
            message: 'no forwarding rule: it accepts no traffic',
            fix: 'add forwardingRules',
          });
        }
      }
      return out;
    },
  },
  {
    id: 'public-node-address',
    severity: 'error',
    description: 'cluster nodes have no public address (reach them through the internal load balancer)',
    check: (resources) =>
      resources
        .filter((r) => r.type === T.gcpInstance || r.type === T.gcpTemplate)
        .filter((r) => arr(r.inputs.networkInterfaces).some((ni) => arr(rec(ni).accessConfigs).length > 0))
        .map((r) => ({
          rule: 'public-node-address',
          severity: 'error',
          resource: ref(r),
          message: 'a network interface has an access config (public IP)',
          fix: 'remove accessConfigs; use Cloud NAT for egress',
        })),
  },
];
