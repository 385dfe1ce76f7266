import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_REPLACES } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { createLogger } from './logger.ts';
import { Replacer, replacementDuty } from './replacement.ts';

/** An in-memory cloud with EC2's client-token semantics, counting launches. */
class MemoryCloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  private readonly byToken = new Map<string, InstanceRecord>();
  launchCalls = 0;
  private next = 0;

  add(id: string, state: InstanceRecord['state'] = 'running'): void {
    this.records.push({
      id,
      state,
      privateIp: '127.0.0.1',
      instanceType: 't',
      zone: 'z',
      lifecycle: 'spot',
      launchedAt: this.next++,
      tags: { SynktiCluster: 'c', SynktiRole: 'worker' },
    });
  }

  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launchCalls += 1;
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    const known = spec.clientToken ? this.byToken.get(spec.clientToken) : undefined;
    if (known) return known;
    const record: InstanceRecord = {
      id: `i-new${this.next++}`,
      state: 'pending',
      privateIp: '127.0.0.1',
      instanceType: spec.instanceType,
      zone: 'z',
      lifecycle: spec.lifecycle,
      launchedAt: this.next,
      tags: { ...spec.tags },
    };
    this.records.push(record);
    if (spec.clientToken) this.byToken.set(spec.clientToken, record);
    return record;
  }

  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    const states = filter.states ?? ['pending', 'running', 'shutting-down'];
    return {
      items: this.records.filter(
        (r) =>
          states.includes(r.state) &&
          (!filter.ids || filter.ids.includes(r.id)) &&
          Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v),
      ),
    };
  }

  async terminate(ids: string[]): Promise<void> {
    for (const r of this.records) if (ids.includes(r.id)) r.state = 'terminated';
  }
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

const quiet = createLogger({}, { write() {} });
const template = { role: 'worker', instanceType: 't', lifecycle: 'spot' as const, userData: '{}' };

function fleetOf(cloud: MemoryCloud, ids: string[], views: Map<string, string[]>, recheckMs = 20): Map<string, Replacer> {
  return new Map(
    ids.map((id) => [
      id,
      new Replacer({
        cluster: 'c',
        instances: cloud,
        selfId: id,
        liveMembers: () =>
          (views.get(id) ?? []).map((m) => ({ id: m, replaces: cloud.records.find((r) => r.id === m)?.tags[TAG_REPLACES] })),
        templateFor: () => template,
        recheckMs,
        logger: quiet,
      }),
    ]),
  );
}

test('two simultaneous losses seen by every survivor give exactly one replacement each', async () => {
  for (let round = 0; round < 30; round++) {
    const cloud = new MemoryCloud();
    const ids = ['i-a', 'i-b', 'i-c', 'i-d', 'i-e', 'i-f'].map((id) => `${id}${round}`);
    for (const id of ids) cloud.add(id);
    const [lost1, lost2, ...survivors] = ids as [string, string, ...string[]];
    cloud.records.find((r) => r.id === lost1)!.state = 'terminated';
    cloud.records.find((r) => r.id === lost2)!.state = 'terminated';
    // Views differ for a while: some survivors have not yet noticed the second loss.
    const views = new Map(survivors.map((id, i) => [id, i % 2 === 0 ? survivors : [...survivors, lost2]]));
    const replacers = fleetOf(cloud, survivors, views);
    for (const r of replacers.values()) {
      r.peerLost(lost1, 'worker');
      r.peerLost(lost2, 'worker');
    }
    await new Promise((r) => setTimeout(r, 60));
    for (const id of survivors) views.set(id, survivors); // views converge
    await new Promise((r) => setTimeout(r, 150));
    for (const r of replacers.values()) r.stop();
    const replacements = cloud.records.filter((r) => r.tags[TAG_REPLACES]);
    assert.deepEqual(
      replacements.map((r) => r.tags[TAG_REPLACES]).sort(),
      [lost1, lost2].sort(),
      `round ${round}: one replacement per lost instance`,
    );
  }
});

test('when the chosen survivor dies before launching, another one takes over', async () => {
  const cloud = new MemoryCloud();
  const ids = ['i-a', 'i-b', 'i-c', 'i-d'];
  for (const id of ids) cloud.add(id);
  const lost = 'i-a';
  cloud.records[0]!.state = 'terminated';
  const survivors = ids.slice(1);
  const views = new Map(survivors.map((id) => [id, survivors]));
  const replacers = fleetOf(cloud, survivors, views);
  const { rendezvousPick } = await import('@synkti/core');
  const chosen = rendezvousPick(`replace:${lost}`, survivors, 1)[0]!;
  replacers.get(chosen)!.stop(); // the chosen node is gone before it acts
  const rest = survivors.filter((id) => id !== chosen);
  for (const id of rest) views.set(id, [...rest, chosen]);
  for (const id of rest) replacers.get(id)!.peerLost(lost, 'worker');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(cloud.records.filter((r) => r.tags[TAG_REPLACES]).length, 0, 'the others wait for the chosen node');
  for (const id of rest) views.set(id, rest); // the chosen node's death is noticed
  await new Promise((r) => setTimeout(r, 100));
  for (const r of replacers.values()) r.stop();
  assert.deepEqual(
    cloud.records.filter((r) => r.tags[TAG_REPLACES]).map((r) => r.tags[TAG_REPLACES]),
    [lost],
  );
});

