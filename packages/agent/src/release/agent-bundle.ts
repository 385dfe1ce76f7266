/**
 * The agent compiled to JavaScript for its release: one esbuild bundle per entry point a
 * worker runs (the agent, the stand-in model server, the local instance host), split into
 * shared chunks, with every npm package compiled in except the native ones (libsql), which
 * the release ships as npm's per-platform prebuilt packages (agent-artifact.ts). No tsx
 * and no TypeScript transform at run time; linked source maps name the .ts lines.
 *
 * Layout under the release's top directory (what the sources' path computations expect):
 *   lib/agent.mjs, lib/stand-in.mjs, lib/instance-host-main.mjs, lib/chunk-*.mjs (+ .map)
 *   lib/preload.mjs            what `{tsx}` in a workload command means in a release
 *   packages/dashboard/dist/   the dashboard's prebuilt front end
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SynktiError } from '@synkti/core';
import { zodEnglishOnly } from './zod-english-only.mjs';

/** npm packages with native parts: external to the bundle, shipped per platform. */
export const AGENT_NATIVE_PACKAGES = ['libsql'] as const;

/** The entry points, by output name (lib/<name>.mjs), relative to the checkout. */
export const AGENT_BUNDLE_ENTRIES = {
  agent: 'packages/agent/src/main.ts',
  'stand-in': 'packages/agent/src/stand-in/main.ts',
  'instance-host-main': 'packages/cloud/src/providers/local/instance-host-main.ts',
} as const;

/**
 * The identifier sources test (`typeof SYNKTI_COMPILED_RELEASE`) to find their siblings in
 * lib/ instead of beside their .ts file; defined as `true` in the bundle only.
 */
const RELEASE_MARKER = 'SYNKTI_COMPILED_RELEASE';

/** Loaded by `node --import` where a workload command says `{tsx}`: stack traces through source maps, nothing else. */
const PRELOAD = `// The release's stand-in for tsx's loader: the release is JavaScript already, so this
// only turns on source maps (as the agent's entry does: SYNKTI_SOURCE_MAPS=1 or SYNKTI_DEBUG).
if (process.env.SYNKTI_SOURCE_MAPS === '1' || process.env.SYNKTI_DEBUG) process.setSourceMapsEnabled(true);
`;

/**
 * `import.meta.url` spelled in two parts in every string here: the CLI's own bundle
 * (bin/cli-bundle.mjs) rewrites that text wherever it appears in a source, strings included.
 */
const META_URL = ['import.meta', 'url'].join('.');

const BANNER = `import { createRequire as synktiCreateRequire } from 'node:module';\nconst require = synktiCreateRequire(${META_URL});`;

export interface BuildAgentBundleOptions {
  /** The checkout holding packages/ and node_modules/. */
  repoRoot: string;
  /** The release's top directory: lib/ and packages/ are written inside it. */
  outDir: string;
  /**
   * esbuild's log level.
   * @default 'warning'
   */
  logLevel?: 'silent' | 'error' | 'warning' | undefined;
}

export interface AgentBundle {
  /** Files written, relative to outDir, sorted. */
  files: string[];
  /** Bytes of JavaScript (without source maps). */
  jsBytes: number;
  /** Absolute paths of the files it was compiled from (sources and npm packages). */
  inputs: string[];
}

/** The AWS SDK clients the agent uses, compiled into lib/aws-sdk.cjs (one file, parsed only when first used). */
const AWS_SDK_FILE = 'aws-sdk.cjs';

/**
 * A module standing in for an AWS SDK client package: each export is a Proxy that loads
 * lib/aws-sdk.cjs the first time it is used (construction, call, property read,
 * instanceof). Export names are read from the installed package now; each is marked pure,
 * so the bundle keeps only those the sources use (the EC2 client alone has ~5,000 exports:
 * a Proxy, its target and its handler each, built at every agent start and held for its life).
 */
