/**
 * InstanceProvider on EC2 (AWS SDK v3).
 *
 * - launch: one spot instance per call (RunInstances), tags on the instance and its
 *   volumes at launch, IMDSv2 required with a hop limit of 2 (containers) and tags in
 *   metadata, a ClientToken for idempotency; falls back across instance types and
 *   subnets on capacity errors, then on-demand if allowed. It returns once the instance
 *   shows in a tag-filtered DescribeInstances (EC2 is eventually consistent), so the
 *   caller's next list finds it.
 * - list: DescribeInstances, always filtered (tags, states, ids), paginated with our own
 *   token over EC2's pages. Each page is sorted by launch time, then id; across pages
 *   the order is EC2's (EC2 offers no sort), so a caller that needs one global order
 *   lists everything (one call per 1000 instances) and sorts.
 * - terminate, tag, untag: batched calls; unknown ids are E_INSTANCE_NOT_FOUND.
 *
 * Every call is metered by a per-action token bucket holding a share of the account's
 * EC2 budget and retried with full-jitter backoff on throttling (ec2-api.ts).
 * Credentials and region come from the SDK's default chain.
 */
import { randomUUID } from 'node:crypto';
import { EC2Client, type Filter, type Instance, type RunInstancesCommandInput, type Tag } from '@aws-sdk/client-ec2';
import { SIZE_TO_INSTANCE_TYPES, SynktiError, TAG_CLUSTER, TAG_ROLE, isSynktiError, parseDuration } from '@synkti/core';
import type { InstanceFilter, InstanceProvider, InstanceRecord, InstanceState, LaunchSpec, Page, PageRequest } from '../../types.ts';
import { fullJitterDelayMs, type BackoffOptions } from './backoff.ts';
import { Ec2Api, type Ec2Action, type Ec2RateLimits, type Ec2RetryEvent } from './ec2-api.ts';
import { ec2ErrorCode, ec2ErrorMessage, idsInMessage, isCapacity, isNotFound, toSynktiError } from './ec2-errors.ts';
import { compareRecords, ec2StateNames, toInstanceRecord } from './ec2-instance-record.ts';
import { describeOption, launchPlan, type AwsSubnet, type LaunchOption } from './launch-plan.ts';
import { FIRST_CURSOR, decodeListToken, encodeListToken, type ListCursor } from './list-page-token.ts';
import { TagBatcher, type TagChange } from './tag-batcher.ts';
import { type Clock, type Sleep } from './token-bucket.ts';
import { checkLaunchSpec, checkTags } from '../../launch-spec-rules.ts';
import { pageSize } from '../../page-request.ts';

export type { AwsSubnet } from './launch-plan.ts';

export interface AwsInstanceProviderOptions {
  /** AMI every instance boots (required). */
  imageId: string;
  /**
   * AWS region.
   * @default the SDK's chain: AWS_REGION, then the profile's region
   */
  region?: string | undefined;
  /**
   * EC2 client to use (tests pass a mocked one). Its own retries should be off
   * (`maxAttempts: 1`): this provider retries and meters calls itself.
   * @default a client with the SDK's default credential chain and no SDK retries
   */
  client?: EC2Client | undefined;
  /**
   * Subnets to launch into, with their zones; a launch tries them in turn on capacity errors.
   * @default none: the default VPC, zone chosen by EC2 (or the launch spec's zone)
   */
  subnets?: AwsSubnet[] | undefined;
  /** @default none: the VPC's default security group */
  securityGroupIds?: string[] | undefined;
  /**
   * Instance profile name or ARN the instances run with.
   * @default none
   */
  iamInstanceProfile?: string | undefined;
  /**
   * EC2 key pair for SSH.
   * @default none: no SSH key (secure by default; use SSM Session Manager)
   */
  keyName?: string | undefined;
  /**
   * Launch on-demand when every spot option failed for lack of capacity.
   * @default false
   */
  onDemandFallback?: boolean | undefined;
  /**
   * Instance types to try, in order, after the requested one has no capacity.
   * @default the other types of the same size in SIZE_TO_INSTANCE_TYPES.aws (e.g. g5.xlarge → g6.xlarge, g4dn.xlarge)
   */
  instanceTypeFallbacks?: Record<string, string[]> | undefined;
  /**
   * Fraction of the account's EC2 API buckets this process may use (0..1].
   * @default 0.5
   */
  apiBudgetShare?: number | undefined;
  /**
   * The account's EC2 API buckets where they differ from EC2's defaults (after a quota
   * increase); apiBudgetShare applies to them.
   * @default EC2_RATE_LIMITS (docs/field-notes.md)
   */
  rateLimits?: Ec2RateLimits | undefined;
  /**
   * Attempts per EC2 call on throttling and transient faults, the first included.
   * @default 8
   */
  maxAttempts?: number | undefined;
  /**
   * Ceiling of the first backoff wait ("100ms" or 100).
   * @default 100
   */
  backoffBaseMs?: number | string | undefined;
  /**
   * Largest backoff wait ("20s" or 20000).
   * @default 20000
   */
  backoffCapMs?: number | string | undefined;
  /**
   * How long launch waits for a new instance to show in DescribeInstances, and how long
   * calls on a just-launched id retry EC2's not-found ("30s" or 30000).
   * @default 30000
   */
  settleTimeoutMs?: number | string | undefined;
  /**
   * How long an instance type and subnet that had no capacity are tried last ("5m").
   * @default 300000
   */
  capacityMemoryMs?: number | string | undefined;
  /**
   * How long a tag or untag request waits for others to batch with (0: same tick).
   * @default 0
   */
  tagBatchWindowMs?: number | string | undefined;
  /** @default Date.now */
  clock?: Clock | undefined;
  /** @default setTimeout-based */
  sleep?: Sleep | undefined;
  /** Uniform random in [0, 1) for backoff jitter. @default Math.random */
  random?: (() => number) | undefined;
  /** Told of every retried EC2 call (logs, metrics). @default none */
  onRetry?: ((event: Ec2RetryEvent) => void) | undefined;
}

