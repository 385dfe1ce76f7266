import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_REPLACES } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { createLogger } from './logger.ts';
import { Replacer } from './replacement.ts';

/** An in-memory cloud with EC2's client-token semantics, counting launches. */
class MemoryCloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  private readonly byToken = new Map<string, InstanceRecord>();
  launchCalls = 0;
  private next = 0;

  add(id: string, state: InstanceRecord['state'] = 'running'): void {
    this.records.push({ id, state, privateIp: '127.0.0.1', instanceType: 't', zone: 'z', lifecycle: 'spot', launchedAt: this.next++, tags: { SynktiCluster: 'c', SynktiRole: 'worker' } });
  }

  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launchCalls += 1;
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    const known = spec.clientToken ? this.byToken.get(spec.clientToken) : undefined;
    if (known) return known;
    const record: InstanceRecord = { id: `i-new${this.next++}`, state: 'pending', privateIp: '127.0.0.1', instanceType: spec.instanceType, zone: 'z', lifecycle: spec.lifecycle, launchedAt: this.next, tags: { ...spec.tags } };
    this.records.push(record);
    if (spec.clientToken) this.byToken.set(spec.clientToken, record);
    return record;
  }

  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    const states = filter.states ?? ['pending', 'running', 'shutting-down'];
    return {
      items: this.records.filter((r) => states.includes(r.state)
        && (!filter.ids || filter.ids.includes(r.id))
        && Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v)),
    };
  }

  async terminate(ids: string[]): Promise<void> { for (const r of this.records) if (ids.includes(r.id)) r.state = 'terminated'; }
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

const quiet = createLogger({}, { write() {} });
const template = { role: 'worker', instanceType: 't', lifecycle: 'spot' as const, userData: '{}' };

function fleetOf(cloud: MemoryCloud, ids: string[], views: Map<string, string[]>, recheckMs = 20): Map<string, Replacer> {
  return new Map(ids.map((id) => [id, new Replacer({
    cluster: 'c', instances: cloud, selfId: id,
    liveMembers: () => (views.get(id) ?? []).map((m) => ({ id: m, replaces: cloud.records.find((r) => r.id === m)?.tags[TAG_REPLACES] })),
    templateFor: () => template, recheckMs, logger: quiet,
  })]));
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
    for (const r of replacers.values()) { r.peerLost(lost1, 'worker'); r.peerLost(lost2, 'worker'); }
    await new Promise((r) => setTimeout(r, 60));
    for (const id of survivors) views.set(id, survivors); // views converge
    await new Promise((r) => setTimeout(r, 150));
    for (const r of replacers.values()) r.stop();
    const replacements = cloud.records.filter((r) => r.tags[TAG_REPLACES]);
    assert.deepEqual(replacements.map((r) => r.tags[TAG_REPLACES]).sort(), [lost1, lost2].sort(), `round ${round}: one replacement per lost instance`);
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
  assert.deepEqual(cloud.records.filter((r) => r.tags[TAG_REPLACES]).map((r) => r.tags[TAG_REPLACES]), [lost]);
});

test('a node with a notice launching its own replacement twice (agent restart) gets one instance', async () => {
  const cloud = new MemoryCloud();
  cloud.add('i-self');
  const make = () => new Replacer({ cluster: 'c', instances: cloud, selfId: 'i-self', liveMembers: () => [{ id: 'i-self' }], templateFor: () => template, logger: quiet });
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
