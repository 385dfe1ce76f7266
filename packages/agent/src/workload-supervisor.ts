/**
 * Runs the node's workload (vLLM, the stand-in, any HTTP server) as a child process in its
 * own process group, tells when it is healthy by polling its health URL (a portless
 * workload, e.g. a batch worker: healthy once its process runs), restarts it with
 * exponential backoff when it dies or never comes up, and stops it without leaving any
 * process of its group behind.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { request } from 'node:http';
import { formatDuration, SynktiError } from '@synkti/core';
import {
  bootId,
  clearWorkloadPidFile,
  ENV_WORKLOAD_OWNER,
  newOwnerToken,
  processStartTime,
  reapOrphanWorkload,
  writeWorkloadPidFile,
} from './workload-pid-file.ts';
import { backoffCeilingMs } from '@synkti/core/backoff';
import { SILENT_LOGGER, type StructuredLogger } from '@synkti/core/process-log';

export type WorkloadState = 'stopped' | 'starting' | 'healthy' | 'unhealthy' | 'restarting' | 'failed';

/** The supervisor's logger: the one structured logger interface of @synkti/core. */
export type WorkloadLogger = StructuredLogger;

export interface WorkloadSupervisorOptions {
  /** Program and arguments, run without a shell, e.g. `['vllm', 'serve', 'model']`. */
  command: string[];
  /** Variables added to (and overriding) the supervisor's own environment. @default {} */
  env?: Record<string, string>;
  /** Working directory of the workload. @default process.cwd() */
  cwd?: string;
  /**
   * Port the workload listens on. Absent together with `healthPath`: a portless workload
   * (a batch worker), healthy as soon as its process has spawned and while it runs.
   * @default none (portless)
   */
  port?: number | undefined;
  /** Path answering 200 when the workload can serve, e.g. '/health'. @default none (portless) */
  healthPath?: string | undefined;
  /** Host the health check connects to. @default '127.0.0.1' */
  host?: string;
  /** Time from spawn to the first 200 before the attempt counts as failed and is killed. */
  startupTimeoutMs: number;
  /** Pause between two health checks. @default 500 */
  healthIntervalMs?: number;
  /** Time one health check may take before it counts as a failure. @default 2000 */
  healthTimeoutMs?: number;
  /** Consecutive failed checks that turn a healthy workload 'unhealthy'. @default 3 */
  unhealthyThreshold?: number;
  /** Delay before restart n is initialMs·2ⁿ, capped at maxMs. @default { initialMs: 1000, maxMs: 30000 } */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** Once healthy this long, the backoff starts again from initialMs. @default 60000 */
  stableAfterMs?: number;
  /** Grace between SIGTERM and SIGKILL when killing an attempt that failed, or leftovers of a dead one. @default 5000 */
  killGraceMs?: number;
  /** File the workload's stdout and stderr are appended to. @default none (only the last lines are kept) */
  logFile?: string;
  /**
   * Where the supervisor records the workload it owns (pid, start time, boot id, owner
   * token). start() first ends a workload a previous supervisor (an agent killed with
   * SIGKILL) left running, once it has proved it is that process; see workload-pid-file.ts.
   * @default none (no record: an orphan is not found)
   */
  pidFile?: string;
  /** Called on every state change. */
  onStateChange?: (state: WorkloadState) => void;
  /** Where the supervisor reports what it does. @default a logger that drops everything */
  logger?: WorkloadLogger;
  /** Clock, for tests. @default Date.now */
  now?: () => number;
}

/** Lines of the workload's output kept in memory for error messages. */
const TAIL_LINES = 50;
const MAX_LINE_CHARS = 1000;

