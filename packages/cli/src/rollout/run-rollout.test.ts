/**
 * The rollout driver against a simulated fleet (no processes): what it launches (generation
 * tag, user data, client token), what it drains, what it tells the agents, and that a pool
 * never has fewer serving nodes than its count, through a rollout, a failure half-way with
 * its rollback, and a rerun that continues.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TAG_GENERATION, validateCluster } from '@synkti/core';
import type { InstanceProvider, InstanceRecord, LaunchSpec } from '@synkti/cloud';
import type { FleetAccess } from '../fleet/fleet-access.ts';
import type { RolloutNode } from '@synkti/agent/rollout';
import { runRollout, type RolloutAgents } from './run-rollout.ts';

const A = 'g00000000000a';
const B = 'g00000000000b';
const BOOT: Record<string, string> = { [A]: 'config-A', [B]: 'config-B' };

interface SimNode {
  id: string;
  generation: string;
  userData: string;
  readyAt: number;
  broken: boolean;
  leaving: boolean;
  launchedAt: number;
}

/** A pool whose new nodes serve 30 ms after launch, except those `brokenLaunch` picks; drained nodes are gone one look later. */
function simulatedFleet(
  initial: { id: string; generation: string; leaving?: boolean }[],
  brokenLaunch: (n: number, spec: LaunchSpec) => boolean,
  pool: Record<string, unknown> = { count: 3 },
) {
  const nodes: SimNode[] = initial.map((n) => ({
    id: n.id,
    generation: n.generation,
    userData: BOOT[n.generation]!,
    readyAt: 0,
    broken: false,
    leaving: n.leaving ?? false,
    launchedAt: 0,
  }));
  const launches: LaunchSpec[] = [];
  const terminated: string[] = [];
  const desired: (string | null)[] = [];
  let minServing = Infinity;
  const instances = {
    async launch(spec: LaunchSpec): Promise<InstanceRecord> {
      launches.push(spec);
      const id = `i-new${launches.length}`;
      const generation = spec.tags[TAG_GENERATION]!;
      nodes.push({
        id,
        generation,
        userData: spec.userData!,
        readyAt: Date.now() + 30,
        broken: brokenLaunch(launches.length, spec),
        leaving: false,
        launchedAt: Date.now(),
      });
      return {
        id,
        state: 'pending',
        privateIp: '127.0.0.1',
        instanceType: 'local.small',
        zone: 'local-a',
        lifecycle: 'spot',
        launchedAt: Date.now(),
        tags: spec.tags,
      };
    },
    async terminate(ids: string[]): Promise<void> {
      terminated.push(...ids);
      for (const n of nodes) if (ids.includes(n.id)) n.leaving = true;
    },
  } as unknown as InstanceProvider;
  const spec = validateCluster({ name: 'sim', pools: { worker: pool }, timeouts: { shutdownGrace: '1s' } });
  const fleet = {
    spec,
    kind: 'local',
    instances,
    secret: 'x',
    local: undefined,
    userData: async () => 'config-B',
    list: async () => [],
    close: () => {},
  } as unknown as FleetAccess;
  const observe = async (): Promise<{ nodes: RolloutNode[]; notReady: Map<string, string> }> => {
    // Nodes sent away last time are gone now.
    for (let i = nodes.length - 1; i >= 0; i--)
      if (nodes[i]!.leaving && (nodes[i] as SimNode & { seen?: boolean }).seen) nodes.splice(i, 1);
    for (const n of nodes) if (n.leaving) (n as SimNode & { seen?: boolean }).seen = true;
    const view = nodes.map((n) => ({
      id: n.id,
      generation: n.generation,
      ready: !n.broken && Date.now() >= n.readyAt,
      leaving: n.leaving,
      launchedAt: n.launchedAt,
    }));
    minServing = Math.min(minServing, view.filter((n) => n.ready && !n.leaving).length);
    return { nodes: view, notReady: new Map() };
  };
  const agents: RolloutAgents = {
    async setDesired(body) {
      desired.push(body.userData);
      return { told: nodes.length, missed: [] };
    },
    async bootConfig(_pool, generation) {
      return nodes.find((n) => n.generation === generation && !n.leaving)?.userData;
    },
  };
  return { fleet, observe, agents, nodes, launches, terminated, desired, minServing: () => minServing };
}

