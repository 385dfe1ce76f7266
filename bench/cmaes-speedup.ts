/**
 * Distributed CMA-ES speed-up with a straggler: the same run (same seed, same λ, so the
 * same evaluations and the same answer) with 1 worker and with 4 workers of which one is
 * deliberately slow, on an objective that takes 50 ms per evaluation.
 *
 *   npm run bench -- cmaes-speedup [--eval-ms 50] [--mode sleep|busy] [--generations 6] [--population 40|auto] [--dim 10]
 *       [--workers 1,4] [--slow-worker 1.5] [--spike-factor 10] [--spike-prob 0] [--repeat 3] [--target 3.5] [--skip-old]
 *
 * Each configuration is a real `synkti batch cmaes` (coordinator process, worker instances
 * on the local cloud, the local SQLite queue). Its time is the sum of its generation times
 * from the run's metrics, leaving out generation 1 (it includes the workers' boot): the
 * wall time of λ × (generations − 1) evaluations (200 at λ 40 and 6 generations), the same
 * in every configuration. The checkpoint written
 * between two generations is not in a generation's time; `speedup_with_checkpoints` is the
 * same ratio over the whole span from generation 1's end to the last one's (checkpoints
 * and metrics included).
 *
 * Speed-up = time of 1 normal worker / time of N workers (one of them slow), per round; the
 * median over `--repeat` rounds (1 and N workers run back to back in each round, so load
 * drift hits both).
 *
 * The straggler (multi-worker runs only): one worker (the first process to evaluate; it
 * claims a lock file) is `--slow-worker` times slower on average. Default: uniformly 1.5×
 * slower, an instance of an older generation in a diversified spot pool. With
 * `--spike-prob P` it is instead mostly a little slower with occasional stalls of
 * `--spike-factor` × (a fixed seed, so every run sees the same sequence). The coordinator
 * re-issues a straggling candidate to an idle worker (first result wins); every
 * configuration must end with the same best f (checked).
 *
 * Population: 40 by default, 10 candidates per worker at 4 workers. A generation waits for
 * its last candidate, so what a straggler costs is at most about one slow evaluation per
 * generation: the more candidates per worker, the smaller that share. `--population auto`
 * is the CLI's rule (the smallest multiple of the workers at least CMA-ES's default, 12 at
 * dim 10 on 4 workers), fitted to the largest worker count and used by every configuration.
 *
 * Bounds printed beside the measured speed-up, in units of the one-worker run:
 * - capacity_bound: Σ worker speeds = (w − 1) + 1/slow: no scheduler delivers more
 *   evaluations per second (a worker 1.5× slower: 3.67 at 4 workers);
 * - barrier_ceiling: the best any scheduler can do while a generation waits for all of its
 *   candidates, with the slow worker at its mean speed (whole tasks, no overhead): least T
 *   with Σ ⌊T / d_i⌋ ≥ λ (1.5× slower, 4 workers: λ 40 → 3.64, λ 32 → 3.56, λ 12 → 3.0).
 *
 * Unless --skip-old, the previous setup runs too, for comparison: λ 10 (the CLI default),
 * the slow worker 2× slower on average (1.11× nine times in ten, a 10× stall once in ten);
 * its capacity bound at 4 workers is 3.5 and its barrier ceiling 3.33.
 *
 * Ends with {"bench":"cmaes-speedup","claim":{"workers":4,"speedup":..,"target":3.5,"met":..},
 * "setup":{..},"workers":[1,4],"speedup":[..],"capacity_bound":[..],"barrier_ceiling":[..],
 * "old_setup":{..},"identical_results":true,"load1_median":..}.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { populationForWorkers } from '../packages/tasks/src/batch/population-auto.ts';
import { numberArg, parseArgs } from './lib/args.ts';
import { onExit } from './lib/children.ts';
import { median, round } from './lib/stats.ts';

const HELP = `usage: npm run bench -- cmaes-speedup [options]

Distributed CMA-ES, 1 worker vs 4 workers of which one is slow (same seed, same evaluations).
  --eval-ms N        time per evaluation (default 50)
  --mode M           sleep (default: waits, no CPU) or busy (CPU work calibrated to --eval-ms on one core)
  --generations N    generations per run (default 6; the first is not timed)
  --population N     candidates per generation (default 40: 10 per worker at 4 workers); auto: the CLI's
                     rule for the largest worker count (the smallest multiple of it at least 4 + floor(3 ln dim))
  --dim N            dimension (default 10)
  --workers LIST     worker counts (default 1,4; the first is the baseline)
  --slow-worker F    with 2 or more workers, one of them (the first to evaluate) takes F times as long per
                     evaluation on average (default 1.5; 1: none slow); the coordinator re-issues stragglers to idle workers
  --spike-factor K   with --spike-prob: the slow worker's occasional stall, K times as long (default 10)
  --spike-prob P     how often the slow worker stalls, 0..1 (default 0: uniformly F times slower)
  --repeat N         rounds; the speed-up reported is the median of the rounds' (default 3)
  --target X         the claim checked at the largest worker count (default 3.5)
  --skip-old         do not run the previous setup (λ 10, 2x slower on average with 10x stalls) for comparison
Prints one JSON line per run, then the summary line {"bench":"cmaes-speedup","claim":{..},...}.`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'packages/cli/bin/synkti.mjs');
const log = (line: string): void => console.error(line);

/** CPU work for `--mode busy`: a fixed number of iterations, not a wall-clock spin (which would finish on time even without a core). */
function work(n: number): number {
  let a = 0;
  for (let i = 0; i < n; i += 1) a += Math.sqrt(i + (a % 7));
  return a;
}
/** The same function, as the objective module's source (tsx has stripped the types). */
const WORK_SOURCE = work.toString();

