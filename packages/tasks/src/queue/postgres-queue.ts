/**
 * The PostgreSQL queue backend, for self-hosted fleets that already run a database.
 *
 * One table holds every queue's messages (the dead-letter queue is the rows with
 * `dead_at` set). Consumers claim with `SELECT ... FOR UPDATE SKIP LOCKED`, so any number
 * of them, on any number of machines, never lease the same message and never wait on
 * each other's locks. Times come from the database clock (`clock_timestamp()`), so
 * machines with skewed clocks agree on when a lease ends. Sends `NOTIFY` the queue's
 * channel, which wakes long polls at once; a slow poll covers a lost notification.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { SynktiError } from '@synkti/core';
import {
  EARLIER_ERROR, LEASE_EXPIRED_PREFIX, LEASE_EXPIRED_SUFFIX, MAX_ERROR_CHARS, RELEASED_WITHOUT_ERROR, type DriverDeadLetter,
  type DriverMessage, type DriverReceive, type DriverSendEntry, type QueueDriver,
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
}

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

class PostgresQueueDriver implements QueueDriver {
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

  constructor(pool: pg.Pool, ownsPool: boolean, table: string, options: ResolvedQueueOptions, pollIntervalMs: number) {
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
      await client.query(`CREATE INDEX IF NOT EXISTS ${this.table}_ready ON ${this.table} (queue, visible_at) WHERE dead_at IS NULL`);
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
    const values: unknown[] = [this.queue];
    const rows = entries.map((entry, i) => {
      values.push(ids[i], Buffer.from(entry.body, 'utf8'), entry.ref ?? null, entry.delayMs);
      const p = 2 + i * 4;
      return `($${p}, $1, $${p + 1}, $${p + 2}, ${NOW_MS}, ${NOW_MS} + $${p + 3}::bigint)`;
    });
    values.push(CHANNEL, this.channelPayload);
    const n = values.length;
    // One statement: the rows and the notification commit together.
    await this.pool.query(`WITH inserted AS (
        INSERT INTO ${this.table} (id, queue, body, ref, sent_at, visible_at) VALUES ${rows.join(', ')} RETURNING seq
      ) SELECT pg_notify($${n - 1}, $${n}) FROM (SELECT count(*) FROM inserted) AS c`, values);
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

  private async sweepExhausted(): Promise<void> {
    await this.pool.query(`UPDATE ${this.table} SET dead_at = ${NOW_MS}, leased = false, lease_token = NULL,
        last_error = CASE WHEN leased THEN left($3::text || receive_count::text || $4::text || COALESCE($5::text || last_error, ''), ${MAX_ERROR_CHARS})
          ELSE COALESCE(last_error, $6::text) END
      WHERE seq IN (SELECT seq FROM ${this.table} WHERE queue = $1 AND dead_at IS NULL AND visible_at <= ${NOW_MS}
        AND receive_count >= $2 FOR UPDATE SKIP LOCKED)`,
    [this.queue, this.maxReceives, LEASE_EXPIRED_PREFIX, LEASE_EXPIRED_SUFFIX, EARLIER_ERROR, RELEASED_WITHOUT_ERROR]);
  }

  private async claim(maxMessages: number, leaseMs: number): Promise<{ items: DriverMessage[]; nextVisibleAt?: number }> {
    await this.sweepExhausted();
    const started = Date.now();
    const result = await this.pool.query<Row>(`WITH picked AS (
        SELECT seq FROM ${this.table} WHERE queue = $1 AND dead_at IS NULL AND visible_at <= ${NOW_MS} AND receive_count < $2
        ORDER BY visible_at, seq LIMIT $3 FOR UPDATE SKIP LOCKED
      ) UPDATE ${this.table} AS m SET receive_count = m.receive_count + 1, leased = true, lease_token = gen_random_uuid()::text,
        visible_at = ${NOW_MS} + $4::bigint
      FROM picked WHERE m.seq = picked.seq
      RETURNING m.seq, m.id, m.body, m.ref, m.sent_at, m.receive_count, m.lease_token`,
    [this.queue, this.maxReceives, maxMessages, leaseMs]);
    if (result.rows.length === 0) {
      const next = await this.pool.query<{ wait: string | null }>(
        `SELECT MIN(visible_at) - ${NOW_MS} AS wait FROM ${this.table} WHERE queue = $1 AND dead_at IS NULL`, [this.queue]);
      const wait = next.rows[0]?.wait;
      return { items: [], nextVisibleAt: wait === null || wait === undefined ? undefined : Date.now() + Number(wait) };
    }
    const items = result.rows.map((row) => ({
      id: row.id, body: row.body.toString('utf8'), ref: row.ref ?? undefined, receipt: `${row.id}:${row.lease_token}`,
      receiveCount: row.receive_count, sentAt: Number(row.sent_at), leaseExpiresAt: started + leaseMs,
    }));
    return { items };
  }

  async extend(receipt: string, leaseMs: number): Promise<boolean> {
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    const result = await this.pool.query(`UPDATE ${this.table} SET visible_at = ${NOW_MS} + $3::bigint
      WHERE id = $1 AND lease_token = $2 AND leased AND dead_at IS NULL`, [lease.id, lease.token, leaseMs]);
    return (result.rowCount ?? 0) > 0;
  }

  async ack(receipt: string): Promise<{ ok: boolean; ref?: string | undefined }> {
    const lease = parseReceipt(receipt);
    if (!lease) return { ok: false };
    const result = await this.pool.query<{ ref: string | null }>(`DELETE FROM ${this.table}
      WHERE id = $1 AND lease_token = $2 AND leased AND dead_at IS NULL RETURNING ref`, [lease.id, lease.token]);
    const row = result.rows[0];
    return row ? { ok: true, ref: row.ref ?? undefined } : { ok: false };
  }

  async release(receipt: string, error: string | undefined, delayMs: number): Promise<boolean> {
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    const result = await this.pool.query<{ dead_at: string | null }>(`UPDATE ${this.table} SET
        dead_at = CASE WHEN receive_count >= $3 THEN ${NOW_MS} END,
        last_error = CASE WHEN receive_count >= $3 THEN COALESCE($4, last_error, $6) ELSE COALESCE($4, last_error) END,
        visible_at = CASE WHEN receive_count >= $3 THEN visible_at ELSE ${NOW_MS} + $5::bigint END,
        leased = false, lease_token = NULL
      WHERE id = $1 AND lease_token = $2 AND leased AND dead_at IS NULL RETURNING dead_at`,
    [lease.id, lease.token, this.maxReceives, error ?? null, delayMs, RELEASED_WITHOUT_ERROR]);
    const row = result.rows[0];
    if (row && row.dead_at === null) await this.notify();
    return row !== undefined;
  }

  async deadLetter(receipt: string, error: string): Promise<boolean> {
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    const result = await this.pool.query(`UPDATE ${this.table} SET dead_at = ${NOW_MS}, last_error = $3, leased = false, lease_token = NULL
      WHERE id = $1 AND lease_token = $2 AND leased AND dead_at IS NULL`, [lease.id, lease.token, error]);
    return (result.rowCount ?? 0) > 0;
  }

  async deadLetters(limit: number): Promise<DriverDeadLetter[]> {
    await this.sweepExhausted();
    const result = await this.pool.query<Row>(`SELECT id, body, ref, sent_at, receive_count, last_error, dead_at FROM ${this.table}
      WHERE queue = $1 AND dead_at IS NOT NULL ORDER BY dead_at, seq LIMIT $2`, [this.queue, limit]);
    return result.rows.map((row) => ({
      id: row.id, body: row.body.toString('utf8'), ref: row.ref ?? undefined, receiveCount: row.receive_count, lastError: row.last_error ?? '',
      deadLetteredAt: Number(row.dead_at), sentAt: Number(row.sent_at),
    }));
  }

  async redrive(ids: string[] | undefined): Promise<number> {
    if (ids && ids.length === 0) return 0;
    const result = await this.pool.query(`UPDATE ${this.table} SET dead_at = NULL, receive_count = 0, leased = false, lease_token = NULL,
      last_error = NULL, visible_at = ${NOW_MS} WHERE queue = $1 AND dead_at IS NOT NULL${ids ? ' AND id = ANY($2::text[])' : ''}`,
    ids ? [this.queue, ids] : [this.queue]);
    const moved = result.rowCount ?? 0;
    if (moved > 0) await this.notify();
    return moved;
  }

  async purgeDeadLetters(ids: string[] | undefined): Promise<{ count: number; refs: string[] }> {
    if (ids && ids.length === 0) return { count: 0, refs: [] };
    const result = await this.pool.query<{ ref: string | null }>(`DELETE FROM ${this.table}
      WHERE queue = $1 AND dead_at IS NOT NULL${ids ? ' AND id = ANY($2::text[])' : ''} RETURNING ref`, ids ? [this.queue, ids] : [this.queue]);
    return { count: result.rows.length, refs: result.rows.flatMap((r) => (r.ref ? [r.ref] : [])) };
  }

  async stats(): Promise<QueueStats> {
    await this.sweepExhausted();
    const result = await this.pool.query<Record<string, string>>(`SELECT
        count(*) FILTER (WHERE dead_at IS NULL AND visible_at <= now_ms) AS depth,
        count(*) FILTER (WHERE dead_at IS NULL AND visible_at > now_ms AND leased) AS in_flight,
        count(*) FILTER (WHERE dead_at IS NULL AND visible_at > now_ms AND NOT leased) AS delayed,
        count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead_lettered
      FROM ${this.table}, (SELECT ${NOW_MS} AS now_ms) AS t WHERE queue = $1`, [this.queue]);
    const row = result.rows[0] ?? {};
    return {
      depth: Number(row.depth ?? 0), inFlight: Number(row.in_flight ?? 0),
      delayed: Number(row.delayed ?? 0), deadLettered: Number(row.dead_lettered ?? 0),
    };
  }

  private async notify(): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, this.channelPayload]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.doorbell.ring('send');
    await this.listening?.catch(() => undefined);
    if (this.listener) {
      await this.listener.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
      this.dropListener?.(false);
    }
    if (this.ownsPool) await this.pool.end();
  }
}

/** Opens a queue in a PostgreSQL database (creating its table on first use). */
export async function openPostgresQueue(options: PostgresQueueOptions): Promise<Queue> {
  const resolved = resolveQueueOptions(options);
  const table = options.table ?? DEFAULT_TABLE;
  if (!TABLE_NAME.test(table)) {
    throw new SynktiError('E_QUEUE_OPTION', `table: ${JSON.stringify(table)} is not a plain lowercase SQL name`, { hint: `use letters, digits and "_", e.g. "${DEFAULT_TABLE}"` });
  }
  if (!options.pool && !options.connectionString) {
    throw new SynktiError('E_QUEUE_OPTION', 'a PostgreSQL queue needs pool or connectionString', { hint: 'pass connectionString: "postgres://user:password@host:5432/db"' });
  }
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 1) {
    throw new SynktiError('E_QUEUE_OPTION', `pollIntervalMs: ${pollIntervalMs} must be a positive number of milliseconds`, { hint: 'omit it for 1000 ms' });
  }
  const pool = options.pool ?? new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 4 });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  if (!options.pool) pool.on('error', () => undefined);
  const driver = new PostgresQueueDriver(pool, !options.pool, table, resolved, pollIntervalMs);
  try {
    await driver.initialise();
  } catch (cause) {
    await driver.close().catch(() => undefined);
    throw new SynktiError('E_QUEUE_OPEN', `cannot open PostgreSQL queue ${resolved.name}: ${(cause as Error).message}`, {
      cause, hint: 'check the connection string, that the server is up, and that the user may create tables',
    });
  }
  return createQueue(driver, resolved);
}
