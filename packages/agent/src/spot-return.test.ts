import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SynktiError, TAG_CLUSTER, TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { SpotReturn, spotReturnBackoffMs, spotReturnStep, spreadMoveStep } from './spot-return.ts';
import { TAG_SLOT_CREDIT, exitCostMs, moveCostMs } from './spot-ledger.ts';

const silent = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof SpotReturn>[0]['logger'];

/** An in-memory cloud: launches succeed unless `noSpotCapacity` is set. */
class FakeCloud implements InstanceProvider {
  readonly records: InstanceRecord[] = [];
  readonly launches: LaunchSpec[] = [];
  listCalls = 0;
  noSpotCapacity = false;
  private next = 1;

  add(id: string, lifecycle: 'spot' | 'on-demand', tags: Record<string, string> = {}): void {
    this.records.push({
      id,
      state: 'running',
      lifecycle,
      instanceType: 'g5.xlarge',
      zone: 'z1',
      privateIp: '10.0.0.1',
      launchedAt: 0,
      tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'worker', ...tags },
    } as InstanceRecord);
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
      items: this.records.filter(
        (r) =>
          (!filter.ids || filter.ids.includes(r.id)) &&
          Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v) &&
          (!filter.states || filter.states.includes(r.state)),
      ),
    };
  }

  async terminate(ids: string[]): Promise<void> {
    for (const r of this.records) if (ids.includes(r.id)) r.state = 'terminated';
  }

  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

function spotReturn(
  cloud: FakeCloud,
  members: { id: string; state: string; replaces?: string }[],
  handedOver: string[],
  onDemandBase = 0,
): SpotReturn {
  return new SpotReturn({
    cluster: 'c',
    role: 'worker',
    selfId: 'i-od',
    instances: cloud,
    pool: { lifecycle: 'spot', onDemandBase, instanceType: 'g5.xlarge' },
    userData: 'boot',
    liveMembers: () => members,
    handOver: async (successor) => {
      handedOver.push(successor);
    },
    logger: silent,
  });
}

test('the decision: only an on-demand node of a spot pool beyond the on-demand base moves back', () => {
  const base = { cluster: 'c', role: 'worker', successors: [], members: [], handingOver: false };
  assert.deepEqual(
    spotReturnStep({ ...base, self: { id: 'a', lifecycle: 'spot' }, pool: { lifecycle: 'spot', onDemandBase: 0 }, onDemandIds: [] }),
    { kind: 'stay', why: 'not-a-fallback' },
  );
  assert.deepEqual(
    spotReturnStep({
      ...base,
      self: { id: 'a', lifecycle: 'on-demand' },
      pool: { lifecycle: 'on-demand', onDemandBase: 0 },
      onDemandIds: ['a'],
    }),
    { kind: 'stay', why: 'not-a-fallback' },
  );
  assert.deepEqual(
    spotReturnStep({
      ...base,
      self: { id: 'a', lifecycle: 'on-demand' },
      pool: { lifecycle: 'spot', onDemandBase: 0 },
      onDemandIds: ['a'],
    }),
    { kind: 'launch' },
  );
  // With a base of 1 and two on-demand nodes, exactly one of them stays (the same one, whoever asks).
  const steps = ['a', 'b'].map(
    (id) =>
      spotReturnStep({
        ...base,
        self: { id, lifecycle: 'on-demand' },
        pool: { lifecycle: 'spot', onDemandBase: 1 },
        onDemandIds: ['a', 'b'],
      }).kind,
  );
  assert.deepEqual(steps.sort(), ['launch', 'stay']);
});

