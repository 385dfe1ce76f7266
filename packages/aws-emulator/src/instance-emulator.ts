/**
 * The instance emulator: watches the emulated EC2 (moto) and makes each pending or
 * running instance a machine on this host (emulated-machine.ts). A terminated or vanished
 * instance's machine is shut down as EC2 shuts an OS down: each systemd unit's main
 * process gets SIGTERM and the unit's TimeoutStopSec (at most `shutdownCapMs`) to exit,
 * then every process left is SIGKILLed and its IMDS server stopped. That is what lets an
 * agent that is scaled in or brought down leave gracefully (untag itself, tell its peers).
 *
 * Interruptions as EC2 delivers them: `preempt` puts a spot instance-action notice in the
 * instance's metadata at once and calls TerminateInstances at the notice's time, then
 * shuts the machine down with a short grace (`shutdownGraceMs`: the notice was the
 * warning; the agent's drain is due before it); `crash` kills everything with no notice
 * (SIGKILL), then terminates; `rebalance` raises a rebalance recommendation. Shutdowns run
 * beside the polling: a machine being shut down is still listed by machines().
 *
 * The emulator's own EC2 calls (DescribeInstances every ~250 ms, DescribeInstanceAttribute
 * once per instance, TerminateInstances) use their own administrator client: they are
 * not the fleet's calls and must not be counted with them.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EventEmitter } from 'node:events';
import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  EC2Client,
  TerminateInstancesCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { SynktiError } from '@synkti/core';
import { EmulatedMachine, writeMachineShims } from './emulated-machine.ts';
import type { CredentialsFor, EmulatedInstance } from './instance-metadata.ts';
import { MOTO_ACCOUNT_ID, type MotoServer } from './moto-server.ts';

export interface InstanceEmulatorOptions {
  /** The emulated AWS the emulator watches, as the administrator. */
  moto: Pick<MotoServer, 'clientConfig' | 'endpoint' | 'region'>;
  /** Machines live under `<stateDir>/instances/<id>/`; the emulator logs to `<stateDir>/emulator.log`. */
  stateDir: string;
  /**
   * AWS_ENDPOINT_URL inside each machine (e.g. a proxy that checks IAM in front of moto).
   * @default moto.endpoint
   */
  awsEndpoint?: string | undefined;
  /**
   * Role credentials each instance's IMDS serves under iam/security-credentials/<role>
   * (only for an instance launched with an instance profile, as on EC2).
   * @default none: machines get static dummy keys in their environment instead
   */
  credentialsFor?: CredentialsFor | undefined;
  /**
   * How often the emulated EC2 is listed.
   * @default 250
   */
  pollIntervalMs?: number | undefined;
  /**
   * Longest a terminated instance's units get between SIGTERM and SIGKILL (a unit's own
   * TimeoutStopSec applies when shorter; systemd's default 90 s would stall tests).
   * @default 30000
   */
  shutdownCapMs?: number | undefined;
}

export interface PreemptOptions {
  /**
   * Time from the notice to TerminateInstances (EC2 gives two minutes).
   * @default 120000
   */
  noticeInMs?: number | undefined;
  /**
   * At the notice's time, how long the units get between SIGTERM and SIGKILL: EC2 shuts
   * the OS down then, but promises nothing past the two minutes, so a drain must be done
   * by the deadline; a short grace keeps "terminated at the notice time" honest.
   * @default 2000
   */
  shutdownGraceMs?: number | undefined;
}

/** Why a machine ended. */
export type MachineEnd = 'terminated' | 'preempted' | 'crashed' | 'stopped';

