import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProcessAlive } from '@synkti/cloud';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_MAIN = join(REPO_ROOT, 'packages/cli/bin/synkti.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunCliOptions {
  cwd: string;
  /** Added to this process's environment; a variable set to undefined is removed. */
  env?: Record<string, string | undefined>;
  /** @default 60000 */
  timeoutMs?: number;
  /**
   * The executable to run, e.g. an installed `synkti` binary.
   * @default this repository's CLI under this process's node
   */
  command?: string;
}

/** Runs the real `synkti` CLI in a child process. */
export function runCli(args: string[], options: RunCliOptions): Promise<CliResult> {
  const started = Date.now();
  const env: NodeJS.ProcessEnv = { ...process.env, SYNKTI_LOG_LEVEL: 'info', ...options.env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  const [file, argv] = options.command === undefined ? [process.execPath, [CLI_MAIN, ...args]] : [options.command, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`synkti ${args.join(' ')} did not finish in ${options.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`),
      );
    }, options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A temp project directory with a synkti.config.ts (plain object: no imports needed). */
export function makeProject(config: Record<string, unknown>): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'synkti-e2e-'));
  writeFileSync(join(dir, 'synkti.config.ts'), `export default ${JSON.stringify(config, null, 2)};\n`);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** True while the process runs (a zombie, exited and waiting to be reaped, counts as gone): the local cloud's check. */
export function processAlive(pid: number): boolean {
  return isProcessAlive(pid);
}
