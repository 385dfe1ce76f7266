/**
 * The package arrows point only downward (docs/architecture.md "Packages"): each package
 * imports only packages of a lower layer, by name, and only those its package.json lists
 * (its tests may import any package, by name: they are integration tests). Reads package.json files and import statements; runs
 * nothing. A test of a package that reaches into another package's src/ by relative path is
 * a violation too; the ones that exist today are listed in KNOWN_RELATIVE, to be removed as
 * packages export `./testing` entries (a new one fails this test).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './helpers/cli.ts';

/** The documented order, lowest first: a package may import only packages of a lower layer. */
const LAYERS: Record<string, number> = {
  core: 0,
  cloud: 1,
  tasks: 2,
  dashboard: 2,
  agent: 3,
  infra: 3,
  'aws-emulator': 3,
  sim: 4,
  cli: 5,
};

/** Relative imports into another package's src/ that exist today (file → target): remove as they are fixed. */
const KNOWN_RELATIVE = new Set([
  'packages/aws-emulator/src/instance-metadata.test.ts → ../../agent/src/aws-environment.ts',
  'packages/cli/src/ops/doctor.test.ts → ../../../cloud/src/providers/local/registry.ts',
]);

const IMPORT = /(?:from\s+|import\s*\(\s*)'([^']+)'/g;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts)$/.test(entry.name)) out.push(path);
  }
  return out;
}

function packageDir(name: string): string {
  return name === 'synkti' ? 'cli' : name.replace(/^@synkti\//, '');
}

test('every package is in the documented layers, and its package.json arrows point down', () => {
  const dirs = readdirSync(join(REPO_ROOT, 'packages')).sort();
  assert.deepEqual(dirs, Object.keys(LAYERS).sort(), 'a new package needs its layer here and a line in docs/architecture.md');
  for (const dir of dirs) {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'packages', dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })) {
      if (!dep.startsWith('@synkti/') && dep !== 'synkti') continue;
      const target = packageDir(dep);
      assert.ok(LAYERS[target]! < LAYERS[dir]!, `packages/${dir}/package.json depends on ${dep}, which is not below it`);
    }
  }
});

test('imports: by name, only downward, only what package.json lists', () => {
  const problems: string[] = [];
  const relativeSeen: string[] = [];
  for (const dir of Object.keys(LAYERS)) {
    const root = join(REPO_ROOT, 'packages', dir);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const deps = new Set(Object.keys(pkg.dependencies ?? {}));
    for (const file of sourceFiles(join(root, 'src'))) {
      const rel = relative(REPO_ROOT, file);
      const isTest = /\.test\.ts$|\/testing\//.test(rel);
      const text = readFileSync(file, 'utf8');
      for (const [, spec] of text.matchAll(IMPORT)) {
        if (!spec) continue;
        if (spec.startsWith('.')) {
          const target = relative(REPO_ROOT, join(file, '..', spec));
          if (!target.startsWith(`packages/${dir}/`) && target.startsWith('packages/')) {
            const key = `${rel} → ${spec}`;
            relativeSeen.push(key);
            if (!KNOWN_RELATIVE.has(key)) problems.push(`${key}: import another package by name (add a ./testing export), not by path`);
          }
          continue;
        }
        const m = /^(@synkti\/[a-z-]+|synkti)(\/|$)/.exec(spec);
        if (!m) continue;
        const name = m[1]!;
        const target = packageDir(name);
        if (target === dir) continue;
        // Tests may exercise a package against higher ones (integration), by name; shipped code only downward.
        if (isTest) continue;
        if (!(LAYERS[target]! < LAYERS[dir]!)) problems.push(`${rel} imports ${spec}: ${target} is not below ${dir}`);
        else if (!deps.has(name)) problems.push(`${rel} imports ${name}, which packages/${dir}/package.json does not list`);
      }
    }
  }
  assert.deepEqual(problems, []);
  const stale = [...KNOWN_RELATIVE].filter((k) => !relativeSeen.includes(k));
  assert.deepEqual(stale, [], 'fixed: remove these from KNOWN_RELATIVE');
});
