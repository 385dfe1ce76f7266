/**
 * KubernetesCluster under Pulumi mocks, for every provider × environment: region mapping,
 * machine sizes, counts, spot placement, listeners, secret outputs, the audit; plus
 * multi-region provider isolation, adding a region by data, input checks and planted breaches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as pulumi from '@pulumi/pulumi';
import { isSynktiError } from '@synkti/core';
import { AUDIT_RULES } from '../audit/audit-rules.ts';
import { auditResources } from '../audit/audit.ts';
import { ENVIRONMENTS, type EnvironmentName } from '../environments.ts';
import { ofType } from '../testing/find.ts';
import { runMockStack, outputValue, type RecordedResource } from '../testing/mock-stack.ts';
import { K8S_AUDIT_RULES } from './k8s-audit-rules.ts';
import {
  K8S_MACHINE_SIZES,
  K8S_PROVIDERS,
  K8S_REGIONS,
  loadRegionTable,
  validateRegionTable,
  type K8sProvider,
  type RegionTable,
} from './k8s-data.ts';
import { K8S_ENVIRONMENT_PRESETS } from './k8s-environments.ts';
import type { KubernetesClusterArgs } from './k8s-plan.ts';
import { KubernetesCluster } from './kubernetes-cluster.ts';

const IMAGES: Record<string, string> = { nyc1: 'image-nyc1', sfo1: 'image-sfo1', ams3: 'image-ams3', lon1: 'image-lon1' };
const RULES = [...AUDIT_RULES, ...K8S_AUDIT_RULES];

interface Run {
  resources: RecordedResource[];
  cluster: KubernetesCluster;
  /** Provider object each resource was created with, by `type::name`. */
  providerOf: Map<string, pulumi.ProviderResource | undefined>;
}

async function deploy(args: Partial<KubernetesClusterArgs> & { provider: K8sProvider }, stack = 'dev'): Promise<Run> {
  const providerOf = new Map<string, pulumi.ProviderResource | undefined>();
  const capture: pulumi.ResourceTransformation = (a) => {
    providerOf.set(`${a.type}::${a.name}`, a.opts.provider);
    return undefined;
  };
  const { resources, value } = await runMockStack(
    (opts) =>
      new KubernetesCluster(
        'k8s',
        {
          images: IMAGES,
          kubeconfig: 'apiVersion: v1\nkind: Config',
          talosconfig: 'context: synkti',
          ...args,
        },
        { ...opts, transformations: [...(opts.transformations ?? []), capture] },
      ),
    { stack },
  );
  return { resources, cluster: value, providerOf };
}

const byType = (resources: RecordedResource[], type: string): RecordedResource[] => ofType(resources, type);
const custom = (resources: RecordedResource[], prefix: string): RecordedResource[] =>
  resources.filter((r) => r.custom && r.type.startsWith(`${prefix}:`) && !r.type.startsWith('pulumi:providers:'));
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Pulumi sends secret inputs wrapped in a signature object; unwrap and say whether it was one. */
function secretInput(v: unknown): { secret: boolean; value: unknown } {
  const x = v as Record<string, unknown> | undefined;
  return x && typeof x === 'object' && x['4dabf18193072939515e22adb298388d'] === '1b47061264138c4ac30d75fd1eb44270'
    ? { secret: true, value: x.value }
    : { secret: false, value: v };
}

