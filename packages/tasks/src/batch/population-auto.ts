/**
 * `--population auto`: a population that fits the workers. A generation waits for all of
 * its candidates, so with λ not a multiple of the worker count the last round of every
 * generation leaves workers idle (λ 10 on 4 workers: 3 rounds, the last with 2 idle).
 * Rounding λ up to the next multiple fills those slots: the extra candidates cost no wall
 * time, and a larger λ is also more robust on multimodal and noisy objectives.
 *
 * The result is fixed when the run starts and saved with it (a resume keeps it, whatever
 * the worker count then), so the run's answer never depends on how many workers came up.
 */
import { SynktiError } from '@synkti/core';
import { CmaEs } from '../cmaes/cma-es.ts';

/** A population asked for: a number of candidates, or 'auto' (fitted to the workers). */
export type PopulationRequest = number | 'auto';

/** Largest population CMA-ES accepts. */
const MAX_POPULATION = 100_000;

/**
 * The smallest multiple of `workers` that is at least CMA-ES's default population for
 * `dimension` (4 + ⌊3 ln dimension⌋): dim 10 on 4 workers gives 12, on 3 workers 12, on
 * 16 workers 16.
 */
export function populationForWorkers(dimension: number, workers: number): number {
  if (!Number.isInteger(dimension) || dimension < 1) {
    throw new SynktiError('E_USAGE', `--dim ${String(dimension)} must be a whole number of at least 1`, {
      hint: 'the number of parameters of a candidate, e.g. --dim 10',
    });
  }
  if (!Number.isInteger(workers) || workers < 1) {
    throw new SynktiError('E_USAGE', `--population auto fits the population to the workers, but --workers is ${String(workers)}`, {
      hint: 'with workers started elsewhere (--workers 0, --stack) give --population N, a multiple of the workers you run',
    });
  }
  const defaultSize = CmaEs.defaultPopulationSize(dimension);
  const size = Math.max(2, Math.ceil(defaultSize / workers) * workers);
  if (size > MAX_POPULATION) {
    throw new SynktiError(
      'E_USAGE',
      `--population auto would be ${size} for ${workers} workers, above CMA-ES's limit of ${MAX_POPULATION}`,
      {
        hint: `give --population N (at most ${MAX_POPULATION}) or fewer --workers`,
      },
    );
  }
  return size;
}
