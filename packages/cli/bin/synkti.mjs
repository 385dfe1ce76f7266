#!/usr/bin/env node
// The `synkti` command. Synkti ships TypeScript sources and runs them through tsx.
// A packed CLI (scripts/pack-cli.mjs) carries a prebuilt JavaScript entry, dist/cli.mjs,
// so `synkti --help` starts without tsx; commands register tsx when they first run.
// In the repository there is no dist/: tsx's loader (ESM and CommonJS hooks) is
// registered here, up front.
import { existsSync } from 'node:fs';

const prebuilt = new URL('../dist/cli.mjs', import.meta.url);
if (existsSync(prebuilt)) {
  const { run } = await import(prebuilt.href);
  await run(process.argv);
} else {
  await import('tsx');
  globalThis[Symbol.for('synkti.tsx-registered')] = true;
  const { run } = await import('../src/cli.ts');
  await run(process.argv);
}
