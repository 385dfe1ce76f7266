/**
 * runBatchCmaes on an in-memory fleet: two workers in this process on the run's real
 * local queues. One of them dies holding a task of generation 2 (it took the lease and
 * never answers, acks or renews, as a SIGKILLed process would): the task comes back when
 * its lease ends, the surviving worker evaluates it, and the run ends exactly where a run
 * without the loss ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSynktiError } from '@synkti/core';
import { batchResultValue, createEvaluationHandler, parseBatchTask } from '../coordinator/index.ts';
import { createWorker } from '../worker/worker.ts';
import { queueResultSink } from '../worker/queue-result-sink.ts';
import type { BatchResultValue } from '../coordinator/types.ts';
import { openRunQueues } from './backend.ts';
import {
  runBatchCmaes,
  type BatchCmaesFleet,
  type BatchFleetLaunch,
  type BatchSummary,
  type RunBatchCmaesOptions,
} from './run-batch-cmaes.ts';

const sphere = (x: number[]): number => x.reduce((s, v) => s + v * v, 0);
/** The lease the dying worker takes: how long its task stays hidden after it dies. */
const LOST_LEASE_MS = 300;

interface FleetLog {
  /** generation:candidate of every evaluation by the surviving worker, in order. */
  survivor: string[];
  /** The task the lost worker died holding. */
  abandoned?: string;
  launched?: BatchFleetLaunch;
  takenDown: boolean;
  closed: boolean;
}

const keyOf = (body: string): string => {
  const task = parseBatchTask(body);
  return `${task.generation}:${task.candidate}`;
};

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Worker 1 is the library's worker (leases renewed, results, acks); worker 2 is a bare
 * loop over the queue that, with `loseWorker`, stops dead on its first task of generation
 * 2. Worker 1 holds its generation-2 task until then, so worker 2 surely takes one.
 */
function memoryFleet(log: FleetLog, loseWorker: boolean): (launch: BatchFleetLaunch) => Promise<BatchCmaesFleet> {
  return async (launch) => {
    log.launched = launch;
    const { config } = launch;
    const queues = await openRunQueues(
      { backend: config.backend, stateDir: config.stateDir, maxReceives: config.maxReceives ?? 10 },
      launch.run,
    );
    const evaluate = createEvaluationHandler<number[]>({ objective: sphere, run: launch.run });
    const survivor = createWorker<BatchResultValue>({
      queue: queues.tasks,
      handler: async (task) => {
        const key = keyOf(task.body);
        if (loseWorker && key.startsWith('2:'))
          await until('the other worker to take a task of generation 2 and die', () => log.abandoned !== undefined).catch(() => undefined);
        log.survivor.push(key);
        return evaluate(task);
      },
      resultSink: queueResultSink(queues.results),
      concurrency: 1,
      pollWaitMs: 50,
      leaseMs: 5000,
      onError: () => undefined,
    });
    survivor.start();
    let alive = 2;
    let stopped = false;
    const lost = (async () => {
      while (!stopped) {
        const [message] = await queues.tasks.receive({ maxMessages: 1, waitMs: 50, leaseMs: LOST_LEASE_MS });
        if (!message) continue;
        const task = parseBatchTask<number[]>(message.body);
        if (loseWorker && task.generation === 2) {
          // Dead: the lease is never renewed, released or acked.
          log.abandoned = keyOf(message.body);
          alive = 1;
          return;
        }
        const result = {
          taskId: message.id,
          ok: true,
          value: batchResultValue(task, { score: sphere(task.payload) }),
          attempt: message.receiveCount,
          workerId: 'bare',
          finishedAt: Date.now(),
        };
        await queues.results.send(JSON.stringify(result));
        await queues.tasks.ack(message);
      }
    })();
    return {
      alive: () => alive,
      observe: () => Promise.resolve(alive),
      counts: () => Promise.resolve({ launched: 2, replaced: 0, preempted: loseWorker ? 1 : 0 }),
      takeDown: async () => {
        stopped = true;
        await Promise.all([survivor.stop({ release: true }), lost]);
        log.takenDown = true;
      },
      close: () => {
        log.closed = true;
        void queues.close();
      },
    };
  };
}

async function runOnce(
  t: { after(fn: () => void): void },
  loseWorker: boolean,
  extra: Partial<RunBatchCmaesOptions> = {},
): Promise<{ summary: BatchSummary; log: FleetLog; notes: string[] }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'synkti-run-batch-cmaes-'));
  t.after(() => rmSync(stateDir, { recursive: true, force: true }));
  const log: FleetLog = { survivor: [], takenDown: false, closed: false };
  const notes: string[] = [];
  const summary = await runBatchCmaes({
    objective: 'sphere',
    dim: 3,
    generations: 4,
    population: 6,
    seed: 7,
    run: 'lost-worker',
    workers: 2,
    stateDir,
    noticePollMs: 5000,
    resendAfterMs: 300_000,
    unscorable: 'fail',
    launchFleet: memoryFleet(log, loseWorker),
    progress: {
      update: () => undefined,
      done: (text) => {
        if (text) notes.push(text);
      },
    },
    ...extra,
  });
  return { summary, log, notes };
}

