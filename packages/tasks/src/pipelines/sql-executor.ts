/**
 * The little the task database needs from an SQL engine, so one implementation
 * (sql-task-database.ts) serves SQLite and PostgreSQL. Statements are written with `?`
 * placeholders (the PostgreSQL executor numbers them) and with the dialect's fragments
 * for what differs: the clock, row locks and the auto-increment column.
 */

export type SqlValue = string | number | null;
export type SqlRow = Record<string, unknown>;

export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** The database clock in epoch ms, as an SQL expression (one clock for every machine). */
  readonly now: string;
  /** Appended to a claim's inner SELECT: `FOR UPDATE SKIP LOCKED` on PostgreSQL. */
  readonly skipLocked: string;
  /** Appended to a SELECT that must lock its rows until commit: `FOR UPDATE` on PostgreSQL. */
  readonly forUpdate: string;
  /** 64-bit integer column type. */
  readonly bigint: string;
}

export interface SqlRunner {
  all<T extends SqlRow = SqlRow>(sql: string, params?: SqlValue[]): Promise<T[]>;
  /** Rows changed. */
  run(sql: string, params?: SqlValue[]): Promise<number>;
}

export interface SqlExecutor extends SqlRunner {
  readonly dialect: SqlDialect;
  /** Runs `fn` in one transaction (retried from the start on a deadlock or a busy database). */
  transaction<T>(fn: (tx: SqlRunner) => Promise<T>): Promise<T>;
  /** Runs schema statements once, serialised between processes that open the database at the same time. */
  migrate(statements: string[]): Promise<void>;
  close(): Promise<void>;
}

/** `?, ?, ?` */
export function sqlPlaceholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** A tiny async mutex: one transaction at a time on a connection that cannot interleave them. */
export class SqlMutex {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(fn: () => Promise<T>): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