/** Per provider: what the mocks show about one region. */
function regionFacts(provider: K8sProvider, resources: RecordedResource[], key: string) {
  const mine = resources.filter((r) => r.name.startsWith(`k8s-${key}-`));
  if (provider === 'aws') {
    const cps = byType(mine, 'aws:ec2/instance:Instance');
    const groups = byType(mine, 'aws:autoscaling/group:Group');
    const workers = groups.filter((g) => g.name.endsWith('-workers'));
    return {
      providerRegion: byType(mine, 'pulumi:providers:aws')[0]?.inputs.region,
      cpCount: cps.length,
      cpTypes: new Set(cps.map((c) => c.inputs.instanceType)),
      cpSpot: cps.some((c) => c.inputs.instanceMarketOptions !== undefined),
      workerCount: sum(workers.map((g) => Number(g.inputs.desiredCapacity))),
      workerTypes: new Set(byType(mine, 'aws:ec2/launchTemplate:LaunchTemplate').map((t) => t.inputs.instanceType)),
      workerSpot: workers.some((g) => g.inputs.mixedInstancesPolicy !== undefined),
      listenerPorts: byType(mine, 'aws:lb/listener:Listener')
        .map((l) => Number(l.inputs.port))
        .sort((a, b) => a - b),
    };
  }
  if (provider === 'gcp') {
    const cps = byType(mine, 'gcp:compute/instance:Instance');
    const migs = byType(mine, 'gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager').filter((m) =>
      /-workers(-base)?$/.test(m.name),
    );
    const templates = byType(mine, 'gcp:compute/instanceTemplate:InstanceTemplate');
    return {
      providerRegion: byType(mine, 'pulumi:providers:gcp')[0]?.inputs.region,
      cpCount: cps.length,
      cpTypes: new Set(cps.map((c) => c.inputs.machineType)),
      cpSpot: cps.some((c) => (c.inputs.scheduling as { provisioningModel: string }).provisioningModel !== 'STANDARD'),
      workerCount: sum(migs.map((m) => Number(m.inputs.targetSize))),
      workerTypes: new Set(templates.map((t) => t.inputs.machineType)),
      workerSpot: templates.some((t) => (t.inputs.scheduling as { provisioningModel: string }).provisioningModel === 'SPOT'),
      listenerPorts: byType(mine, 'gcp:compute/forwardingRule:ForwardingRule')
        .flatMap((f) => (f.inputs.ports as string[]).map(Number))
        .sort((a, b) => a - b),
    };
  }
  const droplets = byType(mine, 'digitalocean:index/droplet:Droplet');
  const cps = droplets.filter((d) => /-cp-\d+$/.test(d.name));
  const workers = droplets.filter((d) => /-workers-\d+$/.test(d.name));
  const regions = new Set(
    custom(mine, 'digitalocean')
      .map((r) => r.inputs.region)
      .filter((x) => x !== undefined),
  );
  return {
    providerRegion: regions.size === 1 ? [...regions][0] : [...regions].join(','),
    cpCount: cps.length,
    cpTypes: new Set(cps.map((c) => c.inputs.size)),
    cpSpot: false,
    workerCount: workers.length,
    workerTypes: new Set(workers.map((w) => w.inputs.size)),
    workerSpot: false,
    listenerPorts: byType(mine, 'digitalocean:index/loadBalancer:LoadBalancer')
      .flatMap((l) => (l.inputs.forwardingRules as Array<{ entryPort: number }>).map((f) => f.entryPort))
      .sort((a, b) => a - b),
  };
}

test('data: the shipped region and size tables are the reference tables', () => {
  assert.deepEqual(
    {
      aws: K8S_REGIONS.nyc1?.aws,
      gcp: K8S_REGIONS.nyc1?.gcp,
      digitalocean: K8S_REGIONS.nyc1?.digitalocean,
      primary: K8S_REGIONS.nyc1?.primary,
    },
    { aws: 'us-east-1', gcp: 'us-east4', digitalocean: 'nyc1', primary: true },
  );
  assert.deepEqual(
    {
      aws: K8S_REGIONS.sfo1?.aws,
      gcp: K8S_REGIONS.sfo1?.gcp,
      digitalocean: K8S_REGIONS.sfo1?.digitalocean,
      primary: K8S_REGIONS.sfo1?.primary,
    },
    { aws: 'us-west-1', gcp: 'us-west1', digitalocean: 'sfo3', primary: false },
  );
  const table = Object.fromEntries(
    Object.entries(K8S_MACHINE_SIZES).map(([size, e]) => [size, [e.aws.type, e.gcp.type, e.digitalocean.type]]),
  );
  assert.deepEqual(table, {
    small: ['t4g.medium', 'e2-medium', 's-2vcpu-4gb'],
    medium: ['t4g.xlarge', 'e2-standard-4', 's-4vcpu-8gb'],
    large: ['t4g.2xlarge', 'e2-standard-8', 's-8vcpu-16gb'],
  });
  for (const e of Object.values(K8S_MACHINE_SIZES)) {
    assert.equal(e.aws.arch, 'arm64', 'Graviton');
    assert.ok((e.aws.spotAlternatives ?? []).length >= 2, 'several types for spot');
    for (const t of e.aws.spotAlternatives ?? []) assert.match(t, /^[a-z]\dg[a-z]*\./, `${t} is Graviton too (one image)`);
  }
  // Every provider region of the table is distinct per provider: no two "regions" collapse.
  for (const p of K8S_PROVIDERS) {
    const values = Object.values(K8S_REGIONS).map((e) => e[p]);
    assert.equal(new Set(values).size, values.length, `${p} regions distinct`);
  }
});

