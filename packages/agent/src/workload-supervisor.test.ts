import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { freeLoopbackPort } from '@synkti/core';
import { isProcessAlive } from '@synkti/cloud';
import { WorkloadSupervisor } from './workload-supervisor.ts';
import type { WorkloadState, WorkloadSupervisorOptions } from './workload-supervisor.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STAND_IN = fileURLToPath(new URL('./stand-in/main.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function standIn(port: number, ...extra: string[]): string[] {
  return [process.execPath, '--import', 'tsx', STAND_IN, '--port', String(port), '--token-latency', '1ms', ...extra];
}

/** A supervisor whose state changes are recorded, stopped when the test ends. */
function supervise(t: TestContext, options: Omit<WorkloadSupervisorOptions, 'onStateChange'>) {
  const states: { state: WorkloadState; at: number }[] = [];
  const listeners = new Set<() => void>();
  const supervisor = new WorkloadSupervisor({
    cwd: REPO_ROOT,
    healthIntervalMs: 50,
    ...options,
    onStateChange: (state) => {
      states.push({ state, at: performance.now() });
      for (const listener of listeners) listener();
    },
  });
  t.after(() => supervisor.stop({ graceMs: 1000 }));
  /** Resolves when `predicate` holds, checked on every state change. */
  const until = (predicate: () => boolean, timeoutMs = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out; states: ${states.map((s) => s.state).join(' > ')}; ${supervisor.lastError?.message ?? ''}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return { supervisor, states, until };
}

describe('WorkloadSupervisor', () => {
  test('starts the stand-in, becomes healthy, logs to the file, and stop() leaves no process', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-supervisor-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const port = await freeLoopbackPort();
    const logFile = join(dir, 'workload.log');
    const { supervisor, states } = supervise(t, {
      command: standIn(port),
      port,
      healthPath: '/health',
      startupTimeoutMs: 15_000,
      logFile,
      env: { SYNKTI_INSTANCE_ID: 'i-supervised' },
    });
    await supervisor.start();
    assert.equal(supervisor.state, 'starting');
    assert.equal(supervisor.isHealthy(), false);
    await supervisor.waitHealthy(AbortSignal.timeout(15_000));
    assert.equal(supervisor.state, 'healthy');
    assert.equal(supervisor.isHealthy(), true);
    assert.deepEqual(
      states.map((s) => s.state),
      ['starting', 'healthy'],
    );

    const response = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x', max_tokens: 2 }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-served-by'), 'i-supervised');
    await response.body?.cancel();

    const pid = supervisor.pid!;
    assert.ok(alive(pid));
    await supervisor.stop({ graceMs: 5000 });
    await supervisor.stop({ graceMs: 5000 }); // idempotent
    assert.equal(supervisor.state, 'stopped');
    assert.equal(alive(pid), false, 'workload process is gone');
    assert.equal(supervisor.pid, undefined);
    assert.equal(supervisor.restarts, 0);
    const log = await readFile(logFile, 'utf8');
    assert.match(log, /stand-in model server/);
    assert.match(log, /SIGTERM, draining/);
    assert.ok(supervisor.recentOutput().some((line) => /stand-in model server/.test(line)));
    await assert.rejects(supervisor.waitHealthy(), /stopped/);
  });

  test('kill -9 of the workload: restarted with backoff and healthy again', async (t) => {
    const port = await freeLoopbackPort();
    const { supervisor, states, until } = supervise(t, {
      command: standIn(port),
      port,
      healthPath: '/health',
      startupTimeoutMs: 15_000,
      restartBackoff: { initialMs: 100, maxMs: 1000 },
    });
    await supervisor.start();
    await supervisor.waitHealthy(AbortSignal.timeout(15_000));
    const firstPid = supervisor.pid!;
    process.kill(firstPid, 'SIGKILL');
    await until(() => supervisor.state === 'restarting');
    assert.equal(supervisor.isHealthy(), false);
    assert.equal(supervisor.lastError?.code, 'E_WORKLOAD_EXITED');
    assert.match(supervisor.lastError!.message, /SIGKILL/);
    await until(() => supervisor.state === 'healthy');
    assert.equal(supervisor.restarts, 1);
    assert.notEqual(supervisor.pid, firstPid);
    assert.deepEqual(
      states.map((s) => s.state),
      ['starting', 'healthy', 'restarting', 'starting', 'healthy'],
    );
    const restartGap = states[3]!.at - states[2]!.at;
    assert.ok(restartGap >= 90, `waited ${restartGap.toFixed(0)} ms before restarting`);
  });

  test('a command that exits at once is restarted with growing backoff and never healthy', async (t) => {
    const port = await freeLoopbackPort();
    const { supervisor, states, until } = supervise(t, {
      command: [process.execPath, '-e', 'console.error("boom: no model here"); process.exit(3)'],
      port,
      healthPath: '/health',
      startupTimeoutMs: 5000,
      restartBackoff: { initialMs: 50, maxMs: 400 },
    });
    await supervisor.start();
    await until(() => supervisor.restarts >= 4 && supervisor.state !== 'starting');
    assert.ok(!states.some((s) => s.state === 'healthy'));
    assert.notEqual(supervisor.state, 'healthy');
    assert.equal(supervisor.lastError?.code, 'E_WORKLOAD_EXITED');
    assert.match(supervisor.lastError!.message, /exited with code 3/);
    assert.match(supervisor.lastError!.message, /boom: no model here/);
    // Gaps between failure and the next spawn: 50, 100, 200, 400 ms.
    const failedAt = states.filter((s) => s.state === 'failed').map((s) => s.at);
    const startedAt = states
      .filter((s) => s.state === 'starting')
      .map((s) => s.at)
      .slice(1);
    const gaps = startedAt.slice(0, 4).map((at, i) => at - failedAt[i]!);
    gaps.forEach((gap, i) => assert.ok(gap >= 50 * 2 ** i - 10, `gap ${i} was ${gap.toFixed(0)} ms`));
    assert.ok(gaps[3]! < 1500, 'backoff is capped');
  });

  test('a server that never becomes healthy fails within the startup timeout with its output', async (t) => {
    const port = await freeLoopbackPort();
    // A plain node server (no tsx) that prints a line and answers 503 at once, so its last
    // answer and its output are in the error even on a loaded machine, where the tsx
    // stand-in once took longer than the startup timeout to bind.
    const loading = `console.log('model server still loading'); require('node:http').createServer((req, res) => { res.statusCode = 503; res.end(); }).listen(${port}, '127.0.0.1');`;
    const { supervisor, states, until } = supervise(t, {
      command: [process.execPath, '-e', loading],
      port,
      healthPath: '/health',
      startupTimeoutMs: 6000,
      restartBackoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    const began = performance.now();
    await supervisor.start();
    const pid = supervisor.pid!;
    await until(() => supervisor.state === 'failed', 30_000);
    const tookMs = performance.now() - began;
    // Not before the timeout; the upper bound only says it did not wait for anything else
    // (the 60 s backoff), with room for a busy 2-core machine.
    assert.ok(tookMs >= 5900 && tookMs < 20_000, `failed after ${tookMs.toFixed(0)} ms`);
    assert.equal(supervisor.lastError?.code, 'E_WORKLOAD_START_TIMEOUT');
    assert.match(supervisor.lastError!.message, /did not answer 200 on http:\/\/127\.0\.0\.1:\d+\/health within 6\.0s/);
    assert.match(supervisor.lastError!.message, /HTTP 503/);
    assert.match(supervisor.lastError!.message, /model server still loading/);
    assert.ok(!states.some((s) => s.state === 'healthy'));
    // The failed attempt is killed (its group gone) before any retry.
    while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 20));
    await supervisor.stop({ graceMs: 1000 });
    assert.equal(supervisor.restarts, 0, 'the 60 s backoff had not elapsed');
  });

  test('unhealthy after 3 failed checks, healthy again when checks pass', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-supervisor-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const flag = join(dir, 'sick');
    const port = await freeLoopbackPort();
    const script = `
      const fs = require('node:fs');
      require('node:http').createServer((req, res) => {
        res.statusCode = fs.existsSync(${JSON.stringify(flag)}) ? 500 : 200;
        res.end();
      }).listen(${port}, '127.0.0.1');`;
    const { supervisor, states, until } = supervise(t, {
      command: [process.execPath, '-e', script],
      port,
      healthPath: '/health',
      startupTimeoutMs: 5000,
    });
    await supervisor.start();
    await supervisor.waitHealthy(AbortSignal.timeout(5000));
    await writeFile(flag, '');
    const sickAt = performance.now();
    await until(() => supervisor.state === 'unhealthy');
    assert.ok(performance.now() - sickAt >= 2 * 50, 'not before several checks failed');
    assert.equal(supervisor.isHealthy(), false);
    await rm(flag);
    await until(() => supervisor.state === 'healthy');
    assert.deepEqual(
      states.map((s) => s.state),
      ['starting', 'healthy', 'unhealthy', 'healthy'],
    );
    assert.equal(supervisor.restarts, 0);
  });

  test('stop() kills a group that ignores SIGTERM, children included, after the grace', async (t) => {
    const port = await freeLoopbackPort();
    const script = `
      process.on('SIGTERM', () => {});
      const child = require('node:child_process').spawn(process.execPath,
        ['-e', 'process.on("SIGTERM", () => {}); process.send("ready"); setInterval(() => {}, 1000)'],
        { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
      console.log('child-pid ' + child.pid);
      // Healthy only once the child ignores SIGTERM too.
      child.once('message', () => require('node:http').createServer((req, res) => res.end('ok')).listen(${port}, '127.0.0.1'));`;
    const { supervisor } = supervise(t, {
      command: [process.execPath, '-e', script],
      port,
      healthPath: '/health',
      startupTimeoutMs: 5000,
    });
    await supervisor.start();
    await supervisor.waitHealthy(AbortSignal.timeout(5000));
    const pid = supervisor.pid!;
    const childPid = Number(/child-pid (\d+)/.exec(supervisor.recentOutput().join('\n'))![1]);
    t.after(() => {
      if (alive(childPid)) process.kill(childPid, 'SIGKILL');
    });
    assert.ok(alive(pid) && alive(childPid));
    const began = performance.now();
    await supervisor.stop({ graceMs: 300 });
    const tookMs = performance.now() - began;
    assert.ok(tookMs >= 280 && tookMs < 3000, `stop took ${tookMs.toFixed(0)} ms`);
    assert.equal(alive(pid), false, 'leader gone');
    assert.equal(alive(childPid), false, 'its child gone too');
  });

  test('waitHealthy honours its abort signal; bad options are rejected', async (t) => {
    const port = await freeLoopbackPort();
    const { supervisor } = supervise(t, {
      command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'],
      port,
      healthPath: '/health',
      startupTimeoutMs: 5000,
    });
    await supervisor.start();
    await assert.rejects(supervisor.waitHealthy(AbortSignal.timeout(100)), { name: 'TimeoutError' });
    assert.equal(supervisor.state, 'starting');
    assert.throws(() => new WorkloadSupervisor({ command: [], port, healthPath: '/health', startupTimeoutMs: 1 }), /command is empty/);
    assert.throws(() => new WorkloadSupervisor({ command: ['x'], port: 0, healthPath: '/health', startupTimeoutMs: 1 }), /port/);
    assert.throws(() => new WorkloadSupervisor({ command: ['x'], port, healthPath: 'health', startupTimeoutMs: 1 }), /healthPath/);
  });

  test('a program that does not exist fails with a spawn error and is retried', async (t) => {
    const port = await freeLoopbackPort();
    const { supervisor, until } = supervise(t, {
      command: ['/nonexistent/synkti-workload'],
      port,
      healthPath: '/health',
      startupTimeoutMs: 5000,
      restartBackoff: { initialMs: 20, maxMs: 40 },
    });
    await supervisor.start();
    await until(() => supervisor.restarts >= 2);
    assert.equal(supervisor.lastError?.code, 'E_WORKLOAD_SPAWN');
    assert.match(supervisor.lastError!.message, /ENOENT/);
  });
});

