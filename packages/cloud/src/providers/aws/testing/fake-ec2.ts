/**
 * A small in-memory EC2 behind a real EC2Client whose `send` is replaced by
 * aws-sdk-client-mock: RunInstances (ClientToken idempotency, pending → running),
 * DescribeInstances (filters, MaxResults 5..1000, NextToken, no MaxResults with
 * InstanceIds), TerminateInstances (shutting-down → terminated, user-initiated),
 * CreateTags and DeleteTags, with EC2's error codes and messages. Eventual consistency
 * and capacity errors can be switched on. For tests only (needs the aws-sdk-client-mock devDependency).
 */
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  EC2Client,
  EC2ServiceException,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type CreateTagsCommandInput,
  type DeleteTagsCommandInput,
  type DescribeInstancesCommandInput,
  type DescribeInstancesCommandOutput,
  type Instance,
  type RunInstancesCommandInput,
  type RunInstancesCommandOutput,
  type Tag,
  type TerminateInstancesCommandInput,
  type TerminateInstancesCommandOutput,
} from '@aws-sdk/client-ec2';
import { mockedEc2Client, type Ec2Mock } from './mock-ec2-client.ts';
import { createHash, randomBytes } from 'node:crypto';

export interface FakeEc2Options {
  /** @default Date.now */
  clock?: (() => number) | undefined;
  /** Time from launch to running. @default 50 */
  pendingMs?: number | undefined;
  /** Time from terminate to terminated. @default 100 */
  shutdownMs?: number | undefined;
  /** DescribeInstances calls a new instance is missing from (eventual consistency). @default 0 */
  hiddenDescribes?: number | undefined;
  /** Calls naming a new instance (terminate, tags) that fail with not-found first. @default 0 */
  hiddenMutations?: number | undefined;
  /** Zone of each subnet. @default {} */
  subnetZones?: Record<string, string> | undefined;
  /** Zone when neither subnet nor placement is given. @default 'us-east-1a' */
  defaultZone?: string | undefined;
  /** Error code to fail a RunInstances with (e.g. InsufficientInstanceCapacity), or undefined to launch. */
  failLaunch?: ((input: RunInstancesCommandInput, zone: string) => string | undefined) | undefined;
}

export interface FakeInstance {
  id: string;
  instanceType: string;
  zone: string;
  subnetId: string | undefined;
  privateIp: string;
  spot: boolean;
  launchTime: number;
  tags: Map<string, string>;
  volumeTags: Map<string, string>;
  terminatingAt: number | undefined;
  reason: string | undefined;
  hiddenDescribes: number;
  hiddenMutations: number;
  request: RunInstancesCommandInput;
}

export function ec2Error(code: string, message: string, status = 400): EC2ServiceException {
  return new EC2ServiceException({
    name: code,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    message,
  });
}

function idsMessage(ids: string[]): string {
  return ids.length === 1 ? `The instance ID '${ids[0]}' does not exist` : `The instance IDs '${ids.join(', ')}' do not exist`;
}

/** EC2 filter matching: `*` any run, `?` any one character, a backslash makes the next character literal. */
export function filterMatches(pattern: string, value: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) source += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else source += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's').test(value);
}

export class FakeEc2 {
  readonly client: EC2Client;
  readonly mock: Ec2Mock;
  readonly instances = new Map<string, FakeInstance>();
  private readonly tokens = new Map<string, { id: string; fingerprint: string }>();
  private readonly options: FakeEc2Options;
  private readonly clock: () => number;
  private lastLaunch = 0;
  private ipCounter = 10;

