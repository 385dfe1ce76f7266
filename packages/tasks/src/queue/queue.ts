/**
 * The part of every queue that does not depend on the backend: option checks, SQS's
 * limits, batching, and payloads too big for a message, which go to the object store
 * with a reference in the message (put before the send, fetched on receive, deleted
 * after the ack), so no backend ever carries a body past the limit inline.
 */
import { randomUUID } from 'node:crypto';
import { SynktiError, parseDuration } from '@synkti/core';
import type { DriverMessage, QueueDriver } from './driver.ts';
import { clipError } from './driver.ts';
import {
  QUEUE_LIMITS,
  type DeadLetter,
  type DeadLetterListOptions,
  type DurationInput,
  type LeasedMessage,
  type PayloadStoreOptions,
  type Queue,
  type QueueOptions,
  type QueueStats,
  type ReceiptLike,
  type ReceiveOptions,
  type RedriveOptions,
  type ReleaseOptions,
  type SendEntry,
  type SendOptions,
} from './types.ts';

export const DEFAULT_MAX_RECEIVES = 5;
export const DEFAULT_LEASE_MS = 30_000;
const DEFAULT_DEAD_LETTER_LIMIT = 100;
const DEFAULT_PAYLOAD_PREFIX = 'queue-payloads/';

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

export function validateQueueName(name: string): void {
  if (typeof name !== 'string' || !QUEUE_NAME.test(name)) {
    throw new SynktiError('E_QUEUE_NAME', `queue name ${JSON.stringify(name)} is not valid`, {
      hint: 'use 1 to 80 letters, digits, "-" or "_" (the SQS rule), e.g. "cmaes-tasks"',
    });
  }
}

function optionError(field: string, value: unknown, rule: string): SynktiError {
  return new SynktiError('E_QUEUE_OPTION', `${field}: ${JSON.stringify(value)} ${rule}`, {
    hint: `pass ${field} ${rule.replace(/^must be /, 'as ')}`,
  });
}

/** A duration in ms within [min, max] (inclusive). */
export function durationIn(field: string, value: DurationInput | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const ms = parseDuration(value, field);
  if (ms < min || ms > max) throw optionError(field, value, `must be between ${min} and ${max} ms`);
  return ms;
}

function integerIn(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) throw optionError(field, value, `must be an integer from ${min} to ${max}`);
  return value;
}

export function receiptOf(receipt: ReceiptLike): string {
  const value = typeof receipt === 'string' ? receipt : receipt?.receipt;
  if (typeof value !== 'string' || value === '') {
    throw new SynktiError('E_QUEUE_RECEIPT', 'a receipt must be a non-empty string (or a received message)', {
      hint: 'pass message.receipt from receive()',
    });
  }
  return value;
}

/** Common options after validation, for drivers. */
export interface ResolvedQueueOptions {
  name: string;
  maxReceives: number;
  maxMessageBytes: number;
  payloadStore: PayloadStoreOptions | undefined;
}

export function resolveQueueOptions(options: QueueOptions): ResolvedQueueOptions {
  validateQueueName(options.name);
  return {
    name: options.name,
    maxReceives: integerIn('maxReceives', options.maxReceives, DEFAULT_MAX_RECEIVES, 1, 1000),
    maxMessageBytes: integerIn('maxMessageBytes', options.maxMessageBytes, QUEUE_LIMITS.maxMessageBytes, 1, 1024 * 1024),
    payloadStore: options.payloadStore,
  };
}

class BackedQueue implements Queue {
  readonly name: string;
  readonly maxReceives: number;
  private readonly driver: QueueDriver;
  private readonly maxMessageBytes: number;
  private readonly payloadStore: PayloadStoreOptions | undefined;
  private closed = false;

  constructor(driver: QueueDriver, options: ResolvedQueueOptions) {
    this.driver = driver;
    this.name = options.name;
    this.maxReceives = options.maxReceives;
    this.maxMessageBytes = options.maxMessageBytes;
    this.payloadStore = options.payloadStore;
  }

