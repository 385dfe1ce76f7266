import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalObjectStore } from '@synkti/cloud';
import { definePipeline, PermanentTaskError } from './define-pipeline.ts';
import { openSqliteTaskDatabase } from './open-task-database.ts';
import { PipelineAgent } from './pipeline-agent.ts';
import { PipelineRequeuer, REQUEUER_LEASE } from './pipeline-requeuer.ts';
import type { PoolQueueDepth } from './pipeline-queue-metrics.ts';
import type { Json, TaskDatabase } from './types.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function setup(t: { after(fn: () => Promise<void>): void }): Promise<{ dir: string; open: () => Promise<TaskDatabase> }> {
  const dir = await mkdtemp(join(tmpdir(), 'synkti-pl-agent-'));
  const handles: TaskDatabase[] = [];
  t.after(async () => {
    for (const h of handles) await h.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    dir,
    open: async () => {
      const db = await openSqliteTaskDatabase({ path: join(dir, 'tasks.db') });
      handles.push(db);
      return db;
    },
  };
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

/** split (exec) → N hash tasks (gpu) → join (exec); the join's result is big (kept in the object store). */
function hashPipeline(options: { slowHashMs?: number; hashStarted?: () => void } = {}) {
  return definePipeline({
    name: 'wordhash',
    stages: {
      split: {
        pool: 'exec',
        timeout: '1s',
        handler: (ctx) => {
          const words = String(ctx.input).split(' ');
          ctx.spawn(words.map((w, i) => ({ key: `hash-${i}`, stage: 'hash', input: w })));
          ctx.spawn({ key: 'join', stage: 'join', deps: words.map((_, i) => `hash-${i}`) });
          return words.length;
        },
      },
      hash: {
        pool: 'gpu',
        timeout: '1s',
        handler: async (ctx) => {
          options.hashStarted?.();
          if (options.slowHashMs) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, options.slowHashMs);
              ctx.signal.addEventListener(
                'abort',
                () => {
                  clearTimeout(timer);
                  resolve();
                },
                { once: true },
              );
            });
          }
          if (ctx.input === 'poison') throw new PermanentTaskError('cannot hash poison');
          ctx.progress(1);
          return sha(String(ctx.input));
        },
      },
      join: {
        pool: 'exec',
        handler: async (ctx) => {
          const deps = await ctx.deps();
          const hashes = Object.keys(deps)
            .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
            .map((k) => deps[k] as string);
          return { hashes, padding: 'x'.repeat(2000) };
        },
      },
    },
  });
}