const ACTIVE_STATES: InstanceState[] = ['pending', 'running', 'shutting-down'];
const ALL_STATES: InstanceState[] = ['pending', 'running', 'shutting-down', 'terminated'];
const DEFAULT_MAX_RESULTS = 1000;
/** Values per DescribeInstances filter we send at once. */
const IDS_PER_FILTER = 200;
/** EC2 takes at most 1000 ids per TerminateInstances and CreateTags call. */
const IDS_PER_CALL = 1000;
/** Empty EC2 pages (possible with filters) followed within one list call before handing back a token. */
const MAX_EMPTY_PAGES = 10;
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

export function createAwsInstanceProvider(options: AwsInstanceProviderOptions): AwsInstanceProvider {
  return new AwsInstanceProvider(options);
}

function optionsError(message: string, hint: string): SynktiError {
  return new SynktiError('E_AWS_OPTIONS', message, { hint });
}

function launchError(message: string, hint: string): SynktiError {
  return new SynktiError('E_LAUNCH_SPEC', message, { hint });
}

function ec2Tags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function defaultFallbacks(): Record<string, string[]> {
  const fallbacks: Record<string, string[]> = {};
  for (const types of Object.values(SIZE_TO_INSTANCE_TYPES.aws)) {
    for (const type of types) fallbacks[type] = types.filter((t) => t !== type);
  }
  return fallbacks;
}

interface Attempt {
  option: LaunchOption;
  code: string;
  message: string;
}

export class AwsInstanceProvider implements InstanceProvider {
  /** The metered, retrying EC2 calls (its buckets are visible for metrics). */
  readonly api: Ec2Api;
  private readonly client: EC2Client;
  private readonly ownsClient: boolean;
  private readonly imageId: string;
  private readonly regionLabel: string;
  private readonly subnets: AwsSubnet[];
  private readonly securityGroupIds: string[] | undefined;
  private readonly iamInstanceProfile: string | undefined;
  private readonly keyName: string | undefined;
  private readonly onDemandFallback: boolean;
  private readonly fallbacks: Record<string, string[]>;
  private readonly backoff: BackoffOptions;
  private readonly settleTimeoutMs: number;
  private readonly capacityMemoryMs: number;
  private readonly clock: Clock;
  private readonly sleep: Sleep;
  private readonly tagBatcher: TagBatcher;
  /** Ids this provider launched, until when EC2 may still not know them everywhere. */
  private readonly recentLaunches = new Map<string, number>();
  /** Launch options that just had no capacity, until when they are tried last. */
  private readonly capacityMisses = new Map<string, number>();
  private launches = 0;
  private closed = false;

