/**
 * Wire format of batch tasks and results. The digest ties a result to the exact payload
 * it scored: a resumed run re-sends the same candidates (the optimizer is deterministic),
 * so a result from before the crash is still good; one for another payload is stale.
 */
import { createHash } from 'node:crypto';
import { SynktiError } from '@synkti/core';
import type { BatchResultValue, BatchTask, BatchTaskKey } from './types.ts';

const RUN_ID = /^[A-Za-z0-9_-]{1,40}$/;

export function validateRunId(run: string, field = 'run'): string {
  if (typeof run !== 'string' || !RUN_ID.test(run)) {
    throw new SynktiError('E_BATCH_RUN_ID', `${field}: ${JSON.stringify(run)} is not a run id`, {
      hint: 'use 1 to 40 letters, digits, "-" or "_"',
    });
  }
  return run;
}

/** 16 hex characters of SHA-256 over the payload's JSON (JSON round-trips doubles exactly). */
export function candidateDigest(payload: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(payload) ?? 'undefined')
    .digest('hex')
    .slice(0, 16);
}

export function encodeBatchTask<P>(key: Omit<BatchTaskKey, 'digest'>, payload: P): { body: string; digest: string } {
  const digest = candidateDigest(payload);
  const task: BatchTask<P> = { kind: 'synkti.batch.task', ...key, digest, payload };
  return { body: JSON.stringify(task), digest };
}

function isKey(value: unknown): value is BatchTaskKey {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.run === 'string' && Number.isInteger(v.generation) && Number.isInteger(v.candidate) && typeof v.digest === 'string';
}

/** Parses a task body; throws E_BATCH_TASK for anything else. */
export function parseBatchTask<P = unknown>(body: string): BatchTask<P> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (cause) {
    throw new SynktiError('E_BATCH_TASK', 'the task body is not JSON', { cause, hint: 'batch tasks are sent by the batch coordinator' });
  }
  if (!isKey(value) || (value as { kind?: unknown }).kind !== 'synkti.batch.task' || !('payload' in value)) {
    throw new SynktiError('E_BATCH_TASK', 'the task body is not a batch task', { hint: 'batch tasks are sent by the batch coordinator' });
  }
  return value as BatchTask<P>;
}

/** The key part of a result value, or undefined when it is not one. */
export function parseBatchResultValue(value: unknown): BatchResultValue | undefined {
  if (!isKey(value) || (value as { kind?: unknown }).kind !== 'synkti.batch.result') return undefined;
  const v = value as BatchResultValue;
  if (v.score !== undefined && typeof v.score !== 'number') return undefined;
  if (v.error !== undefined && typeof v.error !== 'string') return undefined;
  return v;
}

export function batchResultValue(task: BatchTaskKey, outcome: { score: number } | { error: string }): BatchResultValue {
  const key = { run: task.run, generation: task.generation, candidate: task.candidate, digest: task.digest };
  return 'score' in outcome
    ? { kind: 'synkti.batch.result', ...key, score: outcome.score }
    : { kind: 'synkti.batch.result', ...key, error: outcome.error };
}
