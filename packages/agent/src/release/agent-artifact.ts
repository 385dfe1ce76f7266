/**
 * Packs the agent release a worker installs: `synkti-agent-<version>.tgz`, one top-level
 * directory holding
 *   bin/synkti-agent.mjs     the entry synkti.service runs
 *   lib/                     the agent compiled to JavaScript (agent-bundle.ts), source maps beside
 *   packages/dashboard/dist/ data files the compiled code reads (a workspace package's "files" other than src)
 *   node_modules/            only the native packages (libsql) and their dependencies, for the target platform
 * No tsx and no TypeScript at run time. The native parts are npm's prebuilt per-platform
 * packages for `platform` (linux-x64 or linux-arm64): this machine's installed copies when
 * it is the target, otherwise fetched with `npm install --os --cpu` into a cache, so a
 * release can be packed on any machine.
 *
 * The tarball is reproducible (sorted names, fixed owner and times, gzip without a
 * timestamp): the same tree gives the same SHA-256.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  cpSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { SynktiError } from '@synkti/core';
import { agentArtifactKey, checkVersion } from '@synkti/cloud';
import { AGENT_NATIVE_PACKAGES, copyAgentBundle } from './agent-bundle.ts';

/** The platforms workers run (EC2 Linux on x86-64 or Graviton). */
export const AGENT_PLATFORMS = ['linux-x64', 'linux-arm64'] as const;
export type AgentPlatform = (typeof AGENT_PLATFORMS)[number];

export interface PackAgentArtifactOptions {
  /**
   * Directory the tarball is written to.
   * @default process.cwd()
   */
  outDir?: string | undefined;
  /**
   * Release version (in the file name and the bucket key).
   * @default this package's version (`synkti worker pack` passes the CLI's)
   */
  version?: string | undefined;
  /**
   * The checkout holding packages/ and node_modules/.
   * @default the checkout this code runs from
   */
  repoRoot?: string | undefined;
  /**
   * The OS and CPU the release's native packages are for.
   * @default this machine's, when it is one of AGENT_PLATFORMS
   */
  platform?: string | undefined;
  /**
   * Where native packages fetched for another platform are kept between packs.
   * @default <repoRoot>/node_modules/.cache/synkti-agent-native
   */
  nativeCacheDir?: string | undefined;
  /**
   * Where the compiled agent is kept between packs (rebuilt when a source it was built from changes).
   * @default <repoRoot>/node_modules/.cache/synkti-agent-bundle
   */
  bundleCacheDir?: string | undefined;
}

export interface AgentArtifact {
  /** Absolute path of the tarball. */
  file: string;
  /** Where it goes in the cluster bucket: artifacts/synkti-agent-<version>.tgz. */
  key: string;
  version: string;
  sha256: string;
  bytes: number;
  /** npm packages inside (the native ones and their dependencies). */
  packages: number;
  /** The OS and CPU its native packages are built for, e.g. linux-x64. */
  platform: AgentPlatform;
}

const DEFAULT_REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** @synkti/agent's version: the release's default version. */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}
/** A cross-platform fetch (npm install of one package and its few dependencies) gets this long. */
const FETCH_TIMEOUT_MS = 180_000;

const ENTRY = `#!/usr/bin/env node
// The synkti agent, as synkti.service runs it: compiled JavaScript (lib/). Stack traces
// name the TypeScript lines through the source maps beside it when SYNKTI_SOURCE_MAPS=1
// or SYNKTI_DEBUG is set (or node runs with --enable-source-maps): not by default, as
// parsing the maps holds ~65 MB for the life of the process.
if (process.env.SYNKTI_SOURCE_MAPS === '1' || process.env.SYNKTI_DEBUG) process.setSourceMapsEnabled(true);
// The young generation capped at 1 MB per semi-space (V8 grows it to 16 MB): the agent
// allocates little at rest, and the cap keeps ~8 MB of the node's memory for the model.
// A --max-semi-space-size of the operator's (NODE_OPTIONS) wins.
if (!\`\${process.execArgv.join(' ')} \${process.env.NODE_OPTIONS ?? ''}\`.includes('--max-semi-space-size')) {
  const { setFlagsFromString } = await import('node:v8');
  setFlagsFromString('--max-semi-space-size=1');
}
await import('../lib/agent.mjs');
`;

interface PackageJson {
  name?: string;
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  /** npm's platform fields: a prebuilt package names the one it is for. */
  os?: string[];
  cpu?: string[];
  /** Top-level files and directories the package publishes (npm's "files"). */
  files?: string[];
}

function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** Node's lookup: `<dir>/node_modules/<name>`, then each parent directory's, up to `top`. */
function findPackage(name: string, fromDir: string, top: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    const parent = dirname(dir);
    if (dir === top || parent === dir) return undefined;
    dir = parent;
  }
}

