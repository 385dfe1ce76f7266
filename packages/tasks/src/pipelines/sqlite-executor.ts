/**
 * SQLite (libsql) for the task database: one file any number of processes open at once.
 * Like the local queue: WAL, a busy timeout, and every transaction `BEGIN IMMEDIATE`, so
 * claims from two processes never see the same ready task. libsql is synchronous, so
 * transactions on one connection are queued behind an async mutex.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'libsql';
import { SynktiError } from '@synkti/core';
import { SqlMutex, type SqlDialect, type SqlExecutor, type SqlRow, type SqlRunner, type SqlValue } from './sql-executor.ts';
import { applySqlitePragmas, isSqliteBusy } from '@synkti/cloud/sqlite-open';

const BUSY_TIMEOUT_MS = 10_000;

export const SQLITE_DIALECT: SqlDialect = {
  name: 'sqlite',
  now: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
  skipLocked: '',
  forUpdate: '',
  bigint: 'INTEGER',
};

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * One mutex per file for every connection of this process: libsql blocks the thread while
 * it waits for a lock, so a second connection of the same process waiting on the first
 * (whose transaction is suspended at an await) would wait for nothing until its timeout.
 */
const mutexes = new Map<string, SqlMutex>();

class SqliteExecutor implements SqlExecutor {
  readonly dialect = SQLITE_DIALECT;
  private readonly mutex: SqlMutex;
  private closed = false;

  constructor(
    private readonly db: Database.Database,
    file: string,
  ) {
    let mutex = mutexes.get(file);
    if (!mutex) mutexes.set(file, (mutex = new SqlMutex()));
    this.mutex = mutex;
  }

  private runner(): SqlRunner {
    return {
      all: async <T extends SqlRow>(sql: string, params: SqlValue[] = []) => this.db.prepare(sql).all(params) as T[],
      run: async (sql: string, params: SqlValue[] = []) => this.db.prepare(sql).run(params).changes,
    };
  }

  all<T extends SqlRow = SqlRow>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    return this.mutex.run(async () => this.db.prepare(sql).all(params) as T[]);
  }

  run(sql: string, params: SqlValue[] = []): Promise<number> {
    return this.mutex.run(async () => this.db.prepare(sql).run(params).changes);
  }

  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      for (let attempt = 0; ; attempt += 1) {
        try {
          this.db.exec('BEGIN IMMEDIATE');
        } catch (error) {
          if (isSqliteBusy(error) && attempt < 20) {
            sleepSync(10 + Math.random() * 40);
            continue;
          }
          throw error;
        }
        try {
          const result = await fn(this.runner());
          this.db.exec('COMMIT');
          return result;
        } catch (error) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          throw error;
        }
      }
    });
  }

  async migrate(statements: string[]): Promise<void> {
    await this.transaction(async (tx) => {
      for (const sql of statements) await tx.run(sql);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mutex.run(async () => this.db.close());
  }
}

/** Opens (creating with its directory) an SQLite file for the task database. */
export function openSqliteExecutor(path: string): SqlExecutor {
  const file = resolve(path);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  let db: Database.Database;
  try {
    db = new Database(file);
  } catch (cause) {
    throw new SynktiError('E_TASKDB_OPEN', `cannot open the task database ${file}`, {
      cause,
      hint: 'check that its directory is writable',
    });
  }
  try {
    applySqlitePragmas(db, BUSY_TIMEOUT_MS);
  } catch (cause) {
    db.close();
    throw new SynktiError('E_TASKDB_OPEN', `cannot initialise the task database ${file}`, {
      cause,
      hint: 'another process may hold it locked; retry',
    });
  }
  return new SqliteExecutor(db, file);
}
