/**
 * The local cloud's "control plane database": one SQLite file, `<stateDir>/registry.db`,
 * that the CLI, every instance host and every agent open at the same time.
 *
 * Safe between processes because: WAL mode (readers never block the writer), a 5 s busy
 * timeout (a writer waits for another instead of failing), and every write inside a
 * `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so a read-then-write
 * never fails half way with SQLITE_BUSY when another process wrote in between).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'libsql';
import { SynktiError } from '@synkti/core';
import type { InstanceState, InterruptionNotice, Lifecycle } from '../../types.ts';
import { applySqlitePragmas, runImmediate } from '../../sqlite-open.ts';

export const REGISTRY_FILE = 'registry.db';
const BUSY_TIMEOUT_MS = 5000;
const SCHEMA_VERSION = '1';

/** One row of the instances table, as the provider and the instance host see it. */
export interface InstanceRow {
  id: string;
  state: InstanceState;
  stateReason: string | null;
  privateIp: string;
  instanceType: string;
  zone: string;
  lifecycle: Lifecycle;
  launchedAt: number;
  userData: string | null;
  clientToken: string | null;
  /** Pid of the instance host (the process that *is* the instance); null until spawned. */
  hostPid: number | null;
  /** /proc/<pid>/stat start time of the host, to tell it from a later process with the same pid. */
  hostStartTime: number | null;
  /** Base URL of the instance's metadata server once it listens. */
  metadataUrl: string | null;
  noticeAction: InterruptionNotice['action'] | null;
  /** Epoch ms when the spot interruption takes effect. */
  noticeTime: number | null;
  /** Epoch ms of the rebalance recommendation. */
  rebalanceTime: number | null;
  terminatedAt: number | null;
}

export type NewInstanceRow = Pick<
  InstanceRow,
  'id' | 'privateIp' | 'instanceType' | 'zone' | 'lifecycle' | 'launchedAt' | 'userData' | 'clientToken'
>;

export interface InstanceQuery {
  states: InstanceState[];
  tags?: Record<string, string> | undefined;
  ids?: string[] | undefined;
  /** Only rows strictly after this position in (launchedAt, id) order. */
  after?: { launchedAt: number; id: string } | undefined;
  limit: number;
}

const COLUMNS = `id, state, state_reason AS stateReason, private_ip AS privateIp,
  instance_type AS instanceType, zone, lifecycle, launched_at AS launchedAt, user_data AS userData,
  client_token AS clientToken, host_pid AS hostPid, host_start_time AS hostStartTime,
  metadata_url AS metadataUrl, notice_action AS noticeAction, notice_time AS noticeTime,
  rebalance_time AS rebalanceTime, terminated_at AS terminatedAt`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS instances (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  state_reason TEXT,
  private_ip TEXT NOT NULL,
  instance_type TEXT NOT NULL,
  zone TEXT NOT NULL,
  lifecycle TEXT NOT NULL,
  launched_at INTEGER NOT NULL,
  user_data TEXT,
  client_token TEXT UNIQUE,
  host_pid INTEGER,
  host_start_time INTEGER,
  metadata_url TEXT,
  notice_action TEXT,
  notice_time INTEGER,
  rebalance_time INTEGER,
  terminated_at INTEGER
);
CREATE INDEX IF NOT EXISTS instances_order ON instances (launched_at, id);
CREATE INDEX IF NOT EXISTS instances_state ON instances (state);
CREATE TABLE IF NOT EXISTS tags (
  instance_id TEXT NOT NULL REFERENCES instances (id),
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (instance_id, key)
);
CREATE INDEX IF NOT EXISTS tags_key_value ON tags (key, value);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

const ACTIVE_STATES: InstanceState[] = ['pending', 'running', 'shutting-down'];

/** Copies the known columns: `get()` in libsql adds a `_metadata` field to its row. */
function toInstanceRow(raw: unknown): InstanceRow | undefined {
  if (raw === undefined || raw === null) return undefined;
  const r = raw as InstanceRow;
  return {
    id: r.id,
    state: r.state,
    stateReason: r.stateReason,
    privateIp: r.privateIp,
    instanceType: r.instanceType,
    zone: r.zone,
    lifecycle: r.lifecycle,
    launchedAt: r.launchedAt,
    userData: r.userData,
    clientToken: r.clientToken,
    hostPid: r.hostPid,
    hostStartTime: r.hostStartTime,
    metadataUrl: r.metadataUrl,
    noticeAction: r.noticeAction,
    noticeTime: r.noticeTime,
    rebalanceTime: r.rebalanceTime,
    terminatedAt: r.terminatedAt,
  };
}