interface Run {
  readonly child: ChildProcess;
  readonly pid: number | undefined;
  readonly startedAt: number;
  readonly exited: Promise<void>;
  readonly healthAbort: AbortController;
  exitCode: number | null;
  exitSignal: NodeJS.Signals | null;
  gone: boolean;
  /** Set when the supervisor itself ends this run, so its exit is not a crash. */
  ending: boolean;
  startupTimer?: NodeJS.Timeout;
  healthTimer?: NodeJS.Timeout;
  consecutiveFailures: number;
  lastHealth: string;
  healthySince?: number;
}

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class WorkloadSupervisor {
  readonly #options: WorkloadSupervisorOptions;
  readonly #logger: WorkloadLogger;
  readonly #now: () => number;
  readonly #healthIntervalMs: number;
  readonly #healthTimeoutMs: number;
  readonly #unhealthyThreshold: number;
  readonly #backoff: { initialMs: number; maxMs: number };
  readonly #stableAfterMs: number;
  readonly #killGraceMs: number;
  readonly #host: string;

  #state: WorkloadState = 'stopped';
  #restarts = 0;
  #failuresInARow = 0;
  #run: Run | undefined;
  #ending: Promise<void> | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopping: Promise<void> | undefined;
  #stopRequested = false;
  #waiters = new Set<Waiter>();
  #tail: string[] = [];
  #logStream: WriteStream | undefined;
  #lastError: SynktiError | undefined;
  readonly #onProcessExit = (): void => {
    // Last resort when the supervisor's own process exits without stop(): no orphans.
    const run = this.#run;
    if (run?.pid !== undefined && !run.gone) {
      signalGroup(run.pid, 'SIGKILL');
      this.#forget(run);
    }
  };

  constructor(options: WorkloadSupervisorOptions) {
    if (options.command.length === 0 || options.command[0] === '') {
      throw new SynktiError('E_WORKLOAD_OPTIONS', 'workload command is empty', {
        hint: "give the program and its arguments, e.g. ['vllm', 'serve', 'model']",
      });
    }
    if ((options.port === undefined) !== (options.healthPath === undefined)) {
      throw new SynktiError(
        'E_WORKLOAD_OPTIONS',
        `workload ${options.port === undefined ? 'healthPath is set without a port' : 'port is set without a healthPath'}`,
        {
          hint: 'give both (an HTTP workload) or neither (a portless one, healthy while its process runs)',
        },
      );
    }
    if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) {
      throw new SynktiError('E_WORKLOAD_OPTIONS', `workload port ${options.port} is not a TCP port`, {
        hint: 'use an integer from 1 to 65535',
      });
    }
    if (options.healthPath !== undefined && !options.healthPath.startsWith('/')) {
      throw new SynktiError('E_WORKLOAD_OPTIONS', `workload healthPath "${options.healthPath}" must start with "/"`, {
        hint: "e.g. '/health'",
      });
    }
    if (!(options.startupTimeoutMs > 0)) {
      throw new SynktiError('E_WORKLOAD_OPTIONS', `workload startupTimeoutMs must be positive, got ${options.startupTimeoutMs}`);
    }
    this.#options = options;
    this.#logger = options.logger ?? SILENT_LOGGER;
    this.#now = options.now ?? Date.now;
    this.#healthIntervalMs = options.healthIntervalMs ?? 500;
    this.#healthTimeoutMs = options.healthTimeoutMs ?? 2000;
    this.#unhealthyThreshold = options.unhealthyThreshold ?? 3;
    this.#backoff = options.restartBackoff ?? { initialMs: 1000, maxMs: 30_000 };
    this.#stableAfterMs = options.stableAfterMs ?? 60_000;
    this.#killGraceMs = options.killGraceMs ?? 5000;
    this.#host = options.host ?? '127.0.0.1';
  }

  get state(): WorkloadState {
    return this.#state;
  }

  /** Times the workload was spawned again after the first spawn (crashes and failed starts). */
  get restarts(): number {
    return this.#restarts;
  }

  /** Process id (and process group id) of the running workload, if any. */
  get pid(): number | undefined {
    return this.#run?.gone === false ? this.#run.pid : undefined;
  }

  /** Why the last attempt failed or the last run died, with the output's last lines. */
  get lastError(): SynktiError | undefined {
    return this.#lastError;
  }

  /** The URL polled for health; undefined for a portless workload. */
  get healthUrl(): string | undefined {
    if (this.#options.port === undefined) return undefined;
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return `http://${host}:${this.#options.port}${this.#options.healthPath}`;
  }

  /** True while the workload answers its health check; false from the moment stop() is called. */
  isHealthy(): boolean {
    return this.#state === 'healthy' && !this.#stopRequested;
  }

  /** The workload's last output lines (up to 50), oldest first. */
  recentOutput(): string[] {
    return [...this.#tail];
  }

  /**
   * Spawns the workload and returns; health is reported through `state`, `waitHealthy()`
   * and `onStateChange`. Does nothing if already running.
   */
  async start(): Promise<void> {
    if (this.#stopping) {
      if (this.#state !== 'stopped') {
        throw new SynktiError('E_WORKLOAD_STOPPING', 'workload supervisor is stopping', { hint: 'await stop() before start()' });
      }
      this.#stopping = undefined;
    }
    if (this.#state !== 'stopped') return;
    this.#stopRequested = false;
    this.#failuresInARow = 0;
    if (this.#options.pidFile !== undefined) {
      // Before anything binds: an orphan of a previous agent may hold the workload port.
      const reaped = await reapOrphanWorkload(this.#options.pidFile, { graceMs: this.#killGraceMs });
      if (reaped.outcome === 'ended')
        this.#logger.warn({ killed: reaped.killed, pidFile: this.#options.pidFile }, 'ended the workload a previous agent left running');
      else if (reaped.outcome === 'not-ours')
        this.#logger.info({ pidFile: this.#options.pidFile }, 'the recorded workload pid now belongs to another process: left alone');
    }
    if (this.#options.logFile !== undefined) this.#openLog(this.#options.logFile);
    process.on('exit', this.#onProcessExit);
    this.#launch();
  }

  /** Resolves when the workload is healthy; rejects when stopped or when `signal` aborts. */
  waitHealthy(signal?: AbortSignal): Promise<void> {
    if (this.#state === 'healthy') return Promise.resolve();
    if (this.#stopRequested) return Promise.reject(stoppedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * SIGTERM to the workload's process group, SIGKILL after `graceMs`, and resolves once no
   * process of the group is left. Idempotent.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop(options.graceMs ?? 30_000);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<void> {
    this.#stopRequested = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    for (const waiter of this.#waiters) waiter.reject(stoppedError());
    this.#waiters.clear();
    const run = this.#run;
    if (run && !run.gone) {
      this.#logger.info({ pid: run.pid, graceMs }, 'stopping workload');
      await this.#end(run, graceMs);
    }
    // An attempt already being killed (failed start) must be gone too.
    await this.#ending;
    process.off('exit', this.#onProcessExit);
    await this.#closeLog();
    this.#setState('stopped');
  }

  #launch(): void {
    const [program, ...args] = this.#options.command as [string, ...string[]];
    this.#setState('starting');
    this.#writeLog(
      `--- synkti: starting workload (spawn ${this.#restarts + 1}) at ${new Date(this.#now()).toISOString()}: ${this.#options.command.join(' ')}\n`,
    );
    let child: ChildProcess;
    const token = newOwnerToken();
    try {
      child = spawn(program, args, {
        cwd: this.#options.cwd,
        // The owner token proves, after an agent restart, that a process is this workload.
        env: { ...withoutAgentTuning(process.env), ...this.#options.env, [ENV_WORKLOAD_OWNER]: token },
        // Own process group, so stop() reaches every process the workload starts.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      this.#onSpawnError(error);
      return;
    }
    let markExited!: () => void;
    const run: Run = {
      child,
      pid: child.pid,
      startedAt: this.#now(),
      exited: new Promise<void>((resolve) => {
        markExited = resolve;
      }),
      healthAbort: new AbortController(),
      exitCode: null,
      exitSignal: null,
      gone: false,
      ending: false,
      consecutiveFailures: 0,
      lastHealth: 'no health check yet',
    };
    this.#run = run;
    this.#record(run, token);
    this.#logger.info({ pid: run.pid, command: this.#options.command, healthUrl: this.healthUrl }, 'workload spawned');
    const lineBuffers = { stdout: '', stderr: '' };
    const onOutput = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      this.#writeLog(chunk);
      const text = lineBuffers[stream] + chunk.toString('utf8');
      const lines = text.split('\n');
      lineBuffers[stream] = lines.pop()!.slice(-MAX_LINE_CHARS);
      for (const line of lines) this.#pushTail(line);
    };
    child.stdout!.on('data', onOutput('stdout'));
    child.stderr!.on('data', onOutput('stderr'));
    let finished = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (finished) return;
      finished = true;
      for (const stream of ['stdout', 'stderr'] as const) {
        if (lineBuffers[stream] !== '') this.#pushTail(lineBuffers[stream]);
        lineBuffers[stream] = '';
      }
      run.exitCode = code;
      run.exitSignal = signal;
      run.gone = true;
      this.#clearRunTimers(run);
      markExited();
      this.#onRunGone(run, spawnError);
    };
    child.once('exit', (code, signal) => {
      // Its last output (a crash's stack trace) can still be in the pipes: wait for them
      // to close, but not for long, since a leftover child may hold them open.
      const late = setTimeout(() => onGone(code, signal), 200);
      child.once('close', () => {
        clearTimeout(late);
        onGone(code, signal);
      });
    });
    child.once('error', (error) => {
      // 'error' without a pid means the program could not be spawned at all.
      if (child.pid === undefined) onGone(null, null, error);
      else this.#logger.warn({ err: error, pid: child.pid }, 'workload process error');
    });
    if (this.#options.port === undefined) {
      // Portless: running is its readiness (an exit is a crash like any other, and restarts it).
      child.once('spawn', () => {
        if (run !== this.#run || run.gone || run.ending || this.#state !== 'starting') return;
        run.healthySince = this.#now();
        this.#logger.info({ pid: run.pid }, 'portless workload running');
        this.#setState('healthy');
      });
      return;
    }
    run.startupTimer = setTimeout(() => this.#onStartupTimeout(run), this.#options.startupTimeoutMs);
    run.startupTimer.unref();
    this.#scheduleHealth(run, Math.min(this.#healthIntervalMs, 100));
  }

  /** Writes the ownership record of a run (best effort: without it only an orphan goes unfound). */
  #record(run: Run, token: string): void {
    const path = this.#options.pidFile;
    if (path === undefined || run.pid === undefined) return;
    const startTime = processStartTime(run.pid);
    if (startTime === undefined) return;
    try {
      writeWorkloadPidFile(path, { pid: run.pid, startTime, bootId: bootId(), token });
    } catch (error) {
      this.#logger.warn({ err: error, pidFile: path }, 'cannot write the workload pid file; an orphan after a crash would not be found');
    }
  }

  #forget(run: Run): void {
    if (this.#options.pidFile === undefined || run.pid === undefined) return;
    try {
      clearWorkloadPidFile(this.#options.pidFile, run.pid);
    } catch {
      // A record left behind is verified before use; nothing else to do.
    }
  }

  #onSpawnError(error: unknown): void {
    this.#fail(
      new SynktiError('E_WORKLOAD_SPAWN', `could not spawn workload "${this.#options.command.join(' ')}": ${String(error)}`, {
        cause: error,
        hint: 'check that the program exists and is executable, and the cwd exists',
      }),
      'failed',
    );
    this.#scheduleRestart();
  }

  #scheduleHealth(run: Run, delayMs: number): void {
    if (run.gone || run.ending) return;
    run.healthTimer = setTimeout(() => void this.#checkHealth(run), delayMs);
    run.healthTimer.unref();
  }

  async #checkHealth(run: Run): Promise<void> {
    const url = this.healthUrl;
    if (url === undefined) return;
    const result = await probe(url, this.#healthTimeoutMs, run.healthAbort.signal);
    if (run !== this.#run || run.gone || run.ending) return;
    run.lastHealth = result.detail;
    if (this.#state === 'starting') {
      if (result.ok) {
        if (run.startupTimer) clearTimeout(run.startupTimer);
        run.healthySince = this.#now();
        this.#logger.info({ pid: run.pid, afterMs: this.#now() - run.startedAt }, 'workload healthy');
        this.#setState('healthy');
      }
    } else if (result.ok) {
      run.consecutiveFailures = 0;
      if (this.#state === 'unhealthy') {
        run.healthySince = this.#now();
        this.#logger.info({ pid: run.pid }, 'workload healthy again');
        this.#setState('healthy');
      }
    } else {
      run.consecutiveFailures++;
      if (this.#state === 'healthy' && run.consecutiveFailures >= this.#unhealthyThreshold) {
        run.healthySince = undefined;
        this.#logger.warn({ pid: run.pid, failures: run.consecutiveFailures, last: result.detail }, 'workload unhealthy');
        this.#setState('unhealthy');
      }
    }
    this.#scheduleHealth(run, this.#healthIntervalMs);
  }

  #onStartupTimeout(run: Run): void {
    if (run !== this.#run || run.gone || run.ending || this.#state !== 'starting') return;
    this.#fail(
      new SynktiError(
        'E_WORKLOAD_START_TIMEOUT',
        `workload "${this.#options.command.join(' ')}" (pid ${run.pid}) did not answer 200 on ${this.healthUrl} within ` +
          `${formatDuration(this.#options.startupTimeoutMs)} (last check: ${run.lastHealth}); killing it.${this.#tailText()}`,
        { hint: 'raise startupTimeout if the model takes longer to load, or read the workload log' },
      ),
      'failed',
    );
    this.#ending = this.#end(run, this.#killGraceMs).then(() => this.#scheduleRestart());
  }

  /** Called once per run when its leader process is gone. */
  #onRunGone(run: Run, spawnError?: Error): void {
    if (run.ending || this.#stopRequested) return;
    // An unexpected death: clean up what it left in its group, then restart.
    const healthyFor = run.healthySince === undefined ? 0 : this.#now() - run.healthySince;
    if (healthyFor >= this.#stableAfterMs) this.#failuresInARow = 0;
    const wasStarting = this.#state === 'starting';
    const how = spawnError
      ? `could not be spawned: ${spawnError.message}`
      : `exited${run.exitCode !== null ? ` with code ${run.exitCode}` : ''}${run.exitSignal ? ` on signal ${run.exitSignal}` : ''} after ${formatDuration(this.#now() - run.startedAt)}`;
    this.#fail(
      new SynktiError(
        spawnError ? 'E_WORKLOAD_SPAWN' : 'E_WORKLOAD_EXITED',
        `workload "${this.#options.command.join(' ')}"${run.pid === undefined ? '' : ` (pid ${run.pid})`} ${how}` +
          `${wasStarting ? ' before it became healthy' : ''}.${this.#tailText()}`,
        {
          cause: spawnError,
          hint: spawnError ? 'check that the program exists and is executable, and the cwd exists' : 'read the workload log for the cause',
        },
      ),
      wasStarting ? 'failed' : 'restarting',
    );
    run.ending = true;
    this.#ending = this.#end(run, this.#killGraceMs).then(() => this.#scheduleRestart());
  }

  #fail(error: SynktiError, state: WorkloadState): void {
    this.#lastError = error;
    this.#logger.error({ code: error.code, restarts: this.#restarts }, error.message);
    this.#setState(state);
  }

  #scheduleRestart(): void {
    if (this.#stopRequested) return;
    const delayMs = backoffCeilingMs(this.#failuresInARow, { baseMs: this.#backoff.initialMs, capMs: this.#backoff.maxMs });
    this.#failuresInARow++;
    this.#logger.warn({ delayMs, restarts: this.#restarts }, `restarting workload in ${formatDuration(delayMs)}`);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopRequested) return;
      this.#restarts++;
      this.#launch();
    }, delayMs);
    this.#restartTimer.unref();
  }

  /**
   * Ends a run: SIGTERM to its group, SIGKILL to whatever is left after `graceMs`, and
   * resolves when neither the leader nor any process of its group remains.
   */
  async #end(run: Run, graceMs: number): Promise<void> {
    run.ending = true;
    this.#clearRunTimers(run);
    if (run.pid === undefined) return;
    const deadline = this.#now() + graceMs;
    signalGroup(run.pid, 'SIGTERM');
    let killTimer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      killTimer = setTimeout(resolve, graceMs);
      killTimer.unref();
    });
    await Promise.race([run.exited, killed]);
    // The leader may be gone while children it started still drain: give them the rest.
    await waitGroupEmpty(run.pid, () => this.#now() >= deadline);
    if (groupAlive(run.pid)) {
      this.#logger.warn({ pid: run.pid, graceMs }, 'workload did not exit within its grace; sending SIGKILL');
      signalGroup(run.pid, 'SIGKILL');
      await run.exited;
      await waitGroupEmpty(run.pid, () => false);
    }
    clearTimeout(killTimer);
    if (!groupAlive(run.pid)) this.#forget(run);
  }

  #clearRunTimers(run: Run): void {
    if (run.startupTimer) clearTimeout(run.startupTimer);
    if (run.healthTimer) clearTimeout(run.healthTimer);
    run.healthAbort.abort();
  }

  #setState(state: WorkloadState): void {
    if (state === this.#state) return;
    this.#state = state;
    if (state === 'healthy') {
      for (const waiter of this.#waiters) waiter.resolve();
      this.#waiters.clear();
    }
    try {
      this.#options.onStateChange?.(state);
    } catch (error) {
      this.#logger.warn({ err: error }, 'onStateChange threw');
    }
  }

  #pushTail(line: string): void {
    this.#tail.push(line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line);
    if (this.#tail.length > TAIL_LINES) this.#tail.splice(0, this.#tail.length - TAIL_LINES);
  }

  #tailText(): string {
    const lines = this.#tail.slice(-20);
    return lines.length === 0 ? ' It printed nothing.' : `\nlast output lines:\n  ${lines.join('\n  ')}`;
  }

  #openLog(path: string): void {
    const stream = createWriteStream(path, { flags: 'a' });
    stream.on('error', (error) => {
      this.#logger.warn({ err: error, logFile: path }, 'cannot write the workload log file; its output is kept in memory only');
      if (this.#logStream === stream) this.#logStream = undefined;
    });
    this.#logStream = stream;
  }

  #writeLog(data: string | Buffer): void {
    this.#logStream?.write(data);
  }

  async #closeLog(): Promise<void> {
    const stream = this.#logStream;
    this.#logStream = undefined;
    if (!stream) return;
    await new Promise<void>((resolve) => stream.end(resolve));
  }
}

function stoppedError(): SynktiError {
  return new SynktiError('E_WORKLOAD_STOPPED', 'workload supervisor was stopped before the workload became healthy', {
    hint: 'call start() and wait again',
  });
}

/** Sends `signal` to every process of the group led by `pid`; false when none is left. */
function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pid: number): boolean {
  return signalGroup(pid, 0 as unknown as NodeJS.Signals);
}

