// The CLI compiled to JavaScript: one esbuild bundle of packages/cli/src/cli.ts, split into
// chunks at every dynamic import (so each command still loads only what it needs), with
// the @synkti packages compiled in and every npm package left as an import of the
// installed one. A read command from it starts without tsx and without transforming a
// single TypeScript file (`npm run bench -- cli` measures it).
//
// scripts/pack-cli.mjs builds it into the packed CLI's dist/; in the repository,
// ensureRepoBundle() builds it on demand into node_modules/.cache/synkti-cli/ and reuses
// it while no source file it was built from has changed (checked by size and mtime).
//
// Plain JavaScript on purpose: the `synkti` binary loads this before anything can
// compile TypeScript. esbuild is imported only when a build is needed.
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { zodEnglishOnly } from '@synkti/agent/zod-english-only';

const BANNER = "import { createRequire as synktiCreateRequire } from 'node:module';\nconst require = synktiCreateRequire(import.meta.url);";

/**
 * npm packages compiled into the bundle instead of imported: pure JavaScript that every
 * command loads (one file parsed instead of a hundred modules resolved).
 */
const COMPILED_IN = new Set(['zod', 'commander']);

/** What a bundle holds: cli.mjs (run(argv)) and core*.mjs, the @synkti/core a config may import. */
export const BUNDLE_ENTRY = 'cli.mjs';

/**
 * Builds the bundle into `outDir`. `sourceRoot` is the tree holding packages/<name>/src
 * (the repository, or pack-cli's staged copy, whose @synkti imports are already relative).
 * Every `import.meta.url` in a source (the text, even inside a string: spell it in two
 * parts there) becomes that source file's own URL, computed from the bundle's location, so paths modules compute from it (the agent's entry, the stand-in,
 * package.json) still point into packages/ wherever the bundle is.
 * Resolves with the absolute paths of the files it was built from.
 */
