import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validateCluster } from '@synkti/core';
import { decodePlain, encodePlain, validatedConfigCache } from './validated-config-cache.ts';

function scratch(t: { after(fn: () => void): void }): { dir: string; coreUrl: string } {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-validated-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const core = join(dir, 'core.mjs');
  writeFileSync(core, 'export {};\n');
  return { dir, coreUrl: pathToFileURL(core).href };
}

const input = { name: 'demo', pools: { worker: { count: 3 } }, workload: { command: 'serve --port {port}' } };

test('encodePlain keeps undefined-valued keys and refuses what JSON would change', () => {
  const value = { a: undefined, b: [1, undefined, { c: undefined }], d: 'x' };
  const encoded = encodePlain(value)!;
  assert.deepStrictEqual(decodePlain(encoded), value);
  const sparse: unknown[] = [1];
  sparse[2] = 3;
  for (const bad of [{ f: () => 1 }, { d: new Date(0) }, { n: Number.NaN }, { n: -0 }, { b: 1n }, sparse]) {
    assert.equal(encodePlain(bad), undefined, String(Object.keys(bad)));
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.equal(encodePlain(cyclic), undefined);
});

test('a validated spec is read back equal, only for the same export and the same core build', (t) => {
  const { dir, coreUrl } = scratch(t);
  const cache = validatedConfigCache({ coreUrl, cacheDir: join(dir, 'cache') });
  const file = join(dir, 'synkti.config.ts');
  const spec = validateCluster(input, file);
  assert.equal(cache.get(file, input), undefined, 'nothing cached yet');
  cache.set(file, input, spec);
  assert.deepStrictEqual(cache.get(file, structuredClone(input)), spec);
  // Another export (one count changed), another config file, another core build: misses.
  assert.equal(cache.get(file, { ...input, pools: { worker: { count: 4 } } }), undefined);
  assert.equal(cache.get(join(dir, 'other.config.ts'), input), undefined);
  writeFileSync(new URL(coreUrl), 'export {}; // rebuilt\n');
  assert.equal(validatedConfigCache({ coreUrl, cacheDir: join(dir, 'cache') }).get(file, input), undefined);
});

test('an export that is not plain data is never cached, and a corrupt record is a miss', (t) => {
  const { dir, coreUrl } = scratch(t);
  const cacheDir = join(dir, 'cache');
  const cache = validatedConfigCache({ coreUrl, cacheDir });
  const file = join(dir, 'synkti.config.ts');
  const withFunction = { ...input, extra: () => 1 };
  cache.set(file, withFunction, validateCluster(input, file));
  assert.equal(cache.get(file, withFunction), undefined);
  cache.set(file, input, validateCluster(input, file));
  const [record] = readdirSync(cacheDir);
  writeFileSync(join(cacheDir, record!), '{"key": "');
  assert.equal(cache.get(file, input), undefined);
});
