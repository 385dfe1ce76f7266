import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './config-error.ts';
import { isSynktiError, type SynktiError } from './errors.ts';
import { CONFIG_FILE_NAMES, loadClusterConfig } from './load-config.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A scratch directory inside the repo, so that a config's `import ... from '@synkti/core'`
 * resolves through the workspace's node_modules. Removed after the test.
 */
function projectDir(t: { after: (fn: () => void) => void }): string {
  const cache = join(REPO_ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'synkti-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function loadError(promise: Promise<unknown>, code: string): Promise<SynktiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isSynktiError(error, code), `expected ${code}, got ${String(error)}`);
    assert.doesNotMatch(error.message, /\n\s+at /, 'no stack trace in the message');
    assert.ok(error.hint && error.hint.length > 0, 'has a hint');
    return error;
  }
  assert.fail('the config loaded');
}

const GOOD = `import { defineCluster } from '@synkti/core';
export default defineCluster({
  name: 'from-file',
  pools: { worker: { count: 2, size: 'medium' } },
  workload: { command: 'python -m http.server {port}', port: 8001 },
  timeouts: { failureTimeout: '7s' },
});
`;

test('loads, validates and resolves a real synkti.config.ts found in cwd', async (t) => {
  const dir = projectDir(t);
  writeFileSync(join(dir, 'synkti.config.ts'), GOOD);
  const { spec, file } = await loadClusterConfig({ cwd: dir });
  assert.equal(file, join(dir, 'synkti.config.ts'));
  assert.equal(spec.name, 'from-file');
  assert.equal(spec.pools.worker!.instanceType, 'local.medium');
  assert.deepEqual(spec.workload!.command, ['sh', '-c', 'python -m http.server {port}']);
  assert.equal(spec.timeouts.failureTimeoutMs, 7000);
});

test('takes a `cluster` named export when there is no default', async (t) => {
  const dir = projectDir(t);
  writeFileSync(join(dir, 'synkti.config.ts'), GOOD.replace('export default defineCluster(', 'export const cluster = defineCluster('));
  const { spec } = await loadClusterConfig({ cwd: dir });
  assert.equal(spec.name, 'from-file');
});

test('an explicit file wins; .mjs and .json configs load too', async (t) => {
  const dir = projectDir(t);
  writeFileSync(join(dir, 'synkti.config.ts'), GOOD);
  writeFileSync(join(dir, 'other.mjs'), "export default { name: 'from-mjs', pools: { worker: { count: 1 } } };\n");
  writeFileSync(join(dir, 'other.json'), JSON.stringify({ name: 'from-json', pools: { worker: { count: 1 } } }));
  assert.equal((await loadClusterConfig({ cwd: dir, file: 'other.mjs' })).spec.name, 'from-mjs');
  assert.equal((await loadClusterConfig({ cwd: dir, file: join(dir, 'other.json') })).spec.name, 'from-json');
});

test('synkti.config.ts is preferred over the other file names', async (t) => {
  const dir = projectDir(t);
  assert.equal(CONFIG_FILE_NAMES[0], 'synkti.config.ts');
  writeFileSync(join(dir, 'synkti.config.json'), JSON.stringify({ name: 'from-json', pools: { worker: { count: 1 } } }));
  assert.equal((await loadClusterConfig({ cwd: dir })).spec.name, 'from-json');
  writeFileSync(join(dir, 'synkti.config.ts'), GOOD);
  assert.equal((await loadClusterConfig({ cwd: dir })).spec.name, 'from-file');
});

test('no config in cwd: E_CONFIG_NOT_FOUND that says to run synkti init', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-empty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_NOT_FOUND');
  assert.ok(error.message.includes(dir), 'names the directory searched');
  assert.match(error.hint!, /run `synkti init` to write one/);
});

test('an explicit file that does not exist: E_CONFIG_NOT_FOUND naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-empty-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const error = await loadError(loadClusterConfig({ cwd: dir, file: 'nope.config.ts' }), 'E_CONFIG_NOT_FOUND');
  assert.ok(error.message.includes(join(dir, 'nope.config.ts')));
  assert.match(error.hint!, /synkti init/);
});

test('a syntax error: E_CONFIG_LOAD naming the file and the line, no stack', async (t) => {
  const dir = projectDir(t);
  const file = join(dir, 'synkti.config.ts');
  writeFileSync(file, "import { defineCluster } from '@synkti/core';\nexport default defineCluster({ name: 'x', pools: { \n");
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_LOAD');
  assert.ok(error.message.startsWith(`could not load ${file}: `), error.message);
  assert.match(error.message, /line 3:0: /, 'says where');
  assert.doesNotMatch(error.message, /Transform failed/, 'the useful line, not the transform banner');
  assert.equal(error.message.split('\n').length, 1, 'one line');
  assert.ok(error.cause, 'keeps the underlying error as the cause');
});

