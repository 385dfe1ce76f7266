/**
 * Issue 17: the cloud's record decides what is replaced, and a stopped search stops.
 * A member that only gossip named is never replaced; the chosen survivor stops calling
 * the cloud as soon as a silent peer is back in its view.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { rendezvousPick } from '@synkti/core';
import { createLogger } from './logger.ts';
import { Replacer } from './replacement.ts';

/** A cloud that counts every call. */
class CountingCloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  lists = 0;
  launches = 0;
  add(id: string, state: InstanceRecord['state'], tags: Record<string, string> = { SynktiCluster: 'c', SynktiRole: 'worker' }): void {
    this.records.push({ id, state, privateIp: '127.0.0.1', instanceType: 't', zone: 'z', lifecycle: 'spot', launchedAt: 0, tags });
  }
  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launches += 1;
    const record: InstanceRecord = {
      id: `i-new${this.launches}`,
      state: 'pending',
      privateIp: '127.0.0.1',
      instanceType: 't',
      zone: 'z',
      lifecycle: 'spot',
      launchedAt: 1,
      tags: { ...spec.tags },
    };
    this.records.push(record);
    return record;
  }
  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    this.lists += 1;
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
  async terminate(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

const quiet = createLogger({}, { write() {} });
const template = { role: 'worker', instanceType: 't', lifecycle: 'spot' as const, userData: '{}' };
/** A survivor id that rendezvous hashing chooses to replace `lost` among `ids`. */
function chosenFor(lost: string, ids: string[]): string {
  return rendezvousPick(`replace:${lost}`, ids, 1)[0]!;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return check();
}

test("a member that no cloud record names (or that is another cluster's) is never replaced, and not searched for again", async () => {
  const cloud = new CountingCloud();
  cloud.add('i-other', 'terminated', { SynktiCluster: 'someone-else', SynktiRole: 'worker' });
  const survivors = ['i-a', 'i-b', 'i-c'];
  for (const id of survivors) cloud.add(id, 'running');
  for (const lost of ['i-ghost1', 'i-ghost2', 'i-other']) {
    const self = chosenFor(lost, survivors);
    const replacer = new Replacer({
      cluster: 'c',
      instances: cloud,
      selfId: self,
      liveMembers: () => survivors.map((id) => ({ id })),
      templateFor: () => template,
      recheckMs: 10,
      logger: quiet,
    });
    const before = cloud.lists;
    replacer.peerLost(lost, 'worker');
    // The decision: is there a replacement already, and the lost instance's own record.
    assert.ok(await until(() => cloud.lists >= before + 2, 1000), `${lost}: the chosen node asked the cloud`);
    const listsAfterDecision = cloud.lists;
    await new Promise((r) => setTimeout(r, 100)); // ten re-check periods
    replacer.stop();
    assert.equal(cloud.launches, 0, `${lost}: nothing launched`);
    assert.equal(cloud.lists, listsAfterDecision, `${lost}: no more cloud calls once decided`);
  }
});

test('a silent peer whose instance still runs is watched until it is back in the view, then no cloud call is made', async () => {
  const cloud = new CountingCloud();
  const ids = ['i-a', 'i-b', 'i-c', 'i-silent'];
  for (const id of ids) cloud.add(id, 'running');
  const survivors = ids.slice(0, 3);
  const self = chosenFor('i-silent', survivors);
  let members = survivors.map((id) => ({ id }));
  const replacer = new Replacer({
    cluster: 'c',
    instances: cloud,
    selfId: self,
    liveMembers: () => members,
    templateFor: () => template,
    recheckMs: 10,
    logger: quiet,
  });
  replacer.peerLost('i-silent', 'worker');
  assert.ok(await until(() => cloud.lists >= 4, 2000), 'the chosen node checks the cloud while the peer is silent');
  // The peer refutes and is back in the view.
  members = ids.map((id) => ({ id }));
  replacer.peerBack('i-silent');
  const listsWhenBack = cloud.lists;
  await new Promise((r) => setTimeout(r, 150)); // fifteen re-check periods
  assert.equal(cloud.lists, listsWhenBack, 'no cloud call after the peer is back');
  assert.equal(cloud.launches, 0);
  // Lost again later: a new search starts (the earlier one did not mark it done).
  members = survivors.map((id) => ({ id }));
  cloud.records.find((r) => r.id === 'i-silent')!.state = 'terminated';
  replacer.peerLost('i-silent', 'worker');
  assert.ok(await until(() => cloud.launches === 1, 2000), 'replaced once it is really gone');
  replacer.stop();
});
