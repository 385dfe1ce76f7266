/**
 * The settings of a batch CMA-ES run: new from what was asked, or the ones saved in the
 * run's checkpoint when it is resumed (anything asked again on resume must agree, so a
 * resumed run ends exactly where an uninterrupted one would).
 */
import { randomBytes } from 'node:crypto';
import { SynktiError } from '@synkti/core';
import type { ObjectStore } from '@synkti/cloud';
import type { RestartStrategy } from '../cmaes/restarts.ts';
import type { CmaEsState } from '../cmaes/cma-es.ts';
import { validateRunId } from '../coordinator/batch-task.ts';
import { checkpointKeyOf, readCheckpoint } from '../coordinator/coordinator.ts';
import { DEFAULT_BATCH_MAX_RECEIVES, type BatchBackend } from './backend.ts';
import { populationForWorkers, type PopulationRequest } from './population-auto.ts';
import type { BatchStackTarget } from './stack-target.ts';
import type { WorkerStatePools } from './batch-worker.ts';

/**
 * How a noisy objective is handled: `none` scores each candidate once; `reevaluate`
 * scores it `samples` times and ranks by the mean, doubling the samples whenever noise
 * dominates the generation's differences (ResampledCmaEs).
 */
export type NoiseHandling = 'none' | 'reevaluate';
export const NOISE_HANDLINGS: readonly NoiseHandling[] = ['none', 'reevaluate'];
/** `--max-samples` default: as ResampledCmaEs's. */
export const DEFAULT_MAX_SAMPLES = 64;

/** The settings of an evaluation-bounded or noise-handling run, alike in the request and the saved run. */
interface CmaesRunExtras {
  /** Restart strategy: none, ipop or bipop. Undefined (and runs from before restarts): one plain CMA-ES run. */
  restarts?: RestartStrategy | undefined;
  /** Evaluation budget over all runs (with restarts or a target). */
  maxEvals?: number | undefined;
  /** Stop once the best f is below this. */
  targetF?: number | undefined;
  /** Start point, one value per dimension. @default zeros */
  x0?: number[] | undefined;
  /** 'reevaluate': ResampledCmaEs. @default one evaluation per candidate ("none") */
  noiseHandling?: NoiseHandling | undefined;
  /**
   * State pools the run's local workers fetch before their first task (`--pool`, `--bucket`):
   * saved with the run, so the workers of a resume fetch them too. @default none
   */
  statePools?: Pick<WorkerStatePools, 'names' | 'bucket' | 'root'> | undefined;
  /** With 'reevaluate': most evaluations per candidate. @default 64 */
  maxSamples?: number | undefined;
}

/** What a run was asked for, saved in its checkpoint (a resume must ask the same). */
export interface CmaesRunMeta extends CmaesRunExtras {
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
}

/** What a run is asked for (the `synkti batch cmaes` flags); on resume, only what may differ. */
export interface CmaesRunRequest extends CmaesRunExtras {
  /** A builtin objective's name or a module path (normalizeObjective). Required for a new run. */
  objective?: string | undefined;
  /** Parameters per candidate. Required for a new run. */
  dim?: number | undefined;
  /** @default 100; 1,000,000 with restarts, a budget or a target */
  generations?: number | undefined;
  /**
   * Candidates per generation; 'auto': the smallest multiple of `workers` that is at least
   * CMA-ES's default (populationForWorkers), fixed when the run starts. On resume, 'auto'
   * keeps the run's population. @default CMA-ES's, 4 + ⌊3 ln dim⌋
   */
  population?: PopulationRequest | undefined;
  /** Workers the run is started with (what `population: 'auto'` fits). */
  workers?: number | undefined;
  /** @default random (saved in the checkpoint) */
  seed?: number | undefined;
  /** @default CMA-ES's */
  sigma?: number | undefined;
  /** @default "sqs" with a stack, else "local" */
  backend?: BatchBackend | undefined;
  /** A run to continue from its last checkpoint. */
  resume?: string | undefined;
  /** Id of a new run. @default cmaes-<time>-<random> */
  run?: string | undefined;
  /** The batch state directory (local queues, instances, checkpoints, metrics). */
  stateDir: string;
  /** @default 10 (DEFAULT_BATCH_MAX_RECEIVES) */
  maxReceives?: number | undefined;
  sqsEndpoint?: string | undefined;
  /** @default the stack's */
  region?: string | undefined;
  /** Coordinate a SpotBatchFleet instead of local queues and state. @default local */
  stack?: BatchStackTarget | undefined;
}

