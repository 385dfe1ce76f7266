/**
 * Packing the agent release. On a small fake checkout: the tree (compiled entries, only the
 * native packages of the target platform, the dashboard's data files, no TypeScript), that
 * it runs outside the checkout, reproducibility, failures. On the real checkout: the
 * release starts the agent outside the repository with no tsx, and a release packed for
 * linux-arm64 on this machine holds arm64 native code only (fetched from the npm registry
 * once, then cached in node_modules/.cache/synkti-agent-native).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { runProcess } from '@synkti/core/testing';
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  closeSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { isSynktiError } from '@synkti/core';
import { agentPlatform, packAgentArtifact } from './agent-artifact.ts';

const exec = promisify(execFile);
const ON_LINUX_X64 = process.platform === 'linux' && process.arch === 'x64';

function temp(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function pkg(dir: string, name: string, extra: Record<string, unknown> = {}): void {
  write(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', ...extra }));
}

/**
 * A checkout: the three entry points, a workspace package linked from node_modules, the
 * dashboard's prebuilt dist/, and libsql with one installed prebuilt package per platform.
 */
function fakeCheckout(root: string): void {
  pkg(join(root, 'packages/agent'), '@synkti/agent', { dependencies: { '@synkti/core': '0.1.0' } });
  write(
    join(root, 'packages/agent/src/main.ts'),
    [
      "import { greeting } from '@synkti/core';",
      "import libsql from 'libsql';",
      'const native: string = (libsql as { native: string }).native;',
      'console.log(`${greeting()} ${native}`);',
      '',
    ].join('\n'),
  );
  write(join(root, 'packages/agent/src/stand-in/main.ts'), "console.log('stand-in');\n");
  write(join(root, 'packages/agent/src/main.test.ts'), 'test\n');
  pkg(join(root, 'packages/core'), '@synkti/core', { exports: { '.': './src/index.ts' } });
  write(join(root, 'packages/core/src/index.ts'), "export const greeting = (): string => 'compiled';\n");
  write(join(root, 'packages/cloud/src/providers/local/instance-host-main.ts'), "console.log('host');\n");
  pkg(join(root, 'packages/cloud'), '@synkti/cloud', { dependencies: { libsql: '^0.5' } });
  // A package with prebuilt assets: its "files" other than src ship; its other directories do not.
  pkg(join(root, 'packages/dashboard'), '@synkti/dashboard', { files: ['src', 'dist/'] });
  write(join(root, 'packages/dashboard/dist/index.html'), '<!doctype html>\n');
  write(join(root, 'packages/dashboard/web/main.ts'), 'front-end source\n');
  mkdirSync(join(root, 'node_modules/@synkti'), { recursive: true });
  symlinkSync('../../packages/agent', join(root, 'node_modules/@synkti/agent'));
  symlinkSync('../../packages/core', join(root, 'node_modules/@synkti/core'));
  pkg(join(root, 'node_modules/libsql'), 'libsql', {
    version: '0.5.29',
    main: 'index.js',
    dependencies: { 'detect-libc': '2' },
    optionalDependencies: { '@libsql/linux-x64-gnu': '0.5.29', '@libsql/linux-arm64-gnu': '0.5.29', '@libsql/darwin-arm64': '0.5.29' },
  });
  write(
    join(root, 'node_modules/libsql/index.js'),
    'module.exports = { native: require(`@libsql/${process.platform}-${process.arch}-gnu`) };\n',
  );
  pkg(join(root, 'node_modules/detect-libc'), 'detect-libc');
  pkg(join(root, 'node_modules/@libsql/linux-x64-gnu'), '@libsql/linux-x64-gnu', { os: ['linux'], cpu: ['x64'], main: 'index.js' });
  write(join(root, 'node_modules/@libsql/linux-x64-gnu/index.js'), "module.exports = 'native-x64';\n");
  // Installed, but for another CPU: never shipped in an x64 release.
  pkg(join(root, 'node_modules/@libsql/linux-arm64-gnu'), '@libsql/linux-arm64-gnu', { os: ['linux'], cpu: ['arm64'], main: 'index.js' });
  write(join(root, 'node_modules/@libsql/linux-arm64-gnu/index.js'), "module.exports = 'native-arm64';\n");
  pkg(join(root, 'node_modules/unrelated'), 'unrelated');
}

async function entries(file: string): Promise<string[]> {
  const { stdout } = await exec('tar', ['-tzf', file]);
  return stdout
    .split('\n')
    .filter((l) => l !== '' && !l.endsWith('/'))
    .sort();
}