function lazyClient(name: string, resolveDir: string): string {
  const real = createRequire(join(resolveDir, 'index.js'))(name) as Record<string, unknown>;
  const names = Object.keys(real)
    .filter((key) => /^[A-Za-z_$][\w$]*$/.test(key) && key !== 'default')
    .sort();
  return `let real;
const load = () => (real ??= require(${JSON.stringify(`./${AWS_SDK_FILE}`)})[${JSON.stringify(name)}]);
const lazy = (key) => new Proxy(function () {}, {
  get: (_, p) => Reflect.get(load()[key], p),
  has: (_, p) => p in load()[key],
  set: (_, p, v) => Reflect.set(load()[key], p, v),
  construct: (_, args, target) => Reflect.construct(load()[key], args, target === undefined ? load()[key] : target),
  apply: (_, self, args) => Reflect.apply(load()[key], self, args),
  getPrototypeOf: () => Reflect.getPrototypeOf(load()[key]),
  ownKeys: () => Reflect.ownKeys(load()[key]),
  getOwnPropertyDescriptor: (_, p) => { const d = Reflect.getOwnPropertyDescriptor(load()[key], p); if (d) d.configurable = true; return d; },
});
${names.map((key) => `export const ${key} = /* @__PURE__ */ lazy(${JSON.stringify(key)});`).join('\n')}
`;
}

/**
 * A module whose default export stands in for a CommonJS package's module.exports (a class,
 * such as libsql's Database): the package is required, from the release's node_modules,
 * the first time the export is used. A named import of it fails the build.
 */
function lazyDefault(name: string): string {
  return `let real;
const load = () => (real ??= require(${JSON.stringify(name)}));
export default new Proxy(function () {}, {
  get: (_, p) => Reflect.get(load(), p),
  has: (_, p) => p in load(),
  construct: (_, args, target) => Reflect.construct(load(), args, target),
  apply: (_, self, args) => Reflect.apply(load(), self, args),
  getPrototypeOf: () => Reflect.getPrototypeOf(load()),
});
`;
}

/**
 * lib/aws-sdk.cjs: each client (by package name) behind a getter, so loading the file
 * evaluates none and the first use of one evaluates that one (esbuild wraps each
 * CommonJS module in a function it calls on first require).
 */
function awsSdkEntry(clients: ReadonlyMap<string, string>): string {
  return [...clients]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([name, file]) =>
        `Object.defineProperty(exports, ${JSON.stringify(name)}, { enumerable: true, get: () => require(${JSON.stringify(file)}) });`,
    )
    .join('\n');
}

