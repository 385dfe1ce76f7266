#!/usr/bin/env node
// Runs every test file through node:test with tsx. Node 20's `node --test dir/` silently
// runs nothing, so the files are listed explicitly here.
//   node scripts/run-tests.mjs            unit tests (packages/*/src/**/*.test.ts) and tests/**/*.test.ts
//   node scripts/run-tests.mjs --unit     unit tests only
//   node scripts/run-tests.mjs FILE...    just those files
//
// The whole suite runs in two lanes at once: the unit tests (short, CPU-bound: mostly
// starting tsx) and the end-to-end tests in tests/ (long, mostly waiting on real processes,
// notices and timeouts). Each lane runs its files one at a time, so no two fleets compete;
// together they keep both cores busy and the suite takes about the longer lane, not the
// sum. SYNKTI_TEST_LANES=1 runs everything in one lane. The e2e lane streams its results;
// the unit lane's are printed when it ends; the closing `# pass N` / `# fail N` lines
// (what CI reads) are the totals of both.
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
  try { entries = readdirSync(dir); } catch { return found; }
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
  'tests/batch-cli.test.ts',
  'tests/pipelines-api.test.ts',
  'tests/security/audit-corpus.test.ts',
  'tests/security/held-attacks.test.ts',
]);

const rel = (files) => files.map((f) => relative(process.cwd(), f)).sort();
let lanes;
if (explicit.length > 0) {
  lanes = [{ name: 'tests', files: explicit }];
} else {
  const unit = rel(findTests(join(root, 'packages')));
  const e2e = unitOnly ? [] : rel(findTests(join(root, 'tests')));
  lanes = process.env.SYNKTI_TEST_LANES === '1' || e2e.length === 0
    ? [{ name: 'tests', files: [...unit, ...e2e] }]
    : [{ name: 'e2e', files: e2e.filter((f) => !IN_UNIT_LANE.has(f)) }, { name: 'unit', files: [...unit, ...e2e.filter((f) => IN_UNIT_LANE.has(f))] }];
}
const total = lanes.reduce((n, lane) => n + lane.files.length, 0);
if (total === 0) {
  console.error('no test files found');
  process.exit(1);
}
console.error(`running ${total} test files${lanes.length > 1 ? ` in ${lanes.length} lanes (${lanes.map((l) => `${l.name}: ${l.files.length}`).join(', ')})` : ''}`);

// A private directory per run: concurrent runs (two developers, or a run beside CI) must
// not read each other's summaries.
const cacheDir = join(root, 'node_modules', '.cache', `synkti-tests-${process.pid}`);
mkdirSync(cacheDir, { recursive: true });

/** Runs one lane; resolves with its exit code once its output is written. */
function runLane(lane, live) {
  const tapFile = join(cacheDir, `${lane.name}.tap`);
  const specFile = join(cacheDir, `${lane.name}.spec.txt`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [
      '--import', 'tsx', '--test',
      // People read the spec reporter; the TAP copy gives the closing counts.
      '--test-reporter=spec', `--test-reporter-destination=${live ? 'stdout' : specFile}`,
      '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
      ...lane.files,
    ], {
      stdio: 'inherit',
      env: { ...process.env, SYNKTI_LOG_LEVEL: process.env.SYNKTI_LOG_LEVEL ?? 'warn' },
    });
    // Ctrl-C or a CI timeout: the lanes go with us.
    const forward = (signal) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      if (!live) {
        try {
          process.stdout.write(`\n── ${lane.name} lane (${lane.files.length} files) ──\n${readFileSync(specFile, 'utf8')}`);
        } catch {
          process.stdout.write(`\n── ${lane.name} lane: no output was written\n`);
        }
      }
      resolve({ lane, tapFile, code: code ?? (signal ? 1 : 0) });
    });
  });
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
const results = await Promise.all(lanes.map((lane, i) => runLane(lane, i === 0)));
const sums = Object.fromEntries(COUNTS.map((k) => [k, 0]));
let duration = 0;
let missing = false;
for (const { lane, tapFile } of results) {
  let text;
  try {
    text = readFileSync(tapFile, 'utf8');
  } catch {
    missing = true;
    console.log(`# no TAP summary was written by the ${lane.name} lane`);
    continue;
  }
  for (const line of text.split('\n')) {
    const m = /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/.exec(line);
    if (!m) continue;
    if (m[1] === 'duration_ms') duration = Math.max(duration, Number(m[2]));
    else sums[m[1]] += Number(m[2]);
  }
}
if (results.length > 1) {
  for (const { lane, code } of results) console.log(`# lane ${lane.name}: exit ${code}`);
}
for (const k of COUNTS) console.log(`# ${k} ${sums[k]}`);
console.log(`# duration_ms ${duration}`);
rmSync(cacheDir, { recursive: true, force: true });
const failed = results.some((r) => r.code !== 0) || missing;
process.exit(failed ? 1 : 0);
