/**
 * The one way Synkti opens an SQLite file shared by several processes (the local cloud's
 * registry, the local queue, the pipelines task database): a busy timeout, WAL (switching
 * takes a brief exclusive lock, so first openers that collide retry), synchronous=NORMAL
 * (WAL never corrupts with it; a power cut can lose only the last commits).
 */

/** What the pragmas need of a connection (better-sqlite3 / libsql). */
export interface SqliteExec {
  exec(sql: string): unknown;
}

/** True for SQLITE_BUSY / SQLITE_LOCKED (another connection holds the lock). */
export function isSqliteBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** Blocks the thread (the open is synchronous, as the driver's calls are). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Busy timeout, WAL with bounded retries (50 × 20-50 ms) when first openers collide, synchronous=NORMAL. */
export function applySqlitePragmas(db: SqliteExec, busyTimeoutMs: number, random: () => number = Math.random): void {
  db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  for (let attempt = 0; ; attempt += 1) {
    try {
      db.exec('PRAGMA journal_mode = WAL');
      break;
    } catch (error) {
      if (!isSqliteBusy(error) || attempt >= 50) throw error;
      sleepSync(20 + random() * 30);
    }
  }
  db.exec('PRAGMA synchronous = NORMAL');
}

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction (the write lock up front, so two writers never
 * deadlock upgrading), committing or rolling back; joins the current one if already inside.
 */
export function runImmediate<T>(db: SqliteExec & { readonly inTransaction: boolean }, fn: () => T): T {
  if (db.inTransaction) return fn();
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
