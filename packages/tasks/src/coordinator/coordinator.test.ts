import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalObjectStore } from '@synkti/cloud';
import { isSynktiError } from '@synkti/core';
import { openLocalQueue } from '../queue/local-queue.ts';
import type { Queue } from '../queue/types.ts';
import { createWorker } from '../worker/worker.ts';
import { queueResultSink } from '../worker/queue-result-sink.ts';
import type { ResultSink, TaskResult, Worker } from '../worker/types.ts';
import { batchResultValue, encodeBatchTask } from './batch-task.ts';
import { cancelKeyOf, createCoordinator, readCheckpoint } from './coordinator.ts';
import { createEvaluationHandler, type BatchObjective } from './evaluation-handler.ts';
import { runGenerations, type AskTellOptimizer } from './run-generations.ts';
import type { BatchResultValue, CoordinatorOptions } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'synkti-coordinator-'));
const store = new LocalObjectStore({ root: join(dir, 'objects') });
const BUCKET = 'batch';
await store.createBucket(BUCKET);
const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const sphere: BatchObjective = (x) => x.reduce((sum, v) => sum + v * v, 0);

let queueCount = 0;
async function queues(maxReceives = 5): Promise<{ tasks: Queue; results: Queue }> {
  queueCount += 1;
  const path = join(dir, 'queues.db');
  const tasks = await openLocalQueue({ path, name: `t${queueCount}-tasks`, maxReceives, pollIntervalMs: 20 });
  const results = await openLocalQueue({ path, name: `t${queueCount}-results`, pollIntervalMs: 20 });
  cleanups.push(
    () => tasks.close(),
    () => results.close(),
  );
  return { tasks, results };
}

function startWorker(tasks: Queue, sink: ResultSink<BatchResultValue>, objective: BatchObjective = sphere): Worker {
  const worker = createWorker({
    queue: tasks,
    handler: createEvaluationHandler({ objective }),
    resultSink: sink,
    concurrency: 2,
    pollWaitMs: 200,
    leaseMs: 5000,
    onError: () => undefined,
  });
  worker.start();
  cleanups.push(() => worker.stop({ release: true }));
  return worker;
}

function coordinatorOptions(run: string, q: { tasks: Queue; results: Queue }, extra: Partial<CoordinatorOptions> = {}): CoordinatorOptions {
  return { run, tasks: q.tasks, results: q.results, store, bucket: BUCKET, pollWaitMs: 100, checkEveryMs: 100, ...extra };
}

