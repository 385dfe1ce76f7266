/**
 * The task database behind pipelines: jobs made of typed tasks that form a DAG, claimed
 * by agents of typed pools. One interface, two backends (SQLite locally, PostgreSQL in
 * production) that pass one conformance suite.
 *
 * Task life: pending (waits for dependencies) → ready → running (claimed by one agent,
 * kept alive by heartbeats) → done | failed; cancelled when its job is. A running task
 * whose heartbeat is older than its timeout goes back to ready (the requeuer), and fails
 * for good only after `maxAttempts` claims; then its job fails with the reason.
 */
import type { TaskAttemptOutcome } from '@synkti/core/contracts';

export const TASK_STATES = ['pending', 'ready', 'running', 'done', 'failed', 'cancelled'] as const;
export type PipelineTaskState = (typeof TASK_STATES)[number];

export const JOB_STATES = ['running', 'done', 'failed', 'cancelled'] as const;
export type PipelineJobState = (typeof JOB_STATES)[number];

/** Reserved jobs' tasks are claimed before best-effort ones (per-owner capacity classes). */
export const JOB_STREAMS = ['reserved', 'best-effort'] as const;
export type PipelineJobStream = (typeof JOB_STREAMS)[number];

/** JSON values: what task inputs and results are. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A task to create (with a job, or spawned by a running task). */
export interface NewPipelineTask {
  /** Unique within the job: 1..200 of letters, digits and `._:/-`. Dependencies name tasks by key. */
  key: string;
  /** Task type (`<pipeline>.<stage>`); agents claim by type. */
  type: string;
  /** @default null */
  input?: Json | undefined;
  /** Keys of tasks of the same job (existing, or created in the same call) this one waits for. @default [] */
  deps?: string[] | undefined;
  /** Higher is claimed first (within a stream). @default 0 */
  priority?: number | undefined;
  /** Claims before the task fails for good. @default 3 */
  maxAttempts?: number | undefined;
  /** A running task whose last heartbeat is older than this goes back to ready. @default 30000 */
  timeoutMs?: number | undefined;
}

export interface NewPipelineJob {
  /** Pipeline name (for listing and for the agent that knows its stages). */
  pipeline: string;
  /** Who submitted it (API key owner). @default "local" */
  owner?: string | undefined;
  /** @default "best-effort" */
  stream?: PipelineJobStream | undefined;
  /** @default 0 */
  priority?: number | undefined;
  /** @default null */
  input?: Json | undefined;
  /** At least one task. */
  tasks: NewPipelineTask[];
}

export interface PipelineJobRecord {
  id: string;
  pipeline: string;
  owner: string;
  stream: PipelineJobStream;
  priority: number;
  state: PipelineJobState;
  input: Json;
  /** Result of the task that completed last (the sink of a single-sink DAG). */
  result: Json;
  /** Object-store key of that task's result, when it was too big to keep inline. */
  resultRef: string | null;
  /** Why it failed or was cancelled. */
  error: string | null;
  /** Tasks not done yet. */
  openTasks: number;
  createdAt: number;
  finishedAt: number | null;
}

export interface PipelineTaskRecord {
  id: string;
  jobId: string;
  key: string;
  type: string;
  state: PipelineTaskState;
  input: Json;
  result: Json;
  resultRef: string | null;
  error: string | null;
  priority: number;
  /** Claims that count against `maxAttempts` (a hand-back on a spot notice does not count). */
  attempts: number;
  maxAttempts: number;
  timeoutMs: number;
  /** Keys of the tasks it depends on. */
  deps: string[];
  /** Agent holding it while running (the last holder otherwise). */
  owner: string | null;
  /** Increases on every claim; a completion names the claim it comes from. */
  claim: number;
  /** 0..1, reported with heartbeats. */
  progress: number;
  heartbeatAt: number | null;
  createdAt: number;
  finishedAt: number | null;
}

/** A task an agent holds: complete/fail/heartbeat/release name it by (id, claim). */
export interface ClaimedPipelineTask extends PipelineTaskRecord {
  state: 'running';
  owner: string;
}

export interface ClaimRequest {
  /** The claiming agent. */
  agentId: string;
  /** Task types this agent can run (its pool's). */
  types: string[];
  /** Most tasks to claim at once. @default 1 */
  limit?: number | undefined;
}

export interface CompleteRequest {
  taskId: string;
  claim: number;
  agentId: string;
  result?: Json | undefined;
  resultRef?: string | null | undefined;
  /** Child tasks created by this task (fan-out), committed atomically with the completion. */
  spawn?: NewPipelineTask[] | undefined;
}

/**
 * `done`: recorded. `duplicate`: the task was already done (another claim finished it
 * first): discarded and counted. `gone`: the task was failed or cancelled meanwhile.
 */
export type CompleteOutcome = 'done' | 'duplicate' | 'gone';

export interface FailRequest {
  taskId: string;
  claim: number;
  agentId: string;
  error: string;
  /** False: fail for good now (a permanent error), whatever the attempts left. @default true */
  retryable?: boolean | undefined;
}