export async function buildCliBundle({ sourceRoot, outDir, logLevel = 'warning', nodePaths = [] }) {
  const { build } = await import('esbuild');
  const packagesDir = join(sourceRoot, 'packages') + sep;
  const urlOf = (file) => {
    const rel = relative(outDir, file).split(sep).join('/');
    return `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
  };
  const result = await build({
    entryPoints: {
      cli: join(sourceRoot, 'packages/cli/src/cli.ts'),
      core: join(sourceRoot, 'packages/core/src/index.ts'),
      'core-errors': join(sourceRoot, 'packages/core/src/errors.ts'),
      'core-duration': join(sourceRoot, 'packages/core/src/duration.ts'),
    },
    outdir: outDir,
    // Chunks beside the entries: one directory, so every relative URL above holds for all.
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    logLevel,
    nodePaths,
    banner: { js: BANNER },
    plugins: [
      zodEnglishOnly,
      {
        name: 'synkti-sources',
        setup(on) {
          // AWS SDK clients: loaded on first use (lazyCommonJs), so a local command never pays for them.
          // (An import() is lazy already; a package not installed here stays a plain import.)
          on.onResolve({ filter: /^@aws-sdk\/client-[a-z0-9-]+$/ }, (args) => {
            const contents = args.kind === 'import-statement' ? lazyCommonJs(args.path) : undefined;
            return contents === undefined
              ? { path: args.path, external: true }
              : { path: args.path, namespace: 'synkti-lazy', pluginData: contents };
          });
          on.onLoad({ filter: /.*/, namespace: 'synkti-lazy' }, (args) => ({ contents: args.pluginData, loader: 'js' }));
          // npm packages stay imports of the installed copies; @synkti ones are compiled in.
          on.onResolve({ filter: /^[^./]/ }, (args) => {
            if (args.kind === 'entry-point' || isAbsolute(args.path) || args.path.startsWith('@synkti/')) return undefined;
            if (COMPILED_IN.has(args.path) || [...COMPILED_IN].some((name) => args.path.startsWith(`${name}/`))) return undefined;
            return { path: args.path, external: true };
          });
          on.onLoad({ filter: /\.ts$/ }, (args) => {
            if (!args.path.startsWith(packagesDir)) return undefined;
            const text = readFileSync(args.path, 'utf8');
            if (!text.includes('import.meta.url')) return undefined;
            return { contents: text.replaceAll('import.meta.url', urlOf(args.path)), loader: 'ts' };
          });
        },
      },
    ],
  });
  const cwd = process.cwd();
  return Object.keys(result.metafile.inputs)
    .filter((input) => !input.includes(':'))
    .map((input) => resolve(cwd, input));
}

/**
 * A stand-in module for a CommonJS package that requires it the first time one of its
 * exports is used: each export is a Proxy that forwards construction, calls, property
 * reads and instanceof to the real one. The export names are read at build time; each
 * export is marked pure, so the bundle keeps only those the sources use (client-ec2 alone
 * has ~5,000: every command that touched it built a Proxy for each, ~400 KB to parse).
 */
function lazyCommonJs(name) {
  let real;
  try {
    real = createRequire(join(REPO_ROOT, 'packages/cli/package.json'))(name);
  } catch {
    return undefined;
  }
  const names = Object.keys(real).filter((key) => /^[A-Za-z_$][\w$]*$/.test(key) && key !== 'default');
  return `import { createRequire } from 'node:module';
const load = (() => { let real; return () => (real ??= createRequire(${'import.meta'}.url)(${JSON.stringify(name)})); })();
const lazy = (key) => new Proxy(function () {}, {
  get: (_, p) => (p === 'prototype' || typeof load()[key] === 'function' ? Reflect.get(load()[key], p) : load()[key][p]),
  has: (_, p) => p in load()[key],
  construct: (_, args, target) => Reflect.construct(load()[key], args, target === undefined ? load()[key] : target),
  apply: (_, self, args) => Reflect.apply(load()[key], self, args),
  getPrototypeOf: () => Reflect.getPrototypeOf(load()[key]),
  ownKeys: () => Reflect.ownKeys(load()[key]),
  getOwnPropertyDescriptor: (_, p) => { const d = Reflect.getOwnPropertyDescriptor(load()[key], p); if (d) d.configurable = true; return d; },
});
${names.map((key) => `export const ${key} = /* @__PURE__ */ lazy(${JSON.stringify(key)});`).join('\n')}
`;
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
// SYNKTI_CLI_BUNDLE_CACHE: another cache directory (tests build into a scratch one).
const CACHE = process.env.SYNKTI_CLI_BUNDLE_CACHE || join(REPO_ROOT, 'node_modules/.cache/synkti-cli');
const CURRENT = join(CACHE, 'current.json');
const LOCK = join(CACHE, 'build.lock');
/** A lock older than this is from a build that hung or a machine that rebooted: taken over. */
const LOCK_STALE_MS = 120_000;
/** How long a caller waits for another process's build before building on its own. */
const LOCK_WAIT_MS = 180_000;

/** True when every file the bundle was built from still has the size and mtime it had. */
function fresh(inputs) {
  for (const [file, [size, mtimeMs]] of Object.entries(inputs)) {
    let stat;
    try {
      stat = statSync(file);
    } catch {
      return false;
    }
    if (stat.size !== size || stat.mtimeMs !== mtimeMs) return false;
  }
  return true;
}

/** The record of the newest bundle, if it names one that is on disk. */
function readCurrent() {
  try {
    const current = JSON.parse(readFileSync(CURRENT, 'utf8'));
    if (typeof current.dir === 'string' && typeof current.inputs === 'object' && existsSync(join(CACHE, current.dir, BUNDLE_ENTRY)))
      return current;
  } catch {
    // No bundle yet, or a record mid-replace (it is renamed into place, so only absent).
  }
  return undefined;
}

const entryUrl = (dir) => new URL(`file://${join(CACHE, dir, BUNDLE_ENTRY)}`).href;

/** Takes the build lock: true when this process holds it now. */
function tryLock() {
  try {
    writeFileSync(LOCK, JSON.stringify({ pid: process.pid, at: Date.now() }), { flag: 'wx' });
    return true;
  } catch (error) {
    if (error.code === 'EEXIST') return false;
    throw error;
  }
}

/** A lock whose holder is gone (no such process) or that is older than LOCK_STALE_MS. */
function lockIsStale() {
  let age;
  try {
    age = Date.now() - statSync(LOCK).mtimeMs;
  } catch {
    return false; // Released while we looked: the next tryLock will take it.
  }
  if (age > LOCK_STALE_MS) return true;
  try {
    const { pid } = JSON.parse(readFileSync(LOCK, 'utf8'));
    process.kill(pid, 0);
    return false;
  } catch (error) {
    // ESRCH: the holder died without releasing. A lock still being written parses as
    // nothing: its holder is alive, wait for it.
    return error.code === 'ESRCH';
  }
}

function releaseLock() {
  try {
    if (JSON.parse(readFileSync(LOCK, 'utf8')).pid === process.pid) rmSync(LOCK, { force: true });
  } catch {
    // Taken over as stale, or already gone.
  }
}

/**
 * The repository's bundle, built first if missing or stale: the cli.mjs file URL, or
 * undefined when it cannot be built (a source mid-edit that does not parse, no esbuild),
 * and the caller runs the sources through tsx instead. Builds are serialised by a lock
 * file: concurrent first runs (a test runner, several terminals) wait for one build and
 * use it, instead of each compiling its own copy.
 */
export async function ensureRepoBundle() {
  const seen = readCurrent();
  if (seen && fresh(seen.inputs)) return entryUrl(seen.dir);
  try {
    mkdirSync(CACHE, { recursive: true });
    const waitUntil = Date.now() + LOCK_WAIT_MS;
    let locked = tryLock();
    while (!locked) {
      // Someone else is building: use theirs as soon as it is recorded.
      const now = readCurrent();
      if (now && now.dir !== seen?.dir) return entryUrl(now.dir);
      if (lockIsStale()) rmSync(LOCK, { force: true });
      else if (Date.now() > waitUntil)
        break; // A wedged builder must not wedge us: build unlocked.
      else await sleep(100);
      locked = tryLock();
    }
    try {
      // The holder before us may have finished between our first look and the lock.
      const now = readCurrent();
      if (now && now.dir !== seen?.dir && fresh(now.inputs)) return entryUrl(now.dir);
      return await buildIntoCache();
    } finally {
      if (locked) releaseLock();
    }
  } catch (error) {
    if (process.env.SYNKTI_DEBUG) console.error('synkti: could not build the CLI bundle, running the sources through tsx:', error);
    return undefined;
  }
}

async function buildIntoCache() {
  const dir = `b-${Date.now().toString(36)}-${process.pid}`;
  const outDir = join(CACHE, dir);
  const stamp = {};
  const started = Date.now();
  const files = await buildCliBundle({ sourceRoot: REPO_ROOT, outDir, logLevel: 'silent' });
  // This file too: a change to how the bundle is built rebuilds it.
  for (const file of [...files, fileURLToPath(import.meta.url)]) {
    const stat = statSync(file);
    // A file saved during the build may not be in it: record it as changed, so the next run builds again.
    stamp[file] = [stat.size, stat.mtimeMs >= started - 1000 ? -1 : stat.mtimeMs];
  }
  const tmp = `${CURRENT}.${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ dir, inputs: stamp }));
  renameSync(tmp, CURRENT);
  removeOldBundles(dir);
  return entryUrl(dir);
}

/** Older bundles, kept an hour for processes still running from them (they load chunks lazily). */
function removeOldBundles(keep) {
  const cutoff = Date.now() - 3_600_000;
  for (const name of readdirSync(CACHE)) {
    if (!name.startsWith('b-') || name === keep) continue;
    try {
      if (statSync(join(CACHE, name)).mtimeMs < cutoff) rmSync(join(CACHE, name), { recursive: true, force: true });
    } catch {
      // Another process removed it first.
    }
  }
}
