/**
 * InstanceProvider for the embedded local cloud: an "instance" is a detached process
 * tree on this machine (an instance host, instance-host.ts, and the boot command it
 * runs), and the registry (registry.ts) is the cloud's API state. Any number of
 * processes may open the same state directory and use this provider together.
 *
 * Where EC2 gives each instance its own private IP, every local instance has
 * 127.0.0.1; so each gets its own free TCP ports instead, allocated at launch and set
 * as tags (SynktiPortAgent, SynktiPortRouter, SynktiPortWorkload by default) where
 * peers read them as they would read an IP. A port still held by a live instance is
 * never handed out again.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SynktiError, TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD, parseDuration } from '@synkti/core';
import type {
  InstanceFilter,
  InstanceProvider,
  InstanceRecord,
  InstanceState,
  InterruptionNotice,
  LaunchSpec,
  Page,
  PageRequest,
} from '../../types.ts';
import { machineEnv, saveBootConfig } from './boot-config.ts';
import { loadChaos, saveChaos, type ChaosSettings } from './chaos.ts';
import { loadHostPool, pickHost, saveHostPool, type LocalHostPlacement } from './host-pool.ts';
import { REASON_CRASH, REASON_USER_SHUTDOWN } from './instance-host.ts';

export type { LocalHostPlacement } from './host-pool.ts';
import { consoleLogOf, hostLogOf, instanceDirOf } from './local-layout.ts';
import { allocatePorts } from './ports.ts';
import { instanceProcesses, isProcessAlive, killOrphanedGroup, processStartTime, signalQuietly, waitUntil } from './proc.ts';
import { LocalRegistry, type InstanceRow } from './registry.ts';
import { checkLaunchSpec, checkTags } from '../../launch-spec-rules.ts';
import { pageSize } from '../../page-request.ts';

export interface LocalCloudOptions {
  /** Directory holding the cloud's state (the CLI uses `.synkti/<cluster>/`); created if missing. */
  stateDir: string;
  /**
   * argv every instance boots (the "AMI + user data" program, e.g. the Synkti agent).
   * Saved in the registry, so later processes that omit it boot instances the same way.
   * @default the saved command; with none saved, instances boot into an idle host
   */
  bootCommand?: string[] | undefined;
  /**
   * Extra environment of the boot command (values are never logged). Saved like `bootCommand`.
   * Instances otherwise get only PATH, HOME, USER, LOGNAME, SHELL, LANG, LC_ALL, TZ, TMPDIR
   * and SYNKTI_LOG_LEVEL, plus SYNKTI_IMDS_ENDPOINT and SYNKTI_LOCAL_STATE_DIR.
   * @default the saved environment, else {}
   */
  env?: Record<string, string> | undefined;
  /**
   * Working directory of the boot command. Saved like `bootCommand`.
   * @default the saved directory; else the cwd of the process that saved `bootCommand`
   */
  cwd?: string | undefined;
  /**
   * Region the instances report in their metadata.
   * @default 'local'
   */
  region?: string | undefined;
  /**
   * Availability zones; a launch without `zone` takes the next one round-robin.
   * @default ['local-a', 'local-b', 'local-c']
   */
  zones?: string[] | undefined;
  /**
   * Tag keys that each get a free 127.0.0.1 port at launch, unless the launch spec sets them.
   * @default [TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD]
   */
  portTags?: string[] | undefined;
  /**
   * After SIGTERM at terminate, how long an instance's processes get before SIGKILL.
   * @default 30000
   */
  terminateGraceMs?: number | undefined;
  /**
   * Host-per-namespace mode (root; tests): the hosts instances run on, each a network
   * namespace with its own address (createNetnsHosts makes them). A launch takes a host no
   * live instance is on; the instance gets its address as private IP, the production ports
   * (no port tags), and its metadata server at http://169.254.169.254 inside its namespace
   * (the boot command gets no SYNKTI_IMDS_ENDPOINT: the production default is right there).
   * Saved like `bootCommand`, so replacements launched by agents get hosts of their own too;
   * with every host taken a launch fails with E_LAUNCH_FAILED.
   * @default the saved hosts; with none saved, every instance on 127.0.0.1 with its own ports
   */
  hosts?: LocalHostPlacement[] | undefined;
}