const quick = { pool: 'worker', pollMs: 5, readyTimeoutMs: 400 } as const;

test('a rollout of 3 surges one B node at a time, drains each A after a B serves, never below 3 serving', async () => {
  const sim = simulatedFleet(
    [
      { id: 'a1', generation: A },
      { id: 'a2', generation: A },
      { id: 'a3', generation: A },
    ],
    () => false,
  );
  const result = await runRollout(sim.fleet, {
    ...quick,
    target: { generation: B, userData: 'config-B' },
    observe: sim.observe,
    agents: sim.agents,
  });
  assert.equal(result.outcome, 'rolled-out');
  assert.deepEqual(result.surged, ['i-new1', 'i-new2', 'i-new3']);
  assert.deepEqual([...result.drained].sort(), ['a1', 'a2', 'a3']);
  assert.deepEqual(result.after, { 'i-new1': B, 'i-new2': B, 'i-new3': B });
  assert.ok(
    sim.launches.every((l) => l.userData === 'config-B' && l.tags[TAG_GENERATION] === B && l.clientToken?.startsWith('synkti-deploy-')),
  );
  assert.equal(new Set(sim.launches.map((l) => l.clientToken)).size, 3, 'each surge its own token');
  assert.deepEqual(sim.desired, ['config-B'], 'every node told the new desired config first');
  assert.ok(sim.minServing() >= 3, `serving dropped to ${sim.minServing()}`);
});

test('a failure half-way terminates the node that never served and moves the rolled nodes back: 3 on A again', async () => {
  // The first B node serves; the second never does.
  const sim = simulatedFleet(
    [
      { id: 'a1', generation: A },
      { id: 'a2', generation: A },
      { id: 'a3', generation: A },
    ],
    (n, spec) => n === 2 && spec.tags[TAG_GENERATION] === B,
  );
  const result = await runRollout(sim.fleet, {
    ...quick,
    target: { generation: B, userData: 'config-B' },
    observe: sim.observe,
    agents: sim.agents,
  });
  assert.equal(result.outcome, 'rolled-back');
  assert.deepEqual(result.removed, ['i-new2']);
  assert.equal(result.rollback?.generation, A);
  assert.equal(result.rollback?.outcome, 'rolled-out');
  assert.deepEqual(result.rollback?.drained, ['i-new1'], 'the B node that served is drained once an A node serves');
  assert.equal(sim.launches.at(-1)?.userData, 'config-A', 'A relaunched with the config an A node booted with');
  assert.equal(sim.launches.at(-1)?.tags[TAG_GENERATION], A);
  assert.deepEqual(Object.values(result.after), [A, A, A]);
  assert.deepEqual(
    sim.desired,
    ['config-B', null, 'config-A', null],
    'desired: B, cleared at the failure, A during the rollback, cleared at the end',
  );
  assert.ok(sim.minServing() >= 3, `serving dropped to ${sim.minServing()}`);
});

test('a failure at the first surge leaves the fleet as it was: nothing drained, no rollback needed', async () => {
  const sim = simulatedFleet(
    [
      { id: 'a1', generation: A },
      { id: 'a2', generation: A },
      { id: 'a3', generation: A },
    ],
    () => true,
  );
  const result = await runRollout(sim.fleet, {
    ...quick,
    target: { generation: B, userData: 'broken' },
    observe: sim.observe,
    agents: sim.agents,
  });
  assert.equal(result.outcome, 'rolled-back');
  assert.deepEqual(result.removed, ['i-new1']);
  assert.deepEqual(result.drained, []);
  assert.equal(result.rollback, undefined);
  assert.deepEqual(result.after, { a1: A, a2: A, a3: A });
});

test('a rerun continues from the fleet: one B already serves, one A is draining, so 2 more surges', async () => {
  const sim = simulatedFleet(
    [
      { id: 'a1', generation: A },
      { id: 'a2', generation: A },
      { id: 'a3', generation: A, leaving: true },
      { id: 'b1', generation: B },
    ],
    () => false,
  );
  const result = await runRollout(sim.fleet, {
    ...quick,
    target: { generation: B, userData: 'config-B' },
    observe: sim.observe,
    agents: sim.agents,
  });
  assert.equal(result.outcome, 'rolled-out');
  assert.equal(result.surged.length, 2);
  assert.deepEqual([...result.drained].sort(), ['a1', 'a2']);
  assert.equal(Object.keys(result.after).length, 3);
});

