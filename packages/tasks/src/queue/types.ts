/**
 * A task queue with SQS semantics, whatever the backend (local SQLite, PostgreSQL, SQS):
 * at-least-once delivery under a lease (SQS's visibility timeout), explicit ack, lease
 * expiry → redelivery, dead-lettering after `maxReceives` deliveries with the last error,
 * and payloads too big for a message kept in the object store (invariant 6).
 */
import type { ObjectStore } from '@synkti/cloud';

/** Milliseconds, or text such as "30 seconds" / "5s" (parsed with `parseDuration`). */
export type DurationInput = number | string;

/** A receipt string, or the received message itself. */
export type ReceiptLike = string | { readonly receipt: string };

/** SQS's limits, which every backend enforces so code moves between backends unchanged. */
export const QUEUE_LIMITS = {
  /** Messages per sendBatch call to the backend, and per receive. */
  maxBatch: 10,
  /** Longest long poll. */
  maxWaitMs: 20_000,
  /** Longest lease (visibility timeout): 12 hours. */
  maxLeaseMs: 12 * 3_600_000,
  /** Longest delivery delay: 15 minutes. */
  maxDelayMs: 15 * 60_000,
  /** Default largest body kept inline in a message: 256 KiB. */
  maxMessageBytes: 256 * 1024,
} as const;

export interface SendOptions {
  /**
   * The message becomes visible only after this delay (≤ 15 minutes).
   * @default 0
   */
  delayMs?: DurationInput | undefined;
}

export interface SendEntry extends SendOptions {
  body: string;
}

export interface ReceiveOptions {
  /**
   * Most messages to lease at once (1..10).
   * @default 1
   */
  maxMessages?: number | undefined;
  /**
   * Lease (visibility timeout): the messages stay hidden from other consumers this long
   * unless acked, released or extended. SQS counts whole seconds (rounded up).
   * @default 30000
   */
  leaseMs?: DurationInput | undefined;
  /**
   * Long poll: wait up to this long (≤ 20 s) for a message when none is visible; returns
   * as soon as one arrives. SQS counts whole seconds (rounded up).
   * @default 0
   */
  waitMs?: DurationInput | undefined;
  /** Aborting ends a long poll early with whatever was received (usually nothing). */
  signal?: AbortSignal | undefined;
}

/** A message under lease: only the holder of `receipt` can ack, extend or release it. */
export interface LeasedMessage {
  /** Stable message id (an SQS MessageId on SQS). */
  id: string;
  /** The body as sent (fetched from the object store when it was sent there). */
  body: string;
  /** Token of this delivery; a later delivery of the same message gets another one. */
  receipt: string;
  /** Deliveries so far, this one included (1 on the first delivery). */
  receiveCount: number;
  /** Epoch ms of the send. */
  sentAt: number;
  /** Epoch ms when the lease ends unless extended (this process's estimate). */
  leaseExpiresAt: number;
}

export interface ReleaseOptions {
  /** Why the delivery failed: kept as the message's last error (reported when it is dead-lettered). */
  error?: string | undefined;
  /**
   * Visible again after this delay instead of at once (≤ 12 hours).
   * @default 0
   */
  delayMs?: DurationInput | undefined;
}

/** A message that was delivered `receiveCount` times without an ack, and why it failed last. */
export interface DeadLetter {
  id: string;
  body: string;
  receiveCount: number;
  lastError: string;
  /** Epoch ms of the move to the dead-letter queue (0 when the backend does not know it). */
  deadLetteredAt: number;
  /** Epoch ms of the original send (0 when the backend does not know it). */
  sentAt: number;
}

export interface QueueStats {
  /** Visible messages, ready to be received. */
  depth: number;
  /** Messages under lease. */
  inFlight: number;
  /** Messages sent with a delay that has not passed yet. */
  delayed: number;
  /** Messages in the dead-letter queue. */
  deadLettered: number;
}

/** Where payloads too big for a message go (SQS's "extended client" pattern). */
export interface PayloadStoreOptions {
  store: ObjectStore;
  /** The bucket must exist. */
  bucket: string;
  /**
   * Key prefix; the queue name and a random id follow.
   * @default "queue-payloads/"
   */
  prefix?: string | undefined;
}

/** Options every backend takes. */
export interface QueueOptions {
  /** Queue name: letters, digits, "-" and "_", 1..80 characters (SQS's rule). */
  name: string;
  /**
   * Deliveries before a message goes to the dead-letter queue. Every delivery counts: a
   * lease that expires, a release (a spot notice's hand-back included) and a failure.
   * @default 5
   */
  maxReceives?: number | undefined;
  /** Object store for bodies over `maxMessageBytes`; without it such a send fails (E_PAYLOAD_TOO_LARGE). */
  payloadStore?: PayloadStoreOptions | undefined;
  /**
   * Largest body (UTF-8 bytes) sent inline; a bigger one goes to the payload store.
   * @default 262144 (256 KiB, SQS's classic limit)
   */
  maxMessageBytes?: number | undefined;
}

export interface DeadLetterListOptions {
  /**
   * Most entries to return.
   * @default 100
   */
  limit?: number | undefined;
}

export interface RedriveOptions {
  /** Only these dead letters (by id); default: all of them. */
  ids?: string[] | undefined;
}

export interface Queue {
  readonly name: string;
  readonly maxReceives: number;
  /** Sends one message; resolves with its id once it is durably stored. */
  send(body: string, options?: SendOptions): Promise<string>;
  /** Sends many, in backend batches (10 on SQS, 100 in one statement on PostgreSQL and SQLite); ids in input order. */
  sendBatch(entries: Array<string | SendEntry>): Promise<string[]>;
  /** Leases up to `maxMessages` visible messages, waiting up to `waitMs` for the first. */
  receive(options?: ReceiveOptions): Promise<LeasedMessage[]>;
  /**
   * The lease now ends `leaseMs` from now (SQS ChangeMessageVisibility). False when the
   * receipt is no longer the current lease: nothing changed.
   */
  extendLease(receipt: ReceiptLike, leaseMs: DurationInput): Promise<boolean>;
  /**
   * Deletes the message. Only the current lease holder can: a stale receipt (the message
   * was redelivered, released, dead-lettered or acked since) returns false and deletes
   * nothing. A receipt whose lease ran out may be refused even if nobody took the
   * message since (SQS refuses it); the message is then delivered again.
   */
  ack(receipt: ReceiptLike): Promise<boolean>;
  /**
   * Gives the message back: visible again at once (or after `delayMs`), with `error`
   * recorded. On the last allowed delivery it goes to the dead-letter queue instead.
   * False when the receipt is stale.
   */
  release(receipt: ReceiptLike, options?: ReleaseOptions): Promise<boolean>;
  /** `release(receipt, { error })`. */
  fail(receipt: ReceiptLike, error: string): Promise<boolean>;
  /** Moves the message to the dead-letter queue now, with `error`. False when the receipt is stale. */
  deadLetter(receipt: ReceiptLike, error: string): Promise<boolean>;
  /** Dead letters, oldest first. */
  deadLetters(options?: DeadLetterListOptions): Promise<DeadLetter[]>;
  /** Moves dead letters back to the queue with a fresh receive count; returns how many moved. */
  redrive(options?: RedriveOptions): Promise<number>;
  /** Deletes dead letters for good (and their payload objects); returns how many. */
  purgeDeadLetters(options?: RedriveOptions): Promise<number>;
  stats(): Promise<QueueStats>;
  /** Releases connections; idempotent. Does not release leases. */
  close(): Promise<void>;
}
