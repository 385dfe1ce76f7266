import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateCluster } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { createLogger } from '../logger.ts';
import type { Member } from '../membership-view.ts';
import { Autoscaler } from './autoscaler.ts';
import { autoscaleOrder } from './autoscale-election.ts';
import type { AutoscaleRecord } from './autoscale-record.ts';

/** Instances by client token, as EC2 keeps them: a token launches once, ever. */
class TokenCloud implements InstanceProvider {
  readonly instances: InstanceRecord[] = [];
  readonly tokens = new Map<string, InstanceRecord>();
  launches = 0;
  readonly specs: LaunchSpec[] = [];

  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launches += 1;
    this.specs.push(spec);
    const known = spec.clientToken === undefined ? undefined : this.tokens.get(spec.clientToken);
    if (known) return known;
    // Every zone has capacity: the first of the caller's zone order, as the AWS provider's plan tries it.
    const zone = spec.zoneOrder?.[0] ?? 'z';
    const record: InstanceRecord = {
      id: `i-n${this.instances.length}`,
      state: 'pending',
      privateIp: '127.0.0.1',
      instanceType: spec.instanceType,
      zone,
      lifecycle: spec.lifecycle,
      launchedAt: 0,
      tags: { ...spec.tags },
    };
    this.instances.push(record);
    if (spec.clientToken !== undefined) this.tokens.set(spec.clientToken, record);
    return record;
  }

  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    return {
      items: this.instances.filter(
        (r) =>
          (filter.states ?? ['pending', 'running']).includes(r.state) &&
          Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v),
      ),
    };
  }

  async terminate(ids: string[]): Promise<void> {
    for (const r of this.instances) if (ids.includes(r.id)) r.state = 'terminated';
  }

  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

const quiet = createLogger({}, { write() {} });
const spec = validateCluster({
  name: 'ct',
  pools: { worker: { count: 2, autoscale: { min: 1, max: 6, targetInFlightPerReplica: 4, upscaleDelay: '5s', downscaleDelay: '20s' } } },
});

function member(id: string, load: number, over: Partial<Member> = {}): Member {
  return {
    id,
    role: 'worker',
    zone: 'z',
    address: '127.0.0.1',
    agentPort: 1,
    routerPort: 2,
    workloadPort: 3,
    state: 'ready',
    incarnation: 1,
    version: 1,
    load,
    ...over,
  };
}

test('a decider change mid-action launches nothing twice: the same step has the same client tokens', async () => {
  const cloud = new TokenCloud();
  cloud.instances.push(
    {
      id: 'i-a',
      state: 'running',
      privateIp: '127.0.0.1',
      instanceType: 't',
      zone: 'z',
      lifecycle: 'spot',
      launchedAt: 0,
      tags: { SynktiCluster: 'ct', SynktiRole: 'worker' },
    },
    {
      id: 'i-b',
      state: 'running',
      privateIp: '127.0.0.1',
      instanceType: 't',
      zone: 'z',
      lifecycle: 'spot',
      launchedAt: 0,
      tags: { SynktiCluster: 'ct', SynktiRole: 'worker' },
    },
  );
  // 20 in flight on 2 replicas: the pool wants 5.
  const view = [member('i-a', 10), member('i-b', 10)];
  const [first, second] = autoscaleOrder('ct', 'worker', ['i-a', 'i-b']) as [string, string];
  let now = 0;
  const published = new Map<string, AutoscaleRecord[]>();
  const make = (selfId: string, members: () => Member[]) =>
    new Autoscaler({
      spec,
      selfId,
      instances: cloud,
      logger: quiet,
      members,
      userDataFor: () => '{}',
      publish: (records) => published.set(selfId, records),
      convergeMs: 60_000,
      clock: () => now,
    });
  // The first decider acts and dies before its record reaches anyone: its launches are
  // pending in the cloud, not yet in anyone's view.
  const a = make(first, () => view);
  for (; now <= 6000; now += 1000) await a.tick();
  assert.equal(a.stats.scaleOuts, 1);
  assert.equal(cloud.instances.filter((r) => r.state === 'pending').length, 3);
  // The second takes over with the same view (no record: the first one's never arrived).
  const b = make(second, () => view.filter((m) => m.id !== first));
  // Its cloud listing shows the pending launches: it launches nothing more.
  for (now = 0; now <= 6000; now += 1000) await b.tick();
  assert.equal(cloud.instances.filter((r) => r.state !== 'terminated').length, 5, 'no launch doubled');
  // Even with a stale listing (the launches not listed yet), the same step's tokens return the same instances.
  const listing = cloud.list.bind(cloud);
  cloud.list = async (filter) => ({ items: (await listing(filter)).items.filter((r) => r.state !== 'pending') });
  const c = make(second, () => view.filter((m) => m.id !== first));
  for (now = 0; now <= 6000; now += 1000) await c.tick();
  assert.ok(cloud.launches > 3, 'the second decider did launch');
  assert.equal(cloud.instances.length, 5, "but its tokens were the first one's: the same 3 instances");
});

