/**
 * One emulated EC2 instance as a machine on this host: a root directory, its own IMDSv2
 * server, its user data run for real by bash (as cloud-init would, but as this user), and
 * every process it starts ended together when the instance goes.
 *
 * Layout under `<stateDir>/instances/<id>/`: `root/` (what the boot script sees as /),
 * `user-data` (the script), `boot.log` (its output), `boot.exit` (its exit code, once it
 * ends), `service.log` (the systemd units' output), `machine.json` (for the shims).
 *
 * Ending: shutdown() is an OS shutdown (SIGTERM to each unit's main process, its
 * TimeoutStopSec, then SIGKILL); stop() is pulling the plug (SIGKILL at once).
 *
 * Every process of the machine runs under a guard (a bash loop reading its stdin): when
 * the emulator dies, even by SIGKILL, the pipe closes and the guard kills the machine's
 * processes, found by the marker in their environment (machine-processes.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMetadataServer, type MetadataServer } from '@synkti/cloud';
import { SynktiError } from '@synkti/core';
import { emulatedMetadataSource, type CredentialsFor, type EmulatedInstance, type InstanceEvents } from './instance-metadata.ts';
import { MACHINE_MARKER_ENV, killMachineProcesses, machinePids, processAlive } from './machine-processes.ts';

/** Static keys a machine gets when no credentialsFor serves role credentials from its IMDS (moto accepts any). */
export const EMULATED_INSTANCE_STATIC_KEYS = {
  AWS_ACCESS_KEY_ID: 'AKIAEMULATEDINSTANCE',
  AWS_SECRET_ACCESS_KEY: 'synkti-emulated-instance-static-key',
} as const;

export interface EmulatedMachineOptions {
  /** The instance's record; `update()` replaces it (tags may change). */
  instance: EmulatedInstance;
  /** `<stateDir>/instances/<id>` */
  dir: string;
  /** AWS_ENDPOINT_URL inside the machine. */
  awsEndpoint: string;
  /** Directory holding the `systemctl` and `useradd` shims (first on PATH). */
  shimsDir: string;
  /** @default none: static dummy keys in the environment instead of role credentials from IMDS */
  credentialsFor?: CredentialsFor | undefined;
  /**
   * The host PATH after the shims.
   * @default process.env.PATH
   */
  hostPath?: string | undefined;
}

export interface ShutdownOptions {
  /**
   * Longest wait for the units to stop before every process is SIGKILLed; a unit's own
   * TimeoutStopSec applies when shorter (systemd's default is 90 s: too long for tests).
   * @default 30000
   */
  capMs?: number | undefined;
}

/** How an OS shutdown went. */
export interface ShutdownReport {
  /** Units that were running (each got SIGTERM). */
  units: string[];
  /** How long the units were given: the longest TimeoutStopSec among them, at most the cap. */
  graceMs: number;
  /** From SIGTERM until no process was left. */
  tookMs: number;
  /** Every unit had stopped by the end of the grace (false: what was left was SIGKILLed then, or stop() cut the grace short). */
  clean: boolean;
}

/** A unit the systemctl shim is running: its runner's pid (the runner passes SIGTERM on to the main process). */
interface RunningUnit {
  name: string;
  runnerPid: number;
  timeoutStopSec: number;
}

const SYSTEMCTL_SHIM = fileURLToPath(new URL('./shims/systemctl-shim.mjs', import.meta.url));

/** Writes the commands a machine has instead of the host's: `systemctl` (runs units) and `useradd` (no-op). */
export function writeMachineShims(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'systemctl'), `#!/bin/sh\nexec "${process.execPath}" "${SYSTEMCTL_SHIM}" "$@"\n`, { mode: 0o755 });
  // The boot script creates the service's user; the emulator runs everything as itself.
  writeFileSync(
    join(dir, 'useradd'),
    '#!/bin/sh\necho "useradd (synkti emulator): not creating $* (services run as the emulator\'s user)" >&2\nexit 0\n',
    { mode: 0o755 },
  );
}

