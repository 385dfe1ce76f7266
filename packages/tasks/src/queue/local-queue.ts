/**
 * The local queue backend: one SQLite file (libsql) that any number of processes on the
 * machine open at once (the local cloud keeps it under `.synkti/<cluster>/`). A claim is
 * one UPDATE ... RETURNING and an ack one DELETE ... RETURNING, each prepared once per handle.
 *
 * Safe between processes for the same reasons as the local cloud's registry: WAL mode,
 * a busy timeout, and every read-then-write inside `BEGIN IMMEDIATE`, so two consumers
 * can never lease the same message. Leases are rows with a random token: a receipt is
 * `<id>:<token>`, and ack/extend/release match both, so a stale receipt changes nothing.
 * Long polls are woken at once by sends in this process, within milliseconds by sends
 * from other processes (a per-queue bell file, see `watchBells`), and otherwise poll every
 * `pollIntervalMs`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, utimesSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'libsql';
import { SynktiError } from '@synkti/core';
import {
  RELEASED_WITHOUT_ERROR,
  leaseExpiredError,
  type DriverDeadLetter,
  type DriverMessage,
  type DriverReceive,
  type DriverSendEntry,
  type QueueDriver,
} from './driver.ts';
import { Doorbell, longPoll } from './long-poll.ts';
import { createQueue, resolveQueueOptions, type ResolvedQueueOptions } from './queue.ts';
import type { Queue, QueueOptions, QueueStats } from './types.ts';
import { applySqlitePragmas, runImmediate } from '@synkti/cloud/sqlite-open';

export interface LocalQueueOptions extends QueueOptions {
  /** SQLite file holding the queue (created with its directory on first use); many queues can share one file. */
  path: string;
  /**
   * How often a long poll looks for messages sent by other processes (sends in this
   * process wake it at once).
   * @default 100
   */
  pollIntervalMs?: number | undefined;
}

