/**
 * CMA-ES, the covariance matrix adaptation evolution strategy, as given in N. Hansen,
 * "The CMA Evolution Strategy: A Tutorial" (arXiv:1604.00772), with its default
 * parameters: λ = 4 + ⌊3 ln n⌋ candidates, μ = ⌊λ/2⌋ positive recombination weights,
 * cumulative step-size adaptation, rank-one and rank-μ covariance updates, and an
 * eigendecomposition refreshed lazily (every ~n/(10(c1+cμ)) samples).
 *
 * Ask/tell: `ask()` gives the generation's candidates (the same ones until `tell`),
 * `tell(fitness)` takes their scores in the same order (lower is better). The whole
 * state, random generator and pending candidates included, is plain JSON: a run
 * restored from `toState()` continues bit for bit like one that never stopped.
 */
import { SynktiError } from '@synkti/core';
import { symmetricEigen } from './eigen.ts';
import { SeededRandom, type RandomState } from './random.ts';

export interface CmaEsOptions {
  /** Number of variables n. */
  dimension: number;
  /** Seed of the random generator: the same seed gives the same run. */
  seed: number;
  /** Starting point. @default zeros */
  initialMean?: number[] | undefined;
  /** Starting step size σ₀ (about a quarter of the search range is a good choice). @default 0.3 */
  initialSigma?: number | undefined;
  /** Candidates per generation λ. @default 4 + ⌊3 ln n⌋ */
  populationSize?: number | undefined;
}

export interface CmaEsState {
  format: 'synkti-cmaes/v1';
  dimension: number;
  populationSize: number;
  initialSigma: number;
  generation: number;
  evaluations: number;
  mean: number[];
  sigma: number;
  /** Covariance matrix C, row-major. */
  covariance: number[][];
  /** Eigenvectors of C (columns) and the square roots of its eigenvalues, as last computed. */
  basis: number[][];
  scales: number[];
  eigenEvaluations: number;
  pathSigma: number[];
  pathC: number[];
  random: RandomState;
  /** Candidates handed out by ask() and not yet told, with their steps y = (x − m)/σ. */
  pending: { candidates: number[][]; steps: number[][] } | null;
  bestF: number | null;
  bestX: number[];
  /** Best fitness of each recent generation, for the tolfun stop. */
  recentBest: number[];
  /** Fitness range of the last generation told. */
  lastRange: number | null;
  /**
   * Best and median fitness of each generation (the last 20,000 at most), for the
   * stagnation stop; absent in states written before it existed (then it starts empty).
   */
  bestHistory?: number[] | undefined;
  medianHistory?: number[] | undefined;
  /** Per recent generation, 1 when its best and its ⌈0.1 + λ/4⌉-th best fitness were equal (equalfunvalues). */
  equalHistory?: number[] | undefined;
}

/** Longest history kept for the stagnation stop (Hansen 2009's cap). */
const MAX_STAGNATION_HISTORY = 20_000;

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Parameters {
  mu: number;
  weights: number[];
  muEff: number;
  cSigma: number;
  dSigma: number;
  cC: number;
  c1: number;
  cMu: number;
  chiN: number;
}

/** The tutorial's default strategy parameters (Table 1). */
function defaultParameters(n: number, lambda: number): Parameters {
  const mu = Math.floor(lambda / 2);
  const raw = Array.from({ length: mu }, (_, i) => Math.log((lambda + 1) / 2) - Math.log(i + 1));
  const total = raw.reduce((a, b) => a + b, 0);
  const weights = raw.map((w) => w / total);
  const muEff = 1 / weights.reduce((a, w) => a + w * w, 0);
  const cSigma = (muEff + 2) / (n + muEff + 5);
  const dSigma = 1 + 2 * Math.max(0, Math.sqrt((muEff - 1) / (n + 1)) - 1) + cSigma;
  const cC = (4 + muEff / n) / (n + 4 + (2 * muEff) / n);
  const c1 = 2 / ((n + 1.3) ** 2 + muEff);
  const cMu = Math.min(1 - c1, (2 * (muEff - 2 + 1 / muEff)) / ((n + 2) ** 2 + muEff));
  const chiN = Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n));
  return { mu, weights, muEff, cSigma, dSigma, cC, c1, cMu, chiN };
}

