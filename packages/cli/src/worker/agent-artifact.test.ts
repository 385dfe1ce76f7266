/**
 * Packing the agent release. Fast tests on a small fake checkout (workspace symlinks,
 * nested and optional dependencies); the real checkout's artifact, unpacked and started
 * outside the repository, only with SYNKTI_TEST_PACK=1 (it copies ~100 MB).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { isSynktiError } from '@synkti/core';
import { packAgentArtifact } from './agent-artifact.ts';

const exec = promisify(execFile);

function temp(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function pkg(dir: string, name: string, extra: Record<string, unknown> = {}): void {
  write(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...extra }));
}

/** A checkout: workspace packages linked from node_modules, a nested dependency, a missing optional one. */
function fakeCheckout(root: string): void {
  pkg(join(root, 'packages/agent'), '@synkti/agent', { dependencies: { '@synkti/core': '0.1.0', '@synkti/dashboard': '0.1.0', 'dep-a': '^1' } });
  write(join(root, 'packages/agent/src/main.ts'), 'export {};\n');
  write(join(root, 'packages/agent/src/main.test.ts'), 'test\n');
  write(join(root, 'packages/agent/src/testing/fake.ts'), 'fixture\n');
  write(join(root, 'packages/agent/README.md'), 'docs\n');
  pkg(join(root, 'packages/core'), '@synkti/core', { dependencies: { 'dep-b': '^2' } });
  write(join(root, 'packages/core/src/index.ts'), 'export {};\n');
  // A package with prebuilt assets: its "files" ship (dist/ too), its other directories do not.
  pkg(join(root, 'packages/dashboard'), '@synkti/dashboard', { files: ['src', 'dist/'] });
  write(join(root, 'packages/dashboard/src/index.ts'), 'export {};\n');
  write(join(root, 'packages/dashboard/dist/index.html'), '<!doctype html>\n');
  write(join(root, 'packages/dashboard/web/main.ts'), 'front-end source\n');
  mkdirSync(join(root, 'node_modules/@synkti'), { recursive: true });
  symlinkSync('../../packages/dashboard', join(root, 'node_modules/@synkti/dashboard'));
  symlinkSync('../../packages/agent', join(root, 'node_modules/@synkti/agent'));
  symlinkSync('../../packages/core', join(root, 'node_modules/@synkti/core'));
  pkg(join(root, 'node_modules/dep-a'), 'dep-a', { dependencies: { 'dep-b': '^1' } });
  write(join(root, 'node_modules/dep-a/index.js'), 'a\n');
  pkg(join(root, 'node_modules/dep-a/node_modules/dep-b'), 'dep-b', { version: '1.0.0' });
  pkg(join(root, 'node_modules/dep-b'), 'dep-b', { version: '2.0.0' });
  pkg(join(root, 'node_modules/tsx'), 'tsx', { dependencies: { esbuild: '*' }, optionalDependencies: { fsevents: '*' } });
  pkg(join(root, 'node_modules/esbuild'), 'esbuild', { optionalDependencies: { '@esbuild/linux-x64': '*', '@esbuild/darwin-arm64': '*' } });
  pkg(join(root, 'node_modules/@esbuild/linux-x64'), '@esbuild/linux-x64');
  pkg(join(root, 'node_modules/unrelated'), 'unrelated');
}

async function entries(file: string): Promise<string[]> {
  const { stdout } = await exec('tar', ['-tzf', file]);
  return stdout.split('\n').filter((l) => l !== '' && !l.endsWith('/')).sort();
}