describe('pipeline agents', () => {
  it('run a split → fan-out → join pipeline across two pools; a big result goes to the object store by reference', async (t) => {
    const { dir, open } = await setup(t);
    const store = new LocalObjectStore({ root: join(dir, 'store') });
    await store.createBucket('results');
    const pipeline = hashPipeline();
    const db = await open();
    const agents = [
      new PipelineAgent({
        db: await open(),
        pipelines: pipeline,
        pool: 'exec',
        pollMs: 20,
        heartbeatMs: 100,
        store: { store, bucket: 'results' },
        inlineResultBytes: 1000,
      }),
      new PipelineAgent({
        db: await open(),
        pipelines: pipeline,
        pool: 'gpu',
        concurrency: 3,
        pollMs: 20,
        heartbeatMs: 100,
        store: { store, bucket: 'results' },
      }),
    ];
    t.after(async () => {
      for (const a of agents) await a.stop();
    });
    assert.deepEqual(agents[1]!.types, ['wordhash.hash']);
    for (const a of agents) a.start();
    const words = 'the quick brown fox jumps over the lazy dog'.split(' ');
    const { input, tasks } = pipeline.jobTasks(words.join(' '));
    const job = await db.createJob({ pipeline: pipeline.name, input, tasks });
    const done = await until('job done', async () => {
      const j = await db.getJob(job.id);
      return j?.state === 'done' ? j : undefined;
    });
    assert.equal(done.result, null);
    assert.match(done.resultRef ?? '', /^pipelines\/.+\/join\/1\.json$/);
    const body = JSON.parse(Buffer.from((await store.get('results', done.resultRef!))!).toString()) as { hashes: string[] };
    assert.deepEqual(body.hashes, words.map(sha));
    assert.equal((await db.getTasks(job.id)).length, words.length + 2);
    assert.equal(agents[1]!.stats().completed, words.length);
  });

  it('a permanent handler error fails the task and the job at once, with the reason', async (t) => {
    const { open } = await setup(t);
    const pipeline = hashPipeline();
    const db = await open();
    const agents = ['exec', 'gpu'].map(
      (pool) => new PipelineAgent({ db, pipelines: pipeline, pool, pollMs: 20, heartbeatMs: 100, requeuer: false }),
    );
    t.after(async () => {
      for (const a of agents) await a.stop();
    });
    for (const a of agents) a.start();
    const job = await db.createJob({ pipeline: pipeline.name, ...pipeline.jobTasks('ok poison ok') });
    const failed = await until('job failed', async () => {
      const j = await db.getJob(job.id);
      return j?.state === 'failed' ? j : undefined;
    });
    assert.match(failed.error ?? '', /task hash-1 \(wordhash\.hash\) failed after 1 attempt: PermanentTaskError: cannot hash poison/);
  });

  it('releaseAll (spot notice) hands running tasks back at once without using an attempt; another agent finishes them', async (t) => {
    const { open } = await setup(t);
    let started = 0;
    const slow = hashPipeline({
      slowHashMs: 60_000,
      hashStarted: () => {
        started += 1;
      },
    });
    const fast = hashPipeline();
    const db = await open();
    const exec = new PipelineAgent({ db, pipelines: fast, pool: 'exec', pollMs: 20, heartbeatMs: 100 });
    const doomed = new PipelineAgent({
      db: await open(),
      pipelines: slow,
      pool: 'gpu',
      concurrency: 4,
      pollMs: 20,
      heartbeatMs: 100,
      requeuer: false,
    });
    t.after(async () => {
      await exec.stop();
      await doomed.stop();
    });
    exec.start();
    doomed.start();
    const job = await db.createJob({ pipeline: fast.name, ...fast.jobTasks('a b c d') });
    await until('4 hash tasks running on the doomed agent', async () => started === 4);
    assert.equal(await doomed.releaseAll(), 4);
    const hashes = (await db.getTasks(job.id)).filter((x) => x.type === 'wordhash.hash');
    assert.deepEqual(
      hashes.map((h) => [h.state, h.attempts]),
      [
        ['ready', 0],
        ['ready', 0],
        ['ready', 0],
        ['ready', 0],
      ],
    );
    const rescuer = new PipelineAgent({ db: await open(), pipelines: fast, pool: 'gpu', concurrency: 4, pollMs: 20, heartbeatMs: 100 });
    t.after(() => rescuer.stop());
    rescuer.start();
    await until('job done', async () => (await db.getJob(job.id))?.state === 'done');
    assert.equal((await db.counters()).releases, 4);
    assert.equal(doomed.stats().completed, 0);
  });

  it('the requeuer (on by default) brings back the task of an agent that vanished, counting the requeue', async (t) => {
    const { open } = await setup(t);
    const pipeline = hashPipeline();
    const db = await open();
    const job = await db.createJob({ pipeline: pipeline.name, ...pipeline.jobTasks('x y') });
    // A "ghost" agent claims the split and dies without a word.
    const [ghost] = await db.claim({ agentId: 'ghost', types: ['wordhash.split'] });
    assert.ok(ghost);
    const agents = ['exec', 'gpu'].map(
      (pool) =>
        new PipelineAgent({
          db,
          pipelines: pipeline,
          pool,
          pollMs: 20,
          heartbeatMs: 100,
          requeuer: { intervalMs: 100, leaseMs: 500, membershipTtlMs: 500 },
        }),
    );
    t.after(async () => {
      for (const a of agents) await a.stop();
    });
    for (const a of agents) a.start();
    const done = await until(
      'job done',
      async () => {
        const j = await db.getJob(job.id);
        return j?.state === 'done' ? j : undefined;
      },
      45_000,
    ).catch(async (e: unknown) => {
      throw new Error(`${String(e)}; tasks: ${JSON.stringify(await db.getTasks(job.id))}`);
    });
    assert.ok(done);
    const split = await db.getTask(ghost.id);
    assert.equal(split?.attempts, 2);
    assert.equal((await db.counters()).requeues, 1);
    const holders = agents.filter((a) => a.requeuer?.status().holder);
    assert.equal(holders.length, 1, 'exactly one node sweeps');
  });
});