function fail(message: string, hint: string): never {
  throw new SynktiError('E_CMAES_OPTIONS', message, { hint });
}

function identity(n: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
}

function norm(v: readonly number[]): number {
  return Math.sqrt(v.reduce((a, x) => a + x * x, 0));
}

export class CmaEs {
  readonly dimension: number;
  readonly populationSize: number;
  private readonly p: Parameters;
  private readonly s: CmaEsState;
  private readonly random: SeededRandom;

  private constructor(state: CmaEsState) {
    this.s = state;
    this.dimension = state.dimension;
    this.populationSize = state.populationSize;
    this.p = defaultParameters(state.dimension, state.populationSize);
    this.random = SeededRandom.restore(state.random);
  }

  static defaultPopulationSize(dimension: number): number {
    return 4 + Math.floor(3 * Math.log(dimension));
  }

  static create(options: CmaEsOptions): CmaEs {
    const n = options.dimension;
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      fail(`dimension must be a whole number from 1 to 1000, got ${String(n)}`, 'pass e.g. --dim 10');
    const lambda = options.populationSize ?? CmaEs.defaultPopulationSize(n);
    if (!Number.isInteger(lambda) || lambda < 2 || lambda > 100_000)
      fail(
        `populationSize must be a whole number of at least 2, got ${String(lambda)}`,
        `omit it for the default ${CmaEs.defaultPopulationSize(n)}`,
      );
    const sigma = options.initialSigma ?? 0.3;
    if (!Number.isFinite(sigma) || sigma <= 0)
      fail(`initialSigma must be a positive number, got ${String(sigma)}`, 'about a quarter of the search range, e.g. 0.3');
    const mean = options.initialMean ?? new Array<number>(n).fill(0);
    if (mean.length !== n || !mean.every(Number.isFinite))
      fail(`initialMean must hold ${n} finite numbers`, 'pass one starting value per dimension');
    const random = SeededRandom.fromSeed(options.seed);
    return new CmaEs({
      format: 'synkti-cmaes/v1',
      dimension: n,
      populationSize: lambda,
      initialSigma: sigma,
      generation: 0,
      evaluations: 0,
      mean: [...mean],
      sigma,
      covariance: identity(n),
      basis: identity(n),
      scales: new Array<number>(n).fill(1),
      eigenEvaluations: 0,
      pathSigma: new Array<number>(n).fill(0),
      pathC: new Array<number>(n).fill(0),
      random: random.toState(),
      pending: null,
      bestF: null,
      bestX: [...mean],
      recentBest: [],
      lastRange: null,
      bestHistory: [],
      medianHistory: [],
      equalHistory: [],
    });
  }

  static restore(state: CmaEsState): CmaEs {
    const bad = (what: string): never => {
      throw new SynktiError('E_CMAES_STATE', `the CMA-ES state is not usable: ${what}`, {
        hint: 'resume from a checkpoint written by this version of Synkti, unchanged',
      });
    };
    if (state?.format !== 'synkti-cmaes/v1') bad(`format is ${JSON.stringify(state?.format)}, expected "synkti-cmaes/v1"`);
    const n = state.dimension;
    if (!Number.isInteger(n) || n < 1) bad('dimension');
    const vector = (v: unknown, name: string): void => {
      if (!Array.isArray(v) || v.length !== n || !v.every((x) => typeof x === 'number' && Number.isFinite(x)))
        bad(`${name} must hold ${n} finite numbers`);
    };
    const matrix = (m: unknown, name: string): void => {
      if (!Array.isArray(m) || m.length !== n) bad(`${name} must be ${n}×${n}`);
      (m as unknown[]).forEach((row) => vector(row, name));
    };
    vector(state.mean, 'mean');
    vector(state.pathSigma, 'pathSigma');
    vector(state.pathC, 'pathC');
    vector(state.scales, 'scales');
    vector(state.bestX, 'bestX');
    matrix(state.covariance, 'covariance');
    matrix(state.basis, 'basis');
    for (const key of ['bestHistory', 'medianHistory', 'equalHistory'] as const) {
      const h = state[key];
      if (h !== undefined && (!Array.isArray(h) || !h.every((x) => typeof x === 'number' && !Number.isNaN(x))))
        bad(`${key} must be a list of numbers`);
    }
    if (!Number.isInteger(state.populationSize) || state.populationSize < 2) bad('populationSize');
    if (!(state.sigma > 0) || !Number.isFinite(state.sigma)) bad('sigma');
    if (state.pending !== null) {
      const { candidates, steps } = state.pending ?? {};
      if (
        !Array.isArray(candidates) ||
        !Array.isArray(steps) ||
        candidates.length !== state.populationSize ||
        steps.length !== state.populationSize
      )
        bad('pending candidates');
      candidates.forEach((c) => vector(c, 'a pending candidate'));
      steps.forEach((c) => vector(c, 'a pending step'));
    }
    return new CmaEs(structuredClone(state));
  }

