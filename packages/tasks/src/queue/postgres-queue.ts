/**
 * The PostgreSQL queue backend, for self-hosted fleets that already run a database.
 *
 * One table holds every queue's messages (the dead-letter queue is the rows with
 * `dead_at` set). Consumers claim with one prepared statement, an UPDATE around a
 * `SELECT ... FOR UPDATE SKIP LOCKED`, so any number of them, on any number of machines,
 * never lease the same message and never wait on each other's locks. Times come from the
 * database clock (`clock_timestamp()`), so machines with skewed clocks agree on when a
 * lease ends. Sends `NOTIFY` the queue's channel, which wakes long polls at once; a slow
 * poll covers a lost notification. Acks are coalesced per handle and, by default,
 * deferred into the next claim's statement (see `PostgresQueueOptions.acks`), so a
 * consumer taking one message at a time costs one round trip per message.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { SynktiError } from '@synkti/core';
import {
  EARLIER_ERROR,
  LEASE_EXPIRED_PREFIX,
  LEASE_EXPIRED_SUFFIX,
  MAX_ERROR_CHARS,
  RELEASED_WITHOUT_ERROR,
  type DriverDeadLetter,
  type DriverMessage,
  type DriverReceive,
  type DriverSendEntry,
  type QueueDriver,
} from './driver.ts';
import { Doorbell, longPoll } from './long-poll.ts';
import { createQueue, resolveQueueOptions, type ResolvedQueueOptions } from './queue.ts';
import type { Queue, QueueOptions, QueueStats } from './types.ts';

export interface PostgresQueueOptions extends QueueOptions {
  /** A pool to use (not ended by `close()`); or give `connectionString`. */
  pool?: pg.Pool | undefined;
  /** `postgres://user:password@host:port/db`; a pool of `poolSize` connections is made and ended by `close()`. */
  connectionString?: string | undefined;
  /**
   * Connections in the pool made from `connectionString`.
   * @default 4
   */
  poolSize?: number | undefined;
  /**
   * Table holding the messages (created on first use).
   * @default "synkti_queue_messages"
   */
  table?: string | undefined;
  /**
   * How often a long poll looks again when no notification came (a notification wakes it at once).
   * @default 1000
   */
  pollIntervalMs?: number | undefined;
  /**
   * When an ack reaches the database.
   * - `"deferred"`: when the lease still has at least 2 s to run, ack() resolves at once
   *   and its DELETE goes with this handle's next receive (the same statement as the
   *   claim) or within 5 ms, whichever comes first. Other handles may see the message in
   *   flight for those milliseconds; every call on this handle sees it gone. If the process
   *   dies (or the database is unreachable until the lease ends) in between, the message is
   *   delivered again, exactly as if the ack had never been sent: at-least-once holds,
   *   the ack was only not durable yet. A lease closer to its end is acked as with "durable".
   * - `"durable"`: ack() resolves only after its DELETE committed (acks of one process are
   *   still coalesced into one DELETE while one is on its way).
   * @default "deferred"
   */
  acks?: 'deferred' | 'durable' | undefined;
}

/** A deferred ack needs this much lease left, so its DELETE surely lands before the lease ends. */
const DEFERRED_ACK_MIN_LEASE_MS = 2000;
/** A deferred ack waits at most this long for a receive to carry it. */
const DEFERRED_ACK_FLUSH_MS = 5;
/** A deferred ack whose DELETE failed is tried again after this long (while its lease lasts). */
const DEFERRED_ACK_RETRY_MS = 250;
/** Leases remembered per handle for deferred acks; past this, acks are durable until some end. */
const MAX_TRACKED_LEASES = 10_000;

const DEFAULT_TABLE = 'synkti_queue_messages';
const DEFAULT_POLL_INTERVAL_MS = 1000;
const CHANNEL = 'synkti_queue';
const TABLE_NAME = /^[a-z_][a-z0-9_]{0,50}$/;
/** The database's clock, in epoch milliseconds. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

function parseReceipt(receipt: string): { id: string; token: string } | undefined {
  const colon = receipt.indexOf(':');
  if (colon <= 0 || colon === receipt.length - 1) return undefined;
  return { id: receipt.slice(0, colon), token: receipt.slice(colon + 1) };
}

interface Row {
  seq: string;
  id: string;
  /** UTF-8 bytes: PostgreSQL's text type cannot hold a NUL character. */
  body: Buffer;
  ref: string | null;
  sent_at: string;
  receive_count: number;
  lease_token: string;
  last_error: string | null;
  dead_at: string | null;
}