/** A run's settled settings. */
export interface CmaesRunSettings {
  run: string;
  meta: CmaesRunMeta;
  resume: boolean;
  /** A resumed run that has nothing left to do (done or cancelled): it only reports. */
  finished: boolean;
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

/** The run's settings: new from the request, or the saved ones (what is asked on resume must agree). */
export async function settleCmaesRun(
  options: CmaesRunRequest,
  checkpoints: { store: ObjectStore; bucket: string },
): Promise<CmaesRunSettings> {
  if (options.resume !== undefined) {
    const run = validateRunId(options.resume, '--resume');
    if (options.run !== undefined && options.run !== run)
      throw new SynktiError('E_USAGE', `--run ${options.run} and --resume ${run} name different runs`, { hint: 'give only --resume RUN' });
    const saved = await readCheckpoint<CmaEsState, CmaesRunMeta>(checkpoints.store, checkpoints.bucket, checkpointKeyOf(run));
    if (!saved) {
      throw new SynktiError('E_USAGE', `--resume: no run ${run} in ${options.stack ? `s3://${checkpoints.bucket}` : options.stateDir}`, {
        hint: 'list runs with `synkti batch status` (same --state-dir)',
      });
    }
    const meta = { ...saved.meta };
    const checks: Array<[string, unknown, unknown]> = [
      // 'auto' on resume: the population was fitted when the run started and is kept.
      ['--objective', options.objective, meta.objective],
      ['--dim', options.dim, meta.dimension],
      ['--population', options.population === 'auto' ? undefined : options.population, meta.population],
      ['--seed', options.seed, meta.seed],
      ['--sigma', options.sigma, meta.sigma],
      ['--backend', options.backend, meta.backend],
      ['--restarts', options.restarts, meta.restarts],
      ['--max-evals', options.maxEvals, meta.maxEvals],
      ['--target-f', options.targetF, meta.targetF],
      ['--x0', options.x0?.join(','), meta.x0?.join(',')],
      ['--noise-handling', options.noiseHandling, meta.noiseHandling ?? 'none'],
      ['--max-samples', options.maxSamples, meta.maxSamples],
      ['--pool', options.statePools?.names.join(','), meta.statePools?.names.join(',') ?? '(none)'],
      ['--bucket', options.statePools?.bucket, meta.statePools?.bucket],
    ];
    for (const [flag, given, was] of checks) if (given !== undefined && given !== was) throw differs(flag, given, was, run);
    if (options.generations !== undefined) {
      if (options.generations < saved.generation)
        throw new SynktiError('E_USAGE', `--generations ${options.generations} is fewer than the ${saved.generation} already done`, {
          hint: 'omit it to finish the planned run',
        });
      meta.generations = options.generations;
    }
    const finished = saved.status === 'cancelled' || (saved.status === 'done' && saved.generation >= meta.generations);
    return { run, meta, resume: true, finished };
  }
  if (options.objective === undefined)
    throw new SynktiError('E_USAGE', '--objective is required', { hint: 'e.g. --objective rosenbrock, or --objective ./my-objective.ts' });
  if (options.dim === undefined)
    throw new SynktiError('E_USAGE', '--dim is required', { hint: 'the number of parameters of a candidate, e.g. --dim 10' });
  const run = options.run === undefined ? newRunId() : validateRunId(options.run, '--run');
  if (options.x0 !== undefined && options.x0.length !== options.dim) {
    throw new SynktiError('E_USAGE', `--x0 has ${options.x0.length} values but --dim is ${options.dim}`, {
      hint: `give ${options.dim} comma-separated numbers, or one number for every coordinate`,
    });
  }
  // Restarts, a budget or a target make it an evaluation-bounded run: generations stop being the limit.
  const bounded = options.restarts !== undefined || options.maxEvals !== undefined || options.targetF !== undefined;
  const reevaluate = options.noiseHandling === 'reevaluate';
  if (reevaluate && bounded) {
    // ResampledCmaEs wraps one CMA-ES run: no restarts, and a noisy mean is no ground for a target or an evaluation budget.
    const flag = options.restarts !== undefined ? '--restarts' : options.maxEvals !== undefined ? '--max-evals' : '--target-f';
    throw new SynktiError('E_USAGE', `--noise-handling reevaluate cannot be combined with ${flag}`, {
      hint: 'bound a re-evaluating run with --generations (and --max-samples)',
    });
  }
  if (options.maxSamples !== undefined && !reevaluate) {
    throw new SynktiError('E_USAGE', '--max-samples needs --noise-handling reevaluate', {
      hint: 'add --noise-handling reevaluate, or omit --max-samples',
    });
  }
  return {
    run,
    resume: false,
    finished: false,
    meta: {
      objective: options.objective,
      dimension: options.dim,
      population: options.population === 'auto' ? populationForWorkers(options.dim, options.workers ?? 0) : options.population,
      seed: options.seed ?? randomBytes(4).readUInt32LE(0) % 2 ** 31,
      generations: options.generations ?? (bounded ? 1_000_000 : 100),
      sigma: options.sigma,
      ...(bounded ? { restarts: options.restarts ?? 'none', maxEvals: options.maxEvals, targetF: options.targetF } : {}),
      ...(options.x0 !== undefined ? { x0: options.x0 } : {}),
      ...(options.statePools !== undefined && options.statePools.names.length > 0 ? { statePools: options.statePools } : {}),
      ...(reevaluate ? { noiseHandling: 'reevaluate' as const, maxSamples: options.maxSamples ?? DEFAULT_MAX_SAMPLES } : {}),
      backend: options.backend ?? (options.stack ? 'sqs' : 'local'),
      sqsEndpoint: options.sqsEndpoint,
      region: options.region ?? options.stack?.region,
      maxReceives: options.maxReceives ?? DEFAULT_BATCH_MAX_RECEIVES,
    },
  };
}
