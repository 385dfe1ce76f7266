#!/usr/bin/env node
// The `synkti` command. Synkti ships TypeScript sources and runs them through tsx: its
// loader (ESM and CommonJS hooks, as `node --import tsx` installs) is registered here so
// the command, and the synkti.config.ts it loads, work from any directory.
import 'tsx';

const { run } = await import('../src/main.ts');
await run(process.argv);