test('an autoscaled pool is rolled at the size it has now, not its config count', async () => {
  const sim = simulatedFleet(
    [
      { id: 'a1', generation: A },
      { id: 'a2', generation: A },
      { id: 'a3', generation: A },
      { id: 'a4', generation: A },
    ],
    () => false,
    { count: 2, autoscale: { min: 1, max: 6, targetInFlightPerReplica: 4 } },
  );
  const result = await runRollout(sim.fleet, {
    ...quick,
    target: { generation: B, userData: 'config-B' },
    observe: sim.observe,
    agents: sim.agents,
  });
  assert.equal(result.outcome, 'rolled-out');
  assert.equal(result.surged.length, 4);
  assert.equal(Object.values(result.after).filter((g) => g === B).length, 4);
  assert.ok(sim.minServing() >= 4, `serving dropped to ${sim.minServing()}`);
});

/** The driver's looks with one node reported not serving on the looks `when` picks (a probe that timed out). */
function flickering(
  observe: () => Promise<{ nodes: RolloutNode[]; notReady: Map<string, string> }>,
  when: (nodes: RolloutNode[]) => string | undefined,
) {
  return async () => {
    const seen = await observe();
    const miss = when(seen.nodes);
    return { ...seen, nodes: seen.nodes.map((n) => (n.id === miss ? { ...n, ready: false } : n)) };
  };
}

test('an old node whose probe misses once while a surge boots is not drained as idle: never below 3 serving', async () => {
  const sim = simulatedFleet(
    [
      { id: 'a1', generation: A },
      { id: 'a2', generation: A },
      { id: 'a3', generation: A },
    ],
    () => false,
  );
  let missed = 0;
  // Once a B node serves and the next one boots, the first old node's look misses twice.
  const observe = flickering(sim.observe, (nodes) => {
    const b = nodes.filter((n) => n.generation === B && !n.leaving);
    const old = nodes.find((n) => n.generation === A && !n.leaving);
    if (missed >= 2 || !old || !b.some((n) => n.ready) || !b.some((n) => !n.ready)) return undefined;
    missed += 1;
    return old.id;
  });
  const result = await runRollout(sim.fleet, { ...quick, target: { generation: B, userData: 'config-B' }, observe, agents: sim.agents });
  assert.equal(missed, 2, 'the misses happened');
  assert.equal(result.outcome, 'rolled-out');
  assert.ok(
    sim.minServing() >= 3,
    `serving dropped to ${sim.minServing()}: a node that missed one look was drained before the surge served`,
  );
});

test('at a failure, a new node that served and missed a look is kept: only the one that never served is removed', async () => {
  const sim = simulatedFleet(
    [
      { id: 'a1', generation: A },
      { id: 'a2', generation: A },
      { id: 'a3', generation: A },
    ],
    (n, spec) => n === 2 && spec.tags[TAG_GENERATION] === B,
  );
  let missed = 0;
  // The look that finds the second B node late also misses the first one (which serves).
  const observe = flickering(sim.observe, (nodes) => {
    const late = nodes.find((n) => n.id === 'i-new2' && !n.ready && Date.now() - n.launchedAt > quick.readyTimeoutMs);
    if (!late || missed >= 1) return undefined;
    missed += 1;
    return 'i-new1';
  });
  const result = await runRollout(sim.fleet, { ...quick, target: { generation: B, userData: 'config-B' }, observe, agents: sim.agents });
  assert.equal(missed, 1, 'the miss happened');
  assert.deepEqual(result.removed, ['i-new2']);
  assert.deepEqual(result.rollback?.drained, ['i-new1'], 'the B node that served is moved back by a drain, not cut');
  assert.deepEqual(Object.values(result.after), [A, A, A]);
  assert.ok(sim.minServing() >= 3, `serving dropped to ${sim.minServing()}`);
});
