/**
 * The dashboard's pipeline panel: jobs by state and open tasks by state from a pipeline
 * task database (`--pipeline-db`, SYNKTI_PIPELINE_DB), in one statement whose every count
 * reads a partial index (running jobs; ready, running and pending tasks) or a bounded
 * range of the creation-time index (jobs finished recently): never the finished history,
 * which grows without bound. SQLite is opened read-only; PostgreSQL through a one-
 * connection pool.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'libsql';
import { SynktiError } from '@synkti/core';

export interface PipelineCounterOptions {
  /** How far back done/failed/cancelled jobs are counted (by creation time). @default 86400000 (24 h) */
  windowMs?: number;
  /** Table prefix of the task database. @default 'synkti_pl' */
  tablePrefix?: string;
  /** @default Date.now */
  clock?: () => number;
}

export interface PipelineCounter {
  stats(): Promise<PipelineStats>;
  close(): Promise<void>;
}

const FINISHED = ['done', 'failed', 'cancelled'] as const;
const OPEN_TASKS = ['pending', 'ready', 'running'] as const;

/**
 * The counting statement, `?` placeholders for the window start (one per finished state).
 * Each scalar subquery matches one partial index's WHERE exactly, so the planner counts
 * that small index; finished jobs are counted over `created_at >= ?` (index `_created`).
 */
export function pipelineCountsSql(prefix = 'synkti_pl'): string {
  if (!/^[a-z_][a-z0-9_]{0,30}$/.test(prefix)) throw new SynktiError('E_TASKDB_OPTION', `table prefix "${prefix}" is not valid`);
  const jobs = `${prefix}_jobs`;
  const tasks = `${prefix}_tasks`;
  return `SELECT
  (SELECT COUNT(*) FROM ${jobs} WHERE state = 'running') AS jobs_running,
  ${FINISHED.map((s) => `(SELECT COUNT(*) FROM ${jobs} WHERE created_at >= ? AND state = '${s}') AS jobs_${s}`).join(',\n  ')},
  ${OPEN_TASKS.map((s) => `(SELECT COUNT(*) FROM ${tasks} WHERE state = '${s}') AS tasks_${s}`).join(',\n  ')}`;
}

function num(value: unknown): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

// No return type written out: the shape is @synkti/dashboard's PipelineStats, which the CLI
// passes these to (so tsc catches a drift without a second declaration of it here).
function toStats(backend: string, row: Record<string, unknown> | undefined, windowMs: number) {
  const r = row ?? {};
  return {
    backend,
    jobs: { running: num(r.jobs_running), done: num(r.jobs_done), failed: num(r.jobs_failed), cancelled: num(r.jobs_cancelled) },
    tasks: { pending: num(r.tasks_pending), ready: num(r.tasks_ready), running: num(r.tasks_running) },
    windowMs,
  };
}

/** Jobs by state, open tasks by state, and the window finished jobs are counted over. */
export type PipelineStats = ReturnType<typeof toStats>;

/** Opens a counter on a PostgreSQL URL or an SQLite file path (as `synkti pipeline` takes them). */
export async function openPipelineCounter(url: string, options: PipelineCounterOptions = {}): Promise<PipelineCounter> {
  const windowMs = options.windowMs ?? 86_400_000;
  const clock = options.clock ?? Date.now;
  const sql = pipelineCountsSql(options.tablePrefix);
  const since = (): number[] => FINISHED.map(() => clock() - windowMs);
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: url, max: 1, idleTimeoutMillis: 10_000, connectionTimeoutMillis: 5000 });
    pool.on('error', () => {}); // an idle connection dropped by the server: the next query reconnects
    let n = 0;
    const numbered = sql.replace(/\?/g, () => `$${++n}`);
    return {
      stats: async () =>
        toStats('postgres', (await pool.query(numbered, since())).rows[0] as Record<string, unknown> | undefined, windowMs),
      close: () => pool.end(),
    };
  }
  const path = resolve(url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url);
  if (!existsSync(path)) {
    throw new SynktiError('E_TASKDB_OPEN', `no pipeline task database at ${path}`, {
      hint: 'pass the file `synkti pipeline` uses (--pipeline-db or SYNKTI_PIPELINE_DB), or leave the option out for no pipeline panel',
    });
  }
  // Read-only: the dashboard never writes, and never creates a file or tables by mistake.
  const db = new Database(path, { readonly: true, fileMustExist: true, timeout: 2000 });
  // Prepared on first use: a database whose tables do not exist yet is a warning each round, not a start-up failure.
  let statement: ReturnType<typeof db.prepare> | undefined;
  return {
    stats: async () => {
      statement ??= db.prepare(sql);
      return toStats('sqlite', statement.get(since()) as Record<string, unknown> | undefined, windowMs);
    },
    close: async () => {
      db.close();
    },
  };
}
