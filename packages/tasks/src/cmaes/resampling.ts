/**
 * Noisy objectives by re-evaluation with an increasing sample count: every candidate is
 * evaluated `samples` times and CMA-ES is told the mean. While the generation's spread of
 * means stands well above their standard error, ranking works and nothing changes; once
 * it does not (noise dominates the differences CMA-ES must rank, the failure UH-CMA-ES,
 * Hansen et al. 2009, detects by rank changes), the sample count doubles, up to
 * `maxSamples`: the noise of a mean falls as 1/√samples, so the search keeps
 * converging where a single evaluation per candidate stalls at the noise level.
 *
 * `ask()` hands out each candidate `samples` times in a row (so any evaluator, the batch
 * coordinator included, evaluates the copies), `tell()` takes the scores in that order.
 * The state is plain JSON; a restore continues bit for bit.
 */
import { SynktiError } from '@synkti/core';
import { CmaEs, type CmaEsOptions, type CmaEsState } from './cma-es.ts';

export interface ResampledCmaEsOptions extends CmaEsOptions {
  /** Evaluations per candidate at the start. @default 1 */
  initialSamples?: number | undefined;
  /** Most evaluations per candidate. @default 64 */
  maxSamples?: number | undefined;
  /**
   * The sample count doubles when the spread (interquartile range) of the candidates'
   * means is below this many standard errors of a mean. @default 2
   */
  noiseRatio?: number | undefined;
}

export interface ResampledCmaEsState {
  format: 'synkti-cmaes-resampled/v1';
  cma: CmaEsState;
  samples: number;
  maxSamples: number;
  noiseRatio: number;
  /** Evaluations told, every sample counted. */
  evaluations: number;
  /** Generation at which each doubling happened. */
  doublings: number[];
}

function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export class ResampledCmaEs {
  private readonly s: ResampledCmaEsState;
  private readonly cma: CmaEs;

  private constructor(state: ResampledCmaEsState) {
    this.s = state;
    this.cma = CmaEs.restore(state.cma);
  }

  static create(options: ResampledCmaEsOptions): ResampledCmaEs {
    const samples = options.initialSamples ?? 1;
    const maxSamples = options.maxSamples ?? 64;
    const noiseRatio = options.noiseRatio ?? 2;
    if (!Number.isInteger(samples) || samples < 1)
      throw new SynktiError('E_CMAES_OPTIONS', `initialSamples must be a whole number of at least 1, got ${String(samples)}`, {
        hint: 'omit it for 1',
      });
    if (!Number.isInteger(maxSamples) || maxSamples < samples)
      throw new SynktiError(
        'E_CMAES_OPTIONS',
        `maxSamples must be a whole number of at least initialSamples (${samples}), got ${String(maxSamples)}`,
        { hint: 'omit it for 64' },
      );
    if (!Number.isFinite(noiseRatio) || noiseRatio <= 0)
      throw new SynktiError('E_CMAES_OPTIONS', `noiseRatio must be a positive number, got ${String(noiseRatio)}`, {
        hint: 'omit it for 2',
      });
    const cma = CmaEs.create(options);
    return new ResampledCmaEs({
      format: 'synkti-cmaes-resampled/v1',
      cma: cma.toState(),
      samples,
      maxSamples,
      noiseRatio,
      evaluations: 0,
      doublings: [],
    });
  }

  static restore(state: ResampledCmaEsState): ResampledCmaEs {
    if (state?.format !== 'synkti-cmaes-resampled/v1' || !Number.isInteger(state.samples) || state.samples < 1) {
      throw new SynktiError('E_CMAES_STATE', 'the resampled CMA-ES state is not usable', {
        hint: 'resume from an unchanged checkpoint written by this version of Synkti',
      });
    }
    return new ResampledCmaEs(structuredClone(state));
  }

  get samples(): number {
    return this.s.samples;
  }
  /** CMA-ES's λ: candidates per generation (each asked `samples` times). */
  get populationSize(): number {
    return this.cma.populationSize;
  }
  get evaluations(): number {
    return this.s.evaluations;
  }
  get generation(): number {
    return this.cma.generation;
  }
  get sigma(): number {
    return this.cma.sigma;
  }
  get mean(): number[] {
    return this.cma.mean;
  }
  /** Best mean of `samples` evaluations told so far (a noisy estimate). */
  get bestF(): number {
    return this.cma.bestF;
  }
  get bestX(): number[] {
    return this.cma.bestX;
  }
  get doublings(): number[] {
    return [...this.s.doublings];
  }

  /** Each of CMA-ES's candidates `samples` times in a row. */
  ask(): number[][] {
    return this.cma.ask().flatMap((x) => Array.from({ length: this.s.samples }, () => [...x]));
  }

  tell(scores: readonly number[]): void {
    const k = this.s.samples;
    const lambda = this.cma.populationSize;
    if (scores.length !== lambda * k) {
      throw new SynktiError(
        'E_CMAES_TELL',
        `tell() needs ${lambda * k} scores (${lambda} candidates × ${k} samples), got ${scores.length}`,
        { hint: 'score every entry ask() returned, in order' },
      );
    }
    const means: number[] = [];
    let variance = 0;
    for (let c = 0; c < lambda; c += 1) {
      const group = scores.slice(c * k, c * k + k);
      const mean = group.reduce((a, b) => a + b, 0) / k;
      means.push(mean);
      if (k > 1) variance += group.reduce((a, b) => a + (b - mean) ** 2, 0) / (k - 1);
    }
    this.cma.tell(means);
    this.s.evaluations += scores.length;
    if (k < this.s.maxSamples && means.every(Number.isFinite)) {
      const sorted = [...means].sort((a, b) => a - b);
      const spread = quantile(sorted, 0.75) - quantile(sorted, 0.25);
      // With one sample there is no variance estimate: take a second one to get it.
      const standardError = k > 1 ? Math.sqrt(variance / lambda / k) : Infinity;
      if (spread < this.s.noiseRatio * standardError) {
        this.s.samples = Math.min(this.s.maxSamples, k * 2);
        this.s.doublings.push(this.cma.generation);
      }
    }
  }

  stopReason(): string | undefined {
    return this.cma.stopReason();
  }

  toState(): ResampledCmaEsState {
    this.s.cma = this.cma.toState();
    return structuredClone(this.s);
  }
}
