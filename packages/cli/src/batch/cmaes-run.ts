/**
 * `synkti batch cmaes`: a distributed CMA-ES run. The CLI process is the coordinator; the
 * workers are a local fleet of `--workers` agent nodes it launches at the start and takes
 * down at the end (batch-fleet.ts): the nodes replace preempted and crashed ones
 * themselves. Every generation is checkpointed, so a coordinator killed at any point is
 * continued with `--resume RUN` and ends with the same answer as an uninterrupted run.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SynktiError, formatDuration } from '@synkti/core';
import { BATCH_COORDINATOR_ENV, batchQueueNames, queueNameOfUrl, readStackEnvironment } from '@synkti/core/contracts';
import type { LocalCloud, ObjectStore } from '@synkti/cloud';
import {
  checkpointKeyOf, createCoordinator, readCheckpoint, runGenerations, validateRunId, type CmaEsRestartsState, type CmaEsState, type RestartRecord,
  type RestartStrategy, type ResampledCmaEsState,
  type CoordinatorCheckpoint, type UnscorablePolicy,
} from '@synkti/tasks';
import { createProgress } from '../output.ts';
import { renderPairs } from './render-pairs.ts';
import {
  BATCH_BUCKET, DEFAULT_BATCH_MAX_RECEIVES, DEFAULT_WORKER_LEASE_MS, backendEnv, batchObjectStore, cachedWorkerCount, loadObjective, openRunQueues,
  openStackCheckpoints, type BatchBackend, type BatchWorkerConfig, type RunQueues,
} from '@synkti/tasks/batch';
import { BatchWorkerFleet, openBatchCloud } from './batch-fleet.ts';
import { startBatchMetrics } from './batch-metrics.ts';
import { ecsWorkerCounter } from './ecs-workers.ts';

/**
 * A SpotBatchFleet to coordinate (`--stack`, from its coordinatorEnv): its queues (scope =
 * cluster, never created here), its bucket for checkpoints (object + pointer under runs/),
 * its ECS service for the workers (so no local workers).
 */
export interface BatchStackTarget {
  cluster: string;
  bucket: string;
  region: string;
}

/** `--stack`: the fleet from SpotBatchFleet's coordinatorEnv variables (a missing one names its output, exit 2). */
export function stackTargetFromEnv(env: Readonly<Record<string, string | undefined>>): BatchStackTarget {
  const v = readStackEnvironment('synkti batch cmaes --stack', BATCH_COORDINATOR_ENV, env);
  const names = batchQueueNames(v.SYNKTI_CLUSTER!);
  for (const [name, queue] of [['SYNKTI_TASK_QUEUE_URL', names.tasks], ['SYNKTI_RESULT_QUEUE_URL', names.results]] as const) {
    if (queueNameOfUrl(v[name]!) !== queue) {
      throw new SynktiError('E_CONFIG_STACK_ENV', `${name} names queue "${queueNameOfUrl(v[name]!)}", but cluster ${v.SYNKTI_CLUSTER}'s is "${queue}"`, { hint: 'export the coordinatorEnv of one stack' });
    }
  }
  return { cluster: v.SYNKTI_CLUSTER!, bucket: v.SYNKTI_BUCKET!, region: v.AWS_REGION! };
}

/** What a run was asked for, saved in its checkpoint (a resume must ask the same). */
export interface CmaesRunMeta {
  objective: string;
  dimension: number;
  /** Undefined: CMA-ES's default, 4 + ⌊3 ln n⌋. */
  population: number | undefined;
  seed: number;
  generations: number;
  sigma: number | undefined;
  backend: BatchBackend;
  sqsEndpoint: string | undefined;
  region: string | undefined;
  maxReceives: number;
  /** Restart strategy; undefined (runs from before restarts) = one plain CMA-ES run. */
  restarts?: RestartStrategy | undefined;
  /** Evaluation budget over all runs (with restarts or a target). */
  maxEvals?: number | undefined;
  /** Stop once the best f is below this. */
  targetF?: number | undefined;
  /** Start point; undefined = zeros. */
  x0?: number[] | undefined;
  /** 'reevaluate': ResampledCmaEs; undefined = one evaluation per candidate. */
  noiseHandling?: NoiseHandling | undefined;
  /** With 'reevaluate': most evaluations per candidate. */
  maxSamples?: number | undefined;
}

