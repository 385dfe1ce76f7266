/**
 * The task database over SQL, one implementation for SQLite and PostgreSQL.
 *
 * Why it is shaped this way:
 * - Claims are one UPDATE over a locked (`SKIP LOCKED` on PostgreSQL) ordered SELECT, so
 *   two agents never run the same claim and never block each other.
 * - A completion, its fan-out children, the dependents it unblocks (a `deps_left` counter
 *   per task) and its job's `open_tasks` counter change in one transaction: a job is done
 *   exactly when its last task is, and a duplicate completion (the task was already done,
 *   e.g. a lost agent finishing after the requeuer gave its task to another) is discarded
 *   with everything it would have spawned, and counted on the task row.
 * - Counters live on task rows (no hot counter row every completion would lock).
 * - Times come from the database clock.
 */
import { randomUUID } from 'node:crypto';
import { SynktiError } from '@synkti/core';
import { sqlPlaceholders, type SqlExecutor, type SqlRow, type SqlRunner, type SqlValue } from './sql-executor.ts';
import { clipPipelineError, validateNewTasks } from './task-validation.ts';
import {
  JOB_STREAMS,
  type AgentRegistration,
  type ClaimRequest,
  type ClaimedPipelineTask,
  type CompleteOutcome,
  type CompleteRequest,
  type FailOutcome,
  type FailRequest,
  type HeartbeatEntry,
  type JobListRequest,
  type Json,
  type LiveAgent,
  type NewPipelineJob,
  type NewPipelineTask,
  type PipelineCounters,
  type PipelineJobRecord,
  type PipelineJobState,
  type PipelineTaskRecord,
  type PipelineTaskState,
  type StageCounts,
  type SweepResult,
  type TaskDatabase,
} from './types.ts';

export interface SqlTaskDatabaseOptions {
  /**
   * Prefix of the tables (lets several independent pipeline systems share a database).
   * @default "synkti_pl"
   */
  tablePrefix?: string | undefined;
}

const PREFIX_PATTERN = /^[a-z_][a-z0-9_]{0,30}$/;
const TERMINAL: ReadonlySet<string> = new Set(['done', 'failed', 'cancelled']);
const MAX_LIST = 500;

function num(value: unknown): number {
  return value === null || value === undefined ? 0 : Number(value);
}

function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function parseJson(value: unknown): Json {
  if (value === null || value === undefined) return null;
  try {
    return JSON.parse(String(value)) as Json;
  } catch {
    return null;
  }
}

function toJsonText(value: Json | undefined, field: string): string {
  try {
    return JSON.stringify(value ?? null);
  } catch (cause) {
    throw new SynktiError('E_TASK_INVALID', `${field} is not JSON-serialisable`, {
      cause,
      hint: 'return plain data, or put it in the object store',
    });
  }
}

function jobFromRow(row: SqlRow): PipelineJobRecord {
  return {
    id: String(row.id),
    pipeline: String(row.pipeline),
    owner: String(row.owner),
    stream: row.stream === 'reserved' ? 'reserved' : 'best-effort',
    priority: num(row.priority),
    state: String(row.state) as PipelineJobState,
    input: parseJson(row.input),
    result: parseJson(row.result),
    resultRef: row.result_ref === null || row.result_ref === undefined ? null : String(row.result_ref),
    error: row.error === null || row.error === undefined ? null : String(row.error),
    openTasks: num(row.open_tasks),
    createdAt: num(row.created_at),
    finishedAt: numOrNull(row.finished_at),
  };
}

function taskFromRow(row: SqlRow): PipelineTaskRecord {
  return {
    id: String(row.id),
    jobId: String(row.job_id),
    key: String(row.task_key),
    type: String(row.type),
    state: String(row.state) as PipelineTaskState,
    input: parseJson(row.input),
    result: parseJson(row.result),
    resultRef: row.result_ref === null || row.result_ref === undefined ? null : String(row.result_ref),
    error: row.error === null || row.error === undefined ? null : String(row.error),
    priority: num(row.priority),
    attempts: num(row.attempts),
    maxAttempts: num(row.max_attempts),
    timeoutMs: num(row.timeout_ms),
    deps: (parseJson(row.deps) as string[] | null) ?? [],
    owner: row.owner === null || row.owner === undefined ? null : String(row.owner),
    claim: num(row.claim_no),
    progress: num(row.progress) / 1000,
    heartbeatAt: numOrNull(row.heartbeat_at),
    createdAt: num(row.created_at),
    finishedAt: numOrNull(row.finished_at),
  };
}