export interface PreemptOptions {
  /**
   * Time from now until the instance is reclaimed (EC2 gives two minutes).
   * @default 120000
   */
  noticeInMs?: number | undefined;
  /**
   * The notice's action; the local cloud models termination only.
   * @default 'terminate'
   */
  action?: 'terminate' | undefined;
}

export const DEFAULT_ZONES = ['local-a', 'local-b', 'local-c'];
export const DEFAULT_PORT_TAGS = [TAG_PORT_AGENT, TAG_PORT_ROUTER, TAG_PORT_WORKLOAD];
const DEFAULT_MAX_RESULTS = 100;
const ACTIVE_STATES: InstanceState[] = ['pending', 'running', 'shutting-down'];
const ALL_STATES: InstanceState[] = ['pending', 'running', 'shutting-down', 'terminated'];
/** A pending row whose host was never recorded this long after launch belongs to a launcher that died mid-launch. */
const ORPHAN_LAUNCH_MS = 30_000;
/** `true` in the agent's compiled release (agent-bundle.ts), where the host is lib/instance-host-main.mjs beside this code. */
declare const SYNKTI_COMPILED_RELEASE: boolean | undefined;
const COMPILED = typeof SYNKTI_COMPILED_RELEASE === 'boolean' && SYNKTI_COMPILED_RELEASE;
const HOST_MAIN = fileURLToPath(new URL(COMPILED ? './instance-host-main.mjs' : './instance-host-main.ts', import.meta.url));

/** How a host starts: through tsx's loader (resolved from this package, so any cwd works), or as compiled JavaScript. */
function hostCommand(): string[] {
  return COMPILED
    ? [process.execPath, HOST_MAIN]
    : [process.execPath, '--import', createRequire(import.meta.url).resolve('tsx'), HOST_MAIN];
}

function newInstanceId(): string {
  return `i-${randomBytes(9).toString('hex').slice(0, 17)}`;
}

function launchError(message: string, hint: string): SynktiError {
  return new SynktiError('E_LAUNCH_SPEC', message, { hint });
}

function encodeToken(row: { launchedAt: number; id: string }): string {
  return Buffer.from(JSON.stringify([row.launchedAt, row.id])).toString('base64url');
}

function decodeToken(token: string): { launchedAt: number; id: string } {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && Number.isInteger(value[0]) && typeof value[1] === 'string') {
      return { launchedAt: value[0] as number, id: value[1] };
    }
  } catch {
    // Falls through to the error below.
  }
  throw new SynktiError('E_PAGE_REQUEST', 'nextToken is not a token this provider returned', {
    hint: 'pass back the nextToken of the previous page unchanged, or omit it to start from the first page',
  });
}

function toRecord(row: InstanceRow, tags: Record<string, string>): InstanceRecord {
  return {
    id: row.id,
    state: row.state,
    stateReason: row.stateReason ?? undefined,
    privateIp: row.privateIp,
    instanceType: row.instanceType,
    zone: row.zone,
    lifecycle: row.lifecycle,
    launchedAt: row.launchedAt,
    tags,
  };
}

export class LocalInstanceProvider implements InstanceProvider {
  readonly stateDir: string;
  readonly region: string;
  private readonly zones: string[];
  private readonly portTags: string[];
  private readonly terminateGraceMs: number;
  private readonly registry: LocalRegistry;
  private closed = false;

