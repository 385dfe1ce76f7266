/**
 * Queue throughput: our `local` (SQLite) and `postgres` queue backends against BullMQ on
 * Redis, on this machine, in the same run, under the same workload.
 *
 *   npm run bench -- queue [--tasks 3000] [--consumers 4] [--rounds 3] [--backends local,postgres,bullmq]
 *
 * Workload, identical for each backend: the producer (this process) enqueues N small tasks
 * (~70-byte JSON) in chunks of 100 (ours: `sendBatch`, one statement of 100 rows on both
 * SQL backends; BullMQ: `addBulk`, one pipeline), while `--consumers` consumer processes (each its own connection) lease,
 * process (no-op) and ack them until all N are acked (ours: `receive` up to 10 with a
 * lease, then `ack` each; BullMQ: a Worker with concurrency 1, job removed on completion).
 * Time runs from the first enqueue to the last ack; throughput = N / seconds. Every
 * backend gets a warm-up round, then `--rounds` measured rounds, the backends taking turns
 * in a rotating order (fair on a shared machine); the report gives medians, the median of
 * each round's ratio to BullMQ's run in the same round (a burst of load elsewhere hits
 * one round of both, not one backend), the load average, and the CPU time per message
 * of the server and the consumers (from /proc: less sensitive to load than throughput).
 *
 * Services are private and thrown away: PostgreSQL via scripts/test-services/postgres.ts
 * (fsync off, like the tests), `redis-server` on 127.0.0.1 at a free port with no
 * persistence. Everything (processes, temp dirs) is removed on exit, Ctrl-C included.
 * Ends with {"bench":"queue","receive_batch":..,"local_tps":..,"postgres_tps":..,"bullmq_tps":..,
 * "ratio_local_bullmq":..,"ratio_postgres_bullmq":..,"load1_median":..} (null for a backend whose
 * server is not installed here; the ratios are the medians of the per-round ratios).
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freeLoopbackPort } from '@synkti/core';
import type { Queue } from '../packages/tasks/src/queue/types.ts';
import { numberArg, parseArgs } from './lib/args.ts';
import { armDeadline, onExit, startChild, stopAll } from './lib/children.ts';
import { cpuMicros, treeCpuMicros } from './lib/proc-cpu.ts';
import { median, round, table } from './lib/stats.ts';

const HELP = `usage: npm run bench -- queue [options]

Enqueue + lease + ack throughput of small tasks: our local (SQLite) and postgres queue
backends vs BullMQ on Redis (a private redis-server started here), same workload.
  --tasks N          tasks per measured round (default 3000)
  --consumers N      consumer processes per backend (default 4)
  --rounds N         measured rounds per backend, after one warm-up round (default 5)
  --warmup N         tasks in each backend's warm-up round, not measured (default: --tasks, at most 3000)
  --batch N          messages per receive for our backends, 1..10 (default 10)
  --backends LIST    which to run (default local,postgres,bullmq)
  --local-poll-ms N  how often an idle local consumer looks for tasks sent by another process (default 10)
Prints per-run lines (stderr), a table, ratios (median of the per-round ratios) and the
load average, then one JSON line
{"bench":"queue","local_tps":..,"postgres_tps":..,"bullmq_tps":..,"ratio_local_bullmq":..,...}.`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RUN = join(ROOT, 'bench', 'run.ts');
const BACKENDS = ['local', 'postgres', 'bullmq'] as const;
type Backend = (typeof BACKENDS)[number];
const LABEL: Record<Backend, string> = { local: 'synkti local (SQLite)', postgres: 'synkti postgres', bullmq: 'BullMQ (Redis)' };
/** Where a child finds its backend: the SQLite file, the PostgreSQL URL (holds a password) or the Redis port. */
const TARGET_ENV = 'SYNKTI_BENCH_QUEUE_TARGET';
const QUEUE_NAME = 'bench_queue';
/** Tasks per producer call: ours stores it with one statement, BullMQ sends it in one pipeline. */
const PRODUCER_CHUNK = 100;
const LEASE_MS = 120_000;
const PAYLOAD = 'x'.repeat(32);

const log = (line: string): void => console.error(line);

function intArg(args: Map<string, string>, name: string, fallback: number, max: number): number {
  const value = numberArg(args, name, fallback);
  if (!Number.isInteger(value) || value > max)
    throw new Error(`--${name} must be a whole number from 1 to ${max}, got "${args.get(name)}"`);
  return value;
}

