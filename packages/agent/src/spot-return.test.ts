import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SynktiError, TAG_CLUSTER, TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { SpotReturn, spotReturnStep } from './spot-return.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof SpotReturn>[0]['logger'];

/** An in-memory cloud: launches succeed unless `noSpotCapacity` is set. */
class FakeCloud implements InstanceProvider {
  readonly records: InstanceRecord[] = [];
  readonly launches: LaunchSpec[] = [];
  listCalls = 0;
  noSpotCapacity = false;
  private next = 1;

  add(id: string, lifecycle: 'spot' | 'on-demand', tags: Record<string, string> = {}): void {
    this.records.push({ id, state: 'running', lifecycle, instanceType: 'g5.xlarge', zone: 'z1', privateIp: '10.0.0.1', launchedAt: 0, tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'worker', ...tags } } as InstanceRecord);
  }

  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launches.push(spec);
    if (spec.lifecycle === 'spot' && this.noSpotCapacity) throw new SynktiError('E_AWS_CAPACITY', 'no spot capacity in any zone');
    const id = `i-new${this.next++}`;
    this.add(id, spec.lifecycle, spec.tags);
    return this.records.at(-1)!;
  }

  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    this.listCalls += 1;
    return {
      items: this.records.filter((r) => (!filter.ids || filter.ids.includes(r.id))
        && Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v)
        && (!filter.states || filter.states.includes(r.state))),
    };
  }

  async terminate(ids: string[]): Promise<void> {
    for (const r of this.records) if (ids.includes(r.id)) r.state = 'terminated';
  }

  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

function spotReturn(cloud: FakeCloud, members: { id: string; state: string; replaces?: string }[], handedOver: string[], onDemandBase = 0): SpotReturn {
  return new SpotReturn({
    cluster: 'c', role: 'worker', selfId: 'i-od', instances: cloud,
    pool: { lifecycle: 'spot', onDemandBase, instanceType: 'g5.xlarge' },
    userData: 'boot', liveMembers: () => members,
    handOver: async (successor) => { handedOver.push(successor); },
    logger: silent,
  });
}

test('the decision: only an on-demand node of a spot pool beyond the on-demand base moves back', () => {
  const base = { cluster: 'c', role: 'worker', successor: undefined, members: [], handingOver: false };
  assert.deepEqual(spotReturnStep({ ...base, self: { id: 'a', lifecycle: 'spot' }, pool: { lifecycle: 'spot', onDemandBase: 0 }, onDemandIds: [] }), { kind: 'stay', why: 'not-a-fallback' });
  assert.deepEqual(spotReturnStep({ ...base, self: { id: 'a', lifecycle: 'on-demand' }, pool: { lifecycle: 'on-demand', onDemandBase: 0 }, onDemandIds: ['a'] }), { kind: 'stay', why: 'not-a-fallback' });
  assert.deepEqual(spotReturnStep({ ...base, self: { id: 'a', lifecycle: 'on-demand' }, pool: { lifecycle: 'spot', onDemandBase: 0 }, onDemandIds: ['a'] }), { kind: 'launch' });
  // With a base of 1 and two on-demand nodes, exactly one of them stays (the same one, whoever asks).
  const steps = ['a', 'b'].map((id) => spotReturnStep({ ...base, self: { id, lifecycle: 'on-demand' }, pool: { lifecycle: 'spot', onDemandBase: 1 }, onDemandIds: ['a', 'b'] }).kind);
  assert.deepEqual(steps.sort(), ['launch', 'stay']);
});

test('an on-demand fallback launches a spot successor, waits for it to serve, then hands over once', async () => {
  const cloud = new FakeCloud();
  cloud.add('i-od', 'on-demand');
  cloud.add('i-spot1', 'spot');
  const members: { id: string; state: string; replaces?: string }[] = [{ id: 'i-od', state: 'ready' }, { id: 'i-spot1', state: 'ready' }];
  const handedOver: string[] = [];
  const node = spotReturn(cloud, members, handedOver);

  assert.deepEqual(await node.check(), { kind: 'launch' });
  assert.equal(cloud.launches.length, 1);
  const launched = cloud.launches[0]!;
  assert.equal(launched.lifecycle, 'spot');
  assert.equal(launched.tags[TAG_REPLACES], 'i-od');
  assert.equal(launched.userData, 'boot');
  assert.match(launched.clientToken ?? '', /^synkti-spot-return-i-od-/);
  const successor = cloud.records.at(-1)!.id;

  members.push({ id: successor, state: 'joining', replaces: 'i-od' });
  assert.deepEqual(await node.check(), { kind: 'wait', successor });
  assert.equal(cloud.launches.length, 1, 'no second successor while the first boots');
  assert.deepEqual(handedOver, []);

  members[2]!.state = 'ready';
  assert.deepEqual(await node.check(), { kind: 'hand-over', successor });
  assert.deepEqual(handedOver, [successor]);
  assert.deepEqual(await node.check(), { kind: 'stay', why: 'handing-over' });
  assert.deepEqual(handedOver, [successor], 'handed over exactly once');
});

test('without spot capacity the node stays on-demand and tries again later', async () => {
  const cloud = new FakeCloud();
  cloud.add('i-od', 'on-demand');
  cloud.noSpotCapacity = true;
  const handedOver: string[] = [];
  const node = spotReturn(cloud, [{ id: 'i-od', state: 'ready' }], handedOver);
  await node.check();
  await node.check();
  assert.equal(node.capacityMisses, 2);
  assert.equal(cloud.records.filter((r) => r.state === 'running').length, 1, 'nothing launched, nothing terminated');
  cloud.noSpotCapacity = false;
  assert.deepEqual(await node.check(), { kind: 'launch' });
  assert.equal(cloud.records.filter((r) => r.lifecycle === 'spot' && r.state === 'running').length, 1);
  assert.deepEqual(handedOver, []);
});

test('a spot node looks itself up once at start and never again', async (t) => {
  const cloud = new FakeCloud();
  cloud.add('i-od', 'spot');
  const node = spotReturn(cloud, [], []);
  t.after(() => node.stop());
  await node.start();
  assert.equal(cloud.listCalls, 1);
  assert.equal(cloud.launches.length, 0);
});
