/**
 * The drain is fail-safe: a step that throws is logged and reported, and the node still
 * untags itself, announces `stopped` and leaves (so no survivor replaces it and no router
 * sends to it). Fast: in-memory cloud and metadata, no workload, the injectable clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_ROLE, freeLoopbackPort, validateCluster } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page, PageRequest } from '@synkti/cloud';
import { Agent } from './agent.ts';
import { DrainSteps } from './drain-steps.ts';
import { createLogger } from './logger.ts';
import { Membership } from './membership.ts';
import { MembershipView } from './membership-view.ts';
import { NodeRuntime } from './node-runtime.ts';
import { PeerClient } from './peer-client.ts';
import { metadataOfRecord } from './testing/record-metadata.ts';

const SECRET = 'drain-secret-0123456789abcdef';

/** A logger that keeps its lines, to assert what was reported. */
function recordingLogger() {
  const lines: { msg?: string; step?: string }[] = [];
  return {
    lines,
    logger: createLogger(
      {},
      {
        write(line: string) {
          lines.push(JSON.parse(line) as { msg?: string });
        },
      },
    ),
  };
}

/** An in-memory tag index; each call can be made to fail. */
class MemoryCloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  untagged: string[] = [];
  lists: { filter: InstanceFilter; page: PageRequest | undefined }[] = [];
  failUntag = false;
  async launch(request: LaunchSpec): Promise<InstanceRecord> {
    return { ...this.records[0]!, id: 'i-replacement', tags: { ...request.tags } };
  }
  async list(filter: InstanceFilter, page?: PageRequest): Promise<Page<InstanceRecord>> {
    this.lists.push({ filter, page });
    const items = this.records.filter(
      (r) =>
        (filter.states ?? ['pending', 'running']).includes(r.state) && Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v),
    );
    return { items: page?.maxResults ? items.slice(0, page.maxResults) : items };
  }
  async terminate(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(ids: string[]): Promise<void> {
    if (this.failUntag) throw new Error('ec2 unavailable');
    this.untagged.push(...ids);
  }
}

function record(id: string, cluster: string, port = 1): InstanceRecord {
  return {
    id,
    state: 'running',
    instanceType: 'local.small',
    lifecycle: 'spot',
    zone: 'local-a',
    privateIp: '127.0.0.1',
    launchedAt: 0,
    tags: { [TAG_CLUSTER]: cluster, [TAG_ROLE]: 'worker', SynktiPortAgent: String(port) },
  };
}

