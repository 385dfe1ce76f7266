import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { createLogger } from './logger.ts';
import { Replacer, handsDutyBack } from './replacement.ts';

/** Records of one pool: an on-demand fallback `i-od` (or a spot node), and launches counted. */
class Cloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  launches: LaunchSpec[] = [];
  add(id: string, lifecycle: 'spot' | 'on-demand', state: InstanceRecord['state'], tags: Record<string, string> = {}): void {
    this.records.push({
      id,
      state,
      privateIp: '127.0.0.1',
      instanceType: 't',
      zone: 'z',
      lifecycle,
      launchedAt: 0,
      tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'worker', ...tags },
    });
  }
  launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launches.push(spec);
    const record: InstanceRecord = {
      id: `i-new${this.launches.length}`,
      state: 'pending',
      privateIp: '127.0.0.1',
      instanceType: spec.instanceType,
      zone: 'z',
      lifecycle: spec.lifecycle,
      launchedAt: 1,
      tags: { ...spec.tags },
    };
    this.records.push(record);
    return Promise.resolve(record);
  }
  list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    const states = filter.states ?? ['pending', 'running', 'shutting-down'];
    return Promise.resolve({
      items: this.records.filter(
        (r) =>
          states.includes(r.state) &&
          (!filter.ids || filter.ids.includes(r.id)) &&
          Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v),
      ),
    });
  }
  terminate(): Promise<void> {
    return Promise.resolve();
  }
  tag(): Promise<void> {
    return Promise.resolve();
  }
  untag(): Promise<void> {
    return Promise.resolve();
  }
}

const quiet = createLogger({}, { write() {} });
const template = { role: 'worker', instanceType: 't', lifecycle: 'spot' as const, userData: '{}' };

test('the hand-back rule: only a successor whose serving predecessor is on-demand hands its duty back', () => {
  assert.equal(handsDutyBack({ lostId: 'i-s', duty: 'i-od', dutyLifecycle: 'on-demand' }), true);
  assert.equal(
    handsDutyBack({ lostId: 'i-s', duty: 'i-old', dutyLifecycle: 'spot' }),
    false,
    'a spot predecessor (rebalance, zone move): the chain goes on',
  );
  assert.equal(handsDutyBack({ lostId: 'i-s', duty: 'i-s', dutyLifecycle: 'on-demand' }), false, 'its own duty: replaced as usual');
  assert.equal(
    handsDutyBack({ lostId: 'i-s', duty: 'i-od', dutyLifecycle: undefined }),
    false,
    'unknown lifecycle: replaced (never orphan a duty)',
  );
});

test('a back-to-spot successor with a notice before the hand-over launches nothing: the on-demand node still serves (the cloud says it is on-demand)', async () => {
  const cloud = new Cloud();
  cloud.add('i-od', 'on-demand', 'running');
  cloud.add('i-s', 'spot', 'running', { [TAG_REPLACES]: 'i-od' });
  // The agent's view carries no lifecycle: the Replacer asks the cloud.
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
  assert.equal(await replacer.replaceSelf('worker'), undefined);
  assert.equal(cloud.launches.length, 0, 'no on-demand instance booting beside the on-demand one');
});

test("a back-to-spot successor that crashes before the hand-over: the survivors launch nothing for it; a spot predecessor's successor is still replaced", async () => {
  const cloud = new Cloud();
  cloud.add('i-od', 'on-demand', 'running');
  cloud.add('i-b', 'spot', 'running');
  cloud.add('i-s', 'spot', 'terminated', { [TAG_REPLACES]: 'i-od' });
  cloud.add('i-t', 'spot', 'terminated', { [TAG_REPLACES]: 'i-b' });
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
  for (const r of replacers) {
    r.peerLost('i-s', 'worker');
    r.peerLost('i-t', 'worker');
  }
  // The spot predecessor's duty is replaced (the event this test waits on); by then both decisions ran.
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && cloud.launches.length === 0) await new Promise((r) => setTimeout(r, 10));
  // A short window for a launch that must not come (both decisions resolve without timers, so it is ample).
  await new Promise((r) => setTimeout(r, 50));
  for (const r of replacers) r.stop();
  assert.deepEqual(
    cloud.launches.map((l) => l.tags[TAG_REPLACES]),
    ['i-b'],
    "one launch, for the spot predecessor's duty; none beside the on-demand node",
  );
});