test('data: a malformed entry is refused with the region named', () => {
  assert.throws(
    () => validateRegionTable({ bad1: { aws: 'nowhere', gcp: 'us-east4', gcpZones: ['us-east4-a'], digitalocean: 'nyc1' } }),
    (e: unknown) => isSynktiError(e, 'E_INFRA_DATA') && /bad1.*aws "nowhere"/.test((e as Error).message),
  );
  assert.throws(
    () => validateRegionTable({ z1: { aws: 'us-east-1', gcp: 'us-east4', gcpZones: ['us-west1-a'], digitalocean: 'nyc1' } }),
    /gcpZones/,
  );
  assert.throws(
    () => loadRegionTable(new URL('file:///nonexistent/k8s-regions.json')),
    (e: unknown) => isSynktiError(e, 'E_INFRA_DATA'),
  );
});

for (const provider of K8S_PROVIDERS) {
  for (const environment of ENVIRONMENTS) {
    test(`${provider} × ${environment}: regions, sizes, counts, spot placement, listeners, secret outputs, audit`, async () => {
      const preset = K8S_ENVIRONMENT_PRESETS[environment as EnvironmentName];
      const { resources, cluster } = await deploy({ provider }, environment);
      const sizes = K8S_MACHINE_SIZES[preset.machineSize][provider];
      assert.deepEqual(Object.keys(cluster.regions), preset.regions);
      for (const key of preset.regions) {
        const f = regionFacts(provider, resources, key);
        assert.equal(f.providerRegion, K8S_REGIONS[key]?.[provider], `${key} deployed to its own ${provider} region`);
        assert.equal(cluster.regions[key]?.providerRegion, K8S_REGIONS[key]?.[provider]);
        assert.equal(f.cpCount, preset.controlPlaneCount, 'control-plane count');
        assert.equal(f.workerCount, preset.workerCount, 'worker count');
        assert.deepEqual([...f.cpTypes], [sizes.type], 'control-plane size');
        assert.deepEqual([...f.workerTypes], [sizes.type], 'worker size');
        assert.equal(f.cpSpot, false, 'never spot for control planes');
        assert.equal(f.workerSpot, preset.useSpot && provider !== 'digitalocean', 'spot for stateless workers as the preset says');
        assert.deepEqual(f.listenerPorts, [6443, 50000], 'control-plane load balancer listens for Kubernetes and Talos');
      }
      assert.equal(await pulumi.isSecret(cluster.kubeconfig), true, 'kubeconfig is secret');
      assert.equal(await pulumi.isSecret(cluster.talosconfig), true, 'talosconfig is secret');
      assert.equal(await outputValue(cluster.kubeconfig), 'apiVersion: v1\nkind: Config');
      const report = auditResources(resources, { rules: RULES });
      assert.deepEqual(
        report.findings.filter((x) => x.severity === 'error'),
        [],
        'audit passes',
      );
    });
  }
}

