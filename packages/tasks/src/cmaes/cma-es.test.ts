/**
 * CMA-ES against the published behaviour of standard CMA-ES.
 *
 * Evaluation budgets: N. Hansen and A. Ostermeier, "Completely Derandomized
 * Self-Adaptation in Evolution Strategies", Evolutionary Computation 9(2), 2001, Fig. 6/7:
 * with default λ = 10 on n = 10, the sphere needs about 1.4·10³ and Rosenbrock about
 * 6·10³ function evaluations to reach f < 1e-10 from the standard start (the tutorial,
 * arXiv:1604.00772, gives the same defaults). We allow a 50 % margin above those
 * figures. Rosenbrock has a local minimum that standard CMA-ES hits in a minority of
 * runs (~10-20 % in the paper); the seeds below are a fixed sample, and the test asks
 * that at least 4 of 5 reach the target, as the published success rate implies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { CmaEs } from './cma-es.ts';
import { symmetricEigen } from './eigen.ts';
import { minimize } from './minimize.ts';
import { builtinObjectives } from './objectives.ts';
import { SeededRandom } from './random.ts';

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('CMA-ES (Hansen) on standard functions, n = 10', () => {
  it('10-D sphere reaches f < 1e-8 within the published ~1,400 evaluations (+50 %)', () => {
    const evaluations: number[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = minimize(builtinObjectives.sphere, {
        dimension: 10,
        seed,
        initialMean: new Array(10).fill(1),
        initialSigma: 0.5,
        targetF: 1e-8,
        maxEvaluations: 5000,
      });
      assert.ok(result.bestF < 1e-8, `seed ${seed}: best f ${result.bestF} after ${result.evaluations} evaluations`);
      evaluations.push(result.evaluations);
    }
    assert.equal(CmaEs.defaultPopulationSize(10), 10, 'default λ = 4 + ⌊3 ln 10⌋');
    assert.ok(median(evaluations) <= 2100, `median ${median(evaluations)} evaluations (published ≈ 1,400)`);
  });

  it('10-D Rosenbrock reaches f < 1e-8 within the published ~6,000 evaluations (+50 %) in at least 4 of 5 runs', () => {
    const reached: number[] = [];
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = minimize(builtinObjectives.rosenbrock, {
        dimension: 10,
        seed,
        initialSigma: 0.5,
        targetF: 1e-8,
        maxEvaluations: 9000,
      });
      if (result.bestF < 1e-8) reached.push(result.evaluations);
    }
    assert.ok(reached.length >= 4, `${reached.length} of 5 runs reached 1e-8 within 9,000 evaluations`);
    assert.ok(median(reached) <= 9000);
  });

  it('adapts to a badly conditioned problem (ellipsoid, condition 1e6)', () => {
    const result = minimize(builtinObjectives.ellipsoid, {
      dimension: 10,
      seed: 7,
      initialMean: new Array(10).fill(1),
      initialSigma: 0.5,
      targetF: 1e-8,
      maxEvaluations: 12_000,
    });
    assert.ok(result.bestF < 1e-8, `best f ${result.bestF}`);
  });
});

describe('CMA-ES determinism and resume', () => {
  function trajectory(cma: CmaEs, generations: number): string[] {
    const steps: string[] = [];
    for (let g = 0; g < generations; g += 1) {
      const candidates = cma.ask();
      cma.tell(candidates.map((x) => builtinObjectives.rosenbrock(x)));
      steps.push(JSON.stringify({ candidates, mean: cma.mean, sigma: cma.sigma }));
    }
    return steps;
  }

  it('the same seed gives the same trajectory; another seed another one', () => {
    const a = trajectory(CmaEs.create({ dimension: 5, seed: 11 }), 30);
    const b = trajectory(CmaEs.create({ dimension: 5, seed: 11 }), 30);
    const c = trajectory(CmaEs.create({ dimension: 5, seed: 12 }), 30);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('a run restored from JSON continues bit for bit, also when saved between ask() and tell()', () => {
    const whole = trajectory(CmaEs.create({ dimension: 6, seed: 3 }), 60);

    const first = CmaEs.create({ dimension: 6, seed: 3 });
    const head = trajectory(first, 25);
    const resumed = CmaEs.restore(JSON.parse(JSON.stringify(first.toState())));
    assert.deepEqual([...head, ...trajectory(resumed, 35)], whole);

    const other = CmaEs.create({ dimension: 6, seed: 3 });
    trajectory(other, 40);
    const asked = other.ask();
    const midway = CmaEs.restore(JSON.parse(JSON.stringify(other.toState())));
    assert.deepEqual(midway.ask(), asked, 'pending candidates survive the checkpoint');
    midway.tell(asked.map((x) => builtinObjectives.rosenbrock(x)));
    const rest = [JSON.stringify({ candidates: asked, mean: midway.mean, sigma: midway.sigma }), ...trajectory(midway, 19)];
    assert.deepEqual(rest, whole.slice(40));
  });

  it('ask() repeats the same candidates until tell()', () => {
    const cma = CmaEs.create({ dimension: 3, seed: 1 });
    assert.deepEqual(cma.ask(), cma.ask());
  });
});

describe('CMA-ES input checks', () => {
  it('names the bad option, the bad fitness and the damaged state', () => {
    assert.throws(
      () => CmaEs.create({ dimension: 0, seed: 1 }),
      (e: unknown) => isSynktiError(e, 'E_CMAES_OPTIONS') && e.message.includes('dimension'),
    );
    assert.throws(
      () => CmaEs.create({ dimension: 3, seed: 1.5 }),
      (e: unknown) => isSynktiError(e, 'E_CMAES_OPTIONS') && e.message.includes('seed'),
    );
    assert.throws(
      () => CmaEs.create({ dimension: 3, seed: 1, initialSigma: -1 }),
      (e: unknown) => isSynktiError(e, 'E_CMAES_OPTIONS') && e.message.includes('initialSigma'),
    );
    assert.throws(
      () => CmaEs.create({ dimension: 3, seed: 1, initialMean: [1, 2] }),
      (e: unknown) => isSynktiError(e, 'E_CMAES_OPTIONS') && e.message.includes('initialMean'),
    );
    const cma = CmaEs.create({ dimension: 3, seed: 1 });
    const n = cma.ask().length;
    assert.throws(
      () => cma.tell(new Array(n - 1).fill(0)),
      (e: unknown) => isSynktiError(e, 'E_CMAES_TELL'),
    );
    const withNaN = new Array(n).fill(1);
    withNaN[2] = Number.NaN;
    assert.throws(
      () => cma.tell(withNaN),
      (e: unknown) => isSynktiError(e, 'E_CMAES_TELL') && e.message.includes('candidate 2'),
    );
    const state = cma.toState();
    assert.throws(
      () => CmaEs.restore({ ...state, format: 'other' as never }),
      (e: unknown) => isSynktiError(e, 'E_CMAES_STATE'),
    );
    assert.throws(
      () => CmaEs.restore({ ...state, mean: [1] }),
      (e: unknown) => isSynktiError(e, 'E_CMAES_STATE') && e.message.includes('mean'),
    );
  });

  it('an infeasible candidate (Infinity) is simply ranked last', () => {
    const cma = CmaEs.create({ dimension: 2, seed: 5 });
    for (let g = 0; g < 20; g += 1) cma.tell(cma.ask().map((x) => (x[0]! < -0.5 ? Infinity : builtinObjectives.sphere(x))));
    assert.ok(Number.isFinite(cma.bestF) && cma.mean.every(Number.isFinite));
  });
});

describe('symmetricEigen and SeededRandom', () => {
  it('decomposes random symmetric matrices: A v = λ v with orthonormal v', () => {
    const random = SeededRandom.fromSeed(99);
    for (const n of [1, 2, 5, 12]) {
      const a = Array.from({ length: n }, () => new Array<number>(n).fill(0));
      for (let i = 0; i < n; i += 1)
        for (let j = 0; j <= i; j += 1) {
          const x = random.nextGaussian();
          a[i]![j] = x;
          a[j]![i] = x;
        }
      const { values, vectors } = symmetricEigen(a);
      for (let k = 0; k < n; k += 1) {
        for (let i = 0; i < n; i += 1) {
          let av = 0;
          for (let j = 0; j < n; j += 1) av += a[i]![j]! * vectors[j]![k]!;
          assert.ok(Math.abs(av - values[k]! * vectors[i]![k]!) < 1e-9, `n=${n}: A v = λ v`);
        }
        for (let l = 0; l < n; l += 1) {
          let dot = 0;
          for (let i = 0; i < n; i += 1) dot += vectors[i]![k]! * vectors[i]![l]!;
          assert.ok(Math.abs(dot - (k === l ? 1 : 0)) < 1e-9, `n=${n}: orthonormal`);
        }
      }
    }
  });

  it('gives standard normal deviates and resumes its sequence from a saved state', () => {
    const random = SeededRandom.fromSeed(1);
    const xs = Array.from({ length: 20_000 }, () => random.nextGaussian());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `mean ${mean}, variance ${variance}`);
    random.nextGaussian();
    const copy = SeededRandom.restore(JSON.parse(JSON.stringify(random.toState())));
    assert.deepEqual(
      Array.from({ length: 5 }, () => copy.nextGaussian()),
      Array.from({ length: 5 }, () => random.nextGaussian()),
    );
  });
});