async function waitGroupEmpty(pid: number, giveUp: () => boolean): Promise<void> {
  const started = Date.now();
  while (groupAlive(pid) && !giveUp()) {
    // Bounded even when `giveUp` never says so: SIGKILLed processes vanish in milliseconds.
    if (Date.now() - started > 10_000) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** One GET of the health URL: ok on any 2xx, otherwise a short reason. */
function probe(url: string, timeoutMs: number, signal: AbortSignal): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve({ ok: false, detail: 'aborted' });
      return;
    }
    const req = request(url, { method: 'GET', agent: false, signal, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: status >= 200 && status < 300, detail: `HTTP ${status}` });
    });
    req.on('timeout', () => {
      req.destroy(new Error(`no answer within ${formatDuration(timeoutMs)}`));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ ok: false, detail: error.code ?? error.message });
    });
    req.end();
  });
}

/**
 * The agent's own allocator tuning, set for the agent by the local fleet and the EC2 unit
 * (issue 25: glibc keeps up to 9 MB of a one-off WebAssembly compile resident otherwise).
 * A model server has other allocation patterns, so it gets the setting only when its own
 * `workload.env` names it.
 */
export const AGENT_ONLY_ENV: readonly string[] = ['MALLOC_MMAP_THRESHOLD_'];

function withoutAgentTuning(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const key of AGENT_ONLY_ENV) delete copy[key];
  return copy;
}