test('a node with a notice launching its own replacement twice (agent restart) gets one instance', async () => {
  const cloud = new MemoryCloud();
  cloud.add('i-self');
  const make = () =>
    new Replacer({
      cluster: 'c',
      instances: cloud,
      selfId: 'i-self',
      liveMembers: () => [{ id: 'i-self' }],
      templateFor: () => template,
      logger: quiet,
    });
  const first = await make().replaceSelf('worker');
  const second = await make().replaceSelf('worker');
  assert.equal(first?.id, second?.id);
  assert.equal(cloud.records.filter((r) => r.tags[TAG_REPLACES] === 'i-self').length, 1);
});

test('a silent peer whose instance still runs is not replaced', async () => {
  const cloud = new MemoryCloud();
  for (const id of ['i-a', 'i-b']) cloud.add(id);
  const views = new Map([['i-b', ['i-b']]]);
  const replacers = fleetOf(cloud, ['i-b'], views);
  replacers.get('i-b')!.peerLost('i-a', 'worker');
  await new Promise((r) => setTimeout(r, 60));
  replacers.get('i-b')!.stop();
  assert.equal(cloud.records.filter((r) => r.tags[TAG_REPLACES]).length, 0);
});

test("the duty rule: a successor whose predecessor still serves hands its replacement the predecessor's duty", () => {
  const members = [
    { id: 'i-od', state: 'ready' },
    { id: 'i-s', state: 'draining', replaces: 'i-od' },
    { id: 'i-x', state: 'ready' },
    { id: 'i-r', state: 'joining', replaces: 'i-gone' },
  ];
  assert.equal(replacementDuty({ lostId: 'i-s', lostReplaces: undefined, members }), 'i-od');
  assert.equal(replacementDuty({ lostId: 'i-x', lostReplaces: undefined, members }), 'i-x', 'no predecessor: its own duty');
  assert.equal(replacementDuty({ lostId: 'i-r', lostReplaces: undefined, members }), 'i-r', 'predecessor gone: its own duty');
  // Handed over already (the predecessor drains): the successor's own duty.
  assert.equal(
    replacementDuty({ lostId: 'i-s', lostReplaces: undefined, members: [{ id: 'i-od', state: 'draining' }, ...members.slice(1)] }),
    'i-s',
  );
  // A lost peer is no longer a member: its predecessor comes from the cloud's tag.
  assert.equal(replacementDuty({ lostId: 'i-lost', lostReplaces: 'i-od', members }), 'i-od');
  // A cycle in hostile tags ends.
  assert.equal(replacementDuty({ lostId: 'a', lostReplaces: 'b', members: [{ id: 'b', state: 'ready', replaces: 'a' }] }), 'b');
});

test('a spot successor with a notice before the hand-over launches one replacement, tagged as replacing the on-demand node', async () => {
  const cloud = new MemoryCloud();
  cloud.add('i-od');
  cloud.add('i-s');
  const members = [
    { id: 'i-od', state: 'ready' },
    { id: 'i-s', state: 'draining', replaces: 'i-od' },
  ];
  const replacer = new Replacer({
    cluster: 'c',
    instances: cloud,
    selfId: 'i-s',
    liveMembers: () => members,
    templateFor: () => template,
    logger: quiet,
  });
  const onRebalance = await replacer.replaceSelf('worker');
  const atNotice = await replacer.replaceSelf('worker');
  assert.equal(onRebalance?.id, atNotice?.id, 'one instance for the rebalance and the notice');
  assert.equal(atNotice?.tags[TAG_REPLACES], 'i-od');
  assert.equal(cloud.records.filter((r) => r.tags[TAG_REPLACES]).length, 1);
});

test("a successor that crashes before the hand-over: the survivors' replacement replaces the on-demand node", async () => {
  const cloud = new MemoryCloud();
  cloud.add('i-od');
  cloud.add('i-b');
  cloud.records.push({
    id: 'i-s',
    state: 'terminated',
    privateIp: '127.0.0.1',
    instanceType: 't',
    zone: 'z',
    lifecycle: 'spot',
    launchedAt: 9,
    tags: { SynktiCluster: 'c', SynktiRole: 'worker', [TAG_REPLACES]: 'i-od' },
  });
  const members = [
    { id: 'i-od', state: 'ready' },
    { id: 'i-b', state: 'ready' },
  ];
  const replacers = ['i-od', 'i-b'].map(
    (id) =>
      new Replacer({
        cluster: 'c',
        instances: cloud,
        selfId: id,
        liveMembers: () => members,
        templateFor: () => template,
        recheckMs: 10,
        logger: quiet,
      }),
  );
  for (const r of replacers) r.peerLost('i-s', 'worker');
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline && !cloud.records.some((r) => r.state === 'pending')) await new Promise((r) => setTimeout(r, 10));
  for (const r of replacers) r.stop();
  const launched = cloud.records.filter((r) => r.state === 'pending');
  assert.equal(launched.length, 1);
  assert.equal(launched[0]!.tags[TAG_REPLACES], 'i-od');
});

test('a node whose successor is already on its way (a zone move) launches no second replacement at its notice', async () => {
  const cloud = new MemoryCloud();
  cloud.add('i-self');
  const members = [
    { id: 'i-self', state: 'draining' },
    { id: 'i-next', state: 'joining', replaces: 'i-self' },
  ];
  const replacer = new Replacer({
    cluster: 'c',
    instances: cloud,
    selfId: 'i-self',
    liveMembers: () => members,
    templateFor: () => template,
    logger: quiet,
  });
  assert.equal(await replacer.replaceSelf('worker'), undefined);
  assert.equal(cloud.launchCalls, 0);
});