/** Builds lib/ of the release; throws SynktiError E_PACK when esbuild fails. */
export async function buildAgentBundle(options: BuildAgentBundleOptions): Promise<AgentBundle> {
  const repoRoot = resolve(options.repoRoot);
  const outDir = resolve(options.outDir);
  const lib = join(outDir, 'lib');
  const packagesDir = join(repoRoot, 'packages') + sep;
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new SynktiError('E_PACK', `cannot load esbuild to compile the agent: ${(error as Error).message}`, {
      hint: 'run `npm ci` in the checkout first',
    });
  }
  // A source's own URL, as seen from lib/, in the release's mirror of the
  // checkout (packages/<name>/src/...): its data files (the dashboard's dist/) are found there.
  const urlOf = (file: string): string =>
    `new URL(${JSON.stringify(
      relative(lib, join(outDir, relative(repoRoot, file)))
        .split(sep)
        .join('/'),
    )}, ${META_URL}).href`;
  const clients = new Map<string, string>();
  let result: Awaited<ReturnType<typeof esbuild.build>>;
  let sdk: Awaited<ReturnType<typeof esbuild.build>> | undefined;
  // What both builds share: Node 20, whitespace and syntax minified only (names stay, so
  // errors and logs read as in the sources), maps that point at lines without carrying
  // the sources themselves.
  const common = {
    absWorkingDir: repoRoot,
    platform: 'node',
    target: 'node20',
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    metafile: true,
    logLevel: options.logLevel ?? 'warning',
  } as const;
  try {
    result = await esbuild.build({
      ...common,
      entryPoints: Object.fromEntries(Object.entries(AGENT_BUNDLE_ENTRIES).map(([name, file]) => [name, join(repoRoot, file)])),
      outdir: lib,
      chunkNames: 'chunk-[hash]',
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: true,
      format: 'esm',
      banner: { js: BANNER },
      define: { [RELEASE_MARKER]: 'true' },
      external: [...AGENT_NATIVE_PACKAGES],
      plugins: [
        zodEnglishOnly,
        {
          name: 'synkti-agent-sources',
          setup(build) {
            // AWS SDK clients: compiled in, but evaluated on first use (lazyClient), so a
            // node on the local cloud, or one not yet calling AWS, does not hold them.
            build.onResolve({ filter: /^@aws-sdk\/client-[a-z0-9-]+$/ }, (args) => {
              if (args.kind !== 'import-statement' || !args.importer.startsWith(packagesDir)) return undefined;
              // The copy this source would load (a package may have its own nested version).
              if (!clients.has(args.path)) clients.set(args.path, createRequire(join(args.resolveDir, 'index.js')).resolve(args.path));
              return { path: args.path, namespace: 'synkti-lazy-client', pluginData: args.resolveDir };
            });
            // Native packages: a default import that loads the package on first use (a worker
            // on EC2 never opens the local cloud's SQLite registry: ~10 MB of RSS it never pays).
            build.onResolve({ filter: new RegExp(`^(${AGENT_NATIVE_PACKAGES.join('|')})$`) }, (args) => {
              if (args.kind !== 'import-statement' || !args.importer.startsWith(packagesDir)) return undefined;
              return { path: args.path, namespace: 'synkti-lazy-native' };
            });
            build.onLoad({ filter: /.*/, namespace: 'synkti-lazy-native' }, (args) => ({
              contents: lazyDefault(args.path),
              resolveDir: repoRoot,
              loader: 'js',
            }));
            build.onResolve({ filter: new RegExp(`^\\./${AWS_SDK_FILE.replace('.', '\\.')}$`) }, () => ({
              path: `./${AWS_SDK_FILE}`,
              external: true,
            }));
            build.onLoad({ filter: /.*/, namespace: 'synkti-lazy-client' }, (args) => ({
              contents: lazyClient(args.path, args.pluginData as string),
              resolveDir: args.pluginData as string,
              loader: 'js',
            }));
            build.onLoad({ filter: /\.ts$/ }, (args) => {
              if (!args.path.startsWith(packagesDir)) return undefined;
              const text = readFileSync(args.path, 'utf8');
              if (!text.includes(META_URL) || text.includes(RELEASE_MARKER)) return undefined;
              return { contents: text.replaceAll(META_URL, urlOf(args.path)), loader: 'ts' };
            });
          },
        },
      ],
    });
    if (clients.size > 0) {
      sdk = await esbuild.build({
        ...common,
        stdin: { contents: awsSdkEntry(clients), resolveDir: repoRoot, sourcefile: 'aws-sdk-clients.js', loader: 'js' },
        outfile: join(lib, AWS_SDK_FILE),
        bundle: true,
        format: 'cjs',
      });
    }
  } catch (error) {
    throw new SynktiError('E_PACK', `esbuild could not compile the agent: ${(error as Error).message.split('\n')[0]}`, {
      hint: 'run `npx tsc --noEmit -p tsconfig.json` in the checkout to see the error in the sources',
    });
  }
  // Map sources as if the checkout were unpacked beside lib/ (../packages/agent/src/main.ts):
  // stack traces read the same from any checkout, and the release stays reproducible.
  const outputs = { ...result.metafile?.outputs, ...sdk?.metafile?.outputs };
  for (const file of Object.keys(outputs).filter((f) => f.endsWith('.map'))) {
    const path = isAbsolute(file) ? file : join(repoRoot, file);
    const map = JSON.parse(readFileSync(path, 'utf8')) as { sources: string[] };
    map.sources = map.sources.map((source) =>
      relative(lib, join(outDir, relative(repoRoot, resolve(lib, source))))
        .split(sep)
        .join('/'),
    );
    writeFileSync(path, JSON.stringify(map));
  }
  writeFileSync(join(lib, 'preload.mjs'), PRELOAD);
  const files = Object.keys(outputs)
    .map((file) =>
      relative(outDir, isAbsolute(file) ? file : join(repoRoot, file))
        .split(sep)
        .join('/'),
    )
    .concat('lib/preload.mjs')
    .sort();
  const jsBytes = Object.entries(outputs)
    .filter(([file]) => !file.endsWith('.map'))
    .reduce((sum, [, out]) => sum + out.bytes, 0);
  const inputs = [...Object.keys(result.metafile?.inputs ?? {}), ...Object.keys(sdk?.metafile?.inputs ?? {})]
    .filter((input) => !input.includes(':') && input !== 'aws-sdk-clients.js')
    .map((input) => resolve(repoRoot, input));
  return { files, jsBytes, inputs: [...new Set(inputs)].sort() };
}

