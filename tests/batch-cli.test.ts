/**
 * `synkti batch` on real processes: every bad flag is refused with a message naming it;
 * an objective that always crashes dead-letters its task, and the run stops saying which
 * candidate and what to do (never scoring it); `dlq list`, `status`, `dlq redrive` and
 * `cancel` then show and handle the run.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalCloud, listAllInstances } from '@synkti/cloud';
import { runCli } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'synkti-batch-cli-'));
const stateDir = join(dir, 'state');
after(async () => {
  const cloud = createLocalCloud({ stateDir });
  try {
    const left = await listAllInstances(cloud.instances, {});
    await Promise.all(left.map((r) => cloud.instances.kill(r.id).catch(() => undefined)));
  } finally {
    cloud.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

test('every invalid flag is refused with a message naming it', { timeout: 170_000 }, async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--objective', 'sphere', '--dim', '0'], /--dim/],
    [['--objective', 'sphere', '--dim', '3', '--backend', 'redis'], /--backend.*local, sqs, postgres/],
    [['--objective', 'no-such-objective', '--dim', '3'], /--objective.*not a builtin objective/],
    [['--objective', './missing.ts', '--dim', '3'], /--objective.*no file/],
    [['--objective', 'sphere'], /--dim is required/],
    [['--dim', '3'], /--objective is required/],
    [['--objective', 'sphere', '--dim', '3', '--workers', '-1'], /--workers/],
    [['--objective', 'sphere', '--dim', '3', '--lease', 'soon'], /--lease/],
    [['--objective', 'sphere', '--dim', '3', '--unscorable', 'zero'], /--unscorable/],
    [['--objective', 'sphere', '--dim', '3', '--run', 'bad id!'], /--run/],
    [['--resume', 'never-ran'], /--resume: no run never-ran/],
    [['--objective', 'sphere', '--dim', '3', '--restarts', 'sometimes'], /--restarts.*none, ipop, bipop/],
    [['--objective', 'sphere', '--dim', '3', '--target-f', 'low'], /--target-f/],
    [['--objective', 'sphere', '--dim', '3', '--x0', '1,2'], /--x0 has 2 values but --dim is 3/],
    [['--objective', 'sphere', '--dim', '3', '--population', '8', '--popsize', '9'], /--population and --popsize give different values/],
    [['--objective', 'sphere', '--dim', '3', '--population', 'lots'], /--population.*whole number from 2 to 100000, or auto/],
    [['--objective', 'sphere', '--dim', '3', '--popsize', '1'], /--popsize.*whole number from 2 to 100000, or auto/],
    [
      ['--objective', 'sphere', '--dim', '3', '--population', 'auto', '--workers', '0'],
      /--population auto fits the population to the workers, but --workers is 0/,
    ],
    [['--objective', 'sphere', '--dim', '3', '--noise-handling', 'average'], /--noise-handling.*none, reevaluate/],
    [
      ['--objective', 'sphere', '--dim', '3', '--noise-handling', 'reevaluate', '--restarts', 'bipop'],
      /--noise-handling reevaluate cannot be combined with --restarts/,
    ],
    [['--objective', 'sphere', '--dim', '3', '--max-samples', '8'], /--max-samples needs --noise-handling reevaluate/],
  ];
  // A did-it-hang bound: the first CLI process may (re)build the compiled CLI while the others wait on it.
  const results = await Promise.all(
    cases.map(([args]) => runCli(['batch', 'cmaes', ...args, '--state-dir', stateDir], { cwd: dir, timeoutMs: 150_000 })),
  );
  results.forEach((result, i) => {
    const [args, pattern] = cases[i]!;
    assert.equal(result.code, 2, `${args.join(' ')}: exit ${result.code}\n${result.stderr}`);
    assert.match(result.stderr, pattern, args.join(' '));
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });
});

// Did-it-hang bounds: the worker is an agent node's workload (agent boot, then the worker's), slow on a loaded machine.
test(
  'a candidate that cannot be evaluated stops the run naming it; dlq, status, redrive and cancel handle the run',
  { timeout: 240_000 },
  async () => {
    const objective = join(dir, 'always-crashes.mjs');
    writeFileSync(objective, 'export default function () { throw new Error("the simulator crashed"); }\n');
    const run = 'crashing';
    const result = await runCli(
      [
        'batch',
        'cmaes',
        '--objective',
        objective,
        '--dim',
        '3',
        '--generations',
        '2',
        '--seed',
        '1',
        '--workers',
        '1',
        '--max-receives',
        '2',
        '--run',
        run,
        '--state-dir',
        stateDir,
        '--json',
      ],
      { cwd: dir, timeoutMs: 200_000 },
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      /candidate \d+ of generation 0 cannot be scored: its task was dead-lettered after 2 deliveries: the simulator crashed/,
    );
    assert.match(result.stderr, /dlq redrive/);
    assert.equal(result.stdout, '', 'no summary for a failed run');

    const dlq = await runCli(['batch', 'dlq', 'list', run, '--state-dir', stateDir, '--json'], { cwd: dir });
    assert.equal(dlq.code, 0, dlq.stderr);
    const letters = JSON.parse(dlq.stdout) as Array<{ generation: number; candidate: number; deliveries: number; error: string }>;
    assert.ok(letters.length >= 1);
    for (const letter of letters) {
      assert.equal(letter.generation, 0);
      assert.equal(letter.deliveries, 2);
      assert.match(letter.error, /the simulator crashed/);
    }

    const status = await runCli(['batch', 'status', run, '--state-dir', stateDir, '--json'], { cwd: dir });
    assert.equal(status.code, 0, status.stderr);
    const s = JSON.parse(status.stdout) as {
      status: string;
      generation: number;
      counters: { deadLettered: number; accepted: number };
      workers: string[];
      queue: { deadLettered: number };
    };
    assert.equal(s.status, 'failed');
    assert.equal(s.generation, 0);
    assert.ok(s.counters.deadLettered >= 1);
    assert.equal(s.counters.accepted, 0, 'nothing was scored');
    assert.deepEqual(s.workers, [], 'the failed run terminated its workers');
    assert.equal(s.queue.deadLettered, letters.length);

    const redrive = await runCli(['batch', 'dlq', 'redrive', run, '--state-dir', stateDir, '--json'], { cwd: dir });
    assert.equal(redrive.code, 0, redrive.stderr);
    assert.deepEqual(JSON.parse(redrive.stdout), { run, redriven: letters.length });

    const cancel = await runCli(['batch', 'cancel', run, '--state-dir', stateDir, '--json'], { cwd: dir });
    assert.equal(cancel.code, 0, cancel.stderr);
    const list = await runCli(['batch', 'status', '--state-dir', stateDir, '--json'], { cwd: dir });
    assert.deepEqual(
      (JSON.parse(list.stdout) as Array<{ run: string; status: string }>).map((r) => [r.run, r.status]),
      [[run, 'cancelled']],
    );
  },
);

test(
  '--noise-handling reevaluate scores every candidate several times on the workers and ranks by the mean',
  { timeout: 240_000 },
  async () => {
    const help = await runCli(['batch', 'cmaes', '--help'], { cwd: dir });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--noise-handling <how>[\s\S]*reevaluate/);
    assert.match(help.stdout, /--max-samples <n>/);

    // Sphere plus uniform noise: a win-rate-like objective whose every call differs.
    const objective = join(dir, 'noisy-sphere.mjs');
    writeFileSync(objective, 'export default function (x) { return x.reduce((a, v) => a + v * v, 0) + Math.random(); }\n');
    const run = 'noisy';
    const result = await runCli(
      [
        'batch',
        'cmaes',
        '--objective',
        objective,
        '--dim',
        '2',
        '--population',
        '4',
        '--generations',
        '3',
        '--seed',
        '5',
        '--noise-handling',
        'reevaluate',
        '--max-samples',
        '4',
        '--workers',
        '1',
        '--run',
        run,
        '--state-dir',
        stateDir,
        '--json',
      ],
      { cwd: dir, timeoutMs: 200_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as {
      status: string;
      generations: number;
      evaluations: number;
      results_accepted: number;
      noise_samples: number | null;
      lost_tasks: number;
    };
    assert.equal(summary.status, 'done');
    assert.equal(summary.generations, 3);
    assert.equal(summary.lost_tasks, 0);
    // Generation 1 has one sample each and no variance estimate, so the count doubles at once;
    // it never exceeds --max-samples.
    assert.ok(
      summary.noise_samples !== null && summary.noise_samples >= 2 && summary.noise_samples <= 4,
      `samples ${summary.noise_samples}`,
    );
    assert.ok(summary.evaluations >= 4 + 8 + 8, `evaluations ${summary.evaluations}: each candidate was scored once, then at least twice`);
    // Every sample was a task scored by a worker, none invented by the coordinator.
    assert.ok(summary.results_accepted >= summary.evaluations, `accepted ${summary.results_accepted} < evaluations ${summary.evaluations}`);
    const lines = readFileSync(join(stateDir, 'runs', run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { samples?: number });
    assert.deepEqual(
      lines.map((l) => l.samples !== undefined),
      [true, true, true],
      'each generation records its sample count',
    );
  },
);
