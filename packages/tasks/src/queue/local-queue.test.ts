import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { runQueueConformance } from './conformance.ts';
import { openLocalQueue } from './local-queue.ts';

runQueueConformance('local (SQLite)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'synkti-local-queue-'));
  return {
    open: (options) => openLocalQueue({ ...options, path: join(dir, 'queues.db') }),
    close: () => rm(dir, { recursive: true, force: true }),
    child: { kind: 'local', path: join(dir, 'queues.db') },
  };
});

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const consumerMain = fileURLToPath(new URL('./testing/local-consumer-main.ts', import.meta.url));

describe('local queue (SQLite) between processes', () => {
  it('three consumer processes and a producer share one file: every message acked exactly once', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-local-queue-mp-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'queues.db');
    const producer = await openLocalQueue({ path, name: 'shared' });
    t.after(() => producer.close());
    const sent: string[] = [];
    const ready: Promise<void>[] = [];
    const children = Array.from({ length: 3 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', consumerMain, path, 'shared'], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      t.after(() => {
        child.kill('SIGKILL');
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      ready.push(
        new Promise((resolve) => {
          const onData = (): void => {
            if (out.startsWith('ready\n')) {
              child.stdout.off('data', onData);
              resolve();
            }
          };
          child.stdout.on('data', onData);
        }),
      );
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      return new Promise<string>((resolve, reject) =>
        child.once('exit', (code) => {
          if (code === 0) resolve(out);
          else reject(new Error(`consumer exited with ${code}: ${err.slice(-2000)}`));
        }),
      );
    });
    await Promise.all(ready);
    for (let i = 0; i < 30; i += 1) {
      sent.push(...(await producer.sendBatch(Array.from({ length: 10 }, (_, j) => `job-${i}-${j}`))));
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const outputs = await Promise.all(children);
    const lines = outputs.map((out) => out.split('\n').filter((line) => line.startsWith('acked ')));
    const acked = lines.flat().map((line) => line.split(' ')[1]!);
    assert.equal(acked.length, 300, 'every message acked once, none twice');
    assert.deepEqual([...new Set(acked)].sort(), [...sent].sort());
    assert.ok(
      lines.every((l) => l.length > 0),
      `every process got work (${lines.map((l) => l.length).join(', ')})`,
    );
    assert.deepEqual(await producer.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });
});

describe('local queue (SQLite) long poll across processes', () => {
  it('a send from another process wakes a long poll long before its poll interval (its queue bell file is watched)', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'synkti-local-queue-wake-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'queues.db');
    // Only the watch can wake it before 20 s: the poll interval is longer than the wait.
    const consumer = await openLocalQueue({ path, name: 'wake', pollIntervalMs: 30_000 });
    t.after(() => consumer.close());
    const started = Date.now();
    const received = consumer.receive({ waitMs: 20_000, leaseMs: 30_000 });
    const queueModule = fileURLToPath(new URL('./local-queue.ts', import.meta.url));
    const script = `const m = await import(${JSON.stringify(queueModule)}); const q = await m.openLocalQueue({ path: ${JSON.stringify(path)}, name: 'wake' }); await q.send('from another process'); await q.close();`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    t.after(() => {
      child.kill('SIGKILL');
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, err.slice(-2000));
    const sentAt = Date.now();
    const [message] = await received;
    assert.equal(message?.body, 'from another process', 'the long poll got the message');
    // The child takes seconds to start on a loaded machine; the wake after its send must not wait for a poll.
    assert.ok(Date.now() - sentAt < 10_000, `woke ${Date.now() - sentAt} ms after the sender exited (${Date.now() - started} ms in all)`);
  });
});
