import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DASHBOARD_ASSETS_DIR } from './dashboard-server.ts';

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.set(relative(dir, path), readFileSync(path, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

// The page is served from the committed dist/ (no build at install): it must be what web/ builds to.
test(
  'the committed dist/ is the build of web/ (run `npm run build -w @synkti/dashboard` after editing web/)',
  { timeout: 60_000 },
  async (t) => {
    const out = mkdtempSync(join(tmpdir(), 'synkti-dashboard-build-'));
    t.after(() => rmSync(out, { recursive: true, force: true }));
    const { build } = await import('vite');
    await build({
      configFile: fileURLToPath(new URL('../vite.config.ts', import.meta.url)),
      logLevel: 'silent',
      build: { outDir: out, emptyOutDir: true },
    });
    const built = files(out);
    const committed = files(DASHBOARD_ASSETS_DIR);
    assert.deepEqual([...committed.keys()].sort(), [...built.keys()].sort(), 'same files (Vite names them by content hash)');
    for (const [name, text] of built) assert.equal(committed.get(name), text, `${name} is current`);
  },
);

// Being on disk is not enough: a clean clone has only what git tracks (a repo-wide dist/
// ignore once left the rebuilt bundle out of a commit, and agents answered 404).
test(
  'every file of dist/ is tracked by git',
  { skip: !existsSync(fileURLToPath(new URL('../../../.git', import.meta.url))) && 'not a git checkout' },
  () => {
    const onDisk = [...files(DASHBOARD_ASSETS_DIR).keys()]
      .map((name) => join(relative(fileURLToPath(new URL('../../../', import.meta.url)), DASHBOARD_ASSETS_DIR), name))
      .sort();
    const tracked = execFileSync('git', ['ls-files', '--', ...onDisk], {
      cwd: fileURLToPath(new URL('../../../', import.meta.url)),
      encoding: 'utf8',
    })
      .split('\n')
      .filter((line) => line !== '')
      .sort();
    assert.deepEqual(tracked, onDisk, 'git add packages/dashboard/dist (and check .gitignore)');
  },
);