test('aws spot pool: mixed instances, 1 on-demand base, price-capacity-optimized, several types, no spot in the template; control planes and volumes', async () => {
  const { resources } = await deploy({ provider: 'aws', machineConfig: { controlPlane: 'cp-config', worker: 'worker-config' } });
  const group = byType(resources, 'aws:autoscaling/group:Group').find((g) => g.name === 'k8s-nyc1-workers');
  const policy = group?.inputs.mixedInstancesPolicy as {
    instancesDistribution: Record<string, unknown>;
    launchTemplate: { overrides: Array<{ instanceType: string }> };
  };
  assert.deepEqual(policy.instancesDistribution, {
    onDemandBaseCapacity: 1,
    onDemandPercentageAboveBaseCapacity: 0,
    spotAllocationStrategy: 'price-capacity-optimized',
  });
  assert.deepEqual(
    policy.launchTemplate.overrides.map((o) => o.instanceType),
    ['t4g.medium', 'c7g.large', 'c6g.large'],
  );
  assert.equal(group?.inputs.capacityRebalance, true);
  for (const lt of byType(resources, 'aws:ec2/launchTemplate:LaunchTemplate')) {
    assert.equal(lt.inputs.instanceMarketOptions, undefined, 'AWS rejects a spot template in a mixed group');
    assert.equal((lt.inputs.metadataOptions as { httpTokens: string }).httpTokens, 'required');
    assert.deepEqual(
      (lt.inputs.blockDeviceMappings as Array<{ ebs: { encrypted: string } }>).map((b) => b.ebs.encrypted),
      ['true'],
    );
    const userData = secretInput(lt.inputs.userData);
    assert.equal(userData.secret, true, 'machine config (cluster PKI) is a secret');
    assert.equal(Buffer.from(userData.value as string, 'base64').toString(), 'worker-config');
  }
  for (const cp of byType(resources, 'aws:ec2/instance:Instance')) {
    assert.equal((cp.inputs.rootBlockDevice as { encrypted: boolean }).encrypted, true);
    assert.equal((cp.inputs.metadataOptions as { httpTokens: string }).httpTokens, 'required');
    assert.deepEqual(secretInput(cp.inputs.userData), { secret: true, value: 'cp-config' });
    assert.equal((cp.inputs.tags as Record<string, string>).SynktiRole, 'control-plane');
  }
  const lb = byType(resources, 'aws:lb/loadBalancer:LoadBalancer')[0];
  assert.equal(lb?.inputs.internal, true, 'control-plane load balancer is internal');
  assert.equal(lb?.inputs.loadBalancerType, 'network');
  for (const sg of byType(resources, 'aws:ec2/securityGroup:SecurityGroup')) {
    for (const rule of (sg.inputs.ingress ?? []) as Array<{ cidrBlocks?: string[] }>)
      assert.ok(!(rule.cidrBlocks ?? []).includes('0.0.0.0/0'), `${sg.name}: nothing from the world`);
  }
});