/**
 * Bumped when this file changes what a build writes, so a cached build from before is not reused.
 * (The sources and packages a build reads are checked file by file.)
 */
const CACHE_FORMAT = 4;
/** A cached build a newer one replaced is removed this long after (a pack may still be copying it). */
const STALE_BUILD_MS = 10 * 60_000;

interface CacheManifest {
  format: number;
  repoRoot: string;
  dir: string;
  /** [path, size, mtimeMs] of every input. */
  inputs: [string, number, number][];
}

function fingerprint(file: string): [string, number, number] {
  try {
    const stat = statSync(file);
    return [file, stat.size, stat.mtimeMs];
  } catch {
    return [file, -1, -1];
  }
}

/**
 * Copies lib/ of a build into `outDir`, building only when a source or package it was built
 * from changed since the cached build (by size and mtime): packs in one test run, or
 * repeated `synkti worker pack`, compile once.
 */
export async function copyAgentBundle(options: BuildAgentBundleOptions & { cacheDir: string }): Promise<void> {
  const repoRoot = resolve(options.repoRoot);
  const cacheDir = resolve(options.cacheDir);
  const current = join(cacheDir, 'current.json');
  let dir: string | undefined;
  try {
    const manifest = JSON.parse(readFileSync(current, 'utf8')) as CacheManifest;
    const fresh =
      manifest.format === CACHE_FORMAT &&
      manifest.repoRoot === repoRoot &&
      manifest.inputs.every(([file, size, mtime]) => {
        const [, s, m] = fingerprint(file);
        return s === size && m === mtime;
      });
    if (fresh && existsSync(join(cacheDir, manifest.dir, 'lib'))) dir = join(cacheDir, manifest.dir);
  } catch {
    // No cache, or an unreadable one: build.
  }
  if (dir === undefined) {
    mkdirSync(cacheDir, { recursive: true });
    dir = mkdtempSync(join(cacheDir, 'build-'));
    const bundle = await buildAgentBundle({ repoRoot, outDir: dir, logLevel: options.logLevel });
    const manifest: CacheManifest = {
      format: CACHE_FORMAT,
      repoRoot,
      dir: relative(cacheDir, dir),
      inputs: bundle.inputs.map(fingerprint),
    };
    const partial = `${current}.${process.pid}.partial`;
    writeFileSync(partial, JSON.stringify(manifest));
    renameSync(partial, current);
    for (const entry of readdirSync(cacheDir)) {
      const path = join(cacheDir, entry);
      if (entry.startsWith('build-') && path !== dir && Date.now() - statSync(path).mtimeMs > STALE_BUILD_MS)
        rmSync(path, { recursive: true, force: true });
    }
  }
  cpSync(join(dir, 'lib'), join(resolve(options.outDir), 'lib'), { recursive: true });
}
