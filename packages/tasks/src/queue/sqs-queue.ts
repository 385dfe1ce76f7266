/**
 * The SQS queue backend (AWS SDK v3). Leases are SQS visibility timeouts; extend and
 * release are ChangeMessageVisibility; the dead-letter queue is a second SQS queue named
 * in the main queue's redrive policy (maxReceiveCount = maxReceives).
 *
 * What SQS does not give, and how this backend gets it:
 * - Stale receipts: SQS accepts a DeleteMessage with an old receipt handle and may even
 *   delete the message another consumer now holds. So an ack goes straight to
 *   DeleteMessage only while this handle's own lease is surely still running; otherwise
 *   it first takes the lease back with ChangeMessageVisibility, which SQS refuses for a
 *   stale handle, and only then deletes.
 * - The last error: a message's attributes cannot change, so when a delivery fails on
 *   its last allowed receive this handle moves the message to the dead-letter queue
 *   itself, with the error as an attribute (then deletes the original). A message whose
 *   last lease simply expired is moved by SQS's redrive policy and has no error recorded.
 * - Listing dead letters: SQS has no "peek"; listing receives them briefly and makes them
 *   visible again, so it is approximate on a queue other consumers are reading.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { SynktiError } from '@synkti/core';
import type { DriverDeadLetter, DriverMessage, DriverReceive, DriverSendEntry, QueueDriver } from './driver.ts';
import { RELEASED_WITHOUT_ERROR } from './driver.ts';
import { createQueue, resolveQueueOptions, validateQueueName, type ResolvedQueueOptions } from './queue.ts';
import type { Queue, QueueOptions, QueueStats } from './types.ts';

export interface SqsQueueOptions extends QueueOptions {
  /** The SQS client (region, credentials, endpoint). Not destroyed by `close()`. */
  client: SQSClient;
  /**
   * Name of the dead-letter queue.
   * @default `${name}-dlq`
   */
  deadLetterQueueName?: string | undefined;
  /**
   * Create both queues if missing and set the redrive policy (needs sqs:CreateQueue and
   * sqs:SetQueueAttributes); when false they must exist (made by infrastructure as code).
   * @default true
   */
  create?: boolean | undefined;
}

const ATTR_REF = 'synkti-ref';
const ATTR_ENCODING = 'synkti-encoding';
const ATTR_ERROR = 'synkti-error';
const ATTR_RECEIVES = 'synkti-receives';
const ATTR_ORIGIN_ID = 'synkti-origin-id';
const ATTR_SENT_AT = 'synkti-sent-at';
const ATTR_DEAD_AT = 'synkti-dead-at';
/** An ack deletes directly only when this much of its lease is left; else it checks the lease first. */
const ACK_SAFETY_MS = 1000;
/** How long a lease is taken back for while a message is deleted or moved. */
const TAKE_BACK_SECONDS = 60;
/** How long dead letters stay hidden while they are listed, redriven or purged. */
const SCAN_SECONDS = 30;
const REDRIVE_NO_ERROR = 'no error recorded: SQS moved it after its last lease expired (or it was released without an error)';
// Characters SQS accepts in a message body (SQS also takes U+10000 and up, fauxqs does
// not, so those are encoded too); a body with any other is sent base64-encoded.
const SQS_INVALID_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD]/;
const STALE_ERRORS = ['MessageNotInflight', 'ReceiptHandleIsInvalid', 'InvalidParameterValue', 'InvalidReceiptHandle'];

/** What a receipt carries: the SQS handle plus what ack and dead-lettering need. */
interface ReceiptData {
  h: string;
  id: string;
  n: number;
  r?: string | undefined;
}

/** What this handle knows about a lease it holds (the body, to move it to the dead-letter queue). */
interface HeldLease {
  data: ReceiptData;
  body: string;
  encoding: string | undefined;
  sentAt: number;
  leaseExpiresAt: number;
}

function encodeReceipt(data: ReceiptData): string {
  return Buffer.from(JSON.stringify(data), 'utf8').toString('base64url');
}

function decodeReceipt(receipt: string): ReceiptData | undefined {
  try {
    const data = JSON.parse(Buffer.from(receipt, 'base64url').toString('utf8')) as Partial<ReceiptData>;
    if (typeof data.h === 'string' && typeof data.id === 'string' && typeof data.n === 'number') return data as ReceiptData;
  } catch {
    // Not one of ours.
  }
  return undefined;
}