/**
 * How a noisy objective is handled: `none` scores each candidate once; `reevaluate`
 * scores it `samples` times and ranks by the mean, doubling the samples whenever noise
 * dominates the generation's differences (ResampledCmaEs).
 */
export type NoiseHandling = 'none' | 'reevaluate';
export const NOISE_HANDLINGS: readonly NoiseHandling[] = ['none', 'reevaluate'];
/** `--max-samples` default: as ResampledCmaEs's. */
export const DEFAULT_MAX_SAMPLES = 64;

/** What the CLI reads from either optimizer. */
interface CmaesView {
  readonly bestF: number;
  readonly sigma: number;
  readonly evaluations: number;
  readonly bestX: number[];
  readonly mean: number[];
  readonly populationSize: number;
  readonly runs?: RestartRecord[];
  /** Re-evaluation: evaluations per candidate now. */
  readonly samples?: number;
}

export interface BatchCmaesOptions {
  objective?: string | undefined;
  dim?: number | undefined;
  generations?: number | undefined;
  population?: number | undefined;
  seed?: number | undefined;
  sigma?: number | undefined;
  /** `--restarts`: none, ipop or bipop. */
  restarts?: RestartStrategy | undefined;
  /** `--max-evals`. */
  maxEvals?: number | undefined;
  /** `--target-f`. */
  targetF?: number | undefined;
  /** `--x0`, one value per dimension. */
  x0?: number[] | undefined;
  /** `--noise-handling`. @default "none" */
  noiseHandling?: NoiseHandling | undefined;
  /** `--max-samples` (with `reevaluate`). @default 64 */
  maxSamples?: number | undefined;
  workers: number;
  backend?: BatchBackend | undefined;
  resume?: string | undefined;
  run?: string | undefined;
  stateDir: string;
  json: boolean;
  leaseMs?: number | undefined;
  noticePollMs: number;
  resendAfterMs: number;
  unscorable: UnscorablePolicy;
  maxReceives?: number | undefined;
  sqsEndpoint?: string | undefined;
  region?: string | undefined;
  chaos?: { ratePerHour: number; noticeMs: number } | undefined;
  keepWorkers: boolean;
  /**
   * Publish Synkti/Batch Backlog and BacklogPerWorker with dimension Cluster=<this> to
   * CloudWatch (what SpotBatchFleet scales from). With `workers` 0 the workers are counted
   * as the running tasks of ECS service `<this>-worker`. @default not published
   */
  metricsCluster?: string | undefined;
  /** How often they are published. @default 60000 */
  metricsIntervalMs?: number | undefined;
  /** Coordinate a SpotBatchFleet instead of local queues and state. @default local */
  stack?: BatchStackTarget | undefined;
}

export interface BatchSummary {
  run: string;
  status: CoordinatorCheckpoint['status'];
  best_f: number;
  evaluations: number;
  generations: number;
  lost_tasks: number;
  duplicate_results_dropped: number;
  dead_lettered: number;
  stale_results_dropped: number;
  tasks_sent: number;
  tasks_resent: number;
  results_received: number;
  results_accepted: number;
  sigma: number;
  best_x: number[];
  mean: number[];
  stop_reason: string | null;
  /** Each CMA-ES run (the first and every restart) with its λ, evaluations, best f and stop reason; empty for a plain run. */
  restart_runs: RestartRecord[];
  /** With `--noise-handling reevaluate`: evaluations per candidate at the end (best f is a mean of that many); null otherwise. */
  noise_samples: number | null;
  resumed: boolean;
  workers_launched: number;
  workers_replaced: number;
  workers_preempted: number;
  seconds: number;
}

function newRunId(): string {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `cmaes-${stamp}-${randomBytes(2).toString('hex')}`;
}