test(
  'a worker lost mid-generation: its evaluation runs again elsewhere, nothing is lost, the result equals a run without the loss',
  { timeout: 60_000 },
  async (t) => {
    const clean = await runOnce(t, false);
    const lossy = await runOnce(t, true);

    assert.ok(lossy.log.abandoned, 'the lost worker died holding a task of generation 2');
    const index = lossy.log.survivor.indexOf(lossy.log.abandoned);
    assert.ok(
      index >= 0,
      `the surviving worker evaluated the abandoned task ${lossy.log.abandoned} (it did: ${lossy.log.survivor.join(' ')})`,
    );
    for (const summary of [clean.summary, lossy.summary]) {
      assert.equal(summary.status, 'done');
      assert.equal(summary.generations, 4);
      assert.equal(summary.lost_tasks, 0);
      assert.equal(summary.dead_lettered, 0);
      assert.equal(summary.evaluations, 24);
    }
    const answer = (s: BatchSummary): unknown => ({
      best_f: s.best_f,
      best_x: s.best_x,
      mean: s.mean,
      sigma: s.sigma,
      evaluations: s.evaluations,
    });
    assert.deepEqual(answer(lossy.summary), answer(clean.summary), 'the same seed gives the same answer, loss or not');
    assert.ok(Number.isFinite(clean.summary.best_f) && clean.summary.best_f < sphere([0, 0, 0]) + 10);

    // The fleet was launched with the run's settings, reported, and taken down and closed at the end.
    assert.equal(lossy.log.launched?.workers, 2);
    assert.equal(lossy.log.launched?.config.run, 'lost-worker');
    assert.equal(lossy.summary.workers_preempted, 1);
    assert.ok(lossy.log.takenDown && lossy.log.closed);
    assert.match(
      lossy.notes[0] ?? '',
      /^run lost-worker: starting CMA-ES on sphere \(dim 3, seed 7, 4 generations\) with 2 worker\(s\) on the local backend$/,
    );
  },
);

test(
  'a run aborted after a generation stops with E_INTERRUPTED naming the resume, takes its fleet down, and resumes to the end',
  { timeout: 60_000 },
  async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synkti-run-batch-cmaes-'));
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    const abort = new AbortController();
    const log: FleetLog = { survivor: [], takenDown: false, closed: false };
    const common = { generations: 3, stateDir, workers: 2, noticePollMs: 5000, resendAfterMs: 300_000, unscorable: 'fail' as const };
    await assert.rejects(
      runBatchCmaes({
        ...common,
        objective: 'sphere',
        dim: 2,
        seed: 1,
        run: 'stopped',
        launchFleet: memoryFleet(log, false),
        signal: abort.signal,
        // Ctrl-C once the first generation is checkpointed.
        progress: { update: () => abort.abort(new Error('interrupted (Ctrl-C)')), done: () => undefined },
      }),
      (error: unknown) => isSynktiError(error, 'E_INTERRUPTED') && /--resume stopped/.test((error as { hint?: string }).hint ?? ''),
    );
    assert.ok(log.takenDown && log.closed, 'the fleet is taken down and closed on the way out');

    const resumed = await runBatchCmaes({
      ...common,
      resume: 'stopped',
      launchFleet: memoryFleet({ survivor: [], takenDown: false, closed: false }, false),
    });
    assert.equal(resumed.resumed, true);
    assert.equal(resumed.status, 'done');
    assert.equal(resumed.generations, 3);
    assert.equal(resumed.lost_tasks, 0);
  },
);

test(
  'population auto: λ is fitted to the workers when the run starts and kept when it resumes with another worker count',
  { timeout: 60_000 },
  async (t) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'synkti-run-batch-cmaes-'));
    t.after(() => rmSync(stateDir, { recursive: true, force: true }));
    const fresh = (): FleetLog => ({ survivor: [], takenDown: false, closed: false });
    const common = {
      objective: 'sphere',
      dim: 3,
      seed: 3,
      population: 'auto' as const,
      stateDir,
      noticePollMs: 5000,
      resendAfterMs: 300_000,
      unscorable: 'fail' as const,
    };
    // dim 3: CMA-ES's default λ is 4 + ⌊3 ln 3⌋ = 7; on 2 workers, auto is 8.
    const first = await runBatchCmaes({ ...common, generations: 2, run: 'auto-pop', workers: 2, launchFleet: memoryFleet(fresh(), false) });
    assert.equal(first.evaluations, 2 * 8);
    // On 3 workers auto would be 9: a resume keeps the run's 8, so it ends where an uninterrupted run ends.
    const resumed = await runBatchCmaes({
      ...common,
      objective: undefined,
      dim: undefined,
      seed: undefined,
      generations: 3,
      resume: 'auto-pop',
      workers: 3,
      launchFleet: memoryFleet(fresh(), false),
    });
    assert.equal(resumed.evaluations, 3 * 8);
    const straight = await runBatchCmaes({
      ...common,
      generations: 3,
      population: 8,
      run: 'fixed-pop',
      workers: 2,
      launchFleet: memoryFleet(fresh(), false),
    });
    assert.deepEqual(
      { best_f: resumed.best_f, mean: resumed.mean, sigma: resumed.sigma },
      { best_f: straight.best_f, mean: straight.mean, sigma: straight.sigma },
    );
  },
);