describe('queue metrics', () => {
  it('one node (the requeuer lease holder) publishes ready + claimed per pool, every pool included', async (t) => {
    const { open } = await setup(t);
    const pipeline = hashPipeline({ slowHashMs: 60_000 });
    const db = await open();
    const published: Array<{ agent: string; points: PoolQueueDepth[] }> = [];
    const agents = ['exec', 'gpu'].map(
      (pool) =>
        new PipelineAgent({
          db,
          pipelines: pipeline,
          pool,
          pollMs: 20,
          heartbeatMs: 100,
          concurrency: 2,
          requeuer: { intervalMs: 100, leaseMs: 500, membershipTtlMs: 500 },
          queueMetrics: {
            intervalMs: 100,
            sink: async (points) => {
              published.push({ agent: pool, points });
            },
          },
        }),
    );
    t.after(async () => {
      for (const a of agents) await a.stop({ release: true });
    });
    for (const a of agents) a.start();
    await db.createJob({ pipeline: pipeline.name, ...pipeline.jobTasks('a b c d e') });
    const expected = [
      { pool: 'exec', ready: 0, claimed: 0 },
      { pool: 'gpu', ready: 3, claimed: 2 },
    ];
    await until('a point with 2 hash tasks claimed and 3 ready', async () =>
      published.some((p) => JSON.stringify(p.points) === JSON.stringify(expected)),
    );
    published.length = 0;
    await until('4 more points', async () => published.length >= 4);
    const publishers = new Set(published.map((p) => p.agent));
    assert.equal(publishers.size, 1, 'one publisher');
    const holder = agents.find((a) => a.requeuer?.status().holder);
    assert.deepEqual([...publishers], [holder?.pool]);
  });
});

describe('requeuer leadership', () => {
  it('exactly one of 3 nodes sweeps; when it dies another takes over within the stated bound', async (t) => {
    const { open } = await setup(t);
    const intervalMs = 100;
    const leaseMs = 600;
    const membershipTtlMs = 600;
    const dead = new Set<string>();
    const nodes: PipelineRequeuer[] = [];
    for (const id of ['node-a', 'node-b', 'node-c']) {
      const real = await open();
      // A node "dies" when every database call it makes fails (as a kill -9 or a partition looks from the database).
      const db = new Proxy(real, {
        get(target, prop, receiver) {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (dead.has(id)) return Promise.reject(new Error(`${id} is dead`));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      nodes.push(new PipelineRequeuer({ db, nodeId: id, intervalMs, leaseMs, membershipTtlMs, onError: () => undefined }));
    }
    t.after(async () => {
      for (const n of nodes) await n.stop();
    });
    for (const n of nodes) n.start();
    const db = await open();
    const first = await until('a holder', async () => (await db.leaseHolder(REQUEUER_LEASE))?.holder);
    await sleep(5 * intervalMs);
    assert.deepEqual(
      nodes.filter((n) => n.status().holder).map((n) => n.nodeId),
      [first],
      "one holder, the lease row's",
    );
    const holder = nodes.find((n) => n.nodeId === first)!;
    const sweepsBefore = holder.status().sweeps;
    assert.ok(sweepsBefore > 0);

    const bound = holder.takeoverBoundMs();
    const killedAt = Date.now();
    dead.add(first);
    const next = await until(
      'a new holder',
      async () => nodes.find((n) => n.nodeId !== first && n.status().holder && n.status().sweeps > 0),
      bound + 5_000,
    );
    const takeoverMs = Date.now() - killedAt;
    t.diagnostic(`takeover after the holder died: ${takeoverMs} ms (bound ${bound} ms + a round trip)`);
    assert.notEqual(next.nodeId, first);
    assert.ok(takeoverMs <= bound + 2_000, `took ${takeoverMs} ms, bound ${bound} ms`);
    assert.equal((await db.leaseHolder(REQUEUER_LEASE))?.holder, next.nodeId);
    await sleep(4 * intervalMs);
    assert.equal(nodes.filter((n) => !dead.has(n.nodeId) && n.status().holder).length, 1, 'still exactly one holder');
  });

  it('refuses a lease shorter than its interval', () => {
    assert.throws(() => new PipelineRequeuer({ db: {} as TaskDatabase, intervalMs: 1000, leaseMs: 500 }), /leaseMs \(500\)/);
  });

  it('definePipeline refuses bad names, missing handlers and unknown stages', () => {
    assert.throws(() => definePipeline({ name: 'bad name', stages: { a: { pool: 'p', handler: () => null } } }), /pipeline name/);
    assert.throws(() => definePipeline({ name: 'p', stages: {} }), /no stages/);
    assert.throws(
      () => definePipeline({ name: 'p', stages: { a: { pool: 'p', handler: undefined as unknown as () => Json } } }),
      /no handler/,
    );
    const p = definePipeline({ name: 'p', stages: { a: { pool: 'x', handler: () => null, timeout: '5s', maxAttempts: 7 } } });
    assert.deepEqual(p.jobTasks({ v: 1 }).tasks, [
      { key: 'start', type: 'p.a', input: { v: 1 }, deps: [], priority: 0, maxAttempts: 7, timeoutMs: 5000 },
    ]);
    assert.throws(() => p.toTask({ key: 'k', stage: 'nope' }), /no stage "nope"/);
  });
});