test("aws spot interruption monitoring: EventBridge rule → encrypted SNS topic, alarm on the rule's TriggeredRules; none without spot", async () => {
  const { resources } = await deploy({ provider: 'aws', alertEmails: ['ops@example.com'], spotInterruptionsPerHour: 5 }, 'staging');
  const rule = byType(resources, 'aws:cloudwatch/eventRule:EventRule')[0];
  assert.deepEqual(JSON.parse(rule?.inputs.eventPattern as string), {
    source: ['aws.ec2'],
    'detail-type': ['EC2 Spot Instance Interruption Warning'],
  });
  const topic = byType(resources, 'aws:sns/topic:Topic')[0];
  const key = byType(resources, 'aws:kms/key:Key')[0];
  assert.equal(topic?.inputs.kmsMasterKeyId, key?.id, 'encrypted with its own key (EventBridge cannot use the AWS-managed one)');
  const keyPolicy = JSON.parse(key?.inputs.policy as string) as { Statement: Array<{ Sid: string; Principal: unknown }> };
  assert.deepEqual(keyPolicy.Statement.find((x) => x.Sid === 'EventBridgePublishes')?.Principal, { Service: 'events.amazonaws.com' });
  assert.equal(byType(resources, 'aws:cloudwatch/eventTarget:EventTarget')[0]?.inputs.arn, topic?.state.arn);
  const topicPolicy = JSON.parse(byType(resources, 'aws:sns/topicPolicy:TopicPolicy')[0]?.inputs.policy as string) as {
    Statement: Array<{ Condition: unknown }>;
  };
  assert.deepEqual(topicPolicy.Statement[0]?.Condition, { ArnEquals: { 'aws:SourceArn': rule?.state.arn } });
  const alarm = byType(resources, 'aws:cloudwatch/metricAlarm:MetricAlarm')[0];
  assert.deepEqual(
    [alarm?.inputs.namespace, alarm?.inputs.metricName, alarm?.inputs.dimensions, alarm?.inputs.threshold, alarm?.inputs.period],
    ['AWS/Events', 'TriggeredRules', { RuleName: 'synkti-staging-nyc1-spot-interruptions' }, 5, 3600],
  );
  assert.deepEqual(alarm?.inputs.alarmActions, [topic?.state.arn]);
  assert.equal(byType(resources, 'aws:sns/topicSubscription:TopicSubscription')[0]?.inputs.endpoint, 'ops@example.com');
  const production = await deploy({ provider: 'aws' }, 'production');
  assert.equal(byType(production.resources, 'aws:cloudwatch/eventRule:EventRule').length, 0, 'no spot, no spot alarm');
});

test('gcp: spot workers in managed groups with auto-healing above a STANDARD base; stateful pool never spot', async () => {
  const { resources } = await deploy({ provider: 'gcp', statefulWorkerCount: 2, workerCount: 4 }, 'staging');
  const migs = byType(resources, 'gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager');
  assert.deepEqual(migs.map((m) => [m.name, m.inputs.targetSize]).sort(), [
    ['k8s-nyc1-stateful', 2],
    ['k8s-nyc1-workers', 3],
    ['k8s-nyc1-workers-base', 1],
  ]);
  for (const m of migs) {
    assert.equal((m.inputs.autoHealingPolicies as { initialDelaySec: number }).initialDelaySec, 300, `${m.name} auto-heals`);
    assert.deepEqual(m.inputs.distributionPolicyZones, ['us-east4-a', 'us-east4-b', 'us-east4-c']);
  }
  const schedulingOf = (name: string) =>
    byType(resources, 'gcp:compute/instanceTemplate:InstanceTemplate').find((t) => t.name === name)?.inputs.scheduling as Record<
      string,
      unknown
    >;
  assert.equal(schedulingOf('k8s-nyc1-workers').provisioningModel, 'SPOT');
  assert.equal(schedulingOf('k8s-nyc1-workers').preemptible, true);
  assert.equal(schedulingOf('k8s-nyc1-workers-base').provisioningModel, 'STANDARD');
  assert.equal(schedulingOf('k8s-nyc1-stateful').provisioningModel, 'STANDARD', 'stateful never spot');
  const zones = byType(resources, 'gcp:compute/instance:Instance').map((i) => i.inputs.zone);
  assert.deepEqual(zones, ['us-east4-a', 'us-east4-b', 'us-east4-c'], 'control planes spread over zones');
  for (const fw of byType(resources, 'gcp:compute/firewall:Firewall'))
    assert.ok(!(fw.inputs.sourceRanges as string[]).includes('0.0.0.0/0'));
  assert.equal(byType(resources, 'gcp:compute/forwardingRule:ForwardingRule')[0]?.inputs.loadBalancingScheme, 'INTERNAL');
});

test('aws stateful pool is on-demand (launch template only) even with spot on', async () => {
  const { resources } = await deploy({ provider: 'aws', statefulWorkerCount: 3, useSpot: true });
  const stateful = byType(resources, 'aws:autoscaling/group:Group').find((g) => g.name === 'k8s-nyc1-stateful');
  assert.equal(stateful?.inputs.mixedInstancesPolicy, undefined);
  assert.deepEqual(stateful?.inputs.launchTemplate, { id: 'lt-k8s-nyc1-stateful', version: '$Latest' });
  assert.equal(stateful?.inputs.desiredCapacity, 3);
});

