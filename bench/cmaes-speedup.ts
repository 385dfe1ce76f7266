/**
 * Distributed CMA-ES speed-up: the same run (same seed) with 1, 2 and 4 local spot
 * workers, on an objective that takes 50 ms per evaluation.
 *
 *   npm run bench -- cmaes-speedup [--eval-ms 50] [--mode sleep|busy] [--generations 6] [--population 12] [--dim 10] [--workers 1,2,4]
 *
 * Each configuration is a real `synkti batch cmaes` (coordinator process, worker
 * instances on the local cloud, the local SQLite queue). Time per configuration is the
 * sum of generation times from the run's metrics, leaving out generation 1 (it includes
 * the workers' boot). `--mode sleep` (default) waits 50 ms without using the CPU, which
 * measures the distribution itself on a shared machine; `--mode busy` does a fixed amount
 * of CPU work calibrated to 50 ms on one core at start, which also measures the cores
 * available (this machine's free cores cap it).
 * `--slow-worker F` makes one worker of each multi-worker configuration F times slower (it
 * claims a lock file at its first evaluation), to measure the straggler re-issue.
 * Every configuration must end with the same best f (checked). Ends with
 * {"bench":"cmaes-speedup","workers":[1,2,4],"speedup":[..],"barrier_ceiling":[..],...}: the
 * ceiling is the best speed-up any scheduler can reach while each generation waits for all
 * of its candidates (whole tasks on workers of these speeds, no overhead).
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
  --population N     candidates per generation (default 12: 12, 6 and 3 rounds for 1, 2, 4 workers)
  --dim N            dimension (default 10)
  --workers LIST     worker counts (default 1,2,4)
  --slow-worker F    with 2 or more workers, one of them (the first to evaluate) takes F times as long per
                     evaluation (default 1: none slow); the coordinator re-issues its stragglers to idle workers
Prints one JSON line per configuration, then {"bench":"cmaes-speedup","workers":[..],"speedup":[..]}.`;

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

interface RunResult { workers: number; timedMs: number; generationMs: number[]; bestF: number; wallMs: number }

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
  const population = Math.round(numberArg(args, 'population', 12));
  const dim = Math.round(numberArg(args, 'dim', 10));
  const workerCounts = (args.get('workers') ?? '1,2,4').split(',').map((w) => {
    const n = Number(w);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`--workers: "${w}" is not a worker count from 1 to 64`);
    return n;
  });

  const slowFactor = numberArg(args, 'slow-worker', 1);
  if (!Number.isFinite(slowFactor) || slowFactor < 1) throw new Error(`--slow-worker must be a factor of at least 1, got "${args.get('slow-worker')}"`);

  const dir = mkdtempSync(join(tmpdir(), 'synkti-bench-cmaes-'));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  const cmaes = pathToFileURL(join(ROOT, 'packages/tasks/src/cmaes/index.ts')).href;
  const iterations = mode === 'busy' ? calibrate(evalMs) : 0;
  /** The objective module of one configuration; with a slow worker, the first process to evaluate claims the lock and is slow. */
  const objectiveFor = (workers: number): string => {
    const file = join(dir, `slow-sphere-w${workers}.mjs`);
    const factor = workers > 1 ? slowFactor : 1;
    writeFileSync(file, [
      `import { builtinObjectives } from ${JSON.stringify(cmaes)};`,
      "import { openSync } from 'node:fs';",
      `const LOCK = ${JSON.stringify(join(dir, `slow-w${workers}.lock`))};`,
      // Decided at the first evaluation, not at load: the coordinator loads the module too.
      `let factor;`,
      `const FACTOR_OF = () => (factor ??= ${factor} > 1 && (() => { try { openSync(LOCK, 'wx'); return true; } catch { return false; } })() ? ${factor} : 1);`,
      `const EVAL_MS = ${evalMs};`,
      mode === 'sleep'
        ? 'export default async function slowSphere(x) { await new Promise((r) => setTimeout(r, EVAL_MS * FACTOR_OF())); return builtinObjectives.sphere(x); }'
        : [`const ITERATIONS = ${iterations};`, WORK_SOURCE,
          'export default function slowSphere(x) { work(Math.round(ITERATIONS * FACTOR_OF())); return builtinObjectives.sphere(x); }'].join('\n'),
    ].join('\n'));
    return file;
  };
  log(`cmaes-speedup: ${evalMs} ms per evaluation (${mode}), dim ${dim}, population ${population}, ${generations} generations, workers ${workerCounts.join(', ')}`
    + `${slowFactor > 1 ? `, one worker ${slowFactor}x slower in multi-worker runs` : ''}; ${cpus().length} CPU(s)`);

  const results: RunResult[] = [];
  for (const workers of workerCounts) {
    const stateDir = join(dir, `state-${workers}`);
    const run = `speedup-w${workers}`;
    const started = Date.now();
    const objective = objectiveFor(workers);
    const out = await runCli(['batch', 'cmaes', '--objective', objective, '--dim', String(dim), '--population', String(population),
      '--generations', String(generations), '--seed', '7', '--workers', String(workers), '--run', run, '--state-dir', stateDir, '--json'], dir);
    if (out.code !== 0) throw new Error(`synkti batch cmaes with ${workers} worker(s) failed (${out.code}):\n${out.stderr}`);
    const summary = JSON.parse(out.stdout.trim().split('\n').pop()!) as { best_f: number; lost_tasks: number; tasks_sent: number };
    if (summary.lost_tasks !== 0) throw new Error(`${workers} worker(s): lost_tasks ${summary.lost_tasks}`);
    const lines = readFileSync(join(stateDir, 'runs', run, 'metrics.jsonl'), 'utf8').trim().split('\n');
    const generationMs = lines.map((l) => JSON.parse(l) as { generationMs?: number; counters?: { reissued?: number } })
      .flatMap((m) => (m.generationMs === undefined ? [] : [m.generationMs]));
    const reissued = (JSON.parse(lines[lines.length - 1]!) as { counters?: { reissued?: number } }).counters?.reissued ?? 0;
    const timedMs = generationMs.slice(1).reduce((a, b) => a + b, 0);
    const result: RunResult = { workers, timedMs, generationMs, bestF: summary.best_f, wallMs: Date.now() - started };
    results.push(result);
    console.log(JSON.stringify({
      bench: 'cmaes-speedup', workers, eval_ms: evalMs, mode, timed_generations: generations - 1, timed_ms: timedMs,
      ms_per_generation: round(timedMs / (generations - 1), 1), ideal_ms_per_generation: Math.ceil(population / workers) * evalMs,
      best_f: result.bestF, wall_ms: result.wallMs, slow_worker_factor: workers > 1 ? slowFactor : 1, reissued, tasks_sent: summary.tasks_sent,
    }));
  }
  const identical = results.every((r) => r.bestF === results[0]!.bestF);
  if (!identical) throw new Error(`same seed, different results: ${results.map((r) => `${r.workers}: ${r.bestF}`).join(', ')}`);
  const base = results[0]!.timedMs;
  console.log(JSON.stringify({
    bench: 'cmaes-speedup', workers: workerCounts, speedup: results.map((r) => round(base / r.timedMs, 2)),
    ideal: workerCounts.map((w) => round(Math.ceil(population / workerCounts[0]!) / Math.ceil(population / w), 2)),
    // With the slow worker: the best a generation barrier allows (see barrierMakespan).
    barrier_ceiling: workerCounts.map((w) => round(barrierMakespan(population, workerCounts[0]!, evalMs, slowFactor) / barrierMakespan(population, w, evalMs, slowFactor), 2)),
    eval_ms: evalMs, mode, population, generations, dim, cpus: cpus().length, identical_results: identical, slow_worker_factor: slowFactor,
  }));
}
