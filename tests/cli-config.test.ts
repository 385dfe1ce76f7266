/** The CLI in front of bad input: clear messages, exit code 2, never a stack trace. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadClusterConfig } from '@synkti/core';
import { REPO_ROOT, makeProject, runCli } from './helpers/cli.ts';

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /\n\s+at [\w.<]+ \(/, `no stack trace in:\n${text}`);
}

test('an invalid config fails with every bad field named, exit code 2', async (t) => {
  const project = makeProject({ name: 'Bad_Name', pools: { worker: { count: -1 } }, ports: { agent: 9000, router: 9000 }, extra: true });
  t.after(() => project.cleanup());
  const result = await runCli(['up'], { cwd: project.dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /has 4 problems/);
  assert.match(result.stderr, /ports\.router: port 9000 is also ports\.agent/);
  assert.match(result.stderr, /name: must be 2-40 lowercase/);
  assert.match(result.stderr, /pools\.worker\.count: must be at least 0/);
  assert.match(result.stderr, /extra: unknown field/);
  assert.match(result.stderr, /hint:/);
  assertNoStack(result.stderr);
});

test('no config: says to run synkti init', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-empty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await runCli(['status'], { cwd: dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /no synkti\.config\.ts/);
  assert.match(result.stderr, /synkti init/);
  assertNoStack(result.stderr);
});

test('a config with a syntax error names the file, without a stack trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-syntax-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'synkti.config.ts'), 'export default { name: "x", pools: { \n');
  const result = await runCli(['status'], { cwd: dir });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /could not load .*synkti\.config\.ts/);
  assertNoStack(result.stderr);
});

test('bad flags get usage help, exit code 2', async (t) => {
  const project = makeProject({ name: 'flags', pools: { worker: { count: 1 } } });
  t.after(() => project.cleanup());
  const nodes = await runCli(['up', '--nodes', 'three'], { cwd: project.dir });
  assert.equal(nodes.code, 2);
  assert.match(nodes.stderr, /whole number/);
  const unknown = await runCli(['launch-rockets'], { cwd: project.dir });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command/);
  const help = await runCli(['--help'], { cwd: project.dir });
  assert.equal(help.code, 0);
  for (const command of ['init', 'up', 'status', 'down', 'logs']) assert.match(help.stdout, new RegExp(`\\n  ${command}`));
});

test('synkti init writes a commented config that validates', async (t) => {
  // Inside the repo so the generated `import ... from '@synkti/core'` resolves.
  const dir = join(REPO_ROOT, 'node_modules', '.cache', `synkti-init-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const result = await runCli(['init', '--name', 'starter'], { cwd: dir });
  assert.equal(result.code, 0, result.stderr);
  const { spec } = await loadClusterConfig({ cwd: dir });
  assert.equal(spec.name, 'starter');
  assert.equal(spec.pools.worker!.count, 3);
  assert.ok(spec.workload, 'the starter serves a workload');
  const again = await runCli(['init'], { cwd: dir });
  assert.equal(again.code, 2, 'refuses to overwrite without --force');
  assert.match(again.stderr, /--force/);
});
