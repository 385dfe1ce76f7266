/**
 * The records of the batch runs in a local batch state directory, read and changed
 * without their coordinator: each run's checkpoint and cancel marker in the state's
 * object store, and its queues (stats, dead letters, redrive). What `synkti batch status |
 * cancel | dlq` show and do; the run's worker instances are the CLI's (its local cloud).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SynktiError } from '@synkti/core';
import { parseBatchTask, validateRunId } from '../coordinator/batch-task.ts';
import { cancelKeyOf, checkpointKeyOf, readCheckpoint } from '../coordinator/coordinator.ts';
import type { CoordinatorCheckpoint } from '../coordinator/types.ts';
import type { QueueStats } from '../queue/types.ts';
import { BATCH_BUCKET, batchObjectStore, openRunQueues } from './backend.ts';
import type { CmaesRunMeta } from './cmaes-run-settings.ts';

export type BatchRunCheckpoint = CoordinatorCheckpoint<unknown, CmaesRunMeta>;

export interface BatchRunRecord {
  checkpoint: BatchRunCheckpoint;
  /** A cancel marker is stored (`synkti batch cancel`). */
  cancelled: boolean;
}

/** A run's checkpoint and cancel marker; E_RUN_NOT_FOUND when it has no checkpoint here. */
export async function loadBatchRun(stateDir: string, run: string): Promise<BatchRunRecord> {
  validateRunId(run, 'RUN');
  const store = batchObjectStore(stateDir);
  const checkpoint = existsSync(join(stateDir, 'objects'))
    ? await readCheckpoint<unknown, CmaesRunMeta>(store, BATCH_BUCKET, checkpointKeyOf(run)).catch((error: unknown) => {
        if ((error as { code?: string }).code === 'E_BUCKET_NOT_FOUND') return undefined;
        throw error;
      })
    : undefined;
  if (!checkpoint)
    throw new SynktiError('E_RUN_NOT_FOUND', `no run ${run} in ${stateDir}`, {
      hint: 'list runs with `synkti batch status` (same --state-dir)',
    });
  const cancelled = (await store.head(BATCH_BUCKET, cancelKeyOf(run))) !== undefined;
  return { checkpoint, cancelled };
}

/** The status to show: a cancel marker wins over a run that did not finish (its coordinator may be gone and never record it). */
export function batchRunStatus(record: BatchRunRecord): string {
  const { checkpoint, cancelled } = record;
  return cancelled && (checkpoint.status === 'running' || checkpoint.status === 'failed') ? 'cancelled' : checkpoint.status;
}

/** The best score of the generations done; null before the first. */
export function batchRunBest(checkpoint: BatchRunCheckpoint): number | null {
  const scores = checkpoint.history.map((h) => h.bestScore).filter((s) => Number.isFinite(s));
  return scores.length > 0 ? Math.min(...scores) : null;
}

async function withQueues<T>(
  stateDir: string,
  checkpoint: BatchRunCheckpoint,
  fn: (q: Awaited<ReturnType<typeof openRunQueues>>) => Promise<T>,
): Promise<T> {
  const meta = checkpoint.meta;
  const queues = await openRunQueues(
    { backend: meta.backend, stateDir, sqsEndpoint: meta.sqsEndpoint, region: meta.region, maxReceives: meta.maxReceives },
    checkpoint.run,
  );
  try {
    return await fn(queues);
  } finally {
    await queues.close();
  }
}

/** The run's task and result queues now. */
export function batchRunQueueStats(stateDir: string, checkpoint: BatchRunCheckpoint): Promise<[QueueStats, QueueStats]> {
  return withQueues(stateDir, checkpoint, async (q) => [await q.tasks.stats(), await q.results.stats()]);
}

export interface BatchRunListing {
  run: string;
  status: string;
  generation: number;
  generations: number;
  best_f: number | null;
  updated_at: string;
}

/** Every run with a checkpoint in the state directory. */
export async function listBatchRuns(stateDir: string): Promise<BatchRunListing[]> {
  if (!existsSync(join(stateDir, 'objects'))) return [];
  const store = batchObjectStore(stateDir);
  const out: BatchRunListing[] = [];
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
      const record = await loadBatchRun(stateDir, match[1]!);
      const { checkpoint } = record;
      out.push({
        run: checkpoint.run,
        status: batchRunStatus(record),
        generation: checkpoint.generation,
        generations: checkpoint.meta.generations,
        best_f: batchRunBest(checkpoint),
        updated_at: new Date(checkpoint.updatedAt).toISOString(),
      });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  return out;
}

/** Stores the run's cancel marker (its coordinator stops at its next check); resolves with the run's record before it. */
export async function markBatchRunCancelled(stateDir: string, run: string): Promise<BatchRunRecord> {
  const record = await loadBatchRun(stateDir, run);
  await batchObjectStore(stateDir).put(BATCH_BUCKET, cancelKeyOf(run), JSON.stringify({ cancelledAt: Date.now() }));
  return record;
}

export interface BatchDeadLetterRow {
  id: string;
  generation: number | null;
  candidate: number | null;
  deliveries: number;
  error: string;
  dead_lettered_at: string;
}

/** The run's dead-lettered tasks, keyed by generation and candidate where they are batch tasks. */
export async function batchRunDeadLetters(stateDir: string, run: string, limit = 100): Promise<BatchDeadLetterRow[]> {
  const { checkpoint } = await loadBatchRun(stateDir, run);
  const letters = await withQueues(stateDir, checkpoint, (q) => q.tasks.deadLetters({ limit }));
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
    return {
      id: letter.id,
      generation,
      candidate,
      deliveries: letter.receiveCount,
      error: letter.lastError,
      dead_lettered_at: new Date(letter.deadLetteredAt).toISOString(),
    };
  });
}

/** Puts the run's dead letters (those of `ids`, or all) back on its task queue; resolves with how many. */
export async function redriveBatchRun(stateDir: string, run: string, ids: string[] | undefined): Promise<number> {
  const { checkpoint } = await loadBatchRun(stateDir, run);
  return withQueues(stateDir, checkpoint, (q) => q.tasks.redrive(ids && ids.length > 0 ? { ids } : {}));
}