export class SqlTaskDatabase implements TaskDatabase {
  readonly backend: string;
  private readonly sql: SqlExecutor;
  private readonly jobs: string;
  private readonly tasks: string;
  private readonly deps: string;
  private readonly agents: string;
  private readonly leases: string;
  private readonly now_: string;

  private constructor(sql: SqlExecutor, prefix: string) {
    this.sql = sql;
    this.backend = sql.dialect.name;
    this.jobs = `${prefix}_jobs`;
    this.tasks = `${prefix}_tasks`;
    this.deps = `${prefix}_deps`;
    this.agents = `${prefix}_agents`;
    this.leases = `${prefix}_leases`;
    this.now_ = sql.dialect.now;
  }

  /** Creates the tables on first use. Takes ownership of `sql` (closed by close()). */
  static async open(sql: SqlExecutor, options: SqlTaskDatabaseOptions = {}): Promise<SqlTaskDatabase> {
    const prefix = options.tablePrefix ?? 'synkti_pl';
    if (!PREFIX_PATTERN.test(prefix)) {
      await sql.close();
      throw new SynktiError(
        'E_TASKDB_OPTION',
        `tablePrefix: "${prefix}" must be lowercase letters, digits and _ (1..31, not starting with a digit)`,
        { hint: 'omit it for "synkti_pl"' },
      );
    }
    const db = new SqlTaskDatabase(sql, prefix);
    try {
      await sql.migrate(db.schema());
    } catch (cause) {
      await sql.close();
      throw new SynktiError('E_TASKDB_OPEN', `cannot create the task database tables (${prefix}_*) on ${sql.dialect.name}`, {
        cause,
        hint: 'check the connection and that the user may create tables',
      });
    }
    return db;
  }

  private schema(): string[] {
    const big = this.sql.dialect.bigint;
    return [
      `CREATE TABLE IF NOT EXISTS ${this.jobs} (
        id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, owner TEXT NOT NULL, stream TEXT NOT NULL, priority INTEGER NOT NULL,
        state TEXT NOT NULL, input TEXT, result TEXT, result_ref TEXT, error TEXT, open_tasks INTEGER NOT NULL,
        created_at ${big} NOT NULL, finished_at ${big})`,
      `CREATE INDEX IF NOT EXISTS ${this.jobs}_created ON ${this.jobs} (created_at, id)`,
      `CREATE TABLE IF NOT EXISTS ${this.tasks} (
        id TEXT PRIMARY KEY, job_id TEXT NOT NULL, task_key TEXT NOT NULL, type TEXT NOT NULL, state TEXT NOT NULL,
        input TEXT, result TEXT, result_ref TEXT, error TEXT, priority INTEGER NOT NULL, stream_rank INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, timeout_ms ${big} NOT NULL, deps TEXT NOT NULL,
        deps_left INTEGER NOT NULL, owner TEXT, claim_no INTEGER NOT NULL DEFAULT 0, progress INTEGER NOT NULL DEFAULT 0,
        heartbeat_at ${big}, created_at ${big} NOT NULL, finished_at ${big},
        duplicates INTEGER NOT NULL DEFAULT 0, requeues INTEGER NOT NULL DEFAULT 0, releases INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        UNIQUE (job_id, task_key))`,
      // Partial: only ready rows are in it, in claim order, so a claim reads the head of a small index.
      `CREATE INDEX IF NOT EXISTS ${this.tasks}_ready ON ${this.tasks} (type, stream_rank, priority DESC, created_at, id) WHERE state = 'ready'`,
      `CREATE INDEX IF NOT EXISTS ${this.tasks}_job ON ${this.tasks} (job_id, state)`,
      // The requeuer's sweep every few seconds reads running and pending rows only: it must not scan finished history.
      `CREATE INDEX IF NOT EXISTS ${this.tasks}_running ON ${this.tasks} (heartbeat_at) WHERE state = 'running'`,
      `CREATE INDEX IF NOT EXISTS ${this.tasks}_pending ON ${this.tasks} (id) WHERE state = 'pending'`,
      `CREATE INDEX IF NOT EXISTS ${this.jobs}_running ON ${this.jobs} (id) WHERE state = 'running'`,
      `CREATE TABLE IF NOT EXISTS ${this.deps} (task_id TEXT NOT NULL, dep_id TEXT NOT NULL, PRIMARY KEY (task_id, dep_id))`,
      `CREATE INDEX IF NOT EXISTS ${this.deps}_dep ON ${this.deps} (dep_id)`,
      `CREATE TABLE IF NOT EXISTS ${this.agents} (id TEXT PRIMARY KEY, pool TEXT NOT NULL, types TEXT NOT NULL,
        started_at ${big} NOT NULL, heartbeat_at ${big} NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${this.leases} (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at ${big} NOT NULL)`,
    ];
  }