  constructor(options: LocalCloudOptions) {
    if (typeof options?.stateDir !== 'string' || options.stateDir === '') {
      throw new SynktiError('E_LOCAL_CLOUD_OPTIONS', 'stateDir is required', {
        hint: 'pass the directory that holds the local cloud, e.g. .synkti/<cluster>',
      });
    }
    this.stateDir = resolve(options.stateDir);
    this.region = options.region ?? 'local';
    this.zones = options.zones ?? DEFAULT_ZONES;
    if (this.zones.length === 0) {
      throw new SynktiError('E_LOCAL_CLOUD_OPTIONS', 'zones must name at least one zone', {
        hint: `omit zones to use ${DEFAULT_ZONES.join(', ')}`,
      });
    }
    this.portTags = options.portTags ?? DEFAULT_PORT_TAGS;
    this.terminateGraceMs = parseDuration(options.terminateGraceMs ?? 30_000, 'terminateGraceMs');
    this.registry = LocalRegistry.open(this.stateDir);
    try {
      saveBootConfig(this.registry, {
        command: options.bootCommand,
        env: options.env,
        cwd: options.cwd !== undefined ? resolve(options.cwd) : options.bootCommand !== undefined ? process.cwd() : undefined,
      });
      if (options.hosts !== undefined) this.registry.immediate(() => saveHostPool(this.registry, options.hosts!));
    } catch (error) {
      this.registry.close();
      throw error;
    }
  }

