/**
 * Prices a stack's resources (as rendered under mocks, or read from a Pulumi preview or
 * export) from the price table shipped in packages/infra/data: compute by the hour
 * (instances, Fargate tasks, databases, caches, NAT, load balancers), storage and
 * requests by the month from stated usage. An estimate from list prices, never a quote:
 * data transfer, load-balancer capacity units and CloudWatch Logs ingestion are left out
 * and said so.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SynktiError } from '@synkti/core';
import { AWS_ON_DEMAND_USD_PER_HOUR, AWS_SPOT_DISCOUNT, spotDiscountFor } from '@synkti/cloud';
import type { AuditResource } from '../audit/audit-rules.ts';

export const DEFAULT_PRICE_FILE = fileURLToPath(new URL('../../data/prices-us-east-1.json', import.meta.url));

export interface PriceTable {
  source: string;
  instances: Record<'aws' | 'gcp' | 'digitalocean', Record<string, number>>;
  spotDiscount: Record<string, number>;
  fargate: { vcpuHour: number; gbHour: number; spotDiscount: number };
  rds: Record<string, number>;
  rdsVcpus: Record<string, number>;
  rdsStorageGbMonth: number;
  rdsProxyVcpuHour: number;
  elasticache: Record<string, number>;
  natGatewayHour: number;
  publicIpv4Hour: number;
  albHour: number;
  nlbHour: number;
  gcpLoadBalancerHour: number;
  digitaloceanLoadBalancerHour: number;
  ebsGbMonth: number;
  sqsPerMillionRequests: number;
  s3GbMonth: number;
  cloudwatchAlarmMonth: number;
  cloudwatchDashboardMonth: number;
  kmsKeyMonth: number;
  secretMonth: number;
}

/**
 * Reads a price table. EC2 instance prices and spot discounts come from @synkti/cloud's
 * table (what the dashboard prices from too); the file's `instances.aws` and `spotDiscount`
 * entries override them, and it holds everything else.
 */
export function loadPriceTable(file = DEFAULT_PRICE_FILE): PriceTable {
  let table: unknown;
  try {
    table = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new SynktiError('E_PRICE_TABLE', `cannot read the price table ${file}`, {
      cause,
      hint: 'pass a JSON file shaped like packages/infra/data/prices-us-east-1.json',
    });
  }
  const t = table as Partial<PriceTable>;
  for (const key of ['instances', 'fargate', 'rds', 'elasticache'] as const) {
    if (typeof t[key] !== 'object' || t[key] === null)
      throw new SynktiError('E_PRICE_TABLE', `price table ${file} has no "${key}"`, {
        hint: 'copy packages/infra/data/prices-us-east-1.json and edit its numbers',
      });
  }
  if (t.spotDiscount !== undefined && (typeof t.spotDiscount !== 'object' || t.spotDiscount === null)) {
    throw new SynktiError('E_PRICE_TABLE', `price table ${file}: "spotDiscount" is not an object`, {
      hint: 'e.g. "spotDiscount": { "g5": 0.68 } (fraction saved on spot, by family)',
    });
  }
  const instances = t.instances!;
  return {
    ...(table as PriceTable),
    instances: { ...instances, aws: { ...AWS_ON_DEMAND_USD_PER_HOUR, ...instances.aws } },
    spotDiscount: { ...AWS_SPOT_DISCOUNT, ...t.spotDiscount },
  };
}

export interface CostAssumptions {
  /** Hours a day the compute that scales (instances, tasks) runs; always-on services count 24. @default 24 */
  hoursPerDay?: number | undefined;
  /** SQS requests a month across the stack's queues. @default 0 */
  sqsRequestsPerMonth?: number | undefined;
  /** GB stored in the stack's buckets. @default 0 */
  s3Gb?: number | undefined;
  /** Price groups and services at their maximum size instead of their desired/minimum. @default false */
  atMax?: boolean | undefined;
}

export interface CostLine {
  resource: string;
  what: string;
  count: number;
  /** USD per hour while running. */
  hourly: number;
  /** USD for a 30-day month at the assumed hours (storage and requests included). */
  monthly: number;
}

export interface CostEstimate {
  lines: CostLine[];
  hourly: number;
  monthly: number;
  hoursPerDay: number;
  notes: string[];
  source: string;
}

const DAYS_PER_MONTH = 30;
const rec = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v)
    ? v
    : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
      ? Number(v)
      : undefined;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const idOf = (r: AuditResource): string => r.id ?? r.name;

