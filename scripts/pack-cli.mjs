#!/usr/bin/env node
/**
 * Packs the `synkti` CLI into one tarball that installs with `npm install -g <tarball>`.
 *
 *   node scripts/pack-cli.mjs [--out DIR]     prints the tarball's path
 *
 * The tarball carries every @synkti package as TypeScript sources (the agent and the
 * stand-in run from them through tsx, as in the repository) and the CLI compiled to
 * JavaScript (packages/cli/bin/cli-bundle.mjs) in packages/cli/dist/: a command starts
 * without tsx, each loading only its own chunks.
 * Pulumi packages are optional peers: only `synkti infra` needs them, and it says how to
 * install them when they are missing.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCliBundle } from '../packages/cli/bin/cli-bundle.mjs';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outDir = resolve(outIndex >= 0 && args[outIndex + 1] ? args[outIndex + 1] : join(ROOT, 'build'));

/** Optional peers: big, and only `synkti infra` uses them. */
const OPTIONAL_PEERS = /^@pulumi\//;

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const packages = readdirSync(join(ROOT, 'packages'))
  .filter((p) => p !== 'cli')
  .sort();

const stage = mkdtempSync(join(tmpdir(), 'synkti-pack-'));
try {
  // The repository's layout (packages/<name>/...), so the paths modules compute from
  // import.meta.url (the agent's entry, the stand-in server, data files) hold; tests left out.
  const manifests = new Map();
  for (const name of ['cli', ...packages]) manifests.set(name, readJson(join(ROOT, 'packages', name, 'package.json')));
  const dependencies = {};
  const peers = {};
  for (const manifest of manifests.values()) {
    for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
      if (dep.startsWith('@synkti/')) continue;
      (OPTIONAL_PEERS.test(dep) ? peers : dependencies)[dep] = range;
    }
  }
  // '@synkti/<name>[/sub]' → a relative path to that package's exported source file: the
  // packages travel inside this one tarball instead of as npm packages of their own.
  const exportsOf = new Map([...manifests].map(([dir, m]) => [m.name, { dir, exports: m.exports ?? { '.': './src/index.ts' } }]));
  // Only real import/export specifiers (TypeScript's own scanner finds them), never the
  // same text inside a string such as the starter config `synkti init` writes.
  const rewriteImports = (file, text) => {
    const specifiers = ts.preProcessFile(text, true, true).importedFiles.filter((f) => f.fileName.startsWith('@synkti/'));
    let out = text;
    for (const { fileName, pos } of specifiers.sort((a, b) => b.pos - a.pos)) {
      const match = /^(@synkti\/[a-z0-9-]+)(\/[a-z0-9-]+)?$/.exec(fileName);
      const target = match && exportsOf.get(match[1]);
      const exported = target?.exports[match?.[2] ? `.${match[2]}` : '.'];
      if (!target || typeof exported !== 'string') throw new Error(`${file}: cannot map ${fileName} to a source file`);
      let rel = relative(dirname(file), join(stage, 'packages', target.dir, exported));
      if (!rel.startsWith('.')) rel = `./${rel}`;
      const start = pos + 1; // pos is the opening quote
      out = out.slice(0, start) + rel + out.slice(start + fileName.length);
    }
    return out;
  };
  const copyPackage = (name) => {
    const from = join(ROOT, 'packages', name);
    const to = join(stage, 'packages', name);
    cpSync(from, to, {
      recursive: true,
      filter: (src) => !src.includes('/node_modules') && !src.endsWith('.test.ts') && !src.endsWith('.tsbuildinfo'),
    });
  };
  for (const name of manifests.keys()) copyPackage(name);
  const rewriteTree = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) rewriteTree(path);
      else if (/\.(ts|mts|mjs)$/.test(entry.name)) writeFileSync(path, rewriteImports(path, readFileSync(path, 'utf8')));
    }
  };
  rewriteTree(join(stage, 'packages'));

  // The CLI compiled to JavaScript (dist/cli.mjs and its chunks): no tsx and no
  // TypeScript transform when a command runs; npm packages stay imports of the installed ones.
  await buildCliBundle({ sourceRoot: stage, outDir: join(stage, 'packages/cli/dist'), nodePaths: [join(ROOT, 'node_modules')] });

  const cliPackage = manifests.get('cli');
  const manifest = {
    name: 'synkti',
    version: cliPackage.version,
    description: 'Run compute fleets on spot capacity with no control plane',
    type: 'module',
    license: 'UNLICENSED',
    engines: { node: '>=20.11' },
    bin: { synkti: './packages/cli/bin/synkti.mjs' },
    files: ['packages', 'README.md'],
    dependencies,
    peerDependencies: peers,
    peerDependenciesMeta: Object.fromEntries(Object.keys(peers).map((name) => [name, { optional: true }])),
  };
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  cpSync(join(ROOT, 'README.md'), join(stage, 'README.md'));

  mkdirSync(outDir, { recursive: true });
  const output = execFileSync('npm', ['pack', '--silent', '--pack-destination', outDir], { cwd: stage, encoding: 'utf8' });
  const tarball = join(outDir, output.trim().split('\n').pop());
  console.log(tarball);
} finally {
  rmSync(stage, { recursive: true, force: true });
}
