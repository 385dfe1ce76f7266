import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startOrSkip } from '../../../../scripts/test-services/services.ts';
import { startTestPostgres } from '../../../../scripts/test-services/postgres.ts';
import { runQueueConformance } from './conformance.ts';
import { openPostgresQueue, preferGenericPlans } from './postgres-queue.ts';

runQueueConformance('postgres', async () => {
  const started = await startOrSkip(startTestPostgres);
  if (started.skip !== undefined) return { skip: started.skip };
  const server = started.service;
  return {
    open: (options) => openPostgresQueue({ ...options, connectionString: server.url, poolSize: 2 }),
    close: () => server.stop(),
    child: { kind: 'postgres', connectionString: server.url },
  };
});

describe('PostgreSQL queue acks', () => {
  let server: Awaited<ReturnType<typeof startTestPostgres>> | undefined;
  let skip: string | undefined;
  before(async () => {
    const started = await startOrSkip(startTestPostgres);
    if (started.skip !== undefined) skip = started.skip;
    else server = started.service;
  });
  after(async () => {
    await server?.stop();
  });

  for (const acks of ['deferred', 'durable'] as const) {
    it(`${acks}: an ack acknowledged before close() is in the database once close() resolves, seen by another handle`, async (t) => {
      if (!server) return t.skip(skip);
      const name = `acks-${randomBytes(4).toString('hex')}`;
      const consumer = await openPostgresQueue({ connectionString: server.url, name, poolSize: 2, acks });
      const observer = await openPostgresQueue({ connectionString: server.url, name, poolSize: 1 });
      t.after(async () => {
        await consumer.close();
        await observer.close();
      });
      await consumer.sendBatch(['a', 'b', 'c']);
      const messages = await consumer.receive({ maxMessages: 3, leaseMs: 60_000 });
      assert.equal(messages.length, 3);
      for (const m of messages) assert.equal(await consumer.ack(m), true);
      // The same handle never sees an acked message, deferred or not.
      assert.deepEqual(await consumer.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
      assert.equal(await consumer.ack(messages[0]!), false, 'a second ack is refused');
      await consumer.close();
      assert.deepEqual(await observer.stats(), { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
    });
  }

  it('deferred: the next receive carries the acks; the other handle sees them gone without any call on the first', async (t) => {
    if (!server) return t.skip(skip);
    const name = `acks-${randomBytes(4).toString('hex')}`;
    const consumer = await openPostgresQueue({ connectionString: server.url, name, poolSize: 2 });
    const observer = await openPostgresQueue({ connectionString: server.url, name, poolSize: 1 });
    t.after(async () => {
      await consumer.close();
      await observer.close();
    });
    await consumer.sendBatch(['1', '2']);
    const [first] = await consumer.receive({ leaseMs: 60_000 });
    assert.ok(first);
    assert.equal(await consumer.ack(first), true);
    const [second] = await consumer.receive({ leaseMs: 60_000 });
    assert.equal(second?.body, '2');
    // The first ack's DELETE went with that receive (or its 5 ms timer): bounded wait, no fixed sleep.
    const deadline = Date.now() + 5000;
    let stats = await observer.stats();
    while (stats.inFlight !== 1 && Date.now() < deadline) stats = await observer.stats();
    assert.deepEqual(stats, { depth: 0, inFlight: 1, delayed: 0, deadLettered: 0 });
    assert.equal(await consumer.ack(second!), true);
    while (stats.inFlight !== 0 && Date.now() < deadline + 5000) stats = await observer.stats();
    assert.equal(stats.inFlight, 0, 'the timer sends a deferred ack no receive carried');
  });

  it('a claim commits without waiting for its WAL flush, and only it: the connection stays synchronous for sends', async (t) => {
    if (!server) return t.skip(skip);
    // One connection, so every statement below runs where the claims ran.
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    let queue: Awaited<ReturnType<typeof openPostgresQueue>> | undefined;
    try {
      await pool.query('SET synchronous_commit = on');
      queue = await openPostgresQueue({ pool, name: `sync-${randomBytes(4).toString('hex')}` });
      await queue.sendBatch(['1', '2']);
      const [first] = await queue.receive({ leaseMs: 60_000 });
      assert.ok(first);
      assert.equal(await queue.ack(first), true);
      const [second] = await queue.receive({ leaseMs: 60_000 });
      assert.equal(second?.body, '2', 'the claim carrying the deferred ack leased the next message');
      const setting = await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      assert.equal(setting.rows[0]?.synchronous_commit, 'on', "the claims' relaxed commit did not leak into the session");
      assert.equal(await queue.ack(second!), true);
    } finally {
      // The queue first (it uses the pool), then the pool: no connection left for the server's stop to cut.
      await queue?.close();
      await pool.end();
    }
  });

  it("claims and acks run one generic plan and stay index-driven: 30 claims, their acks and an empty claim's sweep on a 1,500-message backlog scan the table 0 times (the unnest/IN statements: 75)", async (t) => {
    if (!server) return t.skip(skip);
    // One connection, set up as the queue sets up the pools it makes.
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    // As the queue's own pools: an idle client cut by the server's stop must not crash the test process.
    pool.on('error', () => undefined);
    preferGenericPlans(pool);
    const table = `gp_${randomBytes(4).toString('hex')}`;
    let queue: Awaited<ReturnType<typeof openPostgresQueue>> | undefined;
    let empty: Awaited<ReturnType<typeof openPostgresQueue>> | undefined;
    try {
      queue = await openPostgresQueue({ pool, name: 'generic', table });
      empty = await openPostgresQueue({ pool, name: 'generic-empty', table });
      for (let i = 0; i < 15; i += 1) await queue.sendBatch(Array.from({ length: 100 }, (_, k) => `m${i * 100 + k}`));
      await pool.query(`ANALYZE ${table}`);
      const seqScans = async (): Promise<number> => {
        // This session's counters reach the shared statistics at once, not within a second.
        await pool.query('SELECT pg_stat_force_next_flush()');
        const row = await pool.query<{ seq_scan: string }>('SELECT seq_scan FROM pg_stat_user_tables WHERE relname = $1', [table]);
        return Number(row.rows[0]?.seq_scan);
      };
      const before = await seqScans();
      let previous: { receipt: string } | undefined;
      for (let i = 0; i < 30; i += 1) {
        // Deferred acks ride on the next claim; every other one goes through the ack statement (a short lease).
        const [message] = await queue.receive({ leaseMs: i % 2 === 0 ? 60_000 : 1999 });
        assert.ok(message, 'the backlog never runs dry');
        if (previous) assert.equal(await queue.ack(previous), true);
        previous = message;
      }
      assert.equal(await queue.ack(previous!), true);
      // An empty queue in the same table: its claim finds nothing, sweeps and reads the next visible time.
      assert.deepEqual(await empty.receive({ waitMs: 0 }), []);
      const plans = await pool.query<{ name: string; generic_plans: string; custom_plans: string }>(
        'SELECT name, generic_plans, custom_plans FROM pg_prepared_statements',
      );
      // Planned once, not per execution: the claim ran 31 times on its generic plan and never re-planned with its values.
      assert.ok(
        plans.rows.some((p) => p.name.startsWith('sq_claim_') && Number(p.generic_plans) >= 31 && Number(p.custom_plans) === 0),
        JSON.stringify(plans.rows),
      );
      assert.equal((await seqScans()) - before, 0, 'no claim or ack read the whole table');
    } finally {
      await empty?.close();
      await queue?.close();
      await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      await pool.end();
    }
  });

  it('plans made on a drained table stay index-driven once a backlog of 1,500 arrives: 30 claims, their acks and an extend scan the table 0 times', async (t) => {
    if (!server) return t.skip(skip);
    // Generic plans are made at a statement's first run and again whenever the table's
    // statistics change: autovacuum analyzes a drained queue, and a consumer plans then.
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    pool.on('error', () => undefined);
    preferGenericPlans(pool);
    const table = `ep_${randomBytes(4).toString('hex')}`;
    let consumer: Awaited<ReturnType<typeof openPostgresQueue>> | undefined;
    let producer: Awaited<ReturnType<typeof openPostgresQueue>> | undefined;
    try {
      consumer = await openPostgresQueue({ pool, name: 'empty-first', table });
      await consumer.sendBatch(['a', 'b']);
      for (const message of await consumer.receive({ maxMessages: 2 })) assert.equal(await consumer.ack(message), true);
      // As autovacuum does once the queue drained: the statistics now say the table is empty.
      await pool.query(`ANALYZE ${table}`);
      assert.deepEqual(await consumer.receive({ waitMs: 0 }), []);
      // Every receipt statement planned on the empty table too (a receipt nobody holds changes nothing).
      assert.equal(await consumer.extendLease('no-such-id:no-such-token', 1000), false);
      assert.equal(await consumer.ack('no-such-id:no-such-token'), false);
      producer = await openPostgresQueue({ connectionString: server.url, name: 'empty-first', table, poolSize: 1 });
      for (let i = 0; i < 15; i += 1) await producer.sendBatch(Array.from({ length: 100 }, (_, k) => `m${i * 100 + k}`));
      const seqScans = async (): Promise<number> => {
        await pool.query('SELECT pg_stat_force_next_flush()');
        const row = await pool.query<{ seq_scan: string }>('SELECT seq_scan FROM pg_stat_user_tables WHERE relname = $1', [table]);
        return Number(row.rows[0]?.seq_scan);
      };
      const before = await seqScans();
      for (let i = 0; i < 30; i += 1) {
        // Even: the ack rides on the next claim; odd: a short lease, so it goes through the ack statement.
        const [message] = await consumer.receive({ leaseMs: i % 2 === 0 ? 60_000 : 1999 });
        assert.ok(message, 'the backlog never runs dry');
        if (i === 0) assert.equal(await consumer.extendLease(message, 60_000), true);
        assert.equal(await consumer.ack(message), true);
      }
      assert.equal((await seqScans()) - before, 0, 'no claim, ack or extend read the whole table');
      // (stats() counts with a scan of the table, so it comes after.)
      assert.equal((await consumer.stats()).depth, 1470, 'every ack reached the database');
    } finally {
      await producer?.close();
      await consumer?.close();
      await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
      await pool.end();
    }
  });

  it('a message that became visible behind the claim hint (a send committed long after its timestamp) is still delivered while the hinted claims find others', async (t) => {
    if (!server) return t.skip(skip);
    const name = `hint-${randomBytes(4).toString('hex')}`;
    const queue = await openPostgresQueue({ connectionString: server.url, name, poolSize: 1 });
    const raw = new pg.Client({ connectionString: server.url });
    await raw.connect();
    t.after(async () => {
      await queue.close();
      await raw.end();
    });
    await queue.sendBatch(['b', 'c']);
    const [b] = await queue.receive({ waitMs: 0, leaseMs: 60_000 });
    assert.equal(b?.body, 'b');
    // A send stamped 10 s before b's that commits only now, as a stalled producer's would: behind this handle's hint.
    await raw.query(`INSERT INTO synkti_queue_messages (id, queue, body, sent_at, visible_at) VALUES ($1, $2, $3, $4, $4)`, [
      `late-${randomBytes(4).toString('hex')}`,
      name,
      Buffer.from('late'),
      b!.sentAt - 10_000,
    ]);
    assert.equal(await queue.ack(b!), true);
    const got: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const [message] = await queue.receive({ waitMs: 0, leaseMs: 60_000 });
      assert.ok(message, `receive ${i + 1} of 2 found a message (got so far: ${got.join(', ')})`);
      got.push(message.body);
      assert.equal(await queue.ack(message), true);
    }
    assert.deepEqual(got.sort(), ['c', 'late']);
    assert.equal((await queue.stats()).depth, 0);
  });

  it('refuses an unknown acks mode, naming the option', async (t) => {
    if (!server) return t.skip(skip);
    await assert.rejects(
      openPostgresQueue({ connectionString: server.url, name: 'x', acks: 'lazy' as 'durable' }),
      (error: Error & { code?: string }) => error.code === 'E_QUEUE_OPTION' && /acks/.test(error.message),
    );
  });
});
