/**
 * CMA-ES restarts on a multimodal objective: shifted Rastrigin (offset in [−3, 3]ⁿ from
 * the seed), x0 = 0, σ0 = 2, restarts drawn in [−4, 4]ⁿ (BBOB's set-up), target f < 1e-8.
 *
 *   npm run bench -- cmaes-restarts [--dim 10] [--seeds 15] [--strategies bipop,ipop,none] [--max-evals 2000000]
 *
 * For each strategy and seed: whether the target was reached, the evaluations used, the
 * runs (restarts + 1) and the largest λ. Runs in this process, one core.
 * Ends with {"bench":"cmaes-restarts","dim":..,"results":{strategy:{solved,seeds,median_evals,evals:[..]}}}.
 */
import { numberArg, parseArgs } from './lib/args.ts';
import { median, round, table } from './lib/stats.ts';
import { CmaEsRestarts, RESTART_STRATEGIES, shiftedRastrigin, type RestartStrategy } from '../packages/tasks/src/cmaes/index.ts';

const HELP = `usage: npm run bench -- cmaes-restarts [options]

BIPOP / IPOP / plain CMA-ES on shifted Rastrigin, evaluations to f < 1e-8.
  --dim N            dimension (default 10)
  --seeds N          seeds 1..N per strategy (default 15)
  --strategies LIST  any of bipop,ipop,none (default bipop,ipop,none)
  --max-evals N      evaluation budget per seed (default 2000000)
  --target F         target f (default 1e-8)`;

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const dim = numberArg(args, 'dim', 10);
  const seeds = numberArg(args, 'seeds', 15);
  const maxEvaluations = numberArg(args, 'max-evals', 2_000_000);
  const target = Number(args.get('target') ?? 1e-8);
  const strategies = (args.get('strategies') ?? 'bipop,ipop,none').split(',').map((s) => s.trim()) as RestartStrategy[];
  for (const s of strategies)
    if (!RESTART_STRATEGIES.includes(s)) throw new Error(`--strategies: "${s}" is not one of ${RESTART_STRATEGIES.join(', ')}`);
  const results: Record<
    string,
    { solved: number; seeds: number; median_evals: number | null; evals: number[]; best_f: number[]; runs: number[]; seconds: number }
  > = {};
  const rows: (string | number)[][] = [['strategy', 'seed', 'reached', 'evaluations', 'best f', 'runs', 'largest λ', 's']];
  for (const strategy of strategies) {
    const started = performance.now();
    const r = {
      solved: 0,
      seeds,
      median_evals: null as number | null,
      evals: [] as number[],
      best_f: [] as number[],
      runs: [] as number[],
      seconds: 0,
    };
    for (let seed = 1; seed <= seeds; seed += 1) {
      const t = performance.now();
      const f = shiftedRastrigin(dim, seed);
      const o = CmaEsRestarts.create({ dimension: dim, seed, initialSigma: 2, restarts: strategy, targetF: target, maxEvaluations });
      while (!o.stopReason()) o.tell(o.ask().map((x) => f(x)));
      const reached = o.bestF < target;
      if (reached) r.solved += 1;
      r.evals.push(o.evaluations);
      r.best_f.push(o.bestF);
      r.runs.push(o.runs.length);
      const largest = Math.max(...o.runs.map((x) => x.populationSize));
      rows.push([
        strategy,
        seed,
        reached ? 'yes' : 'no',
        o.evaluations,
        o.bestF.toExponential(2),
        o.runs.length,
        largest,
        round((performance.now() - t) / 1000, 1),
      ]);
      console.error(
        `${strategy} seed ${seed}: ${reached ? 'reached' : 'missed'} f ${o.bestF.toExponential(2)} after ${o.evaluations} evaluations, ${o.runs.length} run(s), stop ${o.stopReason()}`,
      );
    }
    const solvedEvals = r.evals.filter((_, i) => r.best_f[i]! < target);
    r.median_evals = solvedEvals.length > 0 ? median(solvedEvals) : null;
    r.seconds = round((performance.now() - started) / 1000, 1);
    results[strategy] = r;
  }
  console.log(table(rows));
  for (const [strategy, r] of Object.entries(results)) {
    console.log(
      `${strategy}: reached f < ${target} in ${r.solved} of ${r.seeds} seeds; median evaluations of those ${r.median_evals ?? '-'}; median best f ${median(r.best_f).toExponential(2)} (${r.seconds} s)`,
    );
  }
  console.log(JSON.stringify({ bench: 'cmaes-restarts', dim, target, max_evals: maxEvaluations, results }));
}