/** The guard: runs the user data in the background, then waits for EOF on stdin and kills the machine. */
const GUARD = `dir="$1"; script="$2"; token="$3"
if [ -n "$script" ]; then
  ( bash "$script" </dev/null >>"$dir/boot.log" 2>&1; echo "$?" >"$dir/boot.exit" ) &
fi
while read -r _; do :; done
for round in 1 2 3 4 5 6 7 8 9 10; do
  found=0
  for f in /proc/[0-9]*/environ; do
    pid="\${f#/proc/}"; pid="\${pid%/environ}"
    [ "$pid" = "$$" ] && continue
    while IFS= read -r -d '' entry; do
      if [ "$entry" = "${MACHINE_MARKER_ENV}=$token" ]; then kill -KILL "$pid" 2>/dev/null && found=1; break; fi
    done 2>/dev/null <"$f"
  done
  [ "$found" = 0 ] && break
done
kill -KILL -- -$$ 2>/dev/null`;

export class EmulatedMachine {
  readonly id: string;
  readonly dir: string;
  readonly root: string;
  readonly bootLog: string;
  readonly serviceLog: string;
  /** The marker every process of this machine carries (SYNKTI_EMULATED_MACHINE). */
  readonly token = randomBytes(12).toString('hex');
  readonly events: InstanceEvents = { notice: null, rebalance: null };
  #instance: EmulatedInstance;
  #imds: MetadataServer | undefined;
  #guard: ChildProcess | undefined;
  #guardExited: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;
  #shutdown: Promise<ShutdownReport> | undefined;

  constructor(private readonly options: EmulatedMachineOptions) {
    this.#instance = options.instance;
    this.id = options.instance.instanceId;
    this.dir = options.dir;
    this.root = join(options.dir, 'root');
    this.bootLog = join(options.dir, 'boot.log');
    this.serviceLog = join(options.dir, 'service.log');
  }

  get instance(): EmulatedInstance {
    return this.#instance;
  }

