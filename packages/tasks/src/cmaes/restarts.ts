/**
 * CMA-ES with restarts, for multimodal objectives where one run with the default
 * population ends in a local minimum (Rastrigin: 0 of 15 seeds at 10-D).
 *
 * - IPOP (A. Auger and N. Hansen, "A Restart CMA Evolution Strategy With Increasing
 *   Population Size", CEC 2005): whenever a run meets a stopping criterion
 *   (`CmaEs.stopReason`), start again from a new random point with twice the population.
 * - BIPOP (N. Hansen, "Benchmarking a BI-population CMA-ES on the BBOB-2009 function
 *   testbed", GECCO 2009): two interlaced regimes. The large regime is IPOP (λ doubling,
 *   σ0 as given); the small regime draws U ~ U(0,1) and runs λ = ⌊λdef·(½·λlarge/λdef)^(U²)⌋
 *   with σ = σ0·10^(−2U), each such run limited to half the evaluations of the latest
 *   large-regime run. A restart goes to whichever regime has used fewer evaluations so far
 *   (the first, default run counts for the large regime).
 *
 * A restart starts at x0 + spread·U(−1, 1)ⁿ (spread 2σ0 unless given: with x0 = 0 and
 * σ0 = 2 that is BBOB's [−4, 4]ⁿ). Every run's outcome is kept in `runs`. The whole state,
 * the current run's and the restart draws' random generators included, is plain JSON:
 * a run restored from `toState()` continues bit for bit.
 */
import { SynktiError } from '@synkti/core';
import { CmaEs, type CmaEsOptions, type CmaEsState } from './cma-es.ts';
import { SeededRandom, type RandomState } from './random.ts';

export type RestartStrategy = 'none' | 'ipop' | 'bipop';
export const RESTART_STRATEGIES: readonly RestartStrategy[] = ['none', 'ipop', 'bipop'];

export interface CmaEsRestartsOptions extends CmaEsOptions {
  /**
   * What happens when a run meets a stopping criterion.
   * @default "bipop"
   */
  restarts?: RestartStrategy | undefined;
  /**
   * Evaluations over all runs; the optimizer stops (`maxevals`) once they are used.
   * @default 1e5 × dimension
   */
  maxEvaluations?: number | undefined;
  /** Stop (`targetf`) once the best fitness is below this. @default none */
  targetF?: number | undefined;
  /**
   * Most restarts (runs after the first).
   * @default 100
   */
  maxRestarts?: number | undefined;
  /**
   * A restart's mean is x0 + spread·U(−1, 1) in each coordinate.
   * @default 2 × initialSigma
   */
  restartSpread?: number | undefined;
}

/** What one run (the first or a restart) did. */
export interface RestartRecord {
  /** 0 for the first run. */
  run: number;
  regime: 'first' | 'large' | 'small';
  populationSize: number;
  initialSigma: number;
  /** Evaluations spent by this run. */
  evaluations: number;
  generations: number;
  /** Best fitness this run found. */
  bestF: number | null;
  /** The criterion that ended it (or `maxevals`, `targetf`, `budget`). */
  stopReason: string;
}

export interface CmaEsRestartsState {
  format: 'synkti-cmaes-restarts/v1';
  strategy: RestartStrategy;
  dimension: number;
  initialMean: number[];
  initialSigma: number;
  defaultPopulation: number;
  maxEvaluations: number;
  targetF: number | null;
  maxRestarts: number;
  restartSpread: number;
  /** Draws of the restarts (start points, seeds, BIPOP's U). */
  random: RandomState;
  current: CmaEsState;
  currentRegime: RestartRecord['regime'];
  /** Evaluation limit of the current run (BIPOP's small regime), or null. */
  currentBudget: number | null;
  runs: RestartRecord[];
  /** Evaluations of finished runs. */
  finishedEvaluations: number;
  finishedGenerations: number;
  largeEvaluations: number;
  smallEvaluations: number;
  /** Large-regime runs so far, the first included (the next large λ is λdef·2^this). */
  largeRuns: number;
  /** Evaluations of the latest large-regime run (the small regime's budget is half of it). */
  lastLargeEvaluations: number;
  bestF: number | null;
  bestX: number[];
  /** Why the whole optimisation ended, once it has. */
  finalStop: string | null;
}

