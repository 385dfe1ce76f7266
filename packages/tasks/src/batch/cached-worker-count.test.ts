import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cachedWorkerCount } from './cached-worker-count.ts';

test('a cloud worker count is read at most once per maxAge, survives failures for staleAfter, then is unknown; never throws', async () => {
  let now = 1_000_000;
  let reads = 0;
  let answer: number | Error = 3;
  const warnings: string[] = [];
  const count = cachedWorkerCount(
    async () => {
      reads += 1;
      if (answer instanceof Error) throw answer;
      return answer;
    },
    { maxAgeMs: 15_000, staleAfterMs: 60_000, onWarning: (m) => warnings.push(m), clock: () => now },
  );

  const both = await Promise.all([count(), count()]);
  assert.deepEqual(both, [3, 3]);
  assert.equal(reads, 1, 'concurrent callers share one read');
  now += 10_000;
  answer = 5;
  assert.equal(await count(), 3, 'cached');
  assert.equal(reads, 1);
  now += 6_000;
  assert.equal(await count(), 5, 'refreshed after maxAge');
  assert.equal(reads, 2);

  answer = Object.assign(new Error('ServiceNotFoundException'), { name: 'ServiceNotFoundException' });
  now += 16_000;
  assert.equal(await count(), 5, 'a failed read keeps the last count');
  now += 16_000;
  assert.equal(await count(), 5);
  assert.equal(warnings.length, 1, 'one warning per failure streak');
  assert.match(warnings[0]!, /reading it failed .*ServiceNotFoundException/);
  now += 30_000;
  assert.equal(await count(), undefined, 'unknown once the last count is stale');
  assert.equal(reads, 5);
  now += 1000;
  assert.equal(await count(), undefined);
  assert.equal(reads, 5, 'a failing API is not called more often either');

  answer = 2;
  now += 15_000;
  assert.equal(await count(), 2);
  assert.deepEqual(warnings.slice(1), ['worker count: reading it works again']);
});