test('an on-demand fallback launches a spot successor, waits for it to serve, then hands over once', async () => {
  const cloud = new FakeCloud();
  cloud.add('i-od', 'on-demand');
  cloud.add('i-spot1', 'spot');
  const members: { id: string; state: string; replaces?: string }[] = [
    { id: 'i-od', state: 'ready' },
    { id: 'i-spot1', state: 'ready' },
  ];
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

test('a successor lost before the hand-over does not orphan the node: it launches another, with its own token', async () => {
  const cloud = new FakeCloud();
  cloud.add('i-od', 'on-demand');
  const members: { id: string; state: string; replaces?: string }[] = [{ id: 'i-od', state: 'ready' }];
  const handedOver: string[] = [];
  // intervalMs 0: no back-off wait, so the test needs no clock.
  const node = new SpotReturn({
    cluster: 'c',
    role: 'worker',
    selfId: 'i-od',
    instances: cloud,
    pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 'g5.xlarge' },
    userData: 'boot',
    liveMembers: () => members,
    handOver: async (s) => {
      handedOver.push(s);
    },
    intervalMs: 0,
    logger: silent,
  });
  assert.deepEqual(await node.check(), { kind: 'launch' });
  const first = cloud.records.at(-1)!;
  // Preempted while booting, and no replacement of it (no capacity): the node must try again, not wait forever.
  first.state = 'terminated';
  assert.deepEqual(await node.check(), { kind: 'launch' });
  assert.equal(cloud.launches.length, 2);
  assert.notEqual(cloud.launches[1]!.clientToken, cloud.launches[0]!.clientToken, 'a new token: the first would return the dead instance');
  const second = cloud.records.at(-1)!;
  // This one is preempted too, and its own replacement carries the duty (tagged as replacing i-od).
  second.state = 'terminated';
  cloud.add('i-carrier', 'spot', { [TAG_REPLACES]: 'i-od' });
  assert.deepEqual(await node.check(), { kind: 'wait', successor: 'i-carrier' });
  assert.equal(cloud.launches.length, 2, "nothing launched while the duty's carrier boots");
  members.push({ id: 'i-carrier', state: 'ready', replaces: 'i-od' });
  assert.deepEqual(await node.check(), { kind: 'hand-over', successor: 'i-carrier' });
  assert.deepEqual(handedOver, ['i-carrier']);
});

test('back-off: each successor lost before serving doubles the wait, up to an hour', () => {
  const base = {
    cluster: 'c',
    role: 'worker',
    successors: [],
    members: [],
    handingOver: false,
    self: { id: 'a', lifecycle: 'on-demand' as const },
    pool: { lifecycle: 'spot' as const, onDemandBase: 0 },
    onDemandIds: ['a'],
  };
  const at = (attempts: number, sinceMs: number) =>
    spotReturnStep({ ...base, backoff: { attempts, lastAttemptAt: 0, now: sinceMs, intervalMs: 300_000 } }).kind;
  assert.equal(at(0, 0), 'launch');
  assert.equal(at(1, 299_999), 'stay');
  assert.equal(at(1, 300_000), 'launch');
  assert.equal(at(3, 1_199_999), 'stay');
  assert.equal(at(3, 1_200_000), 'launch');
  assert.equal(spotReturnBackoffMs(300_000, 30), 3_600_000);
});

test('invariant over random histories: never more than the node, one booting successor and one in its notice; never orphaned', async () => {
  for (let seed = 1; seed <= 200; seed++) {
    let x = seed;
    const random = (): number => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x / 2 ** 31;
    };
    const cloud = new FakeCloud();
    cloud.add('i-od', 'on-demand');
    const members: { id: string; state: string; replaces?: string }[] = [{ id: 'i-od', state: 'ready' }];
    const handedOver: string[] = [];
    const node = new SpotReturn({
      cluster: 'c',
      role: 'worker',
      selfId: 'i-od',
      instances: cloud,
      pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 'g5.xlarge' },
      userData: 'boot',
      liveMembers: () => members,
      handOver: async (s) => {
        handedOver.push(s);
      },
      intervalMs: 0,
      logger: silent,
    });
    for (let step = 0; step < 30 && handedOver.length === 0; step++) {
      cloud.noSpotCapacity = random() < 0.3;
      await node.check();
      const booting = cloud.records.filter(
        (r) => r.id !== 'i-od' && r.state === 'running' && !members.some((m) => m.id === r.id && m.state !== 'joining'),
      );
      for (const successor of booting) {
        const roll = random();
        if (roll < 0.4) {
          // Notice before the hand-over: the successor's replacement (Replacer's duty rule) replaces i-od.
          successor.state = 'terminated';
          if (!cloud.noSpotCapacity && random() < 0.5) cloud.add(`i-carrier${step}`, 'spot', { [TAG_REPLACES]: 'i-od' });
        } else if (roll < 0.7) {
          members.push({ id: successor.id, state: 'ready', replaces: 'i-od' });
        }
      }
      const alive = cloud.records.filter((r) => r.state === 'running');
      assert.ok(alive.length <= 3, `seed ${seed} step ${step}: ${alive.length} instances alive`);
      assert.ok(alive.filter((r) => r.tags[TAG_REPLACES] === 'i-od').length <= 2, `seed ${seed}: more than one successor per loss`);
    }
    // Capacity steady from now on: the node always ends up handed over.
    cloud.noSpotCapacity = false;
    for (let step = 0; step < 4 && handedOver.length === 0; step++) {
      await node.check();
      for (const r of cloud.records)
        if (r.state === 'running' && r.id !== 'i-od' && !members.some((m) => m.id === r.id))
          members.push({ id: r.id, state: 'ready', replaces: 'i-od' });
    }
    assert.equal(handedOver.length, 1, `seed ${seed}: the on-demand node was never handed over`);
  }
});

