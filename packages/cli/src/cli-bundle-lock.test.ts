// The repository's compiled CLI is built on first use. Several first uses at once (a test
// runner's lanes, two terminals) must wait for one build and share it, and a lock left by
// a builder that died must not stop the next one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BUNDLE_MODULE = fileURLToPath(new URL('../bin/cli-bundle.mjs', import.meta.url));

/** Runs ensureRepoBundle() in a fresh process with its cache in `cache`: the URL it returned. */
function ensureInChild(cache: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-e', `import(${JSON.stringify(BUNDLE_MODULE)}).then(async (m) => process.stdout.write(String(await m.ensureRepoBundle())))`],
      { env: { ...process.env, SYNKTI_CLI_BUNDLE_CACHE: cache }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`ensureRepoBundle exited ${code}`))));
  });
}

const builtDirs = (cache: string) => readdirSync(cache).filter((name) => name.startsWith('b-'));

test('concurrent first runs build the CLI once and all use that build', async (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'synkti-cli-cache-'));
  t.after(() => rmSync(cache, { recursive: true, force: true }));
  const urls = await Promise.all([ensureInChild(cache), ensureInChild(cache), ensureInChild(cache)]);
  assert.equal(new Set(urls).size, 1, `each run got its own bundle: ${urls.join(', ')}`);
  assert.match(urls[0]!, /^file:\/\/.*\/cli\.mjs$/);
  assert.deepEqual(builtDirs(cache).length, 1);
  assert.ok(!existsSync(join(cache, 'build.lock')), 'the lock is released after the build');
});

test('a lock left by a builder that died is taken over', async (t) => {
  const cache = mkdtempSync(join(tmpdir(), 'synkti-cli-cache-'));
  t.after(() => rmSync(cache, { recursive: true, force: true }));
  mkdirSync(cache, { recursive: true });
  // A pid that is not running: spawn a process and wait until it has exited.
  const dead = spawn(process.execPath, ['-e', '0']);
  const deadPid = await new Promise<number>((resolve) => dead.on('exit', () => resolve(dead.pid!)));
  writeFileSync(join(cache, 'build.lock'), JSON.stringify({ pid: deadPid, at: Date.now() }));
  const url = await ensureInChild(cache);
  assert.match(url, /\/cli\.mjs$/, 'a bundle was built despite the abandoned lock');
  assert.equal(builtDirs(cache).length, 1);
});
