/**
 * Child processes of a benchmark: started with a deadline for their ready line, all killed
 * when the benchmark ends, fails, is interrupted (Ctrl-C, SIGTERM) or overruns its time.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createInterface } from 'node:readline';

const children = new Set<ChildProcess>();
const exitTasks: Array<() => void> = [];
let hooked = false;

/** Runs `task` (synchronous) when the process exits, however it exits: temp dirs and the like. */
export function onExit(task: () => void): void {
  hookExit();
  exitTasks.push(task);
}

function killAll(signal: NodeJS.Signals): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Last resort: whatever is still running when this process exits is killed outright.
  process.on('exit', () => {
    killAll('SIGKILL');
    for (const task of exitTasks.splice(0)) {
      try {
        task();
      } catch {
        // best effort at exit
      }
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping benchmark children`);
      void stopAll().finally(() => process.exit(130));
    });
  }
}

/** Starts a child and tracks it so stopAll() and process exit kill it. */
export function startChild(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  hookExit();
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], ...options });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Resolves with the first stdout line parsed as JSON that has `ready: true`. */
export function waitReady<T extends { ready: true }>(child: ChildProcess, what: string, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) {
      reject(new Error(`${what}: no stdout to read the ready line from`));
      return;
    }
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} did not report ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`${what} exited before it was ready (code ${code}, signal ${signal})`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.off('line', onLine);
    };
    const onLine = (line: string): void => {
      try {
        const parsed = JSON.parse(line) as T;
        if (parsed.ready === true) {
          cleanup();
          resolve(parsed);
        }
      } catch {
        // not the ready line
      }
    };
    lines.on('line', onLine);
    child.once('exit', onExit);
  });
}

/** A Node child that runs a TypeScript file through tsx. */
export function startTsChild(file: string, env: Record<string, string> = {}): ChildProcess {
  return startChild(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, ...env } });
}

/** Stops every child: SIGTERM, then SIGKILL for those still there after `graceMs`. */
export async function stopAll(graceMs = 2000): Promise<void> {
  const running = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
  if (running.length === 0) return;
  const exited = Promise.all(
    running.map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null || c.signalCode !== null) r();
          else c.once('exit', () => r());
        }),
    ),
  );
  for (const c of running) c.stdin?.end();
  killAll('SIGTERM');
  const timer = setTimeout(() => killAll('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Kills everything and exits if the benchmark is still running after `ms`. */
export function armDeadline(ms: number, what: string): NodeJS.Timeout {
  const timer = setTimeout(() => {
    console.error(`${what} overran its ${Math.round(ms / 1000)} s time limit; stopping`);
    void stopAll().finally(() => process.exit(1));
  }, ms);
  timer.unref();
  return timer;
}
