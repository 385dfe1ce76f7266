/**
 * Conformance suite for Queue: every backend (local SQLite, PostgreSQL, SQS) must pass
 * it. Call it at the top level of a test file; it registers node:test tests.
 *
 * Each test uses queues of its own (fresh names), opened through the fixture; `open`
 * must give a new handle (connection, client) on every call, so tests with several
 * consumers exercise the backend's own exclusion, not one object's. Leases are 1 s
 * where a test waits for one to run out, the shortest SQS allows.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSynktiError } from '@synkti/core';
import { LocalObjectStore } from '@synkti/cloud';
import type { QueueChildSpec } from './testing/queue-child-spec.ts';
import type { LeasedMessage, Queue, QueueOptions } from './types.ts';

export interface QueueConformanceBackend {
  /** A new handle on the queue named in `options` (created on first use). */
  open(options: QueueOptions): Promise<Queue>;
  /** Stops whatever the setup started. */
  close(): Promise<void>;
  /** How a child process opens this backend (cases where a real process dies); without it they are skipped. */
  child?: QueueChildSpec | undefined;
}

/** `setup` returns the backend, or `{ skip }` to skip the suite with that message. */
export type QueueConformanceSetup = () => Promise<QueueConformanceBackend | { skip: string }>;

const SHORT_LEASE_MS = 1000;
const LONG_LEASE_MS = 30_000;
/** The crash case's lease: long enough that the PostgreSQL backend defers the ack (it needs 2 s left), short to wait out. */
const CRASH_LEASE_MS = 3000;
const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const crashAfterAckMain = fileURLToPath(new URL('./testing/crash-after-ack-main.ts', import.meta.url));

/** Runs the crash-after-ack child to its death; its stdout and how it ended. */
function runCrashChild(
  t: TestContext,
  spec: QueueChildSpec,
  name: string,
): Promise<{ out: string; err: string; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', crashAfterAckMain], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SYNKTI_TEST_QUEUE_CHILD: JSON.stringify({ spec, name, leaseMs: CRASH_LEASE_MS }) },
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  // Bounded: a child that hangs is killed and the test fails on its output.
  const bound = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) =>
    child.once('close', (_code, signal) => {
      clearTimeout(bound);
      resolve({ out, err, signal });
    }),
  );
}

