/**
 * Re-evaluation for noisy objectives: on a 10-D sphere with N(0, 1) additive noise and
 * the same budget (every sample counted), the true f at the final mean must be lower with
 * ResampledCmaEs than with plain CMA-ES in most seeds (bench cmaes-noise: 15 of 15).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSynktiError } from '@synkti/core';
import { CmaEs } from './cma-es.ts';
import { builtinObjectives } from './objectives.ts';
import { SeededRandom } from './random.ts';
import { ResampledCmaEs } from './resampling.ts';

const sphere = builtinObjectives.sphere;

describe('ResampledCmaEs (noisy objectives)', () => {
  it('beats plain CMA-ES on a noisy 10-D sphere at the same budget (12,000 evaluations) in at least 4 of 5 seeds, doubling its samples', () => {
    let better = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const noise = SeededRandom.fromSeed(500 + seed);
      const noisy = (x: readonly number[]): number => sphere(x) + noise.nextGaussian();
      const x0 = new Array<number>(10).fill(3);
      const plain = CmaEs.create({ dimension: 10, seed, initialMean: x0, initialSigma: 1 });
      while (plain.evaluations + plain.populationSize <= 12_000) plain.tell(plain.ask().map(noisy));
      const resampled = ResampledCmaEs.create({ dimension: 10, seed, initialMean: x0, initialSigma: 1 });
      for (let batch = resampled.ask(); resampled.evaluations + batch.length <= 12_000; batch = resampled.ask())
        resampled.tell(batch.map(noisy));
      assert.ok(resampled.samples >= 4, `seed ${seed}: samples grew to ${resampled.samples}`);
      if (sphere(resampled.mean) < sphere(plain.mean)) better += 1;
    }
    assert.ok(better >= 4, `better in ${better} of 5`);
  });

  it('a noise-free objective keeps 2 samples (the second measures the noise), and a restored state continues bit for bit', () => {
    const straight = ResampledCmaEs.create({ dimension: 4, seed: 9, initialMean: [1, 1, 1, 1] });
    for (let g = 0; g < 40; g += 1) straight.tell(straight.ask().map(sphere));
    assert.equal(straight.samples, 2);
    let hopping = ResampledCmaEs.create({ dimension: 4, seed: 9, initialMean: [1, 1, 1, 1] });
    for (let g = 0; g < 40; g += 1) {
      hopping.tell(hopping.ask().map(sphere));
      hopping = ResampledCmaEs.restore(JSON.parse(JSON.stringify(hopping.toState())));
    }
    assert.deepEqual(hopping.toState(), straight.toState());
  });

  it('refuses bad options and a wrong number of scores, naming them', () => {
    assert.throws(
      () => ResampledCmaEs.create({ dimension: 3, seed: 1, maxSamples: 0 }),
      (e: unknown) => isSynktiError(e, 'E_CMAES_OPTIONS') && /maxSamples/.test((e as Error).message),
    );
    const r = ResampledCmaEs.create({ dimension: 3, seed: 1 });
    assert.throws(
      () => r.tell([1, 2]),
      (e: unknown) => isSynktiError(e, 'E_CMAES_TELL') && /scores/.test((e as Error).message),
    );
  });
});