  async launch(spec: LaunchSpec): Promise<InstanceRecord> {
    this.assertOpen();
    const tags = this.validateLaunchSpec(spec);
    this.reconcile();
    // Read per launch: another process may have saved the hosts. A host of its own has the
    // production ports free: no port tags there.
    const hostPool = loadHostPool(this.registry);
    const portKeys = hostPool ? [] : this.portTags.filter((key) => tags[key] === undefined);
    for (let attempt = 0; attempt < 20; attempt += 1) {
      if (spec.clientToken !== undefined) {
        const existing = this.registry.getInstanceByClientToken(spec.clientToken);
        if (existing) return toRecord(existing, this.registry.tagsOf(existing.id));
      }
      const ports = await allocatePorts(portKeys.length, this.registry.portsInUse(this.portTags));
      let outcome: { kind: 'existing' | 'created'; row: InstanceRow } | { kind: 'retry' };
      try {
        outcome = this.registry.immediate(() => {
          // Checked again under the write lock: another process may have launched meanwhile.
          if (spec.clientToken !== undefined) {
            const existing = this.registry.getInstanceByClientToken(spec.clientToken);
            if (existing) return { kind: 'existing' as const, row: existing };
          }
          const used = this.registry.portsInUse(this.portTags);
          if (ports.some((port) => used.has(port))) return { kind: 'retry' as const };
          const allTags = { ...tags };
          portKeys.forEach((key, i) => {
            allTags[key] = String(ports[i]);
          });
          const id = newInstanceId();
          // Under the write lock: two launches (from any processes) never take the same host.
          const placement = hostPool && pickHost(hostPool, this.registry.queryInstances({ states: ALL_STATES, limit: 1_000_000 }));
          if (hostPool && !placement) {
            throw new SynktiError(
              'E_LAUNCH_FAILED',
              `could not launch: all ${hostPool.length} hosts of the local cloud's host-per-namespace mode run an instance`,
              {
                hint: 'create more hosts (createNetnsHosts count) and pass them as hosts, or terminate an instance',
              },
            );
          }
          const row = {
            id,
            privateIp: placement?.privateIp ?? '127.0.0.1',
            instanceType: spec.instanceType,
            // Locally every zone has capacity: the first of the caller's order that exists wins.
            zone:
              spec.zone ??
              spec.zoneOrder?.find((z) => this.zones.includes(z)) ??
              this.zones[this.registry.countInstances() % this.zones.length]!,
            lifecycle: spec.lifecycle,
            launchedAt: Date.now(),
            userData: spec.userData ?? null,
            clientToken: spec.clientToken ?? null,
          };
          this.registry.insertInstance(row, allTags);
          return { kind: 'created' as const, row: this.registry.getInstance(row.id)! };
        });
      } catch (error) {
        // The UNIQUE constraint is the last word on idempotency.
        const code = (error as { code?: unknown }).code;
        if (spec.clientToken !== undefined && typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT')) continue;
        throw error;
      }
      if (outcome.kind === 'retry') continue;
      if (outcome.kind === 'existing') return toRecord(outcome.row, this.registry.tagsOf(outcome.row.id));
      this.spawnHost(outcome.row.id);
      return toRecord(outcome.row, this.registry.tagsOf(outcome.row.id));
    }
    throw new SynktiError('E_LAUNCH_FAILED', 'could not launch: free ports kept being taken by other launches', {
      hint: 'retry the launch',
    });
  }

  async list(filter: InstanceFilter, page: PageRequest = {}): Promise<Page<InstanceRecord>> {
    this.assertOpen();
    const maxResults = pageSize(page, DEFAULT_MAX_RESULTS);
    const after = page.nextToken ? decodeToken(page.nextToken) : undefined;
    const tags = filter?.tags === undefined ? undefined : checkTags(filter.tags, 'E_INSTANCE_FILTER', 'list filter');
    const states = (filter?.states ?? ACTIVE_STATES).filter((s) => ALL_STATES.includes(s));
    this.reconcile();
    const rows = this.registry.queryInstances({ states, tags, ids: filter?.ids, after, limit: maxResults + 1 });
    const items = rows.slice(0, maxResults);
    const tagsById = this.registry.tagsOfMany(items.map((r) => r.id));
    const last = items[items.length - 1];
    return {
      items: items.map((row) => toRecord(row, tagsById.get(row.id) ?? {})),
      nextToken: rows.length > maxResults && last ? encodeToken(last) : undefined,
    };
  }

  async terminate(ids: string[]): Promise<void> {
    this.assertOpen();
    this.assertExist(ids);
    const now = Date.now();
    for (const id of new Set(ids)) {
      const row = this.registry.getInstance(id);
      if (!row || row.state === 'terminated') continue;
      this.registry.markShuttingDown(id, REASON_USER_SHUTDOWN);
      if (row.hostPid !== null && isProcessAlive(row.hostPid, row.hostStartTime)) {
        // The host stops the instance gracefully and marks it terminated itself. A host
        // still booting (no metadata URL yet) may not handle SIGTERM yet; it reads the
        // shutting-down state when it finishes booting instead.
        if (row.metadataUrl !== null) signalQuietly(row.hostPid, 'SIGTERM');
      } else if (row.hostPid !== null || now - row.launchedAt > ORPHAN_LAUNCH_MS) {
        this.registry.markTerminated(id, REASON_USER_SHUTDOWN, now);
      }
      // Otherwise its host is being spawned right now; it reads shutting-down at boot and stops.
    }
  }

  async tag(ids: string[], tags: Record<string, string>): Promise<void> {
    this.assertOpen();
    checkTags(tags, 'E_TAG', 'tag');
    this.assertExist(ids);
    this.registry.putTags([...new Set(ids)], tags);
  }

  async untag(ids: string[], keys: string[]): Promise<void> {
    this.assertOpen();
    this.assertExist(ids);
    this.registry.deleteTags([...new Set(ids)], keys);
  }

  /**
   * Raises a spot interruption notice (visible in the instance's metadata at once);
   * when its time comes the instance is SIGKILLed and terminated with
   * `Server.SpotInstanceTermination`. Works on any lifecycle, for chaos testing.
   */
  async preempt(id: string, options: PreemptOptions = {}): Promise<InterruptionNotice> {
    this.assertOpen();
    const noticeInMs = parseDuration(options.noticeInMs ?? 120_000, 'noticeInMs');
    const row = this.activeRow(id);
    const notice: InterruptionNotice = { action: options.action ?? 'terminate', time: Date.now() + noticeInMs };
    this.registry.setNotice(row.id, notice);
    return notice;
  }

  /**
   * Chaos: every running instance gets spot interruption notices at random, `ratePerHour`
   * per instance (Poisson), each with `noticeMs` warning. 0 turns it off.
   */
  setChaos(settings: ChaosSettings): void {
    this.assertOpen();
    saveChaos(this.registry, settings);
  }

  /**
   * When each of the newest `limit` instances launched, got its spot notice (the reclaim
   * time) and ended: the fleet's history as the registry keeps it (a dashboard opened late
   * shows what happened before).
   */
  lifeTimes(limit = 500): { id: string; launchedAt: number; noticeTime: number | null; terminatedAt: number | null }[] {
    this.assertOpen();
    const rows = this.registry.queryInstances({ states: ['pending', 'running', 'shutting-down', 'terminated'], limit: 1_000_000 });
    return rows.slice(-limit).map((r) => ({ id: r.id, launchedAt: r.launchedAt, noticeTime: r.noticeTime, terminatedAt: r.terminatedAt }));
  }

  /** The chaos settings instance hosts read (ratePerHour 0: off). */
  chaos(): ChaosSettings {
    this.assertOpen();
    return loadChaos(this.registry);
  }

  /** Raises a rebalance recommendation (elevated interruption risk) in the instance's metadata. */
  async recommendRebalance(id: string): Promise<{ noticeTime: number }> {
    this.assertOpen();
    const row = this.activeRow(id);
    const noticeTime = Date.now();
    this.registry.setRebalance(row.id, noticeTime);
    return { noticeTime };
  }

  /**
   * Simulates a hardware crash: SIGKILLs the instance's whole process group at once and
   * resolves when it is gone. The registry is not told; the next `list` sees the host
   * gone and reports the instance terminated with `Server.InternalError`.
   */
  async kill(id: string): Promise<void> {
    this.assertOpen();
    this.assertExist([id]);
    const row = this.registry.getInstance(id);
    const pid = row?.hostPid ?? null;
    if (pid === null || !isProcessAlive(pid, row?.hostStartTime)) return;
    // The host was spawned detached, so it leads a process group of its own; processes
    // started in other groups below it (a supervised workload) are found by parentage
    // before the kill, since they are re-parented once the host dies.
    const victims = instanceProcesses(pid);
    signalQuietly(-pid, 'SIGKILL');
    for (const victim of victims) signalQuietly(victim, 'SIGKILL');
    await waitUntil(() => !isProcessAlive(pid) && victims.every((v) => !isProcessAlive(v)), 5000, 10);
  }

  /** Where the instance's logs live: `<stateDir>/instances/<id>/`. */
  instanceDir(id: string): string {
    return instanceDirOf(this.stateDir, id);
  }

  /** The boot command's output (stdout and stderr) with the host's boot messages. */
  consoleLogPath(id: string): string {
    return consoleLogOf(this.stateDir, id);
  }

  /** The instance host's own log. */
  hostLogPath(id: string): string {
    return hostLogOf(this.stateDir, id);
  }

  /** Pid of the instance host (leader of the instance's process group), if one was started. */
  hostPid(id: string): number | undefined {
    this.assertOpen();
    return this.registry.getInstance(id)?.hostPid ?? undefined;
  }

  /**
   * Base URL of the instance's metadata server (what SYNKTI_IMDS_ENDPOINT is), once it
   * listens. Undefined for an instance on a host of its own: its server is at
   * 169.254.169.254 inside its namespace, which no other namespace reaches.
   */
  metadataEndpointOf(id: string): string | undefined {
    this.assertOpen();
    const row = this.registry.getInstance(id);
    if (!row || row.state === 'terminated' || this.namespaceOf(row.privateIp) !== undefined) return undefined;
    return row.metadataUrl ?? undefined;
  }

  /** Closes the registry; instances keep running. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.registry.close();
  }

  /**
   * Liveness: a pending/running/shutting-down instance whose host is gone (or whose pid
   * now belongs to another process) crashed, and is terminated with Server.InternalError.
   */
  private reconcile(): void {
    const now = Date.now();
    for (const row of this.registry.activeInstances()) {
      const gone = row.hostPid === null ? now - row.launchedAt > ORPHAN_LAUNCH_MS : !isProcessAlive(row.hostPid, row.hostStartTime);
      if (!gone) continue;
      // One that dies while shutting down at the user's request ends as the user asked.
      this.registry.markTerminated(row.id, row.state === 'shutting-down' ? REASON_USER_SHUTDOWN : REASON_CRASH, now);
      // A machine that is gone runs nothing: processes that outlived their host go too.
      if (row.hostPid !== null) killOrphanedGroup(row.hostPid);
    }
  }

  /** The namespace of the host with this address, in host-per-namespace mode. */
  private namespaceOf(privateIp: string): string | undefined {
    if (privateIp === '127.0.0.1') return undefined;
    return loadHostPool(this.registry)?.find((host) => host.privateIp === privateIp)?.namespace;
  }

  private spawnHost(id: string): void {
    const dir = instanceDirOf(this.stateDir, id);
    let pid: number | undefined;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const fd = openSync(hostLogOf(this.stateDir, id), 'a');
      try {
        const namespace = this.namespaceOf(this.registry.getInstance(id)?.privateIp ?? '127.0.0.1');
        const argv = [
          ...hostCommand(),
          '--state-dir',
          this.stateDir,
          '--id',
          id,
          '--terminate-grace-ms',
          String(this.terminateGraceMs),
          '--region',
          this.region,
          ...(namespace === undefined ? [] : ['--namespace', namespace]),
        ];
        // `ip netns exec` execs the host in the namespace: the pid recorded is the host's.
        const [program, ...args] = namespace === undefined ? argv : ['ip', 'netns', 'exec', namespace, ...argv];
        const child = spawn(program!, args, { detached: true, stdio: ['ignore', fd, fd], env: machineEnv(), cwd: dir });
        child.on('error', () => {
          /* seen below as a missing pid */
        });
        child.unref();
        pid = child.pid;
      } finally {
        closeSync(fd);
      }
    } catch (cause) {
      this.registry.markTerminated(id, REASON_CRASH, Date.now());
      throw new SynktiError('E_LAUNCH_FAILED', `could not start instance ${id}`, { cause, hint: `see ${hostLogOf(this.stateDir, id)}` });
    }
    if (pid === undefined) {
      this.registry.markTerminated(id, REASON_CRASH, Date.now());
      throw new SynktiError('E_LAUNCH_FAILED', `could not start the host process of instance ${id}`, {
        hint: `see ${hostLogOf(this.stateDir, id)}`,
      });
    }
    this.registry.recordHost(id, pid, processStartTime(pid));
  }

