/**
 * Opening a task database: a PostgreSQL URL gives the PostgreSQL backend, anything else
 * is an SQLite file path (the local default).
 */
import { SynktiError } from '@synkti/core';
import { openPostgresExecutor, type PostgresExecutorOptions } from './postgres-executor.ts';
import { SqlTaskDatabase, type SqlTaskDatabaseOptions } from './sql-task-database.ts';
import { openSqliteExecutor } from './sqlite-executor.ts';
import type { TaskDatabase } from './types.ts';

export interface SqliteTaskDatabaseOptions extends SqlTaskDatabaseOptions {
  /** SQLite file (created with its directory on first use); every process of the machine can open it. */
  path: string;
}

export type PostgresTaskDatabaseOptions = SqlTaskDatabaseOptions & PostgresExecutorOptions;

export async function openSqliteTaskDatabase(options: SqliteTaskDatabaseOptions): Promise<TaskDatabase> {
  return SqlTaskDatabase.open(openSqliteExecutor(options.path), options);
}

export async function openPostgresTaskDatabase(options: PostgresTaskDatabaseOptions): Promise<TaskDatabase> {
  return SqlTaskDatabase.open(openPostgresExecutor(options), options);
}

export interface TaskDatabaseUrlOptions extends SqlTaskDatabaseOptions {
  /** PostgreSQL pool size. @default 4 */
  poolSize?: number | undefined;
}

/** `postgres://…` / `postgresql://…` → PostgreSQL; `sqlite:<path>` or a plain path → SQLite. */
export async function openTaskDatabase(url: string, options: TaskDatabaseUrlOptions = {}): Promise<TaskDatabase> {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new SynktiError('E_TASKDB_OPTION', 'no task database given', {
      hint: 'pass a PostgreSQL URL (postgres://…) or an SQLite file path',
    });
  }
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgresTaskDatabase({ ...options, connectionString: url });
  return openSqliteTaskDatabase({ ...options, path: url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url });
}