  constructor(options: AwsInstanceProviderOptions) {
    if (typeof options !== 'object' || options === null) throw optionsError('options are required', 'pass { imageId, region, subnets }');
    if (typeof options.imageId !== 'string' || !/^ami-[0-9a-zA-Z]+$/.test(options.imageId)) {
      throw optionsError(
        options.imageId === undefined || options.imageId === ''
          ? 'imageId is required'
          : `imageId ${JSON.stringify(options.imageId)} is not an AMI id`,
        'set imageId to the AMI the instances boot, e.g. "ami-0123456789abcdef0" (see `aws ec2 describe-images`)',
      );
    }
    for (const subnet of options.subnets ?? []) {
      if (
        typeof subnet?.subnetId !== 'string' ||
        !subnet.subnetId.startsWith('subnet-') ||
        typeof subnet.zone !== 'string' ||
        subnet.zone === ''
      ) {
        throw optionsError(
          `subnets: ${JSON.stringify(subnet)} is not { subnetId: "subnet-…", zone: "…" }`,
          'list each subnet with its availability zone',
        );
      }
    }
    this.imageId = options.imageId;
    this.subnets = [...(options.subnets ?? [])];
    this.securityGroupIds = options.securityGroupIds && options.securityGroupIds.length > 0 ? [...options.securityGroupIds] : undefined;
    this.iamInstanceProfile = options.iamInstanceProfile || undefined;
    this.keyName = options.keyName || undefined;
    this.onDemandFallback = options.onDemandFallback ?? false;
    this.fallbacks = options.instanceTypeFallbacks ?? defaultFallbacks();
    this.backoff = {
      baseMs: parseDuration(options.backoffBaseMs ?? 100, 'backoffBaseMs'),
      capMs: parseDuration(options.backoffCapMs ?? 20_000, 'backoffCapMs'),
      random: options.random,
    };
    this.settleTimeoutMs = parseDuration(options.settleTimeoutMs ?? 30_000, 'settleTimeoutMs');
    this.capacityMemoryMs = parseDuration(options.capacityMemoryMs ?? 300_000, 'capacityMemoryMs');
    this.clock = options.clock ?? Date.now;
    this.ownsClient = options.client === undefined;
    // The SDK's own retries are off: they would spend the shared budget behind our buckets' back.
    this.client = options.client ?? new EC2Client({ ...(options.region ? { region: options.region } : {}), maxAttempts: 1 });
    this.regionLabel = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'the configured region';
    this.api = new Ec2Api({
      client: this.client,
      apiBudgetShare: options.apiBudgetShare,
      rateLimits: options.rateLimits,
      maxAttempts: options.maxAttempts,
      backoff: this.backoff,
      clock: options.clock,
      sleep: options.sleep,
      onRetry: options.onRetry,
    });
    this.sleep =
      options.sleep ??
      ((ms) =>
        new Promise((resolve) => {
          setTimeout(resolve, ms);
        }));
    this.tagBatcher = new TagBatcher({
      send: (change) => this.sendTagChange(change),
      isPerRequestError: (error) => isSynktiError(error, 'E_INSTANCE_NOT_FOUND'),
      windowMs: parseDuration(options.tagBatchWindowMs ?? 0, 'tagBatchWindowMs'),
      maxIdsPerCall: IDS_PER_CALL,
    });
  }

  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.assertOpen();
    const tags = this.validateLaunchSpec(spec);
    const subnets = spec.zone === undefined ? this.subnets : this.subnets.filter((s) => s.zone === spec.zone);
    if (spec.zone !== undefined && this.subnets.length > 0 && subnets.length === 0) {
      throw launchError(
        `no subnet is configured in zone ${spec.zone}`,
        `use one of ${[...new Set(this.subnets.map((s) => s.zone))].join(', ')}, or omit zone`,
      );
    }
    const plan = this.preferAvailable(
      launchPlan({
        instanceTypes: [spec.instanceType, ...(this.fallbacks[spec.instanceType] ?? [])],
        lifecycle: spec.lifecycle,
        onDemandFallback: this.onDemandFallback,
        subnets,
        zone: spec.zone,
        zoneOrder: spec.zone === undefined ? spec.zoneOrder : undefined,
        clientToken: spec.clientToken ?? randomUUID(),
        callerToken: spec.clientToken !== undefined,
        rotation: this.launches++,
      }),
    );
    const tried: Attempt[] = [];
    for (const option of plan) {
      let instance: Instance | undefined;
      try {
        const result = await this.api.runInstances(this.runInstancesInput(option, tags, spec.userData));
        instance = result.Instances?.[0];
      } catch (error) {
        if (isCapacity(error)) {
          tried.push({ option, code: ec2ErrorCode(error) ?? 'capacity', message: ec2ErrorMessage(error) });
          this.capacityMisses.set(optionKey(option), this.clock() + this.capacityMemoryMs);
          continue;
        }
        if (ec2ErrorCode(error) === 'IdempotentParameterMismatch') {
          throw launchError(
            `clientToken ${JSON.stringify(spec.clientToken)} was already used for a different launch`,
            'use a token that identifies this launch only, e.g. derived from the id being replaced',
          );
        }
        throw toSynktiError('RunInstances', error);
      }
      if (!instance?.InstanceId) {
        throw new SynktiError('E_AWS_EC2', 'ec2:RunInstances answered without an instance', {
          hint: 'retry the launch with the same clientToken',
        });
      }
      const launched = toInstanceRecord(instance);
      // Tags are set at launch; an answer that leaves them out still launched with them.
      launched.tags = { ...tags, ...launched.tags };
      const now = this.clock();
      for (const [id, until] of this.recentLaunches) if (until <= now) this.recentLaunches.delete(id);
      this.recentLaunches.set(launched.id, now + this.settleTimeoutMs);
      return (await this.settle(launched, tags)) ?? launched;
    }
    throw new SynktiError(
      'E_AWS_CAPACITY',
      `no capacity for ${spec.instanceType}: tried ${tried.map((t) => `${describeOption(t.option)} (${t.code})`).join('; ')}`,
      {
        hint:
          spec.lifecycle === 'spot' && !this.onDemandFallback
            ? 'add instance types (instanceTypeFallbacks) or subnets in other zones, or set onDemandFallback: true'
            : 'add instance types (instanceTypeFallbacks) or subnets in other zones, or retry later; quota codes (VcpuLimitExceeded, MaxSpotInstanceCountExceeded) need a Service Quotas increase',
      },
    );
  }

  async list(filter: InstanceFilter, page: PageRequest = {}): Promise<Page<InstanceRecord>> {
    this.assertOpen();
    const maxResults = pageSize(page, DEFAULT_MAX_RESULTS);
    const states = filter?.states ?? ACTIVE_STATES;
    const unknownState = states.find((s) => !ALL_STATES.includes(s));
    if (unknownState !== undefined) {
      throw new SynktiError('E_INSTANCE_FILTER', `unknown instance state ${JSON.stringify(unknownState)} in the list filter`, {
        hint: `use ${ALL_STATES.join(', ')}`,
      });
    }
    const tags = filter?.tags === undefined ? {} : checkTags(filter.tags, 'E_INSTANCE_FILTER', 'list filter');
    const ids = filter?.ids === undefined ? undefined : [...new Set(filter.ids)];
    if (states.length === 0 || ids?.length === 0) return { items: [] };
    const idChunks: (string[] | undefined)[] = ids === undefined ? [undefined] : chunks(ids, IDS_PER_FILTER);
    let cursor: ListCursor = page.nextToken ? decodeListToken(page.nextToken) : FIRST_CURSOR;
    if (cursor.chunk >= idChunks.length) return { items: [] };

    for (let fetched = 0; ; fetched += 1) {
      // The same EC2 page is fetched again with the size it first had, to continue inside it.
      const ec2MaxResults =
        cursor.skip > 0 && cursor.ec2MaxResults !== undefined ? cursor.ec2MaxResults : Math.min(1000, Math.max(5, maxResults));
      const filters: Filter[] = [
        // Always filtered: filtered calls have the larger bucket (docs/field-notes.md).
        { Name: 'instance-state-name', Values: ec2StateNames(states) },
        ...Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [escapeFilterValue(value)] })),
      ];
      const chunkIds = idChunks[cursor.chunk];
      // An id filter, unlike InstanceIds, combines with MaxResults and ignores unknown ids.
      if (chunkIds !== undefined) filters.push({ Name: 'instance-id', Values: chunkIds.map(escapeFilterValue) });
      let instances: Instance[] = [];
      let ec2Next: string | undefined;
      try {
        const answer = await this.api.describeInstances({ Filters: filters, MaxResults: ec2MaxResults, NextToken: cursor.ec2Token });
        instances = (answer.Reservations ?? []).flatMap((r) => r.Instances ?? []);
        ec2Next = answer.NextToken || undefined;
      } catch (error) {
        if (!isNotFound(error)) throw toSynktiError('DescribeInstances', error);
      }
      const records = instances.map(toInstanceRecord).sort(compareRecords);
      const rest = records.slice(cursor.skip);
      if (rest.length > maxResults) {
        return {
          items: rest.slice(0, maxResults),
          nextToken: encodeListToken({ ...cursor, skip: cursor.skip + maxResults, ec2MaxResults }),
        };
      }
      const next: ListCursor | undefined =
        ec2Next !== undefined
          ? { chunk: cursor.chunk, ec2Token: ec2Next, skip: 0, ec2MaxResults: undefined }
          : cursor.chunk + 1 < idChunks.length
            ? { chunk: cursor.chunk + 1, ec2Token: undefined, skip: 0, ec2MaxResults: undefined }
            : undefined;
      if (rest.length === 0 && next !== undefined && fetched + 1 < MAX_EMPTY_PAGES) {
        cursor = next;
        continue;
      }
      return { items: rest, nextToken: next === undefined ? undefined : encodeListToken(next) };
    }
  }

  async terminate(ids: string[]): Promise<void> {
    this.assertOpen();
    const unique = this.checkIds(ids);
    for (const batch of chunks(unique, IDS_PER_CALL)) {
      await this.retryNotFound('TerminateInstances', batch, () => this.api.terminateInstances({ InstanceIds: batch }));
    }
  }

  async tag(ids: string[], tags: Record<string, string>): Promise<void> {
    this.assertOpen();
    checkTags(tags, 'E_TAG', 'tag');
    const unique = this.checkIds(ids);
    if (unique.length === 0 || Object.keys(tags).length === 0) return;
    await this.tagBatcher.tag(unique, tags);
  }

  async untag(ids: string[], keys: string[]): Promise<void> {
    this.assertOpen();
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) {
      throw new SynktiError('E_TAG', 'untag: keys must be non-empty strings', { hint: 'pass tag keys like ["SynktiColor"]' });
    }
    const unique = this.checkIds(ids);
    if (unique.length === 0 || keys.length === 0) return;
    await this.tagBatcher.untag(unique, keys);
  }

  /** Releases the EC2 client this provider created (an injected one is left alone). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) this.client.destroy();
  }

  private runInstancesInput(option: LaunchOption, tags: Record<string, string>, userData: string | undefined): RunInstancesCommandInput {
    const ec2tags = ec2Tags(tags);
    const input: RunInstancesCommandInput = {
      ImageId: this.imageId,
      InstanceType: option.instanceType as RunInstancesCommandInput['InstanceType'],
      MinCount: 1,
      MaxCount: 1,
      ClientToken: option.clientToken,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: ec2tags },
        { ResourceType: 'volume', Tags: ec2tags },
      ],
      MetadataOptions: {
        HttpTokens: 'required',
        HttpPutResponseHopLimit: 2,
        InstanceMetadataTags: 'enabled',
        HttpEndpoint: 'enabled',
      },
    };
    if (option.lifecycle === 'spot') {
      input.InstanceMarketOptions = {
        MarketType: 'spot',
        // No MaxPrice: a max price only raises interruptions (docs/field-notes.md).
        SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
      };
    }
    if (option.subnet) input.SubnetId = option.subnet.subnetId;
    else if (option.zone) input.Placement = { AvailabilityZone: option.zone };
    if (userData !== undefined) input.UserData = Buffer.from(userData, 'utf8').toString('base64');
    if (this.securityGroupIds) input.SecurityGroupIds = this.securityGroupIds;
    if (this.iamInstanceProfile) {
      input.IamInstanceProfile = this.iamInstanceProfile.startsWith('arn:')
        ? { Arn: this.iamInstanceProfile }
        : { Name: this.iamInstanceProfile };
    }
    if (this.keyName) input.KeyName = this.keyName;
    return input;
  }

  /** Options that recently had no capacity go last (kept: capacity comes back). */
  private preferAvailable(plan: LaunchOption[]): LaunchOption[] {
    const now = this.clock();
    for (const [key, until] of this.capacityMisses) if (until <= now) this.capacityMisses.delete(key);
    const missed = (o: LaunchOption) => this.capacityMisses.has(optionKey(o));
    return [...plan.filter((o) => !missed(o)), ...plan.filter(missed)];
  }

  /**
   * Waits until the new instance shows in a DescribeInstances filtered like the
   * caller's lists (by id and by its cluster and role tags), so the caller's next list
   * finds it. Gives up quietly after settleTimeoutMs: the instance was launched.
   */
  private async settle(launched: InstanceRecord, tags: Record<string, string>): Promise<InstanceRecord | undefined> {
    const deadline = this.clock() + this.settleTimeoutMs;
    const filter: InstanceFilter = {
      ids: [launched.id],
      states: ALL_STATES,
      tags: { [TAG_CLUSTER]: tags[TAG_CLUSTER]!, [TAG_ROLE]: tags[TAG_ROLE]! },
    };
    for (let attempt = 0; ; attempt += 1) {
      const [seen] = (await this.list(filter)).items;
      if (seen) return seen;
      const remaining = deadline - this.clock();
      if (remaining <= 0) return undefined;
      await this.sleep(Math.max(1, Math.min(remaining, fullJitterDelayMs(attempt, this.settleBackoff()))));
    }
  }

  /** Waiting for EC2 to catch up: the usual backoff, but never more than 2 s between looks. */
  private settleBackoff(): BackoffOptions {
    return { ...this.backoff, capMs: Math.min(this.backoff.capMs ?? 20_000, 2000) };
  }

  private async sendTagChange(change: TagChange): Promise<void> {
    if (change.kind === 'tag') {
      await this.retryNotFound('CreateTags', change.ids, () => this.api.createTags({ Resources: change.ids, Tags: ec2Tags(change.tags) }));
    } else {
      await this.retryNotFound('DeleteTags', change.ids, () =>
        this.api.deleteTags({ Resources: change.ids, Tags: change.keys.map((Key) => ({ Key })) }),
      );
    }
  }

  /**
   * Runs a call on ids and maps EC2's not-found to E_INSTANCE_NOT_FOUND naming the ids.
   * Ids launched here moments ago may be unknown to EC2 for a while (eventual
   * consistency), so while every missing id is one of those, the call is retried.
   */
  private async retryNotFound(action: Ec2Action, ids: string[], call: () => Promise<unknown>): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        await call();
        return;
      } catch (error) {
        if (!isNotFound(error)) throw toSynktiError(action, error);
        const named = idsInMessage(ec2ErrorMessage(error)).filter((id) => ids.includes(id));
        const missing = named.length > 0 ? named : ids;
        const now = this.clock();
        const settling = missing.every((id) => (this.recentLaunches.get(id) ?? 0) > now);
        if (!settling) {
          throw new SynktiError('E_INSTANCE_NOT_FOUND', `no instance ${missing.join(', ')} in EC2 (${this.regionLabel})`, {
            cause: error,
            hint: 'list instances to see their ids; terminated instances disappear from EC2 about an hour after they end',
          });
        }
        await this.sleep(Math.max(1, fullJitterDelayMs(attempt, this.settleBackoff())));
      }
    }
  }

  private checkIds(ids: string[]): string[] {
    if (!Array.isArray(ids))
      throw new SynktiError('E_INSTANCE_NOT_FOUND', 'instance ids must be an array of ids', {
        hint: 'pass ids like ["i-0123456789abcdef0"]',
      });
    const unique = [...new Set(ids)];
    const malformed = unique.filter((id) => typeof id !== 'string' || !INSTANCE_ID.test(id));
    if (malformed.length > 0) {
      throw new SynktiError('E_INSTANCE_NOT_FOUND', `no instance ${malformed.map(String).join(', ')}: not an EC2 instance id`, {
        hint: 'EC2 instance ids look like i-0123456789abcdef0',
      });
    }
    return unique;
  }

  private validateLaunchSpec(spec: LaunchSpec): Record<string, string> {
    // EC2's rules, shared with the local cloud (launch-spec-rules.ts); only the instance type's form is AWS's own.
    const tags = checkLaunchSpec(spec);
    if (typeof spec.instanceType !== 'string' || !/^[a-z0-9-]+\.[a-z0-9-]+$/.test(spec.instanceType)) {
      throw launchError(
        `launch spec instanceType ${JSON.stringify(spec.instanceType)} is not an EC2 instance type`,
        'set instanceType, e.g. "t3.micro" or "g5.xlarge"',
      );
    }
    return tags;
  }

  private assertOpen(): void {
    if (this.closed)
      throw new SynktiError('E_CLOSED', 'this AWS instance provider was closed', {
        hint: 'create a new one with createAwsInstanceProvider',
      });
  }
}

/** EC2 filter values treat `*` and `?` as wildcards; tags must match exactly. */
export function escapeFilterValue(value: string): string {
  return value.replace(/[\\*?]/g, (c) => `\\${c}`);
}

function optionKey(option: LaunchOption): string {
  return [option.lifecycle, option.instanceType, option.subnet?.subnetId ?? '', option.zone ?? ''].join('|');
}