function taskBody(roundNo: number, task: number): { round: number; task: number; payload: string } {
  return { round: roundNo, task, payload: PAYLOAD };
}

// ---------------------------------------------------------------------------------------
// Child roles (this same module, started as `bench/run.ts queue --role ...`)
// ---------------------------------------------------------------------------------------

/** Writes `{"acked":n}` lines, coalescing the acks of one event-loop turn into one write. */
function ackReporter(): (n: number) => void {
  let pending = 0;
  let scheduled = false;
  return (n) => {
    pending += n;
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const count = pending;
      pending = 0;
      if (count > 0) process.stdout.write(`{"acked":${count}}\n`);
    });
  };
}

/** Lines from the parent on stdin: "start", "pause"; end of stdin means stop. */
function control(onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => onLine(line.trim()));
    lines.once('close', () => resolve());
  });
}

async function openOurs(backend: 'local' | 'postgres', target: string, localPollMs: number): Promise<Queue> {
  if (backend === 'local') {
    const { openLocalQueue } = await import('../packages/tasks/src/queue/local-queue.ts');
    return openLocalQueue({ path: target, name: QUEUE_NAME, pollIntervalMs: localPollMs });
  }
  const { openPostgresQueue } = await import('../packages/tasks/src/queue/postgres-queue.ts');
  // One query at a time per consumer; the second connection is the LISTEN one.
  return openPostgresQueue({ connectionString: target, name: QUEUE_NAME, poolSize: 2 });
}

/** A consumer of our queue: receive (lease) up to `batch`, ack each, while started. */
async function oursConsumer(backend: 'local' | 'postgres', target: string, batch: number, localPollMs: number): Promise<void> {
  const queue = await openOurs(backend, target, localPollMs);
  const report = ackReporter();
  let active: AbortController | undefined;
  let wake: (() => void) | undefined;
  let stopped = false;
  const ended = control((line) => {
    if (line === 'start' && !active) {
      active = new AbortController();
      wake?.();
    } else if (line === 'pause' && active) {
      active.abort();
      active = undefined;
    }
  }).then(() => {
    stopped = true;
    active?.abort();
    wake?.();
  });
  process.stdout.write('{"ready":true}\n');
  while (!stopped) {
    const run = active;
    if (!run) {
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
      continue;
    }
    const messages = await queue.receive({ maxMessages: batch, leaseMs: LEASE_MS, waitMs: 1000, signal: run.signal });
    let acked = 0;
    let stale = 0;
    for (const message of messages) {
      // The task itself is a no-op: this measures the queue.
      if (await queue.ack(message)) acked += 1;
      else stale += 1;
    }
    if (stale > 0) process.stdout.write(`{"stale":${stale}}\n`);
    report(acked);
  }
  await ended;
  await queue.close();
}

/** A BullMQ consumer: one Worker, concurrency 1, no-op processor; a completion is the ack. */
async function bullmqConsumer(port: number): Promise<void> {
  const { Worker } = await import('bullmq');
  const report = ackReporter();
  const worker = new Worker(QUEUE_NAME, async () => undefined, {
    connection: { host: '127.0.0.1', port },
    concurrency: 1,
    autorun: false,
  });
  worker.on('completed', () => report(1));
  worker.on('failed', (_job, error) => process.stdout.write(`${JSON.stringify({ error: `job failed: ${error.message}` })}\n`));
  worker.on('error', (error) => process.stdout.write(`${JSON.stringify({ error: error.message })}\n`));
  await worker.waitUntilReady();
  const running = worker.run();
  process.stdout.write('{"ready":true}\n');
  // An idle Worker blocks in Redis (no polling), so "start"/"pause" need not do anything.
  await control(() => undefined);
  await worker.close();
  await running.catch(() => undefined);
}

/** Holds the private PostgreSQL server, so that its stop (and temp dir removal) runs even on Ctrl-C. */
async function postgresHolder(): Promise<void> {
  const { startTestPostgres } = await import('../scripts/test-services/postgres.ts');
  const { ServiceUnavailableError } = await import('../scripts/test-services/services.ts');
  let server: Awaited<ReturnType<typeof startTestPostgres>> | undefined;
  let stopRequested = false;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= server ? server.stop() : Promise.resolve());
  // Handlers first: a signal during start-up must still end in stop() (server gone, directory removed).
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      stopRequested = true;
      if (server) void stop().finally(() => process.exit(0));
    });
  }
  try {
    server = await startTestPostgres();
  } catch (error) {
    if (error instanceof ServiceUnavailableError) {
      process.stdout.write(`${JSON.stringify({ ready: false, unavailable: error.message })}\n`);
      return;
    }
    throw error;
  }
  if (stopRequested) {
    await stop();
    return;
  }
  process.stdout.write(`${JSON.stringify({ ready: true, url: server.url })}\n`);
  await control(() => undefined);
  await stop();
}