test('a config that throws: E_CONFIG_LOAD with the first line of the error only', async (t) => {
  const dir = projectDir(t);
  const file = join(dir, 'synkti.config.ts');
  writeFileSync(file, "throw new Error('cannot read secrets.json\\nsecond line of detail');\nexport default {};\n");
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_LOAD');
  assert.equal(error.message, `could not load ${file}: cannot read secrets.json`);
});

test('a config that imports a missing module: E_CONFIG_LOAD with one line', async (t) => {
  const dir = projectDir(t);
  writeFileSync(join(dir, 'synkti.config.ts'), "import { x } from './missing.ts';\nexport default x;\n");
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_LOAD');
  assert.match(error.message, /missing\.ts/);
  assert.equal(error.message.split('\n').length, 1);
});

test('a JSON config that is not JSON: E_CONFIG_LOAD', async (t) => {
  const dir = projectDir(t);
  writeFileSync(join(dir, 'synkti.config.json'), '{"name": "x", ');
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_LOAD');
  assert.match(error.message, /synkti\.config\.json/);
});

test('a module that exports no cluster says how to export one', async (t) => {
  const dir = projectDir(t);
  writeFileSync(join(dir, 'synkti.config.ts'), 'export const somethingElse = 1;\n');
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_LOAD');
  assert.match(error.message, /exports no cluster/);
  assert.match(error.hint!, /export default defineCluster/);
});

test('an invalid config in a file: ConfigError headed by the file path', async (t) => {
  const dir = projectDir(t);
  const file = join(dir, 'synkti.config.ts');
  writeFileSync(
    file,
    "import { defineCluster } from '@synkti/core';\n// @ts-expect-error the typo under test\nexport default defineCluster({ name: 'ok-name', pool: { worker: { count: 1 } } });\n",
  );
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG');
  assert.ok(error instanceof ConfigError);
  assert.ok(error.message.startsWith(`${file} has 2 problems:`), error.message);
  assert.deepEqual(error.issues.map((i) => i.path).sort(), ['pool', 'pools']);
  assert.match(error.issues.find((i) => i.path === 'pool')!.hint, /did you mean "pools"/);
});

/** A directory outside the repository, where `@synkti/core` does not resolve on its own. */
function outsideDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a config outside the repo that imports @synkti/core loads (CommonJS and ESM packages alike)', async (t) => {
  const plain = outsideDir(t);
  writeFileSync(join(plain, 'synkti.config.ts'), GOOD);
  assert.equal((await loadClusterConfig({ cwd: plain })).spec.name, 'from-file');

  const esm = outsideDir(t);
  writeFileSync(join(esm, 'package.json'), '{"type": "module"}\n');
  writeFileSync(join(esm, 'synkti.config.ts'), GOOD.replace("'from-file'", "'esm-scope'"));
  assert.equal((await loadClusterConfig({ cwd: esm })).spec.name, 'esm-scope');

  const presets = outsideDir(t);
  writeFileSync(
    join(presets, 'synkti.config.mjs'),
    "import { workloadPreset } from '@synkti/core';\nimport { parseDuration } from '@synkti/core/duration';\n" +
      "export default { name: 'mjs-preset', pools: { worker: { count: 1 } }, workload: { ...workloadPreset('stand-in'), startupTimeout: parseDuration('1 minute') } };\n",
  );
  const { spec } = await loadClusterConfig({ cwd: presets });
  assert.deepEqual(spec.workload!.command.slice(0, 4), ['{node}', '--import', '{tsx}', '{standIn}']);
  assert.equal(spec.workload!.startupTimeoutMs, 60_000);
});

test('a config importing a package that is not installed: names it and says how to install it', async (t) => {
  const dir = outsideDir(t);
  const file = join(dir, 'synkti.config.ts');
  writeFileSync(file, "import { merge } from 'lodash-not-installed/merge';\nexport default merge({ name: 'x' });\n");
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_LOAD');
  assert.equal(error.message, `could not load ${file}: it imports "lodash-not-installed/merge", which cannot be found`);
  assert.match(error.hint!, new RegExp(`npm install lodash-not-installed\` in ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('a config importing a file that does not exist: names the path to fix', async (t) => {
  const dir = outsideDir(t);
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  writeFileSync(join(dir, 'synkti.config.ts'), "import { pools } from './pools.ts';\nexport default { name: 'x', pools };\n");
  const error = await loadError(loadClusterConfig({ cwd: dir }), 'E_CONFIG_LOAD');
  assert.match(error.message, /it imports ".*pools\.ts", which cannot be found/);
  assert.match(error.hint!, new RegExp(`${join(dir, 'pools.ts').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist`));
});
