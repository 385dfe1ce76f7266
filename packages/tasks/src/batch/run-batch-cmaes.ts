/**
 * A distributed CMA-ES run: the coordinator's whole life. Settles the run (new or
 * resumed), opens its queues, launches its workers through the injected fleet, evaluates
 * every generation on them, checkpoints each one (a coordinator killed at any point is
 * continued with `resume` and ends with the same answer as an uninterrupted run), and at
 * the end stops the metrics, takes the fleet down and closes everything, error or not.
 *
 * What differs between places is injected: the fleet (a local fleet of agent nodes in
 * the CLI, an ECS service with a stack, workers in memory in tests), the metrics sink
 * (CloudWatch) and where progress goes (the CLI's terminal).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SynktiError, formatDuration } from '@synkti/core';
import type { CmaEsState } from '../cmaes/cma-es.ts';
import type { CmaEsRestartsState, RestartRecord } from '../cmaes/restarts.ts';
import type { ResampledCmaEsState } from '../cmaes/resampling.ts';
import { createCoordinator } from '../coordinator/coordinator.ts';
import {
  createCoordinatorMetricsPublisher,
  type CoordinatorMetricsPublisher,
  type CoordinatorMetricsSink,
} from '../coordinator/metrics-publisher.ts';
import { runGenerations } from '../coordinator/run-generations.ts';
import type { CoordinatorCheckpoint, UnscorablePolicy } from '../coordinator/types.ts';
import { BATCH_BUCKET, batchObjectStore, openRunQueues, type BatchBackend, type RunQueues } from './backend.ts';
import { DEFAULT_WORKER_LEASE_MS, type BatchWorkerConfig } from './batch-worker.ts';
import { cachedWorkerCount } from './cached-worker-count.ts';
import { settleCmaesRun, type CmaesRunMeta, type CmaesRunRequest } from './cmaes-run-settings.ts';
import { loadObjective } from './objective.ts';
import { openStackCheckpoints } from './s3-checkpoints.ts';

/** What the coordinator knows of its fleet: counted, never acted on. */
export interface BatchFleetCounts {
  /** Distinct worker nodes seen (launched by this coordinator, by a previous one still running, or by the nodes). */
  launched: number;
  /** Of those, replacements the nodes launched themselves. */
  replaced: number;
  /** Of those, reclaimed after a spot interruption notice. */
  preempted: number;
}

/** A run's workers as the coordinator sees them: it launches them, looks, and takes them down. */
export interface BatchCmaesFleet {
  /** Workers alive at the last look. */
  alive(): number;
  /** Looks again (cheap, rate-limited by the fleet); resolves with the workers alive. */
  observe(): Promise<number>;
  /** The report's numbers. */
  counts(): Promise<BatchFleetCounts>;
  /** The run's end: every worker hands back and leaves. */
  takeDown(): Promise<unknown>;
  /** Releases what the fleet holds open (after the queues are closed). */
  close(): void;
}

/** What a fleet is launched with. */
export interface BatchFleetLaunch {
  run: string;
  /** Workers to have running (0: a finished run, or workers started elsewhere). */
  workers: number;
  /** What each worker runs (`runBatchWorker`'s config). */
  config: BatchWorkerConfig;
  backend: BatchBackend;
  noticePollMs: number;
  /** Progress notes (replacements, workers that left). */
  onEvent: (text: string) => void;
}

/** Publishing the run's backlog for autoscaling (SpotBatchFleet's target tracking). */
export interface BatchCmaesMetrics {
  /** Opens the sink once the coordinator runs (e.g. loads the CloudWatch client). */
  openSink(region: string | undefined): Promise<CoordinatorMetricsSink>;
  /**
   * With `workers` 0 the workers run elsewhere: counts them (e.g. an ECS service's running
   * tasks) for backlog per worker. @default the fleet's count
   */
  openWorkerCounter?: ((region: string | undefined) => Promise<() => Promise<number>>) | undefined;
  /** For the progress line: what is published where (`publishing <this> every 1m`). */
  description: string;
  /** @default 60000 */
  intervalMs?: number | undefined;
}