/** Iterations of `work` that take `ms` on one core of this machine now (best of 5). */
function calibrate(ms: number): number {
  const probe = 2_000_000;
  let best = Infinity;
  for (let i = 0; i < 5; i += 1) {
    const t = performance.now();
    work(probe);
    best = Math.min(best, performance.now() - t);
  }
  return Math.round((probe * ms) / best);
}

/** How the slow worker is slow, and the population every configuration of a setup uses. */
interface Setup {
  name: 'claim' | 'old';
  slowFactor: number;
  spikeFactor: number;
  spikeProb: number;
  /** The slow worker's factor when it does not stall (its mean is slowFactor). */
  usualFactor: number;
  population: number;
}

interface RunResult {
  workers: number;
  round: number;
  timedMs: number;
  spanMs: number;
  generationMs: number[];
  bestF: number;
  population: number;
  reissued: number;
  load1: number;
}

/**
 * Shortest time in which `workers` (one of them `slowFactor` times slower) can finish `tasks`
 * equal tasks of `evalMs` each, with no overhead: the least T with Σ ⌊T / d_i⌋ ≥ tasks.
 * A generation cannot end sooner, so with a per-generation barrier the speed-up is at most
 * (tasks × evalMs) / T: with 12 tasks, 4 workers and one 2× slower, T = 200 ms and the
 * ceiling is 3.0 (its 3.5 workers' worth of speed cannot be used in whole tasks).
 */
function barrierMakespan(tasks: number, workers: number, evalMs: number, slowFactor: number): number {
  const durations = Array.from({ length: workers }, (_, i) => (i === 0 && workers > 1 ? slowFactor : 1) * evalMs);
  const ends = durations.flatMap((d) => Array.from({ length: tasks }, (_, k) => (k + 1) * d)).sort((a, b) => a - b);
  return ends.find((t) => durations.reduce((n, d) => n + Math.floor(t / d + 1e-9), 0) >= tasks)!;
}

/** Evaluations per unit time of `workers` (one `slowFactor` times slower on average), in fast workers: no scheduler beats it. */
function capacity(workers: number, slowFactor: number): number {
  return workers > 1 ? workers - 1 + 1 / slowFactor : 1;
}

function runCli(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    onExit(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
  });
}

function usualFactorOf(slowFactor: number, spikeFactor: number, spikeProb: number): number {
  const usual = spikeProb === 0 ? slowFactor : (slowFactor - spikeProb * spikeFactor) / (1 - spikeProb);
  // Rounding (1.4 − 0.5) / 0.9 gives 0.999…: a worker at full speed between stalls is allowed.
  return Math.abs(usual - 1) < 1e-9 ? 1 : usual;
}