/** A tiny seeded ask/tell optimizer (random search around the best point), deterministic like CMA-ES. */
interface ToyState {
  mean: number[];
  step: number;
  rng: number;
  generation: number;
}
class Toy implements AskTellOptimizer<ToyState> {
  private candidates: number[][] | undefined;
  constructor(private state: ToyState) {}
  static create(seed: number): Toy {
    return new Toy({ mean: [3, -2, 1], step: 1, rng: seed >>> 0, generation: 0 });
  }
  private next(): number {
    // mulberry32
    let t = (this.state.rng = (this.state.rng + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  }
  ask(): number[][] {
    this.candidates ??= Array.from({ length: 6 }, () => this.state.mean.map((m) => m + this.state.step * this.next()));
    return this.candidates;
  }
  tell(scores: readonly number[]): void {
    const candidates = this.ask();
    let best = 0;
    scores.forEach((s, i) => {
      if (s < scores[best]!) best = i;
    });
    this.state.mean = [...candidates[best]!];
    this.state.step *= 0.9;
    this.state.generation += 1;
    this.candidates = undefined;
  }
  toState(): ToyState {
    return JSON.parse(JSON.stringify(this.state)) as ToyState;
  }
}

/** The same run on one reliable machine: evaluate in order, no queue. */
function sequentialRun(seed: number, generations: number): ToyState {
  const toy = Toy.create(seed);
  for (let g = 0; g < generations; g += 1) toy.tell(toy.ask().map((x) => sphere(x, new AbortController().signal) as number));
  return toy.toState();
}

test('scores every candidate in candidate order and checkpoints each generation', async () => {
  const q = await queues();
  startWorker(q.tasks, queueResultSink(q.results));
  const coordinator = createCoordinator(coordinatorOptions('plain', q));
  const seen: number[] = [];
  const result = await runGenerations({
    coordinator,
    generations: 4,
    create: () => Toy.create(7),
    restore: (s) => new Toy(s),
    meta: { objective: 'sphere' },
    onGeneration: (report) => seen.push(report.generation),
  });
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.deepEqual(result.optimizer.toState(), sequentialRun(7, 4));
  assert.equal(result.lostTasks, 0);
  const counters = coordinator.counters();
  assert.equal(counters.sent, 24);
  assert.equal(counters.accepted, 24);
  assert.equal(counters.candidates, 24);
  assert.equal(counters.scored, 24);
  const saved = await readCheckpoint<ToyState>(store, BUCKET, 'runs/plain/checkpoint.json');
  assert.equal(saved?.status, 'done');
  assert.equal(saved?.generation, 4);
  assert.deepEqual(saved?.optimizer, result.optimizer.toState());
  assert.equal(saved?.history.length, 4);
});

test('duplicate results are dropped and counted, never applied twice', async () => {
  const q = await queues();
  const inner = queueResultSink<BatchResultValue>(q.results);
  // Every result arrives twice, as after a worker that died between sending and acking.
  startWorker(q.tasks, {
    send: async (r) => {
      await inner.send(r);
      await inner.send(r);
    },
  });
  const coordinator = createCoordinator(coordinatorOptions('dups', q));
  const payloads = [
    [1, 0],
    [0, 2],
    [3, 0],
  ];
  const scores = await coordinator.evaluate(0, payloads);
  assert.deepEqual(scores, [1, 4, 9]);
  // Late duplicates of generation 0 arrive during generation 1: stale, or duplicates seen earlier.
  const next = await coordinator.evaluate(1, [[1, 1]]);
  assert.deepEqual(next, [2]);
  // A late duplicate of one generation is read during the next (as stale) or in the same one (as a duplicate).
  assert.deepEqual(await coordinator.evaluate(2, [[0, 0]]), [0]);
  const c = coordinator.counters();
  assert.equal(c.accepted, 5);
  assert.ok(c.received >= 9, JSON.stringify(c));
  assert.equal(c.duplicatesDropped + c.staleDropped, c.received - c.accepted, JSON.stringify(c));
  assert.ok(c.duplicatesDropped >= 1, JSON.stringify(c));
});

test('stale results (another run, an older generation, another payload, garbage) are dropped and counted', async () => {
  const q = await queues();
  const payloads = [
    [1, 1],
    [2, 2],
  ];
  const { digest } = encodeBatchTask({ run: 'stale', generation: 3, candidate: 0 }, payloads[0]);
  const forged = (value: unknown): string =>
    JSON.stringify({ taskId: 'x', ok: true, value, attempt: 1, workerId: 'w', finishedAt: 0 } satisfies TaskResult);
  await q.results.sendBatch([
    forged(batchResultValue({ run: 'other', generation: 3, candidate: 0, digest }, { score: 0 })),
    forged(batchResultValue({ run: 'stale', generation: 2, candidate: 0, digest }, { score: 0 })),
    forged(batchResultValue({ run: 'stale', generation: 3, candidate: 0, digest: 'ffffffffffffffff' }, { score: 0 })),
    forged({ hello: 'world' }),
    'not json',
  ]);
  const coordinator = createCoordinator(coordinatorOptions('stale', q));
  const evaluation = coordinator.evaluate(3, payloads);
  // The forged results are already waiting; the worker starts after them.
  startWorker(q.tasks, queueResultSink(q.results));
  assert.deepEqual(await evaluation, [2, 8]);
  const c = coordinator.counters();
  assert.equal(c.staleDropped, 5);
  assert.equal(c.accepted, 2);
  assert.equal(c.duplicatesDropped, 0);
});

test('a task lost without a result is re-sent after the deadline, and the candidate is never scored 0', async () => {
  const q = await queues();
  const coordinator = createCoordinator(coordinatorOptions('lost', q, { resendAfterMs: 400 }));
  const evaluation = coordinator.evaluate(0, [
    [2, 0],
    [0, 3],
  ]);
  // A consumer that takes one task and deletes it without a result (the reference's defect).
  const [stolen] = await q.tasks.receive({ waitMs: 5000, leaseMs: 5000 });
  assert.ok(stolen);
  assert.equal(await q.tasks.ack(stolen), true);
  startWorker(q.tasks, queueResultSink(q.results));
  assert.deepEqual(await evaluation, [4, 9]);
  const c = coordinator.counters();
  assert.ok(c.resent >= 1, JSON.stringify(c));
  assert.equal(c.sent, 2 + c.resent);
  assert.equal(c.accepted, 2);
});

test('a dead-lettered candidate stops the run by default, or is scored +Infinity explicitly with unscorable: worst', async () => {
  const failing: BatchObjective = (x) => {
    if (x[0]! < 0) throw new Error('negative input crashes the simulator');
    return sphere(x, new AbortController().signal);
  };
  const q1 = await queues(2);
  startWorker(q1.tasks, queueResultSink(q1.results), failing);
  const strict = createCoordinator(coordinatorOptions('dlq-fail', q1));
  await assert.rejects(strict.evaluate(0, [[1], [-1], [2]]), (error: unknown) => {
    assert.ok(isSynktiError(error, 'E_CANDIDATE_UNSCORABLE'), String(error));
    assert.match(error.message, /candidate 1 of generation 0/);
    assert.match(error.message, /negative input crashes the simulator/);
    return true;
  });
  assert.equal(strict.counters().deadLettered, 1);

  const q2 = await queues(2);
  startWorker(q2.tasks, queueResultSink(q2.results), failing);
  const lenient = createCoordinator(coordinatorOptions('dlq-worst', q2, { unscorable: 'worst' }));
  assert.deepEqual(await lenient.evaluate(0, [[1], [-1], [2]]), [1, Number.POSITIVE_INFINITY, 4]);
  const c = lenient.counters();
  assert.equal(c.deadLettered, 1);
  assert.equal(c.scoredWorst, 1);
  assert.equal(c.scored, 2);
  assert.equal(lenient.lostTasks(), 0);
});

test('a run stopped by a dead-lettered candidate keeps a failed checkpoint; after the fix and a redrive it resumes to the exact result', async () => {
  let broken = true;
  const q = await queues(2);
  startWorker(q.tasks, queueResultSink(q.results), (x) => {
    if (broken) throw new Error('missing input file');
    return sphere(x, new AbortController().signal);
  });
  const options = { generations: 3, create: () => Toy.create(5), restore: (s: ToyState) => new Toy(s), meta: { seed: 5 } };
  await assert.rejects(
    runGenerations({ ...options, coordinator: createCoordinator(coordinatorOptions('fix-resume', q)) }),
    (error: unknown) => isSynktiError(error, 'E_CANDIDATE_UNSCORABLE'),
  );
  const failed = await readCheckpoint<ToyState>(store, BUCKET, 'runs/fix-resume/checkpoint.json');
  assert.equal(failed?.status, 'failed');
  assert.equal(failed?.generation, 0);
  assert.ok(failed!.counters.deadLettered >= 1);
  assert.match(failed!.stopReason ?? '', /missing input file/);
  assert.deepEqual(failed?.optimizer, Toy.create(5).toState(), 'the state before the failed generation, not after its ask()');

  broken = false;
  assert.ok((await q.tasks.redrive()) >= 1);
  const resumed = await runGenerations({ ...options, coordinator: createCoordinator(coordinatorOptions('fix-resume', q)), resume: true });
  assert.deepEqual(resumed.optimizer.toState(), sequentialRun(5, 3));
  assert.equal(resumed.lostTasks, 0);
});

test('a failed evaluation (not a finite number) is a result, not a crash: the run stops naming it', async () => {
  const q = await queues();
  startWorker(q.tasks, queueResultSink(q.results), (x) => (x[0] === 0 ? Number.NaN : 1));
  const coordinator = createCoordinator(coordinatorOptions('nan', q));
  await assert.rejects(
    coordinator.evaluate(0, [[1], [0]]),
    /candidate 1 of generation 0 cannot be scored: its evaluation failed: the objective returned NaN/,
  );
  assert.equal(coordinator.counters().failedResults, 1);
  assert.equal(coordinator.counters().deadLettered, 0);
});

test('a failing result queue is retried with backoff, not taken for a verdict', async () => {
  const q = await queues();
  startWorker(q.tasks, queueResultSink(q.results));
  let failuresLeft = 2;
  const flaky = new Proxy(q.results, {
    get(target, prop) {
      if (prop === 'receive') {
        return async (...args: Parameters<Queue['receive']>) => {
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error('database is locked');
          }
          return target.receive(...args);
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  const errors: string[] = [];
  const coordinator = createCoordinator(
    coordinatorOptions(
      'flaky',
      { tasks: q.tasks, results: flaky },
      {
        onEvent: (event) => {
          if (event.type === 'backend-error') errors.push(event.error);
        },
      },
    ),
  );
  assert.deepEqual(await coordinator.evaluate(0, [[1], [2]]), [1, 4]);
  assert.deepEqual(errors, ['database is locked', 'database is locked']);
});

test('a crashed coordinator resumed from its checkpoint ends exactly like an uninterrupted run', async () => {
  const q = await queues();
  startWorker(q.tasks, queueResultSink(q.results));
  const abort = new AbortController();
  const first = createCoordinator(coordinatorOptions('resume', q, { signal: abort.signal }));
  const options = {
    generations: 7,
    create: () => Toy.create(42),
    restore: (s: ToyState) => new Toy(s),
    meta: { objective: 'sphere', seed: 42 },
  };
  // "Crash" after generation 3's checkpoint, with generation 4 already sent.
  await assert.rejects(
    runGenerations({
      ...options,
      coordinator: first,
      onGeneration: (r) => {
        if (r.generation === 3) setTimeout(() => abort.abort(), 5);
      },
    }),
    (error: unknown) => isSynktiError(error, 'E_ABORTED'),
  );
  const mid = await readCheckpoint<ToyState>(store, BUCKET, 'runs/resume/checkpoint.json');
  assert.equal(mid?.status, 'running');
  assert.ok(mid && mid.generation >= 3);

  const second = createCoordinator(coordinatorOptions('resume', q));
  await assert.rejects(runGenerations({ ...options, coordinator: second }), (error: unknown) => isSynktiError(error, 'E_RUN_EXISTS'));
  const resumed = await runGenerations({
    ...options,
    coordinator: second,
    resume: true,
    checkResume: (meta) => assert.deepEqual(meta, options.meta),
  });
  assert.equal(resumed.resumed, true);
  assert.deepEqual(resumed.optimizer.toState(), sequentialRun(42, 7));
  assert.equal(resumed.checkpoint.generation, 7);
  assert.equal(resumed.lostTasks, 0);
  assert.equal(resumed.checkpoint.counters.candidates, 42);

  const missing = createCoordinator(coordinatorOptions('never-ran', q));
  await assert.rejects(runGenerations({ ...options, coordinator: missing, resume: true }), (error: unknown) =>
    isSynktiError(error, 'E_RUN_NOT_FOUND'),
  );
});

test('cancel marks the checkpoint cancelled; metrics count in-flight work as backlog', async () => {
  const q = await queues();
  const coordinator = createCoordinator(coordinatorOptions('cancel', q, { workersAlive: () => 2 }));
  const run = runGenerations({ coordinator, generations: 3, create: () => Toy.create(1), restore: (s: ToyState) => new Toy(s), meta: {} });
  // No worker: the generation stays outstanding.
  let metrics = await coordinator.metrics();
  for (let i = 0; i < 50 && metrics.outstanding === 0; i += 1) {
    await new Promise((r) => setTimeout(r, 20));
    metrics = await coordinator.metrics();
  }
  assert.equal(metrics.outstanding, 6);
  assert.equal(metrics.backlog, 6);
  assert.equal(metrics.backlogPerWorker, 3);
  // A worker holding every task: the queue shows no visible messages, the backlog is unchanged.
  const held = await q.tasks.receive({ maxMessages: 10, leaseMs: 10_000 });
  metrics = await coordinator.metrics();
  assert.equal(metrics.queueDepth, 6 - held.length);
  assert.equal(metrics.backlog, 6);
  await store.put(BUCKET, cancelKeyOf('cancel'), 'cancelled by test');
  await assert.rejects(run, (error: unknown) => isSynktiError(error, 'E_RUN_CANCELLED'));
  const saved = await readCheckpoint(store, BUCKET, 'runs/cancel/checkpoint.json');
  assert.equal(saved?.status, 'cancelled');
  assert.equal(saved?.generation, 0);
});

test(
  'a straggler is re-issued to an idle worker: the generation does not wait for the slow one, and its late result is dropped',
  { timeout: 60_000 },
  async () => {
    const q = await queues();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let slowTook = 0;
    // The slow worker holds its first task until the test ends (far past the 5-minute re-send deadline).
    const slow = createWorker({
      queue: q.tasks,
      handler: createEvaluationHandler({
        objective: async (x, signal) => {
          slowTook += 1;
          await gate;
          return sphere(x, signal);
        },
      }),
      resultSink: queueResultSink(q.results),
      concurrency: 1,
      pollWaitMs: 200,
      leaseMs: 60_000,
      onError: () => undefined,
    });
    cleanups.push(async () => {
      release();
      await slow.stop({ release: true });
    });
    const payloads = Array.from({ length: 6 }, (_, i) => [i, 1, 2]);
    const coordinator = createCoordinator(coordinatorOptions('straggler', q, { workersAlive: () => 2 }));
    const evaluation = coordinator.evaluate(0, payloads);
    slow.start();
    // The fast worker starts once the slow one holds a task, so the slow one surely has one.
    const deadline = Date.now() + 20_000;
    while (slowTook === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(slowTook, 1, 'the slow worker took a task');
    startWorker(q.tasks, queueResultSink(q.results));
    assert.deepEqual(
      await evaluation,
      payloads.map((x) => x.reduce((sum, v) => sum + v * v, 0)),
    );
    const c = coordinator.counters();
    assert.equal(c.reissued, 1, JSON.stringify(c));
    assert.equal(c.resent, 0, 'not the 5-minute re-send');
    assert.equal(c.sent, 7);
    // The slow copy finishes now; its result is a duplicate of an applied one, dropped during the next generation.
    release();
    assert.deepEqual(await coordinator.evaluate(1, [[0, 0, 1]]), [1]);
    const after = coordinator.counters();
    assert.equal(after.accepted, 7);
    assert.equal(after.received, after.accepted + after.duplicatesDropped + after.staleDropped, JSON.stringify(after));
  },
);