const BUSY_TIMEOUT_MS = 5000;
const DEFAULT_POLL_INTERVAL_MS = 100;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS queue_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  body BLOB NOT NULL,
  ref TEXT,
  sent_at INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  receive_count INTEGER NOT NULL DEFAULT 0,
  leased INTEGER NOT NULL DEFAULT 0,
  lease_token TEXT,
  last_error TEXT,
  dead_at INTEGER
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, dead_at, visible_at);
`;

/** Sends in this process wake this process's long polls at once. */
const doorbell = new Doorbell();

/**
 * Sends from other processes: a send (or release, or redrive) touches its queue's bell,
 * an empty file in `<database>.bells/`, and a directory watch (inotify on Linux) sees it,
 * so a long poll on that queue wakes within milliseconds instead of at its next poll.
 * Only that queue's waiters wake: watching the database file itself woke every waiter of
 * every queue on each commit (claims, acks and lease renewals included), and each woken
 * process then took the write lock to find nothing. One watcher per file, shared by its
 * handles; the poll interval still covers platforms or file systems where watching
 * reports nothing.
 */
const watchers = new Map<string, { watcher: FSWatcher | undefined; users: number; keys: Map<string, string> }>();

function bellsDirOf(path: string): string {
  return `${path}.bells`;
}

/** A file name for any queue name (which may hold any character). */
function bellNameOf(queue: string): string {
  return `q-${createHash('sha256').update(queue).digest('hex').slice(0, 20)}`;
}

/** Touches a queue's bell for waiters in other processes; best effort (the poll covers a failure). */
function ringBell(path: string, queue: string): void {
  const bell = join(bellsDirOf(path), bellNameOf(queue));
  const now = new Date();
  try {
    utimesSync(bell, now, now);
  } catch {
    try {
      mkdirSync(bellsDirOf(path), { recursive: true, mode: 0o700 });
      closeSync(openSync(bell, 'a', 0o600));
    } catch {
      // Not writable: long polls elsewhere find the message at their next poll.
    }
  }
}

function watchBells(path: string, queue: string, key: string): void {
  let entry = watchers.get(path);
  if (!entry) {
    const keys = new Map<string, string>();
    let watcher: FSWatcher | undefined;
    try {
      mkdirSync(bellsDirOf(path), { recursive: true, mode: 0o700 });
      watcher = watch(bellsDirOf(path), { persistent: false }, (_event, name) => {
        // No name: the platform did not say which; wake every queue of this file.
        const known = name === null ? undefined : keys.get(String(name));
        if (known) doorbell.ring(known);
        else if (name === null) doorbell.ringPrefix(`${path}\0`);
      });
      // A watch that fails later (directory removed) leaves the poll interval to do the work.
      watcher.on('error', () => undefined);
    } catch {
      watcher = undefined;
    }
    entry = { watcher, users: 0, keys };
    watchers.set(path, entry);
  }
  entry.users += 1;
  entry.keys.set(bellNameOf(queue), key);
}

function unwatchBells(path: string): void {
  const entry = watchers.get(path);
  if (!entry) return;
  entry.users -= 1;
  if (entry.users > 0) return;
  watchers.delete(path);
  entry.watcher?.close();
}

function parseReceipt(receipt: string): { id: string; token: string } | undefined {
  const colon = receipt.indexOf(':');
  if (colon <= 0 || colon === receipt.length - 1) return undefined;
  return { id: receipt.slice(0, colon), token: receipt.slice(colon + 1) };
}

/** libsql returns a BLOB as an ArrayBuffer from all() and as a Buffer from get(). */
function text(bytes: ArrayBuffer | Uint8Array): string {
  if (bytes instanceof ArrayBuffer) return Buffer.from(bytes).toString('utf8');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

interface MessageRow {
  id: string;
  /** UTF-8 bytes: SQLite's text binding would cut a string at its first NUL. */
  body: ArrayBuffer | Uint8Array;
  ref: string | null;
  sentAt: number;
  receiveCount: number;
  leased: number;
  lastError: string | null;
  deadAt: number | null;
}

class LocalQueueDriver implements QueueDriver {
  /** One transaction stores the whole batch. */
  readonly maxSendEntries = 100;
  private readonly db: Database.Database;
  private readonly queue: string;
  private readonly maxReceives: number;
  private readonly pollIntervalMs: number;
  private readonly bellKey: string;
  private readonly path: string;
  private watching = false;
  private readonly statements = new Map<string, Database.Statement>();
  private closed = false;

  constructor(db: Database.Database, path: string, options: ResolvedQueueOptions, pollIntervalMs: number) {
    this.db = db;
    this.queue = options.name;
    this.maxReceives = options.maxReceives;
    this.pollIntervalMs = pollIntervalMs;
    this.bellKey = `${path}\0${options.name}`;
    this.path = path;
  }

  static open(options: LocalQueueOptions, resolved: ResolvedQueueOptions): LocalQueueDriver {
    const path = resolve(options.path);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (cause) {
      throw new SynktiError('E_QUEUE_OPEN', `cannot open the local queue database ${path}`, {
        cause,
        hint: 'check that its directory is writable',
      });
    }
    const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (!Number.isFinite(pollIntervalMs) || pollIntervalMs < 1) {
      db.close();
      throw new SynktiError('E_QUEUE_OPTION', `pollIntervalMs: ${pollIntervalMs} must be a positive number of milliseconds`, {
        hint: 'omit it for 100 ms',
      });
    }
    const driver = new LocalQueueDriver(db, path, resolved, pollIntervalMs);
    try {
      driver.initialise();
    } catch (cause) {
      db.close();
      throw new SynktiError('E_QUEUE_OPEN', `cannot initialise the local queue database ${path}`, {
        cause,
        hint: 'another process may hold it locked; retry',
      });
    }
    return driver;
  }

  private initialise(): void {
    applySqlitePragmas(this.db, BUSY_TIMEOUT_MS);
    this.immediate(() => this.db.exec(SCHEMA));
  }

  /** Messages became visible: wake long polls here at once, and in other processes through the bell. */
  private ring(): void {
    doorbell.ring(this.bellKey);
    ringBell(this.path, this.queue);
  }

  private immediate<T>(fn: () => T): T {
    return runImmediate(this.db, fn);
  }

  async send(entries: DriverSendEntry[]): Promise<string[]> {
    const now = Date.now();
    const ids = this.immediate(() => {
      const insert = this.statement(
        'send',
        'INSERT INTO queue_messages (id, queue, body, ref, sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      return entries.map((entry) => {
        const id = randomUUID();
        insert.run([id, this.queue, Buffer.from(entry.body, 'utf8'), entry.ref ?? null, now, now + entry.delayMs]);
        return id;
      });
    });
    this.ring();
    return ids;
  }

  async receive(request: DriverReceive): Promise<DriverMessage[]> {
    if (request.waitMs > 0 && !this.watching && !this.closed) {
      this.watching = true;
      watchBells(this.path, this.queue, this.bellKey);
    }
    return longPoll({
      claim: async () => this.claim(request.maxMessages, request.leaseMs),
      waitMs: request.waitMs,
      pollIntervalMs: this.pollIntervalMs,
      doorbell,
      key: this.bellKey,
      signal: request.signal,
    });
  }

  /**
   * One UPDATE ... RETURNING leases up to `maxMessages`: a write statement takes SQLite's
   * write lock before it reads, so no two consumers pick the same row, without an explicit
   * transaction. Exhausted rows are never picked; they are dead-lettered when a claim finds
   * nothing (and by stats/deadLetters), which keeps that sweep off the busy path.
   */
  private claim(maxMessages: number, leaseMs: number): { items: DriverMessage[]; nextVisibleAt?: number } {
    const now = Date.now();
    const leaseExpiresAt = now + leaseMs;
    const rows = this.statement(
      'claim',
      `UPDATE queue_messages SET receive_count = receive_count + 1, leased = 1,
        lease_token = lower(hex(randomblob(16))), visible_at = ?
      WHERE seq IN (SELECT seq FROM queue_messages WHERE queue = ? AND dead_at IS NULL AND visible_at <= ? AND receive_count < ?
        ORDER BY visible_at, seq LIMIT ?)
      RETURNING seq, id, body, ref, sent_at AS sentAt, receive_count AS receiveCount, lease_token AS leaseToken`,
    ).all([leaseExpiresAt, this.queue, now, this.maxReceives, maxMessages]) as Array<MessageRow & { seq: number; leaseToken: string }>;
    if (rows.length === 0) {
      return this.immediate(() => {
        this.sweepExhausted(Date.now());
        const next = this.statement('next', 'SELECT MIN(visible_at) AS next FROM queue_messages WHERE queue = ? AND dead_at IS NULL').get([
          this.queue,
        ]) as { next: number | null } | undefined;
        return { items: [], nextVisibleAt: next?.next ?? undefined };
      });
    }
    // FIFO within a batch (RETURNING gives rows in no set order).
    rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    const items = rows.map((row) => ({
      id: row.id,
      body: text(row.body),
      ref: row.ref ?? undefined,
      receipt: `${row.id}:${row.leaseToken}`,
      receiveCount: Number(row.receiveCount),
      sentAt: Number(row.sentAt),
      leaseExpiresAt,
    }));
    return { items };
  }

  /** A prepared statement, compiled once per handle. */
  private statement(key: string, sql: string): Database.Statement {
    let prepared = this.statements.get(key);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(key, prepared);
    }
    return prepared;
  }

  /** Visible messages already delivered `maxReceives` times go to the dead-letter queue instead of out again. */
  private sweepExhausted(now: number): void {
    // Runs on every empty claim (an idle consumer's every poll): prepared once, like the claim.
    const rows = this.statement(
      'exhausted',
      `SELECT id, receive_count AS receiveCount, leased, last_error AS lastError FROM queue_messages
      WHERE queue = ? AND dead_at IS NULL AND visible_at <= ? AND receive_count >= ?`,
    ).all([this.queue, now, this.maxReceives]) as MessageRow[];
    if (rows.length === 0) return;
    const move = this.statement(
      'dead',
      'UPDATE queue_messages SET dead_at = ?, last_error = ?, leased = 0, lease_token = NULL WHERE id = ?',
    );
    for (const row of rows) {
      const error = row.leased ? leaseExpiredError(Number(row.receiveCount), row.lastError) : (row.lastError ?? RELEASED_WITHOUT_ERROR);
      move.run([now, error, row.id]);
    }
  }

  async extend(receipt: string, leaseMs: number): Promise<boolean> {
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    // A long task's heartbeat: prepared once per handle.
    return this.immediate(
      () =>
        this.statement(
          'extend',
          `UPDATE queue_messages SET visible_at = ?
      WHERE id = ? AND lease_token = ? AND leased = 1 AND dead_at IS NULL`,
        ).run([Date.now() + leaseMs, lease.id, lease.token]).changes > 0,
    );
  }

  async ack(receipt: string): Promise<{ ok: boolean; ref?: string | undefined }> {
    const lease = parseReceipt(receipt);
    if (!lease) return { ok: false };
    // One statement, atomic on its own: no transaction needed.
    const row = this.statement(
      'ack',
      'DELETE FROM queue_messages WHERE id = ? AND lease_token = ? AND leased = 1 AND dead_at IS NULL RETURNING ref',
    ).get([lease.id, lease.token]) as { ref: string | null } | undefined;
    return row ? { ok: true, ref: row.ref ?? undefined } : { ok: false };
  }

  async release(receipt: string, error: string | undefined, delayMs: number): Promise<boolean> {
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    const released = this.immediate(() => {
      const row = this.db
        .prepare(
          `SELECT receive_count AS receiveCount, last_error AS lastError FROM queue_messages
        WHERE id = ? AND lease_token = ? AND leased = 1 AND dead_at IS NULL`,
        )
        .get([lease.id, lease.token]) as MessageRow | undefined;
      if (!row) return false;
      const now = Date.now();
      if (Number(row.receiveCount) >= this.maxReceives) {
        this.db
          .prepare('UPDATE queue_messages SET dead_at = ?, last_error = ?, leased = 0, lease_token = NULL WHERE id = ?')
          .run([now, error ?? row.lastError ?? RELEASED_WITHOUT_ERROR, lease.id]);
      } else {
        this.db
          .prepare(
            'UPDATE queue_messages SET visible_at = ?, leased = 0, lease_token = NULL, last_error = COALESCE(?, last_error) WHERE id = ?',
          )
          .run([now + delayMs, error ?? null, lease.id]);
      }
      return true;
    });
    if (released) this.ring();
    return released;
  }

  async deadLetter(receipt: string, error: string): Promise<boolean> {
    const lease = parseReceipt(receipt);
    if (!lease) return false;
    return this.immediate(
      () =>
        this.db
          .prepare(
            `UPDATE queue_messages SET dead_at = ?, last_error = ?, leased = 0, lease_token = NULL
      WHERE id = ? AND lease_token = ? AND leased = 1 AND dead_at IS NULL`,
          )
          .run([Date.now(), error, lease.id, lease.token]).changes > 0,
    );
  }

  async deadLetters(limit: number): Promise<DriverDeadLetter[]> {
    const rows = this.immediate(() => {
      this.sweepExhausted(Date.now());
      return this.db
        .prepare(
          `SELECT id, body, ref, sent_at AS sentAt, receive_count AS receiveCount, last_error AS lastError, dead_at AS deadAt
        FROM queue_messages WHERE queue = ? AND dead_at IS NOT NULL ORDER BY dead_at, seq LIMIT ?`,
        )
        .all([this.queue, limit]) as MessageRow[];
    });
    return rows.map((row) => ({
      id: row.id,
      body: text(row.body),
      ref: row.ref ?? undefined,
      receiveCount: Number(row.receiveCount),
      lastError: row.lastError ?? '',
      deadLetteredAt: Number(row.deadAt),
      sentAt: Number(row.sentAt),
    }));
  }

  async redrive(ids: string[] | undefined): Promise<number> {
    if (ids && ids.length === 0) return 0;
    const moved = this.immediate(() => {
      const where = ids ? ` AND id IN (${placeholders(ids.length)})` : '';
      return this.db
        .prepare(
          `UPDATE queue_messages SET dead_at = NULL, receive_count = 0, leased = 0, lease_token = NULL,
        last_error = NULL, visible_at = ? WHERE queue = ? AND dead_at IS NOT NULL${where}`,
        )
        .run([Date.now(), this.queue, ...(ids ?? [])]).changes;
    });
    if (moved > 0) this.ring();
    return moved;
  }

  async purgeDeadLetters(ids: string[] | undefined): Promise<{ count: number; refs: string[] }> {
    if (ids && ids.length === 0) return { count: 0, refs: [] };
    return this.immediate(() => {
      const where = `queue = ? AND dead_at IS NOT NULL${ids ? ` AND id IN (${placeholders(ids.length)})` : ''}`;
      const params = [this.queue, ...(ids ?? [])];
      const refs = (
        this.db.prepare(`SELECT ref FROM queue_messages WHERE ${where} AND ref IS NOT NULL`).all(params) as { ref: string }[]
      ).map((r) => r.ref);
      const count = this.db.prepare(`DELETE FROM queue_messages WHERE ${where}`).run(params).changes;
      return { count, refs };
    });
  }

  async stats(): Promise<QueueStats> {
    return this.immediate(() => {
      const now = Date.now();
      this.sweepExhausted(now);
      const row = this.db
        .prepare(
          `SELECT
          COALESCE(SUM(CASE WHEN dead_at IS NULL AND visible_at <= ? THEN 1 ELSE 0 END), 0) AS depth,
          COALESCE(SUM(CASE WHEN dead_at IS NULL AND visible_at > ? AND leased = 1 THEN 1 ELSE 0 END), 0) AS inFlight,
          COALESCE(SUM(CASE WHEN dead_at IS NULL AND visible_at > ? AND leased = 0 THEN 1 ELSE 0 END), 0) AS delayed,
          COALESCE(SUM(CASE WHEN dead_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS deadLettered
        FROM queue_messages WHERE queue = ?`,
        )
        .get([now, now, now, this.queue]) as Record<keyof QueueStats, number>;
      return {
        depth: Number(row.depth),
        inFlight: Number(row.inFlight),
        delayed: Number(row.delayed),
        deadLettered: Number(row.deadLettered),
      };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.watching) unwatchBells(this.path);
    this.db.close();
  }
}

/** Opens (creating on first use) a queue in a local SQLite file. */
export async function openLocalQueue(options: LocalQueueOptions): Promise<Queue> {
  const resolved = resolveQueueOptions(options);
  return createQueue(LocalQueueDriver.open(options, resolved), resolved);
}