  /** The IMDS base URL (what AWS_EC2_METADATA_SERVICE_ENDPOINT and SYNKTI_IMDS_ENDPOINT are set to). */
  get imdsUrl(): string {
    if (!this.#imds) throw new SynktiError('E_EMULATED_MACHINE', `machine ${this.id} is not started`, { hint: 'await start() first' });
    return this.#imds.url;
  }

  /** The user data's exit code once it has ended, else undefined. */
  get bootExitCode(): number | undefined {
    const file = join(this.dir, 'boot.exit');
    if (!existsSync(file)) return undefined;
    const code = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(code) ? code : undefined;
  }

  update(instance: EmulatedInstance): void {
    // DescribeInstances carries neither the user data nor the profile's role: keep what start() read.
    this.#instance = { ...instance, userData: this.#instance.userData, roleName: instance.roleName ?? this.#instance.roleName };
  }

  /** Live pids of this machine (guard, boot script, services and whatever they started). */
  pids(): number[] {
    const pids = machinePids(this.token);
    const guard = this.#guard?.pid;
    if (guard !== undefined && this.#guard?.exitCode === null && this.#guard.signalCode === null && !pids.includes(guard)) pids.push(guard);
    return pids;
  }

  /** Starts the IMDS server and runs the user data (if any). */
  async start(): Promise<void> {
    const instance = this.#instance;
    mkdirSync(join(this.root, 'root'), { recursive: true });
    // Its own loopback address when it has one (127.100.x.y), like a real instance's link-local IMDS.
    const host = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(instance.privateIp) ? instance.privateIp : '127.0.0.1';
    this.#imds = await startMetadataServer({
      host,
      source: emulatedMetadataSource({
        instance: () => this.#instance,
        events: () => this.events,
        credentialsFor: this.options.credentialsFor,
        // One identity key per emulated cloud (<stateDir>/cloud-identity-key.pem): every machine's document is signed by it.
        identityKeyFile: join(this.dir, '..', '..', 'cloud-identity-key.pem'),
      }),
    });
    const path = `${this.options.shimsDir}:${this.options.hostPath ?? process.env.PATH ?? '/usr/bin:/bin'}`;
    // What every process of the machine sees: the emulated AWS, never the host's credentials.
    const emulated: Record<string, string> = {
      PATH: path,
      LANG: 'C.UTF-8',
      AWS_ENDPOINT_URL: this.options.awsEndpoint,
      AWS_REGION: instance.region,
      AWS_DEFAULT_REGION: instance.region,
      AWS_EC2_METADATA_SERVICE_ENDPOINT: this.#imds.url,
      SYNKTI_IMDS_ENDPOINT: this.#imds.url,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
      [MACHINE_MARKER_ENV]: this.token,
      ...(this.options.credentialsFor ? {} : EMULATED_INSTANCE_STATIC_KEYS),
    };
    const machineFile = join(this.dir, 'machine.json');
    writeFileSync(machineFile, `${JSON.stringify({ root: this.root, serviceLog: this.serviceLog, env: emulated }, null, 2)}\n`, {
      mode: 0o600,
    });
    let script = '';
    if (instance.userData !== undefined) {
      script = join(this.dir, 'user-data');
      writeFileSync(script, instance.userData, { mode: 0o700 });
    }
    const guard = spawn('bash', ['-c', GUARD, 'synkti-machine-guard', this.dir, script, this.token], {
      // Own process group: the group kill reaches the boot script and the services.
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
      cwd: this.root,
      env: { ...emulated, HOME: join(this.root, 'root'), SYNKTI_ROOT: this.root, SYNKTI_EMULATOR_MACHINE_FILE: machineFile },
    });
    this.#guard = guard;
    this.#guardExited = new Promise<void>((resolve) => {
      if (guard.exitCode !== null || guard.signalCode !== null) resolve();
      else guard.once('exit', () => resolve());
    });
    guard.once('error', () => undefined);
    guard.stdin?.on('error', () => undefined);
    guard.unref();
    (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  /** The units the systemctl shim runs now (from its pid files, checked against this machine's processes). */
  #runningUnits(): RunningUnit[] {
    const dir = join(this.root, 'run', 'systemd-shim');
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => n.endsWith('.pid'));
    } catch {
      return [];
    }
    // Only pids of this machine: a stale pid file must never signal a stranger.
    const ours = new Set(machinePids(this.token));
    const units: RunningUnit[] = [];
    for (const file of names) {
      const name = file.slice(0, -'.pid'.length);
      try {
        const runnerPid = Number(readFileSync(join(dir, file), 'utf8').trim());
        if (!Number.isInteger(runnerPid) || !ours.has(runnerPid) || !processAlive(runnerPid)) continue;
        const timeout = Number.parseFloat(
          existsSync(join(dir, `${name}.timeout-stop-sec`)) ? readFileSync(join(dir, `${name}.timeout-stop-sec`), 'utf8') : '',
        );
        units.push({ name, runnerPid, timeoutStopSec: Number.isFinite(timeout) && timeout > 0 ? timeout : 90 });
      } catch {
        // the unit stopped meanwhile
      }
    }
    return units;
  }

  /**
   * An OS shutdown, as EC2 does on a terminate: each running unit's main process gets
   * SIGTERM and up to its TimeoutStopSec (at most `capMs`) to exit; then every process
   * left is SIGKILLed and the IMDS server stops (stop()). The IMDS keeps answering during
   * the grace: a leaving agent still has its role credentials. Idempotent; a stop()
   * meanwhile cuts the grace short.
   */
  shutdown(options: ShutdownOptions = {}): Promise<ShutdownReport> {
    this.#shutdown ??= (async () => {
      const capMs = options.capMs ?? 30_000;
      const started = Date.now();
      const units = this.#stopped ? [] : this.#runningUnits();
      const graceMs = Math.min(capMs, Math.max(0, ...units.map((u) => u.timeoutStopSec * 1000)));
      for (const unit of units) {
        try {
          process.kill(unit.runnerPid, 'SIGTERM');
        } catch {
          // exited meanwhile
        }
      }
      const deadline = started + graceMs;
      let clean = true;
      while (units.some((u) => processAlive(u.runnerPid))) {
        if (this.#stopped || Date.now() >= deadline) {
          clean = false;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await this.stop();
      return { units: units.map((u) => u.name), graceMs, tookMs: Date.now() - started, clean };
    })();
    return this.#shutdown;
  }

  /** Ends every process of the machine (SIGKILL) and stops its IMDS server; idempotent. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const guard = this.#guard;
      if (guard) guard.ref();
      const left = await killMachineProcesses(this.token, guard?.pid);
      if (guard) await this.#guardExited;
      await this.#imds?.stop();
      if (left.length > 0) {
        throw new SynktiError('E_EMULATED_MACHINE', `machine ${this.id}: processes ${left.join(', ')} survived SIGKILL for 10 s`, {
          hint: 'a process in uninterruptible sleep (D state)? see ps -o pid,stat,cmd',
        });
      }
    })();
    return this.#stopped;
  }
}
