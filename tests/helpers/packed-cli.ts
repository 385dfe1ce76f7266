import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './cli.ts';

const run = promisify(execFile);

/**
 * The CLI as a user installs it: packed into one tarball (scripts/pack-cli.mjs), installed
 * with `npm install -g` into a fresh prefix under `work`. Returns the installed `synkti`.
 * Packing costs 10-30 s: call it once per test file.
 */
export async function installPackedCli(work: string): Promise<{ synkti: string; prefix: string }> {
  const packed = await run(process.execPath, [join(REPO_ROOT, 'scripts/pack-cli.mjs'), '--out', work], { cwd: REPO_ROOT });
  const tarball = packed.stdout.trim();
  const prefix = join(work, 'global');
  // Dependencies come from npm's cache, filled by the repository's own `npm install`.
  await run('npm', ['install', '-g', '--prefix', prefix, tarball, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel', 'error'], {
    cwd: work,
    timeout: 240_000,
  });
  return { synkti: join(prefix, 'bin', 'synkti'), prefix };
}
