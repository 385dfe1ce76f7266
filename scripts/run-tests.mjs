#!/usr/bin/env node
// Runs every test file through node:test with tsx. Node 20's `node --test dir/` silently
// runs nothing, so the files are listed explicitly here.
//   node scripts/run-tests.mjs            unit tests (packages/*/src/**/*.test.ts) and tests/**/*.test.ts
//   node scripts/run-tests.mjs --unit     unit tests only
//   node scripts/run-tests.mjs FILE...    just those files
//
// The whole suite runs in two lanes at once: the unit tests (short, CPU-bound: mostly
// starting tsx) and the end-to-end tests in tests/ (long, mostly waiting on real processes,
// notices and timeouts). Each lane runs its files one at a time, each file in its own
// `node --test`, so no two fleets compete while both lanes have work; a lane that runs out
// takes the last waiting file of the other, so the suite takes about half the total work,
// not the longer lane. SYNKTI_TEST_LANES=1 runs everything in one lane. Each file's report
// is printed when it ends, headed by its name, lane and duration; the closing
// `# pass N` / `# fail N` lines (what CI reads) are the totals, after the slowest files.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const explicit = args.filter((a) => !a.startsWith('--'));

function findTests(dir) {
  const found = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return found;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

// Files under tests/ that start no fleet of their own (CLI processes, docs blocks, a
// corpus through the audit): they run in the unit lane, which is otherwise done minutes
// before the e2e lane (last CI: e2e ~800 s, unit well under half of it).
const IN_UNIT_LANE = new Set([
  'tests/docs.test.ts',
  'tests/exit-codes-doc.test.ts',
  'tests/import-structure.test.ts',
  'tests/readme-packages.test.ts',
  'tests/batch-cli.test.ts',
  'tests/pipelines-api.test.ts',
  'tests/security/audit-corpus.test.ts',
  'tests/security/held-attacks.test.ts',
  'tests/network-faults-router.test.ts',
  'tests/security/desired-config-attack.test.ts',
  'tests/security/hostile-upstream-attack.test.ts',
  'tests/security/slot-credit-attack.test.ts',
]);

const rel = (files) => files.map((f) => relative(process.cwd(), f)).sort();
let lanes;
if (explicit.length > 0) {
  lanes = [{ name: 'tests', files: explicit }];
} else {
  const unit = rel(findTests(join(root, 'packages')));
  const e2e = unitOnly ? [] : rel(findTests(join(root, 'tests')));
  lanes =
    process.env.SYNKTI_TEST_LANES === '1' || e2e.length === 0
      ? [{ name: 'tests', files: [...unit, ...e2e] }]
      : [
          { name: 'e2e', files: e2e.filter((f) => !IN_UNIT_LANE.has(f)) },
          { name: 'unit', files: [...unit, ...e2e.filter((f) => IN_UNIT_LANE.has(f))] },
        ];
}
const total = lanes.reduce((n, lane) => n + lane.files.length, 0);
if (total === 0) {
  console.error('no test files found');
  process.exit(1);
}
console.error(
  `running ${total} test files${lanes.length > 1 ? ` in ${lanes.length} lanes (${lanes.map((l) => `${l.name}: ${l.files.length}`).join(', ')})` : ''}`,
);

// A private directory per run: concurrent runs (two developers, or a run beside CI) must
// not read each other's summaries.
const cacheDir = join(root, 'node_modules', '.cache', `synkti-tests-${process.pid}`);
mkdirSync(cacheDir, { recursive: true });

const running = new Set();
// Ctrl-C or a CI timeout: the test processes go with us.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    for (const child of running) child.kill(signal);
    process.exit(130);
  });
}

let fileSerial = 0;
/** Runs one test file in its own `node --test`; resolves once its reports are written. */
function runFile(file) {
  const base = join(cacheDir, `f${++fileSerial}`);
  const tapFile = `${base}.tap`;
  const specFile = `${base}.spec.txt`;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        // People read the spec reporter; the TAP copy gives the closing counts.
        '--test-reporter=spec',
        `--test-reporter-destination=${specFile}`,
        '--test-reporter=tap',
        `--test-reporter-destination=${tapFile}`,
        file,
      ],
      {
        stdio: 'inherit',
        env: { ...process.env, SYNKTI_LOG_LEVEL: process.env.SYNKTI_LOG_LEVEL ?? 'warn' },
      },
    );
    running.add(child);
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ file, tapFile, specFile, ms: Date.now() - started, code: code ?? (signal ? 1 : 0) });
    });
  });
}

/**
 * Each lane runs its own files one at a time (so two fleets do not compete while both
 * lanes have work); a lane that runs out takes the last file still waiting in another
 * lane, so the suite ends when the work does, not when the longer list does.
 */
async function runLane(lane, results) {
  const others = lanes.filter((l) => l !== lane);
  for (;;) {
    let file = lane.files.shift();
    if (file === undefined) {
      const donor = others.find((l) => l.files.length > 0);
      if (!donor) return;
      file = donor.files.pop();
    }
    const result = await runFile(file);
    result.lane = lane.name;
    results.push(result);
    let spec = '';
    try {
      spec = readFileSync(result.specFile, 'utf8');
    } catch {
      spec = '(no output was written)\n';
    }
    process.stdout.write(
      `\n── ${file} (${lane.name} lane, ${(result.ms / 1000).toFixed(1)} s${result.code === 0 ? '' : `, exit ${result.code}`}) ──\n${spec}`,
    );
  }
}

// The compiled CLI is built on first use and rebuilt when a source changes: build it once
// here, or on a fresh clone every test file that runs the CLI builds its own copy at once.
try {
  const { ensureRepoBundle } = await import('../packages/cli/bin/cli-bundle.mjs');
  await ensureRepoBundle();
} catch (error) {
  console.error(`note: the compiled CLI could not be prebuilt (${error?.message ?? error}); the tests build it on first use`);
}

const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];
const startedAll = Date.now();
const results = [];
await Promise.all(lanes.map((lane) => runLane(lane, results)));
const sums = Object.fromEntries(COUNTS.map((k) => [k, 0]));
const missing = [];
for (const { file, tapFile } of results) {
  let text;
  try {
    text = readFileSync(tapFile, 'utf8');
  } catch {
    missing.push(file);
    continue;
  }
  for (const line of text.split('\n')) {
    const m = /^# (tests|suites|pass|fail|cancelled|skipped|todo) ([\d.]+)$/.exec(line);
    if (m) sums[m[1]] += Number(m[2]);
  }
}
const failedFiles = results.filter((r) => r.code !== 0).map((r) => r.file);
const slowest = [...results].sort((a, b) => b.ms - a.ms).slice(0, 8);
console.log(`\n# slowest files: ${slowest.map((r) => `${r.file} ${(r.ms / 1000).toFixed(0)} s`).join(', ')}`);
for (const lane of lanes) {
  const mine = results.filter((r) => r.lane === lane.name);
  console.log(`# lane ${lane.name}: ${mine.length} files, ${(mine.reduce((n, r) => n + r.ms, 0) / 1000).toFixed(0)} s`);
}
for (const file of missing) console.log(`# no TAP summary was written for ${file}`);
for (const file of failedFiles) console.log(`# failed: ${file}`);
for (const k of COUNTS) console.log(`# ${k} ${sums[k]}`);
console.log(`# duration_ms ${Date.now() - startedAll}`);
rmSync(cacheDir, { recursive: true, force: true });
process.exit(failedFiles.length > 0 || missing.length > 0 ? 1 : 0);
