/**
 * Distributed CMA-ES speed-up: the same run (same seed) with 1, 2 and 4 local spot
 * workers, on an objective that takes 50 ms per evaluation.
 *
 *   npm run bench -- cmaes-speedup [--eval-ms 50] [--mode sleep|busy] [--generations 6] [--population N] [--dim 10] [--workers 1,2,4]
 *       [--slow-worker 2] [--spike-factor 10] [--spike-prob 0.1]
 *
 * Each configuration is a real `synkti batch cmaes` (coordinator process, worker
 * instances on the local cloud, the local SQLite queue). Time per configuration is the
 * sum of generation times from the run's metrics, leaving out generation 1 (it includes
 * the workers' boot). `--mode sleep` (default) waits 50 ms without using the CPU, which
 * measures the distribution itself on a shared machine; `--mode busy` does a fixed amount
 * of CPU work calibrated to 50 ms on one core at start, which also measures the cores
 * available (this machine's free cores cap it).
 *
 * The straggler: in every multi-worker configuration one worker (the first process to
 * evaluate; it claims a lock file) is `--slow-worker` times slower ON AVERAGE, the way real
 * stragglers are: mostly a little slower (an older instance type in a diversified spot
 * pool), with occasional long stalls (CPU steal from a neighbour, a pause): each of its
 * evaluations takes `--spike-factor` × with probability `--spike-prob`, else the factor
 * that makes the mean `--slow-worker` (2, 10, 0.1: 1.11× nine times in ten, 10× once; a
 * fixed seed, so every run sees the same sequence). `--spike-prob 0` makes it uniformly
 * slow. The coordinator re-issues a straggling candidate to an idle worker (first result
 * wins); the results must not depend on which copy won: every configuration must end with
 * the same best f (checked).
 *
 * Population: the CLI's default rule, 4 + ⌊3 ln dim⌋ (10 at dim 10), unless --population.
 *
 * Bounds printed beside the measured speed-up, in units of the one-worker (all fast) run:
 * - capacity_bound: Σ worker speeds = (w − 1) + 1/slow: no scheduler delivers more
 *   evaluations per second (with a slow worker 2× slower, 3.5 at 4 workers);
 * - barrier_ceiling: the best any scheduler can do while a generation waits for all of its
 *   candidates, with the slow worker at its mean speed (whole tasks, no overhead): least T
 *   with Σ ⌊T / d_i⌋ ≥ population (λ 10, 4 workers: 3.33; λ 12: 3.0; λ 14: 3.5).
 * Ends with {"bench":"cmaes-speedup","workers":[1,2,4],"speedup":[..],"capacity_bound":[..],
 * "barrier_ceiling":[..],"identical_results":true,...}.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { numberArg, parseArgs } from './lib/args.ts';
import { onExit } from './lib/children.ts';
import { round } from './lib/stats.ts';

const HELP = `usage: npm run bench -- cmaes-speedup [options]

Distributed CMA-ES with 1, 2, 4 local workers on a 50 ms objective (same seed).
  --eval-ms N        time per evaluation (default 50)
  --mode M           sleep (default: waits, no CPU) or busy (CPU work calibrated to --eval-ms on one core)
  --generations N    generations per run (default 6; the first is not timed)
  --population N     candidates per generation (default: the CLI's 4 + floor(3 ln dim), 10 at dim 10)
  --dim N            dimension (default 10)
  --workers LIST     worker counts (default 1,2,4)
  --slow-worker F    with 2 or more workers, one of them (the first to evaluate) takes F times as long per
                     evaluation on average (default 2; 1: none slow); the coordinator re-issues stragglers to idle workers
  --spike-factor K   the slow worker's occasional stall: K times as long (default 10)
  --spike-prob P     how often the slow worker stalls, 0..1 (default 0.1; 0: uniformly F times slower)
Prints one JSON line per configuration, then {"bench":"cmaes-speedup","workers":[..],"speedup":[..],"capacity_bound":[..],"barrier_ceiling":[..]}.`;

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

interface RunResult { workers: number; timedMs: number; generationMs: number[]; bestF: number; wallMs: number; population: number; reissued: number }

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
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    onExit(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  });
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
  // Omitted: the CLI picks its default (4 + ⌊3 ln dim⌋), read back from the run's metrics.
  const populationArg = args.has('population') ? Math.round(numberArg(args, 'population', 0)) : undefined;
  const dim = Math.round(numberArg(args, 'dim', 10));
  const workerCounts = (args.get('workers') ?? '1,2,4').split(',').map((w) => {
    const n = Number(w);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--workers: "${w}" is not a worker count from 1 to 64`);
    return n;
  });

  const slowFactor = numberArg(args, 'slow-worker', 2);
  if (!Number.isFinite(slowFactor) || slowFactor < 1) throw new Error(`--slow-worker must be a factor of at least 1, got "${args.get('slow-worker')}"`);
  const spikeFactor = numberArg(args, 'spike-factor', 10);
  // Not numberArg: 0 (no stalls) is allowed.
  const spikeProb = args.has('spike-prob') ? Number(args.get('spike-prob')) : 0.1;
  if (!(spikeProb >= 0 && spikeProb < 1)) throw new Error(`--spike-prob must be from 0 up to (not including) 1, got "${args.get('spike-prob')}"`);
  // The slow worker's usual factor, so that its mean is slowFactor.
  const usualFactor = spikeProb === 0 ? slowFactor : (slowFactor - spikeProb * spikeFactor) / (1 - spikeProb);
  if (slowFactor > 1 && usualFactor < 1) {
    throw new Error(`--slow-worker ${slowFactor} cannot be the mean with stalls of ${spikeFactor}x ${spikeProb * 100}% of the time (the rest would be faster than a fast worker); lower --spike-prob or --spike-factor`);
  }
  const spiky = slowFactor > 1 && spikeProb > 0;

  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-cmaes-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  const cmaes = pathToFileURL(join(ROOT, 'packages/tasks/src/cmaes/index.ts')).href;
  const iterations = mode === 'busy' ? calibrate(evalMs) : 0;
  /** The objective module of one configuration; with a slow worker, the first process to evaluate claims the lock and is slow. */
  const objectiveFor = (workers: number): string => {
    const file = join(dir, `slow-sphere-w${workers}.mjs`);
    const slow = workers > 1 && slowFactor > 1;
    writeFileSync(file, [
      `import { builtinObjectives } from ${JSON.stringify(cmaes)};`,
      "import { openSync } from 'node:fs';",
      `const LOCK = ${JSON.stringify(join(dir, `slow-w${workers}.lock`))};`,
      // Decided at the first evaluation, not at load: the coordinator loads the module too.
      `let slow;`,
      `const IS_SLOW = () => (slow ??= ${slow} && (() => { try { openSync(LOCK, 'wx'); return true; } catch { return false; } })());`,
      // A fixed-seed generator (LCG): every run's slow worker stalls on the same evaluations of its own.
      `let seed = 12345;`,
      `const next = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };`,
      `const FACTOR_OF = () => (IS_SLOW() ? (${spikeProb} > 0 && next() < ${spikeProb} ? ${spikeFactor} : ${usualFactor}) : 1);`,
      `const EVAL_MS = ${evalMs};`,
      mode === 'sleep'
        ? 'export default async function slowSphere(x) { await new Promise((r) => setTimeout(r, EVAL_MS * FACTOR_OF())); return builtinObjectives.sphere(x); }'
        : [`const ITERATIONS = ${iterations};`, WORK_SOURCE,
          'export default function slowSphere(x) { work(Math.round(ITERATIONS * FACTOR_OF())); return builtinObjectives.sphere(x); }'].join('\n'),
    ].join('\n'));
    return file;
  };
  const straggler = slowFactor <= 1 ? 'none'
    : spiky ? `one worker ${slowFactor}x slower on average (${round(usualFactor, 3)}x, ${spikeFactor}x ${spikeProb * 100}% of the time)`
      : `one worker ${slowFactor}x slower`;
  log(`cmaes-speedup: ${evalMs} ms per evaluation (${mode}), dim ${dim}, population ${populationArg ?? 'CLI default'}, ${generations} generations, workers ${workerCounts.join(', ')}`
    + `, straggler in multi-worker runs: ${straggler}; ${cpus().length} CPU(s)`);

  const results: RunResult[] = [];
  for (const workers of workerCounts) {
    const stateDir = join(dir, `state-${workers}`);
    const run = `speedup-w${workers}`;
    const started = Date.now();
    const objective = objectiveFor(workers);
    const out = await runCli(['batch', 'cmaes', '--objective', objective, '--dim', String(dim), ...(populationArg === undefined ? [] : ['--population', String(populationArg)]),
      '--generations', String(generations), '--seed', '7', '--workers', String(workers), '--run', run, '--state-dir', stateDir, '--json'], dir);
    if (out.code !== 0) throw new Error(`synkti batch cmaes with ${workers} worker(s) failed (${out.code}):\n${out.stderr}`);
    const summary = JSON.parse(out.stdout.trim().split('\n').pop()!) as { best_f: number; lost_tasks: number; tasks_sent: number };
    if (summary.lost_tasks !== 0) throw new Error(`${workers} worker(s): lost_tasks ${summary.lost_tasks}`);
    const lines = readFileSync(join(stateDir, 'runs', run, 'metrics.jsonl'), 'utf8').trim().split('\n');
    const records = lines.map((l) => JSON.parse(l) as { generationMs?: number; populationSize?: number; counters?: { reissued?: number } });
    const generationMs = records.flatMap((m) => (m.generationMs === undefined ? [] : [m.generationMs]));
    const population = records.find((m) => m.populationSize !== undefined)?.populationSize;
    if (population === undefined || (populationArg !== undefined && population !== populationArg)) {
      throw new Error(`${workers} worker(s): the run's metrics give population ${String(population)}, expected ${populationArg ?? 'the CLI default'}`);
    }
    const reissued = (JSON.parse(lines[lines.length - 1]!) as { counters?: { reissued?: number } }).counters?.reissued ?? 0;
    const timedMs = generationMs.slice(1).reduce((a, b) => a + b, 0);
    const result: RunResult = { workers, timedMs, generationMs, bestF: summary.best_f, wallMs: Date.now() - started, population, reissued };
    results.push(result);
    console.log(JSON.stringify({
      bench: 'cmaes-speedup', workers, eval_ms: evalMs, mode, timed_generations: generations - 1, timed_ms: timedMs,
      ms_per_generation: round(timedMs / (generations - 1), 1), ideal_ms_per_generation: Math.ceil(population / workers) * evalMs,
      barrier_ms_per_generation: barrierMakespan(population, workers, evalMs, slowFactor),
      best_f: result.bestF, wall_ms: result.wallMs, population, slow_worker_factor: workers > 1 ? slowFactor : 1, reissued, tasks_sent: summary.tasks_sent,
    }));
  }
  const identical = results.every((r) => r.bestF === results[0]!.bestF);
  if (!identical) throw new Error(`same seed, different results: ${results.map((r) => `${r.workers}: ${r.bestF}`).join(', ')}`);
  const population = results[0]!.population;
  if (results.some((r) => r.population !== population)) throw new Error(`the runs used different populations: ${results.map((r) => r.population).join(', ')}`);
  const base = results[0]!.timedMs;
  const w0 = workerCounts[0]!;
  console.log(JSON.stringify({
    bench: 'cmaes-speedup', workers: workerCounts, speedup: results.map((r) => round(base / r.timedMs, 2)),
    // Equal workers, a generation in ⌈λ / w⌉ rounds.
    ideal: workerCounts.map((w) => round(Math.ceil(population / w0) / Math.ceil(population / w), 2)),
    // With the straggler: no scheduler beats capacity_bound; none that waits for whole generations beats barrier_ceiling.
    capacity_bound: workerCounts.map((w) => round(capacity(w, slowFactor) / capacity(w0, slowFactor), 2)),
    barrier_ceiling: workerCounts.map((w) => round(barrierMakespan(population, w0, evalMs, slowFactor) / barrierMakespan(population, w, evalMs, slowFactor), 2)),
    eval_ms: evalMs, mode, population, generations, dim, cpus: cpus().length, identical_results: identical,
    straggler: { slow_worker_factor: slowFactor, usual_factor: round(usualFactor, 3), spike_factor: spiky ? spikeFactor : null, spike_prob: spiky ? spikeProb : 0 },
    reissued: results.map((r) => r.reissued),
  }));
}
