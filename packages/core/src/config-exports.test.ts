import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as configExports from './config-exports.ts';
import * as core from './index.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Every module `file` imports at run time (type-only imports left out), recursively. */
function runtimeImports(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)) {
    const specifier = match[1]!;
    if (specifier.startsWith('.')) runtimeImports(resolve(dirname(file), specifier), seen);
    else seen.add(specifier);
  }
  return seen;
}

test('what configs import as @synkti/core in the compiled CLI loads no zod', () => {
  const imports = [...runtimeImports(resolve(HERE, 'config-exports.ts'))];
  assert.deepStrictEqual(imports.filter((name) => name === 'zod' || name.startsWith('zod/')), []);
  // The walk follows files: it reached the modules it re-exports.
  assert.ok(imports.some((name) => name.endsWith('define-cluster.ts')));
  // And it does find zod where it is (cluster-spec.ts): the check above can fail.
  assert.ok(runtimeImports(resolve(HERE, 'index.ts')).has('zod'));
});

test('every name it exports is the one @synkti/core exports', () => {
  for (const [name, value] of Object.entries(configExports)) {
    assert.equal(value, (core as Record<string, unknown>)[name], name);
  }
  // defineCluster and the presets, what `synkti init` writes, are there.
  assert.equal(typeof configExports.defineCluster, 'function');
  assert.equal(typeof configExports.workloadPreset, 'function');
});