function toEmulatedInstance(i: Instance, region: string, ownerId: string | undefined): EmulatedInstance | undefined {
  const eni = i.NetworkInterfaces?.find((n) => n.Attachment?.DeviceIndex === 0) ?? i.NetworkInterfaces?.[0];
  if (!i.InstanceId || !i.PrivateIpAddress) return undefined;
  const tags: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
  return {
    instanceId: i.InstanceId,
    instanceType: i.InstanceType ?? 'unknown',
    imageId: i.ImageId ?? '',
    region,
    zone: i.Placement?.AvailabilityZone ?? `${region}a`,
    privateIp: i.PrivateIpAddress,
    mac: eni?.MacAddress ?? '02:00:00:00:00:00',
    subnetId: i.SubnetId ?? eni?.SubnetId ?? '',
    vpcId: i.VpcId ?? eni?.VpcId ?? '',
    securityGroupIds: (i.SecurityGroups ?? []).map((g) => g.GroupId).filter((g): g is string => !!g),
    tags,
    tagsInMetadata: i.MetadataOptions?.InstanceMetadataTags === 'enabled',
    instanceProfileArn: i.IamInstanceProfile?.Arn,
    instanceProfileId: i.IamInstanceProfile?.Id,
    lifecycle: i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
    launchedAt: i.LaunchTime?.getTime() ?? Date.now(),
    accountId: ownerId ?? MOTO_ACCOUNT_ID,
  };
}

