import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffCeilingMs, fullJitterDelayMs } from './backoff.ts';

describe('full-jitter backoff', () => {
  it('ceilings double from the base and stop at the cap', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 7, 8, 60, 2000].map((n) => backoffCeilingMs(n)),
      [100, 200, 400, 800, 12_800, 20_000, 20_000, 20_000],
    );
    assert.deepEqual(
      [0, 1, 2].map((n) => backoffCeilingMs(n, { baseMs: 10, capMs: 25 })),
      [10, 20, 25],
    );
  });

  it('each wait is uniform below its ceiling', () => {
    for (const attempt of [0, 3, 10]) {
      const ceiling = backoffCeilingMs(attempt);
      const waits = Array.from({ length: 2000 }, () => fullJitterDelayMs(attempt));
      assert.ok(
        waits.every((w) => w >= 0 && w < ceiling),
        'inside [0, ceiling)',
      );
      assert.ok(Math.min(...waits) < ceiling * 0.05 && Math.max(...waits) > ceiling * 0.95, 'spread over the whole range');
      assert.ok(new Set(waits).size > 50, 'not a fixed wait');
    }
    assert.equal(fullJitterDelayMs(2, { random: () => 0.5 }), 200);
  });
});
