import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipView, type Member } from './membership-view.ts';
import { SwimNode, defaultPeerRef, type SwimOptions } from './swim.ts';
import { SwimNetwork, seededRandom, type SimClock } from './testing/swim-network.ts';

function member(id: string, incarnation = 1): Member {
  return {
    id,
    role: 'worker',
    zone: 'z',
    address: '10.0.0.1',
    agentPort: 7000,
    routerPort: 8000,
    workloadPort: 9000,
    state: 'ready',
    incarnation,
    version: 0,
    load: 0,
  };
}

interface Fleet {
  clock: SimClock;
  net: SwimNetwork;
  lost: Map<string, Member[]>;
  joined: Map<string, string[]>;
  node: (id: string, incarnation?: number) => SwimNode;
}

function fleet(options: Partial<SwimOptions> = {}, seed = 1): Fleet {
  const clock: SimClock = { now: 1_000_000 };
  const net = new SwimNetwork({ clock, latencyMs: 2, tickMs: 50 });
  const random = seededRandom(seed);
  const lost = new Map<string, Member[]>();
  const joined = new Map<string, string[]>();
  const node = (id: string, incarnation = 1): SwimNode => {
    const swim = new SwimNode({
      view: new MembershipView({ self: member(id, incarnation), clock: () => clock.now }),
      probeIntervalMs: 500,
      suspicionTimeoutMs: 2000,
      clock: () => clock.now,
      random,
      onLost: (m) => lost.set(id, [...(lost.get(id) ?? []), m]),
      onJoined: (m) => joined.set(id, [...(joined.get(id) ?? []), m.id]),
      ...options,
    });
    net.add(swim);
    return swim;
  };
  return { clock, net, lost, joined, node };
}

/** n nodes, each joining through node 0 (as through the first page of a cloud listing). */
function grow(f: Fleet, n: number): SwimNode[] {
  const nodes = [f.node('n0')];
  for (let i = 1; i < n; i++) {
    const swim = f.node(`n${i}`);
    nodes.push(swim);
    f.net.send(swim.view.selfId, swim.join([defaultPeerRef(nodes[0]!.view.self)]));
    f.net.runUntil(f.clock.now + 20);
  }
  return nodes;
}

function everyoneKnows(f: Fleet, n: number): boolean {
  return [...f.net.nodes.values()].every((s) => s.view.size === n);
}

test('forty nodes joining through one seed converge on the same membership within seconds', () => {
  const f = fleet();
  grow(f, 40);
  const start = f.clock.now;
  while (!everyoneKnows(f, 40) && f.clock.now - start < 10_000) f.net.runUntil(f.clock.now + 100);
  assert.ok(everyoneKnows(f, 40), 'every view has all 40 members');
  assert.ok(f.clock.now - start < 5000, `converged ${f.clock.now - start} ms after the last join`);
});

test('a crashed node is dropped by every survivor, once each, within probe + suspicion + dissemination', () => {
  const f = fleet();
  grow(f, 30);
  f.net.runUntil(f.clock.now + 5000);
  assert.ok(everyoneKnows(f, 30));
  f.lost.clear();
  const crashedAt = f.clock.now;
  f.net.crash('n7');
  let droppedAt = 0;
  while (f.clock.now - crashedAt < 20_000) {
    f.net.runUntil(f.clock.now + 100);
    if ([...f.net.nodes.values()].every((s) => !s.view.has('n7'))) {
      droppedAt = f.clock.now;
      break;
    }
  }
  assert.ok(droppedAt > 0, 'every survivor dropped the crashed node');
  // Detection ≤ a few periods (500 ms), suspicion 2 s, dissemination well under a second at N=30.
  assert.ok(droppedAt - crashedAt <= 6000, `dropped by all ${droppedAt - crashedAt} ms after the crash`);
  assert.ok(droppedAt - crashedAt >= 2000, 'not before the suspicion timeout');
  f.net.runUntil(f.clock.now + 5000);
  for (const [id, losses] of f.lost)
    assert.deepEqual(
      losses.map((m) => m.id),
      ['n7'],
      `${id} reported the loss once`,
    );
  assert.equal(f.lost.size, 29);
});