  get generation(): number {
    return this.s.generation;
  }
  get evaluations(): number {
    return this.s.evaluations;
  }
  get sigma(): number {
    return this.s.sigma;
  }
  get mean(): number[] {
    return [...this.s.mean];
  }
  /** Best fitness told so far (Infinity before the first tell). */
  get bestF(): number {
    return this.s.bestF ?? Infinity;
  }
  get bestX(): number[] {
    return [...this.s.bestX];
  }

  /** The λ candidates of the current generation: x_k = m + σ B D z_k, z_k ~ N(0, I). */
  ask(): number[][] {
    if (this.s.pending === null) {
      const n = this.dimension;
      const { basis, scales, mean, sigma } = this.s;
      const candidates: number[][] = [];
      const steps: number[][] = [];
      for (let k = 0; k < this.populationSize; k += 1) {
        const dz = Array.from({ length: n }, (_, i) => scales[i]! * this.random.nextGaussian());
        const y = Array.from({ length: n }, (_, i) => {
          let sum = 0;
          for (let j = 0; j < n; j += 1) sum += basis[i]![j]! * dz[j]!;
          return sum;
        });
        steps.push(y);
        candidates.push(y.map((yi, i) => mean[i]! + sigma * yi));
      }
      this.s.pending = { candidates, steps };
      this.s.random = this.random.toState();
    }
    return this.s.pending.candidates.map((c) => [...c]);
  }