  constructor(options: FakeEc2Options = {}) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    const { client, mock } = mockedEc2Client();
    this.client = client;
    mock.on(RunInstancesCommand).callsFake((input: RunInstancesCommandInput) => this.runInstances(input));
    mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => this.describeInstances(input));
    mock.on(TerminateInstancesCommand).callsFake((input: TerminateInstancesCommandInput) => this.terminateInstances(input));
    mock.on(CreateTagsCommand).callsFake((input: CreateTagsCommandInput) => this.createTags(input));
    mock.on(DeleteTagsCommand).callsFake((input: DeleteTagsCommandInput) => this.deleteTags(input));
    this.mock = mock;
  }

  /** The spot service reclaims an instance now (state reason Server.SpotInstanceTermination). */
  interrupt(id: string): void {
    const instance = this.instances.get(id);
    if (!instance) throw new Error(`no fake instance ${id}`);
    instance.terminatingAt = this.clock() - (this.options.shutdownMs ?? 100);
    instance.reason = 'Server.SpotInstanceTermination';
  }

  stateOf(instance: FakeInstance): 'pending' | 'running' | 'shutting-down' | 'terminated' {
    const now = this.clock();
    if (instance.terminatingAt !== undefined) {
      return now >= instance.terminatingAt + (this.options.shutdownMs ?? 100) ? 'terminated' : 'shutting-down';
    }
    return now >= instance.launchTime + (this.options.pendingMs ?? 50) ? 'running' : 'pending';
  }

  private runInstances(input: RunInstancesCommandInput): RunInstancesCommandOutput {
    if (!input.ImageId) throw ec2Error('MissingParameter', 'The request must contain the parameter ImageId');
    if (input.MinCount !== 1 || input.MaxCount !== 1) throw ec2Error('InvalidParameterValue', 'the fake launches one instance per call');
    const spot = input.InstanceMarketOptions?.MarketType === 'spot';
    const subnetId = input.SubnetId;
    if (subnetId !== undefined && this.options.subnetZones?.[subnetId] === undefined) {
      throw ec2Error('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
    }
    const zone =
      subnetId !== undefined
        ? this.options.subnetZones![subnetId]!
        : (input.Placement?.AvailabilityZone ?? this.options.defaultZone ?? 'us-east-1a');
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([input.ImageId, input.InstanceType, subnetId, zone, spot]))
      .digest('hex');
    if (input.ClientToken !== undefined) {
      const known = this.tokens.get(input.ClientToken);
      if (known) {
        if (known.fingerprint !== fingerprint) {
          throw ec2Error(
            'IdempotentParameterMismatch',
            'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).',
          );
        }
        return this.reservation(this.instances.get(known.id)!);
      }
    }
    const failure = this.options.failLaunch?.(input, zone);
    if (failure !== undefined) {
      throw ec2Error(
        failure,
        `We currently do not have sufficient ${input.InstanceType} capacity in the Availability Zone you requested (${zone}).`,
        failure === 'InsufficientInstanceCapacity' ? 500 : 400,
      );
    }
    const launchTime = Math.max(this.clock(), this.lastLaunch + 1);
    this.lastLaunch = launchTime;
    const tagsFor = (type: string) =>
      new Map(
        (input.TagSpecifications ?? [])
          .filter((s) => s.ResourceType === type)
          .flatMap((s) => s.Tags ?? [])
          .map((t) => [t.Key ?? '', t.Value ?? ''] as const),
      );
    this.ipCounter += 1;
    const instance: FakeInstance = {
      id: `i-${randomBytes(9).toString('hex').slice(0, 17)}`,
      instanceType: String(input.InstanceType),
      zone,
      subnetId,
      privateIp: `10.0.${Math.floor(this.ipCounter / 250)}.${this.ipCounter % 250}`,
      spot,
      launchTime,
      tags: tagsFor('instance'),
      volumeTags: tagsFor('volume'),
      terminatingAt: undefined,
      reason: undefined,
      hiddenDescribes: this.options.hiddenDescribes ?? 0,
      hiddenMutations: this.options.hiddenMutations ?? 0,
      request: input,
    };
    this.instances.set(instance.id, instance);
    if (input.ClientToken !== undefined) this.tokens.set(input.ClientToken, { id: instance.id, fingerprint });
    return this.reservation(instance);
  }

  private reservation(instance: FakeInstance): RunInstancesCommandOutput {
    return { $metadata: {}, ReservationId: `r-${instance.id.slice(2)}`, OwnerId: '123456789012', Instances: [this.describe(instance)] };
  }

  describe(instance: FakeInstance): Instance {
    const state = this.stateOf(instance);
    const codes = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48 } as const;
    return {
      InstanceId: instance.id,
      InstanceType: instance.instanceType as Instance['InstanceType'],
      ImageId: instance.request.ImageId,
      State: { Name: state, Code: codes[state] },
      StateReason: instance.reason === undefined ? undefined : { Code: instance.reason, Message: `${instance.reason}: fake` },
      PrivateIpAddress: state === 'terminated' ? undefined : instance.privateIp,
      Placement: { AvailabilityZone: instance.zone },
      SubnetId: instance.subnetId,
      InstanceLifecycle: instance.spot ? 'spot' : undefined,
      LaunchTime: new Date(instance.launchTime),
      Tags: [...instance.tags].map(([Key, Value]): Tag => ({ Key, Value })),
    };
  }

  private describeInstances(input: DescribeInstancesCommandInput): DescribeInstancesCommandOutput {
    if (input.InstanceIds?.length && input.MaxResults !== undefined) {
      throw ec2Error('InvalidParameterCombination', 'The parameter instancesSet cannot be used with the parameter maxResults');
    }
    if (input.MaxResults !== undefined && (input.MaxResults < 5 || input.MaxResults > 1000)) {
      throw ec2Error(
        'InvalidParameterValue',
        `Value ( ${input.MaxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
      );
    }
    const visible = [...this.instances.values()].filter((instance) => {
      if (instance.hiddenDescribes > 0) {
        instance.hiddenDescribes -= 1;
        return false;
      }
      return true;
    });
    if (input.InstanceIds?.length) {
      const missing = input.InstanceIds.filter((id) => !visible.some((i) => i.id === id));
      if (missing.length > 0) throw ec2Error('InvalidInstanceID.NotFound', idsMessage(missing));
    }
    let matched = visible.filter((instance) => !input.InstanceIds?.length || input.InstanceIds.includes(instance.id));
    for (const filter of input.Filters ?? []) {
      const values = filter.Values ?? [];
      const name = filter.Name ?? '';
      if (name === 'instance-state-name') matched = matched.filter((i) => values.includes(this.stateOf(i)));
      else if (name === 'instance-id') matched = matched.filter((i) => values.includes(i.id));
      else if (name.startsWith('tag:')) {
        matched = matched.filter((i) => i.tags.has(name.slice(4)) && values.some((v) => filterMatches(v, i.tags.get(name.slice(4))!)));
      } else if (name === 'tag-key') matched = matched.filter((i) => values.some((v) => i.tags.has(v)));
      else throw ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
    }
    matched.sort((a, b) => a.launchTime - b.launchTime || (a.id < b.id ? -1 : 1));
    let start = 0;
    if (input.NextToken !== undefined) {
      const parsed = /^fake:(\d+)$/.exec(Buffer.from(input.NextToken, 'base64').toString('utf8'));
      if (!parsed) throw ec2Error('InvalidParameterValue', 'Invalid value for nextToken');
      start = Number(parsed[1]);
    }
    const end = input.MaxResults === undefined ? matched.length : start + input.MaxResults;
    const page = matched.slice(start, end);
    return {
      $metadata: {},
      Reservations: page.map((instance) => ({ ReservationId: `r-${instance.id.slice(2)}`, Instances: [this.describe(instance)] })),
      NextToken: end < matched.length ? Buffer.from(`fake:${end}`).toString('base64') : undefined,
    };
  }

  /** Every id must exist (and be known to this call); otherwise nothing changes. */
  private known(ids: string[]): FakeInstance[] {
    const malformed = ids.filter((id) => !/^i-[0-9a-f]{8,17}$/.test(id));
    if (malformed.length > 0) throw ec2Error('InvalidInstanceID.Malformed', `Invalid id: "${malformed[0]}"`);
    const found = ids.map((id) => this.instances.get(id));
    const missing = ids.filter((id, i) => {
      const instance = found[i];
      return instance === undefined || instance.hiddenMutations > 0;
    });
    for (const instance of found) if (instance && instance.hiddenMutations > 0) instance.hiddenMutations -= 1;
    if (missing.length > 0) throw ec2Error('InvalidInstanceID.NotFound', idsMessage(missing));
    return found as FakeInstance[];
  }

  private terminateInstances(input: TerminateInstancesCommandInput): TerminateInstancesCommandOutput {
    const instances = this.known(input.InstanceIds ?? []);
    return {
      $metadata: {},
      TerminatingInstances: instances.map((instance) => {
        const previous = this.stateOf(instance);
        if (instance.terminatingAt === undefined) {
          instance.terminatingAt = this.clock();
          instance.reason = 'Client.UserInitiatedShutdown';
        }
        return { InstanceId: instance.id, PreviousState: { Name: previous }, CurrentState: { Name: this.stateOf(instance) } };
      }),
    };
  }

  private createTags(input: CreateTagsCommandInput): { $metadata: object } {
    const instances = this.known(input.Resources ?? []);
    for (const instance of instances) for (const tag of input.Tags ?? []) instance.tags.set(tag.Key ?? '', tag.Value ?? '');
    return { $metadata: {} };
  }

  private deleteTags(input: DeleteTagsCommandInput): { $metadata: object } {
    const instances = this.known(input.Resources ?? []);
    for (const instance of instances) {
      for (const tag of input.Tags ?? []) {
        const key = tag.Key ?? '';
        if (tag.Value === undefined || instance.tags.get(key) === tag.Value) instance.tags.delete(key);
      }
    }
    return { $metadata: {} };
  }
}
