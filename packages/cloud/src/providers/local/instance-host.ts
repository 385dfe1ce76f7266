/**
 * The process that *is* a local instance, as a VM is for EC2. Spawned detached by the
 * provider (so it is the leader of its own process group and outlives whoever launched
 * it), it:
 *   1. serves the instance's metadata (IMDSv2) from the registry,
 *   2. marks the instance `running` once that server listens,
 *   3. runs the boot command in its process group, output appended to console.log, and
 *      restarts it with backoff when it fails (systemd Restart=on-failure),
 *   4. watches the registry: when a spot notice's time comes it SIGKILLs the whole
 *      instance (no grace, as the cloud does), marks it terminated with
 *      `Server.SpotInstanceTermination` and exits,
 *   5. on SIGTERM (or the row turning shutting-down) stops the instance gracefully:
 *      SIGTERM to the group, SIGKILL whatever is left after the grace period, then
 *      marks it terminated with `Client.UserInitiatedShutdown` and exits.
 * A host that dies without marking its row (SIGKILL, crash) is found by the provider's
 * liveness check and seen as a crashed machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { SynktiError } from '@synkti/core';
import { backoffCeilingMs } from '@synkti/core/backoff';
import { loadBootConfig, machineEnv } from './boot-config.ts';
import { consoleLogOf, instanceDirOf } from './local-layout.ts';
import { NAMESPACE_METADATA_ADDRESS, NAMESPACE_METADATA_PORT } from './host-pool.ts';
import type { MetadataServer, MetadataServerOptions } from './metadata-server.ts';
import { ENV_LOCAL_INSTANCE_ID, instanceProcesses, processStartTime, readProcStat, signalQuietly, waitUntil } from './proc.ts';
import { createRegistryMetadataSource } from './registry-metadata-source.ts';
import { chaosStrikes, loadChaos } from './chaos.ts';

/** How often an instance rolls the chaos dice. */
const CHAOS_TICK_MS = 1000;
import { LocalRegistry } from './registry.ts';

export const REASON_USER_SHUTDOWN = 'Client.UserInitiatedShutdown';
export const REASON_SPOT = 'Server.SpotInstanceTermination';
export const REASON_CRASH = 'Server.InternalError';
/** Environment variables an instance's boot command receives. */
export const ENV_IMDS_ENDPOINT = 'SYNKTI_IMDS_ENDPOINT';
export const ENV_LOCAL_STATE_DIR = 'SYNKTI_LOCAL_STATE_DIR';

const RESTART_INITIAL_MS = 1000;
const RESTART_MAX_MS = 30_000;
/** A boot command that ran this long before failing restarts from the shortest delay again. */
const RESTART_RESET_AFTER_MS = 60_000;

export interface InstanceHostOptions {
  /** The local cloud's state directory. */
  stateDir: string;
  /** The instance this host is. */
  id: string;
  /**
   * How long the boot command gets after SIGTERM before it is SIGKILLed.
   * @default 30000
   */
  terminateGraceMs?: number | undefined;
  /**
   * Region reported by the metadata server.
   * @default 'local'
   */
  region?: string | undefined;
  /**
   * How often the registry is read for notices and state changes.
   * @default 200
   */
  pollIntervalMs?: number | undefined;
  /**
   * Epoch-milliseconds clock.
   * @default Date.now
   */
  clock?: (() => number) | undefined;
  /**
   * Host-per-namespace mode: the network namespace this host was placed in (checked: the
   * host refuses to boot anywhere else). The metadata server listens where EC2's does,
   * 169.254.169.254 port 80 (on the namespace's own `lo`), and the boot command gets no
   * SYNKTI_IMDS_ENDPOINT: its production default reaches it.
   * @default undefined (127.0.0.1 on a free port, given as SYNKTI_IMDS_ENDPOINT)
   */
  namespace?: string | undefined;
  /** Starts the metadata server (the real one from metadata-server.ts in production). */
  startMetadataServer: (options: MetadataServerOptions) => Promise<MetadataServer>;
}