/** The platform a pack targets: the option, checked, or this machine's. */
export function agentPlatform(platform: string | undefined): AgentPlatform {
  const wanted = platform ?? `${process.platform}-${process.arch}`;
  if ((AGENT_PLATFORMS as readonly string[]).includes(wanted)) return wanted as AgentPlatform;
  throw new SynktiError(
    'E_USAGE',
    platform === undefined
      ? `the agent release needs a target platform, and this machine (${wanted}) is not one workers run`
      : `--platform ${platform} is not a platform workers run`,
    {
      hint: `pass --platform ${AGENT_PLATFORMS.join(' or --platform ')}`,
    },
  );
}

/** Whether a package's npm "os"/"cpu" fields admit the platform (absent: any). */
function runsOn(pkg: PackageJson, platform: AgentPlatform): boolean {
  const [os, cpu] = platform.split('-') as [string, string];
  const admits = (list: string[] | undefined, value: string): boolean => {
    if (list === undefined || list.length === 0) return true;
    if (list.includes(`!${value}`)) return false;
    return list.some((entry) => !entry.startsWith('!')) ? list.includes(value) : true;
  };
  return admits(pkg.os, os) && admits(pkg.cpu, cpu);
}

function run(
  command: string,
  args: string[],
  options: { stdout?: NodeJS.WritableStream; cwd?: string; timeoutMs?: number; what: string; hint: string },
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', options.stdout ? 'pipe' : 'ignore', 'pipe'] });
    let stderr = '';
    // Bounded: an error report, not a transcript.
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 16_384) stderr += d.toString();
    });
    if (options.stdout) child.stdout?.pipe(options.stdout);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new SynktiError('E_PACK', `${options.what}: ${error.message}`, { hint: options.hint }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise();
      else
        reject(
          new SynktiError(
            'E_PACK',
            `${options.what} failed (${signal ? `killed by ${signal}` : `exit ${code}`}): ${stderr.trim().slice(-2000)}`,
            { hint: options.hint },
          ),
        );
    });
  });
}

/**
 * A directory whose node_modules holds `name@version` and its dependencies installed for
 * `platform` by npm (`--os`/`--cpu`), kept in the cache: fetched once per version.
 */
async function fetchForPlatform(name: string, version: string, platform: AgentPlatform, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, `${platform}`, `${name.replace('/', '+')}@${version}`);
  if (existsSync(join(dir, 'node_modules', name, 'package.json'))) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  const partial = mkdtempSync(`${dir}.partial-`);
  try {
    const [os, cpu] = platform.split('-') as [string, string];
    writeFileSync(join(partial, 'package.json'), '{"private":true}\n');
    await run(
      'npm',
      [
        'install',
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '--ignore-scripts',
        '--os',
        os,
        '--cpu',
        cpu,
        `${name}@${version}`,
      ],
      {
        cwd: partial,
        timeoutMs: FETCH_TIMEOUT_MS,
        what: `npm install ${name}@${version} for ${platform}`,
        hint: 'the npm registry must be reachable to pack for another platform (or pack on a machine of that platform)',
      },
    );
    try {
      renameSync(partial, dir);
    } catch (error) {
      // Another pack finished the same fetch first: theirs is as good.
      if (!existsSync(join(dir, 'node_modules', name, 'package.json'))) throw error;
    }
    return dir;
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
}

/**
 * Copies `name` and its dependency closure from `sourceRoot`'s node_modules into the tree's,
 * each at the same relative place (so Node finds each copy as it did there). Optional
 * dependencies ship only when installed and built for `platform`. Returns the packages copied.
 */
function copyClosure(name: string, fromDir: string, sourceRoot: string, tree: string, platform: AgentPlatform): PackageJson[] {
  const copied = new Map<string, PackageJson>();
  const queue: { name: string; from: string; optional: boolean }[] = [{ name, from: fromDir, optional: false }];
  while (queue.length > 0) {
    const next = queue.shift()!;
    const dir = findPackage(next.name, next.from, sourceRoot);
    if (dir === undefined) {
      if (next.optional) continue;
      throw new SynktiError(
        'E_PACK',
        `cannot find the package ${next.name} (needed by ${relative(sourceRoot, next.from) || 'the agent'})`,
        { hint: 'run `npm ci` in the checkout first' },
      );
    }
    if (copied.has(dir)) continue;
    const rel = relative(sourceRoot, dir);
    if (rel.startsWith('..') || !rel.split(sep).includes('node_modules')) {
      throw new SynktiError('E_PACK', `${next.name} is not installed under ${sourceRoot}/node_modules (found at ${dir})`, {
        hint: 'install dependencies inside the checkout (npm ci)',
      });
    }
    const pkg = readPackageJson(dir);
    if (!runsOn(pkg, platform)) {
      if (next.optional) continue;
      throw new SynktiError('E_PACK', `${next.name} is built for ${pkg.os?.join('/')}-${pkg.cpu?.join('/')}, not ${platform}`, {
        hint: `pack with --platform matching the workers, or reinstall for ${platform}`,
      });
    }
    copied.set(dir, pkg);
    // Run-time files only: nested node_modules are walked on their own, type declarations are of no use on a worker.
    cpSync(dir, join(tree, rel), {
      recursive: true,
      filter: (source) => !relative(dir, source).split(sep).includes('node_modules') && !source.endsWith('.d.ts'),
    });
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
    for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
  }
  return [...copied.values()];
}

