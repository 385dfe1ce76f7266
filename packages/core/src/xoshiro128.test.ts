import { test } from 'node:test';
import assert from 'node:assert/strict';
import { xoshiro128Next, xoshiro128Words } from './xoshiro128.ts';

test('xoshiro128** from seed 42 gives the same sequence everywhere (sim runs and CMA-ES checkpoints depend on it)', () => {
  const s = xoshiro128Words(42);
  const out = Array.from({ length: 4 }, () => xoshiro128Next(s));
  // Pinned: a change here changes every seeded simulation and every resumed CMA-ES run.
  assert.deepEqual(out, [2837322924, 544945897, 479756282, 3500138142], 'the values of the original sim generator');
  assert.ok(out.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff));
});

test('xoshiro128** state round-trips through JSON and continues the sequence', () => {
  const a = xoshiro128Words(7);
  xoshiro128Next(a);
  const b = JSON.parse(JSON.stringify(a)) as [number, number, number, number];
  assert.deepEqual([xoshiro128Next(a), xoshiro128Next(a)], [xoshiro128Next(b), xoshiro128Next(b)]);
});