async function childMain(role: string, args: Map<string, string>): Promise<void> {
  const target = process.env[TARGET_ENV] ?? '';
  if (role === 'postgres-server') return postgresHolder();
  if (role !== 'consumer') throw new Error(`unknown --role "${role}"`);
  const backend = args.get('backend');
  if (backend === 'bullmq') return bullmqConsumer(Number(target));
  if (backend !== 'local' && backend !== 'postgres') throw new Error(`unknown --backend "${backend}"`);
  return oursConsumer(backend, target, intArg(args, 'batch', 10, 10), intArg(args, 'local-poll-ms', 10, 1000));
}

// ---------------------------------------------------------------------------------------
// Parent: services, consumers, rounds, report
// ---------------------------------------------------------------------------------------

interface ChildLine {
  ready?: boolean;
  unavailable?: string;
  url?: string;
  acked?: number;
  stale?: number;
  error?: string;
}

/** A child of ours speaking JSON lines; `ready` resolves with its first line that has `ready`. */
interface Peer {
  child: ChildProcess;
  ready: Promise<ChildLine>;
}

function startPeer(what: string, args: string[], target: string, onLine: (line: ChildLine) => void, timeoutMs = 60_000): Peer {
  const child = startChild(process.execPath, ['--import', 'tsx', RUN, 'queue', ...args], {
    cwd: ROOT,
    env: { ...process.env, [TARGET_ENV]: target },
  });
  const ready = new Promise<ChildLine>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not report ready within ${timeoutMs / 1000} s`)), timeoutMs);
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      reject(new Error(`${what} exited before it was ready (code ${code}, signal ${signal})`));
    };
    child.once('exit', onExit);
    createInterface({ input: child.stdout! }).on('line', (raw) => {
      let line: ChildLine;
      try {
        line = JSON.parse(raw) as ChildLine;
      } catch {
        return; // not one of our lines
      }
      if (line.ready !== undefined) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(line);
      } else {
        onLine(line);
      }
    });
  });
  ready.catch(() => undefined); // awaited by the caller; no unhandled rejection meanwhile
  return { child, ready };
}

function send(peer: Peer, line: string): void {
  if (peer.child.stdin && !peer.child.stdin.destroyed) peer.child.stdin.write(`${line}\n`);
}

/** The producer side and the consumers of one backend. */
interface Contender {
  backend: Backend;
  consumers: Peer[];
  /** Enqueues `n` tasks of round `roundNo`, in chunks. */
  produce(roundNo: number, n: number): Promise<void>;
  close(): Promise<void>;
  acked: number;
  stale: number;
  errors: string[];
  /** Called whenever `acked` grows. */
  onAck: (() => void) | undefined;
  /** CPU µs used so far by the backend's server (its whole process tree; 0 for local) and by its consumer processes. */
  cpu: () => { server: number; consumers: number };
}

function which(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, binary), constants.X_OK);
      return join(dir, binary);
    } catch {
      // not here
    }
  }
  return undefined;
}

async function startRedis(dir: string): Promise<{ port: number; version: string; pid: number | undefined } | { unavailable: string }> {
  const binary = which('redis-server');
  if (!binary) {
    return { unavailable: 'redis-server is not installed; install it with: sudo apt-get install -y redis-server' };
  }
  const version = /v=(\S+)/.exec(spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'unknown';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let lastLog = '';
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freeLoopbackPort();
    // No persistence (no RDB, no AOF), loopback only, in our temp dir.
    const child = startChild(
      binary,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
        '--daemonize',
        'no',
        '--protected-mode',
        'yes',
        '--logfile',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 15_000);
      const onData = (d: Buffer): void => {
        output = (output + d.toString()).slice(-8000);
        if (/Ready to accept connections/i.test(output)) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ok) {
      // Keep draining its output so the pipe never fills.
      child.stdout!.resume();
      child.stderr!.resume();
      return { port, version, pid: child.pid };
    }
    child.kill('SIGKILL');
    lastLog = output;
    if (!/Address already in use/i.test(output)) break;
  }
  throw new Error(`redis-server did not start:\n${lastLog.slice(-2000)}`);
}

function newContender(
  backend: Backend,
  consumers: Peer[],
  produce: Contender['produce'],
  close: Contender['close'],
  serverPid?: number,
): Contender {
  const c: Contender = {
    backend,
    consumers,
    produce,
    close,
    acked: 0,
    stale: 0,
    errors: [],
    onAck: undefined,
    cpu: () => ({
      server: serverPid === undefined ? 0 : treeCpuMicros(serverPid),
      consumers: c.consumers.reduce((sum, p) => sum + (p.child.pid ? cpuMicros(p.child.pid) : 0), 0),
    }),
  };
  return c;
}

function consumerLine(c: Contender): (line: ChildLine) => void {
  return (line) => {
    if (typeof line.acked === 'number') {
      c.acked += line.acked;
      c.onAck?.();
    }
    if (typeof line.stale === 'number') c.stale += line.stale;
    if (typeof line.error === 'string' && c.errors.length < 20) c.errors.push(line.error);
  };
}

function startConsumers(c: Contender, count: number, target: string, extra: string[]): Peer[] {
  return Array.from({ length: count }, (_, i) =>
    startPeer(`${c.backend} consumer ${i + 1}`, ['--role', 'consumer', '--backend', c.backend, ...extra], target, consumerLine(c)),
  );
}

async function setUpOurs(
  backend: 'local' | 'postgres',
  target: string,
  count: number,
  extra: string[],
  localPollMs: number,
  serverPid?: number,
): Promise<Contender> {
  const producer = await openOurs(backend, target, localPollMs);
  const c = newContender(
    backend,
    [],
    async (roundNo, n) => {
      for (let i = 0; i < n; i += PRODUCER_CHUNK) {
        const chunk = Array.from({ length: Math.min(PRODUCER_CHUNK, n - i) }, (_, j) => JSON.stringify(taskBody(roundNo, i + j)));
        await producer.sendBatch(chunk);
      }
    },
    async () => {
      const stats = await producer.stats();
      await producer.close();
      if (stats.depth + stats.inFlight + stats.deadLettered > 0) c.errors.push(`queue not empty at the end: ${JSON.stringify(stats)}`);
    },
    serverPid,
  );
  c.consumers = startConsumers(c, count, target, extra);
  await Promise.all(c.consumers.map((p) => p.ready));
  return c;
}

async function setUpBullmq(port: number, count: number, serverPid: number | undefined): Promise<Contender> {
  const { Queue: BullQueue } = await import('bullmq');
  const queue = new BullQueue(QUEUE_NAME, {
    connection: { host: '127.0.0.1', port },
    // Like an ack: a finished job is deleted (BullMQ keeps them by default).
    defaultJobOptions: { removeOnComplete: true, removeOnFail: true },
  });
  await queue.waitUntilReady();
  const c = newContender(
    'bullmq',
    [],
    async (roundNo, n) => {
      for (let i = 0; i < n; i += PRODUCER_CHUNK) {
        await queue.addBulk(
          Array.from({ length: Math.min(PRODUCER_CHUNK, n - i) }, (_, j) => ({ name: 'task', data: taskBody(roundNo, i + j) })),
        );
      }
    },
    async () => {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
      await queue.close();
      const left = Object.values(counts).reduce((a, b) => a + b, 0);
      if (left > 0) c.errors.push(`queue not empty at the end: ${JSON.stringify(counts)}`);
    },
    serverPid,
  );
  c.consumers = startConsumers(c, count, String(port), []);
  await Promise.all(c.consumers.map((p) => p.ready));
  return c;
}

interface RoundResult {
  backend: Backend;
  round: number;
  tasks: number;
  ms: number;
  enqueueMs: number;
  tps: number;
  /** Server + consumer CPU per message in this round (µs). */
  cpuUsPerMsg: number;
  /** The consumers' part of it. */
  consumerCpuUsPerMsg: number;
  /** 1-minute load average at the end of the round. */
  load1: number;
}

/** One round: start the consumers, enqueue n, wait for n acks; time from first enqueue to last ack. */
async function runRound(c: Contender, roundNo: number, n: number, timeoutMs: number): Promise<RoundResult> {
  const base = c.acked;
  for (const p of c.consumers) send(p, 'start');
  let done!: () => void;
  const allAcked = new Promise<void>((resolve) => {
    done = resolve;
  });
  c.onAck = () => {
    if (c.acked - base >= n) done();
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${c.backend}: only ${c.acked - base} of ${n} tasks acked within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  const exitHandlers: Array<() => void> = [];
  const exited = c.consumers.map(
    (p) =>
      new Promise<never>((_, reject) => {
        const onExit = (code: number | null, signal: string | null): void => {
          reject(new Error(`${c.backend}: a consumer exited mid-round (code ${code}, signal ${signal})`));
        };
        p.child.once('exit', onExit);
        exitHandlers.push(() => p.child.off('exit', onExit));
      }),
  );
  const cpu0 = c.cpu();
  const t0 = performance.now();
  try {
    const produced = c.produce(roundNo, n).then(() => performance.now());
    await Promise.race([Promise.all([allAcked, produced]), timeout, ...exited]);
    const t1 = performance.now();
    const enqueueEnd = await produced;
    const ms = t1 - t0;
    const cpu1 = c.cpu();
    return {
      backend: c.backend,
      round: roundNo,
      tasks: n,
      ms,
      enqueueMs: enqueueEnd - t0,
      tps: n / (ms / 1000),
      cpuUsPerMsg: (cpu1.server + cpu1.consumers - cpu0.server - cpu0.consumers) / n,
      consumerCpuUsPerMsg: (cpu1.consumers - cpu0.consumers) / n,
      load1: loadavg()[0]!,
    };
  } finally {
    clearTimeout(timer);
    c.onAck = undefined;
    for (const e of exited) e.catch(() => undefined);
    for (const off of exitHandlers) off();
    for (const p of c.consumers) send(p, 'pause');
  }
}

async function stopContender(c: Contender): Promise<void> {
  await c.close().catch((error: unknown) => {
    c.errors.push(`close: ${(error as Error).message}`);
  });
  await Promise.all(
    c.consumers.map(
      (p) =>
        new Promise<void>((resolve) => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
          const timer = setTimeout(() => {
            p.child.kill('SIGKILL');
          }, 10_000);
          p.child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          p.child.stdin?.end();
        }),
    ),
  );
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const role = args.get('role');
  if (role !== undefined) return childMain(role, args);

  const tasks = intArg(args, 'tasks', 3000, 1_000_000);
  const consumers = intArg(args, 'consumers', 4, 32);
  const rounds = intArg(args, 'rounds', 5, 20);
  const batch = intArg(args, 'batch', 10, 10);
  const localPollMs = intArg(args, 'local-poll-ms', 10, 1000);
  const wanted = (args.get('backends') ?? BACKENDS.join(',')).split(',').map((b) => b.trim());
  for (const b of wanted) {
    if (!(BACKENDS as readonly string[]).includes(b)) throw new Error(`--backends: "${b}" is not one of ${BACKENDS.join(', ')}`);
  }
  const selected = BACKENDS.filter((b) => wanted.includes(b));
  const warmup = intArg(args, 'warmup', Math.min(tasks, 3000), 1_000_000);
  // A round that runs slower than 100 tasks/s (plus 20 s of slack) has gone wrong.
  const roundTimeoutMs = 20_000 + tasks * 10;
  const deadline = armDeadline(120_000 + (rounds + 1) * selected.length * roundTimeoutMs, 'queue benchmark');

  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-queue-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  const contenders: Contender[] = [];
  const unavailable = new Map<Backend, string>();
  const failed = new Map<Backend, string>();
  const results: RoundResult[] = [];
  let redisVersion = '';
  try {
    log(
      `queue bench: ${tasks} tasks per round, ${consumers} consumer processes per backend, ${rounds} rounds (+1 warm-up of ${warmup}), ` +
        `receive batch ${batch}, producer chunks of ${PRODUCER_CHUNK}; ${cpus().length} CPU(s); backends ${selected.join(', ')}; ` +
        `load average ${loadavg()
          .map((l) => round(l, 2))
          .join(' ')}`,
    );
    const ours = ['--batch', String(batch), '--local-poll-ms', String(localPollMs)];
    // Set-ups run at once (not measured); contenders keep the order of `selected`.
    const setUp = async (backend: Backend): Promise<Contender | undefined> => {
      const started = performance.now();
      try {
        let contender: Contender;
        if (backend === 'local') {
          contender = await setUpOurs('local', join(dir, 'local', 'queues.db'), consumers, ours, localPollMs);
        } else if (backend === 'postgres') {
          const holder = startPeer('postgres server', ['--role', 'postgres-server'], '', () => undefined);
          const ready = await holder.ready;
          if (!ready.ready || !ready.url) {
            unavailable.set(backend, ready.unavailable ?? 'PostgreSQL did not start');
            return undefined;
          }
          // The holder's tree: the postmaster, its backends and background workers.
          contender = await setUpOurs('postgres', ready.url, consumers, ours, localPollMs, holder.child.pid);
        } else {
          try {
            await import('bullmq');
          } catch {
            unavailable.set(backend, 'the bullmq package is not installed; run: npm install (it is a devDependency of the repo root)');
            return undefined;
          }
          const redis = await startRedis(join(dir, 'redis'));
          if ('unavailable' in redis) {
            unavailable.set(backend, redis.unavailable);
            return undefined;
          }
          redisVersion = redis.version;
          contender = await setUpBullmq(redis.port, consumers, redis.pid);
        }
        log(`${LABEL[backend]}: ready in ${round((performance.now() - started) / 1000, 1)} s`);
        return contender;
      } catch (error) {
        failed.set(backend, (error as Error).message);
        log(`${LABEL[backend]}: set-up failed: ${(error as Error).message}`);
        return undefined;
      }
    };
    for (const c of await Promise.all(selected.map(setUp))) if (c) contenders.push(c);
    for (const [backend, why] of unavailable) log(`${LABEL[backend]}: skipped: ${why}`);

    const live = (): Contender[] => contenders.filter((c) => !failed.has(c.backend));
    for (const c of live()) {
      try {
        const r = await runRound(c, 0, warmup, roundTimeoutMs);
        log(`warm-up  ${LABEL[c.backend].padEnd(21)}: ${warmup} tasks in ${Math.round(r.ms)} ms (${Math.round(r.tps)} tasks/s)`);
      } catch (error) {
        failed.set(c.backend, (error as Error).message);
        log(`warm-up  ${LABEL[c.backend]}: failed: ${(error as Error).message}`);
      }
    }
    for (let r = 1; r <= rounds; r += 1) {
      const order = live();
      // Rotate who goes first, so no backend always runs right after another's load.
      const rotated = order.slice((r - 1) % Math.max(1, order.length)).concat(order.slice(0, (r - 1) % Math.max(1, order.length)));
      for (const c of rotated) {
        try {
          const res = await runRound(c, r, tasks, roundTimeoutMs);
          results.push(res);
          log(
            `round ${r}/${rounds} ${LABEL[c.backend].padEnd(21)}: ${tasks} tasks in ${Math.round(res.ms)} ms = ${Math.round(res.tps)} tasks/s ` +
              `(all enqueued after ${Math.round(res.enqueueMs)} ms; CPU ${Math.round(res.cpuUsPerMsg)} µs/msg, consumers ${Math.round(res.consumerCpuUsPerMsg)}; load ${round(res.load1, 1)})`,
          );
        } catch (error) {
          failed.set(c.backend, (error as Error).message);
          log(`round ${r}/${rounds} ${LABEL[c.backend]}: failed: ${(error as Error).message}`);
        }
      }
    }
    for (const c of contenders) await stopContender(c);
    for (const c of contenders) {
      const expected = warmup + results.filter((x) => x.backend === c.backend).length * tasks;
      if (!failed.has(c.backend) && c.acked !== expected)
        failed.set(c.backend, `acked ${c.acked} tasks, expected ${expected} (duplicate or lost deliveries)`);
      if (c.stale > 0) failed.set(c.backend, `${c.stale} acks refused (stale receipts)`);
      if (c.errors.length > 0) failed.set(c.backend, c.errors.join('; '));
    }
  } finally {
    clearTimeout(deadline);
    await stopAll(10_000);
    rmSync(dir, { recursive: true, force: true });
  }

  const tps = (b: Backend): number | null => {
    if (failed.has(b) || unavailable.has(b)) return null;
    const runs = results.filter((x) => x.backend === b);
    return runs.length === 0 ? null : median(runs.map((x) => x.tps));
  };
  const runsOf = (b: Backend): RoundResult[] => results.filter((x) => x.backend === b);
  const cpuPerMsg = (b: Backend): number | null => (runsOf(b).length === 0 ? null : round(median(runsOf(b).map((x) => x.cpuUsPerMsg))));
  const consumerCpuPerMsg = (b: Backend): number | null =>
    runsOf(b).length === 0 ? null : round(median(runsOf(b).map((x) => x.consumerCpuUsPerMsg)));
  const rows: (string | number)[][] = [
    ['backend', 'tasks/s (median)', 'ms (median)', 'CPU µs/msg (median)', 'of it consumers', 'runs (tasks/s)'],
  ];
  for (const b of selected) {
    const runs = runsOf(b);
    const why = failed.get(b) ?? unavailable.get(b);
    rows.push([
      LABEL[b],
      why ? (failed.has(b) ? 'FAILED' : 'n/a') : Math.round(tps(b) ?? 0),
      runs.length ? Math.round(median(runs.map((x) => x.ms))) : '-',
      cpuPerMsg(b) ?? '-',
      consumerCpuPerMsg(b) ?? '-',
      runs.map((x) => Math.round(x.tps)).join(' ') || '-',
    ]);
  }
  console.log(table(rows));
  for (const [b, why] of [...unavailable, ...failed]) console.log(`${LABEL[b]}: ${failed.has(b) ? 'FAILED' : 'not measured'}: ${why}`);
  const bull = tps('bullmq');
  const ratio = (b: Backend): number | null => {
    const ours = tps(b);
    return ours === null || bull === null ? null : round(ours / bull, 3);
  };
  /** Each round's ratio to BullMQ's run in the same round: both saw that round's load. */
  const roundRatios = (b: Backend): number[] => {
    if (tps(b) === null || bull === null) return [];
    return runsOf(b).flatMap((x) => {
      const theirs = results.find((y) => y.backend === 'bullmq' && y.round === x.round);
      return theirs ? [round(x.tps / theirs.tps, 3)] : [];
    });
  };
  const medianRoundRatio = (b: Backend): number | null => {
    const r = roundRatios(b);
    return r.length === 0 ? null : round(median(r), 3);
  };
  if (bull !== null) {
    for (const b of ['local', 'postgres'] as const) {
      const r = medianRoundRatio(b);
      if (r !== null)
        console.log(`ratio ${b}/bullmq: ${r} (median of the rounds' ratios ${roundRatios(b).join(' ')}; ratio of the medians ${ratio(b)})`);
    }
  }
  const loads = results.map((x) => x.load1);
  const load =
    loads.length === 0 ? null : { min: round(Math.min(...loads), 2), median: round(median(loads), 2), max: round(Math.max(...loads), 2) };
  if (load)
    console.log(`load average (1 min) over the rounds: ${load.min} - ${load.max}, median ${load.median}, on ${cpus().length} CPU(s)`);
  const rounded = (v: number | null): number | null => (v === null ? null : Math.round(v));
  console.log(
    JSON.stringify({
      bench: 'queue-detail',
      tasks,
      consumers,
      rounds,
      warmup,
      receive_batch: batch,
      producer_chunk: PRODUCER_CHUNK,
      local_poll_ms: localPollMs,
      cpus: cpus().length,
      redis_version: redisVersion || null,
      load1: load,
      runs_tps: Object.fromEntries(selected.map((b) => [b, runsOf(b).map((x) => Math.round(x.tps))])),
      cpu_us_per_msg: Object.fromEntries(selected.map((b) => [b, cpuPerMsg(b)])),
      consumer_cpu_us_per_msg: Object.fromEntries(selected.map((b) => [b, consumerCpuPerMsg(b)])),
      round_ratios_local_bullmq: roundRatios('local'),
      round_ratios_postgres_bullmq: roundRatios('postgres'),
      ratio_of_medians_local_bullmq: ratio('local'),
      ratio_of_medians_postgres_bullmq: ratio('postgres'),
      not_measured: Object.fromEntries([...unavailable, ...failed]),
    }),
  );
  console.log(
    JSON.stringify({
      bench: 'queue',
      receive_batch: batch,
      local_tps: rounded(tps('local')),
      postgres_tps: rounded(tps('postgres')),
      bullmq_tps: rounded(tps('bullmq')),
      ratio_local_bullmq: medianRoundRatio('local'),
      ratio_postgres_bullmq: medianRoundRatio('postgres'),
      load1_median: load?.median ?? null,
    }),
  );
  if (failed.size > 0) process.exitCode = 1;
}