/** A workspace package's published data files (its "files" other than src/), e.g. the dashboard's prebuilt dist/. */
function copyWorkspaceData(repoRoot: string, tree: string): void {
  const packagesDir = join(repoRoot, 'packages');
  for (const name of readdirSync(packagesDir).sort()) {
    const dir = join(packagesDir, name);
    if (!existsSync(join(dir, 'package.json'))) continue;
    for (const entry of readPackageJson(dir).files ?? []) {
      const top = entry.replace(/^\.\//, '').replace(/\/+$/, '');
      if (top === 'src' || top === '' || top.includes('..') || !existsSync(join(dir, top))) continue;
      cpSync(join(dir, top), join(tree, 'packages', name, top), { recursive: true });
    }
  }
}

/** Builds the artifact; returns where it is and its SHA-256 (what `worker user-data --sha256` wants). */
export async function packAgentArtifact(options: PackAgentArtifactOptions = {}): Promise<AgentArtifact> {
  const platform = agentPlatform(options.platform);
  const version = checkVersion(options.version ?? packageVersion());
  const repoRoot = resolve(options.repoRoot ?? DEFAULT_REPO_ROOT);
  const outDir = resolve(options.outDir ?? process.cwd());
  const cacheDir = resolve(options.nativeCacheDir ?? join(repoRoot, 'node_modules/.cache/synkti-agent-native'));
  const bundleCacheDir = resolve(options.bundleCacheDir ?? join(repoRoot, 'node_modules/.cache/synkti-agent-bundle'));
  const host = `${process.platform}-${process.arch}`;
  const top = `synkti-agent-${version}`;
  const staging = mkdtempSync(join(tmpdir(), 'synkti-pack-'));
  try {
    const tree = join(staging, top);
    mkdirSync(join(tree, 'bin'), { recursive: true });
    await copyAgentBundle({ repoRoot, outDir: tree, cacheDir: bundleCacheDir });
    copyWorkspaceData(repoRoot, tree);

    const packages: PackageJson[] = [];
    for (const name of AGENT_NATIVE_PACKAGES) {
      // The version the checkout's agent was built and tested against.
      const installed = findPackage(name, join(repoRoot, 'packages', 'cloud'), repoRoot);
      if (installed === undefined)
        throw new SynktiError('E_PACK', `cannot find the package ${name} (needed by packages/cloud)`, {
          hint: 'run `npm ci` in the checkout first',
        });
      const installedVersion = readPackageJson(installed).version ?? '';
      const sourceRoot = platform === host ? repoRoot : await fetchForPlatform(name, installedVersion, platform, cacheDir);
      const closure = copyClosure(name, sourceRoot, sourceRoot, tree, platform);
      // A native package with no prebuilt part for the target would fail on the worker, not here.
      const native = closure.filter((pkg) => pkg.cpu !== undefined);
      if (native.length === 0) {
        throw new SynktiError('E_PACK', `no prebuilt ${name} for ${platform} was found (${name}@${installedVersion})`, {
          hint:
            platform === host
              ? 'run `npm ci` so npm installs the optional per-platform packages'
              : `check that ${name}@${installedVersion} publishes a ${platform} package`,
        });
      }
      packages.push(...closure);
    }
    writeFileSync(join(tree, 'bin', 'synkti-agent.mjs'), ENTRY, { mode: 0o755 });
    writeFileSync(
      join(tree, 'package.json'),
      `${JSON.stringify({ name: 'synkti-agent', version, private: true, type: 'module', synktiPlatform: platform }, null, 2)}\n`,
    );

    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, basename(agentArtifactKey(version)));
    const partial = `${file}.partial`;
    const hash = createHash('sha256');
    const gzip = createGzip({ level: 6 });
    const out = createWriteStream(partial);
    gzip.on('data', (chunk: Buffer) => hash.update(chunk));
    const written = new Promise<void>((resolveWrite, reject) => {
      out.on('finish', () => resolveWrite());
      out.on('error', reject);
      gzip.on('error', reject);
    });
    gzip.pipe(out);
    await run(
      'tar',
      ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--mode=u+rw,go+r,go-w', '-cf', '-', '-C', staging, top],
      {
        stdout: gzip,
        what: 'tar',
        hint: 'GNU tar is needed to pack the agent',
      },
    );
    await written;
    // Renamed into place only when complete: an interrupted pack leaves no plausible artifact.
    renameSync(partial, file);
    return {
      file,
      key: agentArtifactKey(version),
      version,
      sha256: hash.digest('hex'),
      bytes: statSync(file).size,
      packages: packages.length,
      platform,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