function toInstanceRows(raws: unknown[]): InstanceRow[] {
  return raws.map((raw) => toInstanceRow(raw)!);
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

export class LocalRegistry {
  readonly path: string;
  private readonly db: Database.Database;
  private closed = false;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
  }

  /** Opens (creating on first use) `<stateDir>/registry.db`. */
  static open(stateDir: string): LocalRegistry {
    // 0700: the registry holds the boot environment, which may carry a secret's location.
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, REGISTRY_FILE);
    let db: Database.Database;
    try {
      db = new Database(path);
    } catch (cause) {
      throw new SynktiError('E_REGISTRY', `cannot open the local cloud registry ${path}`, {
        cause,
        hint: 'check that the state directory exists and is writable',
      });
    }
    const registry = new LocalRegistry(path, db);
    try {
      registry.initialise();
    } catch (cause) {
      db.close();
      throw new SynktiError('E_REGISTRY', `cannot initialise the local cloud registry ${path}`, {
        cause,
        hint: 'another process may hold it locked for long; retry, or remove the state directory if it is corrupt',
      });
    }
    return registry;
  }

  private initialise(): void {
    applySqlitePragmas(this.db, BUSY_TIMEOUT_MS);
    this.immediate(() => {
      this.db.exec(SCHEMA);
      this.db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)').run(['schemaVersion', SCHEMA_VERSION]);
    });
  }

  /** Runs `fn` in a BEGIN IMMEDIATE transaction (joins the current one if already inside). */
  immediate<T>(fn: () => T): T {
    return runImmediate(this.db, fn);
  }

  getInstance(id: string): InstanceRow | undefined {
    return toInstanceRow(this.db.prepare(`SELECT ${COLUMNS} FROM instances WHERE id = ?`).get([id]));
  }

  getInstanceByClientToken(clientToken: string): InstanceRow | undefined {
    return toInstanceRow(this.db.prepare(`SELECT ${COLUMNS} FROM instances WHERE client_token = ?`).get([clientToken]));
  }

  /** Which of `ids` exist. */
  existingIds(ids: string[]): Set<string> {
    if (ids.length === 0) return new Set();
    const rows = this.db.prepare(`SELECT id FROM instances WHERE id IN (${placeholders(ids.length)})`).all(ids) as { id: string }[];
    return new Set(rows.map((r) => r.id));
  }

  countInstances(): number {
    const row = this.db.prepare('SELECT COUNT(*) AS n FROM instances').get([]) as { n: number };
    return Number(row.n);
  }

  /** Inserts a pending instance and its tags together (call inside `immediate`). */
  insertInstance(row: NewInstanceRow, tags: Record<string, string>): void {
    this.immediate(() => {
      this.db
        .prepare(
          `INSERT INTO instances (id, state, private_ip, instance_type, zone, lifecycle, launched_at, user_data, client_token)
        VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run([row.id, row.privateIp, row.instanceType, row.zone, row.lifecycle, row.launchedAt, row.userData, row.clientToken]);
      this.writeTags(row.id, tags);
    });
  }

  tagsOf(id: string): Record<string, string> {
    return this.tagsOfMany([id]).get(id) ?? {};
  }

  tagsOfMany(ids: string[]): Map<string, Record<string, string>> {
    const result = new Map<string, Record<string, string>>();
    if (ids.length === 0) return result;
    const rows = this.db
      .prepare(`SELECT instance_id AS id, key, value FROM tags WHERE instance_id IN (${placeholders(ids.length)}) ORDER BY key`)
      .all(ids) as { id: string; key: string; value: string }[];
    for (const row of rows) {
      let tags = result.get(row.id);
      if (!tags) result.set(row.id, (tags = {}));
      tags[row.key] = row.value;
    }
    return result;
  }

  /** Adds or overwrites tags; a terminated instance keeps none (its tags were deleted). */
  putTags(ids: string[], tags: Record<string, string>): void {
    this.immediate(() => {
      for (const id of ids) {
        const row = this.getInstance(id);
        if (row && row.state !== 'terminated') this.writeTags(id, tags);
      }
    });
  }

  deleteTags(ids: string[], keys: string[]): void {
    if (keys.length === 0) return;
    this.immediate(() => {
      const statement = this.db.prepare(`DELETE FROM tags WHERE instance_id = ? AND key IN (${placeholders(keys.length)})`);
      for (const id of ids) statement.run([id, ...keys]);
    });
  }

  private writeTags(id: string, tags: Record<string, string>): void {
    const statement = this.db.prepare(
      'INSERT INTO tags (instance_id, key, value) VALUES (?, ?, ?) ON CONFLICT (instance_id, key) DO UPDATE SET value = excluded.value',
    );
    for (const [key, value] of Object.entries(tags)) statement.run([id, key, value]);
  }

  /** Port numbers held (as tags with one of `keys`) by instances that are not terminated. */
  portsInUse(keys: string[]): Set<number> {
    if (keys.length === 0) return new Set();
    const rows = this.db
      .prepare(
        `SELECT t.value AS value FROM tags t JOIN instances i ON i.id = t.instance_id
      WHERE i.state != 'terminated' AND t.key IN (${placeholders(keys.length)})`,
      )
      .all(keys) as { value: string }[];
    return new Set(rows.map((r) => Number(r.value)).filter((n) => Number.isInteger(n)));
  }

  recordHost(id: string, pid: number, startTime: number | undefined): void {
    this.immediate(() => {
      this.db.prepare('UPDATE instances SET host_pid = ?, host_start_time = ? WHERE id = ?').run([pid, startTime ?? null, id]);
    });
  }

  /** pending -> running, and where the metadata server listens. False when no longer pending. */
  markRunning(id: string, metadataUrl: string): boolean {
    return this.immediate(() => {
      this.db.prepare('UPDATE instances SET metadata_url = ? WHERE id = ?').run([metadataUrl, id]);
      return this.db.prepare("UPDATE instances SET state = 'running' WHERE id = ? AND state = 'pending'").run([id]).changes > 0;
    });
  }

  /** pending/running -> shutting-down. False when already shutting down or terminated. */
  markShuttingDown(id: string, reason: string): boolean {
    return this.immediate(
      () =>
        this.db
          .prepare(
            `UPDATE instances SET state = 'shutting-down', state_reason = ?
      WHERE id = ? AND state IN ('pending', 'running')`,
          )
          .run([reason, id]).changes > 0,
    );
  }

  /**
   * Any state -> terminated with `reason`, and the instance's tags deleted (a terminated
   * instance leaves no tags behind). False when it was already terminated.
   */
  markTerminated(id: string, reason: string, at: number): boolean {
    return this.immediate(() => {
      const changed =
        this.db
          .prepare(
            `UPDATE instances SET state = 'terminated', state_reason = ?, terminated_at = ?
        WHERE id = ? AND state != 'terminated'`,
          )
          .run([reason, at, id]).changes > 0;
      this.db.prepare('DELETE FROM tags WHERE instance_id = ?').run([id]);
      return changed;
    });
  }

  setNotice(id: string, notice: InterruptionNotice | null): void {
    this.immediate(() => {
      this.db
        .prepare('UPDATE instances SET notice_action = ?, notice_time = ? WHERE id = ?')
        .run([notice?.action ?? null, notice?.time ?? null, id]);
    });
  }

  setRebalance(id: string, noticeTime: number | null): void {
    this.immediate(() => {
      this.db.prepare('UPDATE instances SET rebalance_time = ? WHERE id = ?').run([noticeTime, id]);
    });
  }

  /** Rows in pending, running or shutting-down: the ones whose host should be alive. */
  activeInstances(): InstanceRow[] {
    return toInstanceRows(
      this.db.prepare(`SELECT ${COLUMNS} FROM instances WHERE state IN (${placeholders(ACTIVE_STATES.length)})`).all(ACTIVE_STATES),
    );
  }

  /** Matching rows in (launchedAt, id) order. */
  queryInstances(query: InstanceQuery): InstanceRow[] {
    if (query.states.length === 0 || (query.ids && query.ids.length === 0)) return [];
    const where: string[] = [`state IN (${placeholders(query.states.length)})`];
    const params: (string | number)[] = [...query.states];
    if (query.ids) {
      where.push(`id IN (${placeholders(query.ids.length)})`);
      params.push(...query.ids);
    }
    for (const [key, value] of Object.entries(query.tags ?? {})) {
      where.push('EXISTS (SELECT 1 FROM tags t WHERE t.instance_id = instances.id AND t.key = ? AND t.value = ?)');
      params.push(key, value);
    }
    if (query.after) {
      where.push('(launched_at > ? OR (launched_at = ? AND id > ?))');
      params.push(query.after.launchedAt, query.after.launchedAt, query.after.id);
    }
    params.push(query.limit);
    return toInstanceRows(
      this.db.prepare(`SELECT ${COLUMNS} FROM instances WHERE ${where.join(' AND ')} ORDER BY launched_at, id LIMIT ?`).all(params),
    );
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get([key]) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.immediate(() => {
      this.db
        .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
        .run([key, value]);
    });
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
