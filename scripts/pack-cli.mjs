#!/usr/bin/env node
/**
 * Packs the `synkti` CLI into one tarball that installs with `npm install -g <tarball>`.
 *
 *   node scripts/pack-cli.mjs [--out DIR]     prints the tarball's path
 *
 * The tarball carries the CLI and every @synkti package as TypeScript sources (bundled
 * dependencies; they run through tsx, as in the repository) plus one prebuilt JavaScript
 * entry, dist/cli.mjs, holding only what `synkti --help` needs (the command table,
 * commander, option parsers), so help starts without loading tsx or any cloud SDK.
 * Pulumi packages are optional peers: only `synkti infra` needs them, and it says how to
 * install them when they are missing.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'packages/cli');
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outDir = resolve(outIndex >= 0 && args[outIndex + 1] ? args[outIndex + 1] : join(ROOT, 'build'));

/** Files bundled into dist/cli.mjs: small, no heavy imports. Everything else stays a source file. */
const LIGHT = new Set([
  'packages/cli/src/cli.ts',
  'packages/cli/src/program.ts',
  'packages/cli/src/ts-loader.ts',
  'packages/cli/src/exit-codes.ts',
  'packages/cli/src/option-parsers.ts',
  'packages/cli/src/worker/launch-options.ts',
  'packages/cli/src/commands/lazy-groups.ts',
  'packages/cli/src/commands/completion.ts',
  'packages/core/src/errors.ts',
  'packages/core/src/duration.ts',
  'packages/cloud/src/providers/local/chaos-rate.ts',
].map((f) => join(ROOT, f)));
const LIGHT_PACKAGES = new Set(['commander', '@synkti/core/errors', '@synkti/core/duration', '@synkti/cloud/chaos-rate']);
/** Optional peers: big, and only `synkti infra` uses them. */
const OPTIONAL_PEERS = /^@pulumi\//;

const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const packages = readdirSync(join(ROOT, 'packages')).filter((p) => p !== 'cli').sort();

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

  // The fast entry.
  await build({
    entryPoints: [join(CLI, 'src/cli.ts')],
    outfile: join(stage, 'packages/cli/dist/cli.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    // commander is CommonJS: give its require() of node built-ins a real require.
    banner: { js: "// Built by scripts/pack-cli.mjs from packages/cli/src/cli.ts: the help path only.\nimport { createRequire as synktiCreateRequire } from 'node:module';\nconst require = synktiCreateRequire(import.meta.url);" },
    plugins: [{
      name: 'keep-sources-external',
      setup(on) {
        on.onResolve({ filter: /.*/ }, (resolveArgs) => {
          if (resolveArgs.kind === 'entry-point') return undefined;
          const spec = resolveArgs.path;
          if (!spec.startsWith('.') && !spec.startsWith('/')) {
            if (LIGHT_PACKAGES.has(spec)) return undefined;
            // Another @synkti package: kept as its staged source file.
            const pkg = /^(@synkti\/[a-z0-9-]+)(\/[a-z0-9-]+)?$/.exec(spec);
            if (pkg) {
              const target = exportsOf.get(pkg[1]);
              const exported = target?.exports[pkg[2] ? `.${pkg[2]}` : '.'];
              if (target && typeof exported === 'string') {
                return { path: relative(join(stage, 'packages/cli/dist'), join(stage, 'packages', target.dir, exported)), external: true };
              }
            }
            return { path: spec, external: true };
          }
          const file = resolve(resolveArgs.resolveDir, spec);
          if (LIGHT.has(file) || file.includes('/node_modules/')) return undefined; // ours, light; or inside a bundled package
          if (!file.startsWith(join(CLI, 'src'))) throw new Error(`${spec} (from ${resolveArgs.importer}) is outside the CLI's sources`);
          const staged = join(stage, 'packages/cli/src', relative(join(CLI, 'src'), file));
          return { path: relative(join(stage, 'packages/cli/dist'), staged), external: true };
        });
      },
    }],
  });

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
