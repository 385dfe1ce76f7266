/** `synkti batch status | cancel | dlq list | dlq redrive`: looking after runs from their checkpoints and queues. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SynktiError, TAG_ROLE } from '@synkti/core';
import { listAllInstances } from '@synkti/cloud';
import {
  cancelKeyOf, checkpointKeyOf, parseBatchTask, readCheckpoint, validateRunId, type CoordinatorCheckpoint, type DeadLetter, type QueueStats,
} from '@synkti/tasks';
import { renderTable } from '../output.ts';
import { renderPairs } from './render-pairs.ts';
import { BATCH_BUCKET, batchObjectStore, openRunQueues } from '@synkti/tasks/batch';
import { BATCH_ROLE, openBatchCloud, runInstances } from './batch-fleet.ts';
import type { CmaesRunMeta } from '@synkti/tasks/batch';

type Checkpoint = CoordinatorCheckpoint<unknown, CmaesRunMeta>;

async function loadRun(stateDir: string, run: string): Promise<{ checkpoint: Checkpoint; cancelled: boolean }> {
  validateRunId(run, 'RUN');
  const store = batchObjectStore(stateDir);
  const checkpoint = existsSync(join(stateDir, 'objects')) ? await readCheckpoint<unknown, CmaesRunMeta>(store, BATCH_BUCKET, checkpointKeyOf(run)).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'E_BUCKET_NOT_FOUND') return undefined;
    throw error;
  }) : undefined;
  if (!checkpoint) throw new SynktiError('E_RUN_NOT_FOUND', `no run ${run} in ${stateDir}`, { hint: 'list runs with `synkti batch status` (same --state-dir)' });
  const cancelled = (await store.head(BATCH_BUCKET, cancelKeyOf(run))) !== undefined;
  return { checkpoint, cancelled };
}

async function withQueues<T>(stateDir: string, checkpoint: Checkpoint, fn: (q: Awaited<ReturnType<typeof openRunQueues>>) => Promise<T>): Promise<T> {
  const meta = checkpoint.meta;
  const queues = await openRunQueues({ backend: meta.backend, stateDir, sqsEndpoint: meta.sqsEndpoint, region: meta.region, maxReceives: meta.maxReceives }, checkpoint.run);
  try {
    return await fn(queues);
  } finally {
    await queues.close();
  }
}

async function workersOf(stateDir: string, run: string): Promise<string[]> {
  if (!existsSync(stateDir)) return [];
  const cloud = openBatchCloud(stateDir);
  try {
    return (await runInstances(cloud, run)).map((r) => r.id);
  } finally {
    cloud.close();
  }
}

/** A cancel marker wins over a run that did not finish (its coordinator may be gone and never record it). */
function shownStatus(checkpoint: Checkpoint, cancelled: boolean): string {
  return cancelled && (checkpoint.status === 'running' || checkpoint.status === 'failed') ? 'cancelled' : checkpoint.status;
}

function bestOf(checkpoint: Checkpoint): number | null {
  const scores = checkpoint.history.map((h) => h.bestScore).filter((s) => Number.isFinite(s));
  return scores.length > 0 ? Math.min(...scores) : null;
}

export interface RunStatus {
  run: string;
  status: string;
  generation: number;
  generations: number;
  best_f: number | null;
  objective: string;
  dimension: number;
  seed: number;
  backend: string;
  counters: Checkpoint['counters'];
  lost_tasks: number;
  queue?: QueueStats | undefined;
  results_queue?: QueueStats | undefined;
  workers: string[];
  updated_at: string;
}

export async function batchStatus(stateDir: string, run: string): Promise<RunStatus> {
  const { checkpoint, cancelled } = await loadRun(stateDir, run);
  const [queue, resultsQueue] = await withQueues(stateDir, checkpoint, async (q) => [await q.tasks.stats(), await q.results.stats()]);
  const c = checkpoint.counters;
  return {
    run,
    status: shownStatus(checkpoint, cancelled),
    generation: checkpoint.generation,
    generations: checkpoint.meta.generations,
    best_f: bestOf(checkpoint),
    objective: checkpoint.meta.objective,
    dimension: checkpoint.meta.dimension,
    seed: checkpoint.meta.seed,
    backend: checkpoint.meta.backend,
    counters: c,
    lost_tasks: c.candidates - c.scored - c.scoredWorst,
    queue,
    results_queue: resultsQueue,
    workers: await workersOf(stateDir, run),
    updated_at: new Date(checkpoint.updatedAt).toISOString(),
  };
}

export function renderRunStatus(s: RunStatus): string {
  return renderPairs([
    ['run', s.run], ['status', s.status], ['generation', `${s.generation}/${s.generations}`], ['best f', s.best_f === null ? '-' : s.best_f.toExponential(3)],
    ['objective', `${s.objective} (dim ${s.dimension}, seed ${s.seed})`], ['backend', s.backend],
    ['tasks queued / in flight / dead-lettered', s.queue ? `${s.queue.depth + s.queue.delayed} / ${s.queue.inFlight} / ${s.queue.deadLettered}` : '-'],
    ['sent / accepted / duplicates / stale', `${s.counters.sent} / ${s.counters.accepted} / ${s.counters.duplicatesDropped} / ${s.counters.staleDropped}`],
    ['lost tasks', String(s.lost_tasks)], ['workers', s.workers.length === 0 ? 'none' : s.workers.join(' ')], ['checkpoint saved', s.updated_at],
  ]);
}

