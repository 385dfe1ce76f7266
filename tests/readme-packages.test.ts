/**
 * README's package table names every package and every public entry of each (its
 * package.json "exports"), so a reader finds `@synkti/x/y` without reading package.json.
 * Reads files only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/cli.ts';

test("README's package table lists every package and each of its public subpath entries", () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const missing: string[] = [];
  for (const dir of readdirSync(join(REPO_ROOT, 'packages')).sort()) {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'packages', dir, 'package.json'), 'utf8')) as {
      name: string;
      exports?: Record<string, string>;
    };
    const row = readme.split('\n').find((line) => line.startsWith(`| \`packages/${dir}\` (\`${pkg.name}\``));
    if (row === undefined) {
      missing.push(`packages/${dir} (${pkg.name}): no row`);
      continue;
    }
    for (const entry of Object.keys(pkg.exports ?? {})) {
      if (entry === '.') continue;
      // Named in full (`@synkti/core/contracts`) or, after the first, by its subpath (`/backoff`).
      const sub = entry.slice(1);
      if (!row.includes(`\`${pkg.name}${sub}\``) && !row.includes(`\`${sub}\``)) missing.push(`${pkg.name}${sub}`);
    }
  }
  assert.deepEqual(missing, [], 'add these to the package table in README.md');
});
