/**
 * CMA-ES on a noisy objective, with and without re-evaluation (ResampledCmaEs: each
 * candidate evaluated `samples` times, doubling when noise dominates the ranking).
 *
 *   npm run bench -- cmaes-noise [--objective sphere|rosenbrock] [--dim 10] [--noise 1] [--budget 30000] [--seeds 15]
 *
 * The noisy objective is f(x) + noise·N(0, 1) (additive Gaussian, standard deviation
 * `--noise`); both optimizers get the same evaluation budget, every sample counted, and
 * start at x0 = 3·1 (sphere) or 0 (rosenbrock) with σ0 = 1. Reported: the TRUE f (no noise)
 * at each run's final mean, median over the seeds. Ends with
 * {"bench":"cmaes-noise","median_true_f":{"plain":..,"resampled":..},...}.
 */
import { numberArg, parseArgs } from './lib/args.ts';
import { median } from './lib/stats.ts';
import { CmaEs, ResampledCmaEs, SeededRandom, builtinObjectives } from '../packages/tasks/src/cmaes/index.ts';

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log('usage: npm run bench -- cmaes-noise [--objective sphere|rosenbrock] [--dim 10] [--noise 1] [--budget 30000] [--seeds 15]');
    return;
  }
  const name = args.get('objective') ?? 'sphere';
  if (name !== 'sphere' && name !== 'rosenbrock') throw new Error(`--objective must be sphere or rosenbrock, got "${name}"`);
  const dim = numberArg(args, 'dim', 10);
  const noise = numberArg(args, 'noise', 1);
  const budget = numberArg(args, 'budget', 30_000);
  const seeds = numberArg(args, 'seeds', 15);
  const f = builtinObjectives[name];
  const x0 = new Array<number>(dim).fill(name === 'sphere' ? 3 : 0);
  const results = { plain: [] as number[], resampled: [] as number[], samples: [] as number[] };
  for (let seed = 1; seed <= seeds; seed += 1) {
    const noiseRandom = SeededRandom.fromSeed(500 + seed);
    const noisy = (x: readonly number[]): number => f(x) + noise * noiseRandom.nextGaussian();
    const plain = CmaEs.create({ dimension: dim, seed, initialMean: x0, initialSigma: 1 });
    while (plain.evaluations + plain.populationSize <= budget) plain.tell(plain.ask().map(noisy));
    const resampled = ResampledCmaEs.create({ dimension: dim, seed, initialMean: x0, initialSigma: 1 });
    for (;;) {
      const batch = resampled.ask();
      if (resampled.evaluations + batch.length > budget) break;
      resampled.tell(batch.map(noisy));
    }
    results.plain.push(f(plain.mean));
    results.resampled.push(f(resampled.mean));
    results.samples.push(resampled.samples);
    console.error(
      `seed ${seed}: true f at the final mean: plain ${f(plain.mean).toExponential(2)} (${plain.evaluations} evals), ` +
        `resampled ${f(resampled.mean).toExponential(2)} (${resampled.evaluations} evals, ${resampled.samples} samples/candidate at the end)`,
    );
  }
  const better = results.resampled.filter((v, i) => v < results.plain[i]!).length;
  console.log(
    `${name} ${dim}-D + N(0, ${noise}²) noise, ${budget} evaluations each, ${seeds} seeds: median true f at the final mean ` +
      `plain ${median(results.plain).toExponential(2)}, resampled ${median(results.resampled).toExponential(2)}; resampled better in ${better} of ${seeds}`,
  );
  console.log(
    JSON.stringify({
      bench: 'cmaes-noise',
      objective: name,
      dim,
      noise,
      budget,
      seeds,
      median_true_f: { plain: median(results.plain), resampled: median(results.resampled) },
      resampled_better: better,
      true_f: { plain: results.plain, resampled: results.resampled },
      final_samples: results.samples,
    }),
  );
}