export interface RunListing { run: string; status: string; generation: number; generations: number; best_f: number | null; updated_at: string }

export async function listRuns(stateDir: string): Promise<RunListing[]> {
  if (!existsSync(join(stateDir, 'objects'))) return [];
  const store = batchObjectStore(stateDir);
  const out: RunListing[] = [];
  let nextToken: string | undefined;
  do {
    let page;
    try {
      page = await store.list(BATCH_BUCKET, 'runs/', { nextToken });
    } catch (error) {
      if ((error as { code?: string }).code === 'E_BUCKET_NOT_FOUND') return [];
      throw error;
    }
    for (const info of page.items) {
      const match = /^runs\/([^/]+)\/checkpoint\.json$/.exec(info.key);
      if (!match) continue;
      const { checkpoint, cancelled } = await loadRun(stateDir, match[1]!);
      out.push({
        run: checkpoint.run, status: shownStatus(checkpoint, cancelled), generation: checkpoint.generation,
        generations: checkpoint.meta.generations, best_f: bestOf(checkpoint), updated_at: new Date(checkpoint.updatedAt).toISOString(),
      });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

export function renderRunList(runs: RunListing[]): string {
  if (runs.length === 0) return 'no batch runs (start one with `synkti batch cmaes`)';
  return renderTable(['RUN', 'STATUS', 'GENERATION', 'BEST F', 'UPDATED'], runs.map((r) => [
    r.run, r.status, `${r.generation}/${r.generations}`, r.best_f === null ? '-' : r.best_f.toExponential(3), r.updated_at,
  ]));
}

/** Marks the run cancelled (its coordinator stops at its next check) and terminates its workers. */
export async function batchCancel(stateDir: string, run: string): Promise<{ run: string; workersTerminated: number; wasStatus: string }> {
  const { checkpoint } = await loadRun(stateDir, run);
  await batchObjectStore(stateDir).put(BATCH_BUCKET, cancelKeyOf(run), JSON.stringify({ cancelledAt: Date.now() }));
  const workers = await workersOf(stateDir, run);
  if (workers.length > 0) {
    const cloud = openBatchCloud(stateDir);
    try {
      await cloud.instances.terminate(workers);
    } finally {
      cloud.close();
    }
  }
  return { run, workersTerminated: workers.length, wasStatus: checkpoint.status };
}

export interface DeadLetterRow { id: string; generation: number | null; candidate: number | null; deliveries: number; error: string; dead_lettered_at: string }

export async function dlqList(stateDir: string, run: string, limit = 100): Promise<DeadLetterRow[]> {
  const { checkpoint } = await loadRun(stateDir, run);
  const letters: DeadLetter[] = await withQueues(stateDir, checkpoint, (q) => q.tasks.deadLetters({ limit }));
  return letters.map((letter) => {
    let generation: number | null = null;
    let candidate: number | null = null;
    try {
      const task = parseBatchTask(letter.body);
      generation = task.generation;
      candidate = task.candidate;
    } catch {
      // Not a batch task: listed without a key.
    }
    return { id: letter.id, generation, candidate, deliveries: letter.receiveCount, error: letter.lastError, dead_lettered_at: new Date(letter.deadLetteredAt).toISOString() };
  });
}

export function renderDeadLetters(rows: DeadLetterRow[]): string {
  if (rows.length === 0) return 'no dead letters';
  return renderTable(['ID', 'GEN', 'CANDIDATE', 'DELIVERIES', 'ERROR'], rows.map((r) => [
    r.id, r.generation === null ? '-' : String(r.generation), r.candidate === null ? '-' : String(r.candidate), String(r.deliveries), r.error.slice(0, 100),
  ]));
}

export async function dlqRedrive(stateDir: string, run: string, ids: string[] | undefined): Promise<number> {
  const { checkpoint } = await loadRun(stateDir, run);
  return withQueues(stateDir, checkpoint, (q) => q.tasks.redrive(ids && ids.length > 0 ? { ids } : {}));
}

/** A spot interruption notice for one batch worker instance of the local cloud. */
export async function batchPreempt(stateDir: string, id: string, noticeInMs: number): Promise<{ id: string; time: number }> {
  const cloud = openBatchCloud(stateDir);
  try {
    // Every run's fleet has its own cluster tag; the role is the same in all.
    const running = await listAllInstances(cloud.instances, { tags: { [TAG_ROLE]: BATCH_ROLE }, states: ['pending', 'running'] });
    const matches = running.filter((r) => r.id === id || r.id.startsWith(id));
    if (matches.length === 0) throw new SynktiError('E_NOT_FOUND', `no running batch worker ${id} in ${stateDir}`, { hint: 'list a run\'s workers with `synkti batch status RUN`' });
    if (matches.length > 1) throw new SynktiError('E_USAGE', `${id} matches ${matches.length} workers`, { hint: 'give more of the id' });
    const notice = await cloud.instances.preempt(matches[0]!.id, { noticeInMs });
    return { id: matches[0]!.id, time: notice.time };
  } finally {
    cloud.close();
  }
}
