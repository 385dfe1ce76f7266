/**
 * A private, throwaway PostgreSQL server: what stands in for RDS on the emulated AWS, and
 * what the tests use. `initdb` into a temporary directory, then the `postgres` binary on
 * 127.0.0.1 at a free port, password authentication (SCRAM), no Unix socket. `stop()` shuts
 * it down and removes the directory, and the server is killed if this process exits first.
 *
 * PostgreSQL refuses to run as root, so as root (CI, containers) the server runs as the
 * `postgres` system user (made by Debian's package), else `nobody`.
 *
 * Binaries: `$SYNKTI_PG_BIN`, then /usr/lib/postgresql/<newest>/bin, then PATH. Without
 * them `startPostgresServer` throws SynktiError E_TOOL_MISSING (the tests' helper turns it
 * into a skip unless services are required).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { SynktiError, freeLoopbackPort } from '@synkti/core';

export interface PostgresServer {
  /** `postgres://synkti:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  port: number;
  /** The superuser `synkti`'s password (what RDS would keep in Secrets Manager). */
  password: string;
  /** Shuts the server down and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface PostgresServerOptions {
  /** Databases created before the server starts (besides `postgres`), e.g. RDS's `dbName`. @default [] */
  databases?: readonly string[] | undefined;
}

export const POSTGRES_INSTALL_HINT =
  'install them: apt-get install -y postgresql (or set SYNKTI_PG_BIN to the directory with initdb and postgres)';

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The directory holding both `initdb` and `postgres`, or undefined. */
export function findPostgresBinDir(): string | undefined {
  const candidates: string[] = [];
  if (process.env.SYNKTI_PG_BIN) candidates.push(process.env.SYNKTI_PG_BIN);
  try {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  } catch {
    // Not a Debian-style install.
  }
  candidates.push(...(process.env.PATH ?? '').split(delimiter).filter(Boolean));
  return candidates.find((dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres')));
}

/** uid/gid to run the server as: ourselves, or an unprivileged system user when we are root. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // No passwd file: fall back to nobody's conventional ids.
  }
  for (const name of ['postgres', 'nobody']) {
    const line = passwd.split('\n').find((l) => l.startsWith(`${name}:`));
    const fields = line?.split(':');
    if (fields && fields[2] && fields[3]) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return { uid: 65534, gid: 65534 };
}

/** Runs a command to completion (stdin written, then closed); rejects with its output on a non-zero exit. */
async function run(command: string, args: string[], user: { uid: number; gid: number } | undefined, stdin = ''): Promise<void> {
  const child = spawn(command, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', LANG: 'C', LC_ALL: 'C' },
    ...user,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stdin.end(stdin);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`${command} exited with ${code}:\n${output.slice(-4000)}`);
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    timer.unref();
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts a private server (a few seconds: initdb, then the server). */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const databases = options.databases ?? [];
  for (const name of databases) {
    if (!DATABASE_NAME.test(name))
      throw new SynktiError('E_USAGE', `database name "${name}" is not a plain lower-case identifier`, {
        hint: 'use letters, digits and _ (e.g. synkti)',
      });
  }
  const bin = findPostgresBinDir();
  if (!bin) {
    throw new SynktiError(
      'E_TOOL_MISSING',
      'PostgreSQL is not installed: no initdb/postgres binaries in $SYNKTI_PG_BIN, /usr/lib/postgresql/*/bin or PATH',
      { hint: POSTGRES_INSTALL_HINT },
    );
  }
  const user = serverUser();
  const dir = await mkdtemp(join(tmpdir(), 'synkti-pg-'));
  const dataDir = join(dir, 'data');
  const password = randomBytes(18).toString('base64url');
  let child: ChildProcess | undefined;
  let stopped = false;
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killOnExit);
    if (child) {
      child.kill('SIGINT'); // "fast shutdown": ends sessions, no waiting for clients
      if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
        child.kill('SIGKILL');
        await waitForExit(child, STOP_TIMEOUT_MS);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const pwFile = join(dir, 'pw');
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (user) {
      await chown(dir, user.uid, user.gid);
      await chown(pwFile, user.uid, user.gid);
    }
    await run(
      join(bin, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        'synkti',
        `--pwfile=${pwFile}`,
        '--auth=scram-sha-256',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
        '--no-instructions',
      ],
      user,
    );
    // Single-user mode creates the databases before anything listens (no client library needed).
    for (const name of databases)
      await run(join(bin, 'postgres'), ['--single', '-D', dataDir, '-j', 'postgres'], user, `CREATE DATABASE ${name};\n`);

    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const port = await freeLoopbackPort();
      let log = '';
      const server = spawn(
        join(bin, 'postgres'),
        [
          '-D',
          dataDir,
          '-p',
          String(port),
          '-c',
          'listen_addresses=127.0.0.1',
          '-c',
          'unix_socket_directories=',
          '-c',
          'fsync=off',
          '-c',
          'synchronous_commit=off',
          '-c',
          'full_page_writes=off',
          '-c',
          'max_connections=200',
          '-c',
          'log_min_messages=warning',
        ],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { PATH: process.env.PATH ?? '', LANG: 'C', LC_ALL: 'C' },
          ...user,
        },
      );
      child = server;
      process.on('exit', killOnExit);
      server.stderr?.on('data', (d: Buffer) => {
        log = (log + d.toString()).slice(-8000);
      });
      const ready = await new Promise<boolean>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`PostgreSQL did not start within ${START_TIMEOUT_MS} ms:\n${log}`)),
          START_TIMEOUT_MS,
        );
        timer.unref();
        const check = (): void => {
          if (/ready to accept connections/.test(log)) {
            clearTimeout(timer);
            resolve(true);
          }
        };
        server.stderr?.on('data', check);
        server.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        server.once('exit', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (ready) {
        const url = `postgres://synkti:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
        return { url, port, password, stop };
      }
      process.off('exit', killOnExit);
      child = undefined;
      lastError = new Error(`postgres exited during start-up:\n${log}`);
      // Another process took the port between our probe and the bind: try another one.
      if (!/could not bind|Address already in use/i.test(log)) break;
    }
    throw lastError;
  } catch (error) {
    await stop();
    throw error;
  }
}