test('a node cut off for less than the suspicion timeout refutes and is never dropped', () => {
  const f = fleet({ suspicionTimeoutMs: 4000 });
  grow(f, 20);
  f.net.runUntil(f.clock.now + 5000);
  f.lost.clear();
  f.net.isolated.add('n3');
  f.net.runUntil(f.clock.now + 2500);
  const suspected = [...f.net.nodes.values()].some((s) => s.view.isSuspect('n3'));
  f.net.isolated.delete('n3');
  f.net.runUntil(f.clock.now + 10_000);
  assert.ok(suspected, 'peers did suspect the unreachable node');
  assert.equal(f.lost.size, 0, 'nobody declared it dead');
  assert.ok(everyoneKnows(f, 20));
  assert.ok(f.net.nodes.get('n3')!.stats.refutations >= 1, 'it refuted the suspicion with a newer version');
  assert.ok([...f.net.nodes.values()].every((s) => !s.view.isSuspect('n3')));
});

test('a graceful leave is known by all at once and reported as stopped, not lost', () => {
  const f = fleet();
  const nodes = grow(f, 10);
  f.net.runUntil(f.clock.now + 3000);
  f.lost.clear();
  const leaver = nodes[4]!;
  leaver.view.updateSelf({ state: 'stopped' });
  f.net.send('n4', leaver.announce(leaver.view.size));
  f.net.runUntil(f.clock.now + 10);
  f.net.crash('n4');
  assert.ok([...f.net.nodes.values()].every((s) => !s.view.has('n4')));
  for (const losses of f.lost.values())
    assert.deepEqual(
      losses.map((m) => [m.id, m.state]),
      [['n4', 'stopped']],
    );
  assert.equal(f.lost.size, 9);
});

test('a restarted node (new incarnation) rejoins after it was declared dead', () => {
  const f = fleet();
  grow(f, 8);
  f.net.runUntil(f.clock.now + 3000);
  f.net.crash('n5');
  f.net.runUntil(f.clock.now + 8000);
  assert.ok([...f.net.nodes.values()].every((s) => !s.view.has('n5')));
  const again = f.node('n5', 2);
  f.net.send('n5', again.join([defaultPeerRef(f.net.nodes.get('n0')!.view.self)]));
  f.net.runUntil(f.clock.now + 3000);
  assert.ok(everyoneKnows(f, 8));
});

test('messages stay small while 150 nodes join at once: updates per message are capped', () => {
  const f = fleet({ maxUpdatesPerMessage: 16 });
  const nodes = [f.node('n0')];
  for (let i = 1; i < 150; i++) nodes.push(f.node(`n${i}`));
  for (const swim of nodes.slice(1)) f.net.send(swim.view.selfId, swim.join([defaultPeerRef(nodes[0]!.view.self)]));
  const start = f.clock.now;
  while (!everyoneKnows(f, 150) && f.clock.now - start < 30_000) f.net.runUntil(f.clock.now + 100);
  assert.ok(everyoneKnows(f, 150), 'all 150 converged');
  assert.ok(
    f.net.maxUpdatesPerMessage <= 16 && f.net.maxUpdatesPerMessage > 0,
    `at most 16 updates per message (saw ${f.net.maxUpdatesPerMessage})`,
  );
});

test('a refused connection (nothing listening) is suspected at once and buried when the last probe is refused too', () => {
  const clock = { now: 1_000_000 };
  const lost: string[] = [];
  const node = new SwimNode({
    view: new MembershipView({ self: member('a'), clock: () => clock.now }),
    probeIntervalMs: 500,
    suspicionTimeoutMs: 1500,
    clock: () => clock.now,
    random: seededRandom(3),
    onLost: (m) => lost.push(m.id),
  });
  node.receive({ kind: 'gossip', from: member('b'), updates: [] });
  const refuseEverything = (): void => {
    for (const { message } of node.tick()) if (message.kind === 'ping') node.sendFailed(message, true);
  };
  let suspectedAt: number | undefined;
  while (clock.now < 1_010_000 && lost.length === 0) {
    refuseEverything();
    if (suspectedAt === undefined && node.view.isSuspect('b')) suspectedAt = clock.now;
    clock.now += 50;
  }
  assert.ok(
    suspectedAt !== undefined && suspectedAt - 1_000_000 <= 550,
    'suspected at its first refused probe, without waiting out the period',
  );
  assert.deepEqual(lost, ['b']);
  assert.ok(clock.now - suspectedAt! <= 1500 + 100, `buried ${clock.now - suspectedAt!} ms after the suspicion (timeout 1500 ms)`);
});
