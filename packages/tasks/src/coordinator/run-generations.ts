/**
 * The generation loop around a coordinator: ask → evaluate on the fleet → tell →
 * checkpoint, for any seeded ask/tell optimizer (CMA-ES is the flagship). Because the
 * checkpoint holds the optimizer's full state and the optimizer is deterministic, a run
 * resumed from it asks the same candidates and ends with the same result as a run that
 * was never interrupted.
 */
import { SynktiError, isSynktiError } from '@synkti/core';
import type { Coordinator, CoordinatorCheckpoint, CoordinatorCounters, CoordinatorMetrics, GenerationRecord } from './types.ts';

/** An ask/tell optimizer whose state is plain JSON (e.g. CmaEs). */
export interface AskTellOptimizer<S> {
  /** The current generation's candidates (the same until `tell`). */
  ask(): unknown[];
  /** Scores in candidate order (lower is better). */
  tell(scores: readonly number[]): void;
  /** Full state; `restore(toState())` continues exactly. */
  toState(): S;
  /** Why the optimizer would stop now, if it would. */
  stopReason?(): string | undefined;
}

export interface GenerationReport<S> {
  /** Generations completed (this one included). */
  generation: number;
  /** Best score of this generation. */
  bestScore: number;
  ms: number;
  optimizer: AskTellOptimizer<S>;
  counters: CoordinatorCounters;
  metrics: CoordinatorMetrics;
}

export interface RunGenerationsOptions<S, M> {
  coordinator: Coordinator;
  /** Generations to run in total (resumed ones included). */
  generations: number;
  /** A fresh optimizer. */
  create: () => AskTellOptimizer<S>;
  /** An optimizer continued from a checkpoint. */
  restore: (state: S) => AskTellOptimizer<S>;
  /** Run metadata saved in the checkpoint (what was asked: objective, dimension, seed...). */
  meta: M;
  /**
   * Continue from the run's checkpoint (it must exist); without it the run must be new.
   * @default false
   */
  resume?: boolean | undefined;
  /**
   * Called with the saved metadata on resume; throw to refuse (e.g. other settings).
   * @default accept
   */
  checkResume?: ((saved: M) => void) | undefined;
  /**
   * Stop early when the optimizer gives a stop reason.
   * @default true
   */
  honourStopReason?: boolean | undefined;
  /** Called after each generation's checkpoint is saved. */
  onGeneration?: ((report: GenerationReport<S>) => void) | undefined;
}

export interface RunGenerationsResult<S, M> {
  checkpoint: CoordinatorCheckpoint<S, M>;
  optimizer: AskTellOptimizer<S>;
  /** Candidates never scored and not dead-lettered (0 unless something is badly wrong). */
  lostTasks: number;
  /** True when this call resumed a checkpoint. */
  resumed: boolean;
}

export async function runGenerations<S, M>(options: RunGenerationsOptions<S, M>): Promise<RunGenerationsResult<S, M>> {
  const { coordinator } = options;
  if (!Number.isInteger(options.generations) || options.generations < 1) {
    throw new SynktiError('E_COORDINATOR_USAGE', `generations: ${options.generations} must be a positive integer`, {
      hint: 'pass e.g. 100',
    });
  }
  const saved = await coordinator.loadCheckpoint<S, M>({ adopt: options.resume === true });
  let optimizer: AskTellOptimizer<S>;
  let generation: number;
  let history: GenerationRecord[];
  let createdAt: number | undefined;
  if (options.resume) {
    if (!saved) {
      throw new SynktiError('E_RUN_NOT_FOUND', `run ${coordinator.run} has no checkpoint at ${coordinator.checkpointKey}`, {
        hint: 'check the run id (`synkti batch status`) and the state directory/backend',
      });
    }
    options.checkResume?.(saved.meta);
    optimizer = options.restore(saved.optimizer);
    generation = saved.generation;
    history = [...saved.history];
    createdAt = saved.createdAt;
    // A finished run is reported as it is; one asked for more generations continues.
    if (saved.status === 'cancelled' || (saved.status === 'done' && saved.generation >= options.generations)) {
      return { checkpoint: saved, optimizer, lostTasks: coordinator.lostTasks(), resumed: true };
    }
  } else {
    if (saved) {
      throw new SynktiError(
        'E_RUN_EXISTS',
        `run ${coordinator.run} already has a checkpoint (generation ${saved.generation}, ${saved.status})`,
        {
          hint: `continue it with --resume ${coordinator.run}, or start a run with another id`,
        },
      );
    }
    optimizer = options.create();
    generation = 0;
    history = [];
  }
  // Generation 0's checkpoint: a crash during the first generation is resumable too.
  // The state at the start of the generation in progress: what a stop mid-generation saves
  // (after ask() the optimizer's own state may have moved on, e.g. its random generator).
  let startState = optimizer.toState();
  let checkpoint = await coordinator.saveCheckpoint({
    status: 'running',
    generation,
    optimizer: startState,
    meta: options.meta,
    history,
    createdAt,
  });
  createdAt = checkpoint.createdAt;
  let stopReason: string | undefined;
  try {
    while (generation < options.generations) {
      stopReason = options.honourStopReason === false ? undefined : optimizer.stopReason?.();
      if (stopReason) break;
      const started = Date.now();
      const scores = await coordinator.evaluate(generation, optimizer.ask());
      optimizer.tell(scores);
      generation += 1;
      const record: GenerationRecord = { generation, bestScore: Math.min(...scores), ms: Date.now() - started };
      history.push(record);
      const done = generation >= options.generations;
      startState = optimizer.toState();
      checkpoint = await coordinator.saveCheckpoint({
        status: done ? 'done' : 'running',
        generation,
        optimizer: startState,
        meta: options.meta,
        history,
        createdAt,
      });
      if (options.onGeneration) {
        options.onGeneration({
          generation,
          bestScore: record.bestScore,
          ms: record.ms,
          optimizer,
          counters: coordinator.counters(),
          metrics: await coordinator.metrics(),
        });
      }
    }
  } catch (error) {
    if (isSynktiError(error, 'E_RUN_CANCELLED')) {
      await coordinator.saveCheckpoint({
        status: 'cancelled',
        generation,
        optimizer: startState,
        meta: options.meta,
        history,
        createdAt,
        stopReason: 'cancelled',
      });
    } else if (isSynktiError(error, 'E_CANDIDATE_UNSCORABLE')) {
      // The state before this generation, with the counters that explain the stop; resumable.
      await coordinator.saveCheckpoint({
        status: 'failed',
        generation,
        optimizer: startState,
        meta: options.meta,
        history,
        createdAt,
        stopReason: error.message,
      });
    }
    throw error;
  }
  if (stopReason || checkpoint.status !== 'done') {
    checkpoint = await coordinator.saveCheckpoint({
      status: 'done',
      generation,
      optimizer: startState,
      meta: options.meta,
      history,
      createdAt,
      stopReason,
    });
  }
  return { checkpoint, optimizer, lostTasks: coordinator.lostTasks(), resumed: options.resume === true };
}