interface PendingAck {
  id: string;
  token: string;
  /** Absent for a deferred ack (already resolved). */
  resolve?: (result: { ok: boolean; ref?: string | undefined }) => void;
  reject?: (error: unknown) => void;
  /** Local-clock end of the lease (a deferred ack past it is dropped: the message comes back). */
  expiresAt: number;
}

/**
 * A claim after a successful one looks from this long before the oldest send it leased
 * (see claim): a send that committed later than its timestamp by less than this is still found.
 */
const CLAIM_HINT_MARGIN_MS = 250;
/** And at least this often a claim looks through the whole queue, so nothing stays behind the hint for longer. */
const FULL_CLAIM_EVERY_MS = 1000;
/** `visible_at >= FROM_THE_START` holds for every row. */
const FROM_THE_START = Number.MIN_SAFE_INTEGER;

/** Exhausted rows one dead-letter sweep moves (see sweepExhausted). */
const SWEEP_CHUNK = 100;
/** Passes of a full sweep: 100,000 rows, then the next call goes on. */
const MAX_SWEEP_PASSES = 1000;

/** Most receipts one coalesced DELETE carries. */
const MAX_ACK_BATCH = 100;

class PostgresQueueDriver implements QueueDriver {
  /** 100 rows × 4 parameters in one INSERT, far below PostgreSQL's 65,535 parameters. */
  readonly maxSendEntries = 100;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly table: string;
  private readonly queue: string;
  private readonly maxReceives: number;
  private readonly pollIntervalMs: number;
  private readonly doorbell = new Doorbell();
  private readonly channelPayload: string;
  private listener: pg.PoolClient | undefined;
  private dropListener: ((destroy: boolean) => void) | undefined;
  private listening: Promise<void> | undefined;
  private closed = false;
  private readonly acks: PendingAck[] = [];
  /** Acks already resolved, waiting for a receive or the flush timer to carry them. */
  private deferred: PendingAck[] = [];
  private deferTimer: NodeJS.Timeout | undefined;
  /** Leases this handle handed out: receipt → local end of the lease, payload ref. */
  private readonly leases = new Map<string, { expiresAt: number; ref: string | undefined }>();
  private readonly ackMode: 'deferred' | 'durable';
  private ackFlushing = false;
  private ackScheduled = false;
  private ackFlush: Promise<void> = Promise.resolve();
  /** Where this handle's next claim starts looking (database epoch ms of visible_at), after a claim that found messages. */
  private claimFrom: number | undefined;
  /** Local time of this handle's last claim that looked through the whole queue. */
  private fullClaimAt = 0;

  constructor(
    pool: pg.Pool,
    ownsPool: boolean,
    table: string,
    options: ResolvedQueueOptions,
    pollIntervalMs: number,
    ackMode: 'deferred' | 'durable',
  ) {
    this.ackMode = ackMode;
    this.pool = pool;
    this.ownsPool = ownsPool;
    this.table = table;
    this.queue = options.name;
    this.maxReceives = options.maxReceives;
    this.pollIntervalMs = pollIntervalMs;
    this.channelPayload = `${table}:${options.name}`;
  }

