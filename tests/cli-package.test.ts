/**
 * The CLI as users install it: packed into one tarball (scripts/pack-cli.mjs), installed
 * with `npm install -g` into a fresh prefix, then run from there. `synkti --help` must
 * start in under 0.5 s; commands that need their implementation (loaded through tsx on
 * use) must work; a command whose optional package is missing must say how to install it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './helpers/cli.ts';

const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'synkti-pack-test-'));
const prefix = join(work, 'global');
const synkti = join(prefix, 'bin', 'synkti');
after(() => rmSync(work, { recursive: true, force: true }));

before(async () => {
  const packed = await run(process.execPath, [join(REPO_ROOT, 'scripts/pack-cli.mjs'), '--out', work], { cwd: REPO_ROOT });
  const tarball = packed.stdout.trim();
  // Dependencies come from npm's cache, filled by the repository's own `npm install`.
  await run('npm', ['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'], { cwd: work, timeout: 240_000 });
});

function timed(args: string[], cwd = work): { ms: number; code: number | null; stdout: string; stderr: string } {
  const started = process.hrtime.bigint();
  const result = spawnSync(synkti, args, { cwd, encoding: 'utf8', env: { ...process.env, SYNKTI_LOG_LEVEL: 'warn' } });
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('`synkti --help` from the installed package starts in under 0.5 s (median of 7)', () => {
  timed(['--help']); // the first run fills the OS file cache
  const runs = Array.from({ length: 7 }, () => timed(['--help']));
  for (const r of runs) assert.equal(r.code, 0, r.stderr);
  assert.match(runs[0]!.stdout, /Usage: synkti/);
  for (const group of ['worker', 'batch', 'sim', 'infra', 'completion']) assert.match(runs[0]!.stdout, new RegExp(`\\n  ${group}\\b`), `${group} is listed`);
  const sorted = runs.map((r) => r.ms).sort((a, b) => a - b);
  const median = sorted[3]!;
  console.log(`synkti --help: median ${median.toFixed(0)} ms (runs: ${sorted.map((ms) => ms.toFixed(0)).join(', ')})`);
  assert.ok(median < 500, `median start-up ${median.toFixed(0)} ms`);
});

test('the installed CLI runs real commands: version, init, a config error, a group, completion', () => {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string };
  assert.equal(timed(['--version']).stdout.trim(), manifest.version);

  const project = mkdtempSync(join(work, 'project-'));
  const init = timed(['init', '--name', 'packed'], project);
  assert.equal(init.code, 0, init.stderr);
  assert.match(readFileSync(join(project, 'synkti.config.ts'), 'utf8'), /name: "packed"/);

  writeFileSync(join(project, 'synkti.config.ts'), "export default { name: 'packed', pools: { worker: { count: -1 } } };\n");
  const bad = timed(['status'], project);
  assert.equal(bad.code, 2, 'a bad config is a usage error');
  assert.match(bad.stderr, /pools\.worker\.count/);

  const sim = timed(['sim', '--days', '1', '--policy', 'on-demand', '--json'], project);
  assert.equal(sim.code, 0, sim.stderr);
  assert.equal((JSON.parse(sim.stdout.trim()) as { policy: string }).policy, 'on-demand');

  const completion = timed(['completion', 'bash']);
  assert.match(completion.stdout, /complete -o default -F _synkti_complete synkti/);
  const candidates = timed(['__complete', '--', 'worker', 'l']).stdout.trim().split('\n');
  assert.deepEqual(candidates, ['launch', 'list']);
});

test('a command whose optional package is not installed names the package and the install command', () => {
  const project = mkdtempSync(join(work, 'infra-'));
  const audit = timed(['infra', 'audit'], project);
  assert.equal(audit.code, 1);
  assert.match(audit.stderr, /needs the npm package @pulumi\/[a-z]+, which is not installed/);
  assert.match(audit.stderr, /npm install -g @pulumi\//);
  assert.doesNotMatch(audit.stderr, /unexpected error|\n\s+at /, 'no stack trace');
});
