/**
 * The node runtime and its load balancer: at a notice the exit starts at t=0 (with the
 * `draining` announcement, before the replacement launch and the wait for in-flight work),
 * a hung exit never holds the drain, and a serving node joins once ready.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_CLUSTER, TAG_ROLE, freeLoopbackPort, validateCluster } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { Agent } from './agent.ts';
import { createLogger } from './logger.ts';
import { NodeRuntime } from './node-runtime.ts';
import type { LoadBalancerMember, LoadBalancerSelf } from './load-balancer/load-balancer-member.ts';
import type { LoadBalancerExit } from './load-balancer/load-balancer-targets.ts';
import { metadataOfRecord } from './testing/record-metadata.ts';

const quiet = createLogger({}, { write() {} });
const SECRET = 'lb-exit-secret-0123456789abcdef';

/** One instance in an in-memory tag index; launches wait until the test lets them finish. */
class HeldCloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  launches: LaunchSpec[] = [];
  private release: (() => void) | undefined;
  private released = false;
  async launch(request: LaunchSpec): Promise<InstanceRecord> {
    this.launches.push(request);
    if (!this.released)
      await new Promise<void>((resolve) => {
        this.release = resolve;
      });
    return { ...this.records[0]!, id: 'i-replacement', tags: { ...request.tags } };
  }
  releaseLaunches(): void {
    this.released = true;
    this.release?.();
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
  async terminate(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function node(
  t: { after: (fn: () => unknown) => void },
  cluster: string,
  input: Record<string, unknown>,
  member: LoadBalancerMember,
) {
  const port = await freeLoopbackPort();
  const cloud = new HeldCloud();
  const record: InstanceRecord = {
    id: 'i-0123456789abcdef0',
    state: 'running',
    instanceType: 'local.small',
    lifecycle: 'spot',
    zone: 'local-a',
    privateIp: '127.0.0.1',
    launchedAt: Date.now(),
    tags: { [TAG_CLUSTER]: cluster, [TAG_ROLE]: 'worker' },
  };
  cloud.records.push(record);
  const metadata = metadataOfRecord(record);
  const spec = validateCluster({
    name: cluster,
    pools: { worker: { count: 1 } },
    timeouts: { drainMargin: '2s', gossipInterval: '100ms', failureTimeout: '1s' },
    ...input,
  });
  const routerPort = await freeLoopbackPort();
  const workloadPort = await freeLoopbackPort();
  const agent = new Agent({
    cluster,
    metadata,
    instances: cloud,
    secret: SECRET,
    defaultPorts: { agent: port, router: routerPort, workload: workloadPort },
    gossipIntervalMs: 100,
    failureTimeoutMs: 1000,
    listIntervalMs: 500,
    dashboard: undefined,
    logger: quiet,
  });
  const seen: LoadBalancerSelf[] = [];
  const runtime = new NodeRuntime({
    agent,
    spec,
    metadata,
    instances: cloud,
    userData: '',
    logger: quiet,
    loadBalancer: (self) => {
      seen.push(self);
      return member;
    },
  });
  t.after(async () => {
    cloud.releaseLaunches();
    await runtime.stopAll();
    await agent.stop();
  });
  return { agent, runtime, cloud, seen, record, routerPort };
}

test('at the notice the node leaves the load balancer at t=0, before the drain waits; a hung exit never holds the drain', async (t) => {
  const events: string[] = [];
  const deadlines: number[] = [];
  let finishExit: ((exit: LoadBalancerExit) => void) | undefined;
  const member: LoadBalancerMember = {
    register: async () => {
      events.push('register');
      return [];
    },
    deregister: ({ deadline }) => {
      events.push('deregister');
      deadlines.push(deadline);
      return new Promise((resolve) => {
        finishExit = resolve;
      }); // AWS never answers
    },
  };
  const { agent, runtime, cloud, seen, record, routerPort } = await node(t, 'lbexit', {}, member);
  await runtime.start();
  assert.deepEqual(seen, [{ instanceId: record.id, privateIp: '127.0.0.1', routerPort, tags: record.tags }]);
  assert.equal(agent.state, 'ready');
  assert.deepEqual(events, [], 'no workload, no router: nothing registered');

  const noticeTime = Date.now() + 30_000;
  const draining = runtime.drainForNotice({ action: 'terminate', time: noticeTime });
  // Synchronously, at t=0: the exit is under way and peers are being told; nothing was awaited first.
  assert.deepEqual(events, ['deregister']);
  assert.equal(agent.state, 'draining');
  assert.equal(deadlines[0], noticeTime - 2000, 'the exit may use the drain budget: notice time − drain margin');

  // The drain now waits on the replacement launch (held): the exit had started before it.
  await until('the replacement launch', () => cloud.launches.length === 1);
  let drainDone = false;
  void draining.then(() => {
    drainDone = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(drainDone, false, 'the drain is waiting');
  cloud.releaseLaunches();

  // The exit never answers; the drain finishes anyway, with its replacement.
  const report = await draining;
  assert.equal(report.reason, 'interruption');
  assert.equal(report.replacement, 'i-replacement');
  assert.equal(agent.state, 'stopped');
  assert.deepEqual(events, ['deregister'], 'a repeated notice or the stop does not leave twice');
  let exitDone = false;
  void runtime.leavingLoadBalancer!.then(() => {
    exitDone = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(exitDone, false);
  finishExit!({ startedAt: 0, tookMs: 0, results: [] });
  assert.equal(await runtime.drained(), report, 'drained() waits for the exit too (the process exits after both)');
});

test('a serving node joins the load balancer once ready, and leaves it at the start of a shutdown drain', async (t) => {
  const events: string[] = [];
  const member: LoadBalancerMember = {
    register: async () => {
      events.push('register');
      return [];
    },
    deregister: async () => {
      events.push('deregister');
      return { startedAt: 0, tookMs: 0, results: [] };
    },
  };
  // A tiny workload: healthy at once, and it reports no requests in hand (vLLM's gauges).
  const server = [
    "const http = require('node:http');",
    "http.createServer((q, s) => s.end(q.url === '/metrics' ? 'vllm:num_requests_running 0\\nvllm:num_requests_waiting 0\\n' : 'ok')).listen(Number(process.env.PORT), '127.0.0.1');",
  ].join('');
  const { agent, runtime } = await node(
    t,
    'lbjoin',
    { workload: { command: [process.execPath, '-e', server], healthPath: '/health', startupTimeout: '20s' } },
    member,
  );
  await runtime.start();
  await until('the node to be ready and registered', () => agent.state === 'ready' && events.includes('register'));
  assert.deepEqual(events, ['register']);
  const report = await runtime.shutdown();
  assert.equal(report.reason, 'shutdown');
  assert.deepEqual(events, ['register', 'deregister']);
});
