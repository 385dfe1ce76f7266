/**
 * Checks on what goes into the task database, shared by both backends (and the API, which
 * turns the SynktiError into a 400): keys, types, limits, and that a batch of new tasks
 * only depends on tasks that exist or come in the same batch, without a cycle.
 */
import { SynktiError } from '@synkti/core';
import type { NewPipelineTask } from './types.ts';

export const TASK_KEY_PATTERN = /^[A-Za-z0-9._:/-]{1,200}$/;
export const TASK_TYPE_PATTERN = /^[A-Za-z0-9._:-]{1,200}$/;
export const PIPELINE_LIMITS = {
  /** Tasks in one createJob or one completion's spawn. */
  maxTasksPerBatch: 10_000,
  maxDepsPerTask: 10_000,
  maxAttempts: 100,
  maxTimeoutMs: 12 * 3_600_000,
  maxPriority: 1_000_000,
  /** Longest error text kept with a task or job. */
  maxErrorChars: 4096,
} as const;

export const DEFAULT_TASK_MAX_ATTEMPTS = 3;
export const DEFAULT_TASK_TIMEOUT_MS = 30_000;

export function clipPipelineError(error: string): string {
  const max = PIPELINE_LIMITS.maxErrorChars;
  return error.length <= max ? error : `${error.slice(0, max - 15)}... (truncated)`;
}

function invalid(message: string, hint: string): SynktiError {
  return new SynktiError('E_TASK_INVALID', message, { hint });
}

function checkInteger(value: unknown, field: string, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`${field}: ${String(value)} must be a whole number from ${min} to ${max}`, `fix ${field}`);
  }
}

export interface ResolvedNewTask {
  key: string;
  type: string;
  input: string;
  deps: string[];
  priority: number;
  maxAttempts: number;
  timeoutMs: number;
}

/**
 * Validates a batch; `existing` are the job's task keys already stored. Returns the tasks
 * with defaults applied and inputs serialised.
 */
export function validateNewTasks(tasks: readonly NewPipelineTask[], existing: ReadonlySet<string>): ResolvedNewTask[] {
  if (!Array.isArray(tasks)) throw invalid('tasks must be an array', 'pass tasks: [{ key, type }]');
  if (tasks.length > PIPELINE_LIMITS.maxTasksPerBatch) {
    throw invalid(
      `${tasks.length} tasks in one batch: at most ${PIPELINE_LIMITS.maxTasksPerBatch}`,
      'split the work into fewer, bigger tasks',
    );
  }
  const keys = new Set<string>();
  const resolved = tasks.map((task, i): ResolvedNewTask => {
    const where = `tasks[${i}]`;
    if (typeof task !== 'object' || task === null) throw invalid(`${where} must be an object`, 'give { key, type }');
    if (typeof task.key !== 'string' || !TASK_KEY_PATTERN.test(task.key)) {
      throw invalid(`${where}.key: ${JSON.stringify(task.key)} must be 1..200 letters, digits or ._:/-`, 'name the task, e.g. "chunk-3"');
    }
    if (keys.has(task.key) || existing.has(task.key))
      throw invalid(`${where}.key: "${task.key}" is already a task of this job`, 'give every task of a job its own key');
    keys.add(task.key);
    if (typeof task.type !== 'string' || !TASK_TYPE_PATTERN.test(task.type)) {
      throw invalid(`${where}.type: ${JSON.stringify(task.type)} must be 1..200 letters, digits or ._:-`, 'use "<pipeline>.<stage>"');
    }
    const deps = task.deps ?? [];
    if (!Array.isArray(deps) || deps.length > PIPELINE_LIMITS.maxDepsPerTask || deps.some((d) => typeof d !== 'string')) {
      throw invalid(
        `${where}.deps must be an array of at most ${PIPELINE_LIMITS.maxDepsPerTask} task keys`,
        'list the keys this task waits for',
      );
    }
    const priority = task.priority ?? 0;
    checkInteger(priority, `${where}.priority`, -PIPELINE_LIMITS.maxPriority, PIPELINE_LIMITS.maxPriority);
    const maxAttempts = task.maxAttempts ?? DEFAULT_TASK_MAX_ATTEMPTS;
    checkInteger(maxAttempts, `${where}.maxAttempts`, 1, PIPELINE_LIMITS.maxAttempts);
    const timeoutMs = task.timeoutMs ?? DEFAULT_TASK_TIMEOUT_MS;
    checkInteger(timeoutMs, `${where}.timeoutMs`, 1, PIPELINE_LIMITS.maxTimeoutMs);
    let input: string;
    try {
      input = JSON.stringify(task.input ?? null);
    } catch (cause) {
      throw new SynktiError('E_TASK_INVALID', `${where}.input is not JSON-serialisable`, {
        cause,
        hint: 'pass plain data; put big or binary data in the object store and pass its key',
      });
    }
    return { key: task.key, type: task.type, input, deps: [...new Set(deps)], priority, maxAttempts, timeoutMs };
  });
  for (const [i, task] of resolved.entries()) {
    for (const dep of task.deps) {
      if (dep === task.key) throw invalid(`tasks[${i}] ("${task.key}") depends on itself`, 'remove it from its own deps');
      if (!keys.has(dep) && !existing.has(dep))
        throw invalid(
          `tasks[${i}] ("${task.key}") depends on "${dep}", which is not a task of this job`,
          'create the dependency in the same batch or before',
        );
    }
  }
  // Only deps inside the batch can form a cycle (stored tasks never wait for new ones).
  const byKey = new Map(resolved.map((t) => [t.key, t]));
  const mark = new Map<string, 1 | 2>();
  const visit = (key: string): void => {
    const state = mark.get(key);
    if (state === 2) return;
    if (state === 1) throw invalid(`tasks form a dependency cycle through "${key}"`, 'dependencies must form a DAG');
    mark.set(key, 1);
    for (const dep of byKey.get(key)?.deps ?? []) if (byKey.has(dep)) visit(dep);
    mark.set(key, 2);
  };
  for (const task of resolved) visit(task.key);
  return resolved;
}
