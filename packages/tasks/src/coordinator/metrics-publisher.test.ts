import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyCoordinatorCounters } from './coordinator.ts';
import { createCoordinatorMetricsPublisher } from './metrics-publisher.ts';
import type { CoordinatorMetrics } from './types.ts';

function sample(backlog: number, workers: number | undefined, at: number): CoordinatorMetrics {
  return {
    run: 'r1',
    generation: 0,
    outstanding: backlog,
    backlog,
    queueDepth: backlog,
    queueInFlight: 0,
    queueDeadLettered: 0,
    workers,
    backlogPerWorker: workers ? backlog / workers : backlog,
    counters: emptyCoordinatorCounters(),
    at,
  };
}

/** A source whose backlog counts up 1, 2, 3, ... */
function countingSource(): { metrics(): Promise<CoordinatorMetrics> } {
  let n = 0;
  return {
    metrics: async () => {
      n += 1;
      return sample(n, 1, n);
    },
  };
}

/** Resolves when `predicate` holds, checking after each sink call. */
function waiter<T>(): { push(value: T): void; until(predicate: (all: T[]) => boolean): Promise<T[]> } {
  const all: T[] = [];
  const waiting: Array<{ predicate: (all: T[]) => boolean; resolve: (all: T[]) => void }> = [];
  return {
    push(value) {
      all.push(value);
      for (const w of [...waiting])
        if (w.predicate(all)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(all);
        }
    },
    until(predicate) {
      if (predicate(all)) return Promise.resolve(all);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(all)}`)), 10_000);
        waiting.push({
          predicate,
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v);
          },
        });
      });
    },
  };
}

test('publishes a sample at start and one per interval, in order; stop publishes a last one and is idempotent', async () => {
  const batches = waiter<number[]>();
  const publisher = createCoordinatorMetricsPublisher({
    source: countingSource(),
    intervalMs: 20,
    sink: async (samples) => {
      batches.push(samples.map((s) => s.backlog));
    },
  });
  publisher.start();
  publisher.start();
  await batches.until((all) => all.length >= 3);
  const first = publisher.stop();
  assert.equal(publisher.stop(), first, 'stop returns the same promise');
  await first;
  const all = await batches.until(() => true);
  const flat = all.flat();
  assert.deepEqual(
    flat,
    flat.map((_, i) => i + 1),
    'one sample per batch, in order, none lost',
  );
  assert.ok(all.every((b) => b.length === 1));
  const stats = publisher.stats();
  assert.equal(stats.published, flat.length);
  assert.equal(stats.failures, 0);
  const count = all.length;
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(all.length, count, 'nothing published after stop');
});

test('a failing sink: one warning per failure streak, the samples re-sent with the next batch, the publisher keeps going', async () => {
  const warned = waiter<string>();
  const batches = waiter<number[]>();
  let fail = 0;
  const publisher = createCoordinatorMetricsPublisher({
    source: countingSource(),
    intervalMs: 15,
    sink: async (samples) => {
      if (fail > 0) {
        fail -= 1;
        throw new Error('Throttling: Rate exceeded');
      }
      batches.push(samples.map((s) => s.backlog));
    },
    onWarning: (message) => warned.push(message),
  });
  fail = 3;
  publisher.start();
  // Three failed ticks, then the fourth carries all four samples.
  const all = await batches.until((b) => b.length >= 1);
  assert.deepEqual(all[0], [1, 2, 3, 4]);
  const warnings = await warned.until((w) => w.length >= 2);
  assert.equal(warnings.length, 2, `one warning for the streak, one when it ends: ${JSON.stringify(warnings)}`);
  assert.match(warnings[0]!, /publishing failed .*Throttling: Rate exceeded/);
  assert.match(warnings[1]!, /works again/);
  fail = 2;
  await batches.until((b) => b.length >= 2);
  await warned.until((w) => w.length >= 4);
  await publisher.stop();
  assert.equal(warnings.length, 4, 'a second streak warns again, once');
  const stats = publisher.stats();
  assert.equal(stats.failures, 5);
  assert.equal(stats.dropped, 0);
});

test('samples kept while failing are bounded (oldest dropped); a failing source is reported, not thrown', async () => {
  const warnings: string[] = [];
  let sinkUp = false;
  const batches = waiter<number[]>();
  let n = 0;
  const publisher = createCoordinatorMetricsPublisher({
    source: {
      metrics: async () => {
        n += 1;
        if (n === 2) throw new Error('queue stats failed');
        return sample(n, 2, n);
      },
    },
    intervalMs: 10,
    maxPendingSamples: 3,
    sink: async (samples) => {
      if (!sinkUp) throw new Error('no network');
      batches.push(samples.map((s) => s.backlog));
    },
    onWarning: (message) => warnings.push(message),
  });
  publisher.start();
  const dropped = waiter<number>();
  const poll = setInterval(() => dropped.push(publisher.stats().dropped), 5);
  await dropped.until((d) => d.at(-1)! >= 2);
  clearInterval(poll);
  sinkUp = true;
  const all = await batches.until((b) => b.length >= 1);
  await publisher.stop();
  assert.equal(all[0]!.length, 3, 'at most maxPendingSamples per batch');
  assert.deepEqual(
    all[0],
    [...all[0]!].sort((a, b) => a - b),
    'oldest first',
  );
  assert.ok(!all.flat().includes(2), 'the failed sample is not invented');
  assert.equal(warnings.length, 2, JSON.stringify(warnings));
  assert.match(warnings[0]!, /sampling the coordinator failed|publishing failed/);
});

test('stop does not hang on a sink that never answers', async () => {
  let calls = 0;
  const publisher = createCoordinatorMetricsPublisher({
    source: countingSource(),
    intervalMs: 60_000,
    stopTimeoutMs: 50,
    onWarning: () => undefined,
    sink: () => {
      calls += 1;
      return new Promise<void>(() => undefined);
    },
  });
  publisher.start();
  const started = Date.now();
  await publisher.stop();
  assert.ok(Date.now() - started < 5000);
  assert.equal(calls, 1, 'the first tick was still hanging; stop waited for it, not for a new one');
});

test('options are checked', () => {
  assert.throws(
    () => createCoordinatorMetricsPublisher({ source: countingSource(), sink: async () => undefined, intervalMs: 0 }),
    /intervalMs/,
  );
  assert.throws(
    () => createCoordinatorMetricsPublisher({ source: countingSource(), sink: async () => undefined, maxPendingSamples: 0 }),
    /maxPendingSamples/,
  );
  assert.throws(() => createCoordinatorMetricsPublisher({ source: {} as never, sink: async () => undefined }), /source/);
});