export function estimateCost(resources: readonly AuditResource[], prices: PriceTable, assumptions: CostAssumptions = {}): CostEstimate {
  const hoursPerDay = assumptions.hoursPerDay ?? 24;
  const lines: CostLine[] = [];
  const notes = new Set<string>();
  const scaled = (hourly: number): number => hourly * hoursPerDay * DAYS_PER_MONTH;
  const alwaysOn = (hourly: number): number => hourly * 24 * DAYS_PER_MONTH;
  const add = (r: AuditResource | string, what: string, count: number, hourly: number, monthly: number): void => {
    lines.push({ resource: typeof r === 'string' ? r : r.name, what, count, hourly, monthly });
  };
  const instancePrice = (cloud: 'aws' | 'gcp' | 'digitalocean', type: string | undefined): number => {
    const price = type === undefined ? undefined : prices.instances[cloud]?.[type];
    if (price === undefined) notes.add(`no ${cloud} price for ${type ?? '(unknown type)'}: priced at $0; add it to the price table`);
    return price ?? 0;
  };
  const spotFactor = (type: string): number => 1 - spotDiscountFor(type, prices.spotDiscount);
  const byType = (type: string): AuditResource[] => resources.filter((r) => r.type === type);

  for (const g of byType('aws:autoscaling/group:Group')) {
    const mixed = rec(g.inputs.mixedInstancesPolicy);
    const ltSpec = rec(rec(mixed.launchTemplate).launchTemplateSpecification);
    const ltRef = str(ltSpec.launchTemplateId) ?? str(rec(g.inputs.launchTemplate).id);
    const lt = byType('aws:ec2/launchTemplate:LaunchTemplate').find((t) => idOf(t) === ltRef || t.name === ltRef);
    const type = str(rec(arr(rec(mixed.launchTemplate).overrides)[0]).instanceType) ?? str(lt?.inputs.instanceType);
    const count = assumptions.atMax ? (num(g.inputs.maxSize) ?? 0) : (num(g.inputs.desiredCapacity) ?? num(g.inputs.minSize) ?? 0);
    const dist = rec(mixed.instancesDistribution);
    let onDemand = count;
    let spot = 0;
    if (Object.keys(mixed).length > 0) {
      const base = Math.min(count, num(dist.onDemandBaseCapacity) ?? 0);
      const aboveOnDemand = Math.round(((count - base) * (num(dist.onDemandPercentageAboveBaseCapacity) ?? 100)) / 100);
      onDemand = base + aboveOnDemand;
      spot = count - onDemand;
    } else if (lt?.inputs.instanceMarketOptions !== undefined) {
      onDemand = 0;
      spot = count;
    }
    const each = instancePrice('aws', type);
    const hourly = onDemand * each + spot * each * spotFactor(type ?? '');
    const volumeGb = arr(lt?.inputs.blockDeviceMappings).reduce<number>((sum, m) => sum + (num(rec(rec(m).ebs).volumeSize) ?? 0), 0);
    add(
      g,
      `${type ?? '?'} × ${count} (${onDemand} on-demand, ${spot} spot)${volumeGb ? `, ${volumeGb} GB gp3 each` : ''}`,
      count,
      hourly,
      scaled(hourly) + count * volumeGb * prices.ebsGbMonth,
    );
    if (num(g.inputs.desiredCapacity) === undefined && !assumptions.atMax)
      notes.add(
        `${g.name}: no desired capacity (scaled by ECS or a policy): priced at its minimum size ${count}; --at-max prices every group at its maximum`,
      );
  }

  for (const i of byType('aws:ec2/instance:Instance')) {
    const type = str(i.inputs.instanceType);
    const spot = i.inputs.instanceMarketOptions !== undefined;
    const hourly = instancePrice('aws', type) * (spot ? spotFactor(type ?? '') : 1);
    add(i, `${type ?? '?'}${spot ? ' spot' : ''}`, 1, hourly, scaled(hourly));
  }

  const taskDefs = byType('aws:ecs/taskDefinition:TaskDefinition');
  const targets = byType('aws:appautoscaling/target:Target');
  for (const s of byType('aws:ecs/service:Service')) {
    const ref = str(s.inputs.taskDefinition) ?? '';
    const td = taskDefs.find((t) => ref.includes(str(t.inputs.family) ?? '\0') || ref.endsWith(`:${t.name}`) || ref === idOf(t));
    const strategies = arr(s.inputs.capacityProviderStrategies).map(rec);
    const fargate = str(s.inputs.launchType) === 'FARGATE' || strategies.some((p) => /^FARGATE/.test(str(p.capacityProvider) ?? ''));
    if (!fargate) {
      notes.add(`${s.name}: ECS on EC2 capacity: its cost is the instances of its Auto Scaling group`);
      continue;
    }
    const target = targets.find((t) => (str(t.inputs.resourceId) ?? '').endsWith(`/${str(s.inputs.name) ?? s.name}`));
    const count = assumptions.atMax
      ? (num(target?.inputs.maxCapacity) ?? num(s.inputs.desiredCount) ?? 0)
      : (num(s.inputs.desiredCount) ?? 0);
    const vcpu = (num(td?.inputs.cpu) ?? 256) / 1024;
    const gb = (num(td?.inputs.memory) ?? 512) / 1024;
    // Capacity provider strategy: the base goes to its provider, the rest by weight.
    let spotTasks = 0;
    if (strategies.length === 0) spotTasks = 0;
    else {
      const baseOwner = strategies.find((p) => (num(p.base) ?? 0) > 0);
      const base = Math.min(count, num(baseOwner?.base) ?? 0);
      const weights = strategies.reduce((w, p) => w + (num(p.weight) ?? 0), 0);
      const spotWeight = strategies.filter((p) => str(p.capacityProvider) === 'FARGATE_SPOT').reduce((w, p) => w + (num(p.weight) ?? 0), 0);
      spotTasks =
        (str(baseOwner?.capacityProvider) === 'FARGATE_SPOT' ? base : 0) +
        (weights > 0 ? Math.round(((count - base) * spotWeight) / weights) : 0);
    }
    const perTask = vcpu * prices.fargate.vcpuHour + gb * prices.fargate.gbHour;
    const hourly = (count - spotTasks) * perTask + spotTasks * perTask * (1 - prices.fargate.spotDiscount);
    add(
      s,
      `Fargate ${vcpu} vCPU / ${gb} GB × ${count} (${spotTasks} on Fargate Spot, $${round(perTask * (spotTasks === count && count > 0 ? 1 - prices.fargate.spotDiscount : 1), 4)}/task-hour)`,
      count,
      hourly,
      scaled(hourly),
    );
  }

  const databases = byType('aws:rds/instance:Instance');
  for (const d of databases) {
    const cls = str(d.inputs.instanceClass) ?? '?';
    const copies = d.inputs.multiAz === true ? 2 : 1;
    const price = prices.rds[cls];
    if (price === undefined) notes.add(`no RDS price for ${cls}: priced at $0`);
    const hourly = (price ?? 0) * copies;
    const storage = (num(d.inputs.allocatedStorage) ?? 0) * copies * prices.rdsStorageGbMonth;
    add(
      d,
      `RDS ${cls}${copies === 2 ? ' Multi-AZ' : ''}, ${num(d.inputs.allocatedStorage) ?? 0} GB`,
      1,
      hourly,
      alwaysOn(hourly) + storage,
    );
  }
  for (const p of byType('aws:rds/proxy:Proxy')) {
    const cls = str(databases[0]?.inputs.instanceClass) ?? '';
    const vcpus = Math.max(2, prices.rdsVcpus[cls] ?? 2); // billed for at least 2 vCPUs
    const hourly = vcpus * prices.rdsProxyVcpuHour;
    add(p, `RDS Proxy (${vcpus} vCPU of ${cls || 'the database'})`, 1, hourly, alwaysOn(hourly));
  }
  for (const c of byType('aws:elasticache/replicationGroup:ReplicationGroup')) {
    const node = str(c.inputs.nodeType) ?? '?';
    const n = num(c.inputs.numCacheClusters) ?? 1;
    const price = prices.elasticache[node];
    if (price === undefined) notes.add(`no ElastiCache price for ${node}: priced at $0`);
    const hourly = (price ?? 0) * n;
    add(c, `ElastiCache ${node} × ${n}`, n, hourly, alwaysOn(hourly));
  }
  const fixedHourly = (type: string, what: string, hourly: number): void => {
    for (const r of byType(type)) add(r, what, 1, hourly, alwaysOn(hourly));
  };
  fixedHourly('aws:ec2/natGateway:NatGateway', 'NAT gateway (data processed not included)', prices.natGatewayHour);
  fixedHourly('aws:ec2/eip:Eip', 'public IPv4 address', prices.publicIpv4Hour);
  for (const lb of byType('aws:lb/loadBalancer:LoadBalancer')) {
    const network = str(lb.inputs.loadBalancerType) === 'network';
    add(
      lb,
      `${network ? 'Network' : 'Application'} Load Balancer (capacity units not included)`,
      1,
      network ? prices.nlbHour : prices.albHour,
      alwaysOn(network ? prices.nlbHour : prices.albHour),
    );
  }
  fixedHourly('digitalocean:index/loadBalancer:LoadBalancer', 'DigitalOcean load balancer', prices.digitaloceanLoadBalancerHour);
  fixedHourly('gcp:compute/forwardingRule:ForwardingRule', 'GCP load balancer forwarding rule', prices.gcpLoadBalancerHour);

  for (const d of byType('digitalocean:index/droplet:Droplet')) {
    const size = str(d.inputs.size);
    const hourly = instancePrice('digitalocean', size);
    add(d, `droplet ${size ?? '?'}`, 1, hourly, scaled(hourly));
  }
  const gcpTemplates = resources.filter((r) => /^gcp:compute\/(region)?[iI]nstanceTemplate:/.test(r.type));
  for (const i of byType('gcp:compute/instance:Instance')) {
    const type = str(i.inputs.machineType);
    const spot = str(rec(i.inputs.scheduling).provisioningModel) === 'SPOT';
    const hourly = instancePrice('gcp', type) * (spot ? spotFactor(type ?? '') : 1);
    add(i, `${type ?? '?'}${spot ? ' spot' : ''}`, 1, hourly, scaled(hourly));
  }
  for (const m of resources.filter((r) => /^gcp:compute\/(region)?[iI]nstanceGroupManager:/.test(r.type))) {
    const templateRef = str(rec(arr(m.inputs.versions)[0]).instanceTemplate) ?? '';
    const template = gcpTemplates.find((t) => templateRef.includes(t.name) || templateRef === idOf(t));
    const type = str(template?.inputs.machineType);
    const spot = str(rec(template?.inputs.scheduling).provisioningModel) === 'SPOT';
    const count = num(m.inputs.targetSize) ?? 0;
    const hourly = count * instancePrice('gcp', type) * (spot ? spotFactor(type ?? '') : 1);
    add(m, `${type ?? '?'} × ${count}${spot ? ' spot' : ''}`, count, hourly, scaled(hourly));
  }

  const monthlyOnly = (type: RegExp, what: string, each: number): void => {
    const found = resources.filter((r) => type.test(r.type));
    if (found.length > 0) add(what, what, found.length, 0, found.length * each);
  };
  monthlyOnly(/^aws:cloudwatch\/metricAlarm:/, 'CloudWatch alarms', prices.cloudwatchAlarmMonth);
  monthlyOnly(/^aws:cloudwatch\/dashboard:/, 'CloudWatch dashboards', prices.cloudwatchDashboardMonth);
  monthlyOnly(/^aws:kms\/key:/, 'KMS keys', prices.kmsKeyMonth);
  monthlyOnly(/^aws:secretsmanager\/secret:/, 'Secrets Manager secrets', prices.secretMonth);
  if (resources.some((r) => r.type === 'aws:sqs/queue:Queue')) {
    const requests = assumptions.sqsRequestsPerMonth ?? 0;
    add(
      'SQS',
      `${formatCount(requests)} requests/month (--sqs-requests)`,
      byType('aws:sqs/queue:Queue').length,
      0,
      (requests / 1e6) * prices.sqsPerMillionRequests,
    );
  }
  if (resources.some((r) => /^aws:s3\/bucket(V2)?:/.test(r.type))) {
    const gb = assumptions.s3Gb ?? 0;
    add('S3', `${gb} GB stored (--s3-gb)`, resources.filter((r) => /^aws:s3\/bucket(V2)?:/.test(r.type)).length, 0, gb * prices.s3GbMonth);
  }
  notes.add(
    'not included: data transfer, NAT data processing, load-balancer capacity units, CloudWatch Logs ingestion and storage, ECR storage, request charges beyond SQS',
  );

  const priced = lines.filter((l) => l.hourly > 0 || l.monthly > 0 || l.count > 0);
  return {
    lines: priced,
    hourly: priced.reduce((sum, l) => sum + l.hourly, 0),
    monthly: priced.reduce((sum, l) => sum + l.monthly, 0),
    hoursPerDay,
    notes: [...notes],
    source: prices.source,
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function formatCount(n: number): string {
  return n >= 1e6 ? `${round(n / 1e6, 2)}M` : n >= 1e3 ? `${round(n / 1e3, 1)}k` : String(n);
}

/** A plain table for the terminal. */
export function formatCostEstimate(estimate: CostEstimate, title: string): string {
  const rows = [
    ['resource', 'what', '$/hour', '$/month'],
    ...estimate.lines.map((l) => [l.resource, l.what, l.hourly ? l.hourly.toFixed(4) : '-', l.monthly.toFixed(2)]),
  ];
  rows.push(['total', `compute ${estimate.hoursPerDay} h/day, 30-day month`, estimate.hourly.toFixed(4), estimate.monthly.toFixed(2)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [
    title,
    line(rows[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
    '',
    `prices: ${estimate.source}`,
    ...estimate.notes.map((n) => `note: ${n}`),
  ].join('\n');
}