/** True when this process runs in the named network namespace (`ip netns` bind-mounts it under /run/netns). */
function inNetworkNamespace(name: string): boolean {
  try {
    const own = statSync('/proc/self/ns/net');
    const named = statSync(`/run/netns/${name}`);
    return own.ino === named.ino && own.dev === named.dev;
  } catch {
    return false;
  }
}

export class InstanceHost {
  /** Resolves with the exit code once the instance is gone. */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private readonly stateDir: string;
  private readonly id: string;
  private readonly terminateGraceMs: number;
  private readonly region: string;
  private readonly pollIntervalMs: number;
  private readonly clock: () => number;
  private readonly startMetadataServer: InstanceHostOptions['startMetadataServer'];
  /** Where the metadata server listens in host-per-namespace mode (else 127.0.0.1, any port). */
  private readonly metadataAddress: string | undefined;
  private readonly namespace: string | undefined;
  private readonly consoleLog: string;
  private registry: LocalRegistry | undefined;
  private metadata: MetadataServer | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private chaosTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private boot: ChildProcess | undefined;
  private bootStartedAt = 0;
  private restarts = 0;
  private started = false;
  private terminateRequested = false;
  private stopping = false;
  private finished = false;
  private terminating: Promise<void> | undefined;

  constructor(options: InstanceHostOptions) {
    this.stateDir = options.stateDir;
    this.id = options.id;
    this.terminateGraceMs = options.terminateGraceMs ?? 30_000;
    this.region = options.region ?? 'local';
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.clock = options.clock ?? Date.now;
    this.startMetadataServer = options.startMetadataServer;
    this.namespace = options.namespace;
    this.metadataAddress = options.namespace === undefined ? undefined : NAMESPACE_METADATA_ADDRESS;
    this.consoleLog = consoleLogOf(this.stateDir, this.id);
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** Boots the instance; rejects (after marking it terminated) when it cannot. */
  async start(): Promise<void> {
    try {
      await this.bootInstance();
    } catch (error) {
      // A machine that fails to boot is terminated by the cloud with an internal error.
      try {
        this.registry?.markTerminated(this.id, REASON_CRASH, this.clock());
      } catch {
        // Already reported through the rejection below.
      }
      this.killOthers();
      await this.metadata?.stop();
      this.finish(1);
      throw error;
    }
  }

  private async bootInstance(): Promise<void> {
    const registry = (this.registry = LocalRegistry.open(this.stateDir));
    const row = registry.getInstance(this.id);
    if (!row) throw new SynktiError('E_INSTANCE_NOT_FOUND', `instance ${this.id} is not in ${registry.path}`);
    if (row.state === 'terminated') {
      this.finish(0);
      return;
    }
    mkdirSync(instanceDirOf(this.stateDir, this.id), { recursive: true });
    registry.recordHost(this.id, process.pid, processStartTime(process.pid));
    // The metadata address is only ever served inside the instance's own namespace.
    if (this.namespace !== undefined && !inNetworkNamespace(this.namespace)) {
      throw new SynktiError(
        'E_NETNS',
        `instance ${this.id}: its host is not in network namespace ${this.namespace}, where it was placed and where its metadata server listens on ${NAMESPACE_METADATA_ADDRESS}`,
        {
          hint: 'host-per-namespace mode starts hosts with `ip netns exec <namespace>`; check that the namespaces given as hosts exist (ip netns list)',
        },
      );
    }
    this.metadata = await this.startMetadataServer({
      source: createRegistryMetadataSource(registry, this.id, this.region),
      host: this.metadataAddress ?? '127.0.0.1',
      port: this.metadataAddress === undefined ? 0 : NAMESPACE_METADATA_PORT,
    });
    registry.markRunning(this.id, this.metadata.url);
    this.log(`instance ${this.id} running; metadata service at ${this.metadata.url}`);
    // Deliberately not unref'd: this process is the machine and must stay up while idle.
    this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.chaosTimer = setInterval(() => this.chaosTick(), CHAOS_TICK_MS);
    this.chaosTimer.unref();
    this.started = true;
    if (this.terminateRequested) void this.terminate();
    this.poll();
    if (!this.stopping) this.startBoot();
  }

  /** Graceful stop, as on SIGTERM. Idempotent; before start() completes it is deferred until then. */
  terminate(): Promise<void> {
    if (!this.started && !this.finished) {
      this.terminateRequested = true;
      return this.done.then(() => undefined);
    }
    this.terminating ??= this.stopGracefully();
    return this.terminating;
  }

  private async stopGracefully(): Promise<void> {
    if (this.finished) return;
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const registry = this.registry;
    try {
      registry?.markShuttingDown(this.id, REASON_USER_SHUTDOWN);
    } catch (error) {
      this.warn('could not mark the instance shutting-down', error);
    }
    this.log('shutting down: SIGTERM to the instance processes');
    if (this.isGroupLeader()) {
      // The host is in the group too and ignores the repeat (terminate is idempotent).
      signalQuietly(-process.pid, 'SIGTERM');
    } else if (this.boot?.pid !== undefined) {
      signalQuietly(this.boot.pid, 'SIGTERM');
    }
    const exited = await waitUntil(() => this.finished || this.otherProcesses().length === 0, this.terminateGraceMs, 50);
    if (this.finished) return;
    if (!exited) this.log(`grace period of ${this.terminateGraceMs} ms over: SIGKILL`);
    this.killOthers();
    await this.metadata?.stop();
    try {
      registry?.markTerminated(this.id, REASON_USER_SHUTDOWN, this.clock());
    } catch (error) {
      this.warn('could not mark the instance terminated', error);
    }
    this.log('terminated');
    this.finish(0);
  }

  /** The spot interruption: everything dies at once, no grace. */
  private reclaim(): void {
    if (this.finished) return;
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.log('spot interruption: the instance is reclaimed now (SIGKILL)');
    this.killOthers();
    try {
      this.registry?.markTerminated(this.id, REASON_SPOT, this.clock());
    } catch (error) {
      this.warn('could not mark the instance terminated', error);
    }
    void this.metadata?.stop();
    this.finish(0);
  }

  /** Chaos: the local cloud interrupts its own spot instances at random, as AWS does. */
  private chaosTick(): void {
    if (this.finished || this.stopping || !this.registry) return;
    try {
      const chaos = loadChaos(this.registry);
      if (!chaosStrikes(chaos.ratePerHour, CHAOS_TICK_MS)) return;
      const row = this.registry.getInstance(this.id);
      if (!row || row.noticeTime !== null || row.state !== 'running') return;
      this.registry.setNotice(this.id, { action: 'terminate', time: this.clock() + chaos.noticeMs });
      this.log(`chaos: spot interruption notice, reclaimed in ${chaos.noticeMs} ms`);
    } catch (error) {
      this.warn('chaos tick failed', error);
    }
  }

  private poll(): void {
    if (this.finished || !this.registry) return;
    let row;
    try {
      if (!existsSync(this.registry.path)) {
        // The state directory was removed under us: nobody can reach or stop this instance any more.
        this.killOthers();
        this.finish(1);
        return;
      }
      row = this.registry.getInstance(this.id);
    } catch (error) {
      this.warn('registry read failed', error);
      return;
    }
    if (!row || row.state === 'terminated') {
      this.killOthers();
      this.finish(row ? 0 : 1);
      return;
    }
    // Every action is a reclaim locally: the local cloud has no stopped or hibernated state.
    if (row.noticeTime !== null && row.noticeTime <= this.clock()) {
      this.reclaim();
      return;
    }
    if (row.state === 'shutting-down' && !this.stopping) void this.terminate();
  }

  private startBoot(): void {
    if (this.stopping || this.finished || !this.registry || !this.metadata) return;
    let config;
    try {
      config = loadBootConfig(this.registry);
    } catch (error) {
      this.warn('cannot read the boot configuration', error);
      return;
    }
    const [program, ...args] = config.command ?? [];
    if (program === undefined) {
      this.log('no boot command configured: the instance stays up idle');
      return;
    }
    const env = {
      ...machineEnv(),
      ...config.env,
      // On a host of its own the instance finds its metadata where EC2's is, with no override.
      ...(this.metadataAddress === undefined ? { [ENV_IMDS_ENDPOINT]: this.metadata.url } : {}),
      [ENV_LOCAL_STATE_DIR]: this.stateDir,
      // The machine's mark: everything the instance runs inherits it, so a process that
      // leaves the tree (its parent SIGKILLed) is still found as this instance's.
      [ENV_LOCAL_INSTANCE_ID]: this.id,
    };
    const fd = openSync(this.consoleLog, 'a');
    let child: ChildProcess;
    try {
      // Not detached: the boot command joins the host's process group, so killing the
      // group kills the whole instance.
      child = spawn(program, args, { cwd: config.cwd, env, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.boot = child;
    this.bootStartedAt = this.clock();
    let exited = false;
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (exited) return;
      exited = true;
      this.onBootExit(child, code, signal);
    };
    child.once('error', (error) => {
      this.log(`boot command failed to start: ${error.message}`);
      if (child.pid === undefined) onExit(127, null);
    });
    child.once('exit', onExit);
    if (child.pid !== undefined) this.log(`boot command started (pid ${child.pid})`);
  }

  private onBootExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.boot === child) this.boot = undefined;
    if (this.stopping || this.finished) return;
    // As systemd ends a failed unit's whole cgroup before Restart= (the agent's unit on
    // EC2): whatever the boot command left behind (a workload whose agent was SIGKILLed,
    // holding its port) must not outlive it, or the restarted agent cannot bind.
    const left = this.otherProcesses();
    if (left.length > 0) {
      this.log(`boot command gone: ending ${left.length} process(es) it left behind (${left.slice(0, 10).join(', ')})`);
      this.killOthers();
    }
    if (code === 0) {
      this.log('boot command exited with code 0: the instance stays up idle');
      return;
    }
    if (this.clock() - this.bootStartedAt >= RESTART_RESET_AFTER_MS) this.restarts = 0;
    const delay = backoffCeilingMs(this.restarts, { baseMs: RESTART_INITIAL_MS, capMs: RESTART_MAX_MS });
    this.restarts += 1;
    this.log(`boot command exited with ${signal ?? `code ${code}`}: restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => this.startBoot(), delay);
  }

  private isGroupLeader(): boolean {
    return readProcStat(process.pid)?.pgrp === process.pid;
  }

  /** Live processes of this instance other than the host itself. */
  private otherProcesses(): number[] {
    if (this.isGroupLeader()) return instanceProcesses(process.pid).filter((pid) => pid !== process.pid);
    const pid = this.boot?.pid;
    return pid !== undefined && this.boot?.exitCode === null && this.boot.signalCode === null ? [pid] : [];
  }

  /** SIGKILL every other process of the instance (repeated for any forked meanwhile). */
  private killOthers(): void {
    for (let round = 0; round < 20; round += 1) {
      const others = this.otherProcesses();
      if (others.length === 0) return;
      for (const pid of others) signalQuietly(pid, 'SIGKILL');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }

  private finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.stopping = true;
    clearInterval(this.pollTimer);
    clearInterval(this.chaosTimer);
    clearTimeout(this.restartTimer);
    try {
      this.registry?.close();
    } catch {
      // Closing a registry whose file is gone can fail; the process exits anyway.
    }
    this.resolveDone(code);
  }

  /** A line in the instance's console log, as a machine's boot messages are. */
  private log(message: string): void {
    try {
      appendFileSync(this.consoleLog, `[synkti-local-host ${new Date(this.clock()).toISOString()}] ${message}\n`);
    } catch {
      // The instance directory may be gone (state removed); nothing else to tell.
    }
  }

  private warn(message: string, error: unknown): void {
    process.stderr.write(`${new Date().toISOString()} ${this.id}: ${message}: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}
