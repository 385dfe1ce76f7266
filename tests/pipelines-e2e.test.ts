/**
 * Pipelines end to end on real processes: agents of 3 pools (exec, gpu, snark) run the
 * example hash pipeline (split → hash×8 → merge → verify: 11 tasks a job) from one SQLite
 * task database and a local object store, while agents are kill -9'd (the requeuer
 * brings their tasks back after the heartbeat timeout) or preempted (SIGTERM: they hand
 * their tasks back at once) and replaced. Every job must finish done, with the result
 * recomputed independently here, and every task done exactly once.
 *
 * CI runs 6 jobs; SYNKTI_PIPELINES_E2E_FULL=1 runs the full 20 jobs.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openTaskDatabase, REQUEUER_LEASE, type TaskDatabase } from '@synkti/tasks';
import { startOrSkip } from '../scripts/test-services/services.ts';
import { startTestPostgres, type TestPostgres } from '../scripts/test-services/postgres.ts';
import { expectedHashResult, hashPipeline, type HashJobInput, type HashJobResult } from '../examples/pipeline-hash.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const FULL = process.env.SYNKTI_PIPELINES_E2E_FULL === '1';
/** "sqlite" (default) or "postgres" (a private server started here). */
const BACKEND = process.env.SYNKTI_PIPELINES_E2E_BACKEND === 'postgres' ? 'postgres' : 'sqlite';
const JOBS = FULL ? 20 : 6;
const TIMEOUT = '1500ms';
/** Chaos events (kill -9 or SIGTERM, then a replacement); 0 measures the run without faults. */
const CHAOS_ROUNDS = Number(process.env.SYNKTI_PIPELINES_E2E_CHAOS ?? 5);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface AgentProc {
  pool: string;
  id: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  ready: boolean;
  paused: boolean;
}