  async send(body: string, options: SendOptions = {}): Promise<string> {
    const [id] = await this.sendBatch([{ body, delayMs: options.delayMs }]);
    return id!;
  }

  async sendBatch(entries: Array<string | SendEntry>): Promise<string[]> {
    this.assertOpen();
    const prepared = entries.map((entry, index) => {
      const e = typeof entry === 'string' ? { body: entry } : entry;
      if (typeof e?.body !== 'string') {
        throw new SynktiError('E_QUEUE_BODY', `message ${index}: the body must be a string`, {
          hint: 'serialise objects with JSON.stringify first',
        });
      }
      return { body: e.body, delayMs: durationIn('delayMs', e.delayMs, 0, 0, QUEUE_LIMITS.maxDelayMs) };
    });
    const ids: string[] = [];
    const perSend = this.driver.maxSendEntries ?? QUEUE_LIMITS.maxBatch;
    for (let start = 0; start < prepared.length; start += perSend) {
      const chunk = prepared.slice(start, start + perSend);
      const driverEntries = await Promise.all(
        chunk.map(async (e) => {
          const ref = await this.offload(e.body);
          return ref === undefined ? { body: e.body, delayMs: e.delayMs } : { body: '', ref, delayMs: e.delayMs };
        }),
      );
      try {
        ids.push(...(await this.driver.send(driverEntries)));
      } catch (error) {
        // Nothing refers to these objects now.
        await this.deleteRefs(driverEntries.map((e) => e.ref));
        throw error;
      }
    }
    return ids;
  }

  async receive(options: ReceiveOptions = {}): Promise<LeasedMessage[]> {
    this.assertOpen();
    const request = {
      maxMessages: integerIn('maxMessages', options.maxMessages, 1, 1, QUEUE_LIMITS.maxBatch),
      leaseMs: durationIn('leaseMs', options.leaseMs, DEFAULT_LEASE_MS, 1, QUEUE_LIMITS.maxLeaseMs),
      waitMs: durationIn('waitMs', options.waitMs, 0, 0, QUEUE_LIMITS.maxWaitMs),
      signal: options.signal,
    };
    const raw = await this.driver.receive(request);
    const messages: LeasedMessage[] = [];
    for (const message of raw) {
      const body = await this.inflate(message);
      if (body !== undefined) {
        messages.push({
          id: message.id,
          body,
          receipt: message.receipt,
          receiveCount: message.receiveCount,
          sentAt: message.sentAt,
          leaseExpiresAt: message.leaseExpiresAt,
        });
      }
    }
    return messages;
  }

  async extendLease(receipt: ReceiptLike, leaseMs: DurationInput): Promise<boolean> {
    this.assertOpen();
    return this.driver.extend(receiptOf(receipt), durationIn('leaseMs', leaseMs, DEFAULT_LEASE_MS, 0, QUEUE_LIMITS.maxLeaseMs));
  }

  async ack(receipt: ReceiptLike): Promise<boolean> {
    this.assertOpen();
    const result = await this.driver.ack(receiptOf(receipt));
    if (result.ok && result.ref) await this.deleteRefs([result.ref]);
    return result.ok;
  }

  async release(receipt: ReceiptLike, options: ReleaseOptions = {}): Promise<boolean> {
    this.assertOpen();
    const delayMs = durationIn('delayMs', options.delayMs, 0, 0, QUEUE_LIMITS.maxLeaseMs);
    const error = options.error === undefined ? undefined : clipError(String(options.error));
    return this.driver.release(receiptOf(receipt), error, delayMs);
  }

  fail(receipt: ReceiptLike, error: string): Promise<boolean> {
    return this.release(receipt, { error });
  }

