/**
 * PostgreSQL for the task database. Claims lock their rows with `FOR UPDATE SKIP LOCKED`
 * (agents on any number of machines never wait on each other's claims), and times come
 * from the database clock, so machines with skewed clocks agree on heartbeat ages.
 */
import pg from 'pg';
import { SynktiError } from '@synkti/core';
import type { SqlDialect, SqlExecutor, SqlRow, SqlRunner, SqlValue } from './sql-executor.ts';

export const POSTGRES_DIALECT: SqlDialect = {
  name: 'postgres',
  now: '(extract(epoch from clock_timestamp()) * 1000)::bigint',
  skipLocked: ' FOR UPDATE SKIP LOCKED',
  forUpdate: ' FOR UPDATE',
  bigint: 'BIGINT',
};

/** Deadlock and serialization failures: the transaction is safe to run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_TX_ATTEMPTS = 8;

/** `?` → `$1, $2, ...` (statements here never contain a literal `?`). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

class PostgresExecutor implements SqlExecutor {
  readonly dialect = POSTGRES_DIALECT;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
  ) {}

  private static runner(client: pg.Pool | pg.PoolClient): SqlRunner {
    return {
      all: async <T extends SqlRow>(sql: string, params: SqlValue[] = []) => (await client.query(numbered(sql), params)).rows as T[],
      run: async (sql: string, params: SqlValue[] = []) => (await client.query(numbered(sql), params)).rowCount ?? 0,
    };
  }

  all<T extends SqlRow = SqlRow>(sql: string, params?: SqlValue[]): Promise<T[]> {
    return PostgresExecutor.runner(this.pool).all<T>(sql, params);
  }

  run(sql: string, params?: SqlValue[]): Promise<number> {
    return PostgresExecutor.runner(this.pool).run(sql, params);
  }

  async transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(PostgresExecutor.runner(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        const code = (error as { code?: unknown } | null)?.code;
        if (typeof code === 'string' && RETRYABLE.has(code) && attempt < MAX_TX_ATTEMPTS) continue;
        throw error;
      } finally {
        client.release();
      }
    }
  }

  async migrate(statements: string[]): Promise<void> {
    await this.transaction(async (tx) => {
      // CREATE ... IF NOT EXISTS races between first openers; one lock serialises them.
      await tx.all('SELECT pg_advisory_xact_lock(hashtext(?))', ['synkti-pipelines-schema']);
      for (const sql of statements) await tx.run(sql);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }
}

export interface PostgresExecutorOptions {
  /** A pool to use (not ended by close()); or give `connectionString`. */
  pool?: pg.Pool | undefined;
  /** `postgres://user:password@host:port/db` */
  connectionString?: string | undefined;
  /**
   * Connections in the pool made from `connectionString`.
   * @default 4
   */
  poolSize?: number | undefined;
}

export function openPostgresExecutor(options: PostgresExecutorOptions): SqlExecutor {
  if (options.pool) return new PostgresExecutor(options.pool, false);
  if (!options.connectionString) {
    throw new SynktiError('E_TASKDB_OPTION', 'the PostgreSQL task database needs a pool or a connectionString', {
      hint: 'pass connectionString: "postgres://user:password@host:5432/db"',
    });
  }
  const pool = new pg.Pool({ connectionString: options.connectionString, max: options.poolSize ?? 4 });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  return new PostgresExecutor(pool, true);
}
