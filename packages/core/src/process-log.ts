/**
 * The log of a worker process (the batch worker, the pipeline agent): one line per event
 * on stderr. As JSON it has the agent's (pino's) field names, `{"time","level","component",
 * "msg"}` with `time` ISO-8601 UTC and `level` 30 (info), so every Synkti process's JSON
 * log parses the same way and a CloudWatch metric filter matches a field, not text. As
 * text (a terminal): `<ISO time> <component>: <msg>`, the same timestamp. A structured event
 * (@synkti/core/contracts log-events) adds its `event` name and fields to the JSON line.
 */
import type { LogEvent } from './contracts/log-events.ts';

export interface ProcessLogOptions {
  /** Who writes, e.g. "batch worker" or "agent gpu". */
  component: string;
  /** JSON lines instead of text. @default false */
  json?: boolean | undefined;
  /** Where a finished line goes (with its newline). @default process.stderr */
  write?: ((line: string) => void) | undefined;
  /** @default Date.now */
  now?: (() => number) | undefined;
}

/** Writes one line, with a structured event when there is one; what runPreemptible, PipelineAgent and the workers take as `log`. */
export type ProcessLog = (msg: string, event?: LogEvent) => void;

/** pino's number for info. */
const INFO = 30;

export function createProcessLog(options: ProcessLogOptions): ProcessLog {
  const write =
    options.write ??
    ((line: string) => {
      process.stderr.write(line);
    });
  const now = options.now ?? Date.now;
  return (msg, event) => {
    const time = new Date(now()).toISOString();
    // An event's fields follow the fixed ones and cannot replace them (LogEvent has none of those names).
    write(
      options.json
        ? `${JSON.stringify({ time, level: INFO, component: options.component, msg, ...event })}\n`
        : `${time} ${options.component}: ${msg}\n`,
    );
  };
}

/**
 * The one structured logger library modules take: pino's call shape (fields first, then
 * the message), so the agent hands over its pino logger and tests a recorder. A module that
 * needs fewer levels takes a `Pick` of it, never a shape of its own.
 */
export interface StructuredLogger {
  info(fields: object, msg?: string): void;
  warn(fields: object, msg?: string): void;
  error(fields: object, msg?: string): void;
}

/** Drops everything (the default where a logger is optional). */
export const SILENT_LOGGER: StructuredLogger = { info() {}, warn() {}, error() {} };