async function agentOn(t: { after: (fn: () => unknown) => void }, cloud: MemoryCloud, logger = recordingLogger().logger) {
  const self = record('i-0123456789abcdef0', 'drain');
  cloud.records.push(self);
  const metadata = metadataOfRecord(self);
  let now = 1_000_000;
  const agent = new Agent({
    cluster: 'drain',
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
  return {
    agent,
    metadata,
    self,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

test('a drain step that throws is reported, and the node still untags itself, says stopped and leaves', async (t) => {
  const cloud = new MemoryCloud();
  const { lines, logger } = recordingLogger();
  const { agent, metadata, self, now } = await agentOn(t, cloud, logger);
  const spec = validateCluster({ name: 'drain', pools: { worker: { count: 1 } }, timeouts: { drainMargin: '2s' } });
  const runtime = new NodeRuntime({ agent, spec, metadata, instances: cloud, userData: '', logger, clock: now });
  t.after(() => runtime.stopAll());
  await runtime.start();
  assert.equal(agent.state, 'ready');

  // Two steps break: the replacement launch throws at once (not even a rejected promise) and
  // stopping the notice watcher throws.
  const parts = runtime as unknown as { replacer: { replaceSelf: () => never }; watcher: { stop: () => never } };
  const stopWatcher = parts.watcher.stop.bind(parts.watcher);
  parts.replacer.replaceSelf = () => {
    throw new Error('launch exploded');
  };
  parts.watcher.stop = () => {
    throw new Error('watcher exploded');
  };

  const report = await runtime.drainForNotice({ action: 'terminate', time: now() + 30_000 }).finally(() => {
    parts.watcher.stop = stopWatcher;
  });
  assert.deepEqual(report.failedSteps, ['replacement launch', 'notice watcher stop']);
  assert.equal(report.replacement, undefined);
  assert.deepEqual(cloud.untagged, [self.id], 'untagged itself: no lister lists it as a member any more');
  assert.equal(agent.state, 'stopped', 'announced stopped: no survivor replaces it');
  assert.equal(agent.membership?.view.self.state, 'stopped');
  assert.deepEqual(runtime.lastDrain?.failedSteps, report.failedSteps, '/status shows the failed steps');
  const failures = lines.filter((l) => l.step !== undefined).map((l) => l.step);
  assert.deepEqual(failures, ['replacement launch', 'notice watcher stop'], 'each failure logged with its step');
});

test('a drain whose steps all work reports no failed steps, and its status parses against the contract', async (t) => {
  const cloud = new MemoryCloud();
  const { agent, metadata, self, now } = await agentOn(t, cloud);
  const spec = validateCluster({ name: 'drain', pools: { worker: { count: 1 } } });
  const runtime = new NodeRuntime({ agent, spec, metadata, instances: cloud, userData: '', logger: recordingLogger().logger, clock: now });
  t.after(() => runtime.stopAll());
  await runtime.start();
  const report = await runtime.drainForNotice({ action: 'terminate', time: now() + 30_000 });
  assert.equal(report.failedSteps, undefined);
  assert.equal(report.replacement, 'i-replacement');
  assert.equal(report.budgetMs, 30_000 - spec.timeouts.drainMarginMs, 'budget from the injected clock');
  assert.deepEqual(cloud.untagged, [self.id]);
  const { parseAgentStatus } = await import('@synkti/core/contracts');
  const status = parseAgentStatus(JSON.parse(JSON.stringify(agent.status())));
  assert.ok(status, 'GET /status matches agentStatusSchema');
  assert.equal(status.drain?.replacement, 'i-replacement');
});

test('Agent.stop: a throwing step before leaving, or a failing untag, still ends stopped', async (t) => {
  const cloud = new MemoryCloud();
  const { agent, self } = await agentOn(t, cloud);
  await agent.boot();
  await agent.stop({
    beforeLeave: async () => {
      throw new Error('boom');
    },
  });
  assert.deepEqual(cloud.untagged, [self.id]);
  assert.equal(agent.state, 'stopped');

  const cloud2 = new MemoryCloud();
  cloud2.failUntag = true;
  const second = await agentOn(t, cloud2);
  await second.agent.boot();
  await second.agent.stop();
  assert.equal(second.agent.state, 'stopped', 'EC2 refusing the untag does not keep the node in the fleet');
});

test("DrainSteps: runs every step, records the ones that throw or reject, returns the others' values", async () => {
  const steps = new DrainSteps(recordingLogger().logger);
  assert.equal(
    steps.runNow('sync ok', () => 1),
    1,
  );
  assert.equal(
    steps.runNow('sync throws', () => {
      throw new Error('x');
    }),
    undefined,
  );
  assert.equal(await steps.run('async ok', async () => 2), 2);
  assert.equal(await steps.run('async rejects', () => Promise.reject(new Error('y'))), undefined);
  assert.deepEqual(steps.failed, ['sync throws', 'async rejects']);
});

test('Membership.join lists one page of 50 of its own cluster for seeds, on the injected clock', async () => {
  const cloud = new MemoryCloud();
  for (let i = 0; i < 120; i++) cloud.records.push(record(`i-${String(i).padStart(17, '0')}`, 'drain', 9));
  cloud.records.push(record('i-other', 'another-cluster'));
  const self = cloud.records[0]!;
  const now = 5_000;
  const view = new MembershipView({
    self: {
      id: self.id,
      role: 'worker',
      zone: 'local-a',
      address: '127.0.0.1',
      agentPort: 9,
      routerPort: 9,
      workloadPort: 9,
      state: 'booting',
      incarnation: now,
      version: 0,
      load: 0,
    },
    clock: () => now,
  });
  const membership = new Membership({
    view,
    cluster: 'drain',
    instances: cloud,
    logger: recordingLogger().logger,
    clock: () => now,
    random: () => 0.5,
    // Port 9 (discard) on loopback: nothing listens, every join message fails fast.
    peers: new PeerClient({ secret: SECRET, timeoutMs: 200 }),
    peerAddressOf: (r) => ({ id: r.id, address: r.privateIp!, agentPort: 9 }),
  });
  await membership.join();
  membership.stop();
  assert.equal(cloud.lists.length, 1, 'one list call, however large the fleet');
  assert.equal(cloud.lists[0]!.page?.maxResults, 50);
  assert.deepEqual(cloud.lists[0]!.filter.tags, { [TAG_CLUSTER]: 'drain' });
  assert.equal(membership.cloudListCalls, 1);
});
