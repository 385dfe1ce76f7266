/**
 * The worker side of a batch run: a TaskHandler (for createWorker) that scores a batch
 * task's payload with an objective and answers with a result keyed like the task, so the
 * coordinator can tell it from duplicates and stale results.
 */
import { SynktiError } from '@synkti/core';
import type { TaskHandler } from '../worker/types.ts';
import { batchResultValue, parseBatchTask } from './batch-task.ts';
import type { BatchResultValue } from './types.ts';

/** Scores one candidate (lower is better). May be async; gets an AbortSignal when the task is handed back. */
export type BatchObjective<P = number[]> = (payload: P, signal: AbortSignal) => number | Promise<number>;

export interface EvaluationHandlerOptions<P> {
  objective: BatchObjective<P>;
  /**
   * Only tasks of this run are evaluated; another run's task is answered with an error
   * result (so the queue does not retry it forever).
   * @default any run
   */
  run?: string | undefined;
}

/**
 * A thrown error in the objective is a crash (retried, then dead-lettered); a result that
 * is not a finite number is a failed evaluation, sent as such (retrying would not change it).
 */
export function createEvaluationHandler<P = number[]>(options: EvaluationHandlerOptions<P>): TaskHandler<BatchResultValue> {
  if (typeof options.objective !== 'function') {
    throw new SynktiError('E_BATCH_OBJECTIVE', 'objective: a function is required', { hint: 'pass (x) => number' });
  }
  return async (task) => {
    const parsed = parseBatchTask<P>(task.body);
    if (options.run !== undefined && parsed.run !== options.run) {
      return { ok: true, value: batchResultValue(parsed, { error: `this worker serves run ${options.run}, not ${parsed.run}` }) };
    }
    const score = await options.objective(parsed.payload, task.signal);
    if (typeof score !== 'number' || !Number.isFinite(score)) {
      return {
        ok: true,
        value: batchResultValue(parsed, {
          error: `the objective returned ${typeof score === 'number' ? String(score) : typeof score} instead of a finite number`,
        }),
      };
    }
    return { ok: true, value: batchResultValue(parsed, { score }) };
  };
}
