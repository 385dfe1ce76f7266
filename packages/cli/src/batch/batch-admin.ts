/**
 * `synkti batch status | cancel | preempt | dlq list | dlq redrive`: the runs' records are
 * @synkti/tasks/batch's (batch-runs.ts); here are their worker instances on the batch
 * state's local cloud and the tables.
 */
import { existsSync } from 'node:fs';
import { SynktiError, TAG_ROLE } from '@synkti/core';
import { listAllInstances } from '@synkti/cloud';
import type { QueueStats } from '@synkti/tasks';
import {
  BATCH_ROLE,
  batchRunBest,
  batchRunQueueStats,
  batchRunStatus,
  loadBatchRun,
  markBatchRunCancelled,
  openBatchCloud,
  runInstances,
  type BatchDeadLetterRow,
  type BatchRunCheckpoint,
  type BatchRunListing,
} from '@synkti/tasks/batch';
import { renderTable } from '../output.ts';
import { renderPairs } from './render-pairs.ts';

async function workersOf(stateDir: string, run: string): Promise<string[]> {
  if (!existsSync(stateDir)) return [];
  const cloud = openBatchCloud(stateDir);
  try {
    return (await runInstances(cloud, run)).map((r) => r.id);
  } finally {
    cloud.close();
  }
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
  counters: BatchRunCheckpoint['counters'];
  lost_tasks: number;
  queue?: QueueStats | undefined;
  results_queue?: QueueStats | undefined;
  workers: string[];
  updated_at: string;
}

export async function batchStatus(stateDir: string, run: string): Promise<RunStatus> {
  const record = await loadBatchRun(stateDir, run);
  const { checkpoint } = record;
  const [queue, resultsQueue] = await batchRunQueueStats(stateDir, checkpoint);
  const c = checkpoint.counters;
  return {
    run,
    status: batchRunStatus(record),
    generation: checkpoint.generation,
    generations: checkpoint.meta.generations,
    best_f: batchRunBest(checkpoint),
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
    ['run', s.run],
    ['status', s.status],
    ['generation', `${s.generation}/${s.generations}`],
    ['best f', s.best_f === null ? '-' : s.best_f.toExponential(3)],
    ['objective', `${s.objective} (dim ${s.dimension}, seed ${s.seed})`],
    ['backend', s.backend],
    [
      'tasks queued / in flight / dead-lettered',
      s.queue ? `${s.queue.depth + s.queue.delayed} / ${s.queue.inFlight} / ${s.queue.deadLettered}` : '-',
    ],
    [
      'sent / accepted / duplicates / stale',
      `${s.counters.sent} / ${s.counters.accepted} / ${s.counters.duplicatesDropped} / ${s.counters.staleDropped}`,
    ],
    ['lost tasks', String(s.lost_tasks)],
    ['workers', s.workers.length === 0 ? 'none' : s.workers.join(' ')],
    ['checkpoint saved', s.updated_at],
  ]);
}

export function renderRunList(runs: BatchRunListing[]): string {
  if (runs.length === 0) return 'no batch runs (start one with `synkti batch cmaes`)';
  return renderTable(
    ['RUN', 'STATUS', 'GENERATION', 'BEST F', 'UPDATED'],
    runs.map((r) => [
      r.run,
      r.status,
      `${r.generation}/${r.generations}`,
      r.best_f === null ? '-' : r.best_f.toExponential(3),
      r.updated_at,
    ]),
  );
}

/** Marks the run cancelled (its coordinator stops at its next check) and terminates its workers. */
export async function batchCancel(stateDir: string, run: string): Promise<{ run: string; workersTerminated: number; wasStatus: string }> {
  const { checkpoint } = await markBatchRunCancelled(stateDir, run);
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

export function renderDeadLetters(rows: BatchDeadLetterRow[]): string {
  if (rows.length === 0) return 'no dead letters';
  return renderTable(
    ['ID', 'GEN', 'CANDIDATE', 'DELIVERIES', 'ERROR'],
    rows.map((r) => [
      r.id,
      r.generation === null ? '-' : String(r.generation),
      r.candidate === null ? '-' : String(r.candidate),
      String(r.deliveries),
      r.error.slice(0, 100),
    ]),
  );
}

/** A spot interruption notice for one batch worker instance of the local cloud. */
export async function batchPreempt(stateDir: string, id: string, noticeInMs: number): Promise<{ id: string; time: number }> {
  const cloud = openBatchCloud(stateDir);
  try {
    // Every run's fleet has its own cluster tag; the role is the same in all.
    const running = await listAllInstances(cloud.instances, { tags: { [TAG_ROLE]: BATCH_ROLE }, states: ['pending', 'running'] });
    const matches = running.filter((r) => r.id === id || r.id.startsWith(id));
    if (matches.length === 0)
      throw new SynktiError('E_NOT_FOUND', `no running batch worker ${id} in ${stateDir}`, {
        hint: "list a run's workers with `synkti batch status RUN`",
      });
    if (matches.length > 1) throw new SynktiError('E_USAGE', `${id} matches ${matches.length} workers`, { hint: 'give more of the id' });
    const notice = await cloud.instances.preempt(matches[0]!.id, { noticeInMs });
    return { id: matches[0]!.id, time: notice.time };
  } finally {
    cloud.close();
  }
}