  /** Inserts validated tasks for a job; returns how many. Deps on stored tasks that are done count as met. */
  private async insertTasks(tx: SqlRunner, jobId: string, streamRank: number, tasks: NewPipelineTask[]): Promise<number> {
    const stored = await tx.all(`SELECT id, task_key, state FROM ${this.tasks} WHERE job_id = ?`, [jobId]);
    const storedByKey = new Map(stored.map((r) => [String(r.task_key), { id: String(r.id), state: String(r.state) }]));
    const resolved = validateNewTasks(tasks, new Set(storedByKey.keys()));
    const ids = new Map(resolved.map((t) => [t.key, randomUUID()]));
    for (const task of resolved) {
      const id = ids.get(task.key)!;
      let left = 0;
      for (const dep of task.deps) {
        const storedDep = storedByKey.get(dep);
        if (!storedDep || storedDep.state !== 'done') left += 1;
      }
      await tx.run(
        `INSERT INTO ${this.tasks} (id, job_id, task_key, type, state, input, priority, stream_rank, max_attempts, timeout_ms,
          deps, deps_left, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ${this.now_})`,
        [
          id,
          jobId,
          task.key,
          task.type,
          left === 0 ? 'ready' : 'pending',
          task.input,
          task.priority,
          streamRank,
          task.maxAttempts,
          task.timeoutMs,
          JSON.stringify(task.deps),
          left,
        ],
      );
      for (const dep of task.deps) {
        await tx.run(`INSERT INTO ${this.deps} (task_id, dep_id) VALUES (?, ?)`, [id, ids.get(dep) ?? storedByKey.get(dep)!.id]);
      }
    }
    await tx.run(`UPDATE ${this.jobs} SET open_tasks = open_tasks + ? WHERE id = ?`, [resolved.length, jobId]);
    return resolved.length;
  }