  /** Updates mean, paths, covariance and step size from the fitness of ask()'s candidates. */
  tell(fitness: readonly number[]): void {
    if (this.s.pending === null) this.ask();
    const pending = this.s.pending!;
    if (fitness.length !== this.populationSize) {
      throw new SynktiError('E_CMAES_TELL', `tell() needs ${this.populationSize} fitness values, got ${fitness.length}`, {
        hint: 'score every candidate ask() returned, in the same order',
      });
    }
    fitness.forEach((f, i) => {
      if (typeof f !== 'number' || Number.isNaN(f)) {
        throw new SynktiError('E_CMAES_TELL', `fitness of candidate ${i} is ${String(f)}`, {
          hint: 'the objective must return a number for every candidate (use Infinity for an infeasible one)',
        });
      }
    });
    const n = this.dimension;
    const { mu, weights, muEff, cSigma, dSigma, cC, c1, cMu, chiN } = this.p;
    const s = this.s;
    // Stable sort by fitness, ties by index, so the order never depends on the engine.
    const order = fitness.map((f, i) => i).sort((a, b) => fitness[a]! - fitness[b]! || a - b);
    const best = order[0]!;
    if (s.bestF === null || fitness[best]! < s.bestF) {
      s.bestF = Number.isFinite(fitness[best]!) ? fitness[best]! : s.bestF;
      if (s.bestF !== null) s.bestX = [...pending.candidates[best]!];
    }
    const selected = order.slice(0, mu).map((i) => pending.steps[i]!);
    const yw = new Array<number>(n).fill(0);
    selected.forEach((y, r) => {
      for (let i = 0; i < n; i += 1) yw[i]! += weights[r]! * y[i]!;
    });
    s.mean = s.mean.map((m, i) => m + s.sigma * yw[i]!);

    // C^(-1/2) y_w = B D^(-1) Bᵀ y_w
    const { basis, scales } = s;
    const bty = Array.from({ length: n }, (_, j) => {
      let sum = 0;
      for (let i = 0; i < n; i += 1) sum += basis[i]![j]! * yw[i]!;
      return sum / scales[j]!;
    });
    const invSqrtCy = Array.from({ length: n }, (_, i) => {
      let sum = 0;
      for (let j = 0; j < n; j += 1) sum += basis[i]![j]! * bty[j]!;
      return sum;
    });
    const psFactor = Math.sqrt(cSigma * (2 - cSigma) * muEff);
    s.pathSigma = s.pathSigma.map((p, i) => (1 - cSigma) * p + psFactor * invSqrtCy[i]!);
    const generation = s.generation + 1;
    const psNorm = norm(s.pathSigma);
    const hSigma = psNorm / Math.sqrt(1 - (1 - cSigma) ** (2 * generation)) < (1.4 + 2 / (n + 1)) * chiN ? 1 : 0;
    const pcFactor = hSigma * Math.sqrt(cC * (2 - cC) * muEff);
    s.pathC = s.pathC.map((p, i) => (1 - cC) * p + pcFactor * yw[i]!);
    const deltaH = (1 - hSigma) * cC * (2 - cC);
    const keep = 1 - c1 - cMu;
    for (let i = 0; i < n; i += 1) {
      for (let j = 0; j <= i; j += 1) {
        let rankMu = 0;
        selected.forEach((y, r) => {
          rankMu += weights[r]! * y[i]! * y[j]!;
        });
        const value = keep * s.covariance[i]![j]! + c1 * (s.pathC[i]! * s.pathC[j]! + deltaH * s.covariance[i]![j]!) + cMu * rankMu;
        s.covariance[i]![j] = value;
        s.covariance[j]![i] = value;
      }
    }
    s.sigma *= Math.exp((cSigma / dSigma) * (psNorm / chiN - 1));
    s.evaluations += this.populationSize;
    s.generation = generation;
    s.pending = null;

    // Decompose C again only every n/(10(c1+cμ)) samples: O(n³) work amortised (tutorial B.2).
    if (s.evaluations - s.eigenEvaluations > this.populationSize / (c1 + cMu) / n / 10) {
      s.eigenEvaluations = s.evaluations;
      const { values, vectors } = symmetricEigen(s.covariance);
      s.basis = vectors;
      s.scales = values.map((v) => Math.sqrt(Math.max(v, 1e-300)));
    }

    const finite = fitness.filter(Number.isFinite);
    s.lastRange = finite.length > 0 ? Math.max(...finite) - Math.min(...finite) : null;
    s.recentBest.push(Number.isFinite(fitness[best]!) ? fitness[best]! : Number.MAX_VALUE);
    const window = 10 + Math.ceil((30 * n) / this.populationSize);
    if (s.recentBest.length > window) s.recentBest.splice(0, s.recentBest.length - window);
    const bestHistory = (s.bestHistory ??= []);
    const medianHistory = (s.medianHistory ??= []);
    const equalHistory = (s.equalHistory ??= []);
    const sorted = order.map((i) => fitness[i]!);
    bestHistory.push(Number.isFinite(sorted[0]!) ? sorted[0]! : Number.MAX_VALUE);
    const median = medianOf(sorted);
    medianHistory.push(Number.isFinite(median) ? median : Number.MAX_VALUE);
    if (bestHistory.length > MAX_STAGNATION_HISTORY) bestHistory.splice(0, bestHistory.length - MAX_STAGNATION_HISTORY);
    if (medianHistory.length > MAX_STAGNATION_HISTORY) medianHistory.splice(0, medianHistory.length - MAX_STAGNATION_HISTORY);
    const k = Math.min(this.populationSize, Math.ceil(0.1 + this.populationSize / 4));
    equalHistory.push(sorted[0] === sorted[k - 1] ? 1 : 0);
    if (equalHistory.length > window) equalHistory.splice(0, equalHistory.length - window);
  }

