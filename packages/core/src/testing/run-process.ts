/**
 * `@synkti/core/testing` runProcess: runs a program (no shell) with exactly the given
 * environment, collects its output, and kills it if it outlives `timeoutMs` — the step
 * the boot-script, release and boot tests all take to run what a machine would run.
 */
import { spawn } from 'node:child_process';

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunProcessOptions {
  /** The whole environment of the process (nothing of the caller's is passed on). */
  env: Record<string, string>;
  cwd?: string;
  /** SIGKILL after this long: a bound on a hang, not a speed check. @default 60000 */
  timeoutMs?: number;
}

export function runProcess(command: string, args: string[], options: RunProcessOptions): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