  async createJob(job: NewPipelineJob): Promise<PipelineJobRecord> {
    if (typeof job.pipeline !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(job.pipeline)) {
      throw new SynktiError('E_TASK_INVALID', `pipeline: ${JSON.stringify(job.pipeline)} must be 1..100 letters, digits or ._-`, {
        hint: 'name the pipeline',
      });
    }
    if (!Array.isArray(job.tasks) || job.tasks.length === 0) {
      throw new SynktiError('E_TASK_INVALID', 'a job needs at least one task', { hint: 'pass tasks: [{ key, type }]' });
    }
    const stream = job.stream ?? 'best-effort';
    if (!JOB_STREAMS.includes(stream))
      throw new SynktiError('E_TASK_INVALID', `stream: "${String(stream)}" must be one of ${JOB_STREAMS.join(', ')}`, {
        hint: 'omit it for best-effort',
      });
    const priority = job.priority ?? 0;
    const owner = job.owner ?? 'local';
    const input = toJsonText(job.input, 'input');
    // Job priority is added to every task's, so a high-priority job's tasks go first within their stream.
    const tasks = job.tasks.map((t) => ({ ...t, priority: (t.priority ?? 0) + priority }));
    const id = randomUUID();
    await this.sql.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO ${this.jobs} (id, pipeline, owner, stream, priority, state, input, open_tasks, created_at)
        VALUES (?, ?, ?, ?, ?, 'running', ?, 0, ${this.now_})`,
        [id, job.pipeline, owner, stream, priority, input],
      );
      await this.insertTasks(tx, id, stream === 'reserved' ? 0 : 1, tasks);
    });
    return (await this.getJob(id))!;
  }

  async getJob(jobId: string): Promise<PipelineJobRecord | undefined> {
    const rows = await this.sql.all(`SELECT * FROM ${this.jobs} WHERE id = ?`, [jobId]);
    return rows[0] ? jobFromRow(rows[0]) : undefined;
  }

  async listJobs(request: JobListRequest = {}): Promise<PipelineJobRecord[]> {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (request.owner !== undefined) {
      where.push('owner = ?');
      params.push(request.owner);
    }
    if (request.state !== undefined) {
      where.push('state = ?');
      params.push(request.state);
    }
    if (request.pipeline !== undefined) {
      where.push('pipeline = ?');
      params.push(request.pipeline);
    }
    if (request.before !== undefined) {
      const cursor = await this.sql.all(`SELECT created_at FROM ${this.jobs} WHERE id = ?`, [request.before]);
      if (cursor[0]) {
        where.push('(created_at < CAST(? AS BIGINT) OR (created_at = CAST(? AS BIGINT) AND id < ?))');
        params.push(num(cursor[0].created_at), num(cursor[0].created_at), request.before);
      }
    }
    const limit = Math.max(1, Math.min(MAX_LIST, Math.floor(request.limit ?? 50)));
    const rows = await this.sql.all(
      `SELECT * FROM ${this.jobs}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC LIMIT ?`,
      [...params, limit],
    );
    return rows.map(jobFromRow);
  }

  async getTasks(jobId: string): Promise<PipelineTaskRecord[]> {
    const rows = await this.sql.all(`SELECT * FROM ${this.tasks} WHERE job_id = ? ORDER BY created_at, task_key`, [jobId]);
    return rows.map(taskFromRow);
  }

  async getTask(taskId: string): Promise<PipelineTaskRecord | undefined> {
    const rows = await this.sql.all(`SELECT * FROM ${this.tasks} WHERE id = ?`, [taskId]);
    return rows[0] ? taskFromRow(rows[0]) : undefined;
  }

  async getResults(
    jobId: string,
    keys: string[],
  ): Promise<Map<string, { result: Json; resultRef: string | null; state: PipelineTaskState }>> {
    const out = new Map<string, { result: Json; resultRef: string | null; state: PipelineTaskState }>();
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      const rows = await this.sql.all(
        `SELECT task_key, result, result_ref, state FROM ${this.tasks}
        WHERE job_id = ? AND task_key IN (${sqlPlaceholders(chunk.length)})`,
        [jobId, ...chunk],
      );
      for (const row of rows) {
        out.set(String(row.task_key), {
          result: parseJson(row.result),
          resultRef: row.result_ref === null || row.result_ref === undefined ? null : String(row.result_ref),
          state: String(row.state) as PipelineTaskState,
        });
      }
    }
    return out;
  }

  async stageCounts(jobId: string): Promise<StageCounts> {
    const rows = await this.sql.all(`SELECT type, state, COUNT(*) AS n FROM ${this.tasks} WHERE job_id = ? GROUP BY type, state`, [jobId]);
    const counts: StageCounts = {};
    for (const row of rows) (counts[String(row.type)] ??= {})[String(row.state) as PipelineTaskState] = num(row.n);
    return counts;
  }

  async cancelJob(jobId: string, reason = 'cancelled'): Promise<boolean> {
    return this.sql.transaction(async (tx) => {
      const changed = await tx.run(
        `UPDATE ${this.jobs} SET state = 'cancelled', error = ?, finished_at = ${this.now_}
        WHERE id = ? AND state = 'running'`,
        [clipPipelineError(reason), jobId],
      );
      if (changed === 0) return false;
      await tx.run(
        `UPDATE ${this.tasks} SET state = 'cancelled', finished_at = ${this.now_}
        WHERE job_id = ? AND state IN ('pending', 'ready', 'running')`,
        [jobId],
      );
      return true;
    });
  }

  async claim(request: ClaimRequest): Promise<ClaimedPipelineTask[]> {
    const types = [...new Set(request.types)];
    if (types.length === 0) return [];
    const limit = Math.max(1, Math.min(100, Math.floor(request.limit ?? 1)));
    const pick = `SELECT id FROM ${this.tasks} WHERE state = 'ready' AND type IN (${sqlPlaceholders(types.length)})
      ORDER BY stream_rank, priority DESC, created_at, id LIMIT ?`;
    const set = `state = 'running', owner = ?, attempts = attempts + 1, claim_no = claim_no + 1, heartbeat_at = ${this.now_}, progress = 0`;
    // PostgreSQL may re-run an IN (subquery ... LIMIT) per row and claim more than the limit: a materialised CTE runs it once.
    // On PostgreSQL the claim is one atomic statement: no BEGIN/COMMIT round trips around it.
    const rows =
      this.sql.dialect.name === 'postgres'
        ? await this.sql.all(
            `WITH picked AS MATERIALIZED (${pick}${this.sql.dialect.skipLocked})
          UPDATE ${this.tasks} SET ${set} FROM picked WHERE ${this.tasks}.id = picked.id RETURNING ${this.tasks}.*`,
            [...types, limit, request.agentId],
          )
        : await this.sql.transaction((tx) =>
            tx.all(`UPDATE ${this.tasks} SET ${set} WHERE state = 'ready' AND id IN (${pick}) RETURNING *`, [
              request.agentId,
              ...types,
              limit,
            ]),
          );
    return rows
      .map((row) => taskFromRow(row) as ClaimedPipelineTask)
      .sort((a, b) => (a.priority === b.priority ? a.createdAt - b.createdAt : b.priority - a.priority));
  }

  async heartbeat(agentId: string, entries: HeartbeatEntry[]): Promise<string[]> {
    const lost: string[] = [];
    for (const entry of entries) {
      const progress =
        entry.progress === undefined || !Number.isFinite(entry.progress)
          ? null
          : Math.round(Math.max(0, Math.min(1, entry.progress)) * 1000);
      const changed = await this.sql.run(
        `UPDATE ${this.tasks} SET heartbeat_at = ${this.now_}, progress = COALESCE(CAST(? AS INTEGER), progress)
        WHERE id = ? AND claim_no = ? AND owner = ? AND state = 'running'`,
        [progress, entry.taskId, entry.claim, agentId],
      );
      if (changed === 0) lost.push(entry.taskId);
    }
    return lost;
  }

  /** Locks and reads one task row inside a transaction. */
  private async lockTask(tx: SqlRunner, taskId: string): Promise<SqlRow | undefined> {
    const rows = await tx.all(
      `SELECT id, job_id, task_key, type, state, attempts, max_attempts, claim_no, owner, timeout_ms
      FROM ${this.tasks} WHERE id = ?${this.sql.dialect.forUpdate}`,
      [taskId],
    );
    return rows[0];
  }

  /** The task failed for good: so does its job, with the reason; its other unfinished tasks are cancelled. */
  private async failForGood(tx: SqlRunner, task: SqlRow, error: string): Promise<void> {
    const attempts = num(task.attempts);
    const reason = clipPipelineError(
      `task ${String(task.task_key)} (${String(task.type)}) failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${error}`,
    );
    await tx.run(`UPDATE ${this.tasks} SET state = 'failed', error = ?, finished_at = ${this.now_} WHERE id = ?`, [
      clipPipelineError(error),
      String(task.id),
    ]);
    const jobChanged = await tx.run(
      `UPDATE ${this.jobs} SET state = 'failed', error = ?, finished_at = ${this.now_} WHERE id = ? AND state = 'running'`,
      [reason, String(task.job_id)],
    );
    if (jobChanged > 0) {
      await tx.run(
        `UPDATE ${this.tasks} SET state = 'cancelled', finished_at = ${this.now_}
        WHERE job_id = ? AND state IN ('pending', 'ready', 'running')`,
        [String(task.job_id)],
      );
    }
  }

  /**
   * PostgreSQL, no children: the whole completion in one statement (data-modifying CTEs),
   * one round trip instead of seven. The job row's lock orders concurrent last completions;
   * each re-reads the updated row, so exactly one sees open_tasks reach 0.
   */
  private async completeInOneStatement(request: CompleteRequest, result: string): Promise<CompleteOutcome> {
    const rows = await this.sql.all(
      `WITH done AS (
        UPDATE ${this.tasks} SET state = 'done', result = ?, result_ref = ?, error = NULL, finished_at = ${this.now_}, progress = 1000, owner = ?
        WHERE id = ? AND state IN ('pending', 'ready', 'running') AND claim_no >= CAST(? AS INTEGER) AND CAST(? AS INTEGER) >= 1
        RETURNING id, job_id),
      dependents AS (
        UPDATE ${this.tasks} SET deps_left = deps_left - 1, state = CASE WHEN state = 'pending' AND deps_left <= 1 THEN 'ready' ELSE state END
        WHERE id IN (SELECT d.task_id FROM ${this.deps} d JOIN done ON d.dep_id = done.id) RETURNING 1),
      job AS (
        UPDATE ${this.jobs} SET open_tasks = open_tasks - 1,
          state = CASE WHEN open_tasks <= 1 AND state = 'running' THEN 'done' ELSE state END,
          result = CASE WHEN open_tasks <= 1 AND state = 'running' THEN ? ELSE result END,
          result_ref = CASE WHEN open_tasks <= 1 AND state = 'running' THEN ? ELSE result_ref END,
          finished_at = CASE WHEN open_tasks <= 1 AND state = 'running' THEN ${this.now_} ELSE finished_at END
        WHERE id IN (SELECT job_id FROM done) RETURNING 1)
      SELECT (SELECT COUNT(*) FROM done) AS done, (SELECT COUNT(*) FROM dependents) AS dependents, (SELECT COUNT(*) FROM job) AS jobs`,
      [result, request.resultRef ?? null, request.agentId, request.taskId, request.claim, request.claim, result, request.resultRef ?? null],
    );
    if (num(rows[0]?.done) > 0) return 'done';
    const duplicate = await this.sql.run(
      `UPDATE ${this.tasks} SET duplicates = duplicates + 1
      WHERE id = ? AND state = 'done' AND claim_no >= CAST(? AS INTEGER) AND CAST(? AS INTEGER) >= 1`,
      [request.taskId, request.claim, request.claim],
    );
    return duplicate > 0 ? 'duplicate' : 'gone';
  }

  async complete(request: CompleteRequest): Promise<CompleteOutcome> {
    const result = toJsonText(request.result, 'result');
    if (this.sql.dialect.name === 'postgres' && !(request.spawn && request.spawn.length > 0))
      return this.completeInOneStatement(request, result);
    return this.sql.transaction(async (tx) => {
      const task = await this.lockTask(tx, request.taskId);
      if (!task || request.claim < 1 || request.claim > num(task.claim_no)) return 'gone';
      const state = String(task.state);
      if (state === 'done') {
        await tx.run(`UPDATE ${this.tasks} SET duplicates = duplicates + 1 WHERE id = ?`, [request.taskId]);
        return 'duplicate';
      }
      if (TERMINAL.has(state)) return 'gone';
      // A late result from an earlier claim is as good as the current one: first completion wins.
      await tx.run(
        `UPDATE ${this.tasks} SET state = 'done', result = ?, result_ref = ?, error = NULL, finished_at = ${this.now_},
        progress = 1000, owner = ? WHERE id = ?`,
        [result, request.resultRef ?? null, request.agentId, request.taskId],
      );
      const jobId = String(task.job_id);
      // Dependents first: children spawned below already see this task done.
      await tx.run(
        `UPDATE ${this.tasks} SET deps_left = deps_left - 1,
          state = CASE WHEN state = 'pending' AND deps_left <= 1 THEN 'ready' ELSE state END
        WHERE id IN (SELECT task_id FROM ${this.deps} WHERE dep_id = ?)`,
        [request.taskId],
      );
      if (request.spawn && request.spawn.length > 0) {
        const jobRows = await tx.all(`SELECT stream, priority FROM ${this.jobs} WHERE id = ?`, [jobId]);
        const jobPriority = num(jobRows[0]?.priority);
        // Children inherit the job's priority and stream, like the job's first tasks.
        await this.insertTasks(
          tx,
          jobId,
          jobRows[0]?.stream === 'reserved' ? 0 : 1,
          request.spawn.map((t) => ({ ...t, priority: (t.priority ?? 0) + jobPriority })),
        );
      }
      const left = await tx.all(`UPDATE ${this.jobs} SET open_tasks = open_tasks - 1 WHERE id = ? RETURNING open_tasks, state`, [jobId]);
      if (left[0] && num(left[0].open_tasks) <= 0 && left[0].state === 'running') {
        await tx.run(`UPDATE ${this.jobs} SET state = 'done', result = ?, result_ref = ?, finished_at = ${this.now_} WHERE id = ?`, [
          result,
          request.resultRef ?? null,
          jobId,
        ]);
      }
      return 'done';
    });
  }

  async fail(request: FailRequest): Promise<FailOutcome> {
    return this.sql.transaction(async (tx) => {
      const task = await this.lockTask(tx, request.taskId);
      if (!task || String(task.state) !== 'running' || num(task.claim_no) !== request.claim || task.owner !== request.agentId)
        return 'stale';
      const error = clipPipelineError(request.error);
      if (request.retryable !== false && num(task.attempts) < num(task.max_attempts)) {
        await tx.run(`UPDATE ${this.tasks} SET state = 'ready', error = ?, retries = retries + 1 WHERE id = ?`, [error, request.taskId]);
        return 'retry';
      }
      await this.failForGood(tx, task, error);
      return 'failed';
    });
  }

  async release(taskId: string, claim: number, agentId: string): Promise<boolean> {
    const changed = await this.sql.run(
      `UPDATE ${this.tasks} SET state = 'ready', attempts = attempts - 1, releases = releases + 1
      WHERE id = ? AND claim_no = ? AND owner = ? AND state = 'running'`,
      [taskId, claim, agentId],
    );
    return changed > 0;
  }

  async agentHeartbeat(agent: AgentRegistration): Promise<void> {
    await this.sql.run(
      `INSERT INTO ${this.agents} (id, pool, types, started_at, heartbeat_at) VALUES (?, ?, ?, ${this.now_}, ${this.now_})
      ON CONFLICT (id) DO UPDATE SET pool = excluded.pool, types = excluded.types, heartbeat_at = excluded.heartbeat_at`,
      [agent.id, agent.pool, JSON.stringify(agent.types)],
    );
  }

  async agentLeave(agentId: string): Promise<void> {
    await this.sql.run(`DELETE FROM ${this.agents} WHERE id = ?`, [agentId]);
  }

  async liveAgents(ttlMs: number): Promise<LiveAgent[]> {
    const rows = await this.sql.all(`SELECT * FROM ${this.agents} WHERE heartbeat_at >= ${this.now_} - CAST(? AS BIGINT) ORDER BY id`, [
      Math.round(ttlMs),
    ]);
    return rows.map((row) => ({
      id: String(row.id),
      pool: String(row.pool),
      types: (parseJson(row.types) as string[] | null) ?? [],
      heartbeatAt: num(row.heartbeat_at),
      startedAt: num(row.started_at),
    }));
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const changed = await this.sql.run(
      `INSERT INTO ${this.leases} (name, holder, expires_at) VALUES (?, ?, ${this.now_} + CAST(? AS BIGINT))
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
      WHERE ${this.leases}.holder = excluded.holder OR ${this.leases}.expires_at < ${this.now_}`,
      [name, holder, Math.round(ttlMs)],
    );
    return changed > 0;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.sql.run(`DELETE FROM ${this.leases} WHERE name = ? AND holder = ?`, [name, holder]);
  }

  async leaseHolder(name: string): Promise<{ holder: string; expiresAt: number } | undefined> {
    const rows = await this.sql.all(`SELECT holder, expires_at FROM ${this.leases} WHERE name = ? AND expires_at >= ${this.now_}`, [name]);
    return rows[0] ? { holder: String(rows[0].holder), expiresAt: num(rows[0].expires_at) } : undefined;
  }

  async sweep(): Promise<SweepResult> {
    const out: SweepResult = { requeued: 0, failed: 0, repaired: 0, jobsRepaired: 0 };
    await this.sql.transaction(async (tx) => {
      const stale =
        await tx.all(`SELECT id, job_id, task_key, type, state, attempts, max_attempts, claim_no, owner, timeout_ms FROM ${this.tasks}
        WHERE state = 'running' AND heartbeat_at < ${this.now_} - timeout_ms LIMIT 1000${this.sql.dialect.skipLocked}`);
      for (const task of stale) {
        const why = `no heartbeat for ${num(task.timeout_ms)} ms on attempt ${num(task.attempts)} (agent ${String(task.owner)} lost or stuck)`;
        if (num(task.attempts) >= num(task.max_attempts)) {
          await this.failForGood(tx, task, why);
          out.failed += 1;
        } else {
          await tx.run(`UPDATE ${this.tasks} SET state = 'ready', requeues = requeues + 1, error = ? WHERE id = ? AND state = 'running'`, [
            why,
            String(task.id),
          ]);
          out.requeued += 1;
        }
      }
    });
    out.repaired = await this.sql.transaction((tx) =>
      tx.run(`UPDATE ${this.tasks} SET state = 'ready', deps_left = 0
      WHERE state = 'pending' AND NOT EXISTS (SELECT 1 FROM ${this.deps} d JOIN ${this.tasks} x ON x.id = d.dep_id
        WHERE d.task_id = ${this.tasks}.id AND x.state <> 'done')`),
    );
    out.jobsRepaired = await this.sql.transaction(async (tx) => {
      const jobs = await tx.all(`SELECT id FROM ${this.jobs} j WHERE state = 'running'
        AND NOT EXISTS (SELECT 1 FROM ${this.tasks} t WHERE t.job_id = j.id AND t.state <> 'done') LIMIT 1000`);
      for (const job of jobs) {
        const last = await tx.all(`SELECT result, result_ref FROM ${this.tasks} WHERE job_id = ? ORDER BY finished_at DESC LIMIT 1`, [
          String(job.id),
        ]);
        await tx.run(
          `UPDATE ${this.jobs} SET state = 'done', open_tasks = 0, result = ?, result_ref = ?, finished_at = ${this.now_}
          WHERE id = ? AND state = 'running'`,
          [(last[0]?.result as string | null) ?? 'null', (last[0]?.result_ref as string | null) ?? null, String(job.id)],
        );
      }
      return jobs.length;
    });
    return out;
  }

  async counters(): Promise<PipelineCounters> {
    const rows = await this.sql.all(`SELECT COALESCE(SUM(duplicates), 0) AS duplicates, COALESCE(SUM(requeues), 0) AS requeues,
      COALESCE(SUM(releases), 0) AS releases, COALESCE(SUM(retries), 0) AS retries,
      COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) AS failures,
      COALESCE(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0) AS completions FROM ${this.tasks}`);
    const row = rows[0] ?? {};
    return {
      duplicates: num(row.duplicates),
      requeues: num(row.requeues),
      releases: num(row.releases),
      retries: num(row.retries),
      failures: num(row.failures),
      completions: num(row.completions),
    };
  }

  async totals(): Promise<{ tasks: Partial<Record<PipelineTaskState, number>>; jobs: Partial<Record<PipelineJobState, number>> }> {
    const tasks: Partial<Record<PipelineTaskState, number>> = {};
    const jobs: Partial<Record<PipelineJobState, number>> = {};
    for (const row of await this.sql.all(`SELECT state, COUNT(*) AS n FROM ${this.tasks} GROUP BY state`))
      tasks[String(row.state) as PipelineTaskState] = num(row.n);
    for (const row of await this.sql.all(`SELECT state, COUNT(*) AS n FROM ${this.jobs} GROUP BY state`))
      jobs[String(row.state) as PipelineJobState] = num(row.n);
    return { tasks, jobs };
  }

  async queueDepth(): Promise<Record<string, { ready: number; running: number }>> {
    const out: Record<string, { ready: number; running: number }> = {};
    for (const row of await this.sql.all(
      `SELECT type, state, COUNT(*) AS n FROM ${this.tasks} WHERE state IN ('ready', 'running') GROUP BY type, state`,
    )) {
      const entry = (out[String(row.type)] ??= { ready: 0, running: 0 });
      if (row.state === 'ready') entry.ready = num(row.n);
      else entry.running = num(row.n);
    }
    return out;
  }

  async now(): Promise<number> {
    const rows = await this.sql.all(`SELECT ${this.now_} AS now`);
    return num(rows[0]?.now);
  }

  async close(): Promise<void> {
    await this.sql.close();
  }
}
