/**
 * Packs the agent release a worker installs: `synkti-agent-<version>.tgz`, one top-level
 * directory holding `bin/synkti-agent.mjs` (the entry synkti.service runs), the agent's
 * workspace packages (sources, no tests) and the installed dependencies they need, found
 * by walking package.json dependencies with Node's node_modules lookup. Synkti runs
 * TypeScript through tsx, so tsx ships too. Native modules (esbuild, libsql) are the
 * ones installed here, so pack on the workers' OS and CPU (Linux x64 or arm64).
 *
 * The tarball is reproducible (sorted names, fixed owner and times, gzip without a
 * timestamp): the same tree gives the same SHA-256.
 */
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { SynktiError } from '@synkti/core';
import { agentArtifactKey, checkVersion } from '@synkti/cloud';
import { cliVersion } from './worker-settings.ts';

export interface PackAgentArtifactOptions {
  /**
   * Directory the tarball is written to.
   * @default process.cwd()
   */
  outDir?: string | undefined;
  /**
   * Release version (in the file name and the bucket key).
   * @default this CLI's version
   */
  version?: string | undefined;
  /**
   * The checkout holding packages/ and node_modules/.
   * @default the checkout this CLI runs from
   */
  repoRoot?: string | undefined;
}

export interface AgentArtifact {
  /** Absolute path of the tarball. */
  file: string;
  /** Where it goes in the cluster bucket: artifacts/synkti-agent-<version>.tgz. */
  key: string;
  version: string;
  sha256: string;
  bytes: number;
  /** Packages inside (workspace and third-party). */
  packages: number;
  /** The OS and CPU its native modules are built for, e.g. linux-x64. */
  platform: string;
}

const DEFAULT_REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The packages the entry needs directly; the rest follows from their package.json. */
const ROOTS = ['@synkti/agent', 'tsx'];

const ENTRY = `#!/usr/bin/env node
// The synkti agent, as synkti.service runs it: tsx's loader first (Synkti ships
// TypeScript sources), then the agent's entry point.
import 'tsx';

await import('../node_modules/@synkti/agent/src/main.ts');
`;

interface PackageJson {
  name?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  /** Top-level files and directories the package publishes (npm's "files"). */
  files?: string[];
}

function readPackageJson(dir: string): PackageJson {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
}

/** Node's lookup: `<dir>/node_modules/<name>`, then each parent directory's. */
function findPackage(name: string, fromDir: string): string | undefined {
  let dir = fromDir;
  for (;;) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Sources only: no tests, no test fixtures, no nested node_modules (walked separately). */
/**
 * Copies one package into the tree. A workspace package ships its package.json and the
 * top-level entries its "files" field names (default: src/), without tests or test
 * fixtures: the dashboard's prebuilt dist/ must reach the workers, its sources' tests not.
 */
function copyPackage(from: string, to: string, workspace: boolean, files: readonly string[] | undefined): void {
  const shipped = new Set((files ?? ['src']).map((f) => f.replace(/^\.\//, '').replace(/\/+$/, '')));
  cpSync(from, to, {
    recursive: true,
    filter: (source) => {
      const rel = relative(from, source);
      if (rel === '') return true;
      const parts = rel.split(sep);
      if (parts[0] === 'node_modules') return false;
      if (!workspace) return true;
      if (rel === 'package.json') return true;
      return shipped.has(parts[0] ?? '') && !source.endsWith('.test.ts') && !parts.includes('testing');
    },
  });
}

function run(command: string, args: string[], stdout: NodeJS.WritableStream | 'ignore'): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', stdout === 'ignore' ? 'ignore' : 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    if (stdout !== 'ignore') child.stdout?.pipe(stdout);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else reject(new SynktiError('E_PACK', `${command} failed (exit ${code}): ${stderr.trim()}`, { hint: 'GNU tar is needed to pack the agent' }));
    });
  });
}

/** Builds the artifact; returns where it is and its SHA-256 (what `worker user-data --sha256` wants). */
export async function packAgentArtifact(options: PackAgentArtifactOptions = {}): Promise<AgentArtifact> {
  if (process.platform !== 'linux') {
    throw new SynktiError('E_USAGE', `the agent artifact carries native modules for the machine that packs it, and this one is ${process.platform}`, {
      hint: 'pack on Linux with the workers\' CPU (x64 or arm64), e.g. in CI or a container',
    });
  }
  const version = checkVersion(options.version ?? cliVersion());
  const repoRoot = resolve(options.repoRoot ?? DEFAULT_REPO_ROOT);
  const outDir = resolve(options.outDir ?? process.cwd());
  const top = `synkti-agent-${version}`;
  const staging = mkdtempSync(join(tmpdir(), 'synkti-pack-'));
  try {
    const tree = join(staging, top);
    mkdirSync(join(tree, 'bin'), { recursive: true });
    const copied = new Set<string>();
    const queue: { name: string; from: string; optional: boolean }[] = ROOTS.map((name) => ({ name, from: repoRoot, optional: false }));
    while (queue.length > 0) {
      const { name, from, optional } = queue.shift()!;
      const dir = findPackage(name, from);
      if (dir === undefined) {
        if (optional) continue;
        throw new SynktiError('E_PACK', `cannot find the package ${name} (needed by ${relative(repoRoot, from) || 'the agent'})`, { hint: 'run `npm ci` in the checkout first' });
      }
      if (copied.has(dir)) continue;
      copied.add(dir);
      const workspace = !dir.split(sep).includes('node_modules');
      // Workspace packages go where Node finds them by name; the rest keep their place.
      const dest = workspace ? join(tree, 'node_modules', name) : join(tree, relative(repoRoot, dir));
      if (!workspace && relative(repoRoot, dir).startsWith('..')) {
        throw new SynktiError('E_PACK', `${name} is installed outside the checkout (${dir})`, { hint: 'install dependencies inside the checkout (npm ci)' });
      }
      const pkg = readPackageJson(dir);
      copyPackage(dir, dest, workspace, pkg.files);
      for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push({ name: dep, from: dir, optional: false });
      // Optional and peer dependencies ship when installed (e.g. esbuild's binary for this platform).
      for (const dep of Object.keys(pkg.optionalDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
      for (const dep of Object.keys(pkg.peerDependencies ?? {})) queue.push({ name: dep, from: dir, optional: true });
    }
    writeFileSync(join(tree, 'bin', 'synkti-agent.mjs'), ENTRY, { mode: 0o755 });
    writeFileSync(join(tree, 'package.json'), `${JSON.stringify({ name: 'synkti-agent', version, private: true, type: 'module' }, null, 2)}\n`);

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
    await run('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--mode=u+rw,go+r,go-w', '-cf', '-', '-C', staging, top], gzip);
    await written;
    // Renamed into place only when complete: an interrupted pack leaves no plausible artifact.
    renameSync(partial, file);
    return {
      file,
      key: agentArtifactKey(version),
      version,
      sha256: hash.digest('hex'),
      bytes: statSync(file).size,
      packages: copied.size,
      platform: `${process.platform}-${process.arch}`,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
