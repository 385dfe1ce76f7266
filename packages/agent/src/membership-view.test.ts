import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipView, type Member } from './membership-view.ts';

function member(id: string, overrides: Partial<Member> = {}): Member {
  return { id, role: 'worker', zone: 'local-a', address: '127.0.0.1', agentPort: 7000, routerPort: 8000, workloadPort: 9000, state: 'ready', incarnation: 1, heartbeat: 0, load: 0, ...overrides };
}

function fakeClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

test('three views converge to the same membership through pairwise gossip', () => {
  const clock = fakeClock();
  const views = ['i-a', 'i-b', 'i-c'].map((id) => new MembershipView({ self: member(id), failureTimeoutMs: 5000, clock: clock.now }));
  const [a, b, c] = views as [MembershipView, MembershipView, MembershipView];
  b.merge(a.toMessage());
  c.merge(b.toMessage());
  a.merge(c.toMessage());
  b.merge(a.toMessage());
  for (const view of views) assert.deepEqual(view.memberIds(), ['i-a', 'i-b', 'i-c']);
});

test('a member whose heartbeat stops is expired after the failure timeout, not before', () => {
  const clock = fakeClock();
  const a = new MembershipView({ self: member('i-a'), failureTimeoutMs: 5000, clock: clock.now });
  a.merge({ from: 'i-b', members: [member('i-b', { heartbeat: 3 })], dead: [] });
  clock.advance(4000);
  assert.deepEqual(a.expire(), []);
  a.merge({ from: 'i-b', members: [member('i-b', { heartbeat: 4 })], dead: [] });
  clock.advance(4000);
  assert.deepEqual(a.expire(), [], 'a fresh heartbeat resets the timer');
  clock.advance(1001);
  assert.deepEqual(a.expire().map((m) => m.id), ['i-b']);
  assert.deepEqual(a.memberIds(), ['i-a']);
});

test('stale gossip about a dead member does not bring it back, a newer incarnation does', () => {
  const clock = fakeClock();
  const a = new MembershipView({ self: member('i-a'), failureTimeoutMs: 5000, clock: clock.now });
  a.merge({ from: 'i-b', members: [member('i-b', { heartbeat: 7 })], dead: [] });
  clock.advance(6000);
  a.expire();
  a.merge({ from: 'i-c', members: [member('i-b', { heartbeat: 7 })], dead: [] });
  assert.equal(a.has('i-b'), false, 'same version as the tombstone is stale');
  a.merge({ from: 'i-b', members: [member('i-b', { incarnation: 2, heartbeat: 0 })], dead: [] });
  assert.equal(a.has('i-b'), true, 'a restarted agent rejoins');
});

test('a dead report spreads, and the lost member is reported once', () => {
  const clock = fakeClock();
  const a = new MembershipView({ self: member('i-a'), failureTimeoutMs: 5000, clock: clock.now });
  a.merge({ from: 'i-b', members: [member('i-b', { heartbeat: 2 }), member('i-c', { heartbeat: 5 })], dead: [] });
  const first = a.merge({ from: 'i-b', members: [], dead: [{ id: 'i-c', incarnation: 1, heartbeat: 5 }] });
  assert.deepEqual(first.lost.map((m) => m.id), ['i-c']);
  const second = a.merge({ from: 'i-d', members: [], dead: [{ id: 'i-c', incarnation: 1, heartbeat: 5 }] });
  assert.deepEqual(second.lost, []);
});

test('a dead report about an older version is ignored (the member moved on)', () => {
  const a = new MembershipView({ self: member('i-a'), failureTimeoutMs: 5000 });
  a.merge({ from: 'i-b', members: [member('i-b', { heartbeat: 9 })], dead: [] });
  const { lost } = a.merge({ from: 'i-c', members: [], dead: [{ id: 'i-b', incarnation: 1, heartbeat: 4 }] });
  assert.deepEqual(lost, []);
  assert.equal(a.has('i-b'), true);
});

test('a graceful leave (state stopped) removes the member at once', () => {
  const a = new MembershipView({ self: member('i-a'), failureTimeoutMs: 5000 });
  a.merge({ from: 'i-b', members: [member('i-b', { heartbeat: 1 })], dead: [] });
  const { lost } = a.merge({ from: 'i-b', members: [member('i-b', { heartbeat: 2, state: 'stopped' })], dead: [] });
  assert.deepEqual(lost.map((m) => [m.id, m.state]), [['i-b', 'stopped']]);
  assert.equal(a.has('i-b'), false);
});

test('nobody else can speak for us, and our own heartbeat advances', () => {
  const a = new MembershipView({ self: member('i-a'), failureTimeoutMs: 5000 });
  a.merge({ from: 'i-b', members: [member('i-a', { heartbeat: 99, state: 'draining' })], dead: [{ id: 'i-a', incarnation: 9, heartbeat: 9 }] });
  assert.equal(a.self.state, 'ready');
  assert.equal(a.has('i-a'), true);
  a.beat();
  assert.equal(a.self.heartbeat, 1);
});