/** `retry`: back to ready. `failed`: failed for good (and its job). `stale`: not this claim's any more. */
/** The one definition is the log-event contract's (alarms match on it). */
export type FailOutcome = TaskAttemptOutcome;

export interface HeartbeatEntry {
  taskId: string;
  claim: number;
  /** 0..1 */
  progress?: number | undefined;
}

export interface AgentRegistration {
  id: string;
  pool: string;
  types: string[];
}

export interface LiveAgent extends AgentRegistration {
  heartbeatAt: number;
  startedAt: number;
}

export interface SweepResult {
  /** Running tasks with a stale heartbeat that went back to ready. */
  requeued: number;
  /** Stale tasks out of attempts: failed (with their jobs). */
  failed: number;
  /** Pending tasks whose dependencies were all done: made ready. */
  repaired: number;
  /** Jobs whose tasks were all done but that were not marked done: finished. */
  jobsRepaired: number;
}

export interface PipelineCounters {
  /** Completions discarded because the task was already done. */
  duplicates: number;
  /** Stale running tasks put back to ready by the requeuer. */
  requeues: number;
  /** Tasks handed back by their agent (spot notice, shutdown). */
  releases: number;
  /** Handler failures that were retried. */
  retries: number;
  /** Tasks failed for good. */
  failures: number;
  /** Completions recorded. */
  completions: number;
}

export interface JobListRequest {
  owner?: string | undefined;
  state?: PipelineJobState | undefined;
  pipeline?: string | undefined;
  /** @default 50 */
  limit?: number | undefined;
  /** Jobs created before this job id's creation (pagination cursor, newest first). */
  before?: string | undefined;
}

/** Per task type, how many tasks are in each state. */
export type StageCounts = Record<string, Partial<Record<PipelineTaskState, number>>>;

export interface TaskDatabase {
  /** "sqlite" or "postgres". */
  readonly backend: string;
  createJob(job: NewPipelineJob): Promise<PipelineJobRecord>;
  getJob(jobId: string): Promise<PipelineJobRecord | undefined>;
  listJobs(request?: JobListRequest): Promise<PipelineJobRecord[]>;
  getTasks(jobId: string): Promise<PipelineTaskRecord[]>;
  getTask(taskId: string): Promise<PipelineTaskRecord | undefined>;
  /** Results (and refs) of a job's tasks by key, for handlers that read their dependencies. */
  getResults(jobId: string, keys: string[]): Promise<Map<string, { result: Json; resultRef: string | null; state: PipelineTaskState }>>;
  stageCounts(jobId: string): Promise<StageCounts>;
  /** Cancels the job and its unfinished tasks; false when it had already finished. */
  cancelJob(jobId: string, reason?: string): Promise<boolean>;
  /** Claims ready tasks of the given types: reserved stream first, then priority, then age. Never the same task twice. */
  claim(request: ClaimRequest): Promise<ClaimedPipelineTask[]>;
  /** Keeps the agent's running tasks alive; returns the ids it no longer holds (stop working on them). */
  heartbeat(agentId: string, entries: HeartbeatEntry[]): Promise<string[]>;
  complete(request: CompleteRequest): Promise<CompleteOutcome>;
  fail(request: FailRequest): Promise<FailOutcome>;
  /** Hands a running task back (ready at once, the claim not counted as an attempt). False when not held. */
  release(taskId: string, claim: number, agentId: string): Promise<boolean>;
  /** Registers or refreshes an agent in the membership view. */
  agentHeartbeat(agent: AgentRegistration): Promise<void>;
  /** Removes an agent from the membership view (clean shutdown). */
  agentLeave(agentId: string): Promise<void>;
  /** Agents whose last heartbeat is younger than `ttlMs`. */
  liveAgents(ttlMs: number): Promise<LiveAgent[]>;
  /**
   * Takes or renews the named lease for `holder` for `ttlMs`: true when `holder` holds it
   * now (it was free, expired, or already its own).
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` holds it. */
  releaseLease(name: string, holder: string): Promise<void>;
  leaseHolder(name: string): Promise<{ holder: string; expiresAt: number } | undefined>;
  /** The requeuer's pass (see SweepResult). Safe to run concurrently, but meant for one node at a time. */
  sweep(): Promise<SweepResult>;
  counters(): Promise<PipelineCounters>;
  /** Counts of tasks by state across all jobs, and jobs by state (for /metrics). */
  totals(): Promise<{ tasks: Partial<Record<PipelineTaskState, number>>; jobs: Partial<Record<PipelineJobState, number>> }>;
  /** Ready and running (claimed) tasks per task type, over all jobs (queue depth for autoscaling). */
  queueDepth(): Promise<Record<string, { ready: number; running: number }>>;
  /** The database clock, epoch ms (what heartbeats and leases are measured with). */
  now(): Promise<number>;
  close(): Promise<void>;
}