export class InstanceEmulator extends EventEmitter<{
  started: [machine: EmulatedMachine];
  ended: [machine: EmulatedMachine, why: MachineEnd];
  error: [error: unknown];
}> {
  readonly stateDir: string;
  readonly shimsDir: string;
  readonly #ec2: EC2Client;
  readonly #iam: IAMClient;
  readonly #region: string;
  readonly #awsEndpoint: string;
  readonly #pollIntervalMs: number;
  readonly #shutdownCapMs: number;
  /** Machines being ended (shut down or killed): their end, awaited by stop(). */
  readonly #ending = new Map<string, Promise<void>>();
  /** Instances at their notice's deadline: ended by preempt() with its grace, not by the polling's. */
  readonly #preempting = new Set<string>();
  readonly #machines = new Map<string, EmulatedMachine>();
  /** Instance ids whose machine has ended: an instance never boots twice. */
  readonly #ended = new Set<string>();
  /** Pending preemption deadlines, each with what settles its `terminated` promise on stop(). */
  readonly #timers = new Map<NodeJS.Timeout, () => void>();
  #poll: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #running = false;
  #lastError = '';

  constructor(private readonly options: InstanceEmulatorOptions) {
    super();
    this.stateDir = options.stateDir;
    this.shimsDir = join(options.stateDir, 'shims');
    this.#region = options.moto.region;
    this.#awsEndpoint = options.awsEndpoint ?? options.moto.endpoint;
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
    if (!(this.#pollIntervalMs >= 10))
      throw new SynktiError('E_EMULATOR_OPTIONS', `pollIntervalMs: at least 10, got ${this.#pollIntervalMs}`, {
        hint: 'leave it unset for 250 ms',
      });
    this.#shutdownCapMs = options.shutdownCapMs ?? 30_000;
    if (!(this.#shutdownCapMs >= 0 && this.#shutdownCapMs <= 600_000)) {
      throw new SynktiError('E_EMULATOR_OPTIONS', `shutdownCapMs: from 0 to 600000, got ${this.#shutdownCapMs}`, {
        hint: 'leave it unset for 30000 (0 kills at once)',
      });
    }
    this.#ec2 = new EC2Client(options.moto.clientConfig());
    this.#iam = new IAMClient(options.moto.clientConfig());
  }

  #log(line: string): void {
    try {
      appendFileSync(join(this.stateDir, 'emulator.log'), `${new Date().toISOString()} ${line}\n`);
    } catch {
      // the state directory is gone (stopping): nothing to log to
    }
  }

  /** Writes the shims and starts watching the emulated EC2. */
  async start(): Promise<void> {
    if (this.#running) return;
    writeMachineShims(this.shimsDir);
    if (!this.options.credentialsFor) this.#log('no credentialsFor: machines use static dummy keys, not role credentials from their IMDS');
    this.#running = true;
    await this.#runTick();
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#poll = setTimeout(() => {
      void this.#runTick().finally(() => this.#schedule());
    }, this.#pollIntervalMs);
    this.#poll.unref();
  }

  #runTick(): Promise<void> {
    this.#tick ??= this.#reconcile()
      .catch((error: unknown) => {
        const text = String((error as Error)?.message ?? error);
        // One line per distinct failure, not one every 250 ms.
        if (text !== this.#lastError) this.#log(`poll failed: ${text}`);
        this.#lastError = text;
        if (this.listenerCount('error') > 0) this.emit('error', error);
      })
      .finally(() => {
        this.#tick = undefined;
      });
    return this.#tick;
  }

  /** Waits for one full pass over the emulated EC2 (machines started or ended as it says now). */
  async sync(): Promise<void> {
    await this.#tick;
    await this.#runTick();
  }

  async #describeLive(): Promise<Map<string, EmulatedInstance>> {
    const live = new Map<string, EmulatedInstance>();
    let nextToken: string | undefined;
    do {
      const page = await this.#ec2.send(
        new DescribeInstancesCommand({
          Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }],
          NextToken: nextToken,
        }),
      );
      for (const r of page.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
          const record = toEmulatedInstance(i, this.#region, r.OwnerId);
          if (record) live.set(record.instanceId, record);
        }
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return live;
  }

  async #reconcile(): Promise<void> {
    if (!this.#running) return;
    const live = await this.#describeLive();
    if (!this.#running) return;
    for (const [id, machine] of this.#machines) {
      const record = live.get(id);
      if (record) machine.update(record);
      // Not awaited: a shutdown takes up to its grace, and other instances boot meanwhile.
      else if (!this.#ending.has(id) && !this.#preempting.has(id))
        void this.#end(machine, 'terminated', this.#shutdownCapMs).catch((error: unknown) =>
          this.#log(`${id}: shutdown failed: ${String(error)}`),
        );
    }
    for (const [id, record] of live) {
      if (this.#machines.has(id) || this.#ended.has(id)) continue;
      await this.#boot(record);
    }
    this.#lastError = '';
  }

  async #boot(record: EmulatedInstance): Promise<void> {
    const attribute = await this.#ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: record.instanceId, Attribute: 'userData' }));
    const encoded = attribute.UserData?.Value;
    const instance: EmulatedInstance = { ...record, userData: encoded ? Buffer.from(encoded, 'base64').toString('utf8') : undefined };
    if (instance.instanceProfileArn) instance.roleName = await this.#roleOf(instance.instanceProfileArn);
    if (!this.#running || this.#machines.has(instance.instanceId)) return;
    const machine = new EmulatedMachine({
      instance,
      dir: join(this.stateDir, 'instances', instance.instanceId),
      awsEndpoint: this.#awsEndpoint,
      shimsDir: this.shimsDir,
      credentialsFor: this.options.credentialsFor,
    });
    this.#machines.set(instance.instanceId, machine);
    mkdirSync(machine.dir, { recursive: true });
    try {
      await machine.start();
    } catch (error) {
      // Not booted: forget it so the next pass tries again.
      await machine.stop().catch(() => undefined);
      this.#machines.delete(instance.instanceId);
      throw error;
    }
    this.#log(
      `${instance.instanceId}: started at ${instance.privateIp} (${instance.zone}), IMDS ${machine.imdsUrl}, ${instance.userData === undefined ? 'no user data' : 'running its user data'}`,
    );
    this.emit('started', machine);
  }

  /** The role inside an instance profile (its name under iam/security-credentials/). */
  async #roleOf(profileArn: string): Promise<string | undefined> {
    const name = profileArn.split('/').pop();
    if (!name) return undefined;
    try {
      const profile = await this.#iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
      return profile.InstanceProfile?.Roles?.[0]?.RoleName;
    } catch {
      return undefined;
    }
  }

  /**
   * Ends a machine: an OS shutdown with up to `graceMs` for its units, or SIGKILL at once
   * (graceMs undefined). A machine already ending is killed at once if asked to (a crash
   * or stop() cuts a shutdown short), and its end is awaited.
   */
  #end(machine: EmulatedMachine, why: MachineEnd, graceMs?: number): Promise<void> {
    const ending = this.#ending.get(machine.id);
    if (ending) {
      const killed = graceMs === undefined ? machine.stop() : Promise.resolve();
      return Promise.all([killed, ending]).then(() => undefined);
    }
    this.#ended.add(machine.id);
    const end = (async () => {
      try {
        if (graceMs === undefined) {
          await machine.stop();
          this.#log(`${machine.id}: ended (${why}: SIGKILL)`);
        } else {
          const report = await machine.shutdown({ capMs: graceMs });
          this.#log(
            `${machine.id}: ended (${why}: shutdown of ${report.units.join(', ') || 'no unit'} ${report.clean ? 'stopped' : `SIGKILLed after a grace of ${report.graceMs} ms`}, ${report.tookMs} ms)`,
          );
        }
      } finally {
        this.#machines.delete(machine.id);
        this.#ending.delete(machine.id);
        this.emit('ended', machine, why);
      }
    })();
    this.#ending.set(machine.id, end);
    return end;
  }

  /** The running machines (one being shut down included, until its last process is gone). */
  machines(): EmulatedMachine[] {
    return [...this.#machines.values()];
  }

  /** The running machine of an instance, if any. */
  machine(id: string): EmulatedMachine | undefined {
    return this.#machines.get(id);
  }

  #require(id: string, what: string): EmulatedMachine {
    const machine = this.#machines.get(id);
    if (!machine) {
      throw new SynktiError('E_EMULATED_INSTANCE_NOT_FOUND', `${what}: no running emulated instance ${id}`, {
        hint: this.#machines.size
          ? `running: ${[...this.#machines.keys()].join(', ')}`
          : 'no instance is running; await emulator.sync() after RunInstances',
      });
    }
    return machine;
  }

  async #terminate(id: string): Promise<void> {
    await this.#ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  }

  /**
   * A spot interruption: the instance-action notice is in the instance's metadata at once;
   * at its time the instance is terminated (TerminateInstances) and its machine shut down
   * (SIGTERM, `shutdownGraceMs`, SIGKILL). `terminated` resolves once no process is left.
   */
  preempt(id: string, options: PreemptOptions = {}): { time: number; terminated: Promise<void> } {
    const machine = this.#require(id, 'preempt');
    const noticeInMs = options.noticeInMs ?? 120_000;
    if (!(noticeInMs >= 0))
      throw new SynktiError('E_EMULATOR_OPTIONS', `noticeInMs: must be 0 or more, got ${noticeInMs}`, {
        hint: 'EC2 gives 120000 (two minutes)',
      });
    const graceMs = options.shutdownGraceMs ?? 2000;
    if (!(graceMs >= 0 && graceMs <= 600_000))
      throw new SynktiError('E_EMULATOR_OPTIONS', `shutdownGraceMs: from 0 to 600000, got ${graceMs}`, {
        hint: 'leave it unset for 2000 (0 kills at the deadline)',
      });
    const time = Date.now() + noticeInMs;
    machine.events.notice = { action: 'terminate', time };
    this.#log(`${id}: spot interruption notice, terminating at ${new Date(time).toISOString()}`);
    const terminated = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        if (!this.#running) {
          resolve();
          return;
        }
        this.#preempting.add(id);
        this.#terminate(id)
          .then(() => this.#end(machine, 'preempted', graceMs))
          .finally(() => this.#preempting.delete(id))
          .then(resolve, reject);
      }, noticeInMs);
      timer.unref();
      this.#timers.set(timer, resolve);
    });
    // A caller that does not await it must not see an unhandled rejection.
    terminated.catch((error: unknown) => this.#log(`${id}: termination after the notice failed: ${String(error)}`));
    return { time, terminated };
  }

  /** A rebalance recommendation in the instance's metadata (nothing is terminated). */
  rebalance(id: string): void {
    this.#require(id, 'rebalance').events.rebalance = { noticeTime: Date.now() };
    this.#log(`${id}: rebalance recommendation`);
  }

  /** A crash: every process SIGKILLed with no notice, then the instance terminated. */
  async crash(id: string): Promise<void> {
    const machine = this.#require(id, 'crash');
    await this.#end(machine, 'crashed');
    await this.#terminate(id);
  }

  /** Stops watching and kills every machine; nothing is left running. Idempotent. */
  async stop(): Promise<void> {
    this.#running = false;
    if (this.#poll) clearTimeout(this.#poll);
    for (const [timer, settle] of this.#timers) {
      clearTimeout(timer);
      settle();
    }
    this.#timers.clear();
    await this.#tick?.catch(() => undefined);
    // Pulling the plug: machines being shut down are killed too.
    const results = await Promise.allSettled([...this.#machines.values()].map((m) => this.#end(m, 'stopped')));
    this.#ec2.destroy();
    this.#iam.destroy();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}