  private validateLaunchSpec(spec: LaunchSpec): Record<string, string> {
    // EC2's rules (launch-spec-rules.ts): what launches here launches on AWS. The local
    // cloud's own: the instance type is only a label, the zone must be one of its zones.
    const tags = checkLaunchSpec(spec);
    if (typeof spec.instanceType !== 'string' || spec.instanceType === '') {
      throw launchError('launch spec is missing instanceType', 'set instanceType, e.g. "t3.micro" (locally it is only a label)');
    }
    if (spec.zone !== undefined && !this.zones.includes(spec.zone)) {
      throw launchError(`zone ${spec.zone} does not exist in the local cloud`, `use one of ${this.zones.join(', ')}, or omit zone`);
    }
    return tags;
  }

  private assertExist(ids: string[]): void {
    const existing = this.registry.existingIds(ids);
    const missing = [...new Set(ids)].filter((id) => !existing.has(id));
    if (missing.length > 0) {
      throw new SynktiError('E_INSTANCE_NOT_FOUND', `no instance ${missing.join(', ')} in the local cloud at ${this.stateDir}`, {
        hint: 'list instances to see their ids (terminated ones included with states: ["terminated"])',
      });
    }
  }

  private activeRow(id: string): InstanceRow {
    this.assertExist([id]);
    this.reconcile();
    const row = this.registry.getInstance(id)!;
    if (row.state === 'terminated' || row.state === 'shutting-down') {
      throw new SynktiError('E_INSTANCE_NOT_RUNNING', `instance ${id} is ${row.state}`, { hint: 'pick a pending or running instance' });
    }
    return row;
  }

  private assertOpen(): void {
    if (this.closed) {
      throw new SynktiError('E_CLOSED', `the local cloud at ${this.stateDir} was closed`, {
        hint: 'create a new one with createLocalCloud',
      });
    }
  }
}