test('the decider publishes its record, keepers copy it, and a scale-in terminates the least loaded newest nodes', async () => {
  const cloud = new TokenCloud();
  const ids = ['i-1', 'i-2', 'i-3', 'i-4'];
  for (const id of ids)
    cloud.instances.push({
      id,
      state: 'running',
      privateIp: '127.0.0.1',
      instanceType: 't',
      zone: 'z',
      lifecycle: 'spot',
      launchedAt: 0,
      tags: { SynktiCluster: 'ct', SynktiRole: 'worker' },
    });
  const view = ids.map((id, i) => member(id, i === 0 ? 3 : 0, { incarnation: 100 + i }));
  const order = autoscaleOrder('ct', 'worker', ids);
  let now = 0;
  const published = new Map<string, AutoscaleRecord[]>();
  const scalers = ids.map(
    (selfId) =>
      new Autoscaler({
        spec,
        selfId,
        instances: cloud,
        logger: quiet,
        userDataFor: () => '{}',
        convergeMs: 60_000,
        clock: () => now,
        members: () => view.map((m) => ({ ...m, ...(published.has(m.id) ? { autoscale: published.get(m.id) } : {}) })),
        publish: (records) => published.set(selfId, records),
      }),
  );
  for (; now <= 25_000; now += 1000) for (const s of scalers) await s.tick();
  // 3 in flight, target 4: one replica is enough; the loaded i-1 stays.
  assert.deepEqual(
    cloud.instances
      .filter((r) => r.state === 'terminated')
      .map((r) => r.id)
      .sort(),
    ['i-2', 'i-3', 'i-4'],
  );
  const decider = scalers[ids.indexOf(order[0]!)]!;
  assert.equal(decider.stats.scaleIns, 1);
  const record = published.get(order[0]!)?.[0];
  assert.equal(record?.action, 'scale-in');
  for (const keeper of order.slice(1, 3)) assert.deepEqual(published.get(keeper), [record], `${keeper} keeps a copy`);
  assert.equal(published.has(order[3]!), false, 'the fourth keeps none');
  const status = decider.status()[0]!;
  assert.equal(status.decider, order[0]);
  assert.equal(status.last?.epoch, 1);
});

test('targetRps: the pool scales on the request rates its members gossip', async () => {
  const cloud = new TokenCloud();
  const rpsSpec = validateCluster({
    name: 'ct',
    pools: { worker: { count: 2, autoscale: { min: 1, max: 6, targetRps: 10, upscaleDelay: '3s', downscaleDelay: '20s' } } },
  });
  const view = [member('i-a', 0, { rps: 15 }), member('i-b', 0, { rps: 15 })];
  const decider = autoscaleOrder('ct', 'worker', ['i-a', 'i-b'])[0]!;
  let now = 0;
  const published: AutoscaleRecord[] = [];
  const scaler = new Autoscaler({
    spec: rpsSpec,
    selfId: decider,
    instances: cloud,
    logger: quiet,
    members: () => view,
    userDataFor: () => '{}',
    publish: (records) => {
      published.push(...records);
    },
    clock: () => now,
  });
  for (; now <= 4000; now += 1000) await scaler.tick();
  // 30 requests/s at 10 per replica: 3 replicas, one launched.
  assert.equal(cloud.instances.length, 1);
  assert.deepEqual(
    published.map((r) => [r.action, r.from, r.desired]),
    [['scale-out', 2, 3]],
  );
});