/** Runs node with only PATH and `env` (what a worker's unit gives it). */
const runNode = (args: string[], cwd: string, env: Record<string, string>) =>
  runProcess(process.execPath, args, { cwd, env: { PATH: '/usr/bin:/bin', ...env } });

async function unpack(file: string, into: string): Promise<string> {
  mkdirSync(into, { recursive: true });
  await exec('tar', ['-xzf', file, '-C', into, '--strip-components=1']);
  return into;
}

/** Every file under `dir`, relative. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    return entry.isDirectory() ? walk(dir, rel) : [rel];
  });
}

/** The ELF machine of a shared object: 0x3e x86-64, 0xb7 AArch64. */
function elfMachine(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const header = Buffer.alloc(20);
    readSync(fd, header, 0, 20, 0);
    assert.equal(header.subarray(0, 4).toString('latin1'), '\x7fELF', `${file} is an ELF object`);
    return header.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

describe('packAgentArtifact', () => {
  it(
    "packs compiled entries, the target platform's native packages only, the dashboard's data files, and no TypeScript; it runs outside the checkout",
    { skip: !ON_LINUX_X64 && 'the fake checkout holds linux-x64 packages' },
    async (t) => {
      const root = temp(t, 'synkti-checkout-');
      fakeCheckout(root);
      const out = temp(t, 'synkti-out-');
      const artifact = await packAgentArtifact({ repoRoot: root, outDir: out, version: '1.2.3', platform: 'linux-x64' });
      assert.equal(artifact.file, join(out, 'synkti-agent-1.2.3.tgz'));
      assert.equal(artifact.key, 'artifacts/synkti-agent-1.2.3.tgz');
      assert.equal(artifact.platform, 'linux-x64');
      assert.equal(artifact.sha256, createHash('sha256').update(readFileSync(artifact.file)).digest('hex'));
      assert.equal(artifact.packages, 3);
      const top = 'synkti-agent-1.2.3/';
      const listed = (await entries(artifact.file)).map((e) => e.slice(top.length));
      const lib = listed.filter((e) => e.startsWith('lib/'));
      for (const name of ['agent', 'stand-in', 'instance-host-main']) {
        assert.ok(lib.includes(`lib/${name}.mjs`) && lib.includes(`lib/${name}.mjs.map`), `lib/${name}.mjs and its source map`);
      }
      assert.ok(lib.includes('lib/preload.mjs'));
      assert.deepEqual(
        listed.filter((e) => !e.startsWith('lib/')),
        [
          'bin/synkti-agent.mjs',
          'node_modules/@libsql/linux-x64-gnu/index.js',
          'node_modules/@libsql/linux-x64-gnu/package.json',
          'node_modules/detect-libc/package.json',
          'node_modules/libsql/index.js',
          'node_modules/libsql/package.json',
          'package.json',
          'packages/dashboard/dist/index.html',
        ],
      );
      assert.deepEqual(
        listed.filter((e) => e.endsWith('.ts')),
        [],
        'no TypeScript in the release',
      );

      // Outside the checkout, with no tsx anywhere: @synkti/core compiled in, libsql's native part from the release.
      const release = await unpack(artifact.file, join(out, 'opt'));
      const ran = await runNode([join(release, 'bin/synkti-agent.mjs')], out, {});
      assert.equal(ran.code, 0, ran.stderr);
      assert.equal(ran.stdout.trim(), 'compiled native-x64');
      const map = JSON.parse(readFileSync(join(release, 'lib/agent.mjs.map'), 'utf8')) as { sources: string[] };
      assert.ok(
        map.sources.includes('../packages/agent/src/main.ts'),
        `maps name the sources as in the checkout: ${map.sources.join(', ')}`,
      );
    },
  );

  it(
    'is reproducible: packing the same checkout twice gives the same SHA-256',
    { skip: !ON_LINUX_X64 && 'the fake checkout holds linux-x64 packages' },
    async (t) => {
      const root = temp(t, 'synkti-checkout-');
      fakeCheckout(root);
      const first = await packAgentArtifact({ repoRoot: root, outDir: temp(t, 'synkti-out-'), version: '1.0.0', platform: 'linux-x64' });
      const second = await packAgentArtifact({ repoRoot: root, outDir: temp(t, 'synkti-out-'), version: '1.0.0', platform: 'linux-x64' });
      assert.equal(first.sha256, second.sha256);
    },
  );

  it(
    'fails, writing nothing, when a required dependency of a native package is not installed',
    { skip: !ON_LINUX_X64 && 'the fake checkout holds linux-x64 packages' },
    async (t) => {
      const root = temp(t, 'synkti-checkout-');
      fakeCheckout(root);
      rmSync(join(root, 'node_modules/detect-libc'), { recursive: true });
      const out = temp(t, 'synkti-out-');
      await assert.rejects(packAgentArtifact({ repoRoot: root, outDir: out, platform: 'linux-x64' }), (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_PACK'));
        assert.match(error.message, /cannot find the package detect-libc \(needed by node_modules\/libsql\)/);
        assert.match(error.hint ?? '', /npm ci/);
        return true;
      });
      assert.deepEqual(readdirSync(out), []);
    },
  );

  it('takes linux-x64 and linux-arm64 only, naming the flag', () => {
    assert.equal(agentPlatform('linux-arm64'), 'linux-arm64');
    assert.throws(
      () => agentPlatform('darwin-arm64'),
      (error: unknown) => {
        assert.ok(isSynktiError(error, 'E_USAGE'));
        assert.match(error.message, /--platform darwin-arm64/);
        assert.match(error.hint ?? '', /--platform linux-x64 or --platform linux-arm64/);
        return true;
      },
    );
  });

  it(
    'the real release starts the agent outside the checkout, with no tsx and no TypeScript',
    { skip: !ON_LINUX_X64 && 'packs for this machine: linux-x64 in CI' },
    async (t) => {
      const out = temp(t, 'synkti-out-');
      const artifact = await packAgentArtifact({ outDir: out, version: '0.0.0-test' });
      assert.ok(artifact.bytes <= 15_000_000, `the release is ${artifact.bytes} bytes compressed (target <= 15 MB)`);
      const release = await unpack(artifact.file, join(out, 'opt'));
      const files = walk(release);
      assert.deepEqual(
        files.filter((f) => f.endsWith('.ts') || f.includes('node_modules/tsx/') || f.includes('node_modules/esbuild/')),
        [],
      );
      // No metadata service: the agent must load its whole module graph, then fail on IMDS with its own message.
      const result = await runNode([join(release, 'bin/synkti-agent.mjs')], out, { SYNKTI_IMDS_ENDPOINT: 'http://127.0.0.1:9' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^synkti-agent: instance metadata at http:\/\/127\.0\.0\.1:9 is unavailable/);
      // The other entries load too: the stand-in as the `stand-in` preset runs it ({tsx} is lib/preload.mjs), the local instance host.
      const standIn = await runNode(['--import', join(release, 'lib/preload.mjs'), join(release, 'lib/stand-in.mjs'), '--help'], out, {});
      assert.equal(standIn.code, 0, standIn.stderr);
      assert.match(standIn.stdout, /^synkti stand-in model server/);
      const host = await runNode([join(release, 'lib/instance-host-main.mjs')], out, {});
      assert.equal(host.code, 2);
      assert.match(host.stderr, /^usage: instance-host-main/);
    },
  );

  it('a release packed with --platform linux-arm64 here holds arm64 native code only', async (t) => {
    const out = temp(t, 'synkti-out-');
    const artifact = await packAgentArtifact({ outDir: out, version: '0.0.0-arm', platform: 'linux-arm64' });
    assert.equal(artifact.platform, 'linux-arm64');
    const release = await unpack(artifact.file, join(out, 'opt'));
    const files = walk(release);
    const natives = files.filter((f) => f.endsWith('.node'));
    assert.ok(natives.length > 0, "the release carries libsql's prebuilt native module");
    for (const file of natives) assert.equal(elfMachine(join(release, file)), 0xb7, `${file} is AArch64 code`);
    for (const manifest of files.filter((f) => f.endsWith('/package.json'))) {
      const { name, cpu } = JSON.parse(readFileSync(join(release, manifest), 'utf8')) as { name?: string; cpu?: string[] };
      if (cpu !== undefined) assert.ok(cpu.includes('arm64'), `${name} runs on arm64 (cpu: ${cpu.join(', ')})`);
      if (name?.startsWith('@libsql/')) assert.deepEqual(cpu, ['arm64'], `${name} is an arm64 prebuilt package`);
    }
    assert.deepEqual(
      files.filter((f) => /x64|x86_64|darwin|win32/.test(f)),
      [],
      "no other platform's package",
    );
  });
});