function differs(flag: string, given: unknown, saved: unknown, run: string): SynktiError {
  return new SynktiError('E_USAGE', `${flag} ${String(given)} differs from run ${run}'s ${String(saved)}`, {
    hint: `omit ${flag} when resuming: the run keeps the settings it started with`,
  });
}

/** The run's settings: new from the flags, or the saved ones (flags given on resume must agree). */
async function settle(options: BatchCmaesOptions, checkpoints: { store: ObjectStore; bucket: string }): Promise<{ run: string; meta: CmaesRunMeta; resume: boolean; finished: boolean }> {
  if (options.resume !== undefined) {
    const run = validateRunId(options.resume, '--resume');
    if (options.run !== undefined && options.run !== run) throw new SynktiError('E_USAGE', `--run ${options.run} and --resume ${run} name different runs`, { hint: 'give only --resume RUN' });
    const saved = await readCheckpoint<CmaEsState, CmaesRunMeta>(checkpoints.store, checkpoints.bucket, checkpointKeyOf(run));
    if (!saved) {
      throw new SynktiError('E_USAGE', `--resume: no run ${run} in ${options.stack ? `s3://${checkpoints.bucket}` : options.stateDir}`, { hint: 'list runs with `synkti batch status` (same --state-dir)' });
    }
    const meta = { ...saved.meta };
    const checks: Array<[string, unknown, unknown]> = [
      ['--objective', options.objective, meta.objective], ['--dim', options.dim, meta.dimension], ['--population', options.population, meta.population],
      ['--seed', options.seed, meta.seed], ['--sigma', options.sigma, meta.sigma], ['--backend', options.backend, meta.backend],
      ['--restarts', options.restarts, meta.restarts], ['--max-evals', options.maxEvals, meta.maxEvals], ['--target-f', options.targetF, meta.targetF],
      ['--x0', options.x0?.join(','), meta.x0?.join(',')],
      ['--noise-handling', options.noiseHandling, meta.noiseHandling ?? 'none'], ['--max-samples', options.maxSamples, meta.maxSamples],
    ];
    for (const [flag, given, was] of checks) if (given !== undefined && given !== was) throw differs(flag, given, was, run);
    if (options.generations !== undefined) {
      if (options.generations < saved.generation) throw new SynktiError('E_USAGE', `--generations ${options.generations} is fewer than the ${saved.generation} already done`, { hint: 'omit it to finish the planned run' });
      meta.generations = options.generations;
    }
    const finished = saved.status === 'cancelled' || (saved.status === 'done' && saved.generation >= meta.generations);
    return { run, meta, resume: true, finished };
  }
  if (options.objective === undefined) throw new SynktiError('E_USAGE', '--objective is required', { hint: 'e.g. --objective rosenbrock, or --objective ./my-objective.ts' });
  if (options.dim === undefined) throw new SynktiError('E_USAGE', '--dim is required', { hint: 'the number of parameters of a candidate, e.g. --dim 10' });
  const run = options.run === undefined ? newRunId() : validateRunId(options.run, '--run');
  if (options.x0 !== undefined && options.x0.length !== options.dim) {
    throw new SynktiError('E_USAGE', `--x0 has ${options.x0.length} values but --dim is ${options.dim}`, { hint: `give ${options.dim} comma-separated numbers, or one number for every coordinate` });
  }
  // Restarts, a budget or a target make it an evaluation-bounded run: generations stop being the limit.
  const bounded = options.restarts !== undefined || options.maxEvals !== undefined || options.targetF !== undefined;
  const reevaluate = options.noiseHandling === 'reevaluate';
  if (reevaluate && bounded) {
    // ResampledCmaEs wraps one CMA-ES run: no restarts, and a noisy mean is no ground for a target or an evaluation budget.
    const flag = options.restarts !== undefined ? '--restarts' : options.maxEvals !== undefined ? '--max-evals' : '--target-f';
    throw new SynktiError('E_USAGE', `--noise-handling reevaluate cannot be combined with ${flag}`, { hint: 'bound a re-evaluating run with --generations (and --max-samples)' });
  }
  if (options.maxSamples !== undefined && !reevaluate) {
    throw new SynktiError('E_USAGE', '--max-samples needs --noise-handling reevaluate', { hint: 'add --noise-handling reevaluate, or omit --max-samples' });
  }
  return {
    run,
    resume: false,
    finished: false,
    meta: {
      objective: options.objective,
      dimension: options.dim,
      population: options.population,
      seed: options.seed ?? randomBytes(4).readUInt32LE(0) % 2 ** 31,
      generations: options.generations ?? (bounded ? 1_000_000 : 100),
      sigma: options.sigma,
      ...(bounded ? { restarts: options.restarts ?? 'none', maxEvals: options.maxEvals, targetF: options.targetF } : {}),
      ...(options.x0 !== undefined ? { x0: options.x0 } : {}),
      ...(reevaluate ? { noiseHandling: 'reevaluate' as const, maxSamples: options.maxSamples ?? DEFAULT_MAX_SAMPLES } : {}),
      backend: options.backend ?? (options.stack ? 'sqs' : 'local'),
      sqsEndpoint: options.sqsEndpoint,
      region: options.region ?? options.stack?.region,
      maxReceives: options.maxReceives ?? DEFAULT_BATCH_MAX_RECEIVES,
    },
  };
}

function sci(value: number): string {
  return Number.isFinite(value) ? value.toExponential(3) : String(value);
}

export async function runBatchCmaes(options: BatchCmaesOptions): Promise<BatchSummary> {
  const started = Date.now();
  mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  if (options.stack && options.workers !== 0) {
    throw new SynktiError('E_USAGE', `--stack: the workers are the fleet's ECS service, not ${options.workers} local one(s)`, { hint: 'pass --workers 0 with --stack' });
  }
  // The stack's bucket already exists (SpotBatchFleet made it); the local one is made here.
  const store = options.stack ? openStackCheckpoints(options.stack.region) : batchObjectStore(options.stateDir);
  const bucket = options.stack ? options.stack.bucket : BATCH_BUCKET;
  if (!options.stack) await store.createBucket(BATCH_BUCKET);
  const { run, meta, resume, finished } = await settle(options, { store, bucket });
  // Fail here, not on every worker: the objective must load.
  await loadObjective(meta.objective);

  const progress = createProgress(process.stderr, false);
  const note = (text: string): void => { progress.done(text); };
  const metricsFile = join(options.stateDir, 'runs', run, 'metrics.jsonl');
  mkdirSync(join(options.stateDir, 'runs', run), { recursive: true });

  const abort = new AbortController();
  const onSigint = (): void => abort.abort(new Error('interrupted (Ctrl-C)'));
  process.once('SIGINT', onSigint);
  let queues: RunQueues | undefined;
  let cloud: LocalCloud | undefined;
  let fleet: BatchWorkerFleet | undefined;
  let publisher: { stop(): Promise<void> } | undefined;
  try {
    queues = await openRunQueues({
      backend: meta.backend, stateDir: options.stateDir, sqsEndpoint: meta.sqsEndpoint, region: meta.region, maxReceives: meta.maxReceives,
      ...(options.stack ? { queueScope: options.stack.cluster, create: false } : {}),
    }, run);
    const workerConfig: BatchWorkerConfig = {
      kind: 'synkti.batch.worker', run, backend: meta.backend, stateDir: options.stateDir, objective: meta.objective,
      leaseMs: options.leaseMs ?? DEFAULT_WORKER_LEASE_MS, noticePollMs: options.noticePollMs, maxReceives: meta.maxReceives,
      sqsEndpoint: meta.sqsEndpoint, region: meta.region,
    };
    cloud = openBatchCloud(options.stateDir, backendEnv(meta.backend));
    if (options.chaos) cloud.instances.setChaos(options.chaos);
    // A finished run only reports: no workers needed.
    fleet = await BatchWorkerFleet.launch({ cloud, run, workers: finished ? 0 : options.workers, config: workerConfig, noticePollMs: options.noticePollMs, onEvent: note });
    const liveFleet = fleet;
    note(`run ${run}: ${resume ? 'resuming' : 'starting'} CMA-ES on ${meta.objective} (dim ${meta.dimension}, seed ${meta.seed}, ${meta.generations} generations) with ${options.workers} worker(s) on the ${meta.backend} backend`);

    const region = options.region ?? meta.region;
    // Workers started elsewhere are SpotBatchFleet's ECS tasks: count those, not the local 0.
    const workersAlive = options.metricsCluster !== undefined && options.workers === 0
      ? cachedWorkerCount(await ecsWorkerCounter({ cluster: options.metricsCluster, region }), { onWarning: (message) => note(`warning: ${message}`) })
      : () => liveFleet.observe();
    const coordinator = createCoordinator({
      run, tasks: queues.tasks, results: queues.results, store, bucket, resendAfterMs: options.resendAfterMs,
      unscorable: options.unscorable, workersAlive, signal: abort.signal,
      onEvent: (event) => {
        if (event.type === 'dead-letter') note(`dead letter: generation ${event.generation} candidate ${event.candidate}: ${event.error}`);
        if (event.type === 'sent' && event.resend) note(`re-sent ${event.count} task(s) of generation ${event.generation} that had no result after ${formatDuration(options.resendAfterMs)}`);
      },
    });
    if (options.metricsCluster !== undefined) {
      publisher = await startBatchMetrics({
        cluster: options.metricsCluster, coordinator, intervalMs: options.metricsIntervalMs, region, onWarning: (message) => note(`warning: ${message}`),
      });
      note(`publishing Synkti/Batch Backlog and BacklogPerWorker (Cluster=${options.metricsCluster}) to CloudWatch every ${formatDuration(options.metricsIntervalMs ?? 60_000)}`);
    }
    // Loaded on use: the rest of the CLI does not need the optimizer.
    const { CmaEs, CmaEsRestarts, ResampledCmaEs } = await import('@synkti/tasks');
    if (typeof CmaEs?.create !== 'function') throw new SynktiError('E_BATCH_CMAES', 'this build has no CMA-ES (@synkti/tasks/cmaes)', { hint: 'update Synkti' });
    let cma: CmaesView | undefined;
    let runsRecorded = 0;
    const options0 = {
      dimension: meta.dimension, seed: meta.seed,
      ...(meta.population !== undefined ? { populationSize: meta.population } : {}),
      ...(meta.sigma !== undefined ? { initialSigma: meta.sigma } : {}),
      ...(meta.x0 !== undefined ? { initialMean: meta.x0 } : {}),
    };
    const result = await runGenerations<CmaEsState | CmaEsRestartsState | ResampledCmaEsState, CmaesRunMeta>({
      coordinator,
      generations: meta.generations,
      meta,
      resume,
      create: () => {
        if (meta.noiseHandling === 'reevaluate') {
          const o = ResampledCmaEs.create({ ...options0, maxSamples: meta.maxSamples });
          cma = o;
          return o;
        }
        // A plain run keeps the plain state (runs from before restarts resume unchanged).
        if (meta.restarts === undefined) return (cma = CmaEs.create(options0));
        const o = CmaEsRestarts.create({ ...options0, restarts: meta.restarts, maxEvaluations: meta.maxEvals, targetF: meta.targetF });
        cma = o;
        return o;
      },
      restore: (state) => {
        if (state.format === 'synkti-cmaes-resampled/v1') {
          const o = ResampledCmaEs.restore(state);
          cma = o;
          return o;
        }
        if (state.format === 'synkti-cmaes-restarts/v1') {
          const o = CmaEsRestarts.restore(state);
          runsRecorded = o.runs.length;
          cma = o;
          return o;
        }
        return (cma = CmaEs.restore(state));
      },
      onGeneration: (report) => {
        const c = cma!;
        // A look at the record (read-only) for the progress line and the report's counts.
        void liveFleet.observe().catch(() => undefined);
        progress.update(`run ${run}  gen ${report.generation}/${meta.generations}  best f ${sci(c.bestF)}  σ ${sci(c.sigma)}  λ ${c.populationSize}${c.samples !== undefined ? ` ×${c.samples} samples` : ''}  evals ${c.evaluations}  workers ${liveFleet.alive()}/${options.workers}`);
        const lines = [JSON.stringify({ ...report.metrics, bestF: c.bestF, sigma: c.sigma, evaluations: c.evaluations, populationSize: c.populationSize, ...(c.samples !== undefined ? { samples: c.samples } : {}), generationMs: report.ms })];
        // Each CMA-ES run that ended (a restart follows, or the optimisation stops) gets its own line.
        const runs = c.runs ?? [];
        for (const record of runs.slice(runsRecorded)) {
          lines.push(JSON.stringify({ kind: 'cmaes-run', ...record }));
          note(`CMA-ES run ${record.run} (${record.regime}, λ ${record.populationSize}) ended: ${record.stopReason}, best f ${sci(record.bestF ?? Infinity)} after ${record.evaluations} evaluations`);
        }
        runsRecorded = runs.length;
        appendFileSync(metricsFile, `${lines.join('\n')}\n`);
      },
    });
    const c = cma!;
    const counters = result.checkpoint.counters;
    const fleetCounts = await fleet.counts();
    progress.done();
    return {
      run,
      status: result.checkpoint.status,
      best_f: c.bestF,
      evaluations: c.evaluations,
      generations: result.checkpoint.generation,
      lost_tasks: result.lostTasks,
      duplicate_results_dropped: counters.duplicatesDropped,
      dead_lettered: counters.deadLettered,
      stale_results_dropped: counters.staleDropped,
      tasks_sent: counters.sent,
      tasks_resent: counters.resent,
      results_received: counters.received,
      results_accepted: counters.accepted,
      sigma: c.sigma,
      best_x: [...c.bestX],
      mean: [...c.mean],
      stop_reason: result.checkpoint.stopReason ?? null,
      restart_runs: c.runs ?? [],
      noise_samples: c.samples ?? null,
      resumed: resume,
      workers_launched: fleetCounts.launched,
      workers_replaced: fleetCounts.replaced,
      workers_preempted: fleetCounts.preempted,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
  } catch (error) {
    progress.done();
    if (abort.signal.aborted) {
      throw new SynktiError('E_INTERRUPTED', `run ${run} interrupted; its last checkpoint is kept`, { cause: error, hint: `continue it with \`synkti batch cmaes --resume ${run}\`` });
    }
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
    // Before the queues close: its last sample reads them.
    await publisher?.stop();
    // The run's end takes its fleet down (each node drains: its worker hands back and exits).
    if (fleet && !options.keepWorkers) await fleet.takeDown().catch(() => undefined);
    await queues?.close();
    cloud?.close();
  }
}

export function renderBatchSummary(summary: BatchSummary): string {
  const rows: Array<[string, string]> = [
    ['run', summary.run], ['status', summary.status], ['best f', sci(summary.best_f)], ['evaluations', String(summary.evaluations)],
    ['generations', String(summary.generations)], ['σ', sci(summary.sigma)],
    ['lost tasks', String(summary.lost_tasks)], ['duplicate results dropped', String(summary.duplicate_results_dropped)],
    ['stale results dropped', String(summary.stale_results_dropped)], ['dead-lettered', String(summary.dead_lettered)],
    ['tasks sent (re-sent)', `${summary.tasks_sent} (${summary.tasks_resent})`],
    ['workers launched / replaced / preempted', `${summary.workers_launched} / ${summary.workers_replaced} / ${summary.workers_preempted}`],
    ['time', formatDuration(summary.seconds * 1000)],
  ];
  if (summary.noise_samples !== null) rows.splice(3, 0, ['samples per candidate', `${summary.noise_samples} (best f is their mean)`]);
  if (summary.stop_reason) rows.push(['stopped early', summary.stop_reason]);
  return renderPairs(rows);
}
