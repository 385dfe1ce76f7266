/**
 * One behaviour suite every task-database backend passes (SQLite and PostgreSQL run it).
 * A backend's test file calls `runTaskDatabaseConformance(name, setup)`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import type { TaskDatabase } from './types.ts';

export interface TaskDatabaseFixture {
  /** Opens a new handle (a new connection) on the database for tables with this prefix. */
  open(tablePrefix: string): Promise<TaskDatabase>;
  /** Runs raw SQL against the database (to simulate a crash between two writes). */
  raw(tablePrefix: string, sql: string): Promise<void>;
  close(): Promise<void>;
}

export type TaskDatabaseSetup = () => Promise<TaskDatabaseFixture | { skip: string }>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function runTaskDatabaseConformance(name: string, setup: TaskDatabaseSetup): void {
  describe(`task database conformance: ${name}`, () => {
    let fixture: TaskDatabaseFixture | undefined;
    let skip: string | undefined;
    let counter = 0;
    const handles: TaskDatabase[] = [];

    before(async () => {
      const made = await setup();
      if ('skip' in made) skip = made.skip;
      else fixture = made;
    });
    after(async () => {
      for (const h of handles) await h.close();
      await fixture?.close();
    });

    /** A fresh set of tables and `n` handles on them. */
    async function fresh(t: { skip(message: string): void }, n = 1): Promise<{ dbs: TaskDatabase[]; prefix: string } | undefined> {
      if (skip !== undefined || !fixture) {
        t.skip(skip ?? 'no fixture');
        return undefined;
      }
      const prefix = `t${process.pid}_${++counter}`;
      const dbs: TaskDatabase[] = [];
      for (let i = 0; i < n; i += 1) {
        const db = await fixture.open(prefix);
        handles.push(db);
        dbs.push(db);
      }
      return { dbs, prefix };
    }

    it('creates a job: tasks without deps are ready, the others pending; bad batches are refused with E_TASK_INVALID', async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      const job = await db.createJob({
        pipeline: 'p',
        owner: 'alice',
        input: { n: 1 },
        tasks: [
          { key: 'a', type: 'p.split', input: 'x' },
          { key: 'b', type: 'p.join', deps: ['a'] },
        ],
      });
      assert.equal(job.state, 'running');
      assert.equal(job.owner, 'alice');
      assert.deepEqual(job.input, { n: 1 });
      assert.equal(job.openTasks, 2);
      const tasks = await db.getTasks(job.id);
      assert.deepEqual(
        tasks.map((x) => [x.key, x.state, x.deps]),
        [
          ['a', 'ready', []],
          ['b', 'pending', ['a']],
        ],
      );
      for (const tasksIn of [
        [
          { key: 'a', type: 't', deps: ['b'] },
          { key: 'b', type: 't', deps: ['a'] },
        ],
        [{ key: 'a', type: 't', deps: ['nope'] }],
        [
          { key: 'a', type: 't' },
          { key: 'a', type: 't' },
        ],
        [{ key: 'bad key!', type: 't' }],
        [{ key: 'a', type: 't', maxAttempts: 0 }],
        [],
      ]) {
        await assert.rejects(
          db.createJob({ pipeline: 'p', tasks: tasksIn }),
          (e) => isSynktiError(e, 'E_TASK_INVALID'),
          JSON.stringify(tasksIn),
        );
      }
      assert.equal((await db.listJobs()).length, 1, 'refused jobs leave nothing behind');
    });

    it('claims only the requested types, reserved before best-effort, then by priority, never one task twice under concurrent claims', async (t) => {
      const f = await fresh(t, 3);
      if (!f) return;
      const [db, db2, db3] = f.dbs as [TaskDatabase, TaskDatabase, TaskDatabase];
      await db.createJob({ pipeline: 'p', tasks: [{ key: 'gpu', type: 'p.gpu' }] });
      const low = await db.createJob({ pipeline: 'p', tasks: [{ key: 'low', type: 'p.cpu' }] });
      const high = await db.createJob({ pipeline: 'p', priority: 5, tasks: [{ key: 'high', type: 'p.cpu' }] });
      const reserved = await db.createJob({ pipeline: 'p', stream: 'reserved', tasks: [{ key: 'res', type: 'p.cpu' }] });
      const claimed = await db.claim({ agentId: 'a1', types: ['p.cpu'], limit: 10 });
      assert.deepEqual(claimed.map((c) => c.jobId).sort(), [low.id, high.id, reserved.id].sort());
      // Order check on single claims.
      const again = await fresh(t);
      if (!again) return;
      const [d] = again.dbs as [TaskDatabase];
      const l = await d.createJob({ pipeline: 'p', tasks: [{ key: 'low', type: 'p.cpu' }] });
      const h = await d.createJob({ pipeline: 'p', priority: 5, tasks: [{ key: 'high', type: 'p.cpu' }] });
      const r = await d.createJob({ pipeline: 'p', stream: 'reserved', tasks: [{ key: 'res', type: 'p.cpu' }] });
      const order: string[] = [];
      for (let i = 0; i < 3; i += 1) order.push((await d.claim({ agentId: 'a', types: ['p.cpu'] }))[0]!.jobId);
      assert.deepEqual(order, [r.id, h.id, l.id]);
      assert.deepEqual(await d.claim({ agentId: 'a', types: ['p.cpu'] }), []);

      // Children spawned by a task of a high-priority reserved job inherit both.
      const parent = await d.createJob({ pipeline: 'p', stream: 'reserved', priority: 7, tasks: [{ key: 'root', type: 'p.root' }] });
      const [rootTask] = await d.claim({ agentId: 'a', types: ['p.root'] });
      await d.complete({ taskId: rootTask!.id, claim: rootTask!.claim, agentId: 'a', spawn: [{ key: 'kid', type: 'p.cpu', priority: 1 }] });
      await d.createJob({ pipeline: 'p', priority: 100, tasks: [{ key: 'be', type: 'p.cpu' }] });
      const [kid] = await d.claim({ agentId: 'a', types: ['p.cpu'] });
      assert.deepEqual(
        [kid?.jobId, kid?.key, kid?.priority],
        [parent.id, 'kid', 8],
        'reserved before a best-effort job of higher priority',
      );

      const many = await db.createJob({ pipeline: 'p', tasks: Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, type: 'p.many' })) });
      const seen: string[] = [];
      await Promise.all(
        [db, db2, db3, db, db2, db3].map(async (h, i) => {
          for (;;) {
            const got = await h.claim({ agentId: `c${i}`, types: ['p.many'], limit: 3 });
            if (got.length === 0) return;
            for (const g of got) {
              assert.equal(g.state, 'running');
              assert.equal(g.attempts, 1);
              seen.push(g.id);
            }
          }
        }),
      );
      assert.equal(seen.length, 60);
      assert.equal(new Set(seen).size, 60, 'no task claimed twice');
      assert.equal(
        (await db.getTasks(many.id)).every((x) => x.state === 'running'),
        true,
      );
      assert.equal((await db.claim({ agentId: 'x', types: ['p.gpu', 'p.none'] })).length, 1);
    });

    it("fan-in: a join becomes ready only when all its deps are done; the job is done with the last task's result", async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      const job = await db.createJob({
        pipeline: 'p',
        tasks: [
          { key: 'x1', type: 'p.w' },
          { key: 'x2', type: 'p.w' },
          { key: 'x3', type: 'p.w' },
          { key: 'join', type: 'p.j', deps: ['x1', 'x2', 'x3'] },
        ],
      });
      const work = await db.claim({ agentId: 'a', types: ['p.w'], limit: 10 });
      assert.equal(work.length, 3);
      for (const [i, w] of work.entries()) {
        assert.deepEqual(await db.claim({ agentId: 'a', types: ['p.j'] }), [], `join not ready after ${i} of 3`);
        assert.equal(await db.complete({ taskId: w.id, claim: w.claim, agentId: 'a', result: { v: i } }), 'done');
      }
      const [join] = await db.claim({ agentId: 'b', types: ['p.j'] });
      assert.ok(join);
      const deps = await db.getResults(job.id, join.deps);
      assert.equal(deps.size, 3);
      assert.equal((await db.getJob(job.id))?.state, 'running');
      assert.equal(await db.complete({ taskId: join.id, claim: join.claim, agentId: 'b', result: 'joined', resultRef: 'ref/1' }), 'done');
      const done = await db.getJob(job.id);
      assert.equal(done?.state, 'done');
      assert.equal(done?.result, 'joined');
      assert.equal(done?.resultRef, 'ref/1');
      assert.equal(done?.openTasks, 0);
      assert.deepEqual(await db.stageCounts(job.id), { 'p.w': { done: 3 }, 'p.j': { done: 1 } });
    });

    it('fan-out: a completing task spawns children and a join over them, atomically with its completion', async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      const job = await db.createJob({ pipeline: 'p', tasks: [{ key: 'split', type: 'p.split' }] });
      const [split] = await db.claim({ agentId: 'a', types: ['p.split'] });
      assert.ok(split);
      const children = Array.from({ length: 5 }, (_, i) => ({ key: `c${i}`, type: 'p.child', input: i }));
      // A bad spawn (cycle) rolls the completion back: the task is still running, nothing was created.
      await assert.rejects(
        db.complete({ taskId: split.id, claim: split.claim, agentId: 'a', spawn: [{ key: 'x', type: 'p.x', deps: ['x'] }] }),
        (e) => isSynktiError(e, 'E_TASK_INVALID'),
      );
      assert.equal((await db.getTask(split.id))?.state, 'running');
      assert.equal(
        await db.complete({
          taskId: split.id,
          claim: split.claim,
          agentId: 'a',
          result: 5,
          spawn: [...children, { key: 'join', type: 'p.join', deps: [...children.map((c) => c.key), 'split'] }],
        }),
        'done',
      );
      assert.equal((await db.getJob(job.id))?.openTasks, 6);
      const got = await db.claim({ agentId: 'a', types: ['p.child'], limit: 10 });
      assert.deepEqual(got.map((g) => g.input).sort(), [0, 1, 2, 3, 4]);
      for (const g of got) await db.complete({ taskId: g.id, claim: g.claim, agentId: 'a', result: Number(g.input) * 2 });
      const [join] = await db.claim({ agentId: 'a', types: ['p.join'] });
      assert.ok(join, 'the join is ready once every child is done');
      await db.complete({ taskId: join.id, claim: join.claim, agentId: 'a', result: 'all' });
      assert.equal((await db.getJob(job.id))?.state, 'done');
    });

    it('a second completion of the same task is discarded and counted; a late result of an earlier claim wins if it is first', async (t) => {
      const f = await fresh(t, 2);
      if (!f) return;
      const [db, db2] = f.dbs as [TaskDatabase, TaskDatabase];
      const job = await db.createJob({
        pipeline: 'p',
        tasks: [
          { key: 'a', type: 'p.a', timeoutMs: 50 },
          { key: 'b', type: 'p.b', deps: ['a'] },
        ],
      });
      const [first] = await db.claim({ agentId: 'lost', types: ['p.a'] });
      assert.ok(first);
      await sleep(150);
      assert.equal((await db.sweep()).requeued, 1);
      const [second] = await db2.claim({ agentId: 'new', types: ['p.a'] });
      assert.ok(second);
      assert.equal(second.claim, first.claim + 1);
      assert.equal(second.attempts, 2);
      // The lost agent finishes after all: its result is taken, and the new holder's is the duplicate.
      assert.equal(
        await db.complete({ taskId: first.id, claim: first.claim, agentId: 'lost', result: 'r', spawn: [{ key: 's', type: 'p.s' }] }),
        'done',
      );
      assert.equal(
        await db2.complete({ taskId: second.id, claim: second.claim, agentId: 'new', result: 'r', spawn: [{ key: 's2', type: 'p.s' }] }),
        'duplicate',
      );
      assert.equal(await db2.complete({ taskId: second.id, claim: second.claim, agentId: 'new', result: 'r' }), 'duplicate');
      assert.equal(await db.complete({ taskId: first.id, claim: 99, agentId: 'x' }), 'gone', 'a claim never made is refused');
      const counters = await db.counters();
      assert.equal(counters.duplicates, 2);
      assert.equal(counters.requeues, 1);
      const tasks = await db.getTasks(job.id);
      assert.deepEqual(tasks.map((x) => x.key).sort(), ['a', 'b', 's'], "the duplicate's spawn was discarded with it");
      assert.equal((await db.getJob(job.id))?.openTasks, 2);
    });

    it('a failing task is retried until maxAttempts, then fails its job with the reason and cancels the rest', async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      const job = await db.createJob({
        pipeline: 'p',
        tasks: [
          { key: 'bad', type: 'p.bad', maxAttempts: 2 },
          { key: 'ok', type: 'p.ok' },
          { key: 'end', type: 'p.end', deps: ['bad', 'ok'] },
        ],
      });
      const [a1] = await db.claim({ agentId: 'a', types: ['p.bad'] });
      assert.ok(a1);
      assert.equal(await db.fail({ taskId: a1.id, claim: a1.claim, agentId: 'other', error: 'x' }), 'stale', 'only the holder can fail it');
      assert.equal(await db.fail({ taskId: a1.id, claim: a1.claim, agentId: 'a', error: 'boom 1' }), 'retry');
      assert.equal((await db.getJob(job.id))?.state, 'running', 'one failure does not fail the job');
      const [a2] = await db.claim({ agentId: 'a', types: ['p.bad'] });
      assert.ok(a2);
      assert.equal(a2.attempts, 2);
      assert.equal(a2.error, 'boom 1');
      assert.equal(await db.fail({ taskId: a2.id, claim: a2.claim, agentId: 'a', error: 'boom 2' }), 'failed');
      const failed = await db.getJob(job.id);
      assert.equal(failed?.state, 'failed');
      assert.match(failed?.error ?? '', /task bad \(p\.bad\) failed after 2 attempts: boom 2/);
      const states = Object.fromEntries((await db.getTasks(job.id)).map((x) => [x.key, x.state]));
      assert.deepEqual(states, { bad: 'failed', ok: 'cancelled', end: 'cancelled' });
      assert.deepEqual(await db.claim({ agentId: 'a', types: ['p.ok'] }), []);
      const c = await db.counters();
      assert.equal(c.retries, 1);
      assert.equal(c.failures, 1);
      // A permanent error fails at once.
      const job2 = await db.createJob({ pipeline: 'p', tasks: [{ key: 'x', type: 'p.perm', maxAttempts: 5 }] });
      const [x] = await db.claim({ agentId: 'a', types: ['p.perm'] });
      assert.equal(await db.fail({ taskId: x!.id, claim: x!.claim, agentId: 'a', error: 'bad input', retryable: false }), 'failed');
      assert.equal((await db.getJob(job2.id))?.state, 'failed');
    });

    it('heartbeats keep a task, report progress, and tell an agent which tasks it lost; release hands a task back without using an attempt', async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      // A generous timeout against 100 ms heartbeats: a loaded machine must not make this flaky.
      const job = await db.createJob({
        pipeline: 'p',
        tasks: [
          { key: 'a', type: 'p.a', timeoutMs: 2000 },
          { key: 'b', type: 'p.a' },
        ],
      });
      const [a, b] = await db.claim({ agentId: 'ag', types: ['p.a'], limit: 2 });
      assert.ok(a && b);
      for (let i = 0; i < 4; i += 1) {
        await sleep(100);
        assert.deepEqual(await db.heartbeat('ag', [{ taskId: a.id, claim: a.claim, progress: 0.25 * i }]), []);
        assert.equal((await db.sweep()).requeued, 0, 'a task with fresh heartbeats is not requeued');
      }
      assert.equal((await db.getTask(a.id))?.progress, 0.75);
      assert.deepEqual(await db.heartbeat('intruder', [{ taskId: a.id, claim: a.claim }]), [a.id]);
      assert.equal(await db.release(b.id, b.claim, 'ag'), true);
      assert.equal(await db.release(b.id, b.claim, 'ag'), false);
      assert.deepEqual(await db.heartbeat('ag', [{ taskId: b.id, claim: b.claim }]), [b.id], 'a released task is lost to its old holder');
      const [b2] = await db.claim({ agentId: 'ag2', types: ['p.a'] });
      assert.equal(b2?.id, b.id);
      assert.equal(b2?.attempts, 1, 'the hand-back did not count as an attempt');
      assert.equal((await db.counters()).releases, 1);
      assert.equal((await db.getJob(job.id))?.state, 'running');
    });

    it('sweep: stale tasks go back to ready with their attempt counted, fail the job after max attempts, and stuck pending tasks are repaired', async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      const job = await db.createJob({ pipeline: 'p', tasks: [{ key: 'a', type: 'p.a', timeoutMs: 50, maxAttempts: 2 }] });
      for (let attempt = 1; attempt <= 2; attempt += 1) {
        const [a] = await db.claim({ agentId: `dead${attempt}`, types: ['p.a'] });
        assert.equal(a?.attempts, attempt);
        await sleep(120);
        const swept = await db.sweep();
        assert.deepEqual([swept.requeued, swept.failed], attempt === 1 ? [1, 0] : [0, 1]);
      }
      const failed = await db.getJob(job.id);
      assert.equal(failed?.state, 'failed');
      assert.match(failed?.error ?? '', /task a \(p\.a\) failed after 2 attempts: no heartbeat for 50 ms on attempt 2 \(agent dead2/);

      // A crash between "dep done" and "dependent ready" (simulated with raw SQL) is repaired.
      const job2 = await db.createJob({
        pipeline: 'p',
        tasks: [
          { key: 'a', type: 'p.r' },
          { key: 'b', type: 'p.r2', deps: ['a'] },
        ],
      });
      const [a] = await db.claim({ agentId: 'x', types: ['p.r'] });
      await db.complete({ taskId: a!.id, claim: a!.claim, agentId: 'x' });
      await fixture!.raw(f.prefix, `UPDATE ${f.prefix}_tasks SET state = 'pending', deps_left = 1 WHERE task_key = 'b'`);
      assert.deepEqual(await db.claim({ agentId: 'x', types: ['p.r2'] }), []);
      assert.equal((await db.sweep()).repaired, 1);
      const [b] = await db.claim({ agentId: 'x', types: ['p.r2'] });
      assert.ok(b);
      await db.complete({ taskId: b.id, claim: b.claim, agentId: 'x', result: 7 });
      assert.equal((await db.getJob(job2.id))?.state, 'done');
      // A job whose tasks are all done but that was left running is finished by the sweep.
      await fixture!.raw(f.prefix, `UPDATE ${f.prefix}_jobs SET state = 'running', open_tasks = 1 WHERE id = '${job2.id}'`);
      assert.equal((await db.sweep()).jobsRepaired, 1);
      assert.deepEqual([(await db.getJob(job2.id))?.state, (await db.getJob(job2.id))?.result], ['done', 7]);
    });

    it('cancel: the job and its unfinished tasks are cancelled; holders lose them; late results are refused', async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      const job = await db.createJob({
        pipeline: 'p',
        tasks: [
          { key: 'a', type: 'p.a' },
          { key: 'b', type: 'p.a' },
          { key: 'c', type: 'p.c', deps: ['a'] },
        ],
      });
      const [a] = await db.claim({ agentId: 'ag', types: ['p.a'] });
      assert.equal(await db.cancelJob(job.id, 'user asked'), true);
      assert.equal(await db.cancelJob(job.id), false);
      const j = await db.getJob(job.id);
      assert.deepEqual([j?.state, j?.error], ['cancelled', 'user asked']);
      assert.deepEqual(await db.heartbeat('ag', [{ taskId: a!.id, claim: a!.claim }]), [a!.id]);
      assert.equal(await db.complete({ taskId: a!.id, claim: a!.claim, agentId: 'ag', result: 1 }), 'gone');
      assert.deepEqual(await db.claim({ agentId: 'ag', types: ['p.a', 'p.c'] }), []);
      assert.deepEqual(await db.stageCounts(job.id), { 'p.a': { cancelled: 2 }, 'p.c': { cancelled: 1 } });
    });

    it('leases: one holder at a time, renewable by it, taken over after expiry; live agents by heartbeat age', async (t) => {
      const f = await fresh(t, 2);
      if (!f) return;
      const [db, db2] = f.dbs as [TaskDatabase, TaskDatabase];
      assert.equal(await db.acquireLease('requeuer', 'n1', 300), true);
      assert.equal(await db2.acquireLease('requeuer', 'n2', 300), false);
      assert.equal(await db.acquireLease('requeuer', 'n1', 300), true, 'renewed');
      assert.equal((await db2.leaseHolder('requeuer'))?.holder, 'n1');
      await sleep(400);
      assert.equal(await db2.leaseHolder('requeuer'), undefined);
      assert.equal(await db2.acquireLease('requeuer', 'n2', 300), true);
      assert.equal(await db.acquireLease('requeuer', 'n1', 300), false);
      await db2.releaseLease('requeuer', 'n2');
      assert.equal(await db.acquireLease('requeuer', 'n1', 300), true);

      await db.agentHeartbeat({ id: 'ag1', pool: 'gpu', types: ['p.prove'] });
      await db.agentHeartbeat({ id: 'ag2', pool: 'exec', types: [] });
      assert.deepEqual(
        (await db2.liveAgents(10_000)).map((a) => [a.id, a.pool, a.types]),
        [
          ['ag1', 'gpu', ['p.prove']],
          ['ag2', 'exec', []],
        ],
      );
      await sleep(250);
      await db.agentHeartbeat({ id: 'ag2', pool: 'exec', types: [] });
      assert.deepEqual(
        (await db2.liveAgents(200)).map((a) => a.id),
        ['ag2'],
      );
      await db.agentLeave('ag2');
      assert.deepEqual(
        (await db2.liveAgents(10_000)).map((a) => a.id),
        ['ag1'],
      );
      assert.ok(Math.abs((await db.now()) - Date.now()) < 5_000, 'the database clock is epoch ms');
    });

    it('lists jobs newest first with filters and a cursor; totals count tasks and jobs by state', async (t) => {
      const f = await fresh(t);
      if (!f) return;
      const [db] = f.dbs as [TaskDatabase];
      const ids: string[] = [];
      for (let i = 0; i < 5; i += 1) {
        ids.push(
          (await db.createJob({ pipeline: i % 2 ? 'odd' : 'even', owner: i < 3 ? 'alice' : 'bob', tasks: [{ key: 'a', type: 'p.a' }] })).id,
        );
        await sleep(3);
      }
      const all = await db.listJobs();
      assert.deepEqual(
        all.map((j) => j.id),
        [...ids].reverse(),
      );
      assert.deepEqual(
        (await db.listJobs({ owner: 'bob' })).map((j) => j.id),
        [ids[4], ids[3]],
      );
      assert.deepEqual(
        (await db.listJobs({ pipeline: 'odd' })).map((j) => j.id),
        [ids[3], ids[1]],
      );
      const page1 = await db.listJobs({ limit: 2 });
      const page2 = await db.listJobs({ limit: 2, before: page1[1]!.id });
      assert.deepEqual(
        [...page1, ...page2].map((j) => j.id),
        [ids[4], ids[3], ids[2], ids[1]],
      );
      await db.cancelJob(ids[0]!);
      assert.deepEqual(
        (await db.listJobs({ state: 'cancelled' })).map((j) => j.id),
        [ids[0]],
      );
      await db.claim({ agentId: 'a', types: ['p.a'] });
      assert.deepEqual(await db.queueDepth(), { 'p.a': { ready: 3, running: 1 } });
      const totals = await db.totals();
      assert.deepEqual(totals.jobs, { running: 4, cancelled: 1 });
      assert.deepEqual(totals.tasks, { ready: 3, running: 1, cancelled: 1 });
    });
  });
}
