/**
 * A real AWS API server on loopback: Python moto's `moto_server` (EC2, S3, SSM, IAM, STS,
 * SQS, ECS, CloudWatch, ELBv2 over HTTP). Every SDK client and the `aws` CLI reach it by
 * endpoint (`AWS_ENDPOINT_URL`) with dummy credentials.
 *
 * The server runs under a small bash guard that reads its standard input until EOF and
 * then kills moto: if this process dies (even by SIGKILL), its end of the pipe closes and
 * the server goes with it, so no test or demo leaves a moto_server behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { SynktiError, freeLoopbackPort } from '@synkti/core';

/** moto's fixed account id: every ARN it returns names this account. */
export const MOTO_ACCOUNT_ID = '123456789012';
/** moto accepts any key; these are the administrator's (no IAM check applies to them unless enforcement is on). */
export const MOTO_ADMIN_CREDENTIALS = { accessKeyId: 'AKIASYNKTIEMULATOR01', secretAccessKey: 'synkti-emulator-admin-secret' } as const;
export const MOTO_INSTALL_HINT = "install moto's server (pip install 'moto[server]'), then check that moto_server is on PATH";

export interface MotoServerOptions {
  /** Loopback address to listen on (never another). @default '127.0.0.1' */
  host?: string | undefined;
  /** Port; 0 picks a free one. @default 0 */
  port?: number | undefined;
  /** Region the clients use. @default 'us-east-1' */
  region?: string | undefined;
  /** Where moto's own request log goes. @default discarded */
  logFile?: string | undefined;
  /** How long to wait for the server to answer. @default 30000 */
  startTimeoutMs?: number | undefined;
  /** The command. @default 'moto_server' from PATH */
  command?: string | undefined;
  /** Extra environment for moto (e.g. INITIAL_NO_AUTH_ACTION_COUNT to turn on its IAM checks). */
  env?: Record<string, string> | undefined;
}

export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  host: string;
  port: number;
  region: string;
  accountId: string;
  /** Options for any AWS SDK v3 client (administrator credentials, path-style S3). */
  clientConfig(credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined }): {
    endpoint: string;
    region: string;
    forcePathStyle: true;
    maxAttempts: number;
    credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string | undefined };
  };
  /** Environment for a child process (the `aws` CLI, the CLI, an agent) that should reach this server as the administrator. */
  env(): Record<string, string>;
  /** Forgets every resource (moto's reset API). */
  reset(): Promise<void>;
  /** Stops the server; idempotent. */
  stop(): Promise<void>;
}

/** The path of moto_server on PATH, or undefined. */
export function findMotoServer(command = 'moto_server'): string | undefined {
  const found = spawnSync('bash', ['-c', 'command -v "$1"', 'find', command], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === 'localhost';
}

async function waitUntilAnswering(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  for (;;) {
    if (exited) throw new SynktiError('E_MOTO_START', `moto_server ${exited} before it answered`, { hint: MOTO_INSTALL_HINT });
    try {
      const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) {
      throw new SynktiError('E_MOTO_START', `moto_server did not answer at ${endpoint} within ${timeoutMs} ms`, {
        hint: 'is the machine overloaded? see the moto log',
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts moto_server on a loopback port and waits until it answers. */
export async function startMotoServer(options: MotoServerOptions = {}): Promise<MotoServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) {
    throw new SynktiError('E_MOTO_OPTIONS', `host: the emulated AWS listens on loopback only, got ${host}`, { hint: 'use 127.0.0.1' });
  }
  const command = findMotoServer(options.command);
  if (!command) {
    throw new SynktiError('E_TOOL_MISSING', `moto_server (the emulated AWS API server) is not on PATH`, { hint: MOTO_INSTALL_HINT });
  }
  const port = options.port && options.port > 0 ? options.port : await freeLoopbackPort(host);
  const region = options.region ?? 'us-east-1';
  let log: WriteStream | undefined;
  if (options.logFile) log = createWriteStream(options.logFile, { flags: 'a' });
  // The guard: moto lives as long as our end of its stdin pipe.
  const guard =
    'moto_server_cmd="$1"; shift; "$moto_server_cmd" "$@" & m=$!; trap \'kill $m 2>/dev/null; wait $m 2>/dev/null\' EXIT; while read -r _; do :; done';
  const child = spawn('bash', ['-c', guard, 'moto-guard', command, '-H', host, '-p', String(port)], {
    stdio: ['pipe', log ? 'pipe' : 'ignore', log ? 'pipe' : 'ignore'],
    env: { ...process.env, ...options.env, PYTHONUNBUFFERED: '1' },
  });
  if (log) {
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
  }
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  const endpoint = `http://${host}:${port}`;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        log?.end();
        resolve();
        return;
      }
      // Held again while we wait: an unref'd child would let the process exit first.
      child.ref();
      child.once('exit', () => {
        log?.end();
        resolve();
      });
      child.stdin?.end();
    });
    return stopped;
  };
  try {
    await waitUntilAnswering(endpoint, child, options.startTimeoutMs ?? 30_000);
  } catch (error) {
    await stop();
    throw error;
  }
  const clientConfig: MotoServer['clientConfig'] = (credentials = MOTO_ADMIN_CREDENTIALS) => ({
    endpoint,
    region,
    forcePathStyle: true,
    maxAttempts: 3,
    credentials: { ...credentials },
  });
  return {
    endpoint,
    host,
    port,
    region,
    accountId: MOTO_ACCOUNT_ID,
    clientConfig,
    env: () => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ACCESS_KEY_ID: MOTO_ADMIN_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: MOTO_ADMIN_CREDENTIALS.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '1',
    }),
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      await response.arrayBuffer();
      if (!response.ok) throw new SynktiError('E_MOTO_RESET', `moto reset answered ${response.status}`);
    },
    stop,
  };
}
