import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { fakeTime } from './testing/fake-time.ts';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('serves the burst at once, then one token per refill interval, first come first served', async () => {
    const time = fakeTime();
    const bucket = new TokenBucket({ capacity: 5, refillPerSecond: 2, clock: time.now, sleep: time.sleep });
    const start = time.now();
    const served: { who: number; at: number }[] = [];
    await Promise.all(
      Array.from({ length: 11 }, (_, who) =>
        bucket.take().then(() => {
          served.push({ who, at: time.now() - start });
        }),
      ),
    );
    assert.deepEqual(
      served.map((s) => s.who),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      'in the order they asked',
    );
    assert.deepEqual(
      served.slice(0, 5).map((s) => s.at),
      [0, 0, 0, 0, 0],
      'the burst waits for nothing',
    );
    assert.deepEqual(
      served.slice(5).map((s) => s.at),
      [500, 1000, 1500, 2000, 2500, 3000],
      'then one every 1/refill s',
    );
  });

  it('refills while idle, up to its capacity only', async () => {
    const time = fakeTime();
    const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 1, clock: time.now, sleep: time.sleep });
    for (let i = 0; i < 3; i += 1) await bucket.take();
    assert.ok(bucket.available() < 1);
    await time.sleep(60_000);
    assert.equal(bucket.available(), 3);
    time.sleeps.length = 0;
    for (let i = 0; i < 3; i += 1) await bucket.take();
    assert.deepEqual(time.sleeps, [], 'three tokens were there');
    await bucket.take();
    assert.deepEqual(time.sleeps, [1000]);
  });

  it('drain empties it so every caller waits for the refill', async () => {
    const time = fakeTime();
    const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 10, clock: time.now, sleep: time.sleep });
    bucket.drain();
    const before = time.now();
    await bucket.take();
    assert.equal(time.now() - before, 100);
  });

  it('refuses a capacity below one token or a refill of zero', () => {
    assert.throws(
      () => new TokenBucket({ capacity: 0.5, refillPerSecond: 1 }),
      (e: unknown) => isSynktiError(e, 'E_TOKEN_BUCKET'),
    );
    assert.throws(
      () => new TokenBucket({ capacity: 2, refillPerSecond: 0 }),
      (e: unknown) => isSynktiError(e, 'E_TOKEN_BUCKET'),
    );
  });
});
