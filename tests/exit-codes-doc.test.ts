/** Every exit code in packages/cli/src/exit-codes.ts is in README.md's "Exit codes" table, with the same name, and nothing else is. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../packages/cli/src/exit-codes.ts';
import { REPO_ROOT } from './helpers/cli.ts';

function readmeExitTable(): Map<number, string> {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /^### Exit codes\n([\s\S]*?)(?=^#)/m.exec(readme);
  assert.ok(section, 'README.md has a "### Exit codes" section');
  const rows = [...section[1]!.matchAll(/^\| (\d+) \| (\w+) \| (.+) \|$/gm)];
  const table = new Map<number, string>();
  for (const [, code, name, meaning] of rows) {
    assert.ok(!table.has(Number(code)), `exit code ${code} is listed once`);
    assert.ok(meaning!.trim().length > 3, `exit code ${code} says what it means`);
    table.set(Number(code), name!);
  }
  return table;
}

test('README exit-code table and exit-codes.ts agree', () => {
  const documented = readmeExitTable();
  const defined = new Map(Object.entries(EXIT).map(([name, code]) => [code as number, name]));
  assert.equal(new Set(defined.keys()).size, Object.keys(EXIT).length, 'exit-codes.ts gives each code once');
  assert.deepEqual([...documented.entries()].sort((a, b) => a[0] - b[0]), [...defined.entries()].sort((a, b) => a[0] - b[0]));
});
