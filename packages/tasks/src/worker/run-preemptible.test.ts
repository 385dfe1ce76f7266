import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InstanceMetadata, InterruptionNotice } from '@synkti/cloud';
import { openLocalQueue } from '../queue/local-queue.ts';
import { runPreemptible, type PreemptibleWorker } from './run-preemptible.ts';
import { createWorker } from './worker.ts';

async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await sleep(10);
  }
}

/** Instance metadata whose notice the test sets. */
function fakeMetadata(): InstanceMetadata & { notice: InterruptionNotice | null } {
  const m = {
    notice: null as InterruptionNotice | null,
    identity: async () => ({
      instanceId: 'i-1',
      instanceType: 't3.micro',
      region: 'us-east-1',
      zone: 'us-east-1a',
      privateIp: '127.0.0.1',
    }),
    tags: async () => ({}),
    userData: async () => undefined,
    interruptionNotice: async () => m.notice,
    rebalanceRecommendation: async () => null,
  };
  return m as unknown as InstanceMetadata & { notice: InterruptionNotice | null };
}

/** Records the calls runPreemptible makes, in order. */
function recordingWorker(behaviour: { stopThrows?: boolean } = {}): PreemptibleWorker & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    start: () => {
      calls.push('start');
    },
    stop: async (options) => {
      calls.push(`stop(release=${options?.release === true})`);
      if (behaviour.stopThrows) throw new Error('database gone');
    },
    releaseAll: async () => {
      calls.push('releaseAll');
      return 3;
    },
  };
}

describe('runPreemptible', () => {
  it('SIGTERM hands work back, stops once, exits 0 and removes its handlers', async () => {
    const proc = new EventEmitter();
    const worker = recordingWorker();
    const lines: string[] = [];
    const run = runPreemptible(worker, { process: proc, metadata: null, log: (l) => lines.push(l) });
    assert.equal(proc.listenerCount('SIGTERM'), 1);
    assert.equal(proc.listenerCount('SIGINT'), 1);
    proc.emit('SIGTERM');
    proc.emit('SIGINT'); // a second signal during the stop must not stop twice
    const outcome = await run;
    assert.deepEqual(outcome, { cause: 'signal', signal: 'SIGTERM', released: 0, code: 0 });
    assert.deepEqual(worker.calls, ['start', 'stop(release=true)']);
    assert.equal(proc.listenerCount('SIGTERM'), 0);
    assert.equal(proc.listenerCount('SIGINT'), 0);
    assert.match(lines.join('\n'), /SIGTERM: handing tasks back/);
  });

  it('an abort signal stops like SIGTERM; an already aborted one never starts the worker', async () => {
    const controller = new AbortController();
    const worker = recordingWorker();
    const run = runPreemptible(worker, { process: new EventEmitter(), metadata: null, signal: controller.signal });
    controller.abort();
    assert.deepEqual(await run, { cause: 'abort', released: 0, code: 0 });
    assert.deepEqual(worker.calls, ['start', 'stop(release=true)']);

    const never = recordingWorker();
    const outcome = await runPreemptible(never, { process: new EventEmitter(), metadata: null, signal: AbortSignal.abort() });
    assert.equal(outcome.cause, 'abort');
    assert.deepEqual(never.calls, ['stop(release=true)']);
  });

  it('a worker whose stop throws exits 1', async () => {
    const proc = new EventEmitter();
    const run = runPreemptible(recordingWorker({ stopThrows: true }), { process: proc, metadata: null });
    proc.emit('SIGTERM');
    assert.equal((await run).code, 1);
  });

  it('a spot notice releases the leases before stopping; a peer finishes the handed-back task well before the lease would have run out', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-preemptible-'));
    const path = join(dir, 'queues.db');
    const queue = await openLocalQueue({ path, name: 'jobs', pollIntervalMs: 20 });
    const peerQueue = await openLocalQueue({ path, name: 'jobs', pollIntervalMs: 20 });
    let started = 0;
    // The doomed worker's handler never finishes on its own: only the hand-back ends it.
    const doomed = createWorker({
      queue,
      leaseMs: 60_000,
      pollWaitMs: 200,
      onError: () => undefined,
      handler: async (task) => {
        started++;
        await new Promise((resolve) => task.signal.addEventListener('abort', resolve, { once: true }));
        throw task.signal.reason;
      },
    });
    const done: string[] = [];
    const peer = createWorker({
      queue: peerQueue,
      leaseMs: 60_000,
      pollWaitMs: 200,
      onError: () => undefined,
      handler: async (task) => {
        done.push(task.body);
        return { ok: true };
      },
    });
    t.after(async () => {
      await doomed.stop({ release: true });
      await peer.stop({ release: true });
      await queue.close();
      await peerQueue.close();
      await rm(dir, { recursive: true, force: true });
    });
    const metadata = fakeMetadata();
    const proc = new EventEmitter();
    await queue.send('task-1');
    const run = runPreemptible(doomed, { process: proc, metadata, noticePollMs: 20 });
    await waitFor('the doomed worker to hold the task', () => started === 1);
    peer.start();
    const noticedAt = Date.now();
    metadata.notice = { action: 'terminate', time: Date.now() + 120_000 };
    const outcome = await run;
    assert.equal(outcome.cause, 'notice');
    assert.equal(outcome.released, 1);
    assert.equal(outcome.code, 0);
    assert.equal(proc.listenerCount('SIGTERM'), 0);
    await waitFor('the peer to finish the handed-back task', () => done.length === 1);
    assert.deepEqual(done, ['task-1']);
    // Handed back, not left to its 60 s lease.
    assert.ok(Date.now() - noticedAt < 30_000);
    assert.equal(doomed.stats().completed, 0);
  });
});
