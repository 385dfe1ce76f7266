/**
 * A rollout's desired config reaches the replacements: `synkti deploy` PUTs it on a node
 * (cluster secret required, body checked, and only when the node's own cloud record
 * carries the config's hash: the secret alone cannot choose what new machines boot), the node reports it in its status, and the
 * replacement it launches at its spot notice boots with it instead of the node's own
 * config. In-memory cloud and metadata, no workload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TAG_CLUSTER,
  TAG_ROLE,
  configGeneration,
  desiredConfigTag,
  desiredConfigTagValue,
  freeLoopbackPort,
  serializeCluster,
  validateCluster,
} from '@synkti/core';
import { AGENT_API_PATHS, parseAgentStatus } from '@synkti/core/contracts';
import type { InstanceFilter, InstanceProvider, InstanceRecord, LaunchSpec, Page } from '@synkti/cloud';
import { Agent } from '../../packages/agent/src/agent.ts';
import { createLogger } from '../../packages/agent/src/logger.ts';
import { NodeRuntime } from '../../packages/agent/src/node-runtime.ts';
import { recordAttack } from './attack-ledger.ts';
import { metadataOfRecord } from '../../packages/agent/src/testing/record-metadata.ts';

const SECRET = 'rollout-secret-0123456789abcdef';

class MemoryCloud implements InstanceProvider {
  records: InstanceRecord[] = [];
  launches: LaunchSpec[] = [];
  async launch(request: LaunchSpec): Promise<InstanceRecord> {
    this.launches.push(request);
    return { ...this.records[0]!, id: 'i-replacement', tags: { ...request.tags } };
  }
  async list(filter: InstanceFilter): Promise<Page<InstanceRecord>> {
    return {
      items: this.records.filter(
        (r) =>
          (filter.ids === undefined || filter.ids.includes(r.id)) &&
          (filter.states ?? ['pending', 'running']).includes(r.state) &&
          Object.entries(filter.tags ?? {}).every(([k, v]) => r.tags[k] === v),
      ),
    };
  }
  async terminate(): Promise<void> {}
  async tag(): Promise<void> {}
  async untag(): Promise<void> {}
}

test("a desired config set through the API is what the node's replacement boots with", async (t) => {
  const v1 = validateCluster({ name: 'rollout', pools: { worker: { count: 1 } }, workload: { command: ['serve', 'v1'] } });
  const v2 = validateCluster({ name: 'rollout', pools: { worker: { count: 1 } }, workload: { command: ['serve', 'v2'] } });
  const noWorkload = validateCluster({ name: 'rollout', pools: { worker: { count: 1 } } });
  const cloud = new MemoryCloud();
  const self: InstanceRecord = {
    id: 'i-0123456789abcdef0',
    state: 'running',
    instanceType: 'local.small',
    lifecycle: 'spot',
    zone: 'local-a',
    privateIp: '127.0.0.1',
    launchedAt: 0,
    tags: { [TAG_CLUSTER]: 'rollout', [TAG_ROLE]: 'worker' },
  };
  cloud.records.push(self);
  const metadata = metadataOfRecord(self);
  const agentPort = await freeLoopbackPort();
  const logger = createLogger({}, { write() {} });
  const agent = new Agent({
    cluster: 'rollout',
    metadata,
    instances: cloud,
    secret: SECRET,
    defaultPorts: { agent: agentPort, router: await freeLoopbackPort(), workload: await freeLoopbackPort() },
    gossipIntervalMs: 100,
    failureTimeoutMs: 1000,
    listIntervalMs: 60_000,
    dashboard: undefined,
    logger,
    generation: configGeneration(v1),
  });
  t.after(() => agent.stop());
  // No workload here (nothing to spawn); the node's own user data is the v1 config.
  const runtime = new NodeRuntime({ agent, spec: noWorkload, metadata, instances: cloud, userData: serializeCluster(v1), logger });
  t.after(() => runtime.stopAll());
  await runtime.start();

  const url = `http://127.0.0.1:${agentPort}${AGENT_API_PATHS.desiredConfig}`;
  const put = (body: unknown, secret = SECRET) =>
    fetch(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const desired = { role: 'worker', generation: configGeneration(v2), userData: serializeCluster(v2) };
  assert.equal((await put(desired, 'wrong-secret')).status, 401);
  assert.equal((await put({ ...desired, generation: 'latest' })).status, 400);
  // The attack: a holder of the cluster secret (every node, the dashboard) tries to choose
  // what replacements boot (code on new machines). The node's cloud record does not vouch.
  const forged = await put(desired);
  recordAttack('desired config (what replacements boot) set with the cluster secret alone: 403', forged.status === 403);
  assert.equal(forged.status, 403, 'the cluster secret alone does not set a desired config');
  assert.match(((await forged.json()) as { error: string }).error, /SynktiDesired-worker/);
  self.tags[desiredConfigTag('worker')] = desiredConfigTagValue(configGeneration(v2), serializeCluster(v1));
  const otherData = (await put(desired)).status;
  recordAttack('desired config whose user data differs from what the cloud record vouches for: 403', otherData === 403);
  assert.equal(otherData, 403, 'a tag for other user data does not vouch for this one');
  assert.equal(agent.desiredConfigs.get('worker'), undefined, 'refused requests changed nothing');
  // What synkti deploy does with cloud credentials: tag the node, then ask.
  self.tags[desiredConfigTag('worker')] = desiredConfigTagValue(desired.generation, desired.userData);
  assert.equal((await put(desired)).status, 200);

  const status = parseAgentStatus(JSON.parse(JSON.stringify(agent.status())));
  assert.ok(status, 'GET /status still matches the contract');
  assert.equal(status.generation, configGeneration(v1));
  assert.deepEqual(status.desiredGenerations, { worker: configGeneration(v2) });
  assert.equal(agent.membership?.view.self.generation, configGeneration(v1), 'the gossiped entry carries the generation');

  const report = await runtime.drainForNotice({ action: 'terminate', time: Date.now() + 4000 });
  assert.equal(report.replacement, 'i-replacement');
  assert.equal(cloud.launches.length, 1);
  assert.equal(cloud.launches[0]!.userData, serializeCluster(v2), "the replacement boots the desired config, not the node's own");
});