function describe(setup: Setup): string {
  if (setup.slowFactor <= 1) return 'none';
  if (setup.spikeProb > 0)
    return `one worker ${setup.slowFactor}x slower on average (${round(setup.usualFactor, 3)}x, ${setup.spikeFactor}x ${round(setup.spikeProb * 100, 1)}% of the time)`;
  return `one worker ${setup.slowFactor}x slower`;
}

export async function main(argv: string[]): Promise<void> {
  const args = parseArgs(argv);
  if (args.has('help')) {
    console.log(HELP);
    return;
  }
  const evalMs = numberArg(args, 'eval-ms', 50);
  const mode = args.get('mode') ?? 'sleep';
  if (mode !== 'sleep' && mode !== 'busy') throw new Error(`--mode must be sleep or busy, got "${mode}"`);
  const generations = Math.round(numberArg(args, 'generations', 6));
  if (generations < 2) throw new Error('--generations must be at least 2 (the first is not timed)');
  const dim = Math.round(numberArg(args, 'dim', 10));
  const workerCounts = (args.get('workers') ?? '1,4').split(',').map((w) => {
    const n = Number(w);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--workers: "${w}" is not a worker count from 1 to 64`);
    return n;
  });
  const repeat = Math.round(numberArg(args, 'repeat', 3));
  const target = numberArg(args, 'target', 3.5);
  const maxWorkers = Math.max(...workerCounts);
  const populationRaw = args.get('population') ?? '40';
  const population = populationRaw === 'auto' ? populationForWorkers(dim, maxWorkers) : Math.round(numberArg(args, 'population', 40));
  if (population < 2) throw new Error(`--population must be at least 2, got "${populationRaw}"`);

  const slowFactor = numberArg(args, 'slow-worker', 1.5);
  if (!Number.isFinite(slowFactor) || slowFactor < 1)
    throw new Error(`--slow-worker must be a factor of at least 1, got "${args.get('slow-worker')}"`);
  const spikeFactor = numberArg(args, 'spike-factor', 10);
  // Not numberArg: 0 (no stalls) is allowed.
  const spikeProb = args.has('spike-prob') ? Number(args.get('spike-prob')) : 0;
  if (!(spikeProb >= 0 && spikeProb < 1))
    throw new Error(`--spike-prob must be from 0 up to (not including) 1, got "${args.get('spike-prob')}"`);
  const usualFactor = usualFactorOf(slowFactor, spikeFactor, spikeProb);
  if (slowFactor > 1 && usualFactor < 1) {
    throw new Error(
      `--slow-worker ${slowFactor} cannot be the mean with stalls of ${spikeFactor}x ${spikeProb * 100}% of the time (the rest would be faster than a fast worker); lower --spike-prob or --spike-factor`,
    );
  }
  const setups: Setup[] = [{ name: 'claim', slowFactor, spikeFactor, spikeProb: slowFactor > 1 ? spikeProb : 0, usualFactor, population }];
  // The previous setup: the CLI's default λ and a slow worker 2× slower on average through 10× stalls.
  if (!args.has('skip-old'))
    setups.push({
      name: 'old',
      slowFactor: 2,
      spikeFactor: 10,
      spikeProb: 0.1,
      usualFactor: usualFactorOf(2, 10, 0.1),
      population: 4 + Math.floor(3 * Math.log(dim)),
    });

  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-cmaes-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  const cmaes = pathToFileURL(join(ROOT, 'packages/tasks/src/cmaes/index.ts')).href;
  const iterations = mode === 'busy' ? calibrate(evalMs) : 0;
  /** The objective module of one run; with a slow worker, the first process to evaluate claims the lock and is slow. */
  const objectiveFor = (setup: Setup, workers: number, tag: string): string => {
    const file = join(dir, `slow-sphere-${tag}.mjs`);
    const slow = workers > 1 && setup.slowFactor > 1;
    writeFileSync(
      file,
      [
        `import { builtinObjectives } from ${JSON.stringify(cmaes)};`,
        "import { openSync } from 'node:fs';",
        `const LOCK = ${JSON.stringify(join(dir, `slow-${tag}.lock`))};`,
        // Decided at the first evaluation, not at load: the coordinator loads the module too.
        `let slow;`,
        `const IS_SLOW = () => (slow ??= ${slow} && (() => { try { openSync(LOCK, 'wx'); return true; } catch { return false; } })());`,
        // A fixed-seed generator (LCG): every run's slow worker stalls on the same evaluations of its own.
        `let seed = 12345;`,
        `const next = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };`,
        `const FACTOR_OF = () => (IS_SLOW() ? (${setup.spikeProb} > 0 && next() < ${setup.spikeProb} ? ${setup.spikeFactor} : ${setup.usualFactor}) : 1);`,
        `const EVAL_MS = ${evalMs};`,
        mode === 'sleep'
          ? 'export default async function slowSphere(x) { await new Promise((r) => setTimeout(r, EVAL_MS * FACTOR_OF())); return builtinObjectives.sphere(x); }'
          : [
              `const ITERATIONS = ${iterations};`,
              WORK_SOURCE,
              'export default function slowSphere(x) { work(Math.round(ITERATIONS * FACTOR_OF())); return builtinObjectives.sphere(x); }',
            ].join('\n'),
      ].join('\n'),
    );
    return file;
  };
  const evaluations = (setup: Setup): number => setup.population * (generations - 1);
  for (const setup of setups) {
    log(
      `cmaes-speedup ${setup.name}: ${evalMs} ms per evaluation (${mode}), dim ${dim}, λ ${setup.population}, ${generations} generations ` +
        `(${evaluations(setup)} timed evaluations per run), workers ${workerCounts.join(', ')}, straggler in multi-worker runs: ${describe(setup)}; ` +
        `capacity bound ${workerCounts.map((w) => round(capacity(w, setup.slowFactor) / capacity(workerCounts[0]!, setup.slowFactor), 2)).join(' / ')}, ` +
        `barrier ceiling ${workerCounts.map((w) => round(barrierMakespan(setup.population, workerCounts[0]!, evalMs, setup.slowFactor) / barrierMakespan(setup.population, w, evalMs, setup.slowFactor), 2)).join(' / ')}`,
    );
  }
  log(
    `${repeat} round(s); ${cpus().length} CPU(s); load average now ${loadavg()
      .map((l) => round(l, 2))
      .join(', ')}`,
  );

  const results = new Map<Setup, RunResult[]>(setups.map((s) => [s, []]));
  for (let r = 1; r <= repeat; r += 1) {
    for (const setup of setups) {
      for (const workers of workerCounts) {
        const tag = `${setup.name}-w${workers}-r${r}`;
        const stateDir = join(dir, `state-${tag}`);
        const run = `speedup-${tag}`;
        const load1 = loadavg()[0]!;
        const out = await runCli(
          [
            'batch',
            'cmaes',
            '--objective',
            objectiveFor(setup, workers, tag),
            '--dim',
            String(dim),
            '--population',
            String(setup.population),
            '--generations',
            String(generations),
            '--seed',
            '7',
            '--workers',
            String(workers),
            '--run',
            run,
            '--state-dir',
            stateDir,
            '--json',
          ],
          dir,
        );
        if (out.code !== 0) throw new Error(`synkti batch cmaes with ${workers} worker(s) failed (${out.code}):\n${out.stderr}`);
        const summary = JSON.parse(out.stdout.trim().split('\n').pop()!) as { best_f: number; lost_tasks: number; tasks_sent: number };
        if (summary.lost_tasks !== 0) throw new Error(`${workers} worker(s): lost_tasks ${summary.lost_tasks}`);
        const lines = readFileSync(join(stateDir, 'runs', run, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n');
        const records = lines
          .map((l) => JSON.parse(l) as { generationMs?: number; populationSize?: number; at?: number; counters?: { reissued?: number } })
          .filter((m) => m.generationMs !== undefined);
        const generationMs = records.map((m) => m.generationMs!);
        const runPopulation = records[0]?.populationSize;
        if (runPopulation !== setup.population || records.length !== generations) {
          throw new Error(
            `${workers} worker(s): the run's metrics give λ ${String(runPopulation)} over ${records.length} generations, expected λ ${setup.population} over ${generations}`,
          );
        }
        const reissued = records[records.length - 1]!.counters?.reissued ?? 0;
        const result: RunResult = {
          workers,
          round: r,
          timedMs: generationMs.slice(1).reduce((a, b) => a + b, 0),
          spanMs: records[records.length - 1]!.at! - records[0]!.at!,
          generationMs,
          bestF: summary.best_f,
          population: setup.population,
          reissued,
          load1,
        };
        results.get(setup)!.push(result);
        console.log(
          JSON.stringify({
            bench: 'cmaes-speedup',
            setup: setup.name,
            round: r,
            workers,
            eval_ms: evalMs,
            mode,
            timed_generations: generations - 1,
            timed_evaluations: evaluations(setup),
            timed_ms: result.timedMs,
            span_ms: result.spanMs,
            ms_per_generation: round(result.timedMs / (generations - 1), 1),
            ideal_ms_per_generation: Math.ceil(setup.population / workers) * evalMs,
            barrier_ms_per_generation: barrierMakespan(setup.population, workers, evalMs, setup.slowFactor),
            best_f: result.bestF,
            population: setup.population,
            slow_worker_factor: workers > 1 ? setup.slowFactor : 1,
            reissued,
            tasks_sent: summary.tasks_sent,
            load1: round(load1, 2),
          }),
        );
      }
    }
  }

  const w0 = workerCounts[0]!;
  const report = (setup: Setup): Record<string, unknown> => {
    const runs = results.get(setup)!;
    const identical = runs.every((x) => x.bestF === runs[0]!.bestF);
    if (!identical)
      throw new Error(
        `${setup.name}: same seed, different results: ${runs.map((x) => `${x.workers} worker(s) round ${x.round}: ${x.bestF}`).join(', ')}`,
      );
    /** Per round: the baseline's time over each configuration's. */
    const rounds = (key: 'timedMs' | 'spanMs'): number[][] =>
      Array.from({ length: repeat }, (_, i) => {
        const inRound = runs.filter((x) => x.round === i + 1);
        const base = inRound.find((x) => x.workers === w0)![key];
        return workerCounts.map((w) => round(base / inRound.find((x) => x.workers === w)![key], 2));
      });
    const byRound = rounds('timedMs');
    return {
      slowness: describe(setup),
      straggler: {
        slow_worker_factor: setup.slowFactor,
        usual_factor: round(setup.usualFactor, 3),
        spike_factor: setup.spikeProb > 0 ? setup.spikeFactor : null,
        spike_prob: setup.spikeProb,
      },
      population: setup.population,
      evaluations_timed: evaluations(setup),
      workers: workerCounts,
      speedup: workerCounts.map((_, j) => median(byRound.map((row) => row[j]!))),
      speedup_rounds: byRound,
      speedup_with_checkpoints: workerCounts.map((_, j) => median(rounds('spanMs').map((row) => row[j]!))),
      // The bounds count evaluation time only; the queue's own work per task (receive, result, ack) is in the measured times.
      ms_per_evaluation: workerCounts.map((w) =>
        round(median(runs.filter((x) => x.workers === w).map((x) => x.timedMs / evaluations(setup))), 1),
      ),
      capacity_bound: workerCounts.map((w) => round(capacity(w, setup.slowFactor) / capacity(w0, setup.slowFactor), 2)),
      barrier_ceiling: workerCounts.map((w) =>
        round(
          barrierMakespan(setup.population, w0, evalMs, setup.slowFactor) / barrierMakespan(setup.population, w, evalMs, setup.slowFactor),
          2,
        ),
      ),
      reissued: workerCounts.map((w) => runs.filter((x) => x.workers === w).map((x) => x.reissued)),
      identical_results: identical,
    };
  };
  const claim = report(setups[0]!);
  const old = setups[1] ? report(setups[1]) : null;
  const at = workerCounts.length - 1;
  const measured = (claim.speedup as number[])[at]!;
  const loads = [...results.values()].flat().map((x) => x.load1);
  console.log(
    JSON.stringify({
      bench: 'cmaes-speedup',
      claim: {
        workers: workerCounts[at],
        speedup: measured,
        target: target,
        met: measured >= target,
        capacity_bound: (claim.capacity_bound as number[])[at],
        barrier_ceiling: (claim.barrier_ceiling as number[])[at],
        baseline_workers: w0,
      },
      setup: claim,
      old_setup: old,
      identical_results: claim.identical_results === true && (old === null || old.identical_results === true),
      eval_ms: evalMs,
      mode,
      generations,
      timed_generations: generations - 1,
      dim,
      repeat,
      cpus: cpus().length,
      load1_median: round(median(loads), 2),
      load1_max: round(Math.max(...loads), 2),
    }),
  );
}
