import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'libsql';
import { isSynktiError } from '@synkti/core';
import { openPostgresTaskDatabase, openSqliteTaskDatabase } from './open-task-database.ts';
import type { TaskDatabase } from './types.ts';
import { startOrSkip } from '../../../../scripts/test-services/services.ts';
import { startTestPostgres } from '../../../../scripts/test-services/postgres.ts';
import { openPipelineCounter, pipelineCountsSql } from './pipeline-counts.ts';

const task = (key: string, type = 'p.work', deps: string[] = []) => ({ key, type, deps, maxAttempts: 1 });

/** One job per state, plus open tasks: pending (waiting on a dependency), ready, running. */
async function seed(db: TaskDatabase): Promise<void> {
  const agentId = 'agent-1';
  const claimOne = async (type: string) => (await db.claim({ agentId, types: [type] }))[0]!;
  // done: its only task completed
  await db.createJob({ pipeline: 'p', tasks: [task('a', 'p.done')] });
  const d = await claimOne('p.done');
  assert.equal(await db.complete({ taskId: d.id, claim: d.claim, agentId, result: 1 }), 'done');
  // failed twice: a permanent failure fails the job
  for (let i = 0; i < 2; i++) {
    await db.createJob({ pipeline: 'p', tasks: [task('a', 'p.fail')] });
    const f = await claimOne('p.fail');
    assert.equal(await db.fail({ taskId: f.id, claim: f.claim, agentId, error: 'boom', retryable: false }), 'failed');
  }
  // cancelled
  const c = await db.createJob({ pipeline: 'p', tasks: [task('a', 'p.cancel')] });
  assert.equal(await db.cancelJob(c.id), true);
  // running jobs: one with a running task and a pending one waiting for it, one with 2 ready tasks
  await db.createJob({ pipeline: 'p', tasks: [task('a', 'p.run'), task('b', 'p.run', ['a'])] });
  await claimOne('p.run');
  await db.createJob({ pipeline: 'p', tasks: [task('x', 'p.ready'), task('y', 'p.ready')] });
}

test('pipeline jobs by state from an SQLite task database, with a plan that reads no history', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-dash-pl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pipelines.db');
  const db = await openSqliteTaskDatabase({ path: file });
  t.after(() => db.close());
  await seed(db);

  const counter = await openPipelineCounter(file);
  t.after(() => counter.close());
  const stats = await counter.stats();
  assert.deepEqual(stats, {
    backend: 'sqlite',
    jobs: { running: 2, done: 1, failed: 2, cancelled: 1 },
    tasks: { pending: 1, ready: 2, running: 1 },
    windowMs: 86_400_000,
  });
  // The same numbers the task database's own (full-scan) totals give.
  const totals = await db.totals();
  assert.deepEqual(totals.jobs, { running: 2, done: 1, failed: 2, cancelled: 1 });

  // Finished jobs older than the window are not counted (nor read): a clock a day ahead.
  const later = await openPipelineCounter(`sqlite:${file}`, { clock: () => Date.now() + 2 * 86_400_000 });
  t.after(() => later.close());
  assert.deepEqual((await later.stats()).jobs, { running: 2, done: 0, failed: 0, cancelled: 0 });

  // Every table access is an index search or a scan of a partial index, never of a table.
  const raw = new Database(file, { readonly: true });
  t.after(() => raw.close());
  const plan = (raw.prepare(`EXPLAIN QUERY PLAN ${pipelineCountsSql()}`).all([0, 0, 0]) as { detail: string }[]).map((r) => r.detail);
  const accesses = plan.filter((d) => /^(SCAN|SEARCH) synkti_/.test(d));
  assert.equal(accesses.length, 7, plan.join('\n'));
  for (const d of accesses)
    assert.match(d, /USING (COVERING )?INDEX synkti_pl_(jobs_running|jobs_created|tasks_ready|tasks_running|tasks_pending)\b/, d);
});

test('no database file: a clear error; a database without tables: an error per round, not at open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-dash-pl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(
    openPipelineCounter(join(dir, 'missing.db')),
    (e: unknown) => isSynktiError(e, 'E_TASKDB_OPEN') && /no pipeline task database/.test((e as Error).message),
  );
  const empty = join(dir, 'empty.db');
  new Database(empty).close();
  const counter = await openPipelineCounter(empty);
  t.after(() => counter.close());
  await assert.rejects(counter.stats(), /no such table/);
});

test('the same counts from a PostgreSQL task database', { timeout: 60_000 }, async (t) => {
  const started = await startOrSkip(startTestPostgres);
  if (started.skip !== undefined) {
    t.skip(started.skip);
    return;
  }
  const server = started.service;
  t.after(() => server.stop());
  const db = await openPostgresTaskDatabase({ connectionString: server.url, poolSize: 2 });
  t.after(() => db.close());
  await seed(db);
  const counter = await openPipelineCounter(server.url);
  t.after(() => counter.close());
  assert.deepEqual(await counter.stats(), {
    backend: 'postgres',
    jobs: { running: 2, done: 1, failed: 2, cancelled: 1 },
    tasks: { pending: 1, ready: 2, running: 1 },
    windowMs: 86_400_000,
  });
});
