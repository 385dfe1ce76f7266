#!/usr/bin/env node
// Runs every test file through node:test with tsx. Node 20's `node --test dir/` silently
// runs nothing, so the files are listed explicitly here.
//   node scripts/run-tests.mjs            unit tests (packages/*/src/**/*.test.ts) and tests/**/*.test.ts
//   node scripts/run-tests.mjs --unit     unit tests only
//   node scripts/run-tests.mjs FILE...    just those files
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
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

let files = explicit;
if (files.length === 0) {
  files = findTests(join(root, 'packages'));
  if (!unitOnly) files.push(...findTests(join(root, 'tests')));
  files = files.map((f) => relative(process.cwd(), f)).sort();
}
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
console.error(`running ${files.length} test files`);
// People read the spec reporter; the TAP copy gives the closing `# pass N` / `# fail N`
// lines that CI reads, printed last.
const tapFile = join(root, 'node_modules', '.cache', 'synkti-tests.tap');
mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
const child = spawn(process.execPath, [
  '--import', 'tsx', '--test',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
  ...files,
], {
  stdio: 'inherit',
  env: { ...process.env, SYNKTI_LOG_LEVEL: process.env.SYNKTI_LOG_LEVEL ?? 'warn' },
});
child.on('exit', (code, signal) => {
  try {
    const summary = readFileSync(tapFile, 'utf8').split('\n').filter((l) => /^# (tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(l));
    console.log(summary.join('\n'));
  } catch {
    console.log('# no TAP summary was written');
  }
  process.exit(code ?? (signal ? 1 : 0));
});
