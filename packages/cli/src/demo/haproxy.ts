/**
 * HAProxy as the load balancer in front of the routers: the local stand-in for an ALB.
 * It runs as a child of this process (foreground, under a guard that stops it if this
 * process dies, even by SIGKILL), listens on loopback only, health-checks every router on
 * the router health path, and learns routers as nodes come and go through its runtime API
 * on a private unix socket, so the server list changes without a reload and without
 * cutting a stream.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SynktiError, freeLoopbackPort } from '@synkti/core';
import {
  BACKEND,
  checkServerName,
  checkSettings,
  checkTargetAddress,
  renderHaproxyConfig,
  serverCheckArgs,
  type CheckSettings,
  type HaproxyConfigOptions,
} from './haproxy-config.ts';

export const HAPROXY_INSTALL_HINT =
  'install HAProxy 2.4 or newer (Debian/Ubuntu: sudo apt-get install -y haproxy); it is looked for on PATH, then in /usr/sbin and /usr/local/sbin';

export interface HaproxyOptions extends Omit<HaproxyConfigOptions, 'port' | 'socketPath'> {
  /** Frontend port; 0 picks a free one. @default 0 */
  port?: number | undefined;
  /** The haproxy binary. @default 'haproxy' from PATH */
  command?: string | undefined;
  /** How long to wait for the runtime API and the frontend to answer. @default 10000 */
  startTimeoutMs?: number | undefined;
  /** Each line HAProxy logs (server state changes: "Server routers/i-… is DOWN, reason: …"). @default none */
  onLog?: ((line: string) => void) | undefined;
}

/** A router the balancer should send to. */
export interface HaproxyTarget {
  /** Server name: the instance id. */
  name: string;
  host: string;
  port: number;
}

/** One server (router) as HAProxy sees it (`show stat`). */
export interface HaproxyServer {
  name: string;
  /** `127.0.0.1:41234` */
  address: string;
  /** UP, DOWN, DRAIN, MAINT, "UP 1/2" (going up), "DOWN 1/2" (going down), NOLB … */
  status: string;
  /** Last check result: L7OK, L7STS (wrong status, e.g. 503), L4CON (refused), INI (none yet) … */
  checkStatus: string;
  /** Sessions open on it now. */
  current: number;
  /** Sessions it was given since it was added. */
  sessions: number;
  /** Responses it sent, by class. */
  responses2xx: number;
  responses5xx: number;
  /** Failed connection attempts. */
  connectErrors: number;
  /** Responses that failed (server closed or aborted mid-response). */
  responseErrors: number;
  /** Connection attempts retried / sent to another server instead. */
  retries: number;
  redispatches: number;
  /** Transfers aborted by the server (a stream cut on the router's side). */
  serverAborts: number;
}

/** The backend's totals (every server ever in it, deleted ones included). */
export interface HaproxyBackendTotals {
  sessions: number;
  responses2xx: number;
  responses5xx: number;
  connectErrors: number;
  responseErrors: number;
  retries: number;
  redispatches: number;
  clientAborts: number;
  serverAborts: number;
}

export interface HaproxySyncResult {
  /** Registered now; traffic follows once a health check passes. */
  added: string[];
  /** Passed their first health check: now in the rotation. */
  admitted: string[];
  /** Gone from the targets and deleted. */
  removed: string[];
  /** Gone from the targets, out of the rotation, not deleted yet (connections still open). */
  removing: string[];
}

export interface Haproxy {
  /** `http://127.0.0.1:<port>`: where clients send. */
  readonly url: string;
  readonly port: number;
  /** HAProxy's process id. */
  readonly pid: number;
  /**
   * Makes the backend's servers exactly `targets`: new ones are added out of the rotation
   * and admitted after their first passed health check (like an ALB target's initial
   * check); missing ones are taken out of the rotation and deleted once idle. Serialized.
   */
  sync(targets: readonly HaproxyTarget[]): Promise<HaproxySyncResult>;
  /** The routers in the backend now. */
  servers(): Promise<HaproxyServer[]>;
  /** The backend's totals. */
  totals(): Promise<HaproxyBackendTotals>;
  /** One runtime API command line; returns HAProxy's answer. */
  command(line: string): Promise<string>;
  /** The last lines HAProxy wrote (for error reports). */
  recentLog(): string[];
  /** Stops HAProxy (hard stop: open connections are closed) and removes its files; idempotent. */
  stop(): Promise<void>;
}