test('spread moves: of four replicas in one zone, three move, to other zones; none once spread', () => {
  const zones = ['a', 'b', 'c', 'd'];
  const crowded = ['i-1', 'i-2', 'i-3', 'i-4'].map((id) => ({ id, state: 'ready', zone: 'a', lifecycle: 'spot' as const }));
  const steps = crowded.map((m) => spreadMoveStep({ self: m, members: crowded, zonesWithCapacity: zones, target: 4 }));
  assert.equal(steps.filter((s) => s.kind === 'move').length, 3);
  for (const s of steps) if (s.kind === 'move') assert.notEqual(s.zone, 'a');
  const spread = crowded.map((m, i) => ({ ...m, zone: zones[i]! }));
  assert.ok(spread.every((m) => spreadMoveStep({ self: m, members: spread, zonesWithCapacity: zones, target: 4 }).kind === 'stay'));
  // Only one zone has capacity: nowhere to go.
  assert.ok(crowded.every((m) => spreadMoveStep({ self: m, members: crowded, zonesWithCapacity: ['a'], target: 4 }).kind === 'stay'));
  // A node whose successor is already booting does not move twice.
  const withSuccessor = [...crowded, { id: 'i-5', state: 'joining', zone: 'b', lifecycle: 'spot' as const, replaces: 'i-1' }];
  assert.equal(spreadMoveStep({ self: crowded[0]!, members: withSuccessor, zonesWithCapacity: zones, target: 4 }).kind, 'stay');
});

test("the successor boots the user data the function gives at launch time (a rollout's desired config)", async () => {
  const cloud = new FakeCloud();
  cloud.add('i-od', 'on-demand');
  let desired = 'config-v1';
  const node = new SpotReturn({
    cluster: 'c',
    role: 'worker',
    selfId: 'i-od',
    instances: cloud,
    pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 'g5.xlarge' },
    userData: () => desired,
    liveMembers: () => [{ id: 'i-od', state: 'ready' }],
    handOver: async () => {},
    logger: silent,
  });
  desired = 'config-v2';
  assert.deepEqual(await node.check(), { kind: 'launch' });
  assert.equal(cloud.launches[0]!.userData, 'config-v2');
});