describe('process ownership: the workload of a SIGKILLed supervisor', () => {
  const SUPERVISOR = fileURLToPath(new URL('./workload-supervisor.ts', import.meta.url));

  /** A supervisor in a process of its own (an agent), its workload healthy; resolves with both pids. */
  async function supervisedInChild(t: TestContext, port: number, pidFile: string): Promise<{ agentPid: number; workloadPid: number }> {
    const { spawn } = await import('node:child_process');
    const script = `
      import { WorkloadSupervisor } from ${JSON.stringify(SUPERVISOR)};
      const s = new WorkloadSupervisor({ command: ${JSON.stringify(standIn(port))}, port: ${port}, healthPath: '/health', startupTimeoutMs: 60000, healthIntervalMs: 50, pidFile: ${JSON.stringify(pidFile)} });
      await s.start();
      await s.waitHealthy();
      process.stdout.write(JSON.stringify({ workloadPid: s.pid }) + '\\n');
      setInterval(() => {}, 1e9);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => {
      child.kill('SIGKILL');
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`supervisor child not healthy in 60 s: ${out}`)), 60_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve(out.split('\n')[0]!);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`supervisor child exited ${code}: ${out}`));
      });
    });
    return { agentPid: child.pid!, workloadPid: (JSON.parse(line) as { workloadPid: number }).workloadPid };
  }

  test('a new supervisor with the same pid file ends the orphan before it spawns: the port is free, a new workload serves it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-pidfile-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const port = await freeLoopbackPort();
    const pidFile = join(dir, 'workload.pid');
    const { agentPid, workloadPid } = await supervisedInChild(t, port, pidFile);
    t.after(() => {
      try {
        process.kill(-workloadPid, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
    process.kill(agentPid, 'SIGKILL');
    // The agent is gone; its workload is not (own process group), and holds the port.
    const deadline = Date.now() + 5000;
    while (alive(agentPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(isProcessAlive(workloadPid), true, 'the orphan outlives its supervisor');
    const { supervisor, until } = supervise(t, { command: standIn(port), port, healthPath: '/health', startupTimeoutMs: 60_000, pidFile });
    await supervisor.start();
    assert.equal(isProcessAlive(workloadPid), false, 'the orphan was ended before the new workload was spawned');
    await until(() => supervisor.state === 'healthy', 60_000);
    assert.notEqual(supervisor.pid, workloadPid);
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(
      supervisor.recentOutput().filter((l) => /EADDRINUSE/.test(l)),
      [],
    );
    await supervisor.stop({ graceMs: 1000 });
    await assert.rejects(readFile(pidFile), { code: 'ENOENT' }, 'a clean stop removes the record');
  });

  test('a record naming a recycled pid (another process now) is never acted on', async (t) => {
    const { spawn } = await import('node:child_process');
    const { reapOrphanWorkload, writeWorkloadPidFile, bootId, processStartTime } = await import('./workload-pid-file.ts');
    const dir = await mkdtemp(join(tmpdir(), 'synkti-pidfile-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { detached: true, stdio: 'ignore' });
    t.after(() => {
      stranger.kill('SIGKILL');
    });
    await new Promise((r) => stranger.once('spawn', r));
    const pid = stranger.pid!;
    const start = processStartTime(pid)!;
    const pidFile = join(dir, 'workload.pid');
    // Same pid, other start time (a recycled pid); then same pid and start time but not our token.
    writeWorkloadPidFile(pidFile, { pid, startTime: start + 1, bootId: bootId(), token: 'a'.repeat(32) });
    assert.equal((await reapOrphanWorkload(pidFile)).outcome, 'not-ours');
    writeWorkloadPidFile(pidFile, { pid, startTime: start, bootId: bootId(), token: 'b'.repeat(32) });
    assert.equal((await reapOrphanWorkload(pidFile)).outcome, 'not-ours');
    // A record from another boot, and one that is not a record at all.
    writeWorkloadPidFile(pidFile, { pid, startTime: start, bootId: 'another-boot', token: 'c'.repeat(32) });
    assert.equal((await reapOrphanWorkload(pidFile)).outcome, 'stale');
    await writeFile(pidFile, '{"pid": 1}');
    assert.equal((await reapOrphanWorkload(pidFile)).outcome, 'no-record');
    assert.equal(isProcessAlive(pid), true, 'the stranger was never signalled');
    await assert.rejects(readFile(pidFile), { code: 'ENOENT' }, 'each unusable record is removed');
  });
});

describe('portless workload (a batch worker: no port, no health path)', () => {
  test('healthy once running; a crash restarts it; stop() is its SIGTERM, and it gets the grace to hand its work back', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-portless-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const marker = join(dir, 'handed-back');
    // Exits 3 on its first run (a crash); the second run, on SIGTERM, takes 200 ms to "hand back" and writes a marker.
    const script = `
      const fs = require('node:fs');
      const first = !fs.existsSync(${JSON.stringify(join(dir, 'ran'))});
      fs.writeFileSync(${JSON.stringify(join(dir, 'ran'))}, '');
      if (first) setTimeout(() => process.exit(3), 100);
      process.on('SIGTERM', () => setTimeout(() => { fs.writeFileSync(${JSON.stringify(marker)}, 'ok'); process.exit(0); }, 200));
      if (!first) console.log('handler installed');
      setInterval(() => {}, 1000);`;
    const { supervisor, states, until } = supervise(t, {
      command: [process.execPath, '-e', script],
      startupTimeoutMs: 1,
      restartBackoff: { initialMs: 20, maxMs: 40 },
    });
    assert.equal(supervisor.healthUrl, undefined);
    await supervisor.start();
    await supervisor.waitHealthy(AbortSignal.timeout(10_000));
    await until(() => supervisor.restarts === 1 && supervisor.state === 'healthy');
    assert.match(supervisor.lastError?.message ?? '', /exited with code 3/);
    assert.deepEqual(states.map((s) => s.state).slice(0, 4), ['starting', 'healthy', 'restarting', 'starting']);
    // Healthy means spawned; the SIGTERM below must find the script's handler in place.
    for (const began = Date.now(); !supervisor.recentOutput().includes('handler installed');) {
      assert.ok(Date.now() - began < 20_000, 'the second run never printed');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await supervisor.stop({ graceMs: 5000 });
    assert.equal(await readFile(marker, 'utf8'), 'ok', 'SIGTERM, then the time to finish, not SIGKILL');
    assert.equal(supervisor.state, 'stopped');
  });

  test('a port without a health path (or the reverse) is refused', () => {
    assert.throws(() => new WorkloadSupervisor({ command: ['x'], port: 8000, startupTimeoutMs: 1 }), /port is set without a healthPath/);
    assert.throws(
      () => new WorkloadSupervisor({ command: ['x'], healthPath: '/health', startupTimeoutMs: 1 }),
      /healthPath is set without a port/,
    );
  });
});

describe("the agent's own allocator tuning stays with the agent", () => {
  test('a workload does not inherit MALLOC_MMAP_THRESHOLD_ unless its own env names it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-agent-env-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const before = process.env.MALLOC_MMAP_THRESHOLD_;
    process.env.MALLOC_MMAP_THRESHOLD_ = '32768'; // as the local fleet and the EC2 unit start the agent
    t.after(() => {
      if (before === undefined) delete process.env.MALLOC_MMAP_THRESHOLD_;
      else process.env.MALLOC_MMAP_THRESHOLD_ = before;
    });
    const seenBy = async (name: string, env?: Record<string, string>): Promise<string> => {
      const out = join(dir, name);
      const script = `require('node:fs').writeFileSync(${JSON.stringify(out)}, String(process.env.MALLOC_MMAP_THRESHOLD_)); setInterval(() => {}, 1000);`;
      const { supervisor } = supervise(t, { command: [process.execPath, '-e', script], startupTimeoutMs: 1, ...(env ? { env } : {}) });
      await supervisor.start();
      const deadline = Date.now() + 30_000;
      for (;;) {
        const seen = await readFile(out, 'utf8').catch(() => undefined);
        // '' is a file created but not yet written: read again.
        if (seen !== undefined && seen !== '') {
          await supervisor.stop({ graceMs: 1000 });
          return seen;
        }
        assert.ok(Date.now() < deadline, `${name}: the workload never wrote what it saw`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    assert.equal(await seenBy('plain'), 'undefined', 'not inherited from the agent');
    assert.equal(await seenBy('asked', { MALLOC_MMAP_THRESHOLD_: '65536' }), '65536', 'kept when the workload env sets it');
  });
});
