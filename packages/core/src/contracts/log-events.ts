/**
 * Structured log events: what a process's JSON log line carries in `event` (with its
 * fields) so an alarm matches a field, not a piece of text. The pipeline agent prints
 * these through the worker-process log (@synkti/core/process-log); PipelineCluster's
 * CloudWatch metric filters match them with `{ $.event = "<name>" }` patterns built by
 * `logEventFilterPattern`, so renaming an event here renames it on both sides.
 */

/** Event names of the pipeline agent's log (the `event` field of its JSON lines). */
export const PIPELINE_LOG_EVENTS = {
  /** A task's handler threw; `outcome` says what the task database did with it. */
  taskAttemptFailed: 'pipeline.task.attempt_failed',
  /** Claiming tasks failed (the task database is unreachable or failing). */
  claimFailed: 'pipeline.claim.failed',
  /** The agent's heartbeat (membership and leases) failed. */
  heartbeatFailed: 'pipeline.heartbeat.failed',
} as const;

export type PipelineLogEventName = (typeof PIPELINE_LOG_EVENTS)[keyof typeof PIPELINE_LOG_EVENTS];

/** What the task database did with a failed attempt: retry later, failed for good, or the claim was no longer ours. */
export type TaskAttemptOutcome = 'retry' | 'failed' | 'stale';

/** The fields of each event, beside `event` itself. */
export interface PipelineLogEventFields {
  'pipeline.task.attempt_failed': { task: string; type: string; attempt: number; outcome: TaskAttemptOutcome; error: string };
  'pipeline.claim.failed': { error: string };
  'pipeline.heartbeat.failed': { error: string };
}

/** One structured event as a log writer takes it. */
export type LogEvent = { [E in PipelineLogEventName]: { event: E } & PipelineLogEventFields[E] }[PipelineLogEventName];

/** Field values a filter may compare with `=`: strings (quoted) and numbers. */
type FilterValue = string | number;

/**
 * The CloudWatch Logs JSON filter pattern of an event, optionally narrowed by fields:
 * `{ ($.event = "pipeline.task.attempt_failed") && ($.outcome = "failed") }`.
 * Values are plain identifiers or numbers (checked): nothing needs escaping.
 */
export function logEventFilterPattern<E extends PipelineLogEventName>(
  event: E,
  where: Partial<Record<keyof PipelineLogEventFields[E], FilterValue>> = {},
): string {
  const terms: Array<[string, FilterValue]> = [['event', event], ...(Object.entries(where) as Array<[string, FilterValue]>)];
  for (const [field, value] of terms) {
    if (!/^[a-zA-Z][a-zA-Z0-9_]*$/.test(field)) throw new Error(`log filter field "${field}" is not a plain name`);
    if (typeof value === 'string' && !/^[a-zA-Z0-9_.:-]*$/.test(value)) throw new Error(`log filter value "${value}" would need escaping`);
  }
  const clause = ([field, value]: [string, FilterValue]): string =>
    `$.${field} = ${typeof value === 'number' ? String(value) : `"${value}"`}`;
  return terms.length === 1 ? `{ ${clause(terms[0] as [string, FilterValue])} }` : `{ ${terms.map((t) => `(${clause(t)})`).join(' && ')} }`;
}
