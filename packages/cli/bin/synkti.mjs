#!/usr/bin/env node
// The `synkti` command, run as JavaScript compiled from the TypeScript sources
// (cli-bundle.mjs): a packed CLI (scripts/pack-cli.mjs) carries it in dist/; in the
// repository it is built on first use into node_modules/.cache/synkti-cli/ and rebuilt
// when a source changes. Read commands then start without tsx; commands that run user
// TypeScript (configs the bundle cannot compile, batch objectives) register tsx when they
// need it. SYNKTI_CLI_BUNDLE=0, or a bundle that cannot be built, runs the sources
// through tsx as they are.
import { existsSync } from 'node:fs';

const REGISTERED = Symbol.for('synkti.tsx-registered');
const BUNDLE = Symbol.for('synkti.cli-bundle');
const packed = new URL('../dist/cli.mjs', import.meta.url);
let entry;
if (existsSync(packed)) {
  entry = packed.href;
} else if (process.env.SYNKTI_CLI_BUNDLE !== '0') {
  const { ensureRepoBundle } = await import('./cli-bundle.mjs');
  entry = await ensureRepoBundle();
}
if (entry) {
  // Where the bundle is: a config that imports @synkti/core gets the bundle's own copy.
  globalThis[BUNDLE] = { core: new URL('./core.mjs', entry).href };
  if (process.env.SYNKTI_DEBUG) process.setSourceMapsEnabled(true);
  const { run } = await import(entry);
  await run(process.argv);
} else {
  await import('tsx');
  globalThis[REGISTERED] = true;
  const { run } = await import('../src/cli.ts');
  await run(process.argv);
}