function errorName(error: unknown): string {
  const e = error as { name?: unknown; Code?: unknown; code?: unknown };
  return String(e?.name ?? e?.Code ?? e?.code ?? '');
}

function isStale(error: unknown): boolean {
  const name = errorName(error);
  return STALE_ERRORS.some((s) => name.includes(s));
}

function isAbort(error: unknown): boolean {
  return errorName(error) === 'AbortError';
}

function stringAttr(value: string): MessageAttributeValue {
  return { DataType: 'String', StringValue: value };
}

function attr(message: Message, name: string): string | undefined {
  return message.MessageAttributes?.[name]?.StringValue;
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function wrap(what: string, error: unknown): SynktiError {
  return new SynktiError('E_SQS', `SQS ${what} failed: ${(error as Error)?.message ?? String(error)}`, {
    cause: error,
    hint: 'check the endpoint, region, credentials and that the queue exists',
  });
}

class SqsQueueDriver implements QueueDriver {
  private readonly client: SQSClient;
  private readonly name: string;
  private readonly maxReceives: number;
  private readonly held = new Map<string, HeldLease>();
  private queueUrl = '';
  private dlqUrl = '';
  private readonly aborts = new Set<AbortController>();

  constructor(client: SQSClient, options: ResolvedQueueOptions) {
    this.client = client;
    this.name = options.name;
    this.maxReceives = options.maxReceives;
  }

  async initialise(dlqName: string, create: boolean): Promise<void> {
    if (create) {
      try {
        this.dlqUrl = (await this.client.send(new CreateQueueCommand({ QueueName: dlqName }))).QueueUrl ?? '';
        this.queueUrl = (await this.client.send(new CreateQueueCommand({ QueueName: this.name }))).QueueUrl ?? '';
        const dlqArn = (await this.client.send(new GetQueueAttributesCommand({ QueueUrl: this.dlqUrl, AttributeNames: ['QueueArn'] })))
          .Attributes?.QueueArn;
        await this.client.send(
          new SetQueueAttributesCommand({
            QueueUrl: this.queueUrl,
            Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: this.maxReceives }) },
          }),
        );
      } catch (error) {
        throw wrap(`creating queues ${this.name} and ${dlqName}`, error);
      }
      return;
    }
    try {
      this.queueUrl = (await this.client.send(new GetQueueUrlCommand({ QueueName: this.name }))).QueueUrl ?? '';
      this.dlqUrl = (await this.client.send(new GetQueueUrlCommand({ QueueName: dlqName }))).QueueUrl ?? '';
    } catch (error) {
      throw new SynktiError('E_QUEUE_NOT_FOUND', `SQS queue ${this.name} or its dead-letter queue ${dlqName} does not exist`, {
        cause: error,
        hint: 'create them (with a redrive policy) in your infrastructure, or open the queue with create: true',
      });
    }
  }

  private encodeBody(body: string): { body: string; attributes: Record<string, MessageAttributeValue> } {
    if (!SQS_INVALID_CHARS.test(body)) return { body, attributes: {} };
    return { body: Buffer.from(body, 'utf8').toString('base64'), attributes: { [ATTR_ENCODING]: stringAttr('base64') } };
  }

  private decodeBody(message: Message): string {
    const body = message.Body ?? '';
    return attr(message, ATTR_ENCODING) === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body;
  }

  async send(entries: DriverSendEntry[]): Promise<string[]> {
    const sentAt = String(Date.now());
    const requests = entries.map((entry, index) => {
      const { body, attributes } = this.encodeBody(entry.body);
      attributes[ATTR_SENT_AT] = stringAttr(sentAt);
      if (entry.ref) attributes[ATTR_REF] = stringAttr(entry.ref);
      // SQS rejects an empty body; a reference message carries a placeholder.
      return {
        Id: String(index),
        MessageBody: body === '' ? ' ' : body,
        DelaySeconds: seconds(entry.delayMs),
        MessageAttributes: attributes,
      };
    });
    const ids: string[] = new Array<string>(entries.length);
    let pending = requests;
    for (let attempt = 0; attempt < 3 && pending.length > 0; attempt += 1) {
      let result;
      try {
        result = await this.client.send(new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: pending }));
      } catch (error) {
        throw wrap(`sending to ${this.name}`, error);
      }
      for (const ok of result.Successful ?? []) ids[Number(ok.Id)] = ok.MessageId ?? '';
      const failed = new Set((result.Failed ?? []).filter((f) => !f.SenderFault).map((f) => f.Id));
      const senderFault = (result.Failed ?? []).find((f) => f.SenderFault);
      if (senderFault) {
        throw new SynktiError(
          'E_SQS',
          `SQS refused message ${senderFault.Id} for ${this.name}: ${senderFault.Code} ${senderFault.Message ?? ''}`,
          {
            hint: 'the earlier messages of the batch may have been sent; check the body (SQS limits size and characters)',
          },
        );
      }
      pending = pending.filter((r) => failed.has(r.Id));
    }
    if (pending.length > 0)
      throw new SynktiError('E_SQS', `SQS failed ${pending.length} messages for ${this.name} three times`, { hint: 'retry later' });
    return ids;
  }

  async receive(request: DriverReceive): Promise<DriverMessage[]> {
    this.forgetOldLeases();
    const abort = new AbortController();
    const onAbort = (): void => abort.abort();
    request.signal?.addEventListener('abort', onAbort, { once: true });
    if (request.signal?.aborted) abort.abort();
    this.aborts.add(abort);
    const started = Date.now();
    const visibility = seconds(request.leaseMs);
    let messages: Message[];
    try {
      if (abort.signal.aborted) return [];
      const result = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: request.maxMessages,
          VisibilityTimeout: visibility,
          WaitTimeSeconds: seconds(request.waitMs),
          MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
          MessageAttributeNames: ['All'],
        }),
        { abortSignal: abort.signal },
      );
      messages = result.Messages ?? [];
    } catch (error) {
      if (isAbort(error) || abort.signal.aborted) return [];
      throw wrap(`receiving from ${this.name}`, error);
    } finally {
      request.signal?.removeEventListener('abort', onAbort);
      this.aborts.delete(abort);
    }
    const leaseExpiresAt = started + visibility * 1000;
    return messages.map((message) => {
      const data: ReceiptData = {
        h: message.ReceiptHandle ?? '',
        id: message.MessageId ?? '',
        n: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
        r: attr(message, ATTR_REF),
      };
      const receipt = encodeReceipt(data);
      const sentAt = Number(attr(message, ATTR_SENT_AT) ?? message.Attributes?.SentTimestamp ?? 0);
      this.held.set(receipt, { data, body: message.Body ?? '', encoding: attr(message, ATTR_ENCODING), sentAt, leaseExpiresAt });
      return {
        id: data.id,
        body: data.r ? '' : this.decodeBody(message),
        ref: data.r,
        receipt,
        receiveCount: data.n,
        sentAt,
        leaseExpiresAt,
      };
    });
  }

  /** Drops what this handle remembers of leases long expired (their receipts are stale anyway). */
  private forgetOldLeases(): void {
    const cutoff = Date.now() - 5 * 60_000;
    for (const [receipt, lease] of this.held) if (lease.leaseExpiresAt < cutoff) this.held.delete(receipt);
  }

  /** ChangeMessageVisibility; false when SQS says the handle is not the current lease. */
  private async changeVisibility(handle: string, timeoutSeconds: number): Promise<boolean> {
    try {
      await this.client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: handle, VisibilityTimeout: timeoutSeconds }),
      );
      return true;
    } catch (error) {
      if (isStale(error)) return false;
      throw wrap(`changing visibility in ${this.name}`, error);
    }
  }

  /** True when this handle's lease surely still runs (so nobody else can have received the message). */
  private surelyHeld(receipt: string): boolean {
    const lease = this.held.get(receipt);
    return lease !== undefined && Date.now() < lease.leaseExpiresAt - ACK_SAFETY_MS;
  }

  async extend(receipt: string, leaseMs: number): Promise<boolean> {
    const data = decodeReceipt(receipt);
    if (!data) return false;
    const started = Date.now();
    const ok = await this.changeVisibility(data.h, seconds(leaseMs));
    const lease = this.held.get(receipt);
    if (ok && lease) lease.leaseExpiresAt = started + seconds(leaseMs) * 1000;
    if (!ok) this.held.delete(receipt);
    return ok;
  }

  async ack(receipt: string): Promise<{ ok: boolean; ref?: string | undefined }> {
    const data = decodeReceipt(receipt);
    if (!data) return { ok: false };
    if (!this.surelyHeld(receipt) && !(await this.changeVisibility(data.h, TAKE_BACK_SECONDS))) {
      this.held.delete(receipt);
      return { ok: false };
    }
    try {
      await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: data.h }));
    } catch (error) {
      if (isStale(error)) return { ok: false };
      throw wrap(`deleting from ${this.name}`, error);
    } finally {
      this.held.delete(receipt);
    }
    return { ok: true, ref: data.r };
  }

  async release(receipt: string, error: string | undefined, delayMs: number): Promise<boolean> {
    const data = decodeReceipt(receipt);
    if (!data) return false;
    if (data.n >= this.maxReceives && this.held.has(receipt)) {
      return this.moveToDeadLetters(receipt, data, error ?? RELEASED_WITHOUT_ERROR);
    }
    // Without the body (a receipt from another handle) the redrive policy moves it on its next receive.
    const ok = await this.changeVisibility(data.h, seconds(delayMs));
    this.held.delete(receipt);
    return ok;
  }

  async deadLetter(receipt: string, error: string): Promise<boolean> {
    const data = decodeReceipt(receipt);
    if (!data) return false;
    if (!this.held.has(receipt)) {
      throw new SynktiError('E_QUEUE_RECEIPT', `SQS queue ${this.name} can dead-letter only messages this handle received`, {
        hint: 'call deadLetter on the queue object that received the message',
      });
    }
    return this.moveToDeadLetters(receipt, data, error);
  }

  /** Takes the lease back, copies the message to the dead-letter queue with the error, deletes the original. */
  private async moveToDeadLetters(receipt: string, data: ReceiptData, error: string): Promise<boolean> {
    const lease = this.held.get(receipt)!;
    this.held.delete(receipt);
    if (!(await this.changeVisibility(data.h, TAKE_BACK_SECONDS))) return false;
    const attributes: Record<string, MessageAttributeValue> = {
      [ATTR_ERROR]: stringAttr(error),
      [ATTR_RECEIVES]: stringAttr(String(data.n)),
      [ATTR_ORIGIN_ID]: stringAttr(data.id),
      [ATTR_SENT_AT]: stringAttr(String(lease.sentAt)),
      [ATTR_DEAD_AT]: stringAttr(String(Date.now())),
    };
    if (data.r) attributes[ATTR_REF] = stringAttr(data.r);
    if (lease.encoding) attributes[ATTR_ENCODING] = stringAttr(lease.encoding);
    try {
      // A crash between these two leaves a copy in each queue: a duplicate, never a loss.
      await this.client.send(new SendMessageCommand({ QueueUrl: this.dlqUrl, MessageBody: lease.body, MessageAttributes: attributes }));
      await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: data.h }));
    } catch (cause) {
      throw wrap(`moving a message of ${this.name} to its dead-letter queue`, cause);
    }
    return true;
  }

  /**
   * Receives every dead letter (hidden for SCAN_SECONDS), lets `visit` decide what to do
   * with each, and makes the ones it kept visible again.
   */
  private async scanDeadLetters(visit: (message: Message) => Promise<'keep' | 'done'>, limit = Infinity): Promise<void> {
    const seen = new Set<string>();
    const keep: Message[] = [];
    try {
      while (seen.size < limit) {
        const result = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.dlqUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: SCAN_SECONDS,
            WaitTimeSeconds: 0,
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
            MessageAttributeNames: ['All'],
          }),
        );
        const messages = (result.Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ''));
        if (messages.length === 0) break;
        for (const message of messages) {
          seen.add(message.MessageId ?? '');
          if (seen.size > limit || (await visit(message)) === 'keep') keep.push(message);
        }
      }
    } catch (error) {
      throw wrap(`reading the dead-letter queue of ${this.name}`, error);
    } finally {
      for (let i = 0; i < keep.length; i += 10) {
        await this.client
          .send(
            new ChangeMessageVisibilityBatchCommand({
              QueueUrl: this.dlqUrl,
              Entries: keep.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle ?? '', VisibilityTimeout: 0 })),
            }),
          )
          .catch(() => undefined);
      }
    }
  }

  private deadLetterOf(message: Message): DriverDeadLetter {
    const ref = attr(message, ATTR_REF);
    return {
      id: attr(message, ATTR_ORIGIN_ID) ?? message.MessageId ?? '',
      body: ref ? '' : this.decodeBody(message),
      ref,
      // Moved by the redrive policy: delivered exactly maxReceives times by definition.
      receiveCount: Number(attr(message, ATTR_RECEIVES) ?? this.maxReceives),
      lastError: attr(message, ATTR_ERROR) ?? REDRIVE_NO_ERROR,
      deadLetteredAt: Number(attr(message, ATTR_DEAD_AT) ?? 0),
      sentAt: Number(attr(message, ATTR_SENT_AT) ?? message.Attributes?.SentTimestamp ?? 0),
    };
  }

  async deadLetters(limit: number): Promise<DriverDeadLetter[]> {
    const found: DriverDeadLetter[] = [];
    await this.scanDeadLetters(async (message) => {
      found.push(this.deadLetterOf(message));
      return 'keep';
    }, limit);
    return found.sort((a, b) => a.deadLetteredAt - b.deadLetteredAt).slice(0, limit);
  }

  async redrive(ids: string[] | undefined): Promise<number> {
    const wanted = ids ? new Set(ids) : undefined;
    let moved = 0;
    await this.scanDeadLetters(async (message) => {
      const letter = this.deadLetterOf(message);
      if (wanted && !wanted.has(letter.id)) return 'keep';
      const attributes: Record<string, MessageAttributeValue> = { [ATTR_SENT_AT]: stringAttr(String(letter.sentAt || Date.now())) };
      if (letter.ref) attributes[ATTR_REF] = stringAttr(letter.ref);
      const encoding = attr(message, ATTR_ENCODING);
      if (encoding) attributes[ATTR_ENCODING] = stringAttr(encoding);
      await this.client.send(
        new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: message.Body ?? ' ', MessageAttributes: attributes }),
      );
      await this.client.send(new DeleteMessageCommand({ QueueUrl: this.dlqUrl, ReceiptHandle: message.ReceiptHandle ?? '' }));
      moved += 1;
      return 'done';
    });
    return moved;
  }

  async purgeDeadLetters(ids: string[] | undefined): Promise<{ count: number; refs: string[] }> {
    const wanted = ids ? new Set(ids) : undefined;
    const refs: string[] = [];
    let count = 0;
    await this.scanDeadLetters(async (message) => {
      const letter = this.deadLetterOf(message);
      if (wanted && !wanted.has(letter.id)) return 'keep';
      await this.client.send(new DeleteMessageCommand({ QueueUrl: this.dlqUrl, ReceiptHandle: message.ReceiptHandle ?? '' }));
      if (letter.ref) refs.push(letter.ref);
      count += 1;
      return 'done';
    });
    return { count, refs };
  }

  async stats(): Promise<QueueStats> {
    const names = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'] as const;
    try {
      const [main, dlq] = await Promise.all(
        [this.queueUrl, this.dlqUrl].map((url) =>
          this.client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [...names] })),
        ),
      );
      const count = (attributes: Record<string, string> | undefined, name: string): number => Number(attributes?.[name] ?? 0);
      return {
        depth: count(main?.Attributes, names[0]),
        inFlight: count(main?.Attributes, names[1]),
        delayed: count(main?.Attributes, names[2]),
        deadLettered: names.reduce((sum, name) => sum + count(dlq?.Attributes, name), 0),
      };
    } catch (error) {
      throw wrap(`reading the attributes of ${this.name}`, error);
    }
  }

  async close(): Promise<void> {
    for (const abort of this.aborts) abort.abort();
    this.held.clear();
  }
}

/** Opens an SQS queue and its dead-letter queue (creating both by default). */
export async function openSqsQueue(options: SqsQueueOptions): Promise<Queue> {
  const resolved = resolveQueueOptions(options);
  const dlqName = options.deadLetterQueueName ?? `${resolved.name}-dlq`;
  validateQueueName(dlqName);
  const driver = new SqsQueueDriver(options.client, resolved);
  await driver.initialise(dlqName, options.create !== false);
  return createQueue(driver, resolved);
}