  /**
   * Why the run should stop, or undefined: the stopping criteria of N. Hansen, "Benchmarking
   * a BI-population CMA-ES on the BBOB-2009 function testbed" (GECCO 2009), which are what
   * trigger an IPOP/BIPOP restart:
   * - `tolfun`: best fitness of the last 10 + ⌈30n/λ⌉ generations and all of the last
   *   generation within 1e-12;
   * - `tolx`: σ·pc and σ·√Cii all below 1e-12·σ0;
   * - `noeffectaxis`: adding 0.1σ along a principal axis (axis g mod n) leaves the mean unchanged;
   * - `noeffectcoord`: adding 0.2σ√Cii to a coordinate leaves it unchanged;
   * - `conditioncov`: the condition number of C above 1e14;
   * - `equalfunvalues`: in over a third of the last 10 + ⌈30n/λ⌉ generations the best and
   *   the ⌈0.1 + λ/4⌉-th best fitness were equal;
   * - `stagnation`: over the last 20 % of generations (at least 120 + 30n/λ, at most 20,000)
   *   neither the median of the best nor of the median fitness of the latest 30 % is better
   *   than that of the earliest 30 %;
   * - `tolxup`: σ·max(√eigenvalue) grew above 1e4·σ0 (σ0 far too small, or divergence);
   * - `sigma`: σ is no longer a positive finite number.
   */
  stopReason(): string | undefined {
    const s = this.s;
    const n = this.dimension;
    const lambda = this.populationSize;
    const window = 10 + Math.ceil((30 * n) / lambda);
    if (!Number.isFinite(s.sigma) || s.sigma === 0) return 'sigma';
    if (s.recentBest.length >= window && s.lastRange !== null) {
      const range = Math.max(...s.recentBest) - Math.min(...s.recentBest);
      if (Math.max(range, s.lastRange) < 1e-12) return 'tolfun';
    }
    const tolX = 1e-12 * s.initialSigma;
    const spread = Math.max(...s.covariance.map((row, i) => Math.sqrt(row[i]!)));
    if (s.generation > 0 && s.sigma * spread < tolX && s.pathC.every((p) => s.sigma * Math.abs(p) < tolX)) return 'tolx';
    const maxScale = Math.max(...s.scales);
    const minScale = Math.min(...s.scales);
    if ((maxScale / minScale) ** 2 > 1e14) return 'conditioncov';
    if (s.generation === 0) return undefined;
    if (s.sigma * maxScale > 1e4 * s.initialSigma) return 'tolxup';
    // m + 0.1σ·d_i·b_i == m, for the axis of this generation.
    const axis = s.generation % n;
    const step = 0.1 * s.sigma * s.scales[axis]!;
    if (s.mean.every((m, i) => m + step * s.basis[i]![axis]! === m)) return 'noeffectaxis';
    if (s.mean.some((m, i) => m + 0.2 * s.sigma * Math.sqrt(s.covariance[i]![i]!) === m)) return 'noeffectcoord';
    const equal = s.equalHistory ?? [];
    if (equal.length >= window && equal.reduce((a, b) => a + b, 0) > equal.length / 3) return 'equalfunvalues';
    const best = s.bestHistory ?? [];
    const medians = s.medianHistory ?? [];
    const span = Math.min(MAX_STAGNATION_HISTORY, Math.max(120 + Math.ceil((30 * n) / lambda), Math.ceil(0.2 * s.generation)));
    if (best.length >= span && medians.length >= span) {
      const part = Math.max(1, Math.ceil(0.3 * span));
      const stalled = (h: number[]): boolean => {
        const recent = h.slice(h.length - span);
        return medianOf(recent.slice(recent.length - part)) >= medianOf(recent.slice(0, part));
      };
      if (stalled(best) && stalled(medians)) return 'stagnation';
    }
    return undefined;
  }

  toState(): CmaEsState {
    this.s.random = this.random.toState();
    return structuredClone(this.s);
  }
}