describe('packAgentArtifact', () => {
  it('packs the entry, workspace sources without tests (plus what "files" names, e.g. prebuilt dist/), and exactly the dependency closure', async (t) => {
    const root = temp(t, 'synkti-checkout-');
    fakeCheckout(root);
    const out = temp(t, 'synkti-out-');
    const artifact = await packAgentArtifact({ repoRoot: root, outDir: out, version: '1.2.3' });
    assert.equal(artifact.file, join(out, 'synkti-agent-1.2.3.tgz'));
    assert.equal(artifact.key, 'artifacts/synkti-agent-1.2.3.tgz');
    assert.equal(artifact.sha256, createHash('sha256').update(readFileSync(artifact.file)).digest('hex'));
    assert.equal(artifact.packages, 9);
    const top = 'synkti-agent-1.2.3/';
    assert.deepEqual(await entries(artifact.file), [
      'bin/synkti-agent.mjs',
      'node_modules/@esbuild/linux-x64/package.json',
      'node_modules/@synkti/agent/package.json',
      'node_modules/@synkti/agent/src/main.ts',
      'node_modules/@synkti/core/package.json',
      'node_modules/@synkti/core/src/index.ts',
      'node_modules/@synkti/dashboard/dist/index.html',
      'node_modules/@synkti/dashboard/package.json',
      'node_modules/@synkti/dashboard/src/index.ts',
      'node_modules/dep-a/index.js',
      'node_modules/dep-a/node_modules/dep-b/package.json',
      'node_modules/dep-a/package.json',
      'node_modules/dep-b/package.json',
      'node_modules/esbuild/package.json',
      'node_modules/tsx/package.json',
      'package.json',
    ].map((e) => top + e));
    const { stdout: entry } = await exec('tar', ['-xzOf', artifact.file, `${top}bin/synkti-agent.mjs`]);
    assert.match(entry, /^import 'tsx';$/m);
    assert.match(entry, /await import\('\.\.\/node_modules\/@synkti\/agent\/src\/main\.ts'\)/);
  });

  it('is reproducible: packing the same checkout twice gives the same SHA-256', async (t) => {
    const root = temp(t, 'synkti-checkout-');
    fakeCheckout(root);
    const first = await packAgentArtifact({ repoRoot: root, outDir: temp(t, 'synkti-out-'), version: '1.0.0' });
    const second = await packAgentArtifact({ repoRoot: root, outDir: temp(t, 'synkti-out-'), version: '1.0.0' });
    assert.equal(first.sha256, second.sha256);
  });

  it('fails, writing nothing, when a required dependency is not installed', async (t) => {
    const root = temp(t, 'synkti-checkout-');
    fakeCheckout(root);
    rmSync(join(root, 'node_modules/dep-b'), { recursive: true });
    const out = temp(t, 'synkti-out-');
    await assert.rejects(packAgentArtifact({ repoRoot: root, outDir: out }), (error: unknown) => {
      assert.ok(isSynktiError(error, 'E_PACK'));
      assert.match(error.message, /cannot find the package dep-b \(needed by packages\/core\)/);
      assert.match(error.hint ?? '', /npm ci/);
      return true;
    });
    assert.deepEqual(await exec('ls', ['-A', out]).then((r) => r.stdout), '');
  });

  it('the real artifact starts the agent outside the checkout (SYNKTI_TEST_PACK=1)', { skip: process.env.SYNKTI_TEST_PACK !== '1' && 'set SYNKTI_TEST_PACK=1 (copies ~100 MB)' }, async (t) => {
    const out = temp(t, 'synkti-out-');
    const artifact = await packAgentArtifact({ outDir: out, version: '0.0.0-test' });
    const unpacked = join(out, 'opt');
    mkdirSync(unpacked);
    await exec('tar', ['-xzf', artifact.file, '-C', unpacked, '--strip-components=1']);
    // No metadata service: the agent must load its whole module graph, then fail on IMDS with its own message.
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(unpacked, 'bin/synkti-agent.mjs')], {
        cwd: out,
        env: { PATH: '/usr/bin:/bin', SYNKTI_IMDS_ENDPOINT: 'http://127.0.0.1:9' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^synkti-agent: instance metadata at http:\/\/127\.0\.0\.1:9 is unavailable/);
  });
});
