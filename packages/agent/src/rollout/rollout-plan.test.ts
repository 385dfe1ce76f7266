import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRolloutStep, type RolloutNode, type RolloutStep } from './rollout-plan.ts';
import { surgeToken } from './rolling-update.ts';

const OLD = 'g000000000001';
const NEW = 'g000000000002';
const T = 100_000;

function node(id: string, generation: string | undefined, extra: Partial<RolloutNode> = {}): RolloutNode {
  return { id, generation, ready: true, leaving: false, launchedAt: 0, load: 0, ...extra };
}

function plan(nodes: RolloutNode[], now = T): RolloutStep {
  return planRolloutStep({ nodes, target: NEW, count: 3, now, readyTimeoutMs: 30_000 });
}

test('a full rollout of 3: surge, wait, drain, ... done, never fewer than 3 serving', () => {
  // Simulate the fleet through the plan's own steps.
  let fleet = [node('a', OLD, { load: 2 }), node('b', OLD, { load: 0 }), node('c', OLD, { load: 1 })];
  const steps: string[] = [];
  let n = 0;
  for (let i = 0; i < 20; i++) {
    const step = plan(fleet, T + i);
    steps.push(step.kind === 'drain' ? `drain ${step.id}` : step.kind);
    const serving = fleet.filter((x) => !x.leaving && x.ready).length;
    assert.ok(serving >= 3, `step ${i}: ${serving} serving`);
    if (step.kind === 'done') break;
    if (step.kind === 'surge') fleet.push(node(`n${++n}`, NEW, { ready: false, launchedAt: T + i }));
    else if (step.kind === 'wait') fleet = fleet.map((x) => (step.ids.includes(x.id) ? { ...x, ready: true } : x));
    else if (step.kind === 'drain') fleet = fleet.map((x) => (x.id === step.id ? { ...x, leaving: true } : x));
    // Drained nodes are gone a step later.
    fleet = fleet.filter((x) => !(x.leaving && steps.length % 2 === 0));
  }
  assert.deepEqual(steps, ['surge', 'wait', 'drain b', 'surge', 'wait', 'drain c', 'surge', 'wait', 'drain a', 'done']);
});

test('resumable: a rerun that finds a surged node (ready or not) continues instead of surging again', () => {
  assert.deepEqual(plan([node('a', OLD), node('b', OLD), node('c', OLD), node('n1', NEW, { ready: false, launchedAt: T - 1000 })]), {
    kind: 'wait',
    ids: ['n1'],
  });
  assert.deepEqual(plan([node('a', OLD), node('b', OLD), node('c', OLD), node('n1', NEW)]).kind, 'drain');
  assert.deepEqual(plan([node('a', OLD), node('b', OLD, { leaving: true }), node('c', OLD), node('n1', NEW)]), { kind: 'surge' });
  assert.deepEqual(plan([node('n1', NEW), node('n2', NEW), node('n3', NEW)]), { kind: 'done', ready: 3 });
});

test('a new node that does not serve within the bound fails the rollout, with every pending new node', () => {
  const nodes = [node('a', OLD), node('b', OLD), node('c', OLD), node('n1', NEW, { ready: false, launchedAt: T - 30_001 })];
  assert.deepEqual(plan(nodes), { kind: 'failed', ids: ['n1'] });
  // Just inside the bound it is still waited for.
  assert.deepEqual(plan(nodes, T - 2), { kind: 'wait', ids: ['n1'] });
});

test('an old node is never drained before a new one serves; a not-serving old node goes first', () => {
  assert.equal(plan([node('a', OLD), node('b', OLD), node('c', OLD, { ready: false })]).kind, 'surge');
  assert.deepEqual(plan([node('a', OLD), node('b', OLD), node('c', OLD, { ready: false, load: 0 }), node('n1', NEW)]), {
    kind: 'drain',
    id: 'c',
  });
});

test("a node of unknown generation (booting, untagged: an agent's replacement) is waited for, not drained", () => {
  assert.deepEqual(plan([node('a', OLD), node('b', OLD), node('r', undefined, { ready: false, launchedAt: T - 1000 }), node('n1', NEW)]), {
    kind: 'wait',
    ids: ['r'],
  });
});

test("a node lost mid-rollout is not refilled by the rollout (its replacement is the agents' job)", () => {
  assert.deepEqual(plan([node('n1', NEW), node('n2', NEW)]), { kind: 'done', ready: 2 });
});

test('the surge token is the same for the same old nodes (a rerun gets the same launch back) and differs after a drain', () => {
  assert.equal(surgeToken(NEW, ['a', 'b', 'c']), surgeToken(NEW, ['c', 'b', 'a']));
  assert.notEqual(surgeToken(NEW, ['a', 'b', 'c']), surgeToken(NEW, ['a', 'c']));
  assert.notEqual(surgeToken(NEW, ['a']), surgeToken(OLD, ['a']));
  assert.ok(surgeToken(NEW, ['a']).length <= 64);
});