  async initialise(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // CREATE ... IF NOT EXISTS races between first openers; one lock serialises them.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`synkti-queue-schema:${this.table}`]);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
        seq BIGSERIAL PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        queue TEXT NOT NULL,
        body BYTEA NOT NULL,
        ref TEXT,
        sent_at BIGINT NOT NULL,
        visible_at BIGINT NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        leased BOOLEAN NOT NULL DEFAULT false,
        lease_token TEXT,
        last_error TEXT,
        dead_at BIGINT
      )`);
      // The claim's order (visible_at, seq) straight from the index: no sort of the whole backlog per claim.
      await client.query(`CREATE INDEX IF NOT EXISTS ${this.table}_claim ON ${this.table} (queue, visible_at, seq) WHERE dead_at IS NULL`);
      await client.query(`DROP INDEX IF EXISTS ${this.table}_ready`);
      await client.query(`CREATE INDEX IF NOT EXISTS ${this.table}_dead ON ${this.table} (queue, dead_at) WHERE dead_at IS NOT NULL`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async send(entries: DriverSendEntry[]): Promise<string[]> {
    const ids = entries.map(() => randomUUID());
    // One statement for any batch size (arrays, not a VALUES list per size): the rows, in
    // order (seq follows the ordinality), and the notification commit together.
    await this.pool.query({
      name: this.statementName('send'),
      text: `WITH inserted AS (
        INSERT INTO ${this.table} (id, queue, body, ref, sent_at, visible_at)
        SELECT e.id, $1, e.body, e.ref, ${NOW_MS}, ${NOW_MS} + e.delay
        FROM unnest($2::text[], $3::bytea[], $4::text[], $5::bigint[]) WITH ORDINALITY AS e(id, body, ref, delay, n)
        ORDER BY e.n
        RETURNING seq
      ) SELECT pg_notify($6, $7) FROM (SELECT count(*) FROM inserted) AS c`,
      values: [
        this.queue,
        ids,
        entries.map((e) => Buffer.from(e.body, 'utf8')),
        entries.map((e) => e.ref ?? null),
        entries.map((e) => e.delayMs),
        CHANNEL,
        this.channelPayload,
      ],
    });
    return ids;
  }

  async receive(request: DriverReceive): Promise<DriverMessage[]> {
    if (request.waitMs > 0) await this.listen();
    return longPoll({
      claim: () => this.claim(request.maxMessages, request.leaseMs),
      waitMs: request.waitMs,
      pollIntervalMs: this.pollIntervalMs,
      doorbell: this.doorbell,
      key: 'send',
      signal: request.signal,
    });
  }

  /** One connection per handle LISTENs for sends; opened on the first long poll. */
  private listen(): Promise<void> {
    if (this.listening) return this.listening;
    this.listening = (async () => {
      const client = await this.pool.connect();
      let released = false;
      const onError = (): void => {
        // The connection broke: drop it; the next long poll listens again, and polling covers the gap.
        if (!released) this.listening = undefined;
        drop(true);
      };
      const drop = (destroy: boolean): void => {
        if (released) return;
        released = true;
        client.removeAllListeners('notification');
        client.off('error', onError);
        if (this.listener === client) this.listener = undefined;
        client.release(destroy);
      };
      client.on('notification', (message) => {
        if (message.channel === CHANNEL && message.payload === this.channelPayload) this.doorbell.ring('send');
      });
      client.on('error', onError);
      try {
        await client.query(`LISTEN ${CHANNEL}`);
      } catch (error) {
        drop(true);
        throw error;
      }
      if (this.closed) {
        drop(true);
        return;
      }
      this.listener = client;
      this.dropListener = drop;
    })().catch((error: unknown) => {
      this.listening = undefined;
      throw error;
    });
    return this.listening;
  }

  /**
   * Moves exhausted rows to the dead-letter queue, SWEEP_CHUNK at a time; `all` repeats until
   * a pass moves fewer (stats and deadLetters count them), a claim's pass does one chunk.
   * The chunk's ORDER BY ... LIMIT keeps the pass on the claim index under a generic plan,
   * which cannot tell how many rows match `queue = $1` and scanned the whole table without it.
   */
  private async sweepExhausted(all = false): Promise<void> {
    for (let pass = 0; pass < MAX_SWEEP_PASSES; pass += 1) {
      const result = await this.pool.query(
        `UPDATE ${this.table} SET dead_at = ${NOW_MS}, leased = false, lease_token = NULL,
          last_error = CASE WHEN leased THEN left($3::text || receive_count::text || $4::text || COALESCE($5::text || last_error, ''), ${MAX_ERROR_CHARS})
            ELSE COALESCE(last_error, $6::text) END
        WHERE seq = ANY(ARRAY(SELECT seq FROM ${this.table} WHERE queue = $1 AND dead_at IS NULL AND visible_at <= (SELECT ${NOW_MS})
          AND receive_count >= $2 ORDER BY visible_at, seq LIMIT ${SWEEP_CHUNK} FOR UPDATE SKIP LOCKED))`,
        [this.queue, this.maxReceives, LEASE_EXPIRED_PREFIX, LEASE_EXPIRED_SUFFIX, EARLIER_ERROR, RELEASED_WITHOUT_ERROR],
      );
      if (!all || (result.rowCount ?? 0) < SWEEP_CHUNK) return;
    }
  }

  /**
   * One statement leases up to `maxMessages`: the subquery picks visible rows with
   * `FOR UPDATE SKIP LOCKED` and the UPDATE around it leases them, so a claim is one round
   * trip, prepared once per connection. Exhausted rows (receive_count >= maxReceives) are
   * never picked; they are moved to the dead-letter queue only when a claim finds nothing
   * (and by stats/deadLetters), which keeps that sweep off the busy path. The clock is read
   * once, in an InitPlan (`(SELECT now)`): clock_timestamp() is volatile, and written inline
   * it could not bound the index scan, so every claim read and sorted the whole backlog.
   *
   * Every part must stay index-driven under a cached generic plan (PostgreSQL switches a
   * prepared statement to one after five runs when it looks no dearer): the claimed rows
   * come as an array (`seq = ANY(ARRAY(...))`, found through the primary key), and the
   * carried acks match by `id = ANY(...)`, found through the id index, with the receipt
   * compared whole. The former `seq IN (subquery)` and `USING unnest(...)` join were
   * planned generically as a hash join over a sequential scan of the whole table, so under
   * a generic plan every claim read the whole backlog (EXPLAIN ANALYZE of the generic plan
   * on 3,000 rows: 0.72 -> 0.24 ms; it grows with the backlog, this one does not).
   * The statements that match a receipt (the carried acks, ack, extend) do not test
   * `dead_at IS NULL`: every statement that dead-letters a row also clears `leased` and
   * `lease_token`, so a row matching a receipt and `leased` is never dead, and that test
   * let a generic plan AND in a bitmap scan of the whole partial claim index (1.1 ms per
   * claim at a 20,000-message backlog, growing with it).
   *
   * A claim starts its index scan at a hint, 250 ms before the oldest send the previous
   * claim of this handle leased, not at the start of the index: an acked message leaves
   * its entries there until VACUUM (autovacuum comes at most once a minute), and every
   * claim stepped over all of them, so a claim's cost grew with the messages acked since
   * the last VACUUM (EXPLAIN: 3 buffers for a fresh table, 42 after 8,000 claims; 0.1 ->
   * 0.49 ms). Rows come back from leases and delayed releases with a visible_at later
   * than the sends claimed before them, so they are never behind the hint; a row can sit
   * behind it only if its send committed more than 250 ms after its timestamp, or a claim
   * that had it locked failed. A claim that finds fewer messages than asked past the hint
   * looks through the whole queue at once, and at least once a second every claim does,
   * so such a row waits at most about a second longer.
   *
   * The claim commits without waiting for its WAL flush (`synchronous_commit` off for this
   * transaction only, `relaxed`): a claim lost in a database crash only means the message
   * was never leased, so it is delivered again, and the acks it carried were deferred ones,
   * whose messages come back too (at-least-once holds; see `acks`). Sends and durable acks
   * still wait for their flush, and a later flushed commit covers this one's records.
   */
  private async claim(maxMessages: number, leaseMs: number): Promise<{ items: DriverMessage[]; nextVisibleAt?: number }> {
    const started = Date.now();
    // Deferred acks ride along: one round trip deletes them and leases the next messages.
    const carried = this.takeDeferred(started);
    const hinted = this.claimFrom !== undefined && started - this.fullClaimAt < FULL_CLAIM_EVERY_MS;
    let rows = await this.runClaim(maxMessages, leaseMs, carried, hinted ? this.claimFrom! : FROM_THE_START);
    if (hinted && rows.length < maxMessages) {
      // Fewer than asked past the hint: look through the whole queue before answering with less.
      rows = rows.concat(await this.runClaim(maxMessages - rows.length, leaseMs, [], FROM_THE_START));
    }
    if (!hinted || rows.length < maxMessages) this.fullClaimAt = started;
    if (rows.length === 0) {
      this.claimFrom = undefined;
      await this.sweepExhausted();
      const next = await this.pool.query<{ wait: string | null }>({
        name: this.statementName('next'),
        text: `SELECT MIN(visible_at) - ${NOW_MS} AS wait FROM ${this.table} WHERE queue = $1 AND dead_at IS NULL`,
        values: [this.queue],
      });
      const wait = next.rows[0]?.wait;
      return { items: [], nextVisibleAt: wait === null || wait === undefined ? undefined : Date.now() + Number(wait) };
    }
    // sent_at <= visible_at for every claimable row (sends, releases, expired leases and redrives all set it to now or later).
    this.claimFrom = Math.min(...rows.map((row) => Number(row.sent_at))) - CLAIM_HINT_MARGIN_MS;
    // FIFO within a batch (the UPDATE returns rows in no set order).
    rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    const leaseExpiresAt = started + leaseMs;
    if (this.ackMode === 'deferred') this.pruneLeases(started);
    const items = rows.map((row) => {
      const receipt = `${row.id}:${row.lease_token}`;
      if (this.ackMode === 'deferred' && this.leases.size < MAX_TRACKED_LEASES)
        this.leases.set(receipt, { expiresAt: leaseExpiresAt, ref: row.ref ?? undefined });
      return {
        id: row.id,
        body: row.body.toString('utf8'),
        ref: row.ref ?? undefined,
        receipt,
        receiveCount: row.receive_count,
        sentAt: Number(row.sent_at),
        leaseExpiresAt,
      };
    });
    return { items };
  }

  /** The claim statement: deletes the carried acks and leases up to `maxMessages` visible rows from `visible_at >= from` on. */
  private async runClaim(maxMessages: number, leaseMs: number, carried: PendingAck[], from: number): Promise<Row[]> {
    let result: pg.QueryResult<Row>;
    try {
      result = await this.pool.query<Row>({
        name: this.statementName('claim'),
        text: `WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
        acked AS (
          DELETE FROM ${this.table} AS d WHERE d.id = ANY($5::text[]) AND d.id || ':' || d.lease_token = ANY($6::text[])
            AND d.leased RETURNING d.seq
        )
        UPDATE ${this.table} AS m SET receive_count = m.receive_count + 1, leased = true, lease_token = gen_random_uuid()::text,
          visible_at = ${NOW_MS} + $4::bigint
        WHERE m.seq = ANY(ARRAY(
          SELECT seq FROM ${this.table} WHERE queue = $1 AND dead_at IS NULL AND visible_at >= $7::bigint AND visible_at <= (SELECT ${NOW_MS})
            AND receive_count < $2
          ORDER BY visible_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED
        )) AND (SELECT v FROM relaxed) IS NOT NULL
        RETURNING m.seq, m.id, m.body, m.ref, m.sent_at, m.receive_count, m.lease_token`,
        values: [
          this.queue,
          this.maxReceives,
          maxMessages,
          leaseMs,
          carried.map((a) => a.id),
          carried.map((a) => `${a.id}:${a.token}`),
          from,
        ],
      });
    } catch (error) {
      // Nothing of the statement happened: the acks wait for the next carrier.
      this.deferred.unshift(...carried);
      if (carried.length > 0) this.scheduleDeferred(DEFERRED_ACK_RETRY_MS);
      throw error;
    }
    return result.rows;
  }

  /** Deferred acks whose lease has not ended (the others are dropped: their messages come back, as they must). */
  private takeDeferred(now: number): PendingAck[] {
    const carried = this.deferred.filter((a) => a.expiresAt > now);
    this.deferred = [];
    // Nothing left for the flush timer: no wake-up for nothing (a busy consumer acks every few ms).
    if (this.deferTimer) {
      clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    return carried;
  }

  private scheduleDeferred(delayMs = DEFERRED_ACK_FLUSH_MS): void {
    if (this.deferTimer) return;
    // Not unref'd: an ack the caller was told about must reach the database.
    this.deferTimer = setTimeout(() => {
      this.deferTimer = undefined;
      void this.flushDeferred().catch(() => undefined);
    }, delayMs);
  }

  /** Sends the deferred acks now (every call but a claim starts with this, so this handle never sees an acked message). */
  private async flushDeferred(): Promise<void> {
    if (this.deferTimer) {
      clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    if (this.deferred.length > 0) {
      this.acks.push(...this.takeDeferred(Date.now()));
      await this.flushAcks();
    } else if (this.ackFlushing) {
      await this.ackFlush;
    }
  }

  private pruneLeases(now: number): void {
    if (this.leases.size < MAX_TRACKED_LEASES / 2) return;
    for (const [receipt, lease] of this.leases) if (lease.expiresAt <= now) this.leases.delete(receipt);
  }

  /**
   * A prepared statement's name: one per statement text, and the text names the table.
   * PostgreSQL keeps names up to 63 bytes; the table name is at most 51.
   */
  private statementName(what: string): string {
    return `sq_${what}_${this.table}`;
  }

  async extend(receipt: string, leaseMs: number): Promise<boolean> {
    await this.flushDeferred();
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    const started = Date.now();
    const result = await this.pool.query({
      name: this.statementName('extend'),
      text: `UPDATE ${this.table} SET visible_at = ${NOW_MS} + $3::bigint
      WHERE id = $1 AND lease_token = $2 AND leased`,
      values: [lease.id, lease.token, leaseMs],
    });
    const extended = (result.rowCount ?? 0) > 0;
    const known = this.leases.get(receipt);
    if (known) {
      if (extended) known.expiresAt = started + leaseMs;
      else this.leases.delete(receipt);
    }
    return extended;
  }

  /**
   * Acks are coalesced: the acks asked for while one DELETE is on its way go together in the
   * next one (and those of one event-loop turn in the first), so N acks from one process
   * cost about one round trip, not N. With `acks: "deferred"` (the default) an ack whose
   * lease has 2 s or more left resolves at once and is carried by the next claim (see
   * PostgresQueueOptions.acks); otherwise ack() resolves after its DELETE committed.
   */
  ack(receipt: string): Promise<{ ok: boolean; ref?: string | undefined }> {
    const lease = parseReceipt(receipt);
    if (!lease) return Promise.resolve({ ok: false });
    const now = Date.now();
    const known = this.leases.get(receipt);
    this.leases.delete(receipt);
    if (known && known.expiresAt - now >= DEFERRED_ACK_MIN_LEASE_MS) {
      // This handle leased it, nothing here released it, and nobody else can lease it before
      // the lease ends: the DELETE, sent within milliseconds, will find it.
      this.deferred.push({ id: lease.id, token: lease.token, expiresAt: known.expiresAt });
      this.scheduleDeferred();
      return Promise.resolve({ ok: true, ref: known.ref });
    }
    return new Promise((resolve, reject) => {
      // Deferred acks go first, in the same DELETE: a receipt acked twice is then refused the second time.
      this.acks.push(...this.takeDeferred(now));
      this.acks.push({ id: lease.id, token: lease.token, resolve, reject, expiresAt: known?.expiresAt ?? now });
      if (!this.ackFlushing && !this.ackScheduled) {
        this.ackScheduled = true;
        setImmediate(() => {
          this.ackScheduled = false;
          void this.flushAcks();
        });
      }
    });
  }

  private flushAcks(): Promise<void> {
    if (!this.ackFlushing) this.ackFlush = this.drainAcks();
    return this.ackFlush;
  }

  private async drainAcks(): Promise<void> {
    this.ackFlushing = true;
    try {
      while (this.acks.length > 0) {
        const batch = this.acks.splice(0, MAX_ACK_BATCH);
        try {
          // Matched through the id index, never a join on unnest (see claim: a generic plan scanned the table).
          const result = await this.pool.query<{ id: string; lease_token: string; ref: string | null }>({
            name: this.statementName('ack'),
            text: `DELETE FROM ${this.table} AS m WHERE m.id = ANY($1::text[]) AND m.id || ':' || m.lease_token = ANY($2::text[])
              AND m.leased RETURNING m.id, m.lease_token, m.ref`,
            values: [batch.map((a) => a.id), batch.map((a) => `${a.id}:${a.token}`)],
          });
          const deleted = new Map(result.rows.map((row) => [`${row.id}:${row.lease_token}`, row.ref]));
          for (const a of batch) {
            const key = `${a.id}:${a.token}`;
            if (deleted.has(key)) {
              const ref = deleted.get(key);
              // The same receipt twice in one batch: only the first ack deleted it.
              deleted.delete(key);
              a.resolve?.({ ok: true, ref: ref ?? undefined });
            } else {
              a.resolve?.({ ok: false });
            }
          }
        } catch (error) {
          for (const a of batch) a.reject?.(error);
          // Deferred acks were already answered: retry them while their lease lasts.
          const retry = batch.filter((a) => !a.resolve);
          if (retry.length > 0) {
            this.deferred.unshift(...retry);
            this.scheduleDeferred(DEFERRED_ACK_RETRY_MS);
          }
        }
      }
    } finally {
      this.ackFlushing = false;
    }
  }

  async release(receipt: string, error: string | undefined, delayMs: number): Promise<boolean> {
    await this.flushDeferred();
    this.leases.delete(receipt);
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    const result = await this.pool.query<{ dead_at: string | null }>(
      `UPDATE ${this.table} SET
        dead_at = CASE WHEN receive_count >= $3 THEN ${NOW_MS} END,
        last_error = CASE WHEN receive_count >= $3 THEN COALESCE($4, last_error, $6) ELSE COALESCE($4, last_error) END,
        visible_at = CASE WHEN receive_count >= $3 THEN visible_at ELSE ${NOW_MS} + $5::bigint END,
        leased = false, lease_token = NULL
      WHERE id = $1 AND lease_token = $2 AND leased AND dead_at IS NULL RETURNING dead_at`,
      [lease.id, lease.token, this.maxReceives, error ?? null, delayMs, RELEASED_WITHOUT_ERROR],
    );
    const row = result.rows[0];
    if (row && row.dead_at === null) await this.notify();
    return row !== undefined;
  }

  async deadLetter(receipt: string, error: string): Promise<boolean> {
    await this.flushDeferred();
    this.leases.delete(receipt);
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    const result = await this.pool.query(
      `UPDATE ${this.table} SET dead_at = ${NOW_MS}, last_error = $3, leased = false, lease_token = NULL
      WHERE id = $1 AND lease_token = $2 AND leased AND dead_at IS NULL`,
      [lease.id, lease.token, error],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async deadLetters(limit: number): Promise<DriverDeadLetter[]> {
    await this.flushDeferred();
    await this.sweepExhausted(true);
    const result = await this.pool.query<Row>(
      `SELECT id, body, ref, sent_at, receive_count, last_error, dead_at FROM ${this.table}
      WHERE queue = $1 AND dead_at IS NOT NULL ORDER BY dead_at, seq LIMIT $2`,
      [this.queue, limit],
    );
    return result.rows.map((row) => ({
      id: row.id,
      body: row.body.toString('utf8'),
      ref: row.ref ?? undefined,
      receiveCount: row.receive_count,
      lastError: row.last_error ?? '',
      deadLetteredAt: Number(row.dead_at),
      sentAt: Number(row.sent_at),
    }));
  }

  async redrive(ids: string[] | undefined): Promise<number> {
    await this.flushDeferred();
    if (ids && ids.length === 0) return 0;
    const result = await this.pool.query(
      `UPDATE ${this.table} SET dead_at = NULL, receive_count = 0, leased = false, lease_token = NULL,
      last_error = NULL, visible_at = ${NOW_MS} WHERE queue = $1 AND dead_at IS NOT NULL${ids ? ' AND id = ANY($2::text[])' : ''}`,
      ids ? [this.queue, ids] : [this.queue],
    );
    const moved = result.rowCount ?? 0;
    if (moved > 0) await this.notify();
    return moved;
  }

  async purgeDeadLetters(ids: string[] | undefined): Promise<{ count: number; refs: string[] }> {
    await this.flushDeferred();
    if (ids && ids.length === 0) return { count: 0, refs: [] };
    const result = await this.pool.query<{ ref: string | null }>(
      `DELETE FROM ${this.table}
      WHERE queue = $1 AND dead_at IS NOT NULL${ids ? ' AND id = ANY($2::text[])' : ''} RETURNING ref`,
      ids ? [this.queue, ids] : [this.queue],
    );
    return { count: result.rows.length, refs: result.rows.flatMap((r) => (r.ref ? [r.ref] : [])) };
  }

  async stats(): Promise<QueueStats> {
    await this.flushDeferred();
    await this.sweepExhausted(true);
    const result = await this.pool.query<Record<string, string>>(
      `SELECT
        count(*) FILTER (WHERE dead_at IS NULL AND visible_at <= now_ms) AS depth,
        count(*) FILTER (WHERE dead_at IS NULL AND visible_at > now_ms AND leased) AS in_flight,
        count(*) FILTER (WHERE dead_at IS NULL AND visible_at > now_ms AND NOT leased) AS delayed,
        count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead_lettered
      FROM ${this.table}, (SELECT ${NOW_MS} AS now_ms) AS t WHERE queue = $1`,
      [this.queue],
    );
    const row = result.rows[0] ?? {};
    return {
      depth: Number(row.depth ?? 0),
      inFlight: Number(row.in_flight ?? 0),
      delayed: Number(row.delayed ?? 0),
      deadLettered: Number(row.dead_lettered ?? 0),
    };
  }

  private async notify(): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, this.channelPayload]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.doorbell.ring('send');
    // Acks asked for before close() still reach the database.
    await this.flushDeferred().catch(() => undefined);
    if (this.acks.length > 0) await this.flushAcks();
    await this.ackFlush;
    await this.listening?.catch(() => undefined);
    if (this.listener) {
      await this.listener.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
      this.dropListener?.(false);
    }
    if (this.ownsPool) await this.pool.end();
  }
}

/**
 * Makes every session the pool opens from now on plan the queue's prepared statements once
 * (`plan_cache_mode = force_generic_plan`), not once per execution. PostgreSQL's default
 * re-plans a parameterized statement with its values each time until a generic plan looks
 * no dearer, and for the claim it never does (`pg_prepared_statements.generic_plans` stayed 0):
 * planning was most of a claim's database CPU. Every statement of the queue is written to
 * stay index-driven under a generic plan (postgres-queue.test checks the table's seq_scan).
 *
 * The sessions also run with `enable_seqscan = off`. A generic plan is made from the
 * table's statistics at the statement's first run on a connection and again whenever they
 * change, and autovacuum analyzes a queue when it has drained: planned for an empty table,
 * the claim's UPDATE found its rows with a sequential scan, and kept reading the whole
 * table, dead rows included, after the backlog grew (4 consumer processes, a 6,000-message
 * backlog: 2 sequential scans per claim, 800-970 µs of server CPU per message; with the
 * setting none, 270 µs). Every statement has an index to use, so the setting only removes
 * the plans that get worse as the table grows; stats() still counts with a scan of the
 * table, the only plan it has.
 *
 * Applied to the pools the queue makes from `connectionString`; call it on your own pool
 * before its first connection if the queue is all that pool runs. The SET is queued on the
 * new client before the pool hands it out, so it precedes that client's first statement;
 * a server without the setting (before PostgreSQL 12) keeps its default plans.
 */
export function preferGenericPlans(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    // Two queries: a server without plan_cache_mode (before 12) still takes enable_seqscan.
    client.query('SET plan_cache_mode = force_generic_plan').catch(() => undefined);
    client.query('SET enable_seqscan = off').catch(() => undefined);
  });
}

/** Opens a queue in a PostgreSQL database (creating its table on first use). */
export async function openPostgresQueue(options: PostgresQueueOptions): Promise<Queue> {
  const resolved = resolveQueueOptions(options);
  const table = options.table ?? DEFAULT_TABLE;
  if (!TABLE_NAME.test(table)) {
    throw new SynktiError('E_QUEUE_OPTION', `table: ${JSON.stringify(table)} is not a plain lowercase SQL name`, {
      hint: `use letters, digits and "_", e.g. "${DEFAULT_TABLE}"`,
    });
  }
  if (!options.pool && !options.connectionString) {
    throw new SynktiError('E_QUEUE_OPTION', 'a PostgreSQL queue needs pool or connectionString', {
      hint: 'pass connectionString: "postgres://user:password@host:5432/db"',
    });
  }
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 1) {
    throw new SynktiError('E_QUEUE_OPTION', `pollIntervalMs: ${pollIntervalMs} must be a positive number of milliseconds`, {
      hint: 'omit it for 1000 ms',
    });
  }
  const pool = options.pool ?? new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 4 });
  if (!options.pool) {
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    // Only sessions the queue opened: a caller's pool runs the caller's statements too.
    preferGenericPlans(pool);
  }
  const acks = options.acks ?? 'deferred';
  if (acks !== 'deferred' && acks !== 'durable') {
    throw new SynktiError('E_QUEUE_OPTION', `acks: ${JSON.stringify(options.acks)} must be "deferred" or "durable"`, {
      hint: 'omit it for "deferred"',
    });
  }
  const driver = new PostgresQueueDriver(pool, !options.pool, table, resolved, pollIntervalMs, acks);
  try {
    await driver.initialise();
  } catch (cause) {
    await driver.close().catch(() => undefined);
    throw new SynktiError('E_QUEUE_OPEN', `cannot open PostgreSQL queue ${resolved.name}: ${(cause as Error).message}`, {
      cause,
      hint: 'check the connection string, that the server is up, and that the user may create tables',
    });
  }
  return createQueue(driver, resolved);
}
