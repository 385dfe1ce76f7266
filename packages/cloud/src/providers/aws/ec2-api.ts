/**
 * The EC2 calls the instance provider makes, each behind a client-side token bucket for
 * its action (a share of the account's EC2 bucket, docs/field-notes.md) and retried with
 * full-jitter backoff on throttling and transient faults. Other errors are rethrown as
 * the SDK raised them, so callers can act on EC2's code (capacity, not found).
 */
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type CreateTagsCommandInput,
  type CreateTagsCommandOutput,
  type DeleteTagsCommandInput,
  type DeleteTagsCommandOutput,
  type DescribeInstancesCommandInput,
  type DescribeInstancesCommandOutput,
  type EC2Client,
  type RunInstancesCommandInput,
  type RunInstancesCommandOutput,
  type TerminateInstancesCommandInput,
  type TerminateInstancesCommandOutput,
} from '@aws-sdk/client-ec2';
import { SynktiError } from '@synkti/core';
import { fullJitterDelayMs, type BackoffOptions } from './backoff.ts';
import { ec2ErrorCode, isThrottle, isTransient } from './ec2-errors.ts';
import { TokenBucket, realSleep, type Clock, type Sleep } from './token-bucket.ts';

export type Ec2Action = 'DescribeInstances' | 'RunInstances' | 'TerminateInstances' | 'CreateTags' | 'DeleteTags';

/**
 * EC2's request buckets per account and region (docs/field-notes.md). Our DescribeInstances
 * calls always carry a filter, so they draw on the filtered bucket; RunInstances has a
 * second bucket for instances (1000, 2/s) that one-at-a-time launches cannot exhaust
 * before the request bucket.
 */
export const EC2_RATE_LIMITS: Readonly<Record<Ec2Action, { bucket: number; refillPerSecond: number }>> = {
  DescribeInstances: { bucket: 100, refillPerSecond: 20 },
  CreateTags: { bucket: 100, refillPerSecond: 10 },
  DeleteTags: { bucket: 100, refillPerSecond: 10 },
  RunInstances: { bucket: 5, refillPerSecond: 2 },
  TerminateInstances: { bucket: 100, refillPerSecond: 5 },
};

export type Ec2RateLimits = Partial<Record<Ec2Action, { bucket: number; refillPerSecond: number }>>;

export const DEFAULT_API_BUDGET_SHARE = 0.5;
export const DEFAULT_MAX_ATTEMPTS = 8;

export interface Ec2RetryEvent {
  action: Ec2Action;
  /** 0 for the first retry. */
  attempt: number;
  code: string | undefined;
  delayMs: number;
}

export interface Ec2ApiOptions {
  client: EC2Client;
  /**
   * Fraction of each EC2 bucket (size and refill) this process may use: the account
   * shares the buckets with every other caller.
   * @default 0.5
   */
  apiBudgetShare?: number | undefined;
  /**
   * The account's EC2 buckets where they differ from EC2's defaults (after a quota
   * increase); `apiBudgetShare` applies to these too.
   * @default EC2_RATE_LIMITS
   */
  rateLimits?: Ec2RateLimits | undefined;
  /**
   * Attempts per call, the first included, on throttling and transient faults.
   * @default 8
   */
  maxAttempts?: number | undefined;
  /** Backoff between attempts. @default { baseMs: 100, capMs: 20000 } */
  backoff?: BackoffOptions | undefined;
  /** @default Date.now */
  clock?: Clock | undefined;
  /** @default setTimeout-based */
  sleep?: Sleep | undefined;
  /** Told of every retry (for logs and metrics). @default none */
  onRetry?: ((event: Ec2RetryEvent) => void) | undefined;
}

export class Ec2Api {
  readonly client: EC2Client;
  readonly maxAttempts: number;
  private readonly buckets: Record<Ec2Action, TokenBucket>;
  private readonly backoff: BackoffOptions;
  private readonly sleep: Sleep;
  private readonly onRetry: ((event: Ec2RetryEvent) => void) | undefined;

  constructor(options: Ec2ApiOptions) {
    const share = options.apiBudgetShare ?? DEFAULT_API_BUDGET_SHARE;
    if (typeof share !== 'number' || !(share > 0) || share > 1) {
      throw new SynktiError('E_AWS_OPTIONS', `apiBudgetShare must be a number in (0, 1], not ${String(share)}`, {
        hint: `omit it for ${DEFAULT_API_BUDGET_SHARE}, half of the account's EC2 API budget`,
      });
    }
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
      throw new SynktiError('E_AWS_OPTIONS', `maxAttempts must be an integer ≥ 1, not ${String(maxAttempts)}`, {
        hint: `omit it for ${DEFAULT_MAX_ATTEMPTS}`,
      });
    }
    this.client = options.client;
    this.maxAttempts = maxAttempts;
    this.backoff = options.backoff ?? {};
    this.sleep = options.sleep ?? realSleep;
    this.onRetry = options.onRetry;
    const limits = { ...EC2_RATE_LIMITS, ...options.rateLimits };
    const bucket = (action: Ec2Action) =>
      new TokenBucket({
        // A bucket smaller than one token could never serve a call.
        capacity: Math.max(1, limits[action].bucket * share),
        refillPerSecond: limits[action].refillPerSecond * share,
        clock: options.clock,
        sleep: this.sleep,
      });
    this.buckets = {
      DescribeInstances: bucket('DescribeInstances'),
      CreateTags: bucket('CreateTags'),
      DeleteTags: bucket('DeleteTags'),
      RunInstances: bucket('RunInstances'),
      TerminateInstances: bucket('TerminateInstances'),
    };
  }

  /** The bucket that meters `action` (for inspection in tests and metrics). */
  bucketOf(action: Ec2Action): TokenBucket {
    return this.buckets[action];
  }

  describeInstances(input: DescribeInstancesCommandInput): Promise<DescribeInstancesCommandOutput> {
    return this.call('DescribeInstances', () => this.client.send(new DescribeInstancesCommand(input)));
  }

  runInstances(input: RunInstancesCommandInput): Promise<RunInstancesCommandOutput> {
    return this.call('RunInstances', () => this.client.send(new RunInstancesCommand(input)));
  }

  terminateInstances(input: TerminateInstancesCommandInput): Promise<TerminateInstancesCommandOutput> {
    return this.call('TerminateInstances', () => this.client.send(new TerminateInstancesCommand(input)));
  }

  createTags(input: CreateTagsCommandInput): Promise<CreateTagsCommandOutput> {
    return this.call('CreateTags', () => this.client.send(new CreateTagsCommand(input)));
  }

  deleteTags(input: DeleteTagsCommandInput): Promise<DeleteTagsCommandOutput> {
    return this.call('DeleteTags', () => this.client.send(new DeleteTagsCommand(input)));
  }

  private async call<T>(action: Ec2Action, send: () => Promise<T>): Promise<T> {
    const bucket = this.buckets[action];
    for (let attempt = 0; ; attempt += 1) {
      await bucket.take();
      try {
        return await send();
      } catch (error) {
        const throttled = isThrottle(error);
        if ((!throttled && !isTransient(error)) || attempt + 1 >= this.maxAttempts) throw error;
        // The account's bucket is empty: everyone here waits for the refill, not just this call.
        if (throttled) bucket.drain();
        const delayMs = fullJitterDelayMs(attempt, this.backoff);
        this.onRetry?.({ action, attempt, code: ec2ErrorCode(error), delayMs });
        await this.sleep(delayMs);
      }
    }
  }
}