test("the slot ledger: an on-demand node moves only while its slot's credit covers a move's worst case, and tags the successor with the rest", async () => {
  const hedge = { launchDelayMs: 183_000, priceRatio: 0.3 };
  const cloud = new FakeCloud();
  // Credit for one move and a half (a slot that saved that much on spot before).
  cloud.add('i-od', 'on-demand', { [TAG_SLOT_CREDIT]: String(Math.floor(moveCostMs(hedge) * 1.5)) });
  // Launched now: the 1 % an on-demand holder earns adds only milliseconds here.
  (cloud.records[0] as { launchedAt: number }).launchedAt = Date.now();
  const node = new SpotReturn({
    cluster: 'c',
    role: 'worker',
    selfId: 'i-od',
    instances: cloud,
    pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 'g5.xlarge' },
    userData: 'boot',
    liveMembers: () => [{ id: 'i-od', state: 'ready' }],
    handOver: async () => {},
    intervalMs: 0,
    hedge,
    logger: silent,
  });
  assert.deepEqual(await node.check(), { kind: 'launch' });
  const tagged =
    Number(cloud.launches[0]!.tags[TAG_SLOT_CREDIT]) - (Math.floor(moveCostMs(hedge) * 1.5) - (moveCostMs(hedge) - exitCostMs(hedge)));
  assert.ok(tagged >= 0 && tagged < 1000, `the successor's tag: the credit less the move's boot and hand-over (off by ${tagged} ms)`);
  // Lost before serving: the move's reservation is spent; half a move is left, not enough.
  cloud.records.at(-1)!.state = 'terminated';
  assert.deepEqual(await node.check(), { kind: 'stay', why: 'no-credit' });
  assert.equal(cloud.launches.length, 1);
  // No tag (a fleet launched by a tool that does not tag, or before the ledger): a new slot's
  // credit, one move, as `synkti up` tags it; its successor carries what a spot holder owes.
  const untagged = new FakeCloud();
  untagged.add('i-od', 'on-demand');
  (untagged.records[0] as { launchedAt: number }).launchedAt = Date.now();
  const old = spotReturn(untagged, [{ id: 'i-od', state: 'ready' }], []);
  assert.deepEqual(await old.check(), { kind: 'launch' });
  const carried = Number(untagged.launches[0]!.tags[TAG_SLOT_CREDIT]) - exitCostMs();
  assert.ok(carried >= 0 && carried < 1000, `untagged: the successor carries a notice's worth (off by ${carried} ms)`);
});

test('a forged slot credit (huge, or garbage) counts zero: the fallback stays on-demand, and says so once', async () => {
  for (const forged of ['999999999999999', '86400001', 'Infinity', '1e20']) {
    const cloud = new FakeCloud();
    cloud.add('i-od', 'on-demand', { [TAG_SLOT_CREDIT]: forged });
    (cloud.records[0] as { launchedAt: number }).launchedAt = Date.now();
    const warnings: string[] = [];
    const logger = {
      ...silent,
      warn: (_o: unknown, msg?: string) => {
        warnings.push(String(msg));
      },
    } as unknown as typeof silent;
    const node = new SpotReturn({
      cluster: 'c',
      role: 'worker',
      selfId: 'i-od',
      instances: cloud,
      pool: { lifecycle: 'spot', onDemandBase: 0, instanceType: 'g5.xlarge' },
      userData: 'boot',
      liveMembers: () => [{ id: 'i-od', state: 'ready' }],
      handOver: async () => {},
      intervalMs: 0,
      logger,
    });
    assert.deepEqual(await node.check(), { kind: 'stay', why: 'no-credit' }, forged);
    assert.deepEqual(await node.check(), { kind: 'stay', why: 'no-credit' }, forged);
    assert.equal(cloud.launches.length, 0, forged);
    assert.equal(warnings.filter((w) => /slot-credit tag/.test(w)).length, 1, `logged once: ${forged}`);
    assert.ok(!warnings.some((w) => w.includes(forged)), 'the forged value is not echoed into the log message');
  }
});
