/**
 * Finding and ending every process of one emulated machine. Each machine's processes
 * carry a marker in their environment (SYNKTI_EMULATED_MACHINE=<token>), inherited by
 * everything they start: the agent's workload runs in its own process group (so a group
 * kill misses it) and an orphan is re-parented away from the tree (so a tree walk misses
 * it), but both keep the environment they were started with. Linux only (/proc).
 */
import { readFileSync } from 'node:fs';
import { processIds } from '@synkti/cloud';

export const MACHINE_MARKER_ENV = 'SYNKTI_EMULATED_MACHINE';

/** Pids of live processes whose initial environment holds `SYNKTI_EMULATED_MACHINE=<token>`. */
export function machinePids(token: string): number[] {
  const needle = Buffer.from(`\0${MACHINE_MARKER_ENV}=${token}\0`);
  const first = Buffer.from(`${MACHINE_MARKER_ENV}=${token}\0`);
  const found: number[] = [];
  for (const pid of processIds()) {
    if (pid === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${pid}/environ`);
    } catch {
      continue; // gone, or not ours to read
    }
    if (environ.includes(needle) || environ.subarray(0, first.length).equals(first)) found.push(pid);
  }
  return found;
}

/** Whether a pid is alive and not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the command name, which is in parentheses and may hold spaces.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * SIGKILLs the process group `pgid` (when given) and every marked process, again and
 * again (a process may fork while we look), until none is alive or `timeoutMs` passes.
 * Returns the pids still alive (empty on success). Zombies count as gone: their parent
 * (the machine's guard, or us) reaps them.
 */
export async function killMachineProcesses(token: string, pgid: number | undefined, timeoutMs = 10_000): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (pgid !== undefined) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // the group is already empty
      }
    }
    const left = machinePids(token).filter(processAlive);
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // exited meanwhile
      }
    }
    if (left.length === 0) return [];
    if (Date.now() > until) return left;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
