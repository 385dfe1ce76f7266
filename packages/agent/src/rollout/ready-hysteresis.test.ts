import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReadyHysteresis } from './ready-hysteresis.ts';

const node = (id: string, ready: boolean, leaving = false) => ({ id, generation: 'g1', ready, leaving, launchedAt: 0 });

test('a node that served counts as serving until it misses 3 looks in a row; one never seen serving gets no credit', () => {
  const h = new ReadyHysteresis(3);
  const ready = (nodes: ReturnType<typeof node>[]) => Object.fromEntries(h.apply(nodes).map((n) => [n.id, n.ready]));
  assert.deepEqual(ready([node('a', true), node('b', false)]), { a: true, b: false });
  assert.deepEqual(ready([node('a', false), node('b', false)]), { a: true, b: false }, 'one miss: still serving');
  assert.deepEqual(ready([node('a', false)]), { a: true }, 'two misses: still serving');
  assert.deepEqual(ready([node('a', false)]), { a: false }, 'three in a row: not serving');
  assert.deepEqual(ready([node('a', false)]), { a: false });
  assert.deepEqual(ready([node('a', true)]), { a: true }, 'serving again resets the count');
  assert.deepEqual(ready([node('a', false)]), { a: true });
  assert.deepEqual(ready([node('a', false, true)]), { a: false }, 'a leaving node gets no credit');
  // Forgotten once no longer listed: when it shows up again it must pass on its own.
  h.apply([]);
  assert.deepEqual(ready([node('a', false)]), { a: false });
});