function fail(message: string, hint: string): never {
  throw new SynktiError('E_CMAES_OPTIONS', message, { hint });
}

export class CmaEsRestarts {
  private readonly s: CmaEsRestartsState;
  private cma: CmaEs;
  private readonly random: SeededRandom;

  private constructor(state: CmaEsRestartsState) {
    this.s = state;
    this.cma = CmaEs.restore(state.current);
    this.random = SeededRandom.restore(state.random);
  }

  static create(options: CmaEsRestartsOptions): CmaEsRestarts {
    const first = CmaEs.create(options);
    const n = first.dimension;
    const strategy = options.restarts ?? 'bipop';
    if (!RESTART_STRATEGIES.includes(strategy))
      fail(`restarts must be one of ${RESTART_STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`, 'e.g. --restarts bipop');
    const maxEvaluations = options.maxEvaluations ?? 100_000 * n;
    if (!Number.isSafeInteger(maxEvaluations) || maxEvaluations < 1)
      fail(`maxEvaluations must be a positive whole number, got ${String(maxEvaluations)}`, 'e.g. --max-evals 200000');
    if (options.targetF !== undefined && Number.isNaN(options.targetF)) fail('targetF is not a number', 'e.g. --target-f 1e-8');
    const maxRestarts = options.maxRestarts ?? 100;
    if (!Number.isInteger(maxRestarts) || maxRestarts < 0)
      fail(`maxRestarts must be a whole number, got ${String(maxRestarts)}`, 'omit it for 100');
    const sigma = options.initialSigma ?? 0.3;
    const spread = options.restartSpread ?? 2 * sigma;
    if (!Number.isFinite(spread) || spread < 0)
      fail(`restartSpread must be a non-negative number, got ${String(spread)}`, 'omit it for 2 × initialSigma');
    const mean = options.initialMean ?? new Array<number>(n).fill(0);
    // Its own stream, apart from the first run's sampling.
    const random = SeededRandom.fromSeed((Math.abs(options.seed) % 2 ** 31) + 2 ** 31);
    return new CmaEsRestarts({
      format: 'synkti-cmaes-restarts/v1',
      strategy,
      dimension: n,
      initialMean: [...mean],
      initialSigma: sigma,
      defaultPopulation: first.populationSize,
      maxEvaluations,
      targetF: options.targetF ?? null,
      maxRestarts,
      restartSpread: spread,
      random: random.toState(),
      current: first.toState(),
      currentRegime: 'first',
      currentBudget: null,
      runs: [],
      finishedEvaluations: 0,
      finishedGenerations: 0,
      largeEvaluations: 0,
      smallEvaluations: 0,
      largeRuns: 1,
      lastLargeEvaluations: 0,
      bestF: null,
      bestX: [...mean],
      finalStop: null,
    });
  }

  static restore(state: CmaEsRestartsState): CmaEsRestarts {
    if (state?.format !== 'synkti-cmaes-restarts/v1') {
      throw new SynktiError('E_CMAES_STATE', `the CMA-ES restarts state is not usable: format is ${JSON.stringify(state?.format)}`, {
        hint: 'resume from a checkpoint written by this version of Synkti, unchanged',
      });
    }
    if (!RESTART_STRATEGIES.includes(state.strategy) || !Array.isArray(state.runs) || !Array.isArray(state.bestX)) {
      throw new SynktiError('E_CMAES_STATE', 'the CMA-ES restarts state is not usable: strategy, runs or bestX', {
        hint: 'resume from an unchanged checkpoint',
      });
    }
    return new CmaEsRestarts(structuredClone(state));
  }

  get strategy(): RestartStrategy {
    return this.s.strategy;
  }
  get dimension(): number {
    return this.s.dimension;
  }
  /** λ of the current run. */
  get populationSize(): number {
    return this.cma.populationSize;
  }
  /** Generations over all runs. */
  get generation(): number {
    return this.s.finishedGenerations + (this.s.finalStop === null ? this.cma.generation : 0);
  }
  /** Evaluations over all runs. */
  get evaluations(): number {
    return this.s.finishedEvaluations + (this.s.finalStop === null ? this.cma.evaluations : 0);
  }
  get sigma(): number {
    return this.cma.sigma;
  }
  get mean(): number[] {
    return this.cma.mean;
  }
  get bestF(): number {
    return this.s.bestF ?? Infinity;
  }
  get bestX(): number[] {
    return [...this.s.bestX];
  }
  /** Index of the current run (0 = the first, before any restart). */
  get restartCount(): number {
    return this.s.runs.length;
  }
  /** Finished runs, oldest first. */
  get runs(): RestartRecord[] {
    return structuredClone(this.s.runs);
  }
  get regime(): RestartRecord['regime'] {
    return this.s.currentRegime;
  }