describe(`pipelines end to end (${BACKEND}): ${JOBS} jobs × 11 tasks, 3 pools, agents kill -9'd, preempted and paused`, () => {
  const procs: AgentProc[] = [];
  let dir = '';
  let db: TaskDatabase | undefined;
  let postgres: TestPostgres | undefined;
  after(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await db?.close();
    await postgres?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finishes every job with a verified result; requeues and duplicates are counted', async (t) => {
    dir = await mkdtemp(join(tmpdir(), 'synkti-pl-e2e-'));
    let dbPath = join(dir, 'tasks.db');
    if (BACKEND === 'postgres') {
      const started = await startOrSkip(startTestPostgres);
      if (started.skip !== undefined) {
        t.skip(started.skip);
        return;
      }
      postgres = started.service;
      dbPath = postgres.url;
    }
    const storeDir = join(dir, 'store');
    let serial = 0;
    const startAgent = async (pool: string, concurrency: number): Promise<AgentProc> => {
      const id = `${pool}-${++serial}`;
      const options = {
        pool,
        pipelines: [join(root, 'examples/pipeline-hash.ts')],
        db: dbPath,
        store: storeDir,
        agentId: id,
        concurrency,
        heartbeatMs: 300,
        pollMs: 50,
        requeuerIntervalMs: 250,
        requeuerLeaseMs: 1500,
      };
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(root, 'packages/tasks/src/pipelines/agent-main.ts'), JSON.stringify(options)],
        {
          cwd: root,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, HASH_PIPELINE_TIMEOUT: TIMEOUT, HASH_PIPELINE_WORK_MS: '300' },
        },
      );
      let log = '';
      child.stderr!.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-4000);
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const proc: AgentProc = { pool, id, child, exited, ready: false, paused: false };
      procs.push(proc);
      const ready = await new Promise<boolean>((resolve) => {
        const lines = createInterface({ input: child.stdout! });
        // A bound on "never starts", not a speed check: seven agents compile through tsx at
        // once, which took over 60 s on a 2-core machine with busy loops beside the suite.
        const timer = setTimeout(() => resolve(false), 180_000);
        lines.on('line', (line) => {
          if (line.includes('"event":"ready"')) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        void exited.then(() => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      proc.ready = ready;
      assert.ok(ready, `agent ${id} did not start (exit ${String(child.exitCode)} ${String(child.signalCode)}):\n${log}`);
      return proc;
    };

    const pools: Array<[string, number, number]> = [
      ['exec', 2, 2],
      ['gpu', 3, 2],
      ['snark', 2, 1],
    ];
    await Promise.all(pools.flatMap(([pool, count, concurrency]) => Array.from({ length: count }, () => startAgent(pool, concurrency))));
    db = await openTaskDatabase(dbPath);

    const inputs: HashJobInput[] = Array.from({ length: JOBS }, (_, i) => ({
      size: 8 * 4096 - (i % 3) * 100,
      seed: `e2e-${i}`,
      chunkBytes: 4096,
    }));
    const started = Date.now();
    const ids: string[] = [];
    for (const input of inputs) {
      const { input: validated, tasks } = hashPipeline.jobTasks(input);
      ids.push((await db.createJob({ pipeline: 'hash', input: validated, tasks })).id);
    }

    // Chaos until every job finished: kill -9 an agent holding tasks (or the requeuer's node), or preempt one; replace it at once.
    let kills = 0;
    let preemptions = 0;
    let pauses = 0;
    let killedRequeuerHolder = false;
    const live = (): AgentProc[] => procs.filter((p) => p.ready && !p.paused && p.child.exitCode === null && p.child.signalCode === null);
    const allFinished = async (): Promise<boolean> => {
      for (const id of ids) if ((await db!.getJob(id))?.state === 'running') return false;
      return true;
    };
    // The first victim is the requeuer's node. On a loaded machine the lease may not be
    // taken yet (or just lapsed) when chaos starts: wait, bounded, for a live holder.
    const liveRequeuerHolder = async (): Promise<string | undefined> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const holder = (await db!.leaseHolder(REQUEUER_LEASE))?.holder;
        if ((holder !== undefined && live().some((p) => p.id === holder)) || Date.now() > deadline) return holder;
        await sleep(100);
      }
    };
    const replacements: Array<Promise<AgentProc>> = [];
    for (let round = 0; !(await allFinished()); round += 1) {
      assert.ok(Date.now() - started < 90_000, 'jobs did not finish within 90 s');
      if (round < CHAOS_ROUNDS) {
        const holder = round === 0 ? await liveRequeuerHolder() : (await db.leaseHolder(REQUEUER_LEASE))?.holder;
        let victim: AgentProc | undefined;
        // In CI a victim comes from a pool that keeps another agent (no wait on a replacement's start-up).
        // (A pause is not a loss: the paused agent comes back.)
        const spare = (p: AgentProc): boolean => FULL || round === 4 || live().filter((q) => q.pool === p.pool).length >= 2;
        if (round === 0 && holder) victim = live().find((p) => p.id === holder && spare(p));
        if (!victim) {
          const busy = new Set(
            (await Promise.all(ids.map((id) => db!.getTasks(id))))
              .flat()
              .filter((x) => x.state === 'running')
              .map((x) => x.owner),
          );
          const candidates = live().filter((p) => busy.has(p.id) && spare(p));
          victim = candidates[round % Math.max(1, candidates.length)] ?? live().filter(spare)[0];
        }
        if (victim && round === 4) {
          // A stall, not a death: the agent stops for 2 timeouts, its tasks are requeued, then it wakes up and
          // finishes them late (its result is taken if first, else discarded as a duplicate, and counted).
          const paused = victim;
          paused.paused = true;
          paused.child.kill('SIGSTOP');
          pauses += 1;
          setTimeout(() => {
            paused.child.kill('SIGCONT');
            paused.paused = false;
          }, 3000).unref();
        } else if (victim) {
          const hard = round !== 3;
          if (victim.id === holder) killedRequeuerHolder = true;
          victim.child.kill(hard ? 'SIGKILL' : 'SIGTERM');
          if (hard) kills += 1;
          else preemptions += 1;
          // The fleet replaces a lost instance at once; its agent starts in the background. In CI only a
          // pool left empty is refilled: each start costs seconds of CPU, which would dominate the run.
          const pool = victim.pool;
          if (FULL || live().filter((p) => p.pool === pool && p !== victim).length === 0) {
            replacements.push(victim.exited.then(() => startAgent(pool, pools.find(([p]) => p === pool)![2])));
          }
        }
      }
      await sleep(500);
    }
    const elapsed = Date.now() - started;
    await Promise.all(replacements);

    let verified = 0;
    for (const [i, id] of ids.entries()) {
      const job = await db.getJob(id);
      assert.equal(job?.state, 'done', `job ${i}: ${job?.state} ${job?.error ?? ''}`);
      const result = job.result as unknown as HashJobResult;
      const expected = expectedHashResult(inputs[i]!);
      assert.deepEqual(
        [result.root, result.sha256, result.chunks, result.verified],
        [expected.root, expected.sha256, expected.chunks, true],
      );
      const tasks = await db.getTasks(id);
      assert.equal(tasks.length, expected.chunks + 3, "no task was created twice (a duplicate completion's spawn is discarded)");
      assert.ok(tasks.every((x) => x.state === 'done'));
      verified += 1;
    }
    const counters = await db.counters();
    t.diagnostic(
      `${verified}/${JOBS} jobs verified in ${elapsed} ms; ${kills} kill -9, ${preemptions} preemptions, ${pauses} pauses (requeuer holder killed: ${killedRequeuerHolder}); ` +
        `counters ${JSON.stringify(counters)}`,
    );
    assert.equal(verified, JOBS);
    assert.equal(counters.completions, JOBS * 11 - inputs.reduce((n, x) => n + (8 - expectedHashResult(x).chunks), 0));
    if (CHAOS_ROUNDS >= 5) {
      assert.ok(kills >= 2, "agents were kill -9'd");
      assert.ok(killedRequeuerHolder, "the requeuer's node was among them");
      assert.ok(counters.requeues + counters.releases >= 1, 'tasks of killed or preempted agents came back');
    }
  });
});