/** Where Debian's package puts it: /usr/sbin is not on a normal user's PATH. */
const SBIN_PLACES = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'];

/** The path of haproxy on PATH or in /usr/sbin, /usr/local/sbin (or of the given command on PATH), or undefined. */
export function findHaproxy(command?: string): string | undefined {
  const found = spawnSync('bash', ['-c', 'command -v "$1"', 'find', command ?? 'haproxy'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status === 0 && path) return path;
  return command === undefined ? SBIN_PLACES.find((place) => existsSync(place)) : undefined;
}

/** Sends one command line on the runtime API socket and reads the answer (HAProxy closes after it). */
export function runtimeCommand(socketPath: string, line: string, timeoutMs = 5000): Promise<string> {
  if (/[\r\n]/.test(line))
    throw new SynktiError('E_HAPROXY_COMMAND', 'a runtime API command must be one line', { hint: 'send one command line at a time' });
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.end(`${line}\n`));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // A stats dump of a few servers is a few KB; bound it anyway.
      if (size > 4 * 1024 * 1024) socket.destroy(new Error('answer over 4 MiB'));
      else chunks.push(chunk);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(
        new SynktiError('E_HAPROXY_COMMAND', `haproxy runtime API (${socketPath}): ${error.message}`, {
          cause: error,
          hint: 'is haproxy still running? see its log',
        }),
      );
    });
    socket.on('close', (hadError) => {
      clearTimeout(timer);
      if (!hadError) resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

/** Parses `show stat` CSV (quoted fields allowed) into rows keyed by column name. */
export function parseStatCsv(text: string): Record<string, string>[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const header = lines.shift();
  if (!header?.startsWith('# ')) return [];
  const names = splitCsvLine(header.slice(2));
  return lines.map((line) => {
    const cells = splitCsvLine(line);
    const row: Record<string, string> = {};
    names.forEach((name, i) => {
      if (name) row[name] = cells[i] ?? '';
    });
    return row;
  });
}

function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

const num = (value: string | undefined): number => {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
};

function toServer(row: Record<string, string>): HaproxyServer {
  return {
    name: row.svname ?? '',
    address: row.addr ?? '',
    status: row.status ?? '',
    checkStatus: (row.check_status ?? '').replace(/^\* /, ''),
    current: num(row.scur),
    sessions: num(row.stot),
    responses2xx: num(row.hrsp_2xx),
    responses5xx: num(row.hrsp_5xx),
    connectErrors: num(row.econ),
    responseErrors: num(row.eresp),
    retries: num(row.wretr),
    redispatches: num(row.wredis),
    serverAborts: num(row.srv_abrt),
  };
}

// The guard: HAProxy lives while our end of the guard's stdin is open; the guard exits
// with HAProxy's status when HAProxy exits by itself.
const GUARD = [
  'cmd="$1"; shift',
  '"$cmd" "$@" </dev/null & h=$!',
  '( while read -r _; do :; done; kill -TERM "$h" 2>/dev/null ) <&0 & r=$!',
  'wait "$h"; rc=$?',
  'kill "$r" 2>/dev/null',
  'exit "$rc"',
].join('\n');

const MAX_LOG_LINES = 200;

/** Starts HAProxy on a loopback port with an empty backend and waits until it answers. */
export async function startHaproxy(options: HaproxyOptions = {}): Promise<Haproxy> {
  const command = findHaproxy(options.command);
  if (!command) {
    throw new SynktiError('E_TOOL_MISSING', `haproxy (the load balancer in front of the routers) is not on PATH nor in /usr/sbin`, {
      hint: HAPROXY_INSTALL_HINT,
    });
  }
  const check = checkSettings(options);
  // A free port can be taken between the probe and HAProxy's bind: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = options.port && options.port > 0 ? options.port : await freeLoopbackPort(options.host ?? '127.0.0.1');
    try {
      return await startOnce(command, port, check, options);
    } catch (error) {
      lastError = error;
      const portTaken =
        error instanceof SynktiError && error.code === 'E_HAPROXY_START' && /cannot bind|Address already in use/i.test(error.message);
      if (!portTaken || (options.port !== undefined && options.port > 0)) throw error;
    }
  }
  throw lastError;
}

async function startOnce(command: string, port: number, check: CheckSettings, options: HaproxyOptions): Promise<Haproxy> {
  // Private directory (0700): the admin socket (0600) is reachable by this user only.
  const dir = mkdtempSync(join(tmpdir(), 'synkti-haproxy-'));
  const socketPath = join(dir, 'admin.sock');
  const configFile = join(dir, 'haproxy.cfg');
  const host = options.host ?? '127.0.0.1';
  let child: ChildProcess | undefined;
  try {
    writeFileSync(configFile, renderHaproxyConfig({ ...options, host, port, socketPath }), { mode: 0o600 });
    const validated = spawnSync(command, ['-c', '-q', '-f', configFile], { encoding: 'utf8', timeout: 10_000 });
    if (validated.status !== 0) {
      throw new SynktiError(
        'E_HAPROXY_CONFIG',
        `haproxy refused its configuration: ${(validated.stderr || validated.stdout || String(validated.error ?? '')).trim().slice(0, 2000)}`,
        {
          hint: `run \`${command} -c -f ${configFile}\` to see it; is this HAProxy 2.4 or newer?`,
        },
      );
    }
    const log: string[] = [];
    let pending = '';
    const onOutput = (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (pending.length > 8192) pending = '';
      for (const line of lines) {
        if (!line) continue;
        log.push(line);
        if (log.length > MAX_LOG_LINES) log.shift();
        options.onLog?.(line);
      }
    };
    // -db: foreground, no daemon; logs (server state changes) go to stderr.
    child = spawn('bash', ['-c', GUARD, 'haproxy-guard', command, '-db', '-f', configFile], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    let exited: string | undefined;
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
    });
    const until = Date.now() + (options.startTimeoutMs ?? 10_000);
    let pid = 0;
    for (;;) {
      if (exited) {
        throw new SynktiError('E_HAPROXY_START', `haproxy ${exited} before it answered: ${log.slice(-5).join(' | ')}`, {
          hint: 'see the lines above; is the port free?',
        });
      }
      try {
        const info = await runtimeCommand(socketPath, 'show info', 2000);
        pid = num(/^Pid: (\d+)$/m.exec(info)?.[1]);
        if (pid > 0) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) {
        throw new SynktiError(
          'E_HAPROXY_START',
          `haproxy did not answer on its runtime API within ${options.startTimeoutMs ?? 10_000} ms`,
          { hint: 'is the machine overloaded? see its log' },
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const started = child;
    // The caller's event loop is not held by HAProxy (stop() holds it while stopping).
    started.unref();
    (started.stdin as unknown as { unref?: () => void }).unref?.();
    (started.stdout as unknown as { unref?: () => void }).unref?.();
    (started.stderr as unknown as { unref?: () => void }).unref?.();
    return controller({ child: started, pid, port, host, socketPath, dir, check, log, isExited: () => exited !== undefined });
  } catch (error) {
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child!.once('exit', r));
      child.stdin?.end();
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

interface ControllerParts {
  child: ChildProcess;
  pid: number;
  port: number;
  host: string;
  socketPath: string;
  dir: string;
  check: CheckSettings;
  log: string[];
  isExited: () => boolean;
}

function controller(parts: ControllerParts): Haproxy {
  const { child, pid, port, host, socketPath, dir, check, log } = parts;
  /** Added by sync and not yet admitted to the rotation (waiting for a passed check). */
  const initial = new Set<string>();
  let chain: Promise<unknown> = Promise.resolve();
  let stopped: Promise<void> | undefined;

  const command = (line: string): Promise<string> => runtimeCommand(socketPath, line);
  const statRows = async (): Promise<Record<string, string>[]> =>
    parseStatCsv(await command('show stat')).filter((r) => r.pxname === BACKEND);
  const servers = async (): Promise<HaproxyServer[]> => (await statRows()).filter((r) => r.svname !== 'BACKEND').map(toServer);

  const expect = (answer: string, ok: RegExp, what: string): void => {
    if (!ok.test(answer)) {
      throw new SynktiError('E_HAPROXY_COMMAND', `haproxy refused to ${what}: ${answer.trim().slice(0, 300)}`, {
        hint: 'see the runtime API section of the HAProxy management guide for this version',
      });
    }
  };

  const syncOnce = async (targets: readonly HaproxyTarget[]): Promise<HaproxySyncResult> => {
    const wanted = new Map<string, HaproxyTarget>();
    for (const target of targets) {
      checkServerName(target.name);
      checkTargetAddress(target.host, target.port, target.name);
      wanted.set(target.name, target);
    }
    const result: HaproxySyncResult = { added: [], admitted: [], removed: [], removing: [] };
    const present = await servers();
    const presentNames = new Set(present.map((s) => s.name));
    for (const target of wanted.values()) {
      if (presentNames.has(target.name)) continue;
      // Added in maintenance; "drain" then turns its checks on without giving it traffic.
      const name = `${BACKEND}/${target.name}`;
      expect(
        await command(`add server ${name} ${target.host}:${target.port} ${serverCheckArgs(check)}`),
        /New server registered/,
        `add ${name}`,
      );
      await command(`enable health ${name}`);
      await command(`set server ${name} state drain`);
      initial.add(target.name);
      result.added.push(target.name);
    }
    for (const server of present) {
      const name = `${BACKEND}/${server.name}`;
      const target = wanted.get(server.name);
      if (target) {
        if (initial.has(server.name) && server.checkStatus === 'L7OK') {
          await command(`set server ${name} state ready`);
          initial.delete(server.name);
          result.admitted.push(server.name);
        }
        continue;
      }
      // Gone from the fleet: out of the rotation now (open streams go on), deleted once idle.
      if (!server.status.startsWith('MAINT')) await command(`set server ${name} state maint`);
      const answer = await command(`del server ${name}`);
      if (/Server deleted/.test(answer)) {
        initial.delete(server.name);
        result.removed.push(server.name);
      } else {
        result.removing.push(server.name);
      }
    }
    return result;
  };

  return {
    url: `http://${host}:${port}`,
    port,
    pid,
    sync(targets) {
      const run = chain.then(() => syncOnce(targets));
      chain = run.catch(() => undefined);
      return run;
    },
    servers,
    async totals() {
      const row = (await statRows()).find((r) => r.svname === 'BACKEND') ?? {};
      return {
        sessions: num(row.stot),
        responses2xx: num(row.hrsp_2xx),
        responses5xx: num(row.hrsp_5xx),
        connectErrors: num(row.econ),
        responseErrors: num(row.eresp),
        retries: num(row.wretr),
        redispatches: num(row.wredis),
        clientAborts: num(row.cli_abrt),
        serverAborts: num(row.srv_abrt),
      };
    },
    command,
    recentLog: () => [...log],
    stop() {
      stopped ??= (async () => {
        if (!parts.isExited() && child.exitCode === null && child.signalCode === null) {
          child.ref();
          const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          // EOF on the guard's stdin: it stops HAProxy (SIGTERM) and exits with it.
          child.stdin?.end();
          const timer = setTimeout(() => {
            try {
              process.kill(pid, 'SIGKILL');
            } catch {
              /* already gone */
            }
          }, 5000);
          await gone;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
