import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MembershipView, membershipBaseline, type Member } from './membership-view.ts';

function member(id: string, overrides: Partial<Member> = {}): Member {
  return {
    id,
    role: 'worker',
    zone: 'local-a',
    address: '127.0.0.1',
    agentPort: 7000,
    routerPort: 8000,
    workloadPort: 9000,
    state: 'ready',
    incarnation: 1,
    version: 0,
    load: 0,
    ...overrides,
  };
}

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

test('alive updates add members; only newer versions replace them', () => {
  const a = new MembershipView({ self: member('i-a') });
  assert.ok(a.applyAlive(member('i-b', { version: 3 })).joined);
  assert.equal(a.applyAlive(member('i-b', { version: 2, state: 'draining' })).changed, false, 'older version ignored');
  assert.equal(a.get('i-b')!.state, 'ready');
  assert.equal(a.applyAlive(member('i-b', { version: 4, state: 'draining' })).changed, true);
  assert.equal(a.get('i-b')!.state, 'draining');
  assert.deepEqual(a.memberIds(), ['i-a', 'i-b']);
});

test('a suspect is due at its deadline unless a newer version refutes it', () => {
  const c = clock();
  const a = new MembershipView({ self: member('i-a'), clock: c.now });
  a.applyAlive(member('i-b', { version: 3 }));
  a.applyAlive(member('i-c', { version: 1 }));
  assert.ok(a.applySuspect({ id: 'i-b', incarnation: 1, version: 3 }, c.now() + 5000).changed);
  assert.ok(a.applySuspect({ id: 'i-c', incarnation: 1, version: 1 }, c.now() + 5000).changed);
  a.applyAlive(member('i-c', { version: 2 })); // i-c refutes
  c.advance(4999);
  assert.deepEqual(a.dueSuspects(), []);
  c.advance(1);
  assert.deepEqual(
    a.dueSuspects().map((m) => m.id),
    ['i-b'],
  );
  assert.equal(a.declareDead('i-b')?.id, 'i-b');
  assert.deepEqual(a.memberIds(), ['i-a', 'i-c']);
  assert.equal(a.isSuspect('i-c'), false);
  assert.equal(a.applyAlive(member('i-b', { version: 3 })).changed, false, 'the dead version stays dead');
});

test('a suspicion about an older version is stale', () => {
  const a = new MembershipView({ self: member('i-a') });
  a.applyAlive(member('i-b', { version: 5 }));
  assert.equal(a.applySuspect({ id: 'i-b', incarnation: 1, version: 4 }, Date.now()).changed, false);
  assert.equal(a.isSuspect('i-b'), false);
});

test('stale news of a dead member does not bring it back; a new incarnation does', () => {
  const a = new MembershipView({ self: member('i-a') });
  a.applyAlive(member('i-b', { version: 7 }));
  assert.equal(a.applyDead({ id: 'i-b', incarnation: 1, version: 7 }).lost?.id, 'i-b');
  assert.equal(a.applyAlive(member('i-b', { version: 7 })).changed, false);
  assert.equal(a.has('i-b'), false);
  assert.ok(a.applyAlive(member('i-b', { incarnation: 2, version: 0 })).joined, 'a restarted agent rejoins');
});

test('a dead report is news once; about an older version it is ignored', () => {
  const a = new MembershipView({ self: member('i-a') });
  a.applyAlive(member('i-b', { version: 9 }));
  a.applyAlive(member('i-c', { version: 5 }));
  assert.equal(a.applyDead({ id: 'i-b', incarnation: 1, version: 4 }).changed, false);
  assert.equal(a.has('i-b'), true);
  assert.equal(a.applyDead({ id: 'i-c', incarnation: 1, version: 5 }).lost?.id, 'i-c');
  assert.equal(a.applyDead({ id: 'i-c', incarnation: 1, version: 5 }).changed, false);
});

test('a graceful leave (state stopped) removes the member at once, reported as stopped', () => {
  const a = new MembershipView({ self: member('i-a') });
  a.applyAlive(member('i-b', { version: 1 }));
  const { lost } = a.applyAlive(member('i-b', { version: 2, state: 'stopped' }));
  assert.deepEqual([lost?.id, lost?.state], ['i-b', 'stopped']);
  assert.equal(a.has('i-b'), false);
});

test('nobody else speaks for us; news of our own death asks for a refutation', () => {
  const a = new MembershipView({ self: member('i-a') });
  assert.equal(a.applyAlive(member('i-a', { version: 99, state: 'draining' })).changed, false);
  assert.equal(a.self.state, 'ready');
  assert.equal(a.applyDead({ id: 'i-a', incarnation: 1, version: 0 }).refute, true);
  assert.equal(a.applySuspect({ id: 'i-a', incarnation: 1, version: 0 }, 0).refute, true);
  a.updateSelf();
  assert.equal(a.self.version, 1);
  assert.equal(a.applySuspect({ id: 'i-a', incarnation: 1, version: 0 }, 0).refute, false, 'already refuted');
  assert.equal(a.has('i-a'), true);
});

test('views over a shared baseline see the baseline plus their own changes only', () => {
  const baseline = membershipBaseline(['i-a', 'i-b', 'i-c'].map((id) => member(id)));
  const a = new MembershipView({ self: member('i-a'), baseline });
  const b = new MembershipView({ self: member('i-b'), baseline });
  a.applyDead({ id: 'i-c', incarnation: 1, version: 0 });
  a.applyAlive(member('i-d'));
  assert.deepEqual(a.memberIds(), ['i-a', 'i-b', 'i-d']);
  assert.equal(a.size, 3);
  assert.deepEqual(b.memberIds(), ['i-a', 'i-b', 'i-c'], 'the other view is untouched');
  const seen = new Set<string>();
  let n = 0;
  const random = (): number => (n++ * 0.37) % 1;
  for (let i = 0; i < 50; i++) seen.add(a.randomMemberId(random)!);
  assert.deepEqual([...seen].sort(), ['i-b', 'i-d'], 'random picks never return self or the dead');
});