test("production multi-region: every resource of a region uses that region's provider, in its own provider region", async () => {
  for (const provider of K8S_PROVIDERS) {
    const { resources, cluster, providerOf } = await deploy({ provider }, 'production');
    assert.deepEqual(Object.keys(cluster.providers), ['nyc1', 'sfo1']);
    assert.notEqual(cluster.providers.nyc1, cluster.providers.sfo1);
    for (const key of ['nyc1', 'sfo1']) {
      const expectedRegion = K8S_REGIONS[key]?.[provider];
      const mine = custom(resources, provider === 'digitalocean' ? 'digitalocean' : provider).filter((r) =>
        r.name.startsWith(`k8s-${key}-`),
      );
      assert.ok(mine.length > 5, `${provider} ${key} has resources`);
      for (const r of mine) {
        assert.equal(providerOf.get(`${r.type}::${r.name}`), cluster.providers[key], `${r.name} uses the ${key} provider`);
        if (r.inputs.region !== undefined) assert.equal(r.inputs.region, expectedRegion, `${r.name} in ${expectedRegion}`);
      }
    }
  }
});

test('adding a region is adding one data entry', async () => {
  const table: RegionTable = {
    ...K8S_REGIONS,
    lon1: {
      description: 'London 1',
      aws: 'eu-west-2',
      gcp: 'europe-west2',
      gcpZones: ['europe-west2-a', 'europe-west2-b'],
      digitalocean: 'lon1',
    },
  };
  for (const provider of K8S_PROVIDERS) {
    const { resources, cluster } = await deploy({ provider, regionTable: table, regions: ['nyc1', 'lon1'] });
    assert.equal(cluster.regions.lon1?.providerRegion, table.lon1?.[provider]);
    assert.equal(regionFacts(provider, resources, 'lon1').providerRegion, table.lon1?.[provider]);
    assert.equal(regionFacts(provider, resources, 'nyc1').providerRegion, table.nyc1?.[provider]);
  }
  await assert.rejects(
    deploy({ provider: 'aws', regions: ['lon1'] }),
    (e: unknown) => isSynktiError(e, 'E_INFRA_INPUT') && /k8s-regions\.json/.test((e as { hint?: string }).hint ?? ''),
  );
});

test('input checks: colliding regions, even control planes, world admin access, missing images', async () => {
  const table: RegionTable = {
    ...K8S_REGIONS,
    nyc2: { aws: 'us-east-1', gcp: 'us-east1', gcpZones: ['us-east1-b'], digitalocean: 'nyc3' },
  };
  await assert.rejects(deploy({ provider: 'aws', regionTable: table, regions: ['nyc1', 'nyc2'] }), /both map to aws region us-east-1/);
  await assert.rejects(
    deploy({ provider: 'aws', controlPlaneCount: 2 }),
    (e: unknown) => isSynktiError(e, 'E_INFRA_INPUT') && /odd count/.test((e as { hint?: string }).hint ?? ''),
  );
  await assert.rejects(deploy({ provider: 'gcp', adminCidrBlocks: ['0.0.0.0/0'] }), /world/);
  await assert.rejects(
    deploy({ provider: 'aws', images: {} }),
    (e: unknown) => isSynktiError(e, 'E_INFRA_INPUT') && /images\.nyc1/.test((e as Error).message),
  );
  const doRun = await deploy({ provider: 'digitalocean', images: {} });
  assert.equal(
    byType(doRun.resources, 'digitalocean:index/customImage:CustomImage')[0]?.inputs.url,
    'https://github.com/siderolabs/talos/releases/download/v1.8.0/digital-ocean-amd64.raw.gz',
  );
});