test('scale-outs place by the zone-spread rule: 1 → 8 over 3 zones holds ⌈8/3⌉ = 3 at most in each, a zone that lost nodes fills last', async () => {
  const cloud = new TokenCloud();
  const zones = ['z1', 'z2', 'z3'];
  const zoned = validateCluster({
    name: 'ct',
    pools: {
      worker: { count: 1, zones, autoscale: { min: 1, max: 9, targetInFlightPerReplica: 4, upscaleDelay: '3s', downscaleDelay: '1m' } },
    },
  });
  cloud.instances.push({
    id: 'i-a',
    state: 'running',
    privateIp: '127.0.0.1',
    instanceType: 't',
    zone: 'z1',
    lifecycle: 'spot',
    launchedAt: 0,
    tags: { SynktiCluster: 'ct', SynktiRole: 'worker' },
  });
  // 30 in flight on 1 replica at 4 per replica: the pool wants 8, so one step launches 7.
  const view = [member('i-a', 30, { zone: 'z1' })];
  let now = 0;
  const scaler = new Autoscaler({
    spec: zoned,
    selfId: 'i-a',
    instances: cloud,
    logger: quiet,
    members: () => view,
    userDataFor: () => '{}',
    publish: () => {},
    clock: () => now,
  });
  for (; now <= 4000; now += 1000) await scaler.tick();
  assert.equal(scaler.stats.scaleOuts, 1);
  assert.equal(cloud.instances.length, 8);
  const perZone = (): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const r of cloud.instances) if (r.state !== 'terminated') counts[r.zone] = (counts[r.zone] ?? 0) + 1;
    return counts;
  };
  // Which of the tied zones gets 2 is the rendezvous tie-break's; the counts are the rule's.
  assert.deepEqual(Object.values(perZone()).sort(), [2, 3, 3], `at most ⌈8/3⌉ per zone: ${JSON.stringify(perZone())}`);
  assert.deepEqual(
    cloud.instances
      .slice(1, 3)
      .map((r) => r.zone)
      .sort(),
    ['z2', 'z3'],
    'the empty zones first',
  );
  assert.ok(
    cloud.specs.every((s) => s.zoneOrder !== undefined && [...s.zoneOrder].sort().join() === zones.join()),
    "every launch carried the pool's zone order",
  );

  // A second pool, one that lost a node in z2 a minute ago: with the held counts tied, z2 comes last.
  const lossy = new TokenCloud();
  lossy.instances.push({
    id: 'i-b',
    state: 'running',
    privateIp: '127.0.0.1',
    instanceType: 't',
    zone: 'z1',
    lifecycle: 'spot',
    launchedAt: 0,
    tags: { SynktiCluster: 'ct', SynktiRole: 'worker' },
  });
  const view2 = [member('i-b', 10, { zone: 'z1' })];
  now = 100_000;
  const start = now;
  const scaler2 = new Autoscaler({
    spec: zoned,
    selfId: 'i-b',
    instances: lossy,
    logger: quiet,
    members: () => view2,
    userDataFor: () => '{}',
    publish: () => {},
    clock: () => now,
    recentLosses: () => [{ zone: 'z2', at: start - 60_000 }],
  });
  for (; now <= start + 4000; now += 1000) await scaler2.tick();
  // 10 in flight: 3 replicas, 2 launched; z1 holds one, z2 lost one: z3 first, then z1 (fewer losses beat fewer held).
  assert.deepEqual(
    lossy.instances.slice(1).map((r) => r.zone),
    ['z3', 'z1'],
  );
  assert.equal(lossy.specs[0]!.zoneOrder!.at(-1), 'z2', 'the zone that lost a node is tried last');
});
