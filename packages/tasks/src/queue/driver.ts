/**
 * What a backend implements. `createQueue` (queue.ts) wraps a driver into a `Queue`:
 * it validates options, parses durations, chunks batches, and moves big payloads to the
 * object store, so drivers only store messages whose body may be a payload reference.
 * All durations here are milliseconds, already validated.
 */
import type { QueueStats } from './types.ts';

export interface DriverSendEntry {
  body: string;
  /** Object-store key of the real body (then `body` is empty). */
  ref?: string | undefined;
  delayMs: number;
}

export interface DriverMessage {
  id: string;
  body: string;
  ref?: string | undefined;
  receipt: string;
  receiveCount: number;
  sentAt: number;
  leaseExpiresAt: number;
}

export interface DriverDeadLetter {
  id: string;
  body: string;
  ref?: string | undefined;
  receiveCount: number;
  lastError: string;
  deadLetteredAt: number;
  sentAt: number;
}

export interface DriverReceive {
  maxMessages: number;
  leaseMs: number;
  waitMs: number;
  signal?: AbortSignal | undefined;
}

export interface QueueDriver {
  /**
   * Most entries one `send` takes. A backend that stores a whole batch in one statement
   * (SQL) takes more than SQS's 10, so `sendBatch` of many costs one round trip per this many.
   * @default 10 (QUEUE_LIMITS.maxBatch)
   */
  readonly maxSendEntries?: number | undefined;
  /** At most `maxSendEntries` entries; ids in order. */
  send(entries: DriverSendEntry[]): Promise<string[]>;
  receive(request: DriverReceive): Promise<DriverMessage[]>;
  extend(receipt: string, leaseMs: number): Promise<boolean>;
  /** `ref` of the deleted message, so its payload object can be deleted too. */
  ack(receipt: string): Promise<{ ok: boolean; ref?: string | undefined }>;
  /** Visible again after `delayMs`; dead-lettered instead when this was the last allowed delivery. */
  release(receipt: string, error: string | undefined, delayMs: number): Promise<boolean>;
  deadLetter(receipt: string, error: string): Promise<boolean>;
  deadLetters(limit: number): Promise<DriverDeadLetter[]>;
  redrive(ids: string[] | undefined): Promise<number>;
  /** Refs of the purged messages' payload objects, and how many were purged. */
  purgeDeadLetters(ids: string[] | undefined): Promise<{ count: number; refs: string[] }>;
  stats(): Promise<QueueStats>;
  close(): Promise<void>;
}

/** Longest error text kept with a message (the rest is cut), so a stack trace cannot bloat a row or an SQS attribute. */
export const MAX_ERROR_CHARS = 4096;

export function clipError(error: string): string {
  return error.length <= MAX_ERROR_CHARS ? error : `${error.slice(0, MAX_ERROR_CHARS - 15)}... (truncated)`;
}

// Pieces of the lease-expiry error, shared with the PostgreSQL backend, which builds it in SQL.
export const LEASE_EXPIRED_PREFIX = 'lease expired on delivery ';
export const LEASE_EXPIRED_SUFFIX = ' without an ack (the worker was lost or too slow)';
export const EARLIER_ERROR = '; earlier error: ';

/** The error recorded when the last delivery ended because its lease ran out. */
export function leaseExpiredError(receiveCount: number, earlier?: string | null): string {
  const base = `${LEASE_EXPIRED_PREFIX}${receiveCount}${LEASE_EXPIRED_SUFFIX}`;
  return earlier ? clipError(`${base}${EARLIER_ERROR}${earlier}`) : base;
}

export const RELEASED_WITHOUT_ERROR = 'released without an error on its last allowed delivery';