export function runQueueConformance(name: string, setup: QueueConformanceSetup): void {
  describe(`Queue conformance: ${name}`, () => {
    let backend: QueueConformanceBackend | undefined;
    let skip: string | undefined;
    let payloadRoot: string;
    let store: LocalObjectStore;
    const bucket = 'queue-payloads';
    let opened: Queue[] = [];

    before(async () => {
      const result = await setup();
      if ('skip' in result) skip = result.skip;
      else backend = result;
      payloadRoot = await mkdtemp(join(tmpdir(), 'synkti-queue-payloads-'));
      store = new LocalObjectStore({ root: payloadRoot });
      await store.createBucket(bucket);
    });
    afterEach(async () => {
      const queues = opened;
      opened = [];
      await Promise.all(queues.map((q) => q.close()));
    });
    after(async () => {
      await backend?.close();
      if (payloadRoot) await rm(payloadRoot, { recursive: true, force: true });
    });

    /** Opens `handles` handles on one fresh queue; undefined when the suite is skipped. */
    async function queues(t: TestContext, handles: number, options: Partial<QueueOptions> = {}): Promise<Queue[] | undefined> {
      if (!backend) {
        t.skip(skip);
        return undefined;
      }
      const queueName = `conf-${randomBytes(5).toString('hex')}`;
      const result: Queue[] = [];
      for (let i = 0; i < handles; i += 1) {
        const queue = await backend.open({ name: queueName, ...options });
        opened.push(queue);
        result.push(queue);
      }
      return result;
    }

    async function one(t: TestContext, options: Partial<QueueOptions> = {}): Promise<Queue | undefined> {
      return (await queues(t, 1, options))?.[0];
    }

    /** Receives until a message comes or `withinMs` passes (short long-polls, so every backend's wake-up is covered). */
    async function receiveWithin(queue: Queue, withinMs: number, leaseMs = LONG_LEASE_MS): Promise<LeasedMessage | undefined> {
      const deadline = Date.now() + withinMs;
      while (Date.now() < deadline) {
        const [message] = await queue.receive({ leaseMs, waitMs: Math.max(0, Math.min(1000, deadline - Date.now())) });
        if (message) return message;
      }
      return undefined;
    }

    async function assertEmpty(queue: Queue, why: string): Promise<void> {
      assert.deepEqual(await queue.receive({ waitMs: 0 }), [], why);
    }

    it('sends, receives under a lease and acks: an acked message is gone', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      const id = await queue.send('{"task":1}');
      const message = await receiveWithin(queue, 5000);
      assert.ok(message, 'the message is delivered');
      assert.equal(message.id, id);
      assert.equal(message.body, '{"task":1}');
      assert.equal(message.receiveCount, 1);
      assert.ok(message.sentAt > 0 && message.leaseExpiresAt > Date.now());
      assert.deepEqual(await queue.stats(), { depth: 0, inFlight: 1, delayed: 0, deadLettered: 0 });
      await assertEmpty(queue, 'a leased message is hidden');
      assert.equal(await queue.ack(message), true);
      assert.deepEqual(await queue.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
      await assertEmpty(queue, 'an acked message is never delivered again');
      assert.equal(await queue.ack(message.receipt), false, 'a second ack says the receipt is stale');
    });

    it('an ack followed by a crash loses nothing: the acked message is gone or delivered once more, the held one comes back', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      if (!backend?.child) return t.skip('no child-process spec for this backend');
      const [first, second, third] = await queue.sendBatch(['acked-then-crash', 'held-at-crash', 'never-leased']);
      const name = queue.name;
      const child = await runCrashChild(t, backend.child, name);
      const acked = /^acked (\S+) (true|false)$/m.exec(child.out);
      const held = /^holds (\S+)$/m.exec(child.out);
      assert.ok(
        acked && held,
        `the child leased two messages and acked one (stdout ${JSON.stringify(child.out)}, stderr ${child.err.slice(-1500)})`,
      );
      assert.equal(child.signal, 'SIGKILL', 'the child died without closing the queue');
      assert.equal(acked[2], 'true', 'the ack was accepted before the crash');
      assert.deepEqual([acked[1], held[1]], [first, second], 'FIFO: the first two messages');
      // Both leases end together; collect until the held one is back (it must be), then look once more.
      const seen = new Map<string, LeasedMessage[]>();
      const deadline = Date.now() + CRASH_LEASE_MS + 15_000;
      const take = async (waitMs: number): Promise<void> => {
        for (const message of await queue.receive({ maxMessages: 10, leaseMs: LONG_LEASE_MS, waitMs })) {
          seen.set(message.id, [...(seen.get(message.id) ?? []), message]);
        }
      };
      while (!seen.has(second!) && Date.now() < deadline) await take(1000);
      await take(1000);
      assert.equal(seen.get(third!)?.length, 1, 'the message nobody leased is delivered once');
      assert.equal(seen.get(third!)![0]!.receiveCount, 1);
      assert.equal(seen.get(second!)?.length, 1, 'the message held at the crash comes back once its lease ends: never lost');
      assert.equal(seen.get(second!)![0]!.receiveCount, 2);
      const again = seen.get(first!) ?? [];
      assert.ok(again.length <= 1, 'the acked message is delivered at most once more');
      if (again.length === 1) assert.equal(again[0]!.receiveCount, 2, 'a redelivery of the acked message is its second delivery');
      t.diagnostic(
        again.length === 0
          ? 'the ack was durable before the crash: the message is gone'
          : 'the ack was not durable yet: the message was delivered again (at-least-once)',
      );
      for (const list of seen.values()) assert.equal(await queue.ack(list[0]!), true);
      assert.equal(seen.size, 2 + again.length, 'no other message appeared');
      await assertEmpty(queue, 'nothing left to deliver');
      assert.deepEqual(await queue.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
    });

    it('sendBatch takes more than 100 entries (sent in backend batches) and keeps bodies exact', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      // 126 spans two of the SQL backends' 100-row sends and 13 of SQS's 10.
      const bodies = Array.from({ length: 125 }, (_, i) => `task-${i} ünïcødé ✓ 🚀`);
      bodies.push('control \u0000 and \u0007 characters');
      const ids = await queue.sendBatch(bodies.map((body, i) => (i % 2 ? body : { body })));
      assert.equal(ids.length, bodies.length);
      assert.equal(new Set(ids).size, bodies.length, 'every message has its own id');
      const got = new Map<string, string>();
      const deadline = Date.now() + 10_000;
      while (got.size < bodies.length && Date.now() < deadline) {
        for (const message of await queue.receive({ maxMessages: 10, waitMs: 500 })) {
          got.set(message.id, message.body);
          assert.equal(await queue.ack(message), true);
        }
      }
      assert.deepEqual([...got.keys()].sort(), [...ids].sort());
      ids.forEach((id, i) => assert.equal(got.get(id), bodies[i]));
    });

    it('redelivers a message whose lease expired, with receiveCount + 1 and a new receipt', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      await queue.send('slow task');
      const first = await receiveWithin(queue, 5000, SHORT_LEASE_MS);
      assert.ok(first);
      await assertEmpty(queue, 'hidden while the lease runs');
      const second = await receiveWithin(queue, 5000, LONG_LEASE_MS);
      assert.ok(second, 'delivered again after the lease ran out');
      assert.equal(second.id, first.id);
      assert.equal(second.body, 'slow task');
      assert.equal(second.receiveCount, 2);
      assert.notEqual(second.receipt, first.receipt);
      assert.ok(Date.now() >= first.leaseExpiresAt - 50, 'not before the lease ended');
      assert.equal(await queue.ack(second), true);
    });

    it('extendLease keeps a message hidden past its first lease', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      await queue.send('long task');
      const message = await receiveWithin(queue, 5000, SHORT_LEASE_MS);
      assert.ok(message);
      assert.equal(await queue.extendLease(message, '5s'), true);
      await sleep(SHORT_LEASE_MS + 800);
      await assertEmpty(queue, 'still hidden after the original lease would have ended');
      assert.equal((await queue.stats()).inFlight, 1);
      assert.equal(await queue.ack(message), true);
    });

    it('release makes a message visible again at once, with its error kept', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      await queue.send('handed back');
      const message = await receiveWithin(queue, 5000);
      assert.ok(message);
      assert.equal(await queue.release(message, { error: 'spot interruption' }), true);
      const started = Date.now();
      const again = await receiveWithin(queue, 3000);
      assert.ok(again, 'visible again');
      assert.ok(Date.now() - started < 1500, 'at once, not after the 30 s lease');
      assert.equal(again.id, message.id);
      assert.equal(again.receiveCount, 2);
      assert.equal(await queue.release(message), false, 'the old receipt is stale');
      assert.equal(await queue.ack(again), true);
    });

    it('a stale receipt cannot ack, extend or release once the message was redelivered', async (t) => {
      const [a, b] = (await queues(t, 2)) ?? [];
      if (!a || !b) return;
      await a.send('contended');
      const stale = await receiveWithin(a, 5000, SHORT_LEASE_MS);
      assert.ok(stale);
      const current = await receiveWithin(b, 5000, LONG_LEASE_MS);
      assert.ok(current, 'redelivered to the other consumer');
      assert.equal(await a.ack(stale), false, "the old holder's ack is refused");
      assert.equal(await a.extendLease(stale, 5000), false);
      assert.equal(await a.release(stale, { error: 'late' }), false);
      assert.equal((await b.stats()).inFlight, 1, 'the current lease is untouched');
      await assertEmpty(a, 'the refused release did not make it visible');
      assert.equal(await b.ack(current), true, 'the current holder acks');
      assert.equal(await b.ack(current), false, 'only once');
      assert.equal(await a.ack('not-a-receipt'), false, 'a receipt the queue never gave is refused');
    });

    it('dead-letters after maxReceives failed deliveries with the last error, and redrive brings it back', async (t) => {
      const queue = await one(t, { maxReceives: 3 });
      if (!queue) return;
      assert.equal(queue.maxReceives, 3);
      const id = await queue.send('poison');
      for (let attempt = 1; attempt <= 3; attempt += 1) {
        const message = await receiveWithin(queue, 5000);
        assert.ok(message, `delivery ${attempt}`);
        assert.equal(message.receiveCount, attempt);
        assert.equal(await queue.fail(message, `boom ${attempt}`), true);
      }
      await assertEmpty(queue, 'not delivered a 4th time');
      assert.deepEqual(await queue.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 1 });
      const [letter, ...rest] = await queue.deadLetters();
      assert.equal(rest.length, 0);
      assert.ok(letter);
      assert.equal(letter.id, id);
      assert.equal(letter.body, 'poison');
      assert.equal(letter.receiveCount, 3);
      assert.equal(letter.lastError, 'boom 3');
      assert.equal(await queue.redrive(), 1);
      assert.equal((await queue.stats()).deadLettered, 0);
      const back = await receiveWithin(queue, 5000);
      assert.ok(back, 'redriven message is delivered');
      assert.equal(back.body, 'poison');
      assert.equal(back.receiveCount, 1, 'with a fresh receive count');
      assert.equal(await queue.ack(back), true);
    });

    it('dead-letters a message whose last lease expired, saying so', async (t) => {
      const queue = await one(t, { maxReceives: 2 });
      if (!queue) return;
      await queue.send('crashes its worker');
      const first = await receiveWithin(queue, 5000, SHORT_LEASE_MS);
      assert.equal(first?.receiveCount, 1);
      const second = await receiveWithin(queue, 5000, SHORT_LEASE_MS);
      assert.equal(second?.receiveCount, 2);
      assert.equal(await receiveWithin(queue, SHORT_LEASE_MS + 1500), undefined, 'no third delivery');
      const letters = await queue.deadLetters();
      assert.equal(letters.length, 1);
      assert.equal(letters[0]!.body, 'crashes its worker');
      assert.equal(letters[0]!.receiveCount, 2);
      assert.match(letters[0]!.lastError, /lease expired|no error recorded/);
      assert.equal((await queue.stats()).deadLettered, 1);
    });

    it('deadLetter moves a message at once; purgeDeadLetters deletes it for good', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      await queue.sendBatch(['bad input', 'good input']);
      const messages: LeasedMessage[] = [];
      while (messages.length < 2) {
        const message = await receiveWithin(queue, 5000);
        assert.ok(message);
        messages.push(message);
      }
      const bad = messages.find((m) => m.body === 'bad input')!;
      const good = messages.find((m) => m.body === 'good input')!;
      assert.equal(await queue.deadLetter(bad, 'schema: field x missing'), true);
      assert.equal(await queue.ack(bad), false, 'a dead-lettered receipt is stale');
      assert.deepEqual(
        (await queue.deadLetters()).map((l) => [l.body, l.lastError, l.receiveCount]),
        [['bad input', 'schema: field x missing', 1]],
      );
      assert.equal(await queue.purgeDeadLetters(), 1);
      assert.deepEqual(await queue.deadLetters(), []);
      assert.equal(await queue.ack(good), true);
      assert.deepEqual(await queue.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
    });

    it('concurrent consumers never share a lease: 4 consumers, 200 messages, each acked exactly once', async (t) => {
      const handles = await queues(t, 5);
      if (!handles) return;
      const [producer, ...consumers] = handles;
      const total = 200;
      const ids = await producer!.sendBatch(Array.from({ length: total }, (_, i) => `job-${i}`));
      const deliveries = new Map<string, number>();
      const acks = new Map<string, number>();
      const holders = new Map<string, number>();
      let acked = 0;
      const deadline = Date.now() + 20_000;
      await Promise.all(
        consumers.map(async (consumer, index) => {
          while (acked < total && Date.now() < deadline) {
            const batch = await consumer.receive({ maxMessages: 10, leaseMs: LONG_LEASE_MS, waitMs: 200 });
            for (const message of batch) {
              deliveries.set(message.id, (deliveries.get(message.id) ?? 0) + 1);
              assert.equal(holders.get(message.id), undefined, `message ${message.id} is leased to two consumers at once`);
              holders.set(message.id, index);
            }
            await sleep(Math.random() * 5);
            for (const message of batch) {
              holders.delete(message.id);
              if (await consumer.ack(message)) {
                acks.set(message.id, (acks.get(message.id) ?? 0) + 1);
                acked += 1;
              }
            }
          }
        }),
      );
      assert.equal(acked, total, 'every message acked');
      assert.deepEqual([...acks.keys()].sort(), [...ids].sort());
      assert.ok(
        [...acks.values()].every((n) => n === 1),
        'each exactly once',
      );
      assert.ok(
        [...deliveries.values()].every((n) => n === 1),
        'no message delivered twice within its lease',
      );
      assert.deepEqual(await producer!.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
    });

    it('a long poll returns as soon as a message arrives, and waits out waitMs when none does', async (t) => {
      const [consumer, producer] = (await queues(t, 2)) ?? [];
      if (!consumer || !producer) return;
      const started = Date.now();
      assert.deepEqual(await consumer.receive({ waitMs: 1000 }), []);
      const waited = Date.now() - started;
      assert.ok(waited >= 900, `an empty long poll waits (${waited} ms)`);
      const polling = consumer.receive({ waitMs: 10_000 });
      await sleep(300);
      const sentAt = Date.now();
      await producer.send('wake up');
      const [message] = await polling;
      const latency = Date.now() - sentAt;
      assert.equal(message?.body, 'wake up');
      assert.ok(latency < 1000, `returned ${latency} ms after the send`);
      assert.equal(await consumer.ack(message!), true);
    });

    it('aborting a long poll returns at once with nothing', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      const controller = new AbortController();
      const started = Date.now();
      const polling = queue.receive({ waitMs: 15_000, signal: controller.signal });
      setTimeout(() => controller.abort(), 200).unref();
      assert.deepEqual(await polling, []);
      assert.ok(Date.now() - started < 2000, 'did not wait the 15 s out');
    });

    it('a body over the size limit goes through the object store and its object is deleted after the ack', async (t) => {
      const [sender, receiver] = (await queues(t, 2, { payloadStore: { store, bucket, prefix: 'big/' } })) ?? [];
      if (!sender || !receiver) return;
      const big = `${'é'.repeat(100_000)}${'x'.repeat(100_000)}-end`; // 300 KiB of UTF-8, over the 256 KiB limit
      assert.ok(Buffer.byteLength(big) > 256 * 1024);
      const objectsNow = async (): Promise<number> => (await store.list(bucket, 'big/')).items.length;
      await sender.send(big);
      await sender.send('small');
      assert.equal(await objectsNow(), 1, 'only the big body is stored as an object');
      const got: LeasedMessage[] = [];
      while (got.length < 2) {
        const message = await receiveWithin(receiver, 5000);
        assert.ok(message);
        got.push(message);
      }
      const bigMessage = got.find((m) => m.body.length > 1000);
      assert.equal(bigMessage?.body, big, 'the receiver gets the whole body back');
      assert.equal(await receiver.ack(bigMessage!), true);
      assert.equal(await objectsNow(), 0, 'the object is deleted after the ack');
      assert.equal(await receiver.ack(got.find((m) => m.body === 'small')!), true);

      // A big dead letter keeps its body readable, and purging deletes the object.
      await sender.send(big);
      const again = await receiveWithin(receiver, 5000);
      assert.ok(again);
      assert.equal(await receiver.deadLetter(again, 'too big to handle'), true);
      assert.equal((await receiver.deadLetters())[0]?.body, big);
      assert.equal(await objectsNow(), 1);
      assert.equal(await receiver.purgeDeadLetters(), 1);
      assert.equal(await objectsNow(), 0);
    });

    it('refuses a body over the limit without a payload store, and bad options, with a hint', async (t) => {
      const queue = await one(t, { maxMessageBytes: 1024 });
      if (!queue) return;
      await assert.rejects(queue.send('x'.repeat(1025)), (e: unknown) => isSynktiError(e, 'E_PAYLOAD_TOO_LARGE') && e.hint !== undefined);
      await queue.send('x'.repeat(1024));
      await assert.rejects(queue.receive({ maxMessages: 11 }), (e: unknown) => isSynktiError(e, 'E_QUEUE_OPTION'));
      await assert.rejects(queue.receive({ waitMs: 21_000 }), (e: unknown) => isSynktiError(e, 'E_QUEUE_OPTION'));
      await assert.rejects(queue.receive({ leaseMs: 'soon' }), (e: unknown) => isSynktiError(e, 'E_DURATION'));
      await assert.rejects(queue.send('x', { delayMs: '16 minutes' }), (e: unknown) => isSynktiError(e, 'E_QUEUE_OPTION'));
      assert.equal((await queue.receive({ waitMs: 2000 }))[0]?.body.length, 1024);
    });

    it('stats count visible, leased, delayed and dead-lettered messages', async (t) => {
      const queue = await one(t);
      if (!queue) return;
      await queue.sendBatch(['a', 'b', 'c', { body: 'later', delayMs: '10s' }]);
      assert.deepEqual(await queue.stats(), { depth: 3, inFlight: 0, delayed: 1, deadLettered: 0 });
      const [first] = await queue.receive({ waitMs: 1000 });
      assert.ok(first);
      assert.deepEqual(await queue.stats(), { depth: 2, inFlight: 1, delayed: 1, deadLettered: 0 });
      assert.equal(await queue.deadLetter(first, 'nope'), true);
      assert.deepEqual(await queue.stats(), { depth: 2, inFlight: 0, delayed: 1, deadLettered: 1 });
    });
  });
}
