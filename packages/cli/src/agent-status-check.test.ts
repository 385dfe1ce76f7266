import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_STATUS_MEMBERS, parseAgentStatus } from '@synkti/core/contracts';
import { xoshiro128Next, xoshiro128Words } from '@synkti/core/xoshiro128';
import { MAX_MEMBERS, readAgentStatus } from './agent-status-check.ts';

/** A status with every optional block present, as a busy agent answers. */
function fullStatus(): Record<string, unknown> {
  return {
    id: 'i-0abc', cluster: 'demo', role: 'worker', zone: 'local-a', state: 'ready', pid: 4242, address: '127.0.0.1',
    ports: { agent: 7000, router: 8000, workload: 9000 }, startedAt: 1_765_000_000_000, uptimeMs: 12_000, load: 2,
    members: [
      { id: 'i-0abc', role: 'worker', state: 'ready', address: '127.0.0.1', agentPort: 7000, routerPort: 8000, zone: 'local-a', load: 2, generation: 'g1' },
      { id: 'i-0def', role: 'worker', state: 'draining', address: '127.0.0.2', agentPort: 7000, routerPort: 8000 },
    ],
    cloudListCalls: 3, workload: { state: 'running', restarts: 1 }, router: { inFlight: 4 },
    drain: { reason: 'interruption', startedAt: 1, deadline: 2, budgetMs: 3, cutoffAt: 4, leftInFlight: 0, tookMs: 5, replacement: 'i-1', failedSteps: ['x'] },
    model: { uri: 's3://b/m', state: 'ready', path: '/m', files: 2, filesDone: 2, bytes: 10, bytesDone: 10, bytesFetched: 0, reused: true, error: { code: 'E', message: 'm', hint: 'h', file: 'f' } },
    autoscale: [{ pool: 'worker', current: 3, desired: 4, min: 1, max: 5, decider: 'i-0abc', last: { epoch: 1, desired: 4, at: 5, action: 'scale-out', from: 3, by: 'i-0abc', reason: 'load' } }],
    generation: 'g1', desiredGenerations: { worker: 'g2' },
  };
}

/** Values that probe each check: wrong types, bounds, non-finite and non-integer numbers. */
const ODD_VALUES: unknown[] = [
  undefined, null, true, 0, -0, -1, 1.5, 65_535, 65_536, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '', 'x', 'x'.repeat(513), 'x'.repeat(2049),
  'interruption', 'scale-in', [], ['a'], {}, { extra: 1 },
];

/** Every (container, key) in a value, to mutate one at a time. */
function slots(value: unknown, out: [Record<string, unknown> | unknown[], string | number][] = []): typeof out {
  if (Array.isArray(value)) value.forEach((item, i) => { out.push([value, i]); slots(item, out); });
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) { out.push([value as Record<string, unknown>, key]); slots(item, out); }
  return out;
}

test('readAgentStatus accepts, rejects and keeps exactly what agentStatusSchema does', () => {
  const bodies: unknown[] = [fullStatus(), undefined, null, 'status', [], {}];
  // Each field (at every depth) replaced by each odd value, deleted, and given an unknown sibling.
  const slotCount = slots(fullStatus()).length;
  for (let s = 0; s < slotCount; s++) {
    for (const odd of [...ODD_VALUES, 'delete', 'sibling']) {
      const body = fullStatus();
      const [container, key] = slots(body)[s]!;
      if (odd === 'delete') delete (container as Record<string | number, unknown>)[key];
      else if (odd === 'sibling' && !Array.isArray(container)) container[`${String(key)}Extra`] = 'kept?';
      else (container as Record<string | number, unknown>)[key] = odd;
      bodies.push(body);
    }
  }
  // Random combinations of up to 3 mutations (seeded: the same bodies every run).
  const rng = xoshiro128Words(18);
  const pick = (n: number) => xoshiro128Next(rng) % n;
  for (let i = 0; i < 400; i++) {
    const body = fullStatus();
    for (let m = 0; m <= pick(3); m++) {
      const all = slots(body);
      const [container, key] = all[pick(all.length)]!;
      (container as Record<string | number, unknown>)[key] = ODD_VALUES[pick(ODD_VALUES.length)];
    }
    bodies.push(body);
  }
  let accepted = 0;
  for (const body of bodies) {
    const expected = parseAgentStatus(body);
    assert.deepStrictEqual(readAgentStatus(body), expected, `differs from the schema for ${JSON.stringify(body)}`);
    if (expected) accepted++;
  }
  // Both outcomes are exercised: a check that accepted (or refused) everything would differ above.
  assert.ok(accepted > 50 && accepted < bodies.length - 50, `accepted ${accepted} of ${bodies.length}`);
});

test('readAgentStatus bounds lists as the schema does, and its member bound is the contract\'s', () => {
  assert.equal(MAX_MEMBERS, MAX_STATUS_MEMBERS);
  const member = (fullStatus().members as unknown[])[1];
  for (const count of [MAX_STATUS_MEMBERS, MAX_STATUS_MEMBERS + 1]) {
    const body = { ...fullStatus(), members: Array.from({ length: count }, () => member) };
    assert.equal(readAgentStatus(body) !== undefined, parseAgentStatus(body) !== undefined, `${count} members`);
    assert.equal(readAgentStatus(body) !== undefined, count === MAX_STATUS_MEMBERS);
  }
  const pools = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, 'g']));
  for (const n of [64, 65]) {
    const body = { ...fullStatus(), desiredGenerations: pools(n) };
    assert.deepStrictEqual(readAgentStatus(body), parseAgentStatus(body), `${n} pools`);
  }
  const hostile = JSON.parse('{"__proto__": "g", "worker": "g2"}') as unknown;
  assert.deepStrictEqual(readAgentStatus({ ...fullStatus(), desiredGenerations: hostile }), parseAgentStatus({ ...fullStatus(), desiredGenerations: hostile }));
});
