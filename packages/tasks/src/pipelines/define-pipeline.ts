/**
 * `definePipeline`: a pipeline is named stages, each a task type run by one agent pool
 * (CPU "exec", "gpu", "snark", ...), with a TypeScript handler. A handler may spawn child
 * tasks (fan-out) and joins over them (fan-in: a task with deps runs when all are done).
 * Task types in the database are `<pipeline>.<stage>`.
 */
import type { ObjectStore } from '@synkti/cloud';
import { SynktiError, parseDuration } from '@synkti/core';
import { DEFAULT_TASK_MAX_ATTEMPTS, DEFAULT_TASK_TIMEOUT_MS } from './task-validation.ts';
import type { ClaimedPipelineTask, Json, NewPipelineTask } from './types.ts';

/** A task to create, named by stage (the pipeline turns it into a typed task). */
export interface StageTask {
  /** Unique within the job, e.g. "chunk-3". */
  key: string;
  /** A stage of this pipeline. */
  stage: string;
  input?: Json | undefined;
  /** Keys of tasks of the job this one waits for (fan-in). */
  deps?: string[] | undefined;
  /** Overrides the stage's priority. */
  priority?: number | undefined;
}

export interface PipelineTaskContext {
  readonly pipeline: string;
  readonly stage: string;
  readonly task: ClaimedPipelineTask;
  readonly input: Json;
  /** 1 on the first attempt. */
  readonly attempt: number;
  /** Aborted when the task is lost (requeued, cancelled), released (spot notice) or the agent stops. */
  readonly signal: AbortSignal;
  /** The job's input. */
  jobInput(): Promise<Json>;
  /** Results of this task's dependencies by key (results kept in the object store are fetched). */
  deps(): Promise<Record<string, Json>>;
  /** Reports progress (0..1); sent with the next heartbeat. */
  progress(fraction: number): void;
  /** Creates child tasks when this task completes (atomically with its result; dropped if the completion is a duplicate). */
  spawn(tasks: StageTask | StageTask[]): void;
  /** The agent's object store for big data, or undefined when it has none. */
  readonly store: { store: ObjectStore; bucket: string } | undefined;
}

export type StageHandler = (ctx: PipelineTaskContext) => Promise<Json | void> | Json | void;

export interface PipelineStageInput {
  /** Agent pool that runs this stage. */
  pool: string;
  handler: StageHandler;
  /**
   * No heartbeat for this long → the task goes back to ready.
   * @default "30s"
   */
  timeout?: string | number | undefined;
  /** @default 3 */
  maxAttempts?: number | undefined;
  /** @default 0 */
  priority?: number | undefined;
}

export interface PipelineInput {
  /** 1..60 letters, digits, "_" or "-". */
  name: string;
  /** Stages by name (1..60 letters, digits, "_" or "-"). */
  stages: Record<string, PipelineStageInput>;
  /**
   * The tasks a new job starts with.
   * @default one task "start" of the first stage, with the job's input
   */
  start?: ((input: Json) => StageTask[]) | undefined;
  /** Checks a job's input (throw to refuse it; the API answers 400 with the message). @default accept any JSON */
  validateInput?: ((input: unknown) => Json) | undefined;
}

export interface PipelineStage {
  name: string;
  type: string;
  pool: string;
  handler: StageHandler;
  timeoutMs: number;
  maxAttempts: number;
  priority: number;
}

export interface Pipeline {
  readonly name: string;
  readonly stages: ReadonlyMap<string, PipelineStage>;
  /** Pools named by the stages. */
  pools(): string[];
  /** Task types a pool runs. */
  typesForPool(pool: string): string[];
  stageForType(type: string): PipelineStage | undefined;
  /** Validated input and the first tasks of a new job. */
  jobTasks(input: unknown): { input: Json; tasks: NewPipelineTask[] };
  toTask(task: StageTask): NewPipelineTask;
}

const NAME = /^[A-Za-z0-9_-]{1,60}$/;

function bad(message: string, hint: string): SynktiError {
  return new SynktiError('E_PIPELINE_INVALID', message, { hint });
}

/** Thrown by a handler for an error no retry can fix: the task (and its job) fail at once. */
export class PermanentTaskError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentTaskError';
  }
}

export function definePipeline(input: PipelineInput): Pipeline {
  if (!NAME.test(input.name)) throw bad(`pipeline name "${input.name}" must be 1..60 letters, digits, _ or -`, 'rename it');
  const entries = Object.entries(input.stages ?? {});
  if (entries.length === 0) throw bad(`pipeline ${input.name} has no stages`, 'add stages: { split: { pool, handler } }');
  const stages = new Map<string, PipelineStage>();
  for (const [name, stage] of entries) {
    if (!NAME.test(name)) throw bad(`stage name "${name}" must be 1..60 letters, digits, _ or -`, 'rename it');
    if (typeof stage.pool !== 'string' || !NAME.test(stage.pool))
      throw bad(`stage ${name}: pool "${String(stage.pool)}" must be 1..60 letters, digits, _ or -`, 'name a pool, e.g. "exec"');
    if (typeof stage.handler !== 'function') throw bad(`stage ${name} has no handler function`, 'give handler: async (ctx) => result');
    const timeoutMs = stage.timeout === undefined ? DEFAULT_TASK_TIMEOUT_MS : parseDuration(stage.timeout, `stages.${name}.timeout`);
    const maxAttempts = stage.maxAttempts ?? DEFAULT_TASK_MAX_ATTEMPTS;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 100)
      throw bad(`stage ${name}: maxAttempts ${maxAttempts} must be 1..100`, 'omit it for 3');
    stages.set(name, {
      name,
      type: `${input.name}.${name}`,
      pool: stage.pool,
      handler: stage.handler,
      timeoutMs,
      maxAttempts,
      priority: stage.priority ?? 0,
    });
  }
  const byType = new Map([...stages.values()].map((s) => [s.type, s]));
  const first = entries[0]![0];
  const toTask = (task: StageTask): NewPipelineTask => {
    const stage = stages.get(task.stage);
    if (!stage)
      throw bad(`task ${task.key}: pipeline ${input.name} has no stage "${task.stage}"`, `use one of ${[...stages.keys()].join(', ')}`);
    return {
      key: task.key,
      type: stage.type,
      input: task.input ?? null,
      deps: task.deps ?? [],
      priority: task.priority ?? stage.priority,
      maxAttempts: stage.maxAttempts,
      timeoutMs: stage.timeoutMs,
    };
  };
  return {
    name: input.name,
    stages,
    pools: () => [...new Set([...stages.values()].map((s) => s.pool))],
    typesForPool: (pool) => [...stages.values()].filter((s) => s.pool === pool).map((s) => s.type),
    stageForType: (type) => byType.get(type),
    jobTasks: (raw) => {
      const jobInput = input.validateInput ? input.validateInput(raw) : (raw as Json);
      const tasks = input.start ? input.start(jobInput) : [{ key: 'start', stage: first, input: jobInput }];
      return { input: jobInput, tasks: tasks.map(toTask) };
    },
    toTask,
  };
}
