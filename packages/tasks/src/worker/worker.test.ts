import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSynktiError } from '@synkti/core';
import { openLocalQueue } from '../queue/local-queue.ts';
import type { Queue } from '../queue/types.ts';
import type { ResultSink, TaskResult, Worker, WorkerErrorContext } from './types.ts';
import { createWorker } from './worker.ts';
import { queueResultSink } from './queue-result-sink.ts';
import { fileResultSink, readResults } from './testing/file-result-sink.ts';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const crashChild = fileURLToPath(new URL('./testing/crash-after-result-main.ts', import.meta.url));

/** Polls `check` (cheap, local) until it holds; fails with `what` after `ms`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

function memorySink<V>(): ResultSink<V> & { results: TaskResult<V>[] } {
  const results: TaskResult<V>[] = [];
  return {
    results,
    async send(result) {
      results.push(result);
    },
  };
}

async function drained(queue: Queue): Promise<boolean> {
  const s = await queue.stats();
  return s.depth === 0 && s.inFlight === 0 && s.delayed === 0;
}

describe('createWorker', () => {
  let dir: string;
  let path: string;
  let queues: Queue[] = [];
  let workers: Worker[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'synkti-worker-'));
    path = join(dir, 'queues.db');
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop({ release: true })));
    await Promise.all(queues.map((q) => q.close()));
    workers = [];
    queues = [];
    await rm(dir, { recursive: true, force: true });
  });

  async function queue(name = 'jobs', maxReceives?: number): Promise<Queue> {
    const q = await openLocalQueue({ path, name, maxReceives, pollIntervalMs: 20 });
    queues.push(q);
    return q;
  }

  function worker<V>(options: Parameters<typeof createWorker<V>>[0]): Worker {
    const w = createWorker<V>({ pollWaitMs: 1000, onError: () => undefined, ...options });
    workers.push(w);
    w.start();
    return w;
  }

  it('runs tasks concurrently and acks each only after its result was stored', async () => {
    const q = await queue();
    const ids = await q.sendBatch(Array.from({ length: 20 }, (_, i) => String(i)));
    const events: string[] = [];
    // A queue whose ack records when it happens, to check the order against the sink.
    const tracked = new Proxy(q, {
      get(target, key, receiver) {
        if (key === 'ack')
          return async (r: { receipt: string; id?: string } | string) => {
            events.push(`ack ${typeof r === 'string' ? r.split(':')[0] : r.id}`);
            return target.ack(r);
          };
        const value = Reflect.get(target, key, receiver) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    let running = 0;
    let peak = 0;
    const sink = memorySink<number>();
    worker<number>({
      queue: tracked,
      concurrency: 4,
      handler: async (task) => {
        running += 1;
        peak = Math.max(peak, running);
        await sleep(20);
        running -= 1;
        return { ok: true, value: Number(task.body) * 2 };
      },
      resultSink: {
        async send(result) {
          await sleep(5);
          events.push(`result ${result.taskId}`);
          await sink.send(result);
        },
      },
    });
    await waitFor('all 20 tasks acked', async () => events.filter((e) => e.startsWith('ack')).length === 20 && (await drained(q)));
    assert.equal(peak, 4, 'four tasks ran at once, never more');
    assert.deepEqual(sink.results.map((r) => r.taskId).sort(), [...ids].sort());
    for (const id of ids) {
      assert.ok(
        events.indexOf(`result ${id}`) >= 0 && events.indexOf(`result ${id}`) < events.indexOf(`ack ${id}`),
        `task ${id}: result stored before the ack`,
      );
    }
    const byId = new Map(sink.results.map((r) => [r.taskId, r]));
    assert.equal(byId.get(ids[7]!)?.value, 14);
    assert.equal(byId.get(ids[7]!)?.attempt, 1);
  });

  it('never loses a result when the worker is killed between storing it and the ack (a duplicate instead)', async () => {
    const q = await queue('crashy');
    const ids = await q.sendBatch(['a', 'b', 'c', 'd', 'e']);
    const resultsFile = join(dir, 'results.jsonl');
    const child = spawn(process.execPath, ['--import', 'tsx', crashChild, path, 'crashy', resultsFile], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    assert.equal(signal, 'SIGKILL', `the child died by SIGKILL (code ${code}, stderr: ${stderr.slice(-2000)})`);
    const before = await readResults<string>(resultsFile);
    assert.equal(before.length, 1, 'one result was stored before the kill');
    const crashedId = before[0]!.taskId;
    assert.deepEqual(await q.stats(), { depth: 4, inFlight: 1, delayed: 0, deadLettered: 0 }, 'its task was not acked');

    worker<string>({
      queue: q,
      leaseMs: 500,
      workerId: 'survivor',
      handler: async (task) => ({ ok: true, value: `done ${task.body}` }),
      resultSink: fileResultSink(resultsFile),
    });
    await waitFor('the queue drained', () => drained(q));
    const results = await readResults<string>(resultsFile);
    assert.deepEqual([...new Set(results.map((r) => r.taskId))].sort(), [...ids].sort(), 'a result for every task');
    const forCrashed = results.filter((r) => r.taskId === crashedId);
    assert.deepEqual(
      forCrashed.map((r) => [r.workerId, r.attempt]),
      [
        ['doomed', 1],
        ['survivor', 2],
      ],
      'the crashed task: a duplicate, told apart by attempt',
    );
    assert.equal(results.length, 6);
    assert.equal((await q.stats()).deadLettered, 0);
  });

  it('releaseAll hands running tasks to another worker at once, far before their leases end', async () => {
    const q = await queue();
    await q.sendBatch(['1', '2', '3']);
    const aborted: string[] = [];
    const a = worker<string>({
      queue: q,
      concurrency: 3,
      leaseMs: 30_000,
      workerId: 'a',
      handler: (task) =>
        new Promise((_, reject) => {
          task.signal.addEventListener('abort', () => {
            aborted.push(task.body);
            reject(task.signal.reason);
          });
        }),
      resultSink: memorySink(),
    });
    await waitFor('worker a runs all three', () => a.stats().inFlight === 3);
    const sink = memorySink<string>();
    const b = worker<string>({
      queue: q,
      concurrency: 3,
      workerId: 'b',
      handler: async (t) => ({ ok: true, value: t.body }),
      resultSink: sink,
    });
    const released = Date.now();
    assert.equal(await a.releaseAll('spot notice'), 3);
    await waitFor('worker b finished all three', () => sink.results.length === 3, 5000);
    const handoverMs = Date.now() - released;
    assert.ok(handoverMs < 3000, `handed over in ${handoverMs} ms, not after the 30 s lease`);
    assert.deepEqual(aborted.sort(), ['1', '2', '3'], "a's handlers were told to stop");
    assert.deepEqual(
      sink.results.map((r) => r.attempt),
      [2, 2, 2],
    );
    await waitFor('a has nothing running', () => a.stats().inFlight === 0);
    assert.equal(a.stats().released, 3);
    assert.equal(a.stats().crashed, 0, 'an aborted handler of a released task is not a crash');
    // a stays paused: new work goes to b.
    await q.send('4');
    await waitFor('b took the new task', () => sink.results.length === 4);
    assert.equal(a.stats().received, 3);
    await waitFor('drained', () => drained(q));
    assert.equal(b.stats().completed, 4);
  });

  it('heartbeats keep a task longer than its lease from being redelivered', async () => {
    const q = await queue();
    await q.send('long');
    const sink = memorySink<string>();
    let runs = 0;
    const handler = async (): Promise<{ ok: true; value: string }> => {
      runs += 1;
      await sleep(1500);
      return { ok: true, value: 'done' };
    };
    worker<string>({ queue: q, leaseMs: 300, heartbeatEveryMs: 100, handler, resultSink: sink, workerId: 'a' });
    await waitFor('a started it', () => runs === 1);
    // A second worker polls the whole time the task runs, five lease lengths.
    const b = worker<string>({ queue: q, leaseMs: 300, handler, resultSink: sink, workerId: 'b' });
    await waitFor('the task finished', () => sink.results.length === 1);
    await waitFor('drained', () => drained(q));
    assert.equal(runs, 1, 'never run twice');
    assert.equal(b.stats().received, 0);
    assert.deepEqual(
      sink.results.map((r) => [r.workerId, r.attempt]),
      [['a', 1]],
    );
  });

  it('a thrown error is retried up to maxAttempts, then dead-lettered with its message', async () => {
    const q = await queue('crashes', 10);
    await q.send('poison');
    const errors: WorkerErrorContext[] = [];
    const attempts: number[] = [];
    const sink = memorySink();
    const w = worker({
      queue: q,
      maxAttempts: 3,
      leaseMs: 5000,
      handler: async (task) => {
        attempts.push(task.attempt);
        throw new Error(`kaboom on attempt ${task.attempt}`);
      },
      resultSink: sink,
      onError: (_error, context) => errors.push(context),
    });
    await waitFor('dead-lettered', async () => (await q.stats()).deadLettered === 1);
    assert.deepEqual(attempts, [1, 2, 3]);
    const [letter] = await q.deadLetters();
    assert.equal(letter?.body, 'poison');
    assert.equal(letter?.lastError, 'kaboom on attempt 3');
    assert.equal(letter?.receiveCount, 3);
    assert.deepEqual(sink.results, [], 'a crash is not a result');
    assert.deepEqual(
      errors.map((e) => [e.stage, e.attempt]),
      [
        ['handler', 1],
        ['handler', 2],
        ['handler', 3],
      ],
    );
    assert.deepEqual(w.stats(), { inFlight: 0, received: 3, completed: 0, failedResults: 0, crashed: 3, released: 2, deadLettered: 1 });
  });

  it('a structured { ok: false } is a result: stored, acked, not retried', async () => {
    const q = await queue();
    const id = await q.send('{"x": "not a number"}');
    const sink = memorySink();
    let calls = 0;
    const w = worker({
      queue: q,
      handler: async () => {
        calls += 1;
        return { ok: false, error: 'x must be a number' };
      },
      resultSink: sink,
    });
    await waitFor('drained', async () => sink.results.length === 1 && (await drained(q)));
    assert.equal(calls, 1);
    assert.deepEqual(
      sink.results.map((r) => [r.taskId, r.ok, r.error]),
      [[id, false, 'x must be a number']],
    );
    assert.equal((await q.stats()).deadLettered, 0);
    assert.equal(w.stats().failedResults, 1);
  });

  it('a result that cannot be stored is not acked: the task is released and done again', async () => {
    const q = await queue();
    await q.send('t');
    let failuresLeft = 2;
    const stored: TaskResult[] = [];
    worker({
      queue: q,
      resultAttempts: 2,
      handler: async (task) => ({ ok: true, value: task.attempt }),
      resultSink: {
        async send(result) {
          if (failuresLeft > 0) {
            failuresLeft -= 1;
            throw new Error('results store is down');
          }
          stored.push(result);
        },
      },
    });
    await waitFor('stored and drained', async () => stored.length === 1 && (await drained(q)));
    assert.deepEqual(
      stored.map((r) => r.attempt),
      [2],
      "the first run's result was never stored, so the task ran again",
    );
  });

  it('stop() lets running tasks finish and ack; the signal option stops the worker too', async () => {
    const q = await queue();
    await q.send('slow');
    const sink = memorySink();
    const w = worker({
      queue: q,
      handler: async () => {
        await sleep(200);
        return { ok: true };
      },
      resultSink: sink,
    });
    await waitFor('running', () => w.stats().inFlight === 1);
    await w.stop();
    assert.equal(sink.results.length, 1);
    assert.ok(await drained(q));
    await w.stop(); // idempotent

    const controller = new AbortController();
    const v = worker({ queue: q, signal: controller.signal, handler: async () => ({ ok: true }) });
    controller.abort();
    await v.stop();
    await q.send('after stop');
    await sleep(100);
    assert.equal(v.stats().received, 0, 'a stopped worker takes nothing');
    assert.equal((await q.stats()).depth, 1);
  });

  it('queueResultSink puts results on a results queue as JSON', async () => {
    const tasks = await queue('tasks');
    const results = await queue('results');
    const id = await tasks.send('21');
    worker<number>({
      queue: tasks,
      handler: async (t) => ({ ok: true, value: Number(t.body) * 2 }),
      resultSink: queueResultSink(results),
      workerId: 'w',
    });
    const [message] = await results.receive({ waitMs: 5000 });
    assert.ok(message);
    const result = JSON.parse(message.body) as TaskResult<number>;
    assert.deepEqual([result.taskId, result.ok, result.value, result.attempt, result.workerId], [id, true, 42, 1, 'w']);
    await waitFor('task acked', () => drained(tasks));
  });

  it('refuses bad options with the field named', async () => {
    const q = await queue();
    const handler = async (): Promise<{ ok: true }> => ({ ok: true });
    assert.throws(
      () => createWorker({ queue: q, handler, leaseMs: 1000, heartbeatEveryMs: 1000 }),
      (e: unknown) => isSynktiError(e, 'E_WORKER_OPTION') && e.message.includes('heartbeatEveryMs'),
    );
    assert.throws(
      () => createWorker({ queue: q, handler, concurrency: 0 }),
      (e: unknown) => isSynktiError(e, 'E_WORKER_OPTION') && e.message.includes('concurrency'),
    );
    assert.throws(
      () => createWorker({ queue: q, handler, leaseMs: 'a while' }),
      (e: unknown) => isSynktiError(e, 'E_DURATION'),
    );
  });
});