/** Where a run's progress goes (the CLI's status line and notes). */
export interface BatchCmaesProgress {
  /** The current state (replaced by the next update). */
  update(text: string): void;
  /** Ends the status line; with a text, a note that stays. */
  done(text?: string): void;
}

export interface RunBatchCmaesOptions extends CmaesRunRequest {
  /** Workers the fleet keeps running (0 with a stack: its ECS service runs them). */
  workers: number;
  /** Starts the run's workers. */
  launchFleet: (launch: BatchFleetLaunch) => Promise<BatchCmaesFleet>;
  /** Lease workers hold on a task. @default 300000 (DEFAULT_WORKER_LEASE_MS) */
  leaseMs?: number | undefined;
  /** How often workers poll for a spot notice. */
  noticePollMs: number;
  /** A candidate with no result this long after its send is sent again. */
  resendAfterMs: number;
  unscorable: UnscorablePolicy;
  /** Leave the workers running after the run. @default false */
  keepWorkers?: boolean | undefined;
  /** Publish the backlog. @default not published */
  metrics?: BatchCmaesMetrics | undefined;
  /** @default nothing reported */
  progress?: BatchCmaesProgress | undefined;
  /** Aborting stops the run (E_INTERRUPTED); its last checkpoint is kept. */
  signal?: AbortSignal | undefined;
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

/** What the run reads from either optimizer. */
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

const SILENT: BatchCmaesProgress = { update: () => undefined, done: () => undefined };

function sci(value: number): string {
  return Number.isFinite(value) ? value.toExponential(3) : String(value);
}

export async function runBatchCmaes(options: RunBatchCmaesOptions): Promise<BatchSummary> {
  const started = Date.now();
  mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  if (options.stack && options.workers !== 0) {
    throw new SynktiError('E_USAGE', `--stack: the workers are the fleet's ECS service, not ${options.workers} local one(s)`, {
      hint: 'pass --workers 0 with --stack',
    });
  }
  // The stack's bucket already exists (SpotBatchFleet made it); the local one is made here.
  const store = options.stack ? openStackCheckpoints(options.stack.region) : batchObjectStore(options.stateDir);
  const bucket = options.stack ? options.stack.bucket : BATCH_BUCKET;
  if (!options.stack) await store.createBucket(BATCH_BUCKET);
  const { run, meta, resume, finished } = await settleCmaesRun(options, { store, bucket });
  // Fail here, not on every worker: the objective must load.
  await loadObjective(meta.objective);

  const progress = options.progress ?? SILENT;
  const note = (text: string): void => {
    progress.done(text);
  };
  const metricsFile = join(options.stateDir, 'runs', run, 'metrics.jsonl');
  mkdirSync(join(options.stateDir, 'runs', run), { recursive: true });

  const signal = options.signal;
  let queues: RunQueues | undefined;
  let fleet: BatchCmaesFleet | undefined;
  let publisher: CoordinatorMetricsPublisher | undefined;
  try {
    // Interrupted while settling: nothing is started.
    signal?.throwIfAborted();
    queues = await openRunQueues(
      {
        backend: meta.backend,
        stateDir: options.stateDir,
        sqsEndpoint: meta.sqsEndpoint,
        region: meta.region,
        maxReceives: meta.maxReceives,
        ...(options.stack ? { queueScope: options.stack.cluster, create: false } : {}),
      },
      run,
    );
    const workerConfig: BatchWorkerConfig = {
      kind: 'synkti.batch.worker',
      run,
      backend: meta.backend,
      stateDir: options.stateDir,
      objective: meta.objective,
      leaseMs: options.leaseMs ?? DEFAULT_WORKER_LEASE_MS,
      noticePollMs: options.noticePollMs,
      maxReceives: meta.maxReceives,
      sqsEndpoint: meta.sqsEndpoint,
      region: meta.region,
      // The run's pools (saved with it): each worker fetches them, checked, before its first task.
      ...(meta.statePools !== undefined ? { statePools: meta.statePools } : {}),
    };
    // A finished run only reports: no workers needed.
    fleet = await options.launchFleet({
      run,
      workers: finished ? 0 : options.workers,
      config: workerConfig,
      backend: meta.backend,
      noticePollMs: options.noticePollMs,
      onEvent: note,
    });
    const liveFleet = fleet;
    note(
      `run ${run}: ${resume ? 'resuming' : 'starting'} CMA-ES on ${meta.objective} (dim ${meta.dimension}, seed ${meta.seed}, ${meta.generations} generations) with ${options.workers} worker(s) on the ${meta.backend} backend`,
    );

    const region = options.region ?? meta.region;
    const metrics = options.metrics;
    // Workers started elsewhere (e.g. SpotBatchFleet's ECS tasks): count those, not the local 0.
    const workersAlive =
      metrics?.openWorkerCounter !== undefined && options.workers === 0
        ? cachedWorkerCount(await metrics.openWorkerCounter(region), { onWarning: (message) => note(`warning: ${message}`) })
        : () => liveFleet.observe();
    const coordinator = createCoordinator({
      run,
      tasks: queues.tasks,
      results: queues.results,
      store,
      bucket,
      resendAfterMs: options.resendAfterMs,
      unscorable: options.unscorable,
      workersAlive,
      signal,
      onEvent: (event) => {
        if (event.type === 'dead-letter') note(`dead letter: generation ${event.generation} candidate ${event.candidate}: ${event.error}`);
        if (event.type === 'sent' && event.resend)
          note(
            `re-sent ${event.count} task(s) of generation ${event.generation} that had no result after ${formatDuration(options.resendAfterMs)}`,
          );
      },
    });
    if (metrics) {
      const intervalMs = metrics.intervalMs ?? 60_000;
      publisher = createCoordinatorMetricsPublisher({
        source: coordinator,
        sink: await metrics.openSink(region),
        intervalMs,
        onWarning: (message) => note(`warning: ${message}`),
      });
      publisher.start();
      note(`publishing ${metrics.description} every ${formatDuration(intervalMs)}`);
    }
    // Loaded on use: what imports the batch entry for other commands does not need the optimizer.
    const { CmaEs, CmaEsRestarts, ResampledCmaEs } = await import('../cmaes/index.ts');
    let cma: CmaesView | undefined;
    let runsRecorded = 0;
    const options0 = {
      dimension: meta.dimension,
      seed: meta.seed,
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
        // A look at the fleet (read-only) for the progress line and the report's counts.
        void liveFleet.observe().catch(() => undefined);
        progress.update(
          `run ${run}  gen ${report.generation}/${meta.generations}  best f ${sci(c.bestF)}  σ ${sci(c.sigma)}  λ ${c.populationSize}${c.samples !== undefined ? ` ×${c.samples} samples` : ''}  evals ${c.evaluations}  workers ${liveFleet.alive()}/${options.workers}`,
        );
        const lines = [
          JSON.stringify({
            ...report.metrics,
            bestF: c.bestF,
            sigma: c.sigma,
            evaluations: c.evaluations,
            populationSize: c.populationSize,
            ...(c.samples !== undefined ? { samples: c.samples } : {}),
            generationMs: report.ms,
          }),
        ];
        // Each CMA-ES run that ended (a restart follows, or the optimisation stops) gets its own line.
        const runs = c.runs ?? [];
        for (const record of runs.slice(runsRecorded)) {
          lines.push(JSON.stringify({ kind: 'cmaes-run', ...record }));
          note(
            `CMA-ES run ${record.run} (${record.regime}, λ ${record.populationSize}) ended: ${record.stopReason}, best f ${sci(record.bestF ?? Infinity)} after ${record.evaluations} evaluations`,
          );
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
    if (signal?.aborted) {
      throw new SynktiError('E_INTERRUPTED', `run ${run} interrupted; its last checkpoint is kept`, {
        cause: error,
        hint: `continue it with \`synkti batch cmaes --resume ${run}\``,
      });
    }
    throw error;
  } finally {
    // Before the queues close: its last sample reads them.
    await publisher?.stop();
    // The run's end takes its fleet down (each worker hands back and exits).
    if (fleet && options.keepWorkers !== true) await fleet.takeDown().catch(() => undefined);
    await queues?.close();
    fleet?.close();
  }
}