test('audit fails on planted breaches: spot control plane (aws, gcp), world-open firewalls, load balancers without listeners', async () => {
  const breach = (
    resources: RecordedResource[],
    pick: (r: RecordedResource) => boolean,
    change: (inputs: Record<string, unknown>) => Record<string, unknown>,
  ): RecordedResource[] => resources.map((r) => (pick(r) ? { ...r, inputs: change(r.inputs) } : r));
  const failing = (resources: RecordedResource[]): string[] =>
    auditResources(resources, { rules: RULES })
      .findings.filter((f) => f.severity === 'error')
      .map((f) => f.rule);

  const aws = (await deploy({ provider: 'aws' }, 'staging')).resources;
  assert.deepEqual(
    failing(
      breach(
        aws,
        (r) => r.name === 'k8s-nyc1-cp-0' && r.type === 'aws:ec2/instance:Instance',
        (i) => ({ ...i, instanceMarketOptions: { marketType: 'spot' } }),
      ),
    ),
    ['spot-critical-node'],
  );
  const statefulAsSpot = (await deploy({ provider: 'aws', statefulWorkerCount: 2 })).resources;
  assert.deepEqual(
    failing(
      breach(
        statefulAsSpot,
        (r) => r.name === 'k8s-nyc1-stateful' && r.type === 'aws:autoscaling/group:Group',
        (i) => ({
          ...i,
          launchTemplate: undefined,
          mixedInstancesPolicy: {
            instancesDistribution: {
              onDemandBaseCapacity: 0,
              onDemandPercentageAboveBaseCapacity: 0,
              spotAllocationStrategy: 'price-capacity-optimized',
            },
            launchTemplate: { launchTemplateSpecification: { launchTemplateId: 'lt-k8s-nyc1-stateful' } },
          },
        }),
      ),
    ),
    ['spot-critical-node'],
  );
  assert.deepEqual(
    failing(
      breach(
        aws,
        (r) => r.type === 'aws:lb/listener:Listener',
        (i) => i,
      ).filter((r) => r.type !== 'aws:lb/listener:Listener'),
    ),
    ['lb-without-listener'],
  );

  const gcp = (await deploy({ provider: 'gcp' }, 'staging')).resources;
  assert.deepEqual(
    failing(
      breach(
        gcp,
        (r) => r.name === 'k8s-nyc1-cp-1' && r.type === 'gcp:compute/instance:Instance',
        (i) => ({ ...i, scheduling: { provisioningModel: 'SPOT', preemptible: true } }),
      ),
    ),
    ['spot-critical-node'],
  );
  assert.deepEqual(
    failing(
      breach(
        gcp,
        (r) => r.name === 'k8s-nyc1-internal',
        (i) => ({ ...i, sourceRanges: ['0.0.0.0/0'] }),
      ),
    ),
    ['firewall-world-open'],
  );
  assert.deepEqual(failing(gcp.filter((r) => r.type !== 'gcp:compute/forwardingRule:ForwardingRule')), ['lb-without-listener-multicloud']);
  assert.deepEqual(
    failing(
      breach(
        gcp,
        (r) => r.type === 'gcp:compute/instanceTemplate:InstanceTemplate' && r.name === 'k8s-nyc1-workers',
        (i) => ({ ...i, networkInterfaces: [{ subnetwork: 's', accessConfigs: [{}] }] }),
      ),
    ),
    ['public-node-address'],
  );

  const dO = (await deploy({ provider: 'digitalocean' })).resources;
  assert.deepEqual(
    failing(
      breach(
        dO,
        (r) => r.type === 'digitalocean:index/loadBalancer:LoadBalancer',
        (i) => ({ ...i, forwardingRules: [] }),
      ),
    ),
    ['lb-without-listener-multicloud'],
  );
  assert.deepEqual(
    failing(
      breach(
        dO,
        (r) => r.type === 'digitalocean:index/firewall:Firewall',
        (i) => ({ ...i, inboundRules: [{ protocol: 'tcp', portRange: '22', sourceAddresses: ['0.0.0.0/0'] }] }),
      ),
    ),
    ['firewall-world-open'],
  );
});
