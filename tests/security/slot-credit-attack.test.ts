/**
 * The slot ledger's credit travels as a launch tag (SynktiSlotCredit), and anyone allowed
 * ec2:CreateTags can write one. A forged huge credit must not buy moves back to spot (each
 * bills two instances through a boot) nor spot replacements beyond what the ledger allows a
 * new slot: the agent reads it as zero. Replayed in process against the agent's own
 * SpotReturn and Replacer over an in-memory cloud; recorded in the attack ledger.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_REPLACES, TAG_ROLE } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { MAX_SLOT_CREDIT_MS, Replacer, SpotReturn, TAG_SLOT_CREDIT, createLogger } from '@synkti/agent';
import { recordAttack } from './attack-ledger.ts';

const logger = createLogger({}, { write() {} });

/** A cloud of records; launches become running records, `lose` terminates one. */
class Cloud implements InstanceProvider {
  readonly records: InstanceRecord[] = [];
  readonly launches: LaunchSpec[] = [];
  add(id: string, lifecycle: 'spot' | 'on-demand', state: InstanceRecord['state'], tags: Record<string, string>): void {
    this.records.push({
      id,
      state,
      lifecycle,
      instanceType: 'g5.xlarge',
      zone: 'us-east-1a',
      privateIp: '127.0.0.1',
      launchedAt: Date.now(),
      tags: { [TAG_CLUSTER]: 'c', [TAG_ROLE]: 'worker', ...tags },
    });
  }
  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launches.push(spec);
    this.add(`i-launched-${this.launches.length}`, spec.lifecycle, 'running', spec.tags);
    return this.records.at(-1)!;
  }
  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    const states = filter.states ?? ['pending', 'running'];
    return {
      items: this.records.filter(
        (r) =>
          states.includes(r.state) &&
          (filter.ids === undefined || filter.ids.includes(r.id)) &&
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

/** Back-to-spot moves an on-demand fallback makes when every successor is reclaimed before it serves (no back-off: interval 0). */
async function movesWith(tags: Record<string, string>): Promise<number> {
  const cloud = new Cloud();
  cloud.add('i-od', 'on-demand', 'running', tags);
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
  for (let i = 0; i < 20; i++) {
    await node.check();
    // Each successor is lost before the hand-over: the worst case the ledger prices.
    for (const r of cloud.records) if (r.tags[TAG_REPLACES] === 'i-od') r.state = 'terminated';
  }
  return cloud.launches.length;
}

test("a forged huge slot credit buys no move back to spot beyond a new slot's", async () => {
  const allowed = await movesWith({});
  const forged = await movesWith({ [TAG_SLOT_CREDIT]: '999999999999999' });
  const overCap = await movesWith({ [TAG_SLOT_CREDIT]: String(MAX_SLOT_CREDIT_MS + 1) });
  const garbage = await movesWith({ [TAG_SLOT_CREDIT]: '1e300' });
  recordAttack(
    'slot credit: a forged huge tag makes no more back-to-spot moves than the ledger allows a new slot',
    forged <= allowed && overCap <= allowed && garbage <= allowed,
  );
  assert.equal(allowed, 1, 'a new slot (no tag) affords one move');
  assert.deepEqual([forged, overCap, garbage], [0, 0, 0]);
});

test('a lost spot peer with a forged huge slot credit is replaced on-demand, not on spot', async () => {
  const cloud = new Cloud();
  cloud.add('i-lost', 'spot', 'terminated', { [TAG_SLOT_CREDIT]: '999999999999999' });
  const replacer = new Replacer({
    cluster: 'c',
    instances: cloud,
    selfId: 'i-self',
    liveMembers: () => [{ id: 'i-self', state: 'ready' }],
    templateFor: (role) => ({ role, instanceType: 'g5.xlarge', lifecycle: 'spot', userData: 'boot' }),
    recheckMs: 50,
    logger,
  });
  replacer.peerLost('i-lost', 'worker');
  // The decision runs its cloud calls asynchronously: wait for its launch (bounded).
  const until = Date.now() + 10_000;
  while (cloud.launches.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  replacer.stop();
  const launch = cloud.launches[0];
  recordAttack('slot credit: a forged huge tag on a lost peer buys no spot replacement', launch?.lifecycle === 'on-demand');
  assert.equal(launch?.lifecycle, 'on-demand');
  assert.equal(launch.tags[TAG_SLOT_CREDIT], '-36000', 'the replacement carries zero less the notice the lost spot holder owed');
});