  async deadLetter(receipt: ReceiptLike, error: string): Promise<boolean> {
    this.assertOpen();
    return this.driver.deadLetter(receiptOf(receipt), clipError(String(error)));
  }

  async deadLetters(options: DeadLetterListOptions = {}): Promise<DeadLetter[]> {
    this.assertOpen();
    const limit = integerIn('limit', options.limit, DEFAULT_DEAD_LETTER_LIMIT, 1, 10_000);
    const raw = await this.driver.deadLetters(limit);
    const result: DeadLetter[] = [];
    for (const entry of raw) {
      let body = entry.body;
      if (entry.ref) {
        body = (await this.fetchRef(entry.ref)) ?? '';
      }
      result.push({
        id: entry.id,
        body,
        receiveCount: entry.receiveCount,
        lastError: entry.lastError,
        deadLetteredAt: entry.deadLetteredAt,
        sentAt: entry.sentAt,
      });
    }
    return result;
  }

  async redrive(options: RedriveOptions = {}): Promise<number> {
    this.assertOpen();
    return this.driver.redrive(options.ids);
  }

  async purgeDeadLetters(options: RedriveOptions = {}): Promise<number> {
    this.assertOpen();
    const { count, refs } = await this.driver.purgeDeadLetters(options.ids);
    await this.deleteRefs(refs);
    return count;
  }

  async stats(): Promise<QueueStats> {
    this.assertOpen();
    return this.driver.stats();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.driver.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new SynktiError('E_QUEUE_CLOSED', `queue ${this.name} is closed`, { hint: 'open it again' });
  }

  /** Puts a too-big body in the payload store; returns its key, or undefined when it fits inline. */
  private async offload(body: string): Promise<string | undefined> {
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes <= this.maxMessageBytes) return undefined;
    if (!this.payloadStore) {
      throw new SynktiError(
        'E_PAYLOAD_TOO_LARGE',
        `a message body of ${bytes} bytes is over queue ${this.name}'s limit of ${this.maxMessageBytes} bytes`,
        {
          hint: 'give the queue a payloadStore (an object store bucket) so big bodies go there, or send a smaller body',
        },
      );
    }
    const key = `${this.payloadStore.prefix ?? DEFAULT_PAYLOAD_PREFIX}${this.name}/${randomUUID()}`;
    await this.payloadStore.store.put(this.payloadStore.bucket, key, body);
    return key;
  }

  private async fetchRef(ref: string): Promise<string | undefined> {
    if (!this.payloadStore) {
      throw new SynktiError(
        'E_PAYLOAD_STORE',
        `queue ${this.name} received a message whose body is in the object store (${ref}) but has no payloadStore`,
        {
          hint: 'open the queue with the same payloadStore as its senders',
        },
      );
    }
    const bytes = await this.payloadStore.store.get(this.payloadStore.bucket, ref);
    return bytes === undefined ? undefined : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }

  /** The body of a received message, or undefined when its payload object is gone (then the delivery is failed). */
  private async inflate(message: DriverMessage): Promise<string | undefined> {
    if (!message.ref) return message.body;
    const body = await this.fetchRef(message.ref);
    if (body !== undefined) return body;
    // Without its body the task cannot run; failing it sends it to the dead-letter queue in the end, where it can be seen.
    await this.driver.release(message.receipt, `payload object ${message.ref} is missing from bucket ${this.payloadStore?.bucket}`, 0);
    return undefined;
  }

  private async deleteRefs(refs: Array<string | undefined>): Promise<void> {
    if (!this.payloadStore) return;
    for (const ref of refs) {
      if (!ref) continue;
      try {
        await this.payloadStore.store.delete(this.payloadStore.bucket, ref);
      } catch {
        // A leftover payload object is garbage, not a lost task: the message is already gone.
      }
    }
  }
}

export function createQueue(driver: QueueDriver, options: ResolvedQueueOptions): Queue {
  return new BackedQueue(driver, options);
}