  ask(): number[][] {
    return this.cma.ask();
  }

  tell(fitness: readonly number[]): void {
    this.cma.tell(fitness);
    const s = this.s;
    if (this.cma.bestF < (s.bestF ?? Infinity)) {
      s.bestF = this.cma.bestF;
      s.bestX = this.cma.bestX;
    }
    const global = this.globalStop();
    if (global) {
      this.finishRun(global);
      s.finalStop = global;
      return;
    }
    let reason = this.cma.stopReason();
    if (!reason && s.currentBudget !== null && this.cma.evaluations >= s.currentBudget) reason = 'budget';
    if (!reason) return;
    this.finishRun(reason);
    if (s.strategy === 'none') {
      s.finalStop = reason;
      return;
    }
    if (s.runs.length > s.maxRestarts) {
      s.finalStop = `${reason} (after ${s.maxRestarts} restarts)`;
      return;
    }
    this.startNextRun();
  }

  /** Why the whole optimisation should stop (target reached, budget used, restarts exhausted), or undefined. */
  stopReason(): string | undefined {
    return this.s.finalStop ?? this.globalStop();
  }

  toState(): CmaEsRestartsState {
    this.s.current = this.cma.toState();
    this.s.random = this.random.toState();
    return structuredClone(this.s);
  }

  private globalStop(): string | undefined {
    if (this.s.targetF !== null && this.bestF < this.s.targetF) return 'targetf';
    if (this.evaluations >= this.s.maxEvaluations) return 'maxevals';
    return undefined;
  }

  private finishRun(reason: string): void {
    const s = this.s;
    const evaluations = this.cma.evaluations;
    s.runs.push({
      run: s.runs.length,
      regime: s.currentRegime,
      populationSize: this.cma.populationSize,
      initialSigma: s.current.initialSigma,
      evaluations,
      generations: this.cma.generation,
      bestF: Number.isFinite(this.cma.bestF) ? this.cma.bestF : null,
      stopReason: reason,
    });
    s.finishedEvaluations += evaluations;
    s.finishedGenerations += this.cma.generation;
    if (s.currentRegime === 'small') {
      s.smallEvaluations += evaluations;
    } else {
      s.largeEvaluations += evaluations;
      s.lastLargeEvaluations = evaluations;
    }
  }

  private startNextRun(): void {
    const s = this.s;
    const n = s.dimension;
    let lambda: number;
    let sigma = s.initialSigma;
    let regime: RestartRecord['regime'] = 'large';
    let budget: number | null = null;
    if (s.strategy === 'bipop' && s.smallEvaluations < s.largeEvaluations) {
      regime = 'small';
      const u = this.random.nextDouble();
      const largest = s.defaultPopulation * 2 ** (s.largeRuns - 1);
      lambda = Math.max(2, Math.floor(s.defaultPopulation * ((0.5 * largest) / s.defaultPopulation) ** (u * u)));
      sigma = s.initialSigma * 10 ** (-2 * u);
      budget = Math.max(lambda, Math.floor(s.lastLargeEvaluations / 2));
    } else {
      lambda = s.defaultPopulation * 2 ** s.largeRuns;
      s.largeRuns += 1;
    }
    // Never past the total budget's worth of one generation: a λ beyond it could not finish one.
    lambda = Math.min(lambda, Math.max(2, s.maxEvaluations), 100_000);
    const mean = s.initialMean.map((x) => x + s.restartSpread * (2 * this.random.nextDouble() - 1));
    const seed = this.random.nextUint32();
    this.cma = CmaEs.create({ dimension: n, seed, initialMean: mean, initialSigma: sigma, populationSize: lambda });
    s.current = this.cma.toState();
    s.currentRegime = regime;
    s.currentBudget = budget;
  }
}
