/**
 * The slot ledger, wired: the replacement a node launches at its own spot notice carries the
 * node's slot credit forward (its launch tag, as the cloud's record of the instance holds it,
 * plus what it saved serving on spot, less the notice it owes), exactly as the simulator's
 * creditOf computes it. A forged tag counts zero. In-memory cloud and metadata, no workload,
 * the injectable clock: fast.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_ROLE, freeLoopbackPort, validateCluster } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { Agent } from './agent.ts';
import { createLogger } from './logger.ts';
import { NodeRuntime } from './node-runtime.ts';
import { TAG_SLOT_CREDIT, exitCostMs, slotCreditMs } from './spot-ledger.ts';
import { metadataOfRecord } from './testing/record-metadata.ts';

const SECRET = 'slot-credit-secret-0123456789abcdef';
const LAUNCHED_AT = 1_000_000;

/** The cloud's record of the node, and every launch asked of it. */
class MemoryCloud implements InstanceProvider {
  readonly launches: LaunchSpec[] = [];
  constructor(readonly self: InstanceRecord) {}
  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.launches.push(spec);
    return { ...this.self, id: `i-replacement-${this.launches.length}`, lifecycle: spec.lifecycle, tags: { ...spec.tags } };
  }
  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    const match =
      (filter.ids === undefined || filter.ids.includes(this.self.id)) &&
      Object.entries(filter.tags ?? {}).every(([k, v]) => this.self.tags[k] === v);
    return { items: match ? [this.self] : [] };
  }
  async terminate(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

async function spotNode(t: { after: (fn: () => unknown) => void }, creditTag: string | undefined) {
  const self: InstanceRecord = {
    id: 'i-0123456789abcdef0',
    state: 'running',
    instanceType: 'local.small',
    lifecycle: 'spot',
    zone: 'local-a',
    privateIp: '127.0.0.1',
    launchedAt: LAUNCHED_AT,
    tags: { [TAG_CLUSTER]: 'ledger', [TAG_ROLE]: 'worker', ...(creditTag === undefined ? {} : { [TAG_SLOT_CREDIT]: creditTag }) },
  };
  const cloud = new MemoryCloud(self);
  // Booted 200 s after its launch (17 s beyond the 183 s the ledger reserved).
  let now = LAUNCHED_AT + 200_000;
  const warnings: string[] = [];
  const logger = createLogger(
    {},
    {
      write(line: string) {
        const { level, msg } = JSON.parse(line) as { level: number; msg: string };
        if (level === 40) warnings.push(msg);
      },
    },
  );
  // Instance-metadata tags: the cloud's own record of this instance, not a peer's word.
  const metadata = metadataOfRecord(self);
  const agent = new Agent({
    cluster: 'ledger',
    metadata,
    instances: cloud,
    secret: SECRET,
    defaultPorts: { agent: await freeLoopbackPort(), router: await freeLoopbackPort(), workload: await freeLoopbackPort() },
    gossipIntervalMs: 100,
    failureTimeoutMs: 1000,
    listIntervalMs: 60_000,
    dashboard: undefined,
    logger,
    clock: () => now,
  });
  t.after(() => agent.stop());
  const spec = validateCluster({
    name: 'ledger',
    pools: { worker: { count: 1, lifecycle: 'spot', spotHedge: { launchDelay: '183s', priceRatio: 0.3 } } },
  });
  const runtime = new NodeRuntime({ agent, spec, metadata, instances: cloud, userData: '', logger, clock: () => now });
  t.after(() => runtime.stopAll());
  await runtime.start();
  assert.equal(agent.state, 'ready', 'no workload: ready at once');
  return {
    cloud,
    runtime,
    warnings,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

test("the replacement at a spot notice carries the node's slot credit forward: its tag, plus what it saved on spot, less its notice", async (t) => {
  const node = await spotNode(t, '100000');
  const readyAt = node.now();
  node.advance(3_600_000);
  // What the simulator's creditOf gives for the same instance (spot-ledger.ts is the one formula).
  const expected = slotCreditMs({
    tagCreditMs: 100_000,
    lifecycle: 'spot',
    launchedAt: LAUNCHED_AT,
    readyAt,
    now: node.now(),
    launchDelayMs: 183_000,
    priceRatio: 0.3,
  });
  assert.equal(
    expected,
    100_000 + 0.7 * 3_600_000 - exitCostMs({ priceRatio: 0.3 }) - Math.ceil(0.3 * 17_000),
    'an hour on spot at r = 0.3, less the notice and the slow boot',
  );
  const report = await node.runtime.drainForNotice({ action: 'terminate', time: node.now() + 30_000 });
  assert.equal(report.replacement, 'i-replacement-1');
  const launch = node.cloud.launches[0]!;
  assert.equal(launch.lifecycle, 'spot');
  assert.equal(launch.tags[TAG_SLOT_CREDIT], String(expected), 'the credit travels with the slot');
  assert.deepEqual(
    node.warnings.filter((w) => /slot-credit/.test(w)),
    [],
  );
});

test("a node launched untagged holds a new slot's credit; one with a forged huge tag holds zero, so its replacement goes on-demand (said once)", async (t) => {
  const untagged = await spotNode(t, undefined);
  await untagged.runtime.drainForNotice({ action: 'terminate', time: untagged.now() + 30_000 });
  // One move (150.9 s at 183 s, r = 0.3), less the notice, less the 17 s slow boot's 5.1 s.
  assert.equal(untagged.cloud.launches[0]!.tags[TAG_SLOT_CREDIT], String(150_900 - 36_000 - 5_100));
  assert.equal(untagged.cloud.launches[0]!.lifecycle, 'spot');

  const forged = await spotNode(t, '999999999999999');
  await forged.runtime.drainForNotice({ action: 'terminate', time: forged.now() + 30_000 });
  const launch = forged.cloud.launches[0]!;
  assert.equal(launch.lifecycle, 'on-demand', 'a forged credit buys no spot replacement the ledger did not earn');
  assert.equal(launch.tags[TAG_SLOT_CREDIT], String(-36_000 - 5_100));
  assert.equal(forged.warnings.filter((w) => /slot-credit tag is not one an agent writes/.test(w)).length, 1);
});
